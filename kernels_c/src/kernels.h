/* Kernel entry points shared by the driver (conv.c) and the per-ISA translation units.
 * A kernel computes output row units [u0, u1) over pixels [0, nq) of one image:
 *   C[co * ldc + q] = bias[co] + sum_r W[co, r] * B[off[r] + q]
 * where off[r] is the start of the activation row for reduction index r (conv.c); ldb > 0
 * says the rows are equally spaced (off[r] = r * ldb). */
#ifndef SB_KERNELS_H
#define SB_KERNELS_H
#include <stdint.h>
#include "sb.h"

typedef void (*sb_kernel_fn)(const sb_packed *p, int u0, int u1, const float *B,
                             const int32_t *off, int64_t ldb, int nq, float *C, int64_t ldc,
                             const float *bias);

#define SB_DECLARE_KERNEL(name) \
    void name(const sb_packed *, int, int, const float *, const int32_t *, int64_t, int, \
              float *, int64_t, const float *);
SB_DECLARE_KERNEL(panel_spmm_6x4v_avx512)
SB_DECLARE_KERNEL(panel_spmm_6x4v_avx2)
SB_DECLARE_KERNEL(panel_spmm_6x4v_scalar)
SB_DECLARE_KERNEL(f32_spmm_ell16_2x8v_avx512)
SB_DECLARE_KERNEL(f32_spmm_ell16_2x4v_avx2)
SB_DECLARE_KERNEL(f32_spmm_ell16_2x4v_scalar)
#undef SB_DECLARE_KERNEL
#endif
