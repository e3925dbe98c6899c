/* Micro-kernel f32_spmm_ell16_2x<NV_WIDE>v_<isa>: fp32 SpMM of an ELL16 weight (unstructured
 * as blocked CSR, nm and cs as fixed count) x NCHW activations, pixels along vectors.
 *
 * Layout: the reduction (rmap order) is cut into blocks of kb rows.  For each pixel tile of
 * up to TS = NT_WIDE pixels (AVX-512: 128 = 8 zmm; AVX2: 32 = 4 ymm) the kernel first copies
 * the block's kb activation rows into a contiguous, 64-byte aligned buffer T (kb x TS floats,
 * 32 KiB at kb = 64 on AVX-512) and then runs every output row of the thread over it; when
 * kb x TS floats exceed SB_ELL16_L1_BYTES (kb = 128: 64 KiB) it takes the half tile, TSH =
 * TS / 2 pixels, so T stays in L1 (Zen 4: 32 KiB; kb = 128 at 64 KiB ran 0.93x).  A
 * stored value is (w, lidx): acc += w * T[lidx * TS + q], so the address is one 16-bit load
 * and a shift, every load is aligned and hits L1, and the TLB sees one buffer instead of kb
 * scattered rows.  CS needs no code of its own: rmap puts channel t*d + j of every chunk at
 * position j*k + t, which makes it 1:k n:m.  Partial sums of a row go through the
 * thread's scratch `part` between blocks (kernels.h), whole aligned vectors, and only the
 * last block stores into C.  The values are stored block-major (packers._by_block): one block's values of
 * every row, row after row, so the weight stream is sequential; row-major storage cost a
 * cache line, often a page, per row and block, and ran the 7x7 layers whose weights exceed
 * L2 (ResNet-50 l4, cs k=4, 3-3.5 MB) at 12-16 instead of 34-36 GFLOP/s (Zen 4, 1 thread).
 *
 * Tile: 2 output rows x NV_WIDE vectors in registers (AVX-512: 16 accumulators); per 16
 * FMAs 16 activation loads, 2 index loads and 2 weight broadcasts.  A tail whose last
 * vector holds at most VW / 2 pixels runs that vector half-width (vec.h: SB_HALF_TAIL;
 * Zen 4, 1 thread, A/B in one process: ResNet-50's 7x7 1x1 layers cs k=4 1.08-1.11x,
 * unstructured 90 % 1.04-1.06x, 14x14 layers 1.01-1.03x).
 * Why the copy: with loads straight from the activation planes (the former ell8/csr
 * kernels) the same instruction stream ran 3x slower than with every load hitting one row
 * (cs k=4, ResNet-50 l3.c1: 49 vs 139 GFLOP/s): the rows of a block sit one plane apart,
 * in distinct pages and few cache sets.
 * Measured (both builds in one process, interleaved, min of 30-40, 1 thread, avx512, CPU
 * shared with other jobs -- ratios only): 1.0-1.7x over ell8/csr on ResNet-50 layers
 * (3x3 l3.c2 cs k=4 1.66x, 1x1 l3.c1 1.2x).  What is left, by knock-out variants: the
 * tile copy 3-38 % (most on l1.c2, 64 rows share each copied tile), loads from T 1.2-1.7x
 * slower than from one hot row; reloading C between blocks ~0 %.  Tried, no gain:
 * prefetching the next block's rows into L2, kb = 32 / 48 (slower) and 256 (= 128).
 * Template: included once per ISA translation unit after vec.h. */

#define TS NT_WIDE
#if TS > SB_PART_ROW
#error "the ELL16 tile is wider than a partial-sum row (SB_PART_ROW)"
#endif
#define SB_STAGE_AHEAD 6 /* rows the tile copy prefetches ahead */
#define SB_ELL16_L1_BYTES 32768 /* a larger block buffer (kb x TS floats) takes the half tile */
#define ELL16_RB 2 /* output rows per register tile */
#define SB_ELL16_NAME SB_TILE_FN(f32_spmm_ell16_, ELL16_RB, NV_WIDE)

/* rows: 1 or 2; nv vectors (last one masked by mk unless full; half: that one holds at most
 * VW / 2 pixels and runs half-width, SB_HALF_TAIL); first: start from bias,
 * else from the partial sums l0, l1 (the thread's scratch); last: the final block, whose
 * store into c0, c1 applies the epilogue act(C + R) (r0, r1: the rows' residuals, NULL:
 * none); every other block stores back to l0, l1. */
