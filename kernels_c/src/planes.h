/* What the per-plane kernels (depthwise.c, pool.c) share: the check of an NCHW input, its
 * output and the thread count, and the output size of a sliding window. */
#ifndef SB_PLANES_H
#define SB_PLANES_H
#include <stdint.h>
#include "fail.h"
#include "sb.h"

#define SB_STR2(x) #x
#define SB_STR(x) SB_STR2(x)

static inline int sb_check_planes(const float *x, const float *y, int32_t batch,
                                  int32_t channels, int32_t h, int32_t w, int32_t threads,
                                  char *err, int errlen) {
    if (!x || !y) return sb_fail(err, errlen, SB_EINVAL, "x and y must not be NULL");
    if (batch < 1 || channels < 1 || h < 1 || w < 1)
        return sb_fail(err, errlen, SB_EINVAL, "batch, channels, height and width must be >= 1");
    if (h > SB_MAX_SIDE || w > SB_MAX_SIDE)
        return sb_fail(err, errlen, SB_EINVAL, "height and width must be <= " SB_STR(SB_MAX_SIDE));
    if (threads < 1 || threads > SB_MAX_THREADS)
        return sb_fail(err, errlen, SB_EINVAL, "threads must be in 1.." SB_STR(SB_MAX_THREADS));
    return SB_OK;
}

/* Outputs of a window of k over n inputs, padding pad each side, stride >= 1 (floor);
 * 0 when the padded input is smaller than the window. */
static inline int sb_window_out(int32_t n, int32_t k, int32_t stride, int32_t pad) {
    const int64_t padded = n + 2 * (int64_t)pad;
    return padded < k ? 0 : (int)((padded - k) / stride + 1);
}
#endif
