/* Kernel family: ell8_spmm_1x4v_<isa> -- fixed-count SpMM with one-byte indices, for
 * `nm` and `cs`.
 *
 * Both patterns keep the same number of weights in every group of the reduction, so a
 * row needs no row pointer and each index is one byte relative to its group:
 *   nm: group = m consecutive channels, n kept;  r = g*m + off          (off in [0, m))
 *   cs: group = chunk of k*d channels, d kept;   r = c*k*d + j + t*d    (t in [0, k))
 * i.e. r = base + j*ja + sub*sb with base advancing by gstride every glen items.
 * Layout and tile as csr_spmm: one output row x NV vectors of pixels, weights broadcast,
 * activation rows picked through off[r], two accumulator sets.
 * Template: included once per ISA translation unit after vec.h. */

typedef struct {
    int glen, gstride, ja, sb, cnt;
} SB_FN(ell8_geom);

SB_ALWAYS void SB_FN(ell8_mk)(const int full, const uint8_t *sub, const float *val,
                              SB_FN(ell8_geom) g, const float *B, const int32_t *off,
                              int n, float *c, float bs)
{
    vm mk[NV];
    vf a[NV], b[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
        mk[v] = v_mask(n - v * VW);
        a[v] = V_SET1(bs);
        b[v] = V_ZERO();
    }
    int base = 0, j = 0, k = 0;
    for (; k + 2 <= g.cnt; k += 2) {
        const int r0 = base + j * g.ja + sub[k] * g.sb;
        if (++j == g.glen) { j = 0; base += g.gstride; }
        const int r1 = base + j * g.ja + sub[k + 1] * g.sb;
        if (++j == g.glen) { j = 0; base += g.gstride; }
        const float *s0 = B + off[r0], *s1 = B + off[r1];
        const vf w0 = V_SET1(val[k]), w1 = V_SET1(val[k + 1]);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) {
            a[v] = V_FMA(w0, full ? V_LOAD(s0 + v * VW) : V_LOADM(s0 + v * VW, mk[v]), a[v]);
            b[v] = V_FMA(w1, full ? V_LOAD(s1 + v * VW) : V_LOADM(s1 + v * VW, mk[v]), b[v]);
        }
    }
    if (k < g.cnt) {
        const float *s0 = B + off[base + j * g.ja + sub[k] * g.sb];
        const vf w0 = V_SET1(val[k]);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v)
            a[v] = V_FMA(w0, full ? V_LOAD(s0 + v * VW) : V_LOADM(s0 + v * VW, mk[v]), a[v]);
    }
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
        if (full) V_STORE(c + v * VW, V_ADD(a[v], b[v]));
        else V_STOREM(c + v * VW, mk[v], V_ADD(a[v], b[v]));
    }
}

void SB_FN(ell8_spmm_1x4v)(const sb_packed *p, int u0, int u1, const float *B,
                           const int32_t *off, int nq, float *C, int64_t ldc,
                           const float *bias)
{
    const int red = p->cin * p->kh * p->kw;
    SB_FN(ell8_geom) g;
    if (p->fmt == SB_FMT_NM) {
        g.glen = p->n; g.gstride = p->m; g.ja = 0; g.sb = 1; g.cnt = red / p->m * p->n;
    } else {
        g.glen = p->d; g.gstride = p->k * p->d; g.ja = 1; g.sb = p->d; g.cnt = red / p->k;
    }
    for (int q0 = 0; q0 < nq; q0 += NT) {
        const int n = nq - q0 < NT ? nq - q0 : NT;
        for (int u = u0; u < u1; ++u) {
            const int64_t k0 = (int64_t)u * g.cnt;
            const float bs = bias ? bias[u] : 0.0f;
            if (n == NT)
                SB_FN(ell8_mk)(1, p->sub + k0, p->val + k0, g, B + q0, off, n,
                               C + u * ldc + q0, bs);
            else
                SB_FN(ell8_mk)(0, p->sub + k0, p->val + k0, g, B + q0, off, n,
                               C + u * ldc + q0, bs);
        }
    }
}
