// N:M convolution as an SpMM over pixels, fp32 and fp16.
//
// Packed weight (docs/PATTERNS.md §nm): for every (co, tap, group g of m input channels, i < n),
// one value and one index t in [0, m) (one byte), at ((co * taps + tap) * groups + g) * n + i;
// the channel is g*m + t.  A stage holds floor(32/m) whole groups, so every output channel
// has exactly n non-zeros per staged group (balanced) and reads shared row (g-g0)*m + t;
// values and indices come 4 per load when aligned (for_each_nz).
#include "common.cuh"

namespace {
using namespace sb;

template <typename T>
__device__ __forceinline__ void nm_conv(const T* __restrict__ x, const T* __restrict__ vals,
                                        const unsigned char* __restrict__ idx,
                                        const float* __restrict__ bias, T* __restrict__ y,
                                        const Conv c, int n, int m) {
    __shared__ __align__(16) T xs[SP_ROWS][SP_TP];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int p0 = blockIdx.x * SP_TP;
    const int co0 = blockIdx.y * SP_TCO + warp * SP_CPW;
    const int taps = c.taps();
    const int groups = c.Cin / m;
    const int per_stage = SP_ROWS / m;
    StagedTile<T> tile(xs, c, p0);
    float acc[SP_CPW][4] = {};

    for (int tap = 0; tap < taps; ++tap) {
        tile.set_tap(c, tap / c.Kw, tap % c.Kw);
        for (int g0 = 0; g0 < groups; g0 += per_stage) {
            const int ge = min(per_stage, groups - g0);
            const int cbase = g0 * m;
            stage_rows(tile, x, c, ge * m, [&](int r) { return cbase + r; });
#pragma unroll
            for (int s = 0; s < SP_CPW; ++s) {
                const int co = co0 + s;
                if (co < c.Cout) {
                    const long long e0 = (((long long)co * taps + tap) * groups + g0) * n;
                    int base = 0, left = n;  // shared row of the current group, its n left
                    for_each_nz(vals, idx, e0, ge * n, [&](float w, int t, int) {
                        fma_row(acc[s], w, xs[base + t], lane);
                        if (--left == 0) {
                            left = n;
                            base += m;
                        }
                    });
                }
            }
        }
    }
    store_tile(y, bias, c, p0, lane, acc, [&](int s) { return co0 + s < c.Cout ? co0 + s : -1; });
}
}  // namespace

SB_BYTE_INDEX_ENTRY(sb_nm_f32, float, nm_conv, n, m)
SB_BYTE_INDEX_ENTRY(sb_nm_f16, __half, nm_conv, n, m)
