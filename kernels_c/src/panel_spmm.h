/* Micro-kernel family f32_spmm_panel_<PANEL_RB>x<PANEL_NV>v_<isa> (AVX-512 6x4v, AVX2 6x2v,
 * scalar 6x4v): fp32 block-sparse (BSR panels) x dense NCHW activations.
 *
 * Layout: weights as block-rows of bh output channels; a block is bh rows x 1 input
 * channel x all Kh*Kw taps, values stored [block][tap][bh] so the bh weights one
 * activation vector meets are contiguous.  Used for `block` (BSR, bh = n), and for
 * `dense` and `filter` as *full* panels (every input channel present, bh = 6): the
 * dense baseline is the same register-blocked micro-kernel with no missing blocks.
 *
 * Tile: up to 6 output rows x PANEL_NV vectors of pixels in registers (AVX-512: 6 x 4
 * zmm = 24 accumulators; AVX2: 6 x 2 ymm).  Per reduction index one load of PANEL_NV
 * activation vectors feeds 6 x PANEL_NV FMAs (1xN blocks = register blocking for free).
 * Measured (1 core, avx512, shared CPU, batch 1): dense 180-238 GFLOP/s on ResNet-50's 1x1
 * layers at 14x14 and up (140-150 at 7x7, where the 49-pixel tile is 3/4 full), block 1x16
 * at 75 % 120-210 GFLOP/s on the non-zero work.
 * Template: included once per ISA translation unit after vec.h. */
#include "activate.h"
_Static_assert(PANEL_NT <= SB_PANEL_ROW, "a copied tile row must fit the scratch's rows");
#define SB_PANEL_MIN_REUSE 64      /* stored rows per input channel to copy the tile rows (1x1) */
/* Weights are read once per pixel tile as one sequential stream (block-row after block-row),
 * which on a whole model comes from DRAM: ResNet-50's 100 MB do not fit in L3, and the
 * hardware prefetcher does not run far enough ahead of a kernel that spends 24 FMAs on each
 * 24 bytes.  So every step prefetches, into L1, the stream SB_PANEL_PF_BYTES ahead.  Whole
 * ResNet-50, 1 thread, interleaved A/B in one process (Zen 5), against fetching the next
 * block-row into L2 in one burst at the start of each: dense 1.11x (44.6 -> 40.1 ms), block
 * 1x16 75 % 1.07x, 90 % 1.06x; 1 KB ahead 1.10x, 8 and 16 KB 1.10x, into L2 1.105x, the
 * burst kept as well 1.06x; the burst alone against no prefetch at all: 1.00x. */
#define SB_PANEL_PF_BYTES 4096

/* rows: rb (<= PANEL_RB) output rows x nv vectors of pixels; px (SB_PX_TAIL): one pixel
 * more, at nv * VW, computed with the rows along the lanes: its accumulator's lane j is row
 * j, fed by the rb weights of each step (contiguous: one masked load) times that pixel
 * (a broadcast), so it costs one FMA a step instead of rb.  On Zen 5 (full-width 512-bit
 * FMAs) a 49-pixel tile's fourth vector cost as much as a full one: 1024->256 1x1 at 7x7
 * ran 149 us against 123 us at 48 pixels, 133 us with this (dense, 1 thread).  Interleaved
 * A/B in one process, 1 thread, at 7x7: dense 2048->512 1x1 1.16x, 512->512 3x3 1.24x,
 * block 1x16 75 % 3x3 1.12x; 14x14 as 4 tiles of 49 pixels (panel_px_tiles): dense 1x1
 * 1.04x, 3x3 1.06x, block 0.995-1.02x; whole ResNet-50 dense 1.03x, block 75 % 0.99x. */
