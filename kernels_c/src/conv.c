/* Convolution driver: argument checks, activation staging, thread split, ISA dispatch.
 *
 * Every kernel is an SpMM  C[co, q] = sum_r W[co, r] * B[off[r] + q]  vectorised along
 * pixels q (channels-major = NCHW, so no activation transpose).  Staging picks what B is:
 *
 *  direct  (1x1, stride 1, pad 0): B = x itself, off[r] = r*H*W.  No copy.
 *  shifted (any other conv): x is copied once into zero-padded phase planes, one per
 *          (channel, kh mod sh, kw mod sw) that some tap reads, of hq x wq with
 *          hq = Hout + (Kh-1)/sh, wq = Wout + (Kw-1)/sw (stride 1: the padded plane).
 *          Every tap (kh, kw) is then one plane shifted by (kh/sh)*wq + kw/sw, so
 *          off[r] = plane(ci, kh%sh, kw%sw) + (kh/sh)*wq + kw/sw and no im2col is built:
 *          staging moves about one input's worth of data, not Kh*Kw of it.  The output
 *          is computed on wq columns (wq - Wout garbage columns, 3.5 % at 56x56 3x3,
 *          22 % at 7x7) and compacted into y.
 *  aligned (forced only) like shifted but one plane copy per kernel column kw and a
 *          16-multiple row width, so every tap row starts 64-byte aligned (Kw copies).
 *  im2col  (forced only) B[r][q] = x[ci][ho*s + kh - p][wo*s + kw - p], rows 16-float
 *          aligned.
 *
 *  Why: measured on ResNet-50 l1 3x3 (64->64, 56x56, batch 1, 1 thread, avx512, shared
 *  CPU): dense 1.07 ms shifted vs 2.25 ms im2col, cs k=4 0.88 vs 1.38 ms, block 1x16 75 %
 *  0.30 vs 1.22 ms -- the 7 MB im2col costs ~0.9 ms, more than the sparse work.  For the
 *  stride-2 3x3 layers phase planes took dense from 1.65-1.9 ms (im2col) to 1.2-1.9 ms and
 *  block 1x16 from 0.62-0.88 ms to 0.40-0.55 ms.
 *
 * Threads: one OpenMP team per call with exactly `threads` threads.  Staging is split by
 * channel / row; the SpMM by output row units: evenly for balanced patterns, by stored
 * values (row pointer prefix) for unstructured and global-block weights -- except the
 * ELL16 formats on maps of at least 3 tiles per thread, split by pixel tiles.
 */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"
#include "validate.h"

#define FAIL(code, ...) return sb_fail(err, errlen, code, __VA_ARGS__)
#define SB_PIXEL_SPLIT 128 /* pixels per thread-split unit: a multiple of every ISA's ell16 tile */
#define ALIGNED(ptr, n) ((((uintptr_t)(ptr)) % (n)) == 0)

enum { LAYOUT_AUTO = 0, LAYOUT_DIRECT = 1, LAYOUT_SHIFTED = 2, LAYOUT_IM2COL = 3, LAYOUT_ALIGNED = 4 };

#define SB_ELL16_ROW {f32_spmm_ell16_2x4v_scalar, f32_spmm_ell16_2x4v_avx2, f32_spmm_ell16_2x8v_avx512}
#define SB_ELL16_NAMES {"f32_spmm_ell16_2x4v_scalar", "f32_spmm_ell16_2x4v_avx2", "f32_spmm_ell16_2x8v_avx512"}
static const sb_kernel_fn KERNELS[4][3] = {
    [SB_FMT_PANEL] = {panel_spmm_6x4v_scalar, panel_spmm_6x4v_avx2, panel_spmm_6x4v_avx512},
    [SB_FMT_CSR] = SB_ELL16_ROW,
    [SB_FMT_NM] = SB_ELL16_ROW,
    [SB_FMT_CS] = SB_ELL16_ROW,
};
static const char *const KERNEL_NAMES[4][3] = {
    [SB_FMT_PANEL] = {"panel_spmm_6x4v_scalar", "panel_spmm_6x4v_avx2", "panel_spmm_6x4v_avx512"},
    [SB_FMT_CSR] = SB_ELL16_NAMES,
    [SB_FMT_NM] = SB_ELL16_NAMES,
    [SB_FMT_CS] = SB_ELL16_NAMES,
};

