/* Every kernel family instantiated for the avx2 path.  A separate translation unit per ISA
 * with a function-level target (#pragma GCC target), so one .so carries all paths and the
 * driver picks one at run time (__builtin_cpu_supports). */
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define SB_VEC_AVX2
#include "vec.h"
#include "kernels.h"
#include "panel_spmm.h"
#include "ell16_spmm.h"
#include "dwconv2d_chw.h"
#pragma GCC pop_options