SB_ALWAYS void SB_FN(ell16_mk)(const int two, const int nv, const int full, const int half,
                               const int first,
                               const int last, const uint16_t *i0, const float *v0, int n0,
                               const uint16_t *i1, const float *v1, int n1, const int ts,
                               const float *T, float *l0, float *l1, float *c0,
                               float *c1, float bs0, float bs1, const vm *mk,
                               const float *r0, const float *r1, int32_t act)
{
    vf a[NV_WIDE], b[NV_WIDE];
    /* acc + w * T-row vector; the half-width tail vector: 256-bit (a lone one broadcasts its
     * scalar s at 256 bits, folded into the FMA) */
#define SB_ELL16_FMA(w, s, src, acc)                                                          \
    (!half || v < nv - 1 ? V_FMA((w), V_LOAD(src), (acc))                                     \
     : nv == 1           ? VT_FMA1((s), VT_LOAD(src), (acc))                                  \
                         : VT_FMA((w), VT_LOAD(src), (acc)))
#pragma GCC unroll 8
    for (int v = 0; v < nv; ++v) {
        if (first) {
            a[v] = V_SET1(bs0);
            b[v] = V_SET1(bs1);
        } else {
            a[v] = V_LOAD(l0 + v * VW);
            b[v] = two ? V_LOAD(l1 + v * VW) : V_ZERO();
        }
    }
    const int nb = two ? (n0 < n1 ? n0 : n1) : 0;
    int k = 0;
    for (; k < nb; ++k) {
        const float *s0 = T + (int)i0[k] * ts, *s1 = T + (int)i1[k] * ts;
        const vf w0 = V_SET1(v0[k]), w1 = V_SET1(v1[k]);
#pragma GCC unroll 8
        for (int v = 0; v < nv; ++v) {
            a[v] = SB_ELL16_FMA(w0, v0[k], s0 + v * VW, a[v]);
            b[v] = SB_ELL16_FMA(w1, v1[k], s1 + v * VW, b[v]);
        }
    }
    for (int j = k; j < n0; ++j) { /* blocked CSR: the longer row's rest */
        const float *s0 = T + (int)i0[j] * ts;
        const vf w0 = V_SET1(v0[j]);
#pragma GCC unroll 8
        for (int v = 0; v < nv; ++v) a[v] = SB_ELL16_FMA(w0, v0[j], s0 + v * VW, a[v]);
    }
    if (two)
        for (int j = k; j < n1; ++j) {
            const float *s1 = T + (int)i1[j] * ts;
            const vf w1 = V_SET1(v1[j]);
#pragma GCC unroll 8
            for (int v = 0; v < nv; ++v) b[v] = SB_ELL16_FMA(w1, v1[j], s1 + v * VW, b[v]);
        }
#pragma GCC unroll 8
    for (int v = 0; v < nv; ++v) {
        const int m = !full && v == nv - 1;
        if (last) {
            a[v] = v_epilogue(a[v], r0 ? r0 + v * VW : 0, !m, mk[v], act);
            if (two) b[v] = v_epilogue(b[v], r1 ? r1 + v * VW : 0, !m, mk[v], act);
        }
        if (!last) { /* partial sums: the thread's own buffer, whole vectors */
            V_STORE(l0 + v * VW, a[v]);
            if (two) V_STORE(l1 + v * VW, b[v]);
            continue;
        }
        if (m) V_STOREM(c0 + v * VW, mk[v], a[v]);
        else V_STORE(c0 + v * VW, a[v]);
        if (two) {
            if (m) V_STOREM(c1 + v * VW, mk[v], b[v]);
            else V_STORE(c1 + v * VW, b[v]);
        }
    }
#undef SB_ELL16_FMA
}

/* Copy rows [r0, r0 + rows) (rmap order) of pixels [q0, q0 + n) into T, zero-padded to nv
 * vectors so the kernel's unmasked loads read zeros, never stale lanes.  The copy took 27 %
 * of the kernel on ResNet-50 l1.c2 (unstructured 90 %, perf); prefetching the row
 * SB_STAGE_AHEAD ahead gained 1.01-1.06x in geomean over 12 layers, up to 1.29x on l1.c2
 * (cs / unstructured / nm, 1 thread, interleaved A/B in one process, two runs). */