SB_ALWAYS void SB_FN(panel_mk)(const int rb, const int nv, const int full, const int half,
                               const int px, const int tiled, const int32_t *cidx, int nb,
                               const float *val, int taps, int bh, int cin, const float *B,
                               const int32_t *off, int n, float *const *crow,
                               const float *bs, const float *const *rrow, int32_t act)
{
    vm mk[PANEL_NV];
    vf acc[PANEL_RB][PANEL_NV];
#pragma GCC unroll 8
    for (int v = 0; v < nv; ++v) mk[v] = v_mask(n - v * VW);
#pragma GCC unroll 8
    for (int j = 0; j < rb; ++j)
#pragma GCC unroll 8
        for (int v = 0; v < nv; ++v)
            acc[j][v] = V_SET1(bs[j]);
    const vm mr = v_mask(rb);
    vf acc_p = px ? V_LOADM(bs, mr) : V_ZERO();
    for (int b = 0; b < nb; ++b) {
        const int ci = cidx[b];
        const float *vb = val + (int64_t)b * taps * bh;
        for (int t = 0; t < taps; ++t) {
            /* tiled: B is the copied tile, row ci */
            const float *src = tiled ? B + ci * PANEL_NT : B + off[t * cin + ci];
            const float *wv = vb + t * bh;
            __builtin_prefetch((const char *)wv + SB_PANEL_PF_BYTES, 0, 3);
            vf x[PANEL_NV];
#pragma GCC unroll 8
            for (int v = 0; v < nv; ++v)
                x[v] = full ? V_LOAD(src + v * VW)
                       : half && v == nv - 1 ? VT_LOADM(src + v * VW, mk[v])
                                             : V_LOADM(src + v * VW, mk[v]);
#pragma GCC unroll 8
            for (int j = 0; j < rb; ++j) {
                const vf w = V_SET1(wv[j]);
#pragma GCC unroll 8
                for (int v = 0; v < nv; ++v)
                    acc[j][v] = !half || v < nv - 1 ? V_FMA(w, x[v], acc[j][v])
                                : nv == 1           ? VT_FMA1(wv[j], x[v], acc[j][v])
                                                    : VT_FMA(w, x[v], acc[j][v]);
            }
            if (px) acc_p = V_FMA(V_LOADM(wv, mr), V_SET1(src[nv * VW]), acc_p);
        }
    }
#pragma GCC unroll 8
    for (int j = 0; j < rb; ++j) {
        if (!crow[j]) continue;
#pragma GCC unroll 8
        for (int v = 0; v < nv; ++v) {
            const vf a = v_epilogue(acc[j][v], rrow[j] ? rrow[j] + v * VW : 0, full, mk[v], act);
            if (full) V_STORE(crow[j] + v * VW, a);
            else V_STOREM(crow[j] + v * VW, mk[v], a);
        }
    }
    if (px) {
        float lane[VW];
        V_STORE(lane, acc_p);
        for (int j = 0; j < rb; ++j)
            if (crow[j])
                crow[j][nv * VW] =
                    sb_activate(lane[j] + (rrow[j] ? rrow[j][nv * VW] : 0.0f), act);
    }
}

/* The rows of block-row u: C and residual row pointers (NULL for padding rows; residual
 * NULL when there is none) and biases. */
SB_ALWAYS void SB_FN(panel_rows)(const sb_packed *p, int u, int j0, int rb, float *C, int64_t ldc,
                                 const float *bias, const float *R, float **crow,
                                 const float **rrow, float *bs)
{
    for (int j = 0; j < rb; ++j) {
        const int row = u * p->bh + j0 + j;
        crow[j] = 0;
        rrow[j] = 0;
        bs[j] = 0.0f;
        if (row < p->valid_rows) {
            const int co = p->rowmap ? p->rowmap[row] : row;
            crow[j] = C + co * ldc;
            rrow[j] = R ? R + co * ldc : 0;
            bs[j] = bias ? bias[co] : 0.0f;
        }
    }
}

/* 1x1 weights (one tap): copy every input channel's row of the pixel tile [0, n) into T,
 * PANEL_NT floats each, zero past n.  The rows of a 1x1 conv's input sit a whole plane apart
 * (12.5 KB at 56x56), so each reduction step would touch another page and the same few cache
 * sets; the copy makes the reduction one sequential stream of aligned rows. */