const char *sb_kernel_name(int fmt, int isa)
{
    if (fmt < 0 || fmt > SB_FMT_CS || isa < 0 || isa > SB_ISA_AVX512) return "";
    return KERNEL_NAMES[fmt][isa];
}

/* Auto: the cheapest staging.  The ell16 kernel copies every activation tile it reads into
 * its own aligned L1 buffer, so unlike the former one-row kernels it gains nothing from
 * aligned rows: on ResNet-50 (cs k=4 / unstructured 90 %, 1 thread, shared CPU) shifted beat
 * aligned and im2col on every 3x3 layer (l1.c2 1.47 vs 1.87 / 2.72 ms) and direct beat both
 * on misaligned 1x1 layers (l3.c1b 0.51 vs 0.65 ms). */
int sb_auto_layout(int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t ph, int32_t pw)
{
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 ? LAYOUT_DIRECT : LAYOUT_SHIFTED;
}

int sb_isa_mask(void)
{
    __builtin_cpu_init();
    int mask = 1 << SB_ISA_SCALAR;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) mask |= 1 << SB_ISA_AVX2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
        mask |= 1 << SB_ISA_AVX512;
    return mask;
}

/* Per calling thread scratch memory, grown on demand and reused: a fresh multi-MB malloc
 * per call would page-fault its way through every byte again. */
static __thread void *ws_ptr;
static __thread size_t ws_size;

static void *workspace(size_t bytes)
{
    if (bytes <= ws_size) return ws_ptr;
    free(ws_ptr);
    ws_size = 0;
    bytes = (bytes + 4095) & ~(size_t)4095;
    ws_ptr = aligned_alloc(64, bytes);
    if (ws_ptr) ws_size = bytes;
    return ws_ptr;
}

/* [u0, u1) of this thread: equal units, or equal (stored values + 1 per unit). */
static void split_units(const sb_packed *p, int tid, int nt, int *u0, int *u1)
{
    const int units = p->units;
    if (p->split != SB_SPLIT_NNZ || !p->rowptr || units == 0) {
        *u0 = (int)((int64_t)units * tid / nt);
        *u1 = (int)((int64_t)units * (tid + 1) / nt);
        return;
    }
    const int64_t total = (int64_t)(p->rowptr[units] - p->rowptr[0]) + units;
    int bounds[2];
    for (int e = 0; e < 2; ++e) {
        const int64_t target = total * (tid + e) / nt;
        int lo = 0, hi = units; /* first u with weight(u) >= target */
        while (lo < hi) {
            const int mid = (lo + hi) / 2;
            if ((int64_t)(p->rowptr[mid] - p->rowptr[0]) + mid < target) lo = mid + 1;
            else hi = mid;
        }
        bounds[e] = lo;
    }
    *u0 = tid == 0 ? 0 : bounds[0];
    *u1 = tid == nt - 1 ? units : bounds[1];
}

