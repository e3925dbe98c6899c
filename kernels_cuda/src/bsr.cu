// 1xN block (BSR) convolution, fp32 and fp16, register-blocked over the block's n rows.
//
// Packed weight (docs/PATTERNS.md §block): block-row r covers output channels r*n .. r*n+n-1;
// its kept input channels are col[rowptr[r] .. rowptr[r+1]) (ascending), and its values
// are BSR n x 1 blocks of the (Cout) x (taps*Cin) reduction-ordered matrix:
// vals[(rowptr[r] * taps + tap * count_r + b) * n + o] for block b, tap, row o.
// The n channels of a block share every input, so one load feeds n FMAs: each warp owns
// one block-row and 32*PPT pixels (lane-strided, so loads and stores coalesce) and reads
// the input straight from global memory (L1/L2 serve the reuse across warps); no barriers.
// perm lists block-rows by decreasing block count so neighbouring warps carry equal work
// even for the unbalanced "global" variant.  chan (NULL: identity) is the output channel of
// each packed row, chan[r*n + o]: with "rearrange" the block-rows hold permuted channels and
// the store writes each row straight to its own channel (no extra pass).
#include "common.cuh"

namespace {
using namespace sb;

constexpr int BS_WARPS = 4;

template <typename T, int NB, int PPT>
__device__ __forceinline__ void bsr_conv(const T* __restrict__ x, const int* __restrict__ rowptr,
                                         const int* __restrict__ col, const T* __restrict__ vals,
                                         const int* __restrict__ perm,
                                         const int* __restrict__ chan,
                                         const float* __restrict__ bias, T* __restrict__ y,
                                         const Conv c, int nrows) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int slot = blockIdx.y * BS_WARPS + warp;
    if (slot >= nrows) return;
    const int r = perm[slot];
    const int b0 = rowptr[r], count = rowptr[r + 1] - b0;
    const int p0 = blockIdx.x * (32 * PPT);
    const int taps = c.taps();
    const long long plane = c.in_plane();
    const T* wrow = vals + (long long)b0 * taps * NB;

    float acc[NB][PPT] = {};
    for (int tap = 0; tap < taps; ++tap) {
        const int kh = tap / c.Kw, kw = tap - kh * c.Kw;
        long long off[PPT];
#pragma unroll
        for (int i = 0; i < PPT; ++i) off[i] = PixelSrc(c, p0 + lane + 32 * i).tap_offset(c, kh, kw);
        const T* wtap = wrow + (long long)tap * count * NB;
        for (int b = 0; b < count; ++b) {
            const long long xo = (long long)col[b0 + b] * plane;
            float xv[PPT];
#pragma unroll
            for (int i = 0; i < PPT; ++i) xv[i] = off[i] >= 0 ? to_f(x[off[i] + xo]) : 0.0f;
            float w[NB];
            load_vec<NB>(wtap + b * NB, w);
#pragma unroll
            for (int o = 0; o < NB; ++o) {
#pragma unroll
                for (int i = 0; i < PPT; ++i) acc[o][i] = fmaf(w[o], xv[i], acc[o][i]);
            }
        }
    }
#pragma unroll
    for (int o = 0; o < NB; ++o) {
        const int co = chan ? chan[r * NB + o] : r * NB + o;
        const float bo = bias ? bias[co] : 0.0f;
#pragma unroll
        for (int i = 0; i < PPT; ++i) {
            const int p = p0 + lane + 32 * i;
            if (p < c.pixels()) store(y + out_offset(c, p, co), acc[o][i] + bo);
        }
    }
}
}  // namespace

// One entry point per (n, pixels per lane, dtype): sb_bsr_n<NB>_p<PPT>_<dtype>.
#define SB_BSR_ENTRY(NB, PPT, SUFFIX, T)                                                      \
    extern "C" __global__ void __launch_bounds__(32 * BS_WARPS, 4)                               \
        sb_bsr_n##NB##_p##PPT##_##SUFFIX(                                                     \
            const T* __restrict__ x, const int* __restrict__ rowptr,                          \
            const int* __restrict__ col, const T* __restrict__ vals,                          \
            const int* __restrict__ perm, const int* __restrict__ chan,                       \
            const float* __restrict__ bias, T* __restrict__ y, SB_CONV_PARAMS, int nrows) {   \
        bsr_conv<T, NB, PPT>(x, rowptr, col, vals, perm, chan, bias, y, SB_CONV_MAKE, nrows); \
    }
#define SB_BSR_BOTH(NB, PPT)        \
    SB_BSR_ENTRY(NB, PPT, f32, float) \
    SB_BSR_ENTRY(NB, PPT, f16, __half)

SB_BSR_BOTH(1, 4)
SB_BSR_BOTH(2, 4)
SB_BSR_BOTH(4, 4)
SB_BSR_BOTH(8, 4)
SB_BSR_BOTH(16, 4)
SB_BSR_BOTH(32, 2)
