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
#ifndef SB_PANEL_CHUNK_BYTES
#define SB_PANEL_CHUNK_BYTES 32768 /* activation bytes of one tile's input-channel chunk */
#endif
#define SB_PANEL_CHUNK_MIN 8       /* fewest input channels per chunk */
#define SB_PANEL_MIN_REUSE 64      /* stored rows per input channel to chunk and copy (1x1) */

SB_ALWAYS void SB_FN(panel_mk)(const int rb, const int nv, const int full, const int first,
                               const int last, const int tiled, int c0, const int32_t *cidx,
                               int nb,
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
            acc[j][v] = first || !crow[j] ? V_SET1(bs[j])
                        : full ? V_LOAD(crow[j] + v * VW) : V_LOADM(crow[j] + v * VW, mk[v]);
    for (int b = 0; b < nb; ++b) {
        const int ci = cidx[b];
        const float *vb = val + (int64_t)b * taps * bh;
        for (int t = 0; t < taps; ++t) {
            /* tiled: B is the chunk's copied tile, row ci - c0 */
            const float *src = tiled ? B + (ci - c0) * PANEL_NT : B + off[t * cin + ci];
            const float *wv = vb + t * bh;
            vf x[PANEL_NV];
#pragma GCC unroll 8
            for (int v = 0; v < nv; ++v)
                x[v] = full ? V_LOAD(src + v * VW) : V_LOADM(src + v * VW, mk[v]);
#pragma GCC unroll 8
            for (int j = 0; j < rb; ++j) {
                const vf w = V_SET1(wv[j]);
#pragma GCC unroll 8
                for (int v = 0; v < nv; ++v) acc[j][v] = V_FMA(w, x[v], acc[j][v]);
            }
        }
    }
#pragma GCC unroll 8
    for (int j = 0; j < rb; ++j) {
        if (!crow[j]) continue;
#pragma GCC unroll 8
        for (int v = 0; v < nv; ++v) {
            const vf a = last ? v_epilogue(acc[j][v], rrow[j] ? rrow[j] + v * VW : 0, full, mk[v], act)
                              : acc[j][v];
            if (full) V_STORE(crow[j] + v * VW, a);
            else V_STOREM(crow[j] + v * VW, mk[v], a);
        }
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

/* 1x1 weights (one tap): copy rows [c0, c1) of the pixel tile [0, n) into T, PANEL_NT
 * floats each, zero past n.  The rows of a 1x1 conv's input sit a whole plane apart (12.5 KB
 * at 56x56), so each reduction step would touch another page and the same few cache sets;
 * the copy makes every step one aligned row of one small buffer. */
SB_ALWAYS void SB_FN(panel_stage)(const int nv, const int full, int c0, int c1, const float *B,
                                  const int32_t *off, int n, float *T)
{
    vm mk[PANEL_NV];
#pragma GCC unroll 8
    for (int v = 0; v < nv; ++v) mk[v] = v_mask(n - v * VW);
    for (int ci = c0; ci < c1; ++ci) {
        const float *src = B + off[ci];
        float *dst = T + (ci - c0) * PANEL_NT;
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

/* The first block of [b0, end) whose input channel is c1 or above (end if none): a binary
 * search over the rising cidx.  A linear scan here held 19 % of the kernel's perf samples
 * on a dense 1x1 layer: one spilled counter update per block per chunk per tile. */
SB_ALWAYS int SB_FN(panel_chunk_end)(const int32_t *cidx, int b0, int end, int c1)
{
    while (b0 < end) {
        const int mid = b0 + (end - b0) / 2;
        if (cidx[mid] < c1) b0 = mid + 1;
        else end = mid;
    }
    return b0;
}

/* Into L2: the weights of `blocks` blocks from block b0 on -- the next block-row's part of
 * this chunk, fetched while this block-row computes.  Each block-row's chunk is a few KB
 * a whole block-row's weights apart (48 KB at 2048 input channels), so the hardware
 * prefetcher starts cold on every one, and on a layer whose weights come from DRAM (a
 * whole ResNet-50's 100 MB do not fit in L3) the kernel waited on each: 2048->512 1x1 at
 * 7x7 took 1.68 ms with cold caches against 0.82 ms warm (Zen 5, 1 thread). */
SB_ALWAYS void SB_FN(panel_prefetch)(const sb_packed *p, int b0, int blocks)
{
    const int64_t per = (int64_t)p->kh * p->kw * p->bh; /* floats per block */
    const char *at = (const char *)(p->val + b0 * per);
    const int64_t bytes = blocks * per * (int64_t)sizeof(float);
    for (int64_t k = 0; k < bytes; k += 64) __builtin_prefetch(at + k, 0, 2);
}

/* One pixel tile [0, n) (B, C already offset) of block-rows [u0, u1), input channels in
 * chunks of kc: with T (1x1 weights reused enough, panel_reuses) every block-row runs over
 * one chunk's activation rows, copied into T (panel_stage), before the next chunk is read,
 * so the rows stay in L1 instead of being streamed from L2 once per block-row; without T
 * one chunk of every channel, its rows read in place.  Partial sums go through C between
 * chunks; cidx rises within a block-row (sb_validate), so one cursor per block-row finds
 * each chunk's blocks. */
SB_ALWAYS void SB_FN(panel_tile)(const int nv, const int full, const sb_packed *p, int u0,
                                 int u1, const float *B, const int32_t *off, int n, float *C,
                                 int64_t ldc, const float *bias, const float *R, int32_t act,
                                 int kc, int32_t *cursor, float *T)
{
    const int taps = p->kh * p->kw, bh = p->bh, cin = p->cin, tiled = T != 0;
    for (int u = u0; u < u1; ++u) cursor[u - u0] = p->rowptr[u];
    for (int c0 = 0; c0 < cin; c0 += kc) {
        const int first = c0 == 0, c1 = cin - c0 < kc ? cin : c0 + kc, last = c1 == cin;
        if (tiled) SB_FN(panel_stage)(nv, full, c0, c1, B, off, n, T);
        for (int u = u0; u < u1; ++u) {
            const int b0 = cursor[u - u0], end = p->rowptr[u + 1];
            const int b1 = SB_FN(panel_chunk_end)(p->cidx, b0, end, c1);
            cursor[u - u0] = b1;
            if (u + 1 < u1) SB_FN(panel_prefetch)(p, cursor[u + 1 - u0], b1 - b0);
            if (b1 == b0 && !first && !last) continue; /* nothing of this chunk here */
            const int32_t *ci = p->cidx + b0;
            for (int j0 = 0; j0 < bh; j0 += PANEL_RB) {
                const int rb = bh - j0 < PANEL_RB ? bh - j0 : PANEL_RB;
                float *crow[PANEL_RB];
                const float *rrow[PANEL_RB];
                float bs[PANEL_RB];
                SB_FN(panel_rows)(p, u, j0, rb, C, ldc, bias, R, crow, rrow, bs);
                const float *val = p->val + (int64_t)b0 * taps * bh + j0;
#define SB_PANEL_MK(RB, TILED)                                                                \
    SB_FN(panel_mk)(RB, nv, full, first, last, TILED, c0, ci, b1 - b0, val, TILED ? 1 : taps, \
                    bh, cin,                                                                  \
                    TILED ? T : B, off, n, crow, bs, rrow, act)
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
}

/* Input channels per chunk: SB_PANEL_CHUNK_BYTES of a tile's activation rows (1x1). */
SB_ALWAYS int SB_FN(panel_chunk)(void)
{
    const int kc = SB_PANEL_CHUNK_BYTES / (PANEL_NT * (int)sizeof(float));
    return kc < SB_PANEL_CHUNK_MIN ? SB_PANEL_CHUNK_MIN : kc;
}

/* Chunk the input channels and copy the tile rows (panel_stage) only for a 1x1 weight
 * whose activation rows each feed at least SB_PANEL_MIN_REUSE stored rows of block-rows
 * [u0, u1), on more than one pixel tile.  One pixel tile (a 7x7 map: 49 or 63 pixels)
 * reads each activation row once per block-row whatever the chunking, so there chunks only
 * cut every block-row's weights into pieces a block-row apart (3 KB, 48 KB apart at 2048
 * channels) that the hardware prefetcher meets cold: unchunked, the weights stream in
 * order (ResNet-50's 7x7 layers with weights fresh from DRAM: 0.82-0.93x the time).
 * Below the reuse, the copy and the partial sums' trips through C between chunks cost more
 * than reading B's rows from L2 in place, and a 3x3 layer (its tap rows read in place from
 * the staged planes) never gains: Zen 5, 1 thread,
 * interleaved A/B against chunking at >= 16 rows for every kernel size: 3x3 dense
 * 1.05-1.06x, block 1x16 75 % 1.15-1.25x; 1x1 block 75 % at 64-128 rows per channel
 * 1.15-1.41x, filter 75 % 1.18x; dense 1x1 at >= 256 rows keeps its chunks (unchunked
 * 0.86-0.92x). */
SB_ALWAYS int SB_FN(panel_reuses)(const sb_packed *p, int u0, int u1, int nq)
{
    const int64_t rows = (int64_t)(p->rowptr[u1] - p->rowptr[u0]) * p->bh;
    return p->kh * p->kw == 1 && nq > PANEL_NT && rows >= (int64_t)SB_PANEL_MIN_REUSE * p->cin;
}

/* Each tile shape as a function of its own, <kernel>_tile_<vectors>_<full> (as in
 * ell16_spmm.h): inlined into one entry, the five shapes' register allocation is shared
 * and their loops spill. */
#define SB_PANEL_NAME SB_TILE_FN(f32_spmm_panel_, PANEL_RB, PANEL_NV)
#define SB_PANEL_SHAPE(NVC, FULL) SB_PANEL_SHAPE2(NVC, FULL)
#define SB_PANEL_SHAPE2(NVC, FULL)                                                            \
    static __attribute__((noinline)) void SB_CAT(SB_PANEL_NAME, _tile_##NVC##_##FULL)(       \
        const sb_packed *p, int u0, int u1, const float *B, const int32_t *off, int n,       \
        float *C, int64_t ldc, const float *bias, const float *R, int32_t act, int kc,       \
        int32_t *cursor, float *T)                                                           \
    {                                                                                         \
        SB_FN(panel_tile)(NVC, FULL, p, u0, u1, B, off, n, C, ldc, bias, R, act, kc, cursor, \
                          T);                                                                \
    }
SB_PANEL_SHAPE(1, 0)
#if PANEL_NV >= 2
SB_PANEL_SHAPE(2, 0)
#endif
#if PANEL_NV >= 4
SB_PANEL_SHAPE(3, 0)
SB_PANEL_SHAPE(4, 0)
#endif
SB_PANEL_SHAPE(PANEL_NV, 1)

void SB_PANEL_NAME(const sb_packed *p, int u0, int u1, const float *B, const int32_t *off,
                   int64_t ldb, int nq, float *C, int64_t ldc, const float *bias,
                   const float *R, int32_t act, float *part)
{
    (void)ldb; /* 6 rows share each row address: the lookup is not worth a variant */
    (void)part; /* partial sums stay in registers or go through C by chunk */
    const int chunks = SB_FN(panel_reuses)(p, u0, u1, nq);
    const int kc = chunks ? SB_FN(panel_chunk)() : p->cin;
    int32_t cursor[u1 - u0 > 0 ? u1 - u0 : 1];
    /* the chunk copy (panel_stage), 64-byte aligned; NULL: read B's rows in place */
    float raw[(chunks ? kc : 1) * PANEL_NT + 16];
    float *T = chunks ? (float *)(((uintptr_t)raw + 63) & ~(uintptr_t)63) : 0;
    int q0 = 0;
#define SB_PANEL_RUN(NVC, FULL, N) SB_PANEL_RUN2(NVC, FULL, N)
#define SB_PANEL_RUN2(NVC, FULL, N)                                                          \
    SB_CAT(SB_PANEL_NAME, _tile_##NVC##_##FULL)(p, u0, u1, B + q0, off, N, C + q0, ldc, bias, \
                                                R ? R + q0 : 0, act, kc, cursor, T)
    for (; nq - q0 >= PANEL_NT; q0 += PANEL_NT) SB_PANEL_RUN(PANEL_NV, 1, PANEL_NT);
    /* tail: just enough vectors for the remaining pixels (49 of a 7x7 map: 4 zmm, not 8) */
    const int rem = nq - q0;
    switch ((rem + VW - 1) / VW) {
    case 1: SB_PANEL_RUN(1, 0, rem); break;
#if PANEL_NV >= 2
    case 2: SB_PANEL_RUN(2, 0, rem); break;
#endif
#if PANEL_NV >= 4
    case 3: SB_PANEL_RUN(3, 0, rem); break;
    case 4: SB_PANEL_RUN(4, 0, rem); break;
#endif
    default: break;
    }
#undef SB_PANEL_RUN2
#undef SB_PANEL_RUN
}
#undef SB_PANEL_NAME
