/* Kernel family: csr_spmm_1x4v_<isa> -- CSR (unstructured) x dense activations.
 *
 * Layout: one output row at a time, NV_WIDE / NV vectors of pixels (SB_TILE_WALK); every
 * stored weight is broadcast and FMA'd into NV activation vectors of the input row its
 * column index r picks (off[r]); no gather (XNNPACK's sparse inference scheme).  Two
 * accumulator sets (even/odd non-zeros) keep 2*NV FMA chains in flight.
 * Template: included once per ISA translation unit after vec.h. */

SB_ALWAYS void SB_FN(csr_mk)(const int lin, const int nv, const int full, const int32_t *col,
                             const float *val, int cnt, const float *B, const int32_t *off,
                             int64_t ldb, int n, float *c, float bs)
{
    vm mk[NV_WIDE];
    vf a[NV_WIDE], b[NV_WIDE];
#pragma GCC unroll 8
    for (int v = 0; v < nv; ++v) {
        mk[v] = v_mask(n - v * VW);
        a[v] = V_SET1(bs);
        b[v] = V_ZERO();
    }
    int k = 0;
    for (; k + 2 <= cnt; k += 2) {
        const float *s0 = SB_ROW(col[k]), *s1 = SB_ROW(col[k + 1]);
        const vf w0 = V_SET1(val[k]), w1 = V_SET1(val[k + 1]);
#pragma GCC unroll 8
        for (int v = 0; v < nv; ++v) {
            a[v] = V_FMA(w0, full ? V_LOAD(s0 + v * VW) : V_LOADM(s0 + v * VW, mk[v]), a[v]);
            b[v] = V_FMA(w1, full ? V_LOAD(s1 + v * VW) : V_LOADM(s1 + v * VW, mk[v]), b[v]);
        }
    }
    if (k < cnt) {
        const float *s0 = SB_ROW(col[k]);
        const vf w0 = V_SET1(val[k]);
#pragma GCC unroll 8
        for (int v = 0; v < nv; ++v)
            a[v] = V_FMA(w0, full ? V_LOAD(s0 + v * VW) : V_LOADM(s0 + v * VW, mk[v]), a[v]);
    }
#pragma GCC unroll 8
    for (int v = 0; v < nv; ++v) {
        if (full) V_STORE(c + v * VW, V_ADD(a[v], b[v]));
        else V_STOREM(c + v * VW, mk[v], V_ADD(a[v], b[v]));
    }
}

SB_ALWAYS void SB_FN(csr_walk)(const int lin, const sb_packed *p, int u0, int u1,
                               const float *B, const int32_t *off, int64_t ldb, int nq,
                               float *C, int64_t ldc, const float *bias)
{
#define SB_CSR_TILE(NVC, FULL, Q0, N)                                                     \
    for (int u = u0; u < u1; ++u) {                                                       \
        const int k0 = p->rowptr[u];                                                      \
        SB_FN(csr_mk)(lin, NVC, FULL, p->cidx + k0, p->val + k0, p->rowptr[u + 1] - k0,    \
                      B + (Q0), off, ldb, N, C + u * ldc + (Q0), bias ? bias[u] : 0.0f);  \
    }
    SB_TILE_WALK(nq, SB_CSR_TILE);
#undef SB_CSR_TILE
}

void SB_FN(csr_spmm_1x4v)(const sb_packed *p, int u0, int u1, const float *B,
                          const int32_t *off, int64_t ldb, int nq, float *C, int64_t ldc,
                          const float *bias)
{
    if (ldb) SB_FN(csr_walk)(1, p, u0, u1, B, off, ldb, nq, C, ldc, bias);
    else SB_FN(csr_walk)(0, p, u0, u1, B, off, 0, nq, C, ldc, bias);
}
