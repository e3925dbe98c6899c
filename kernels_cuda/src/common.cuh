// Shared device helpers for the sparsebench convolution kernels (included by every .cu).
//
// Layouts: input x is NCHW, output y is NCHW, both dense and contiguous.  A convolution is
// an implicit GEMM over "pixels" p = (n, oh, ow), flattened in that order, so that the
// pixels of one output row are contiguous in both x (stride 1) and y.  The reduction runs
// over taps (kh, kw) then input channels ci, the order of docs/PATTERNS.md §conventions.
//
// Element type T is float (fp32) or __half (fp16 inputs and weights); accumulation is
// always fp32, and y has the element type of x.
#pragma once
#include <cuda_fp16.h>

namespace sb {

// ----- element access (T -> float, float -> T) ------------------------------------------
__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__half v) { return __half2float(v); }
__device__ __forceinline__ void store(float* p, float v) { *p = v; }
__device__ __forceinline__ void store(__half* p, float v) { *p = __float2half_rn(v); }

// Four consecutive elements (aligned to 4 of them) into fp32 registers: one 16-byte (fp32)
// or 8-byte (fp16) vector load.
__device__ __forceinline__ void load4(const float* __restrict__ src, float* dst) {
    const float4 v = *reinterpret_cast<const float4*>(src);
    dst[0] = v.x; dst[1] = v.y; dst[2] = v.z; dst[3] = v.w;
}
__device__ __forceinline__ void load4(const __half* __restrict__ src, float* dst) {
    const uint2 raw = *reinterpret_cast<const uint2*>(src);
    const float2 lo = __half22float2(*reinterpret_cast<const __half2*>(&raw.x));
    const float2 hi = __half22float2(*reinterpret_cast<const __half2*>(&raw.y));
    dst[0] = lo.x; dst[1] = lo.y; dst[2] = hi.x; dst[3] = hi.y;
}

// Loads NB consecutive elements into fp32 registers.  The address must be aligned to
// NB elements when NB is a multiple of 4 (the packers guarantee it): then it is one or
// more vector loads (load4).
template <int NB, typename T>
__device__ __forceinline__ void load_vec(const T* __restrict__ src, float (&dst)[NB]) {
    if constexpr (NB % 4 == 0) {
#pragma unroll
        for (int i = 0; i < NB; i += 4) load4(src + i, dst + i);
    } else {
#pragma unroll
        for (int i = 0; i < NB; ++i) dst[i] = to_f(src[i]);
    }
}

// ----- convolution geometry ---------------------------------------------------------------
struct Conv {
    int N, Cin, H, W, Cout, Kh, Kw, sh, sw, ph, pw, Ho, Wo;
    __device__ __forceinline__ int pixels() const { return N * Ho * Wo; }
    __device__ __forceinline__ int taps() const { return Kh * Kw; }
    __device__ __forceinline__ long long in_plane() const { return (long long)H * W; }
    __device__ __forceinline__ int out_plane() const { return Ho * Wo; }
};

// Where one output pixel reads its input: the sample's base offset and the top-left
// input coordinate of its receptive field.  `live` is false past the last pixel.
struct PixelSrc {
    long long base;  // n * Cin * H * W
    int ih0, iw0;    // oh * sh - ph, ow * sw - pw
    bool live;

    __device__ __forceinline__ PixelSrc(const Conv& c, int p) {
        live = p < c.pixels();
        const int q = live ? p : 0;
        const int plane = c.out_plane();
        const int n = q / plane;
        const int hw = q - n * plane;
        const int oh = hw / c.Wo;
        const int ow = hw - oh * c.Wo;
        base = (long long)n * c.Cin * c.in_plane();
        ih0 = oh * c.sh - c.ph;
        iw0 = ow * c.sw - c.pw;
    }

