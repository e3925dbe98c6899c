/* The depthwise plane kernel, instantiated once per ISA (kernels_<isa>.c includes it after
 * vec.h): f32_dwconv2d_chw_<isa> computes one (image, channel) plane of a depthwise conv on
 * CHW float32 with the bias and the activation fused (depthwise.c drives it).
 *
 * The plane is first staged, zero-padded and split by column phase, into the caller's
 * scratch (zeroed by the caller before its first plane of this geometry): padded row r
 * (input row r - pad), phase p < min(s, Kw) holds L floats, element t being input column
 * t * s + p - pad (0 outside the image).  An output column j then reads tap (dh, dw)
 * at staged row i * s + dh, phase dw % s, element j + dw / s: contiguous for every stride,
 * with no bounds checks left in the loop.  Each output row is computed NV vectors of
 * columns at a time, its accumulators in registers across all Kh x Kw taps, and written
 * once (masked at the row's end).  NV (1, 2 or 4 vectors) is the fewest that cover the row,
 * so 14- and 7-wide rows do not pay for 64 lanes; 3x3 at stride 1 and 2 (MobileNet's every
 * depthwise layer) get their taps and weights unrolled into registers. */
#include <stddef.h>
#include "dwconv.h"

#define DW_NV_MAX 4 /* widest tile: vectors of columns per accumulator set */
_Static_assert(DW_NV_MAX == 4 && SB_DW_TILE % (DW_NV_MAX * VW) == 0,
               "the variants below are 1, 2 and 4 vectors; a staged row holds whole tiles");

/* the first t >= 0 with t * s + col0 >= 0, clamped to len */
SB_ALWAYS int64_t SB_FN(dw_first)(int64_t col0, int s, int64_t len)
{
    const int64_t t = col0 >= 0 ? 0 : (-col0 + s - 1) / s;
    return t < len ? t : len;
}

/* Stages the image's part of every staged row; the rest (padding rows, the columns left and
 * right of the image) is the same for every plane of a call and stays as the driver's
 * zeroed scratch has it. */
static void SB_FN(dw_stage)(const float *x, float *st, int h, int wd, int s, int phases,
                            int pad, int rows, int64_t len)
{
    const int r0 = pad, r1 = h + pad < rows ? h + pad : rows; /* staged rows inside the image */
    for (int p = 0; p < phases; ++p) {
        const int64_t col0 = p - pad; /* input column of element 0 */
        const int64_t lo = SB_FN(dw_first)(col0, s, len); /* elements [lo, hi) lie inside */
        const int64_t hi = SB_FN(dw_first)(col0 - wd, s, len);
        for (int r = r0; r < r1; ++r) {
            float *dst = st + ((int64_t)r * phases + p) * len;
            const float *row = x + (int64_t)(r - pad) * wd;
            for (int64_t t = lo; t < hi; t += VW) { /* a vector at a time, masked at the end */
                const int n = hi - t < VW ? (int)(hi - t) : VW;
                const float *src = row + col0 + t * s;
                if (s == 1) {
                    V_STOREM(dst + t, v_mask(n), V_LOADM(src, v_mask(n)));
                } else if (s == 2) { /* the even lanes of two vectors: 2n - 1 floats */
                    const vf a = V_LOADM(src, v_mask(2 * n - 1));
                    const vf b = V_LOADM(src + VW, v_mask(2 * n - 1 - VW));
                    V_STOREM(dst + t, v_mask(n), V_EVEN(a, b));
                } else {
                    for (int k = 0; k < n; ++k) dst[t + k] = src[k * s];
                }
            }
        }
    }
}

#if SB_HAS_ALIGNR
/* lanes k .. k + VW - 1 of lo:hi for a tap's column shift k < 3 (the intrinsic wants an
 * immediate) */
SB_ALWAYS vf SB_FN(dw_shift)(vf lo, vf hi, int k)
{
    return k == 1 ? V_ALIGNR(hi, lo, 1) : k == 2 ? V_ALIGNR(hi, lo, 2) : lo;
}
#endif

/* One output plane from the staged one.  Called with constant kh, kw, s, nv (the unrolled
 * variants below) or with the runtime ones (K == 0: the general variant).  shifts (3x3
 * variants, SB_HAS_ALIGNR): each phase row's nv + 1 vectors are loaded once, aligned, and a
 * tap's column shift is a lane shift of two of them, instead of an unaligned load that
 * crosses a cache line for two taps of three.  With rows on cache lines (dwconv.h), A/B in
 * one process against unaligned rows and loads, 1 thread, Zen 5, MobileNetV2's shapes:
 * stride 1 1.11-1.25x (32 ch 112x112 1.23x, 384 ch 14x14 1.25x), stride 2 1.03-1.10x;
 * whole MobileNetV2 dense 1.01x (1 thread), 0.99x (2), cs k=4 1.05x: in the model the
 * depthwise layers wait on their input from L3 as much as on their loads. */
