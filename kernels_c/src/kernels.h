/* Kernel entry points shared by the driver (conv.c) and the per-ISA translation units.
 * A kernel computes output row units [u0, u1) over pixels [0, nq) of one image:
 *   C[co * ldc + q] = bias[co] + sum_r W[co, r] * B[off[r] + q]
 * where off[r] is the start of the activation row for reduction index r (conv.c); when
 * ldb > 0 the rows are equally spaced (off[r] = r * ldb) and the one-row kernels compute
 * the address instead of looking it up (~13 % faster on a 1x1 layer). */
#ifndef SB_KERNELS_H
#define SB_KERNELS_H
#include <stdint.h>
#include "sb.h"

typedef void (*sb_kernel_fn)(const sb_packed *p, int u0, int u1, const float *B,
                             const int32_t *off, int64_t ldb, int nq, float *C, int64_t ldc,
                             const float *bias);

#define SB_DECLARE_ISA(sfx)                                                    \
    void panel_spmm_6x4v##sfx(const sb_packed *, int, int, const float *,     \
                              const int32_t *, int64_t, int, float *, int64_t, \
                              const float *);                                 \
    void csr_spmm_1x4v##sfx(const sb_packed *, int, int, const float *,       \
                            const int32_t *, int64_t, int, float *, int64_t, \
                            const float *);                                   \
    void ell8_spmm_2x4v##sfx(const sb_packed *, int, int, const float *,      \
                             const int32_t *, int64_t, int, float *, int64_t, \
                             const float *);
SB_DECLARE_ISA(_avx512)
SB_DECLARE_ISA(_avx2)
SB_DECLARE_ISA(_scalar)
#endif