    // Offset of channel 0 of tap (kh, kw) for this pixel, or -1 where it reads padding.
    __device__ __forceinline__ long long tap_offset(const Conv& c, int kh, int kw) const {
        const int ih = ih0 + kh, iw = iw0 + kw;
        const bool inside = live && ih >= 0 && ih < c.H && iw >= 0 && iw < c.W;
        return inside ? base + (long long)ih * c.W + iw : -1;
    }
};

// Offset of output pixel p, channel co in y.
__device__ __forceinline__ long long out_offset(const Conv& c, int p, int co) {
    const int plane = c.out_plane();
    const int n = p / plane;
    return ((long long)n * c.Cout + co) * plane + (p - n * plane);
}

// ----- the staged SpMM framework shared by the CSR, N:M and CS kernels -------------------
//
// A thread block computes SP_TCO output channels x SP_TP pixels.  For each tap and each
// chunk of at most SP_ROWS input channels, all threads stage the input rows of the
// chunk for the block's pixels into shared memory (zero where the tap reads padding),
// then every warp runs its SP_CPW output channels over the chunk's non-zeros: one
// shared load of 4 pixels (16 bytes fp32, 8 bytes fp16) and 4 FMAs per non-zero.  Lane l
// owns pixels 4l .. 4l+3 of the tile.  fp16 kernels stage fp16, halving the shared-memory
// bytes per FMA (the bound of this design: every FMA reads its own input element).
// Which channel a staged row holds, and which rows a channel's non-zeros read, is the
// pattern's business (see each .cu file).
constexpr int SP_TP = 128;
constexpr int SP_THREADS = 256;
constexpr int SP_WARPS = SP_THREADS / 32;
constexpr int SP_ROWS = 32;
constexpr int SP_CPW = 8;
constexpr int SP_TCO = SP_WARPS * SP_CPW;
constexpr int SP_ROW_STEP = SP_THREADS / SP_TP;

template <typename T>
struct StagedTile {
    T (*xs)[SP_TP];
    PixelSrc src;       // the pixel this thread stages
    int stage_col;      // its column in xs
    int stage_row0;     // its first row in xs
    long long tap_off;  // src.tap_offset for the current tap

    __device__ __forceinline__ StagedTile(T (*tile)[SP_TP], const Conv& c, int p0)
        : xs(tile),
          src(c, p0 + (int)threadIdx.x % SP_TP),
          stage_col((int)threadIdx.x % SP_TP),
          stage_row0((int)threadIdx.x / SP_TP),
          tap_off(-1) {}

    __device__ __forceinline__ void set_tap(const Conv& c, int kh, int kw) {
        tap_off = src.tap_offset(c, kh, kw);
    }
};

template <typename T> __device__ __forceinline__ T zero();
template <> __device__ __forceinline__ float zero<float>() { return 0.0f; }
template <> __device__ __forceinline__ __half zero<__half>() { return __ushort_as_half(0); }

// Stages rows [0, rows) of the chunk; channel_of(r) gives the input channel of row r or
// -1 for a row that must be zero.  Brackets itself with barriers.
template <typename T, typename ChannelOf>
__device__ __forceinline__ void stage_rows(StagedTile<T>& t, const T* __restrict__ x,
                                           const Conv& c, int rows, ChannelOf channel_of) {
    __syncthreads();
    const long long plane = c.in_plane();
    for (int r = t.stage_row0; r < rows; r += SP_ROW_STEP) {
        const int ch = channel_of(r);
        t.xs[r][t.stage_col] =
            t.tap_off >= 0 && ch >= 0 ? x[t.tap_off + (long long)ch * plane] : zero<T>();
    }
    __syncthreads();
}

// The 4 pixels of `lane` in a staged row, as fp32.
__device__ __forceinline__ float4 row_pixels(const float* row, int lane) {
    return *reinterpret_cast<const float4*>(row + 4 * lane);
}
__device__ __forceinline__ float4 row_pixels(const __half* row, int lane) {
    const uint2 raw = *reinterpret_cast<const uint2*>(row + 4 * lane);
    const float2 lo = __half22float2(*reinterpret_cast<const __half2*>(&raw.x));
    const float2 hi = __half22float2(*reinterpret_cast<const __half2*>(&raw.y));
    return make_float4(lo.x, lo.y, hi.x, hi.y);
}

