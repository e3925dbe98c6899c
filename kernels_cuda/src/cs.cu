// CS (complementary sparsity) convolution as an SpMM over pixels, fp32 and fp16.
//
// Packed weight (docs/PATTERNS.md §cs): for every (co, tap, chunk q, offset j), one value and
// one segment id t in [0, k), at index ((co * taps + tap) * chunks + q) * d + j, where a
// chunk is k*d consecutive input channels and the kept channel is q*k*d + j + t*d.
// A stage holds, for a run of dj offsets, all k segments of the chunk: shared row
// t*dj + (j - j0) is channel q*k*d + j + t*d.  Every output channel then has exactly dj
// non-zeros per stage (balanced by construction) and each one reads shared row
// seg*dj + jj: no search, one-byte indices, 4 values and 4 ids per load when aligned.
#include "common.cuh"

namespace {
using namespace sb;

template <typename T>
__device__ __forceinline__ void cs_conv(const T* __restrict__ x, const T* __restrict__ vals,
                                        const unsigned char* __restrict__ seg,
                                        const float* __restrict__ bias, T* __restrict__ y,
                                        const Conv c, int k, int d) {
    __shared__ __align__(16) T xs[SP_ROWS][SP_TP];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int p0 = blockIdx.x * SP_TP;
    const int co0 = blockIdx.y * SP_TCO + warp * SP_CPW;
    const int taps = c.taps();
    const int chunks = c.Cin / (k * d);
    const int dj = min(SP_ROWS / k, d);
    StagedTile<T> tile(xs, c, p0);
    float acc[SP_CPW][4] = {};

    for (int tap = 0; tap < taps; ++tap) {
        tile.set_tap(c, tap / c.Kw, tap % c.Kw);
        for (int q = 0; q < chunks; ++q) {
            const int cbase = q * k * d;
            for (int j0 = 0; j0 < d; j0 += dj) {
                const int dje = min(dj, d - j0);
                stage_rows(tile, x, c, k * dj, [&](int r) {
                    const int t = r / dj, jj = r - t * dj;
                    return jj < dje ? cbase + j0 + jj + t * d : -1;
                });
#pragma unroll
                for (int s = 0; s < SP_CPW; ++s) {
                    const int co = co0 + s;
                    if (co < c.Cout) {
                        const long long e0 = (((long long)co * taps + tap) * chunks + q) * d + j0;
                        for_each_nz(vals, seg, e0, dje, [&](float w, int t, int jj) {
                            fma_row(acc[s], w, xs[t * dj + jj], lane);
                        });
                    }
                }
            }
        }
    }
    store_tile(y, bias, c, p0, lane, acc, [&](int s) { return co0 + s < c.Cout ? co0 + s : -1; });
}
}  // namespace

SB_BYTE_INDEX_ENTRY(sb_cs_f32, float, cs_conv, k, d)
SB_BYTE_INDEX_ENTRY(sb_cs_f16, __half, cs_conv, k, d)
