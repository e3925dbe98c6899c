/* sb_depthwise_conv2d (depthwise.h): one (image, channel) plane per work item; each output
 * row starts at the bias and adds, tap by tap, a weighted input row over the columns whose
 * input is inside the image (so the inner loop has no bounds checks and vectorises at
 * stride 1); the activation is applied to the finished row. */
#include <omp.h>
#include "depthwise.h"
#include "epilogue.h"
#include "planes.h"

static void plane(const float *xc, const float *wc, float b, float *yc, int h, int wd, int kh,
                  int kw, int s, int pad, int ho, int wo, int act) {
    for (int i = 0; i < ho; ++i) {
        float *yr = yc + (int64_t)i * wo;
        for (int j = 0; j < wo; ++j) yr[j] = b;
        for (int dh = 0; dh < kh; ++dh) {
            const int hi = i * s + dh - pad;
            if (hi < 0 || hi >= h) continue;
            const float *xr = xc + (int64_t)hi * wd;
            for (int dw = 0; dw < kw; ++dw) {
                const float wt = wc[dh * kw + dw];
                /* columns j with 0 <= j*s + dw - pad < wd */
                const int jlo = dw >= pad ? 0 : (pad - dw + s - 1) / s;
                const int last = wd - 1 + pad - dw;
                int jhi = last < 0 ? 0 : last / s + 1;
                jhi = jhi > wo ? wo : jhi;
                if (s == 1) {
                    const float *xs = xr + dw - pad;
#pragma omp simd
                    for (int j = jlo; j < jhi; ++j) yr[j] += wt * xs[j];
                } else {
                    for (int j = jlo; j < jhi; ++j) yr[j] += wt * xr[j * s + dw - pad];
                }
            }
        }
        if (act != SB_ACT_NONE)
            for (int j = 0; j < wo; ++j) {
                float v = yr[j] > 0.0f ? yr[j] : 0.0f;
                yr[j] = act == SB_ACT_RELU6 && v > 6.0f ? 6.0f : v;
            }
    }
}

int sb_depthwise_conv2d(const float *x, const float *w, const float *bias, float *y,
                        int32_t batch, int32_t channels, int32_t h, int32_t wd, int32_t kh,
                        int32_t kw, int32_t stride, int32_t pad, int32_t act, int32_t threads,
                        char *err, int errlen) {
    const int rc = sb_check_planes(x, y, batch, channels, h, wd, threads, err, errlen);
    if (rc) return rc;
    if (!w) return sb_fail(err, errlen, SB_EINVAL, "the weight w must not be NULL");
    if (kh < 1 || kw < 1) return sb_fail(err, errlen, SB_EINVAL, "the kernel must be >= 1 x 1");
    if (stride < 1 || pad < 0) return sb_fail(err, errlen, SB_EINVAL, "stride >= 1 and pad >= 0");
    if (act < SB_ACT_NONE || act > SB_ACT_RELU6)
        return sb_fail(err, errlen, SB_EINVAL, "activation must be 0 (none), 1 (relu) or 2 (relu6)");
    const int ho = sb_window_out(h, kh, stride, pad), wo = sb_window_out(wd, kw, stride, pad);
    if (!ho || !wo) return sb_fail(err, errlen, SB_EINVAL, "input plus padding is smaller than the kernel");
    const int64_t planes = (int64_t)batch * channels;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
        const int c = (int)(p % channels);
        plane(x + p * h * wd, w + (int64_t)c * kh * kw, bias ? bias[c] : 0.0f,
              y + p * ho * wo, h, wd, kh, kw, stride, pad, ho, wo, act);
    }
    return SB_OK;
}