SB_ALWAYS void SB_FN(panel_stage)(const int nv, const int full, int cin, const float *B,
                                  const int32_t *off, int n, float *T)
{
    vm mk[PANEL_NV];
#pragma GCC unroll 8
    for (int v = 0; v < nv; ++v) mk[v] = v_mask(n - v * VW);
    for (int ci = 0; ci < cin; ++ci) {
        const float *src = B + off[ci];
        float *dst = T + ci * PANEL_NT;
#pragma GCC unroll 8
        for (int v = 0; v < nv; ++v) {
            V_STORE(dst + v * VW, full ? V_LOAD(src + v * VW) : V_LOADM(src + v * VW, mk[v]));
            /* the next tile's part of this row, into L2: hundreds of rows a plane apart are
             * more streams than the hardware prefetcher follows (the row may end here: a
             * prefetch never faults) */
            if (full) __builtin_prefetch(src + PANEL_NT + v * VW, 0, 2);
        }
    }
}

/* One pixel tile [0, n) (B, C already offset) of block-rows [u0, u1), all input channels in
 * one pass, so every output is stored once, with its epilogue.  With T (1x1 weights reused
 * enough, panel_reuses) the tile's rows are first copied into T (panel_stage) and every
 * block-row reads them from there; without T each block-row reads B's rows in place. */
SB_ALWAYS void SB_FN(panel_tile)(const int nv, const int full, const int half, const int px,
                                 const sb_packed *p, int u0,
                                 int u1, const float *B, const int32_t *off, int n, float *C,
                                 int64_t ldc, const float *bias, const float *R, int32_t act,
                                 float *T)
{
    const int taps = p->kh * p->kw, bh = p->bh, cin = p->cin, tiled = T != 0;
    if (tiled) SB_FN(panel_stage)(nv + px, full && !px, cin, B, off, n, T);
    for (int u = u0; u < u1; ++u) {
        const int b0 = p->rowptr[u], b1 = p->rowptr[u + 1];
        const int32_t *ci = p->cidx + b0;
        for (int j0 = 0; j0 < bh; j0 += PANEL_RB) {
            const int rb = bh - j0 < PANEL_RB ? bh - j0 : PANEL_RB;
            float *crow[PANEL_RB];
            const float *rrow[PANEL_RB];
            float bs[PANEL_RB];
            SB_FN(panel_rows)(p, u, j0, rb, C, ldc, bias, R, crow, rrow, bs);
            const float *val = p->val + (int64_t)b0 * taps * bh + j0;
#define SB_PANEL_MK(RB, TILED)                                                                \
    SB_FN(panel_mk)(RB, nv, full, half, px, TILED, ci, b1 - b0, val, TILED ? 1 : taps, bh,    \
                    cin, TILED ? T : B, off, n, crow, bs, rrow, act)
#define SB_PANEL_CASE(RB)                                                                     \
    case RB:                                                                                  \
        if (tiled) SB_PANEL_MK(RB, 1);                                                        \
        else SB_PANEL_MK(RB, 0);                                                              \
        break;
            switch (rb) {
                SB_PANEL_CASE(1) SB_PANEL_CASE(2) SB_PANEL_CASE(3)
                SB_PANEL_CASE(4) SB_PANEL_CASE(5) SB_PANEL_CASE(6)
            }
#undef SB_PANEL_CASE
#undef SB_PANEL_MK
        }
    }
}

/* Copy the tile rows (panel_stage) only for a 1x1 weight whose activation rows each feed at
 * least SB_PANEL_MIN_REUSE stored rows of block-rows [u0, u1), on more than one pixel tile.
 * One pixel tile (a 7x7 map: 49 or 63 pixels) reads each activation row once per block-row
 * whether copied or not; below the reuse the copy costs more than reading B's rows from L2
 * in place, and a 3x3 layer (its tap rows read in place from the staged planes) never
 * gains (Zen 5, 1 thread, interleaved A/B against copying at >= 16 rows for every kernel
 * size: 3x3 dense 1.05-1.06x, block 1x16 75 % 1.15-1.25x; 1x1 block 75 % at 64-128 rows
 * per channel 1.15-1.41x, filter 75 % 1.18x).  The whole reduction is copied at once
 * (T: cin x PANEL_NT floats of the thread's scratch, up to 512 KB, streamed from L2):
 * on Zen 4 (32 KB L1D), interleaved A/B in one process against chunks of 32 KB of rows
 * with partial sums through C between them, ResNet-50's 52 layers: 1 thread dense 1x1
 * 1.069x (14x14 1.06-1.15x), 3x3 1.010x, block 1x16 75 % 1.047x, 93.75 % 1.081x, filter
 * 75 % 1.026x; 2 threads dense 1.040x, block 75 % 1.040x (chunks of 16 KB: 0.97x). */
