/* sb_epilogue: residual add + ReLU / ReLU6 over a conv's output, in place (epilogue.h). */
#include <omp.h>
#include "activate.h"
#include "epilogue.h"
#include "fail.h"
#include "sb.h"

#define CHUNK 4096 /* elements per work item: a few pages, so threads never share a line */

int sb_epilogue(float *y, const float *residual, int64_t n, int32_t act, int32_t threads,
                char *err, int errlen) {
    if (!y) return sb_fail(err, errlen, SB_EINVAL, "output pointer is NULL");
    if (n < 0) return sb_fail(err, errlen, SB_EINVAL, "element count is negative");
    if (act < SB_ACT_NONE || act > SB_ACT_RELU6)
        return sb_fail(err, errlen, SB_EINVAL, "activation must be 0 (none), 1 (relu) or 2 (relu6)");
    if (threads < 1) return sb_fail(err, errlen, SB_EINVAL, "threads must be >= 1");
    if (!residual && act == SB_ACT_NONE) return SB_OK;
    const int64_t chunks = (n + CHUNK - 1) / CHUNK;
    const int nt = chunks < threads ? (int)(chunks > 0 ? chunks : 1) : threads;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
        const int64_t lo = c * CHUNK, hi = lo + CHUNK < n ? lo + CHUNK : n;
        if (residual) {
#pragma omp simd
            for (int64_t i = lo; i < hi; ++i) y[i] = sb_activate(y[i] + residual[i], act);
        } else {
#pragma omp simd
            for (int64_t i = lo; i < hi; ++i) y[i] = sb_activate(y[i], act);
        }
    }
    return SB_OK;
}
