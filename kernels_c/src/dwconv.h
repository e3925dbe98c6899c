/* What the depthwise driver (depthwise.c) and its per-ISA plane kernels (dwconv2d_chw.h)
 * share: the kernels' signature and table, and the size of a staged plane. */
#ifndef SB_DWCONV_H
#define SB_DWCONV_H
#include <stdint.h>
#include "kernel_table.h"

/* Every ISA's widest tile of output columns divides this many floats (the scratch bound). */
#define SB_DW_TILE 64

/* Staged rows start on a cache line: the scratch is 64-byte aligned and every phase row is
 * a whole number of SB_DW_ALIGN floats. */
#define SB_DW_ALIGN 16

/* floats per staged phase row: whole tiles of `tile` output columns, plus the taps' reach,
 * rounded up to SB_DW_ALIGN (so a tile's taps may read one aligned vector past the tile,
 * dwconv2d_chw.h) */
static inline int64_t sb_dw_phase_len(int wo, int kw, int s, int tile) {
    const int64_t len = (int64_t)(wo + tile - 1) / tile * tile + (kw - 1) / s;
    return (len + SB_DW_ALIGN - 1) / SB_DW_ALIGN * SB_DW_ALIGN;
}

/* column phases a staged row holds: taps read phases dw % s < min(s, kw) */
static inline int sb_dw_phases(int kw, int s) { return s < kw ? s : kw; }

/* floats of scratch one plane needs: every padded row, sb_dw_phases(kw, s) phases each */
static inline int64_t sb_dw_scratch(int h, int kw, int s, int pad, int wo) {
    return (int64_t)(h + 2 * pad) * sb_dw_phases(kw, s) * sb_dw_phase_len(wo, kw, s, SB_DW_TILE);
}

/* y (ho, wo) = act(depthwise conv of the plane x (h, wd) with w (kh, kw) + b); scratch holds
 * sb_dw_scratch(...) floats, zeroed before the first plane and then reused only by planes of
 * the same geometry (the kernel rewrites just the image's part of it) */
typedef void (*sb_dwconv_fn)(const float *x, const float *w, float b, float *y, int h, int wd,
                             int kh, int kw, int s, int pad, int ho, int wo, int32_t act,
                             float *scratch);
#define SB_DECLARE_DWCONV(fn, isa)                                                        \
    void fn(const float *, const float *, float, float *, int, int, int, int, int, int, int, \
            int, int32_t, float *);
SB_DWCONV_TABLE(SB_DECLARE_DWCONV)
#undef SB_DECLARE_DWCONV
#endif