SB_ALWAYS void SB_FN(ell16_stage)(const int ts, const int nv, const int full, const sb_packed *p, int r0,
                                  int rows, const float *B, const int32_t *off, int q0,
                                  float *T, const vm *mk)
{
    for (int i = 0; i < rows; ++i) {
        const int r = p->rmap ? p->rmap[r0 + i] : r0 + i;
        const float *src = B + off[r] + q0;
        float *dst = T + i * ts;
        if (i + SB_STAGE_AHEAD < rows) { /* rows sit a plane apart: no hardware prefetch */
            const int ra = p->rmap ? p->rmap[r0 + i + SB_STAGE_AHEAD] : r0 + i + SB_STAGE_AHEAD;
            const char *pa = (const char *)(B + off[ra] + q0);
#pragma GCC unroll 8
            for (int v = 0; v < nv; ++v) __builtin_prefetch(pa + 64 * v, 0, 3);
        }
#pragma GCC unroll 8
        for (int v = 0; v < nv; ++v)
            V_STORE(dst + v * VW, !full && v == nv - 1 ? V_LOADM(src + v * VW, mk[v])
                                                     : V_LOAD(src + v * VW));
    }
}

/* One pixel tile [q0, q0 + n) of output rows [u0, u1), block after block. */
SB_ALWAYS void SB_FN(ell16_tile)(const int csr, const int ts, const int nv, const int full,
                                 const int half, const sb_packed *p, int u0, int u1, const float *B,
                                 const int32_t *off, int q0, int n, float *C, int64_t ldc,
                                 const float *bias, const float *R, int32_t act, float *T,
                                 float *P)
{
    vm mk[NV_WIDE];
#pragma GCC unroll 8
    for (int v = 0; v < nv; ++v) mk[v] = v_mask(n - v * VW);
    const int red = p->cin * p->kh * p->kw, kb = p->kb, nblk = (red + kb - 1) / kb;
    /* fixed count: cnt values per row, ipb per full block (groups never straddle blocks) */
    const int cnt = csr ? 0 : red / p->m * p->n, ipb = csr ? 0 : kb / p->m * p->n;
    for (int blk = 0; blk < nblk; ++blk) {
        const int r0 = blk * kb, rows = red - r0 < kb ? red - r0 : kb, last = blk == nblk - 1;
        SB_FN(ell16_stage)(ts, nv, full, p, r0, rows, B, off, q0, T, mk);
        for (int u = u0; u < u1; u += 2) {
            const int two = u + 1 < u1;
            int64_t k0, k1;
            int n0, n1;
            if (csr) { /* block-major: rows u, u + 1 of this block are neighbours */
                const int32_t *bp = p->bptr + (int64_t)blk * p->cout + u;
                k0 = bp[0];
                n0 = bp[1] - bp[0];
                k1 = bp[1];
                n1 = two ? bp[2] - bp[1] : 0;
            } else { /* block-major: blk full blocks of cout * ipb values come first */
                n0 = cnt - blk * ipb < ipb ? cnt - blk * ipb : ipb;
                k0 = (int64_t)blk * ipb * p->cout + (int64_t)u * n0;
                k1 = k0 + n0;
                n1 = two ? n0 : 0;
            }
            float *l0 = P + (int64_t)(u - u0) * ts, *l1 = l0 + ts;
            float *c0 = C + u * ldc + q0, *c1 = two ? c0 + ldc : c0;
            const float bs0 = bias ? bias[u] : 0.0f, bs1 = bias && two ? bias[u + 1] : 0.0f;
            const float *e0 = R ? R + u * ldc + q0 : 0, *e1 = R && two ? e0 + ldc : 0;
#define SB_ELL16_CALL(TWO, FIRST)                                                             \
    SB_FN(ell16_mk)(TWO, nv, full, half, FIRST, last, p->lidx + k0, p->val + k0, n0,         \
                    p->lidx + k1, p->val + k1, n1, ts, T, l0, l1, c0, c1, bs0, bs1, mk, e0, e1, \
                    act)
            if (two) {
                if (blk == 0) SB_ELL16_CALL(1, 1); else SB_ELL16_CALL(1, 0);
            } else {
                if (blk == 0) SB_ELL16_CALL(0, 1); else SB_ELL16_CALL(0, 0);
            }
#undef SB_ELL16_CALL
        }
    }
}

