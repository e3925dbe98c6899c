/* Kernel entry points shared by the driver (conv.c) and the per-ISA translation units.
 * A kernel computes output row units [u0, u1) over pixels [0, nq) of one image:
 *   C[co * ldc + q] = bias[co] + sum_r W[co, r] * B[off[r] + q]
 * where off[r] is the start of the activation row for reduction index r (conv.c); ldb > 0
 * says the rows are equally spaced (off[r] = r * ldb).  The final store of every output
 * applies the fused epilogue C = act(C + R) (R indexed like C, NULL: no residual; act an
 * SB_ACT_* code of epilogue.h).  part: the calling thread's scratch of (u1 - u0 + 2) *
 * SB_PART_ROW floats, 64-byte aligned, where an ELL16 kernel keeps the partial sums of its
 * rows between reduction blocks; for the panel kernel of a 1x1 weight, cin * SB_PANEL_ROW
 * floats where it copies each pixel tile's rows (panel_stage), else NULL. */
#ifndef SB_KERNELS_H
#define SB_KERNELS_H
#include <stdint.h>
#include "sb.h"

#define SB_PART_ROW 128 /* floats per row of partial sums: the widest ELL16 pixel tile */
#define SB_PANEL_ROW 64 /* floats per copied activation row: the widest panel pixel tile */

typedef void (*sb_kernel_fn)(const sb_packed *p, int u0, int u1, const float *B,
                             const int32_t *off, int64_t ldb, int nq, float *C, int64_t ldc,
                             const float *bias, const float *R, int32_t act, float *part);

/* every micro-kernel of the table (kernel_table.h) */
#define SB_DECLARE_KERNEL(fn, family, isa)                                                  \
    void fn(const sb_packed *, int, int, const float *, const int32_t *, int64_t, int, \
            float *, int64_t, const float *, const float *, int32_t, float *);
SB_MICROKERNEL_TABLE(SB_DECLARE_KERNEL)
#undef SB_DECLARE_KERNEL
#endif