SB_ALWAYS int SB_FN(panel_reuses)(const sb_packed *p, int u0, int u1, int nq)
{
    const int64_t rows = (int64_t)(p->rowptr[u1] - p->rowptr[u0]) * p->bh;
    return p->kh * p->kw == 1 && nq > PANEL_NT && rows >= (int64_t)SB_PANEL_MIN_REUSE * p->cin;
}

/* Each tile shape as a function of its own, <kernel>_tile_<vectors>_<tag> (as in
 * ell16_spmm.h; tag 1: full, 0: the last vector masked, t: masked and at most VW / 2
 * pixels, run half-width, SB_HALF_TAIL; p: full vectors and one pixel more, SB_PX_TAIL):
 * inlined into one entry, the shapes' register allocation is shared and their loops spill. */
#define SB_PANEL_NAME SB_TILE_FN(f32_spmm_panel_, PANEL_RB, PANEL_NV)
#define SB_PANEL_SHAPE(NVC, TAG, FULL, HALF, PX) SB_PANEL_SHAPE2(NVC, TAG, FULL, HALF, PX)
#define SB_PANEL_SHAPE2(NVC, TAG, FULL, HALF, PX)                                             \
    static __attribute__((noinline)) void SB_CAT(SB_PANEL_NAME, _tile_##NVC##_##TAG)(        \
        const sb_packed *p, int u0, int u1, const float *B, const int32_t *off, int n,       \
        float *C, int64_t ldc, const float *bias, const float *R, int32_t act, float *T)     \
    {                                                                                         \
        SB_FN(panel_tile)(NVC, FULL, HALF, PX, p, u0, u1, B, off, n, C, ldc, bias, R, act,    \
                          T);                                                                 \
    }
#if SB_HALF_TAIL
#define SB_PANEL_TAIL_SHAPES(NVC) SB_PANEL_SHAPE(NVC, 0, 0, 0, 0) SB_PANEL_SHAPE(NVC, t, 0, 1, 0)
#else
#define SB_PANEL_TAIL_SHAPES(NVC) SB_PANEL_SHAPE(NVC, 0, 0, 0, 0)
#endif
SB_PANEL_TAIL_SHAPES(1)
#if PANEL_NV >= 2
SB_PANEL_TAIL_SHAPES(2)
#endif
#if PANEL_NV >= 4
SB_PANEL_TAIL_SHAPES(3)
SB_PANEL_TAIL_SHAPES(4)
#endif
SB_PANEL_SHAPE(PANEL_NV, 1, 1, 0, 0)
#undef SB_PANEL_TAIL_SHAPES
#if SB_PX_TAIL
#if PANEL_NV != 4
#error "SB_PX_TAIL shapes are written for 4-vector panel tiles"
#endif
SB_PANEL_SHAPE(1, p, 1, 0, 1)
SB_PANEL_SHAPE(2, p, 1, 0, 1)
SB_PANEL_SHAPE(3, p, 1, 0, 1)
#define SB_PX_NT (PANEL_NT - VW + 1) /* a tile of PANEL_NV - 1 vectors and one pixel */

/* 1 when a tail of rem < PANEL_NT pixels ends in a lone pixel after whole vectors: it runs
 * as a `p` shape (those vectors and one pixel more) */
SB_ALWAYS int SB_FN(panel_lone_pixel)(int rem) { return rem > VW && rem % VW == 1; }