SB_ALWAYS void SB_FN(dw_rows)(const float *st, int64_t len, const float *w, float b, float *y,
                              int ho, int wo, int kh, int kw, int s, int nv, int shifts,
                              int32_t act)
{
    const int64_t row = (int64_t)sb_dw_phases(kw, s) * len; /* floats per staged padded row */
    const int tile = nv * VW;
    for (int i = 0; i < ho; ++i) {
        const float *top = st + (int64_t)i * s * row;
        float *yr = y + (int64_t)i * wo;
        for (int j0 = 0; j0 < wo; j0 += tile) {
            vf acc[DW_NV_MAX];
            for (int v = 0; v < nv; ++v) acc[v] = V_SET1(b);
#if SB_HAS_ALIGNR
            if (shifts) {
                for (int dh = 0; dh < kh; ++dh)
                    for (int p = 0; p < sb_dw_phases(kw, s); ++p) {
                        const float *src = top + dh * row + p * len + j0;
                        vf a[DW_NV_MAX + 1];
                        for (int v = 0; v <= nv; ++v) a[v] = V_LOAD(src + v * VW);
                        for (int dw = p; dw < kw; dw += s) {
                            const vf wt = V_SET1(w[dh * kw + dw]);
                            for (int v = 0; v < nv; ++v)
                                acc[v] = V_FMA(wt, SB_FN(dw_shift)(a[v], a[v + 1], dw / s),
                                               acc[v]);
                        }
                    }
            } else
#endif
            for (int dh = 0; dh < kh; ++dh)
                for (int dw = 0; dw < kw; ++dw) {
                    const vf wt = V_SET1(w[dh * kw + dw]);
                    const float *src = top + dh * row + (dw % s) * len + j0 + dw / s;
                    for (int v = 0; v < nv; ++v) acc[v] = V_FMA(wt, V_LOAD(src + v * VW), acc[v]);
                }
            for (int v = 0; v < nv; ++v) {
                const int left = wo - j0 - v * VW;
                if (left <= 0) break;
                const vf out = v_epilogue(acc[v], NULL, 1, v_mask(VW), act);
                if (left >= VW) V_STORE(yr + j0 + v * VW, out);
                else V_STOREM(yr + j0 + v * VW, v_mask(left), out);
            }
        }
    }
}

typedef void (*SB_FN(dw_rows_fn))(const float *, int64_t, const float *, float, float *, int,
                                  int, int, int, int, int32_t);

/* DW_VARIANT(K, S, NV): the unrolled K x K, stride S, NV-vector variant; K = 0 the general */
#define DW_VARIANT(K, S, NV)                                                                  \
    static void SB_FN(dw_rows_##K##s##S##_##NV)(const float *st, int64_t len, const float *w, \
                                                 float b, float *y, int ho, int wo, int kh,  \
                                                 int kw, int s, int32_t act)                 \
    {                                                                                         \
        SB_FN(dw_rows)(st, len, w, b, y, ho, wo, K ? K : kh, K ? K : kw, S ? S : s, NV,      \
                       SB_HAS_ALIGNR && K == 3, act);                                        \
    }
#define DW_VARIANTS(K, S) DW_VARIANT(K, S, 1) DW_VARIANT(K, S, 2) DW_VARIANT(K, S, 4)
DW_VARIANTS(3, 1)
DW_VARIANTS(3, 2)
DW_VARIANTS(0, 0)
#define DW_ROW(K, S) {SB_FN(dw_rows_##K##s##S##_1), SB_FN(dw_rows_##K##s##S##_2), \
                      SB_FN(dw_rows_##K##s##S##_4)}
/* [shape: 3x3 s1, 3x3 s2, any][tile: 1, 2, 4 vectors] */
static const SB_FN(dw_rows_fn) SB_FN(DW_ROWS)[3][3] = {DW_ROW(3, 1), DW_ROW(3, 2), DW_ROW(0, 0)};
#undef DW_ROW
#undef DW_VARIANTS
#undef DW_VARIANT

void SB_FN(f32_dwconv2d_chw)(const float *x, const float *w, float b, float *y, int h, int wd,
                             int kh, int kw, int s, int pad, int ho, int wo, int32_t act,
                             float *scratch)
{
    const int vectors = (wo + VW - 1) / VW;
    const int tile = vectors <= 1 ? 0 : vectors <= 2 ? 1 : 2; /* 1, 2 or DW_NV_MAX vectors */
    const int64_t len = sb_dw_phase_len(wo, kw, s, (1 << tile) * VW);
    SB_FN(dw_stage)(x, scratch, h, wd, s, sb_dw_phases(kw, s), pad, (ho - 1) * s + kh, len);
    const int shape = kh == 3 && kw == 3 && s == 1 ? 0 : kh == 3 && kw == 3 && s == 2 ? 1 : 2;
    SB_FN(DW_ROWS)[shape][tile](scratch, len, w, b, y, ho, wo, kh, kw, s, act);
}
