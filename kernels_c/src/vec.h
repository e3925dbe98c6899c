/* Vector abstraction for the kernel templates: one block per ISA, picked by the macro the
 * including translation unit defines (SB_VEC_AVX512 / SB_VEC_AVX2 / SB_VEC_SCALAR).
 * VW = lanes, NV_WIDE = vectors per ell16 pixel tile, PANEL_NV x PANEL_RB = panel tile.
 * Tails use masked loads/stores, so a kernel never touches memory past a row's end. */
#ifndef SB_VEC_H
#define SB_VEC_H
#include <stdint.h>
#include "epilogue.h"
#include "sb.h"
#define SB_CAT2(a, b) a##b
#define SB_CAT(a, b) SB_CAT2(a, b)
#define SB_FN(name) SB_CAT(name, SB_SUFFIX)
/* a micro-kernel's name from its tile: SB_TILE_FN(f32_spmm_panel_, 6, 4) -> f32_spmm_panel_6x4v_<isa> */
#define SB_TILE_NAME2(prefix, mr, nv) prefix##mr##x##nv##v
#define SB_TILE_NAME(prefix, mr, nv) SB_TILE_NAME2(prefix, mr, nv)
#define SB_TILE_FN(prefix, mr, nv) SB_FN(SB_TILE_NAME(prefix, mr, nv))
#define SB_ALWAYS static inline __attribute__((always_inline))

#if defined(SB_VEC_AVX512)
#include <immintrin.h>
typedef __m512 vf;
typedef __mmask16 vm;
#define SB_SUFFIX _avx512
#define VW 16
#define NV_WIDE 8
#define PANEL_NV 4
#define PANEL_RB 6
#define V_SET1(x) _mm512_set1_ps(x)
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_LOADM(p, mk) _mm512_maskz_loadu_ps((mk), (p))
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_STOREM(p, mk, v) _mm512_mask_storeu_ps((p), (mk), (v))
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define V_ADD(a, b) _mm512_add_ps((a), (b))
#define V_MAX(a, b) _mm512_max_ps((a), (b))
#define V_MIN(a, b) _mm512_min_ps((a), (b))
/* lanes k .. k + VW - 1 of the 2*VW floats lo:hi (a row shifted left by k < VW lanes) */
#define SB_HAS_ALIGNR 1
#define V_ALIGNR(hi, lo, k) _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(hi), \
                                                                    _mm512_castps_si512(lo), (k)))
/* the even lanes of the 2*VW floats a:b (one phase of a stride-2 row) */
#define V_EVEN(a, b) _mm512_permutex2var_ps((a), _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, \
                                            16, 18, 20, 22, 24, 26, 28, 30), (b))
SB_ALWAYS vm v_mask(int n) { return n >= 16 ? (vm)0xFFFF : n <= 0 ? (vm)0 : (vm)((1u << n) - 1u); }
/* A tail vector of at most VW / 2 pixels as 256-bit loads and FMAs on the low half of its
 * register (the upper lanes are garbage that the tail's masked stores never write): Zen 4
 * runs every 512-bit FMA as two 256-bit halves, so a 49-pixel map's fourth vector cost as
 * much as a full one (ResNet-50's 7x7 1x1 layers ran 1.19-1.25x faster without it). */
#define SB_HALF_TAIL 1
/* A panel tile whose last vector would hold one pixel runs it with the rows along the lanes
 * (panel_spmm.h: one FMA a step for that pixel instead of one per row) */
#define SB_PX_TAIL 1
#define VT_LOAD(p) _mm512_castps256_ps512(_mm256_loadu_ps(p))
#define VT_LOADM(p, mk) _mm512_castps256_ps512(_mm256_maskz_loadu_ps((__mmask8)(mk), (p)))
#define VT_FMA(a, b, c) _mm512_castps256_ps512(_mm256_fmadd_ps(                        \
    _mm512_castps512_ps256(a), _mm512_castps512_ps256(b), _mm512_castps512_ps256(c)))
/* c + s * b, s a scalar: its 256-bit broadcast folds into the FMA (where no full vector
 * needs the 512-bit one) */
