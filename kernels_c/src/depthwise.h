/* Depthwise convolution (groups = channels, one Kh x Kw filter per channel) on NCHW float32,
 * with the bias and the activation (SB_ACT_*, epilogue.h) fused: MobileNet's 3x3 layers.
 * Part of the public C API and the cffi cdef (see _build.py). */
#ifndef SB_DEPTHWISE_H
#define SB_DEPTHWISE_H
#include <stdint.h>

/* y (batch, channels, ho, wo) = act(conv(x, w) + bias), ho = (h + 2*pad - kh) / stride + 1
 * (wo alike); w is (channels, 1, kh, kw); bias may be NULL; isa an SB_ISA_* code that
 * sb_isa_mask() allows. Returns SB_OK or an error code with a message in err. */
int sb_depthwise_conv2d(const float *x, const float *w, const float *bias, float *y,
                        int32_t batch, int32_t channels, int32_t h, int32_t wd, int32_t kh,
                        int32_t kw, int32_t stride, int32_t pad, int32_t act, int32_t threads,
                        int32_t isa, char *err, int errlen);
#endif
