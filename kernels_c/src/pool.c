/* sb_maxpool2d and sb_global_avgpool (pool.h): one (image, channel) plane per work item. */
#include <float.h>
#include <omp.h>
#include "pool.h"
#include "planes.h"

int sb_maxpool2d(const float *x, float *y, int32_t batch, int32_t channels, int32_t h,
                 int32_t w, int32_t k, int32_t stride, int32_t pad, int32_t threads,
                 char *err, int errlen) {
    const int rc = sb_check_planes(x, y, batch, channels, h, w, threads, err, errlen);
    if (rc) return rc;
    if (k < 1 || stride < 1 || pad < 0 || pad > k / 2)
        return sb_fail(err, errlen, SB_EINVAL, "need k >= 1, stride >= 1 and 0 <= pad <= k / 2");
    const int ho = sb_window_out(h, k, stride, pad), wo = sb_window_out(w, k, stride, pad);
    if (!ho || !wo) return sb_fail(err, errlen, SB_EINVAL, "input plus padding is smaller than the window");
    const int64_t planes = (int64_t)batch * channels;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
        const float *xc = x + p * h * w;
        float *yc = y + p * ho * wo;
        for (int i = 0; i < ho; ++i) {
            const int h0 = i * stride - pad, h1 = h0 + k;
            for (int j = 0; j < wo; ++j) {
                const int w0 = j * stride - pad, w1 = w0 + k;
                float m = -FLT_MAX;
                for (int a = h0 < 0 ? 0 : h0; a < (h1 > h ? h : h1); ++a)
                    for (int b = w0 < 0 ? 0 : w0; b < (w1 > w ? w : w1); ++b) {
                        const float v = xc[(int64_t)a * w + b];
                        m = v > m || v != v ? v : m; /* NaN propagates, as in torch */
                    }
                yc[(int64_t)i * wo + j] = m;
            }
        }
    }
    return SB_OK;
}

int sb_global_avgpool(const float *x, float *y, int32_t batch, int32_t channels, int32_t h,
                      int32_t w, int32_t threads, char *err, int errlen) {
    const int rc = sb_check_planes(x, y, batch, channels, h, w, threads, err, errlen);
    if (rc) return rc;
    const int64_t planes = (int64_t)batch * channels, n = (int64_t)h * w;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
        const float *xc = x + p * n;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < n; ++i) s += xc[i];
        y[p] = s / (float)n;
    }
    return SB_OK;
}