/* 1 when nq pixels should run as tiles of SB_PX_NT (nq a multiple of it), by the FMAs a
 * reduction step issues: a full tile PANEL_RB x PANEL_NV, one of SB_PX_NT pixels
 * PANEL_RB x (PANEL_NV - 1) + 1, a tail of v vectors PANEL_RB x v, or x (v - 1) + 1 with a
 * lone pixel in its last vector, but no less than 8 (one vector's 6 accumulators wait on
 * the FMA latency).  196 pixels (14x14): 4 x 19 against 3 x 24 + 8. */
SB_ALWAYS int SB_FN(panel_px_tiles)(int nq)
{
    const int rem = nq % PANEL_NT, nvt = (rem + VW - 1) / VW;
    if (rem == 0 || nq % SB_PX_NT) return 0;
    const int tail = SB_FN(panel_lone_pixel)(rem) ? PANEL_RB * (nvt - 1) + 1 : PANEL_RB * nvt;
    return nq / SB_PX_NT * (PANEL_RB * (PANEL_NV - 1) + 1) <
           nq / PANEL_NT * PANEL_RB * PANEL_NV + (tail < 8 ? 8 : tail);
}
#endif

void SB_PANEL_NAME(const sb_packed *p, int u0, int u1, const float *B, const int32_t *off,
                   int64_t ldb, int nq, float *C, int64_t ldc, const float *bias,
                   const float *R, int32_t act, float *part)
{
    (void)ldb; /* 6 rows share each row address: the lookup is not worth a variant */
    /* the tile copy (panel_stage) in the thread's scratch; NULL: read B's rows in place */
    float *T = SB_FN(panel_reuses)(p, u0, u1, nq) ? part : 0;
    int q0 = 0;
#define SB_PANEL_RUN(NVC, TAG, N) SB_PANEL_RUN2(NVC, TAG, N)
#define SB_PANEL_RUN2(NVC, TAG, N)                                                           \
    SB_CAT(SB_PANEL_NAME, _tile_##NVC##_##TAG)(p, u0, u1, B + q0, off, N, C + q0, ldc, bias,  \
                                               R ? R + q0 : 0, act, T)
#if SB_PX_TAIL
    if (SB_FN(panel_px_tiles)(nq)) {
        for (; q0 < nq; q0 += SB_PX_NT) SB_PANEL_RUN(3, p, SB_PX_NT);
        return;
    }
#endif
    for (; nq - q0 >= PANEL_NT; q0 += PANEL_NT) SB_PANEL_RUN(PANEL_NV, 1, PANEL_NT);
    /* tail: just enough vectors for the remaining pixels, the last one half-width when it
     * holds at most VW / 2 of them, or as one pixel more when it holds one (49 of a 7x7
     * map: 3 zmm and a pixel, not 4 zmm) */
    const int rem = nq - q0, nvt = (rem + VW - 1) / VW;
    const int half = SB_HALF_TAIL && rem - (nvt - 1) * VW <= VW / 2;
#if SB_PX_TAIL
    if (SB_FN(panel_lone_pixel)(rem)) {
        switch (nvt - 1) {
        case 1: SB_PANEL_RUN(1, p, rem); break;
        case 2: SB_PANEL_RUN(2, p, rem); break;
        default: SB_PANEL_RUN(3, p, rem); break;
        }
        return;
    }
#endif
#if SB_HALF_TAIL
#define SB_PANEL_TAIL(NVC)                                                                    \
    case NVC:                                                                                 \
        if (half) SB_PANEL_RUN(NVC, t, rem);                                                  \
        else SB_PANEL_RUN(NVC, 0, rem);                                                       \
        break;
#else
#define SB_PANEL_TAIL(NVC)                                                                    \
    case NVC:                                                                                 \
        SB_PANEL_RUN(NVC, 0, rem);                                                            \
        break;
#endif
    (void)half; /* no half-width tail on this ISA */
    switch (nvt) {
    SB_PANEL_TAIL(1)
#if PANEL_NV >= 2
    SB_PANEL_TAIL(2)
#endif
#if PANEL_NV >= 4
    SB_PANEL_TAIL(3)
    SB_PANEL_TAIL(4)
#endif
    default: break;
    }
#undef SB_PANEL_TAIL
#undef SB_PANEL_RUN2
#undef SB_PANEL_RUN
}
#undef SB_PX_NT
#undef SB_PANEL_NAME
