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
 *          22 % at 7x7) and compacted into y; when wq = Wout (1x1 stride 2) the kernel
 *          writes y itself, epilogue included, and there is no compaction pass.
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
 * ELL16 formats on maps of 64 pixels a thread and the panel 1x1
 * (direct) layers on maps of at least 3 units per thread, split by pixels (splits_pixels).
 */
#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "activate.h"
#include "kernels.h"
#include "validate.h"

#define FAIL(code, ...) return sb_fail(err, errlen, code, __VA_ARGS__)
#define ALIGNED(ptr, n) ((((uintptr_t)(ptr)) % (n)) == 0)

#define SB_PIXEL_SPLIT_PANEL 128   /* panel: pixels per thread-split unit (two 64-pixel tiles) */
#define SB_PIXEL_SPLIT_MIN_UNITS 3 /* panel: split pixels only with at least this many units per thread */
#define SB_PIXEL_SPLIT_ELL16 16    /* ELL16: pixels per split unit, 64 bytes: one cache line of C */
#define SB_PIXEL_SPLIT_MIN_ELL16 64 /* ELL16: split pixels from this many per thread */
#define SB_ROW_ALIGN 16            /* floats (64 bytes): aligned / im2col rows and sub-buffers start here */
#define SB_STAGE_SLACK 64          /* zero floats after the last plane beyond a tap's column shift */
#define SB_PAGE_BYTES 4096         /* workspace sizes are rounded up to whole pages */

static int64_t round_up(int64_t n, int64_t to) { return (n + to - 1) / to * to; }

/* ---- the kernel table (kernel_table.h): dispatch and names ------------------------------ */
#define SB_KERNEL_FN(fn, family, isa) fn,
#define SB_KERNEL_STR(fn, family, isa) #fn,
#define SB_KERNEL_CELL(fn, family, isa) [SB_FAMILY_##family][SB_ISA_##isa] = SB_KERNEL_##fn + 1,
#define SB_FORMAT_FAMILY(name, code, family) [SB_FMT_##name] = SB_FAMILY_##family,
static const sb_kernel_fn KERNELS[SB_KERNELS] = {SB_MICROKERNEL_TABLE(SB_KERNEL_FN)};
static const char *const KERNEL_NAMES[SB_KERNELS] = {SB_MICROKERNEL_TABLE(SB_KERNEL_STR)};
static const int KERNEL_OF[SB_FAMILIES][SB_ISAS] = {SB_MICROKERNEL_TABLE(SB_KERNEL_CELL)}; /* row + 1, 0: none */
static const int FAMILY_OF[SB_FORMATS] = {SB_FORMAT_TABLE(SB_FORMAT_FAMILY)};

int sb_kernel_for(int fmt, int isa)
{
    if (fmt < 0 || fmt >= SB_FORMATS || isa < 0 || isa >= SB_ISAS) return -1;
    return KERNEL_OF[FAMILY_OF[fmt]][isa] - 1;
}