/* Each tile shape as a function of its own, <kernel>_tile_<csr>_<w|h>_<vectors>_<kind> (a
 * profile counts every symbol named <kernel>_* as the kernel's): inlined into one walk, the
 * nine shapes made a function so large that GCC kept the tail loops' pointers in vector
 * registers and their bound on the stack.  w: the wide tile (TS pixels, NV_WIDE vectors),
 * h: the half tile (TSH pixels, NV_HALF vectors), whose block buffer is half as large;
 * kind 1: full, 0: the last vector masked, t: masked and at most VW / 2 pixels, run
 * half-width (SB_HALF_TAIL). */
#define SB_ELL16_SHAPE(CSR, TAG, NVC, KIND, FULL, HALF) SB_ELL16_SHAPE2(CSR, TAG, NVC, KIND, FULL, HALF)
#define SB_ELL16_SHAPE2(CSR, TAG, NVC, KIND, FULL, HALF)                                       \
    static __attribute__((noinline)) void                                                     \
    SB_CAT(SB_ELL16_NAME, _tile_##CSR##_##TAG##_##NVC##_##KIND)(                               \
        const sb_packed *p, int u0, int u1, const float *B, const int32_t *off, int q0, int n, \
        float *C, int64_t ldc, const float *bias, const float *R, int32_t act, float *T,      \
        float *P)                                                                              \
    {                                                                                          \
        SB_FN(ell16_tile)(CSR, SB_TS_##TAG, NVC, FULL, HALF, p, u0, u1, B, off, q0, n, C, ldc, \
                          bias, R, act, T, P);                                                 \
    }
#if SB_HALF_TAIL
#define SB_ELL16_TAIL_SHAPES(CSR, TAG, NVC)                                                    \
    SB_ELL16_SHAPE(CSR, TAG, NVC, 0, 0, 0) SB_ELL16_SHAPE(CSR, TAG, NVC, t, 0, 1)
#else
#define SB_ELL16_TAIL_SHAPES(CSR, TAG, NVC) SB_ELL16_SHAPE(CSR, TAG, NVC, 0, 0, 0)
#endif
#define SB_TS_w TS
#define SB_TS_h TSH
#if NV_WIDE == 8
#define TSH 64
#define NV_HALF 4
#define SB_ELL16_SHAPES(CSR)                                                                   \
    SB_ELL16_TAIL_SHAPES(CSR, w, 1) SB_ELL16_TAIL_SHAPES(CSR, w, 2)                            \
    SB_ELL16_TAIL_SHAPES(CSR, w, 3) SB_ELL16_TAIL_SHAPES(CSR, w, 4)                            \
    SB_ELL16_TAIL_SHAPES(CSR, w, 5) SB_ELL16_TAIL_SHAPES(CSR, w, 6)                            \
    SB_ELL16_TAIL_SHAPES(CSR, w, 7) SB_ELL16_TAIL_SHAPES(CSR, w, 8)                            \
    SB_ELL16_SHAPE(CSR, w, 8, 1, 1, 0)                                                         \
    SB_ELL16_TAIL_SHAPES(CSR, h, 1) SB_ELL16_TAIL_SHAPES(CSR, h, 2)                            \
    SB_ELL16_TAIL_SHAPES(CSR, h, 3) SB_ELL16_TAIL_SHAPES(CSR, h, 4)                            \
    SB_ELL16_SHAPE(CSR, h, 4, 1, 1, 0)
#define SB_ELL16_TAILS_w                                                                       \
    SB_ELL16_TAIL(w, 1) SB_ELL16_TAIL(w, 2) SB_ELL16_TAIL(w, 3) SB_ELL16_TAIL(w, 4)            \
    SB_ELL16_TAIL(w, 5) SB_ELL16_TAIL(w, 6) SB_ELL16_TAIL(w, 7) SB_ELL16_TAIL(w, 8)
#define SB_ELL16_TAILS_h                                                                       \
    SB_ELL16_TAIL(h, 1) SB_ELL16_TAIL(h, 2) SB_ELL16_TAIL(h, 3) SB_ELL16_TAIL(h, 4)
#else
#define TSH (TS / 2)
#define NV_HALF 2
#define SB_ELL16_SHAPES(CSR)                                                                   \
    SB_ELL16_TAIL_SHAPES(CSR, w, 1) SB_ELL16_TAIL_SHAPES(CSR, w, 2)                            \
    SB_ELL16_TAIL_SHAPES(CSR, w, 3) SB_ELL16_TAIL_SHAPES(CSR, w, 4)                            \
    SB_ELL16_SHAPE(CSR, w, 4, 1, 1, 0)                                                         \
    SB_ELL16_TAIL_SHAPES(CSR, h, 1) SB_ELL16_TAIL_SHAPES(CSR, h, 2)                            \
    SB_ELL16_SHAPE(CSR, h, 2, 1, 1, 0)
