/* Every kernel family instantiated for the scalar path.  A separate translation unit per ISA
 * with a function-level target (#pragma GCC target), so one .so carries all paths and the
 * driver picks one at run time (__builtin_cpu_supports). */

/* portable reference: the base flags only (-march=x86-64-v2) */
#define SB_VEC_SCALAR
#include "vec.h"
#include "kernels.h"
#include "panel_spmm.h"
#include "ell16_spmm.h"
#include "dwconv2d_chw.h"

