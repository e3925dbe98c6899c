/* FMA throughput probe: the fp32 peak the benchmark compares kernels against.  Each thread
 * runs 12 independent FMA chains (2 FMA pipes x 4-cycle latency need >= 8) on the widest
 * vector the chosen ISA has; GFLOP/s = 2 * lanes * chains * iterations / wall time. */
#include <immintrin.h>
#include <omp.h>
#include "sb.h"

#define CHAINS 12
#define PROBE_BODY(VT, SET1, FMA, LANES, REDUCE)                                   \
    VT a[CHAINS];                                                                  \
    const VT m = SET1(0.999999f), c = SET1(1e-7f);                                 \
    for (int i = 0; i < CHAINS; ++i) a[i] = SET1(1.0f + 0.01f * i);                \
    for (long it = 0; it < iters; ++it) {                                          \
        _Pragma("GCC unroll 12") for (int i = 0; i < CHAINS; ++i) a[i] = FMA(a[i], m, c); \
    }                                                                              \
    float s = 0.0f;                                                                \
    for (int i = 0; i < CHAINS; ++i) s += REDUCE(a[i]);                            \
    return s;

#define ID(x) (x)
#define SFMA(a, b, c) ((a) * (b) + (c))

__attribute__((target("avx512f"))) static float probe_avx512(long iters)
{ PROBE_BODY(__m512, _mm512_set1_ps, _mm512_fmadd_ps, 16, _mm512_reduce_add_ps) }

__attribute__((target("avx2,fma"))) static float hsum256(__m256 v)
{
    float t[8];
    _mm256_storeu_ps(t, v);
    return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
__attribute__((target("avx2,fma"))) static float probe_avx2(long iters)
{ PROBE_BODY(__m256, _mm256_set1_ps, _mm256_fmadd_ps, 8, hsum256) }

static float probe_scalar(long iters) { PROBE_BODY(float, ID, SFMA, 1, ID) }

static float run_probe(int isa, long iters)
{
    return isa == SB_ISA_AVX512 ? probe_avx512(iters) : isa == SB_ISA_AVX2 ? probe_avx2(iters) : probe_scalar(iters);
}

volatile float sb_probe_sink;

double sb_peak_gflops(int threads, int isa)
{
    if (threads < 1 || threads > SB_MAX_THREADS || isa < 0 || isa >= SB_ISAS || !((sb_isa_mask() >> isa) & 1))
        return -1.0;
    const int lanes = isa == SB_ISA_AVX512 ? 16 : isa == SB_ISA_AVX2 ? 8 : 1;
    const long iters = 20000000L / lanes * 4;
    double best = 0.0;
    for (int rep = 0; rep < 7; ++rep) { /* best of 7: the CPU may be shared */
        double t0 = 0.0, t1 = 0.0;
#pragma omp parallel num_threads(threads)
        {
            sb_probe_sink = run_probe(isa, iters / 20); /* warm up clocks */
#pragma omp barrier
#pragma omp master
            t0 = omp_get_wtime();
            sb_probe_sink = run_probe(isa, iters);
#pragma omp barrier
#pragma omp master
            t1 = omp_get_wtime();
        }
        const double g = 2.0 * lanes * CHAINS * (double)iters * threads / (t1 - t0) / 1e9;
        if (g > best) best = g;
    }
    return best;
}