#define SB_ELL16_TAILS_w                                                                       \
    SB_ELL16_TAIL(w, 1) SB_ELL16_TAIL(w, 2) SB_ELL16_TAIL(w, 3) SB_ELL16_TAIL(w, 4)
#define SB_ELL16_TAILS_h SB_ELL16_TAIL(h, 1) SB_ELL16_TAIL(h, 2)
#endif
SB_ELL16_SHAPES(0)
SB_ELL16_SHAPES(1)
#undef SB_ELL16_TAIL_SHAPES

/* Pixels [0, nq) in tiles of SB_TS_<TAG> pixels (NVF vectors), the last one masked, and
 * half-width where its last vector holds at most VW / 2 pixels. */
#define SB_ELL16_RUN(TAG, NVC, KIND, N) SB_ELL16_RUN2(TAG, NVC, KIND, N)
#define SB_ELL16_RUN2(TAG, NVC, KIND, N)                                                       \
    (csr ? SB_CAT(SB_ELL16_NAME, _tile_1_##TAG##_##NVC##_##KIND)                               \
         : SB_CAT(SB_ELL16_NAME, _tile_0_##TAG##_##NVC##_##KIND))(                             \
        p, u0, u1, B, off, q0, N, C, ldc, bias, R, act, T, P)
#if SB_HALF_TAIL
#define SB_ELL16_TAIL(TAG, NVC)                                                                \
    case NVC:                                                                                  \
        if (rem - (NVC - 1) * VW <= VW / 2) SB_ELL16_RUN(TAG, NVC, t, rem);                    \
        else SB_ELL16_RUN(TAG, NVC, 0, rem);                                                   \
        break;
#else
#define SB_ELL16_TAIL(TAG, NVC)                                                                \
    case NVC:                                                                                  \
        SB_ELL16_RUN(TAG, NVC, 0, rem);                                                        \
        break;
#endif
#define SB_ELL16_PIXELS(TAG, NVF)                                                              \
    do {                                                                                       \
        int q0 = 0;                                                                            \
        for (; nq - q0 >= SB_TS_##TAG; q0 += SB_TS_##TAG)                                      \
            SB_ELL16_RUN(TAG, NVF, 1, SB_TS_##TAG);                                            \
        const int rem = nq - q0;                                                               \
        switch ((rem + VW - 1) / VW) {                                                         \
            SB_ELL16_TAILS_##TAG                                                               \
        default: break;                                                                        \
        }                                                                                      \
    } while (0)

SB_ALWAYS void SB_FN(ell16_walk)(const int csr, const sb_packed *p, int u0, int u1,
                                 const float *B, const int32_t *off, int nq, float *C,
                                 int64_t ldc, const float *bias, const float *R, int32_t act,
                                 float *P)
{
    /* the block buffer, 64-byte aligned: kb <= SB_MAX_KB rows of TS floats */
    float raw[p->kb * TS + 16];
    float *T = (float *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
    const int red = p->cin * p->kh * p->kw, rows = p->kb < red ? p->kb : red;
    if ((int64_t)rows * TS * (int64_t)sizeof(float) > SB_ELL16_L1_BYTES)
        SB_ELL16_PIXELS(h, NV_HALF);
    else
        SB_ELL16_PIXELS(w, NV_WIDE);
}
#undef SB_ELL16_PIXELS
#undef SB_ELL16_TAIL
#undef SB_ELL16_RUN2
#undef SB_ELL16_RUN

void SB_ELL16_NAME(const sb_packed *p, int u0, int u1, const float *B, const int32_t *off,
                   int64_t ldb, int nq, float *C, int64_t ldc, const float *bias,
                   const float *R, int32_t act, float *part)
{
    (void)ldb; /* rows are looked up once per block copy: no computed-address variant */
    if (p->fmt == SB_FMT_CSR) SB_FN(ell16_walk)(1, p, u0, u1, B, off, nq, C, ldc, bias, R, act, part);
    else SB_FN(ell16_walk)(0, p, u0, u1, B, off, nq, C, ldc, bias, R, act, part);
}
#undef TS
#undef TSH
#undef NV_HALF
#undef SB_TS_w
#undef SB_TS_h
#undef ELL16_RB
#undef SB_ELL16_NAME
