/* Kernel family: ell8_spmm_2x4v_<isa> -- fixed-count SpMM with one-byte indices, for
 * `nm` and `cs`.
 *
 * Both patterns keep the same number of weights in every group of the reduction, so a
 * row needs no row pointer and each index is one byte relative to its group:
 *   nm: group = m consecutive channels, n kept;  r = g*m + off          (off in [0, m))
 *   cs: group = chunk of k*d channels, d kept;   r = c*k*d + j + t*d    (t in [0, k))
 * i.e. item i of any row has r = base(i) + j(i)*ja + sub*sb: the same geometry for every
 * row, so two rows share the index arithmetic and only their one-byte subs differ.
 *
 * Layout: pixels along vectors (NCHW activations, weights broadcast, input rows picked via
 * off[r], no gather).  Tile: 2 output rows x NV_WIDE vectors while >= NT_WIDE pixels remain
 * (AVX-512: 2 x 128 pixels, 16 FMA chains), then 2 x NV vectors (2 x 64).  The reduction is blocked so the activation rows one block touches stay in L1
 * (ELL8_L1_BYTES); partial sums go through C between blocks.
 * Measured (1 core, avx512, shared CPU, ResNet-50 1x1 layers, cs k=4): one row x 64 pixels
 * and no blocking ran 32-84 GFLOP/s on the non-zero work; 2 rows x 128 pixels, L1
 * blocking, aligned rows and computed row addresses run 90-115 GFLOP/s, against 180-235 for
 * the dense panel kernel on the same layers: each FMA here needs its own activation load
 * plus a share of the index work, while the panel kernel feeds 24 FMAs from 4 loads.
 * Template: included once per ISA translation unit after vec.h. */

#ifndef ELL8_L1_BYTES
#define ELL8_L1_BYTES (40 * 1024)
#endif

typedef struct {
    int glen, gstride, ja, sb, cnt;
} SB_FN(ell8_geom);

/* rows: 1 or 2, nv: vectors per row (NV or NV_WIDE), full: no tail mask, first: acc
 * starts from bias, else from C -- all compile-time after inlining. */
SB_ALWAYS void SB_FN(ell8_mk)(const int lin, const int rows, const int nv, const int full, const int first,
                              const uint8_t *sub0, const uint8_t *sub1, const float *val0,
                              const float *val1, SB_FN(ell8_geom) g, int k0, int k1,
                              int base, int j,
                              const float *B, const int32_t *off, int64_t ldb, int n,
                              float *c0, float *c1,
                              float bs0, float bs1)
{
    vm mk[NV_WIDE];
    vf a[NV_WIDE], b[NV_WIDE];
#pragma GCC unroll 8
    for (int v = 0; v < nv; ++v) {
        mk[v] = v_mask(n - v * VW);
        if (first) {
            a[v] = V_SET1(bs0);
            b[v] = rows == 2 ? V_SET1(bs1) : V_ZERO();
        } else {
            a[v] = full ? V_LOAD(c0 + v * VW) : V_LOADM(c0 + v * VW, mk[v]);
            b[v] = rows == 2 ? (full ? V_LOAD(c1 + v * VW) : V_LOADM(c1 + v * VW, mk[v]))
                             : V_ZERO();
        }
    }
    for (int k = k0; k < k1; ++k) {
        const int rb = base + j * g.ja;
        if (++j == g.glen) { j = 0; base += g.gstride; }
        const float *s0 = SB_ROW(rb + sub0[k] * g.sb);
        const vf w0 = V_SET1(val0[k]);
        if (rows == 2) {
            const float *s1 = SB_ROW(rb + sub1[k] * g.sb);
            const vf w1 = V_SET1(val1[k]);
#pragma GCC unroll 8
            for (int v = 0; v < nv; ++v) {
                a[v] = V_FMA(w0, full ? V_LOAD(s0 + v * VW) : V_LOADM(s0 + v * VW, mk[v]), a[v]);
                b[v] = V_FMA(w1, full ? V_LOAD(s1 + v * VW) : V_LOADM(s1 + v * VW, mk[v]), b[v]);
            }
        } else if (k & 1) { /* one row: alternate accumulator sets for 2*nv chains */
#pragma GCC unroll 8
            for (int v = 0; v < nv; ++v)
                b[v] = V_FMA(w0, full ? V_LOAD(s0 + v * VW) : V_LOADM(s0 + v * VW, mk[v]), b[v]);
        } else {
#pragma GCC unroll 8
            for (int v = 0; v < nv; ++v)
                a[v] = V_FMA(w0, full ? V_LOAD(s0 + v * VW) : V_LOADM(s0 + v * VW, mk[v]), a[v]);
        }
    }
#pragma GCC unroll 8
    for (int v = 0; v < nv; ++v) {
        if (rows == 2) {
            if (full) { V_STORE(c0 + v * VW, a[v]); V_STORE(c1 + v * VW, b[v]); }
            else { V_STOREM(c0 + v * VW, mk[v], a[v]); V_STOREM(c1 + v * VW, mk[v], b[v]); }
        } else {
            if (full) V_STORE(c0 + v * VW, V_ADD(a[v], b[v]));
            else V_STOREM(c0 + v * VW, mk[v], V_ADD(a[v], b[v]));
        }
    }
}

