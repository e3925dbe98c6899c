/* sb_maxpool2d and sb_global_avgpool (pool.h): one (image, channel) plane per work item.
 * Max pooling is separable: for each output row, the max over its window's input rows
 * (inside the image) is taken column by column into a row buffer -- contiguous, so it
 * vectorises -- and each output then takes the max of its window's columns of that row.
 * NaN propagates, as in torch. */
#include <float.h>
#include <omp.h>
#include "planes.h"
#include "pool.h"

static inline float nan_max(float m, float v) { return v > m || v != v ? v : m; }

static void max_plane(const float *xc, float *yc, int h, int w, int k, int s, int pad, int ho,
                      int wo, float *rowmax) {
    for (int i = 0; i < ho; ++i) {
        const int r0 = i * s - pad, a0 = r0 < 0 ? 0 : r0, a1 = r0 + k > h ? h : r0 + k;
        for (int c = 0; c < w; ++c) rowmax[c] = -FLT_MAX;
        for (int a = a0; a < a1; ++a) {
            const float *xr = xc + (int64_t)a * w;
#pragma omp simd
            for (int c = 0; c < w; ++c) rowmax[c] = nan_max(rowmax[c], xr[c]);
        }
        float *yr = yc + (int64_t)i * wo;
        for (int j = 0; j < wo; ++j) {
            const int c0 = j * s - pad, b0 = c0 < 0 ? 0 : c0, b1 = c0 + k > w ? w : c0 + k;
            float m = -FLT_MAX;
            for (int b = b0; b < b1; ++b) m = nan_max(m, rowmax[b]);
            yr[j] = m;
        }
    }
}

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
#pragma omp parallel num_threads(threads)
    {
        float rowmax[w]; /* w <= SB_MAX_SIDE floats per thread */
#pragma omp for schedule(static)
        for (int64_t p = 0; p < planes; ++p)
            max_plane(x + p * h * w, y + p * ho * wo, h, w, k, stride, pad, ho, wo, rowmax);
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
