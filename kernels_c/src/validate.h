/* Internal validation helpers (validate.c). */
#ifndef SB_VALIDATE_H
#define SB_VALIDATE_H
#include <stdint.h>
#include "sb.h"
#define SB_MAX_KERNEL 16
int sb_fail(char *err, int errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int sb_check_header(const sb_packed *p, char *err, int errlen);
#endif