#define VT_FMA1(s, b, c) _mm512_castps256_ps512(_mm256_fmadd_ps(                       \
    _mm256_set1_ps(s), _mm512_castps512_ps256(b), _mm512_castps512_ps256(c)))

#elif defined(SB_VEC_AVX2)
#include <immintrin.h>
typedef __m256 vf;
typedef __m256i vm;
#define SB_SUFFIX _avx2
#define VW 8
#define NV_WIDE 4
#define PANEL_NV 2
#define PANEL_RB 6
#define V_SET1(x) _mm256_set1_ps(x)
#define V_ZERO() _mm256_setzero_ps()
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_LOADM(p, mk) _mm256_maskload_ps((p), (mk))
#define V_STORE(p, v) _mm256_storeu_ps((p), (v))
#define V_STOREM(p, mk, v) _mm256_maskstore_ps((p), (mk), (v))
#define V_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define V_ADD(a, b) _mm256_add_ps((a), (b))
#define V_MAX(a, b) _mm256_max_ps((a), (b))
#define V_MIN(a, b) _mm256_min_ps((a), (b))
#define V_EVEN(a, b) _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd( \
    _mm256_shuffle_ps((a), (b), _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0)))
SB_ALWAYS vm v_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#define SB_HALF_TAIL 0 /* a 256-bit FMA is the whole vector */
#define SB_PX_TAIL 0
#define SB_HAS_ALIGNR 0 /* no cross-lane shift: taps load unaligned */
#define VT_LOAD V_LOAD
#define VT_LOADM V_LOADM
#define VT_FMA V_FMA
#define VT_FMA1(s, b, c) V_FMA(V_SET1(s), (b), (c))

#elif defined(SB_VEC_SCALAR)
typedef float vf;
typedef int vm;
#define SB_SUFFIX _scalar
#define VW 1
#define NV_WIDE 4
#define PANEL_NV 4
#define PANEL_RB 6
#define V_SET1(x) ((float)(x))
#define V_ZERO() 0.0f
#define V_LOAD(p) (*(p))
#define V_LOADM(p, mk) ((mk) ? *(p) : 0.0f)
#define V_STORE(p, v) (*(p) = (v))
#define V_STOREM(p, mk, v) do { if (mk) *(p) = (v); } while (0)
#define V_FMA(a, b, c) ((a) * (b) + (c))
#define V_ADD(a, b) ((a) + (b))
#define V_MAX(a, b) ((a) > (b) ? (a) : (b))
#define V_MIN(a, b) ((a) < (b) ? (a) : (b))
#define V_EVEN(a, b) ((void)(b), (a))
SB_ALWAYS vm v_mask(int n) { return n > 0; }
#define SB_HALF_TAIL 0
#define SB_PX_TAIL 0
#define SB_HAS_ALIGNR 0 /* no cross-lane shift: taps load unaligned */
#define VT_LOAD V_LOAD
#define VT_LOADM V_LOADM
#define VT_FMA V_FMA
#define VT_FMA1(s, b, c) V_FMA(V_SET1(s), (b), (c))
#else
#error "define SB_VEC_AVX512, SB_VEC_AVX2 or SB_VEC_SCALAR before including vec.h"
#endif

/* The fused output epilogue of a final store: act(a + r) with r the residual vector at the
 * same place as the output (NULL: none), masked like the store; act is an SB_ACT_* code. */
SB_ALWAYS vf v_epilogue(vf a, const float *r, int full, vm mk, int32_t act)
{
    if (r) a = V_ADD(a, full ? V_LOAD(r) : V_LOADM(r, mk));
    if (act != SB_ACT_NONE) a = V_MAX(a, V_ZERO());
    if (act == SB_ACT_RELU6) a = V_MIN(a, V_SET1(6.0f));
    return a;
}

#define NT_WIDE (NV_WIDE * VW)   /* pixels per tile of the ell16 kernel */
#define PANEL_NT (PANEL_NV * VW) /* pixels per tile, panel kernels */
#endif