template <typename T>
__device__ __forceinline__ void fma_row(float (&acc)[4], float w, const T* row, int lane) {
    const float4 v = row_pixels(row, lane);
    acc[0] = fmaf(w, v.x, acc[0]);
    acc[1] = fmaf(w, v.y, acc[1]);
    acc[2] = fmaf(w, v.z, acc[2]);
    acc[3] = fmaf(w, v.w, acc[3]);
}

// Calls f(w, index, i) for the non-zeros e0 .. e0+count-1 of a values array and its
// one-byte index array, in order.  When e0 and count are multiples of 4 (the usual case)
// it reads 4 values and 4 indices per load: both arrays are fresh allocations, so the
// addresses are then 16-byte (fp32) / 8-byte (fp16) / 4-byte (indices) aligned.
template <typename T, typename F>
__device__ __forceinline__ void for_each_nz(const T* __restrict__ vals,
                                            const unsigned char* __restrict__ idx,
                                            long long e0, int count, F f) {
    if (((e0 | (long long)count) & 3) == 0) {
#pragma unroll 1
        for (int i = 0; i < count; i += 4) {
            float w[4];
            load_vec<4>(vals + e0 + i, w);
            const unsigned int b = *reinterpret_cast<const unsigned int*>(idx + e0 + i);
            f(w[0], (int)(b & 0xffu), i);
            f(w[1], (int)((b >> 8) & 0xffu), i + 1);
            f(w[2], (int)((b >> 16) & 0xffu), i + 2);
            f(w[3], (int)(b >> 24), i + 3);
        }
    } else {
        for (int i = 0; i < count; ++i) f(to_f(vals[e0 + i]), (int)idx[e0 + i], i);
    }
}

// Writes a warp's accumulators: channel slot j goes to output channel co_of(j) (or
// nowhere if negative), with bias[co] added when bias is not null.
template <typename T, typename CoOf>
__device__ __forceinline__ void store_tile(T* __restrict__ y, const float* __restrict__ bias,
                                           const Conv& c, int p0, int lane,
                                           const float (&acc)[SP_CPW][4], CoOf co_of) {
#pragma unroll
    for (int j = 0; j < SP_CPW; ++j) {
        const int co = co_of(j);
        if (co < 0) continue;
        const float b = bias ? bias[co] : 0.0f;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int p = p0 + 4 * lane + i;
            if (p < c.pixels()) store(y + out_offset(c, p, co), acc[j][i] + b);
        }
    }
}

}  // namespace sb

// The explicit argument list every entry point starts its geometry with.
#define SB_CONV_PARAMS                                                                   \
    int N, int Cin, int H, int W, int Cout, int Kh, int Kw, int sh, int sw, int ph, int pw, \
        int Ho, int Wo
#define SB_CONV_MAKE sb::Conv{N, Cin, H, W, Cout, Kh, Kw, sh, sw, ph, pw, Ho, Wo}

// The entry point of a balanced byte-index family (nm, cs): values, one-byte indices and two
// int parameters (n, m or k, d) after the geometry; BODY<T> is the family's device function.
#define SB_BYTE_INDEX_ENTRY(NAME, T, BODY, P, Q)                                           \
    extern "C" __global__ void __launch_bounds__(sb::SP_THREADS, 2)                          \
        NAME(const T* __restrict__ x, const T* __restrict__ vals,                         \
             const unsigned char* __restrict__ ids, const float* __restrict__ bias,       \
             T* __restrict__ y, SB_CONV_PARAMS, int P, int Q) {                           \
        BODY<T>(x, vals, ids, bias, y, SB_CONV_MAKE, P, Q);                               \
    }
