/* One-line error reporting shared by the whole-model kernels (epilogue, depthwise, pool). */
#ifndef SB_FAIL_H
#define SB_FAIL_H
#include <stdio.h>

static inline int sb_fail(char *err, int errlen, int code, const char *message) {
    if (err && errlen > 0) snprintf(err, (size_t)errlen, "%s", message);
    return code;
}
#endif