int sb_conv2d(const sb_packed *p, const float *x, int32_t batch, int32_t h, int32_t w,
              int32_t sh, int32_t sw, int32_t ph, int32_t pw, const float *bias, float *y,
              int32_t threads, int32_t isa, int32_t layout, int32_t *threads_used, char *err,
              int errlen)
{
    int rc = sb_check_header(p, err, errlen);
    if (rc) return rc;
    if (!x || !y) FAIL(SB_EINVAL, "input or output pointer is NULL");
    if (!ALIGNED(x, 4) || !ALIGNED(y, 4) || (bias && !ALIGNED(bias, 4)))
        FAIL(SB_EINVAL, "input, output or bias pointer not 4-byte aligned");
    if (batch < 1 || h < 1 || w < 1 || batch > (1 << 20) || h > (1 << 15) || w > (1 << 15))
        FAIL(SB_EINVAL, "input shape out of range: batch=%d h=%d w=%d", batch, h, w);
    if (sh < 1 || sw < 1 || sh > SB_MAX_STRIDE || sw > SB_MAX_STRIDE)
        FAIL(SB_EINVAL, "stride (%d, %d) out of range 1..%d", sh, sw, SB_MAX_STRIDE);
    if (ph < 0 || pw < 0 || ph > SB_MAX_PADDING || pw > SB_MAX_PADDING)
        FAIL(SB_EINVAL, "padding (%d, %d) out of range 0..%d", ph, pw, SB_MAX_PADDING);
    if (threads < 1 || threads > SB_MAX_THREADS)
        FAIL(SB_EINVAL, "threads=%d out of range 1..%d", threads, SB_MAX_THREADS);
    if (isa < 0 || isa > SB_ISA_AVX512 || !((sb_isa_mask() >> isa) & 1))
        FAIL(SB_EISA, "isa %d not available on this CPU", isa);
    const int kh = p->kh, kw = p->kw, cin = p->cin, cout = p->cout;
    const int hp = h + 2 * ph, wp = w + 2 * pw;
    if (hp < kh || wp < kw) FAIL(SB_EINVAL, "input %dx%d (padded %dx%d) smaller than kernel %dx%d", h, w, hp, wp, kh, kw);
    const int ho = (hp - kh) / sh + 1, wo = (wp - kw) / sw + 1;
    /* shifted layout: sh*sw phase planes of hq x wq per channel (stride 1: the padded plane) */
    const int hq = ho + (kh - 1) / sh, wq = wo + (kw - 1) / sw;
    const int psh = sh < kh ? sh : kh, psw = sw < kw ? sw : kw; /* phases some tap reads */
    const int direct = sb_auto_layout(kh, kw, sh, sw, ph, pw) == LAYOUT_DIRECT;
    if (layout == LAYOUT_AUTO) layout = direct ? LAYOUT_DIRECT : LAYOUT_SHIFTED;
    if (layout < LAYOUT_DIRECT || layout > LAYOUT_ALIGNED || (layout == LAYOUT_DIRECT && !direct))
        FAIL(SB_EINVAL, "layout %d cannot run this convolution", layout);

    /* planes (ci, kh % sh, c) hold x_pad[i*sh + kh%sh][j*sw + c] for i < hq, j < rw:
     * shifted: c = kw % sw (phases), rw = wq, a tap adds (kh/sh)*wq + kw/sw;
     * aligned: c = kw (one copy per column shift), rw = 16-multiple, a tap adds (kh/sh)*rw,
     *          so every row a kernel loads is 64-byte aligned (Kw copies of the input). */
    const int aligned = layout == LAYOUT_ALIGNED;
    const int wa = (wo + 15) & ~15; /* aligned layout's row width */
    const int rw = aligned ? wa : wq, ncol = aligned ? kw : psw;
    const int64_t plane_r = (int64_t)hq * rw;
    const int taps = kh * kw, red = cin * taps;
    const int64_t plane_in = (int64_t)h * w, plane_out = (int64_t)ho * wo;
    int64_t nq, ldb = 0, stage = 0, wide = 0;
    if (layout == LAYOUT_DIRECT) {
        nq = plane_in;
    } else if (layout == LAYOUT_SHIFTED || layout == LAYOUT_ALIGNED) {
        nq = (int64_t)ho * rw;
        stage = (int64_t)cin * psh * ncol * plane_r + kw + 64;
        wide = (int64_t)cout * nq;
    } else {
        nq = plane_out;
        ldb = (nq + 15) & ~(int64_t)15;
        stage = (int64_t)red * ldb;
    }
    if (stage > INT32_MAX || nq > INT32_MAX || (int64_t)cin * plane_in > INT32_MAX || wide > INT32_MAX ||
        (int64_t)cout * plane_out > INT32_MAX)
        FAIL(SB_EINVAL, "one image is too large for 32-bit offsets; use smaller inputs");
    float *ws = workspace((size_t)(stage + wide + 16) * sizeof(float) + (size_t)red * sizeof(int32_t) + 256);
    if (!ws) FAIL(SB_ENOMEM, "out of memory for the %lld-float workspace", (long long)(stage + wide));
    float *staged = ws, *widebuf = ws + ((stage + 15) & ~(int64_t)15);
    int32_t *off = (int32_t *)(widebuf + ((wide + 15) & ~(int64_t)15));
    for (int t = 0; t < taps; ++t)
        for (int ci = 0; ci < cin; ++ci) {
            const int r = t * cin + ci, dh = t / kw, dw = t % kw;
            off[r] = layout == LAYOUT_DIRECT  ? (int32_t)(ci * plane_in)
                   : layout == LAYOUT_IM2COL ? (int32_t)(r * ldb)
                   : aligned ? (int32_t)(((int64_t)(ci * psh + dh % sh) * ncol + dw) * plane_r + (dh / sh) * rw)
                             : (int32_t)(((int64_t)(ci * psh + dh % sh) * ncol + dw % sw) * plane_r +
                                         (dh / sh) * rw + dw / sw);
        }
    const sb_kernel_fn kern = KERNELS[p->fmt][isa];
    const int64_t row_step = layout == LAYOUT_DIRECT ? plane_in : layout == LAYOUT_IM2COL ? ldb : 0;
    const int staged_planes = layout == LAYOUT_SHIFTED || aligned;
    const int64_t ldc = staged_planes ? nq : plane_out;

    /* ELL16 kernels copy each activation tile they read: with a row split every thread
     * would copy every tile, so wide maps split pixels instead (whole tiles, all rows). */
    const int pixel_split = p->fmt != SB_FMT_PANEL && threads > 1 && nq / SB_PIXEL_SPLIT >= 3 * threads;
#pragma omp parallel num_threads(threads)
    {
        const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
        if (tid == 0 && threads_used) *threads_used = nt;
        int u0, u1;
        int64_t q0 = 0, q1 = nq;
        if (pixel_split) { /* every row, a run of whole SB_PIXEL_SPLIT tiles per thread */
            const int64_t tiles = nq / SB_PIXEL_SPLIT;
            q0 = tiles * tid / nt * SB_PIXEL_SPLIT;
            q1 = tid == nt - 1 ? nq : tiles * (tid + 1) / nt * SB_PIXEL_SPLIT;
            u0 = 0;
            u1 = p->units;
        } else {
            split_units(p, tid, nt, &u0, &u1);
        }
        for (int b = 0; b < batch; ++b) {
            const float *xb = x + (int64_t)b * cin * plane_in;
            float *yb = y + (int64_t)b * cout * plane_out;
            const float *src = xb;
            float *dst = staged_planes ? widebuf : yb;
            if (staged_planes) {
#pragma omp for schedule(static)
                for (int pi = 0; pi < cin * psh * ncol; ++pi) {
                    const int ci = pi / (psh * ncol), pa = pi / ncol % psh, pc = pi % ncol;
                    const float *xc = xb + (int64_t)ci * plane_in;
                    float *pl = staged + (int64_t)pi * plane_r;
                    for (int i = 0; i < hq; ++i) {
                        float *row = pl + (int64_t)i * rw;
                        const int hi = i * sh + pa - ph;
                        if (hi < 0 || hi >= h) { memset(row, 0, sizeof(float) * (size_t)rw); continue; }
                        const float *xr = xc + (int64_t)hi * w;
                        if (sw == 1) { /* row[j] = xr[j + pc - pw]: zeros | copy | zeros */
                            int lo = pw - pc, hi_ = pw - pc + w;
                            lo = lo < 0 ? 0 : lo > rw ? rw : lo;
                            hi_ = hi_ > rw ? rw : hi_ < lo ? lo : hi_;
                            memset(row, 0, sizeof(float) * (size_t)lo);
                            memcpy(row + lo, xr + lo + pc - pw, sizeof(float) * (size_t)(hi_ - lo));
                            memset(row + hi_, 0, sizeof(float) * (size_t)(rw - hi_));
                        } else {
                            for (int j = 0; j < rw; ++j) {
                                const int wi = j * sw + pc - pw;
                                row[j] = (wi >= 0 && wi < w) ? xr[wi] : 0.0f;
                            }
                        }
                    }
                    if (pi == cin * psh * ncol - 1) memset(pl + plane_r, 0, sizeof(float) * (size_t)(kw + 64));
                }
                src = staged;
            } else if (layout == LAYOUT_IM2COL) {
#pragma omp for schedule(static)
                for (int r = 0; r < red; ++r) {
                    const int t = r / cin, ci = r % cin, dh = t / kw, dw = t % kw;
                    const float *xc = xb + (int64_t)ci * plane_in;
                    float *row = staged + (int64_t)r * ldb;
                    /* output columns j whose input column j*sw + dw - pw is inside [0, w) */
                    const int jlo = dw >= pw ? 0 : (pw - dw + sw - 1) / sw;
                    const int last = w - 1 + pw - dw; /* j*sw <= last */
                    int jhi = last < 0 ? 0 : last / sw + 1;
                    jhi = jhi > wo ? wo : jhi < jlo ? jlo : jhi;
                    for (int i = 0; i < ho; ++i) {
                        const int hi = i * sh + dh - ph;
                        float *o = row + (int64_t)i * wo;
                        if (hi < 0 || hi >= h) { memset(o, 0, sizeof(float) * (size_t)wo); continue; }
                        const float *xr = xc + (int64_t)hi * w + dw - pw;
                        memset(o, 0, sizeof(float) * (size_t)jlo);
                        if (sw == 1) memcpy(o + jlo, xr + jlo, sizeof(float) * (size_t)(jhi - jlo));
                        else for (int j = jlo; j < jhi; ++j) o[j] = xr[(int64_t)j * sw];
                        memset(o + jhi, 0, sizeof(float) * (size_t)(wo - jhi));
                    }
                    memset(row + nq, 0, sizeof(float) * (size_t)(ldb - nq));
                }
                src = staged;
            }
            kern(p, u0, u1, src + q0, off, row_step, (int)(q1 - q0), dst + q0, ldc, bias);
            /* Barriers only where data flows between threads: a barrier costs a
             * scheduler time slice when the cores are oversubscribed. */
            if (p->len_fillrows) {
#pragma omp for schedule(static) nowait
                for (int64_t i = 0; i < p->len_fillrows; ++i) {
                    const int co = p->fillrows[i];
                    const float v = bias ? bias[co] : 0.0f;
                    float *o = dst + co * ldc;
                    for (int64_t q = 0; q < nq; ++q) o[q] = v;
                }
            }
            if (staged_planes) {
#pragma omp barrier
#pragma omp for schedule(static) nowait
                for (int co = 0; co < cout; ++co)
                    for (int i = 0; i < ho; ++i)
                        memcpy(yb + co * plane_out + (int64_t)i * wo, widebuf + co * nq + (int64_t)i * rw,
                               sizeof(float) * (size_t)wo);
            }
            /* the next image's staging overwrites what this image's kernels read */
            if (layout == LAYOUT_IM2COL && b + 1 < batch) {
#pragma omp barrier
            }
        }
    }
    return SB_OK;
}
