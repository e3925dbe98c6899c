// Unstructured (CSR) convolution as an SpMM over pixels, fp32 and fp16.
//
// Packed weight: CSR of the weight viewed as (rows * taps) x Cin, row (r, tap) at
// r * taps + tap, column = input channel (int32, ascending), values in the weight's dtype.
// Packed row r is output channel perm[r]; the packer sorts rows by non-zero count so the
// 64 channels of a thread block carry similar work (the pattern itself is unbalanced).
// Each stage holds 32 consecutive input channels; a warp walks each of its channels'
// column lists up to the end of the stage.
#include "common.cuh"

namespace {
using namespace sb;

template <typename T>
__device__ __forceinline__ void csr_conv(const T* __restrict__ x, const int* __restrict__ rowptr,
                                         const int* __restrict__ col, const T* __restrict__ vals,
                                         const int* __restrict__ perm,
                                         const float* __restrict__ bias, T* __restrict__ y,
                                         const Conv c, int rows) {
    __shared__ __align__(16) T xs[SP_ROWS][SP_TP];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int p0 = blockIdx.x * SP_TP;
    const int r0 = blockIdx.y * SP_TCO + warp * SP_CPW;
    const int taps = c.taps();
    StagedTile<T> tile(xs, c, p0);
    float acc[SP_CPW][4] = {};

    for (int tap = 0; tap < taps; ++tap) {
        tile.set_tap(c, tap / c.Kw, tap % c.Kw);
        int ptr[SP_CPW], end[SP_CPW];
#pragma unroll
        for (int s = 0; s < SP_CPW; ++s) {
            const bool live = r0 + s < rows;
            ptr[s] = live ? rowptr[(r0 + s) * taps + tap] : 0;
            end[s] = live ? rowptr[(r0 + s) * taps + tap + 1] : 0;
        }
        for (int c0 = 0; c0 < c.Cin; c0 += SP_ROWS) {
            const int c1 = min(c0 + SP_ROWS, c.Cin);
            stage_rows(tile, x, c, c1 - c0, [&](int r) { return c0 + r; });
#pragma unroll
            for (int s = 0; s < SP_CPW; ++s) {
                int e = ptr[s];
                for (; e < end[s]; ++e) {
                    const int ci = col[e];
                    if (ci >= c1) break;
                    fma_row(acc[s], to_f(vals[e]), xs[ci - c0], lane);
                }
                ptr[s] = e;
            }
        }
    }
    store_tile(y, bias, c, p0, lane, acc, [&](int s) { return r0 + s < rows ? perm[r0 + s] : -1; });
}
}  // namespace

#define SB_CSR_ENTRY(NAME, T)                                                                 \
    extern "C" __global__ void __launch_bounds__(sb::SP_THREADS, 2)                              \
        NAME(const T* __restrict__ x, const int* __restrict__ rowptr,                         \
             const int* __restrict__ col, const T* __restrict__ vals,                         \
             const int* __restrict__ perm, const float* __restrict__ bias,                    \
             T* __restrict__ y, SB_CONV_PARAMS, int rows) {                                   \
        csr_conv<T>(x, rowptr, col, vals, perm, bias, y, SB_CONV_MAKE, rows);                 \
    }

SB_CSR_ENTRY(sb_csr_f32, float)
SB_CSR_ENTRY(sb_csr_f16, __half)
