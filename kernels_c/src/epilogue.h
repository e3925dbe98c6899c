/* Whole-model epilogues (part of the public C API and the cffi cdef, see _build.py):
 * applied to a conv's output in place, so a residual add and the activation after a
 * conv cost one pass over the output and no new tensor. */
#ifndef SB_EPILOGUE_H
#define SB_EPILOGUE_H
#include <stdint.h>

/* activations */
#define SB_ACT_NONE 0
#define SB_ACT_RELU 1
#define SB_ACT_RELU6 2

/* y[i] = act(y[i] + residual[i]) for i < n (residual NULL: no add); returns SB_OK or an
 * error code with a message in err */
int sb_epilogue(float *y, const float *residual, int64_t n, int32_t act, int32_t threads,
                char *err, int errlen);
#endif