const char *sb_kernel_name(int kernel)
{
    return kernel >= 0 && kernel < SB_KERNELS ? KERNEL_NAMES[kernel] : "";
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

/* ---- the layout policy ------------------------------------------------------------------ */
static int is_pointwise(int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t ph, int32_t pw)
{
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0;
}

/* Auto: the cheapest staging.  DIRECT for a pointwise conv.  Else SHIFTED stages about one
 * copy of the input, but its rows are wo + kw - 1 wide, so the kernel computes (and the
 * compaction drops) kw - 1 columns per row; COLUMNS stages kw copies with rows exactly wo
 * wide and writes y itself.  At stride 1, COLUMNS wherever SHIFTED computes at least
 * SB_COLUMNS_MIN_WASTE more 8-pixel units (an AVX2 vector; AVX-512 runs a tail of at most
 * 8 pixels half-width, vec.h: SB_HALF_TAIL) and the weight stores at least
 * SB_COLUMNS_MIN_DENSITY of its values (the copies cost the same at any density, the
 * vectors saved less and less): Zen 4, 1 thread, interleaved A/B in one process over
 * ResNet-50's 3x3 layers, COLUMNS against SHIFTED everywhere: dense 1.03-1.06x at 28x28 and
 * 14x14 (8 % fewer vectors), 0.99-1.02x at 56x56 (3.5 %), 0.99x at 7x7 (none), 0.93-1.00x
 * at stride 2; cs k=4 1.03-1.035x, 0.98-0.99x, 0.974x, 0.97-1.02x; then with the rule, 28x28
 * and 14x14 only: dense 1.05-1.07x, cs k=4 1.00-1.06x, nm 1:4 1.02-1.04x, unstructured 75 %
 * 1.00-1.05x, block 1x16 75 % 0.97-1.03x, unstructured 90 % 0.97-1.02x (so not below).
 * On two threads, where each thread stages half the planes and reads all of them, kw
 * copies cross between the cores' caches instead of one (Zen 4: dense 0.95-1.03x, cs k=4
 * 0.75-1.01x, with or without the compaction), so only a weight that stores at least
 * SB_COLUMNS_MIN_DENSITY_TEAM of its values takes them there: Zen 5, 2 threads, A/B in one
 * process, 3x3 stride 1 at 56x56 / 28x28 / 14x14 / 7x7: dense 0.99 / 1.03 / 1.08 / 1.21x,
 * cs k=4 0.98-1.00x, block 1x16 75 % 0.84-0.94x (1.08x at 7x7); whole ResNet-50 dense
 * 1.024x at 2 threads (1 thread: 0.999x, unchanged).  Counted in 8-pixel units, with the
 * half-width tails, the rule also takes 7x7 maps (49 against 63 pixels): dense 1.12-1.13x,
 * block 1x16 75 % 1.09x, cs k=4 1.06x.  Earlier, on ResNet-50 (cs k=4 /
 * unstructured 90 %), shifted beat im2col and 64-byte aligned rows on every 3x3 layer and
 * direct beat both on misaligned 1x1 layers. */
#define SB_COLUMNS_MIN_WASTE 0.05
#define SB_COLUMNS_MIN_DENSITY 0.2
#define SB_COLUMNS_MIN_DENSITY_TEAM 0.7
int sb_auto_layout(int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t ph, int32_t pw,
                   int32_t h, int32_t w, double density, int32_t threads)
{
    if (is_pointwise(kh, kw, sh, sw, ph, pw)) return SB_LAYOUT_DIRECT;
    const int64_t ho = (h + 2 * ph - kh) / sh + 1, wo = (w + 2 * pw - kw) / sw + 1;
    if (sh != 1 || sw != 1 || ho < 1 || wo < 1 ||
        !(density >= (threads == 1 ? SB_COLUMNS_MIN_DENSITY : SB_COLUMNS_MIN_DENSITY_TEAM)))
        return SB_LAYOUT_SHIFTED;
    const int64_t exact = (ho * wo + 7) / 8, shifted = (ho * (wo + kw - 1) + 7) / 8;
    return shifted >= exact * (1.0 + SB_COLUMNS_MIN_WASTE) ? SB_LAYOUT_COLUMNS : SB_LAYOUT_SHIFTED;
}

/* ---- one call's shapes and staging plan ------------------------------------------------- */
typedef struct conv_call {
    int batch, h, w, sh, sw, ph, pw; /* input and its stride / padding */
    int kh, kw, cin, cout, ho, wo;   /* weight and output */
    int64_t plane_in, plane_out;     /* floats per input / output channel plane */
} conv_call;

/* What B is for the kernel, and the workspace that holds it.  Planes (ci, kh % sh, c) hold
 * x_pad[i*sh + kh%sh][j*sw + c] for i < hq, j < rw:
 *  shifted: c = kw % sw (phases), rw = wq, a tap adds (kh/sh)*wq + kw/sw;
 *  aligned: c = kw (one copy per column shift), rw = 16-multiple, a tap adds (kh/sh)*rw,
 *           so every row a kernel loads is 64-byte aligned (Kw copies of the input). */
typedef struct staging {
    int layout;          /* SB_LAYOUT_DIRECT .. SB_LAYOUT_COLUMNS */
    int planes;          /* 1: shifted or aligned phase planes */
    int compact;         /* planes rows wider than wo: the kernel writes `wide`, compacted into y */
    int hq, rw;          /* planes: rows, row width (floats) */
    int psh, ncol;       /* planes per channel: row phases x column copies */
    int64_t plane_r;     /* floats per plane */
    int64_t nq;          /* pixels of one output row the kernel computes */
    int64_t ldb;         /* im2col: floats per reduction row */
    int64_t row_step;    /* equal spacing of B's rows the kernel may use (0: off[] only) */
    int64_t ldc;         /* floats per output row of the kernel's C */
    int64_t stage, wide; /* floats: staged input, wide output compacted into y */
} staging;

static int check_arguments(const sb_packed *p, const float *x, const float *y, const float *bias,
                           const float *residual, int32_t act, int32_t batch, int32_t h, int32_t w, int32_t sh, int32_t sw, int32_t ph,
                           int32_t pw, int32_t threads, int32_t isa, char *err, int errlen)
{
    int rc = sb_check_header(p, err, errlen);
    if (rc) return rc;
    if (!x || !y) FAIL(SB_EINVAL, "input or output pointer is NULL");
    if (!ALIGNED(x, 4) || !ALIGNED(y, 4) || (bias && !ALIGNED(bias, 4)) ||
        (residual && !ALIGNED(residual, 4)))
        FAIL(SB_EINVAL, "input, output, bias or residual pointer not 4-byte aligned");
    if (residual == y) FAIL(SB_EINVAL, "the residual must not be the output buffer");
    if (act < SB_ACT_NONE || act > SB_ACT_RELU6)
        FAIL(SB_EINVAL, "activation must be 0 (none), 1 (relu) or 2 (relu6), got %d", act);
    if (batch < 1 || h < 1 || w < 1 || batch > SB_MAX_BATCH || h > SB_MAX_SIDE || w > SB_MAX_SIDE)
        FAIL(SB_EINVAL, "input shape out of range: batch=%d h=%d w=%d", batch, h, w);
    if (sh < 1 || sw < 1 || sh > SB_MAX_STRIDE || sw > SB_MAX_STRIDE)
        FAIL(SB_EINVAL, "stride (%d, %d) out of range 1..%d", sh, sw, SB_MAX_STRIDE);
    if (ph < 0 || pw < 0 || ph > SB_MAX_PADDING || pw > SB_MAX_PADDING)
        FAIL(SB_EINVAL, "padding (%d, %d) out of range 0..%d", ph, pw, SB_MAX_PADDING);
    if (threads < 1 || threads > SB_MAX_THREADS)
        FAIL(SB_EINVAL, "threads=%d out of range 1..%d", threads, SB_MAX_THREADS);
    if (isa < 0 || isa >= SB_ISAS || !((sb_isa_mask() >> isa) & 1))
        FAIL(SB_EISA, "isa %d not available on this CPU", isa);
    if (sb_kernel_for(p->fmt, isa) < 0) FAIL(SB_EISA, "no micro-kernel for format %d on isa %d", p->fmt, isa);
    const int hp = h + 2 * ph, wp = w + 2 * pw;
    if (hp < p->kh || wp < p->kw)
        FAIL(SB_EINVAL, "input %dx%d (padded %dx%d) smaller than kernel %dx%d", h, w, hp, wp, p->kh, p->kw);
    return SB_OK;
}

static conv_call describe_call(const sb_packed *p, int32_t batch, int32_t h, int32_t w, int32_t sh,
                               int32_t sw, int32_t ph, int32_t pw)
{
    conv_call c = {batch, h, w, sh, sw, ph, pw, p->kh, p->kw, p->cin, p->cout, 0, 0, 0, 0};
    c.ho = (h + 2 * ph - c.kh) / sh + 1;
    c.wo = (w + 2 * pw - c.kw) / sw + 1;
    c.plane_in = (int64_t)h * w;
    c.plane_out = (int64_t)c.ho * c.wo;
    return c;
}

/* The layout a call asks for, AUTO resolved; -1 when it cannot run this convolution. */
static int resolve_layout(const sb_packed *p, const conv_call *c, int32_t layout, int32_t threads)
{
    const double density = (double)p->len_val / ((double)c->cout * c->cin * c->kh * c->kw);
    const int picked = sb_auto_layout(c->kh, c->kw, c->sh, c->sw, c->ph, c->pw, c->h, c->w,
                                      density, threads);
    const int direct = is_pointwise(c->kh, c->kw, c->sh, c->sw, c->ph, c->pw);
    if (layout == SB_LAYOUT_AUTO) return picked;
    if (layout <= SB_LAYOUT_AUTO || layout >= SB_LAYOUTS || (layout == SB_LAYOUT_DIRECT && !direct))
        return -1;
    return layout;
}

static int plan_staging(const conv_call *c, int layout, staging *s, char *err, int errlen)
{
    memset(s, 0, sizeof *s);
    s->layout = layout;
    s->planes = layout == SB_LAYOUT_SHIFTED || layout == SB_LAYOUT_COLUMNS;
    /* shifted: sh*sw phase planes of hq x wq per channel (stride 1: the padded plane) */
    const int wq = c->wo + (c->kw - 1) / c->sw;
    s->hq = c->ho + (c->kh - 1) / c->sh;
    s->psh = c->sh < c->kh ? c->sh : c->kh; /* row phases some tap reads */
    const int psw = c->sw < c->kw ? c->sw : c->kw;
    s->rw = layout == SB_LAYOUT_COLUMNS ? c->wo : wq;
    s->ncol = layout == SB_LAYOUT_COLUMNS ? c->kw : psw;
    s->plane_r = (int64_t)s->hq * s->rw;
    const int64_t red = (int64_t)c->cin * c->kh * c->kw;
    if (layout == SB_LAYOUT_DIRECT) {
        s->nq = c->plane_in;
        s->row_step = c->plane_in;
    } else if (s->planes) {
        s->nq = (int64_t)c->ho * s->rw;
        s->stage = (int64_t)c->cin * s->psh * s->ncol * s->plane_r + c->kw + SB_STAGE_SLACK;
        s->compact = s->rw != c->wo;
        s->wide = s->compact ? (int64_t)c->cout * round_up(s->nq, SB_ROW_ALIGN) : 0;
    } else { /* im2col */
        s->nq = c->plane_out;
        s->ldb = round_up(s->nq, SB_ROW_ALIGN);
        s->stage = red * s->ldb;
        s->row_step = s->ldb;
    }
    s->ldc = s->compact ? round_up(s->nq, SB_ROW_ALIGN) : c->plane_out; /* wide: aligned rows */
    if (s->stage > INT32_MAX || s->nq > INT32_MAX || (int64_t)c->cin * c->plane_in > INT32_MAX ||
        s->wide > INT32_MAX || (int64_t)c->cout * c->plane_out > INT32_MAX)
        FAIL(SB_EINVAL, "one image is too large for 32-bit offsets; use smaller inputs");
    return SB_OK;
}

/* ---- the workspace: staged input | wide output | offset table ----------------------------- */
/* Per calling thread scratch memory, grown on demand and reused: a fresh multi-MB malloc
 * per call would page-fault its way through every byte again. */
static __thread void *ws_ptr;
static __thread size_t ws_size;

static void *workspace(size_t bytes)
{
    if (bytes <= ws_size) return ws_ptr;
    free(ws_ptr);
    ws_size = 0;
    bytes = (size_t)round_up((int64_t)bytes, SB_PAGE_BYTES);
    ws_ptr = aligned_alloc(64, bytes);
    if (ws_ptr) ws_size = bytes;
    return ws_ptr;
}

/* off[r]: where B's row for reduction index r = tap * cin + ci starts */
static void fill_offsets(const conv_call *c, const staging *s, int32_t *off)
{
    const int taps = c->kh * c->kw;
    for (int t = 0; t < taps; ++t)
        for (int ci = 0; ci < c->cin; ++ci) {
            const int r = t * c->cin + ci, dh = t / c->kw, dw = t % c->kw;
            const int64_t plane_row = (int64_t)(ci * s->psh + dh % c->sh) * s->ncol;
            switch (s->layout) {
            case SB_LAYOUT_DIRECT: off[r] = (int32_t)(ci * c->plane_in); break;
            case SB_LAYOUT_IM2COL: off[r] = (int32_t)(r * s->ldb); break;
            case SB_LAYOUT_COLUMNS:
                off[r] = (int32_t)((plane_row + dw) * s->plane_r + (dh / c->sh) * s->rw);
                break;
            default: /* shifted */
                off[r] = (int32_t)((plane_row + dw % c->sw) * s->plane_r + (dh / c->sh) * s->rw +
                                   dw / c->sw);
            }
        }
}

/* ---- staging paths (called inside the team: their loops are shared) ----------------------- */
/* dst[j] = src[j*sw + shift] for the j < n whose column j*sw + shift is inside [0, w), else 0:
 * zeros | copy | zeros.  Rows are short (29-58 floats on ResNet-50), so no libc calls and no
 * division at strides 1 and 2; stride 2 deinterleaves with SSE shuffles (GCC emulated a
 * gather there: 85 cycles a 29-float row, 0.34 ms of staging on ResNet-50 l2.c2s). */
static void strided_row(float *dst, int n, const float *src, int w, int shift, int sw)
{
    const int last = w - 1 - shift; /* j*sw <= last */
    int lo = shift >= 0 ? 0 : sw == 1 ? -shift : (-shift + sw - 1) / sw;
    int hi = last < 0 ? 0 : (sw == 1 ? last : sw == 2 ? last >> 1 : last / sw) + 1;
    lo = lo > n ? n : lo;
    hi = hi > n ? n : hi < lo ? lo : hi;
    for (int j = 0; j < lo; ++j) dst[j] = 0.0f;
    const float *s = src + ((int64_t)lo * sw + shift);
    float *d = dst + lo;
    const int len = hi - lo;
    if (sw == 1) {
        memcpy(d, s, sizeof(float) * (size_t)len);
    } else if (sw == 2) {
        int j = 0;
        for (; j + 4 < len; j += 4) /* reads s[2j .. 2j+7], all below s[2*(len-1)] */
            _mm_storeu_ps(d + j, _mm_shuffle_ps(_mm_loadu_ps(s + 2 * j), _mm_loadu_ps(s + 2 * j + 4),
                                                _MM_SHUFFLE(2, 0, 2, 0)));
        for (; j < len; ++j) d[j] = s[2 * j];
    } else {
        for (int j = 0; j < len; ++j) d[j] = s[(int64_t)j * sw];
    }
    for (int j = hi; j < n; ++j) dst[j] = 0.0f;
}

/* shifted / aligned: copy image xb into zero-padded planes */
static void stage_planes(const conv_call *c, const staging *s, const float *xb, float *staged)
{
    const int nplanes = c->cin * s->psh * s->ncol, rw = s->rw;
#pragma omp for schedule(static)
    for (int pi = 0; pi < nplanes; ++pi) {
        const int ci = pi / (s->psh * s->ncol), pa = pi / s->ncol % s->psh, pc = pi % s->ncol;
        const float *xc = xb + (int64_t)ci * c->plane_in;
        float *pl = staged + (int64_t)pi * s->plane_r;
        for (int i = 0; i < s->hq; ++i) {
            float *row = pl + (int64_t)i * rw;
            const int hi = i * c->sh + pa - c->ph;
            if (hi < 0 || hi >= c->h) { memset(row, 0, sizeof(float) * (size_t)rw); continue; }
            strided_row(row, rw, xc + (int64_t)hi * c->w, c->w, pc - c->pw, c->sw);
        }
        if (pi == nplanes - 1) memset(pl + s->plane_r, 0, sizeof(float) * (size_t)(c->kw + SB_STAGE_SLACK));
    }
}

/* im2col: B[r][q] = x[ci][ho*s + kh - p][wo*s + kw - p], rows ldb floats apart */
static void stage_im2col(const conv_call *c, const staging *s, const float *xb, float *staged)
{
    const int red = c->cin * c->kh * c->kw, wo = c->wo;
#pragma omp for schedule(static)
    for (int r = 0; r < red; ++r) {
        const int t = r / c->cin, ci = r % c->cin, dh = t / c->kw, dw = t % c->kw;
        const float *xc = xb + (int64_t)ci * c->plane_in;
        float *row = staged + (int64_t)r * s->ldb;
        for (int i = 0; i < c->ho; ++i) {
            const int hi = i * c->sh + dh - c->ph;
            float *o = row + (int64_t)i * wo;
            if (hi < 0 || hi >= c->h) { memset(o, 0, sizeof(float) * (size_t)wo); continue; }
            strided_row(o, wo, xc + (int64_t)hi * c->w, c->w, dw - c->pw, c->sw);
        }
        memset(row + s->nq, 0, sizeof(float) * (size_t)(s->ldb - s->nq));
    }
}

/* output channels no packed row writes (filter pruning) hold the bias or 0, and the
 * epilogue act(. + residual) when one is given (res: NULL or indexed like dst) */
static void fill_unwritten_rows(const sb_packed *p, const staging *s, const float *bias, float *dst,
                                const float *res, int32_t act)
{
#pragma omp for schedule(static) nowait
    for (int64_t i = 0; i < p->len_fillrows; ++i) {
        const int co = p->fillrows[i];
        const float v = bias ? bias[co] : 0.0f;
        float *o = dst + co * s->ldc;
        if (!res) { /* one value: a vectorised fill (the per-element branch kept it scalar) */
            const float a = sb_activate(v, act);
            for (int64_t q = 0; q < s->nq; ++q) o[q] = a;
            continue;
        }
        const float *r = res + co * s->ldc;
#pragma omp simd
        for (int64_t q = 0; q < s->nq; ++q) o[q] = sb_activate(v + r[q], act);
    }
}

/* planes: the kernel wrote rw-wide rows; keep the first wo columns of each, through the
 * epilogue act(. + residual) (rb: the image's residual, NULL: none) */
static void compact_output(const conv_call *c, const staging *s, const float *wide, float *yb,
                           const float *rb, int32_t act)
{
#pragma omp for schedule(static) nowait
    for (int co = 0; co < c->cout; ++co)
        for (int i = 0; i < c->ho; ++i) {
            const int64_t at = co * c->plane_out + (int64_t)i * c->wo;
            const float *src = wide + co * s->ldc + (int64_t)i * s->rw;
            float *o = yb + at;
            if (!rb && act == SB_ACT_NONE) {
                memcpy(o, src, sizeof(float) * (size_t)c->wo);
            } else if (rb) {
                const float *r = rb + at;
#pragma omp simd
                for (int j = 0; j < c->wo; ++j) o[j] = sb_activate(src[j] + r[j], act);
            } else {
#pragma omp simd
                for (int j = 0; j < c->wo; ++j) o[j] = sb_activate(src[j], act);
            }
        }
}

/* ---- the thread split ---------------------------------------------------------------------- */
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

/* ELL16 kernels copy each activation tile they read, and the panel kernel each 1x1 tile
 * (panel_stage): with a row split every thread would copy every tile, so wide maps split
 * pixels instead (all rows).  ELL16: from 64 pixels a thread, in 16-pixel units; its
 * partial sums between blocks live in each thread's own scratch (`part`), so only the final
 * stores of two threads meet in a row's boundary line (partial sums in C made nm 1:16 on
 * 14x14 1x1 layers, 196-pixel rows, 3x slower).  2 threads, A/B in one process, ResNet-50
 * layers: pixel split where rows are line-aligned, cs k=4 1.023x, nm 1:16 1.031x,
 * unstructured 90 % 1.027x (3x3 at 28x28 / 14x14 up to 1.23x); then the scratch and the
 * split of every map, nm 1:16 1.058x (14x14 1x1 1.13-1.15x), cs k=4 1.013x, unstructured
 * 90 % 1.021x; 1 thread 1.01-1.02x.
 * Panel: whole 128-pixel units from 3 a thread.  Panel 1x1 layers at 56x56 and 28x28, 2 threads,
 * interleaved A/B in one process: dense 1.11-1.30x, block 1x16 93.75 % 1.37-1.63x; block
 * 75 % 0.78-2.2x (256->64 slower: with all rows a thread copies its tiles, with half it
 * did not, panel_reuses).  3x3 layers keep the row split (dense 128->128 at 28x28: 0.92x). */
static int splits_pixels(const sb_packed *p, const staging *s, int threads)
{
    if (threads < 2) return 0;
    if (FAMILY_OF[p->fmt] == SB_FAMILY_ELL16) /* partial sums in each thread's scratch */
        return s->nq >= (int64_t)SB_PIXEL_SPLIT_MIN_ELL16 * threads;
    return s->layout == SB_LAYOUT_DIRECT &&
           s->nq / SB_PIXEL_SPLIT_PANEL >= SB_PIXEL_SPLIT_MIN_UNITS * threads;
}

typedef struct work { int u0, u1; int64_t q0, q1; } work; /* rows [u0, u1) x pixels [q0, q1) */

static work thread_work(const sb_packed *p, const staging *s, int pixel_split, int tid, int nt)
{
    work wk = {0, p->units, 0, s->nq};
    if (pixel_split) { /* every row, a run of whole split units per thread */
        const int unit = FAMILY_OF[p->fmt] == SB_FAMILY_ELL16 ? SB_PIXEL_SPLIT_ELL16 : SB_PIXEL_SPLIT_PANEL;
        const int64_t tiles = s->nq / unit;
        wk.q0 = tiles * tid / nt * unit;
        wk.q1 = tid == nt - 1 ? s->nq : tiles * (tid + 1) / nt * unit;
    } else {
        split_units(p, tid, nt, &wk.u0, &wk.u1);
    }
    return wk;
}

/* Each thread's scratch (kernels.h): ELL16, the partial sums of (rows + 2) x SB_PART_ROW
 * floats; the panel kernel of a 1x1 weight, one pixel tile's copied rows, cin x SB_PANEL_ROW. */
static int64_t scratch_floats(const sb_packed *p)
{
    if (FAMILY_OF[p->fmt] == SB_FAMILY_ELL16) return (int64_t)(p->units + 2) * SB_PART_ROW;
    return p->kh * p->kw == 1 ? (int64_t)p->cin * SB_PANEL_ROW : 0;
}

/* ---- the call -------------------------------------------------------------------------------- */
static void run_team(const sb_packed *p, const conv_call *c, const staging *s, sb_kernel_fn kern,
                     const float *x, const float *bias, const float *residual, int32_t act,
                     float *y, float *staged, float *wide, const int32_t *off, float *parts,
                     int64_t part_len, int threads, int32_t *team)
{
    const int pixel_split = splits_pixels(p, s, threads);
#pragma omp parallel num_threads(threads)
    {
        const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
        if (tid == 0) *team = nt;
        const work wk = thread_work(p, s, pixel_split, tid, nt);
        for (int b = 0; b < c->batch; ++b) {
            const float *xb = x + (int64_t)b * c->cin * c->plane_in;
            float *yb = y + (int64_t)b * c->cout * c->plane_out;
            const float *rb = residual ? residual + (int64_t)b * c->cout * c->plane_out : 0;
            /* the epilogue: in the kernel's final stores when it writes y, else in compaction */
            const float *kres = s->compact ? 0 : rb;
            const int32_t kact = s->compact ? SB_ACT_NONE : act;
            const float *src = xb;
            float *dst = s->compact ? wide : yb;
            if (s->planes) {
                stage_planes(c, s, xb, staged);
                src = staged;
            } else if (s->layout == SB_LAYOUT_IM2COL) {
                stage_im2col(c, s, xb, staged);
                src = staged;
            }
            kern(p, wk.u0, wk.u1, src + wk.q0, off, s->row_step, (int)(wk.q1 - wk.q0), dst + wk.q0,
                 s->ldc, bias, kres ? kres + wk.q0 : 0, kact, part_len ? parts + tid * part_len : 0);
            /* Barriers only where data flows between threads: a barrier costs a
             * scheduler time slice when the cores are oversubscribed. */
            if (p->len_fillrows) fill_unwritten_rows(p, s, bias, dst, kres, kact);
            if (s->compact) {
#pragma omp barrier
                compact_output(c, s, wide, yb, rb, act);
            } else if (s->layout != SB_LAYOUT_DIRECT && b + 1 < c->batch) {
                /* the next image's staging overwrites what this image's kernels read */
#pragma omp barrier
            }
        }
    }
}

int sb_conv2d(const sb_packed *p, const float *x, int32_t batch, int32_t h, int32_t w,
              int32_t sh, int32_t sw, int32_t ph, int32_t pw, const float *bias,
              const float *residual, int32_t act, float *y, int32_t threads, int32_t isa,
              int32_t layout, sb_ran *ran, char *err, int errlen)
{
    int rc = check_arguments(p, x, y, bias, residual, act, batch, h, w, sh, sw, ph, pw, threads,
                             isa, err, errlen);
    if (rc) return rc;
    const conv_call c = describe_call(p, batch, h, w, sh, sw, ph, pw);
    const int chosen = resolve_layout(p, &c, layout, threads);
    if (chosen < 0) FAIL(SB_EINVAL, "layout %d cannot run this convolution", layout);
    staging s;
    rc = plan_staging(&c, chosen, &s, err, errlen);
    if (rc) return rc;
    const int64_t red = (int64_t)c.cin * c.kh * c.kw;
    const int64_t stage_len = round_up(s.stage, SB_ROW_ALIGN), wide_len = round_up(s.wide, SB_ROW_ALIGN);
    const int64_t part_len = round_up(scratch_floats(p), SB_ROW_ALIGN);
    const int64_t floats = stage_len + wide_len + part_len * threads;
    float *staged = workspace((size_t)floats * sizeof(float) + (size_t)red * sizeof(int32_t));
    if (!staged) FAIL(SB_ENOMEM, "out of memory for the %lld-float workspace", (long long)floats);
    float *wide = staged + stage_len, *parts = wide + wide_len;
    int32_t *off = (int32_t *)(parts + part_len * threads);
    fill_offsets(&c, &s, off);
    const int kernel = sb_kernel_for(p->fmt, isa);
    int32_t team = 0;
    run_team(p, &c, &s, KERNELS[kernel], x, bias, residual, act, y, staged, wide, off, parts,
             part_len, threads, &team);
    if (ran) *ran = (sb_ran){team, chosen, kernel};
    return SB_OK;
}
