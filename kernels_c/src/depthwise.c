/* sb_depthwise_conv2d (depthwise.h): checks its arguments, then runs the chosen ISA's plane
 * kernel (dwconv2d_chw.h) on one (image, channel) plane per work item, each thread staging
 * its planes in a zeroed scratch buffer of its own. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "depthwise.h"
#include "dwconv.h"
#include "epilogue.h"
#include "planes.h"

#define SB_DWCONV_FN(fn, isa) [SB_ISA_##isa] = fn,
static const sb_dwconv_fn DWCONV[SB_ISAS] = {SB_DWCONV_TABLE(SB_DWCONV_FN)};
#undef SB_DWCONV_FN

int sb_depthwise_conv2d(const float *x, const float *w, const float *bias, float *y,
                        int32_t batch, int32_t channels, int32_t h, int32_t wd, int32_t kh,
                        int32_t kw, int32_t stride, int32_t pad, int32_t act, int32_t threads,
                        int32_t isa, char *err, int errlen) {
    const int rc = sb_check_planes(x, y, batch, channels, h, wd, threads, err, errlen);
    if (rc) return rc;
    if (!w) return sb_fail(err, errlen, SB_EINVAL, "the weight w must not be NULL");
    if (kh < 1 || kw < 1) return sb_fail(err, errlen, SB_EINVAL, "the kernel must be >= 1 x 1");
    if (stride < 1 || pad < 0) return sb_fail(err, errlen, SB_EINVAL, "stride >= 1 and pad >= 0");
    if (stride > SB_MAX_STRIDE || pad > SB_MAX_PADDING)
        return sb_fail(err, errlen, SB_EINVAL, "stride must be <= " SB_STR(SB_MAX_STRIDE)
                       " and pad <= " SB_STR(SB_MAX_PADDING));
    if (act < SB_ACT_NONE || act > SB_ACT_RELU6)
        return sb_fail(err, errlen, SB_EINVAL, "activation must be 0 (none), 1 (relu) or 2 (relu6)");
    if (isa < 0 || isa >= SB_ISAS || !((sb_isa_mask() >> isa) & 1))
        return sb_fail(err, errlen, SB_EISA, "isa not available on this CPU (see sb_isa_mask)");
    const int ho = sb_window_out(h, kh, stride, pad), wo = sb_window_out(wd, kw, stride, pad);
    if (!ho || !wo) return sb_fail(err, errlen, SB_EINVAL, "input plus padding is smaller than the kernel");
    const int64_t planes = (int64_t)batch * channels;
    const int64_t scratch_floats = sb_dw_scratch(h, kw, stride, pad, wo);
    const sb_dwconv_fn plane = DWCONV[isa];
    int failed = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
    {
        /* zeroed (dwconv.h), rows on cache lines */
        const size_t bytes = ((size_t)scratch_floats * sizeof(float) + 63) / 64 * 64;
        float *scratch = aligned_alloc(64, bytes);
        if (!scratch) failed = 1;
        else memset(scratch, 0, bytes);
#pragma omp for schedule(static)
        for (int64_t p = 0; p < planes; ++p) {
            if (!scratch) continue;
            const int c = (int)(p % channels);
            plane(x + p * h * wd, w + (int64_t)c * kh * kw, bias ? bias[c] : 0.0f,
                  y + p * ho * wo, h, wd, kh, kw, stride, pad, ho, wo, act, scratch);
        }
        free(scratch);
    }
    if (failed) return sb_fail(err, errlen, SB_ENOMEM, "out of memory for the staged planes");
    return SB_OK;
}