/* One pixel tile [q0, q0 + n) of rows [u0, u1), reduction blocked by kb items. */
SB_ALWAYS void SB_FN(ell8_tile)(const int lin, const int nv, const int full,
                                const sb_packed *p, SB_FN(ell8_geom) g, int kb, int u0, int u1,
                                const float *B, const int32_t *off, int64_t ldb, int n,
                                float *C, int64_t ldc, const float *bias)
{
    for (int k0 = 0; k0 < g.cnt; k0 += kb) {
        const int k1 = g.cnt - k0 < kb ? g.cnt : k0 + kb;
        const int base = k0 / g.glen * g.gstride, j = k0 % g.glen; /* decoder state at k0 */
        for (int u = u0; u < u1; u += 2) {
            const int64_t i0 = (int64_t)u * g.cnt, i1 = i0 + g.cnt;
            float *c0 = C + u * ldc, *c1 = c0 + ldc;
            const float bs0 = bias ? bias[u] : 0.0f;
            const float bs1 = bias && u + 1 < u1 ? bias[u + 1] : 0.0f;
            const uint8_t *s0 = p->sub + i0, *s1 = p->sub + i1;
            const float *v0 = p->val + i0, *v1 = p->val + i1;
#define SB_ELL8_CALL(R, FI) \
    SB_FN(ell8_mk)(lin, R, nv, full, FI, s0, s1, v0, v1, g, k0, k1, base, j, B, off, ldb, n, \
                   c0, c1, bs0, bs1)
            if (u + 1 < u1) {
                if (k0 == 0) SB_ELL8_CALL(2, 1); else SB_ELL8_CALL(2, 0);
            } else {
                if (k0 == 0) SB_ELL8_CALL(1, 1); else SB_ELL8_CALL(1, 0);
            }
#undef SB_ELL8_CALL
        }
    }
}

SB_ALWAYS void SB_FN(ell8_walk)(const int lin, const sb_packed *p, int u0, int u1,
                                const float *B, const int32_t *off, int64_t ldb, int nq,
                                float *C, int64_t ldc, const float *bias)
{
    const int red = p->cin * p->kh * p->kw;
    SB_FN(ell8_geom) g;
    int rows_per_item;
    if (p->fmt == SB_FMT_NM) {
        g.glen = p->n; g.gstride = p->m; g.ja = 0; g.sb = 1; g.cnt = red / p->m * p->n;
        rows_per_item = (p->m + p->n - 1) / p->n;
    } else {
        g.glen = p->d; g.gstride = p->k * p->d; g.ja = 1; g.sb = p->d; g.cnt = red / p->k;
        rows_per_item = p->k;
    }
    /* reduction block: the activation rows it touches fill ELL8_L1_BYTES */
    const int kb_narrow = ELL8_L1_BYTES / (NT * (int)sizeof(float)) / rows_per_item;
    const int kb_wide = ELL8_L1_BYTES / (NT_WIDE * (int)sizeof(float)) / rows_per_item;
#define SB_ELL8_TILE(NVC, FULL, Q0, N)                                                   \
    SB_FN(ell8_tile)(lin, NVC, FULL, p, g, (NVC) == NV_WIDE ? (kb_wide > 8 ? kb_wide : 8)     \
                                                      : (kb_narrow > 8 ? kb_narrow : 8), \
                     u0, u1, B + (Q0), off, ldb, N, C + (Q0), ldc, bias)
    SB_TILE_WALK(nq, SB_ELL8_TILE);
#undef SB_ELL8_TILE
}

void SB_FN(ell8_spmm_2x4v)(const sb_packed *p, int u0, int u1, const float *B,
                           const int32_t *off, int64_t ldb, int nq, float *C, int64_t ldc,
                           const float *bias)
{
    if (ldb) SB_FN(ell8_walk)(1, p, u0, u1, B, off, ldb, nq, C, ldc, bias);
    else SB_FN(ell8_walk)(0, p, u0, u1, B, off, 0, nq, C, ldc, bias);
}
