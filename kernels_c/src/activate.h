/* The activation an epilogue applies after the residual add (SB_ACT_*, epilogue.h): shared by
 * the standalone epilogue and the conv's fused output passes. */
#ifndef SB_ACTIVATE_H
#define SB_ACTIVATE_H
#include <stdint.h>
#include "epilogue.h"

static inline float sb_activate(float v, int32_t act)
{
    if (act == SB_ACT_NONE) return v;
    v = v > 0.0f ? v : 0.0f;
    return act == SB_ACT_RELU6 && v > 6.0f ? 6.0f : v;
}
#endif
