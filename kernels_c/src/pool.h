/* Pooling on NCHW float32 for the whole-model path: max pooling (square window, stride,
 * zero-size padding that never wins) and global average pooling. Part of the public C API
 * and the cffi cdef (see _build.py). */
#ifndef SB_POOL_H
#define SB_POOL_H
#include <stdint.h>

/* y (batch, channels, ho, wo), ho = (h + 2*pad - k) / stride + 1 (floor), wo alike; padded
 * positions are ignored (as in torch); pad <= k / 2. */
int sb_maxpool2d(const float *x, float *y, int32_t batch, int32_t channels, int32_t h,
                 int32_t w, int32_t k, int32_t stride, int32_t pad, int32_t threads,
                 char *err, int errlen);

/* y (batch, channels) = mean over each h x w plane */
int sb_global_avgpool(const float *x, float *y, int32_t batch, int32_t channels, int32_t h,
                      int32_t w, int32_t threads, char *err, int errlen);
#endif
