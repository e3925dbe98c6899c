/* The one table of what the C convolution can run: ISAs, activation layouts, storage
 * formats, micro-kernel families and the micro-kernels themselves (X-macros).
 *
 * Read three ways, so every name and code exists once:
 *  - C: the enums below (SB_ISA_*, SB_LAYOUT_*, SB_FMT_*, SB_FAMILY_*, SB_KERNEL_*), the
 *    micro-kernel declarations (kernels.h) and the dispatch and name tables (conv.c);
 *  - Python: kernels_c/_build.py parses the X(...) rows (kernel_table) and writes the cffi
 *    constants and the micro-kernel declarations into the cdef, so every name here is an
 *    attribute of the compiled cffi lib; kernels_c/api.py takes ISAS and LAYOUTS from it.
 *
 * Micro-kernel names follow XNNPACK: <datatype>_<operation>_<weight layout>_<MR>x<NR>v_<isa>,
 * MR output rows x NR vectors of pixels in registers (a scalar "vector" is one pixel).
 * The template that defines each one (panel_spmm.h, ell16_spmm.h) builds its name from the
 * same tile macros (vec.h), so a row here that disagrees with the code fails at load time
 * as an undefined symbol rather than as a wrong name in the results.
 * Keep one row per line inside each table: _build.py reads them with a regex. */
#ifndef SB_KERNEL_TABLE_H
#define SB_KERNEL_TABLE_H

/* X(NAME, code): instruction sets, index into the dispatch tables */
#define SB_ISA_TABLE(X) \
    X(SCALAR, 0)        \
    X(AVX2, 1)          \
    X(AVX512, 2)

/* X(NAME, code): how the activations B are staged for the SpMM (conv.c).  AUTO resolves to
 * DIRECT, COLUMNS or SHIFTED (sb_auto_layout); IM2COL runs only when forced. */
#define SB_LAYOUT_TABLE(X) \
    X(AUTO, 0)             \
    X(DIRECT, 1)           \
    X(SHIFTED, 2)          \
    X(IM2COL, 3)           \
    X(COLUMNS, 4)

/* X(NAME, code, FAMILY): packed weight formats (sb.h describes each) and the micro-kernel
 * family that runs it */
#define SB_FORMAT_TABLE(X) \
    X(PANEL, 0, PANEL)     \
    X(CSR, 1, ELL16)       \
    X(NM, 2, ELL16)        \
    X(CS, 3, ELL16)

/* X(NAME, code): micro-kernel families (one template header each) */
#define SB_FAMILY_TABLE(X) \
    X(PANEL, 0)            \
    X(ELL16, 1)

/* X(function, FAMILY, ISA): every micro-kernel; exactly one per (family, ISA) */
#define SB_MICROKERNEL_TABLE(X)                  \
    X(f32_spmm_panel_6x4v_scalar, PANEL, SCALAR) \
    X(f32_spmm_panel_6x2v_avx2, PANEL, AVX2)     \
    X(f32_spmm_panel_6x4v_avx512, PANEL, AVX512) \
    X(f32_spmm_ell16_2x4v_scalar, ELL16, SCALAR) \
    X(f32_spmm_ell16_2x4v_avx2, ELL16, AVX2)     \
    X(f32_spmm_ell16_2x8v_avx512, ELL16, AVX512)

/* X(function, ISA): the depthwise plane kernel of each ISA (dwconv2d_chw.h, depthwise.c) */
#define SB_DWCONV_TABLE(X)               \
    X(f32_dwconv2d_chw_scalar, SCALAR) \
    X(f32_dwconv2d_chw_avx2, AVX2)     \
    X(f32_dwconv2d_chw_avx512, AVX512)

#define SB_TABLE_ISA_ENUM(NAME, code) SB_ISA_##NAME = code,
#define SB_TABLE_LAYOUT_ENUM(NAME, code) SB_LAYOUT_##NAME = code,
#define SB_TABLE_FORMAT_ENUM(NAME, code, family) SB_FMT_##NAME = code,
#define SB_TABLE_FAMILY_ENUM(NAME, code) SB_FAMILY_##NAME = code,
#define SB_TABLE_KERNEL_ENUM(fn, family, isa) SB_KERNEL_##fn,
#define SB_TABLE_COUNT(...) +1
enum { SB_ISA_TABLE(SB_TABLE_ISA_ENUM) SB_ISAS = 0 SB_ISA_TABLE(SB_TABLE_COUNT) };
enum { SB_LAYOUT_TABLE(SB_TABLE_LAYOUT_ENUM) SB_LAYOUTS = 0 SB_LAYOUT_TABLE(SB_TABLE_COUNT) };
enum { SB_FORMAT_TABLE(SB_TABLE_FORMAT_ENUM) SB_FORMATS = 0 SB_FORMAT_TABLE(SB_TABLE_COUNT) };
enum { SB_FAMILY_TABLE(SB_TABLE_FAMILY_ENUM) SB_FAMILIES = 0 SB_FAMILY_TABLE(SB_TABLE_COUNT) };
enum { SB_MICROKERNEL_TABLE(SB_TABLE_KERNEL_ENUM) SB_KERNELS };
#endif
