/* sparsebench C kernels: the public C API (also the cffi cdef, see kernels_c/_build.py).
 *
 * A convolution weight is packed once (Python packers, kernels_c/packers.py) into one of
 * four storage formats, described by sb_packed; sb_validate checks every index of it once
 * (at prepare time); sb_conv2d runs the forward pass on NCHW float32 activations.
 *
 * Reduction order (docs/PATTERNS.md §conventions): r = (kh * Kw + kw) * Cin + ci, i.e. (Kh, Kw, Cin).
 */
#ifndef SB_H
#define SB_H
#include <stdint.h>

/* error codes returned by every entry point; a message goes to err[errlen] */
#define SB_OK 0
#define SB_EINVAL 1   /* a bad argument (shape, pointer, stride, threads ...) */
#define SB_ECORRUPT 2 /* packed data out of range */
#define SB_ENOMEM 3
#define SB_EISA 4     /* ISA not available on this CPU */

#define SB_MAX_THREADS 1024 /* most OpenMP threads one call may ask for */
#define SB_MAX_STRIDE 64    /* stride 1..SB_MAX_STRIDE */
#define SB_MAX_PADDING 64   /* padding 0..SB_MAX_PADDING */
#define SB_MAX_BATCH 1048576 /* images per call 1..SB_MAX_BATCH (2^20) */
#define SB_MAX_SIDE 32768   /* input height and width 1..SB_MAX_SIDE (2^15) */

/* ISAs (SB_ISA_*), activation layouts (SB_LAYOUT_*) and storage formats (SB_FMT_*) are
 * enums of the one kernel table, kernel_table.h.  The formats:
 *  PANEL: BSR with blocks of bh output rows x 1 input channel x all taps: block, and
 *         dense / filter as full panels;
 *  CSR:   unstructured: ELL16 blocked CSR (pointer per row and block);
 *  NM:    n:m: ELL16 fixed count, n values per group of m rows;
 *  CS:    cs: ELL16 fixed count as 1:k n:m after the rmap channel order. */
#include "kernel_table.h"
/* ELL16 (CSR, NM, CS): the reduction is cut into blocks of kb rows; every stored value
 * carries lidx, its row inside its block (uint16, < kb); rmap[i] (NULL = identity) is the
 * reduction index r of position i of that order. */
#define SB_MAX_KB 256

/* work split over threads */
#define SB_SPLIT_EVEN 0 /* balanced pattern: equal row units per thread */
#define SB_SPLIT_NNZ 1  /* unbalanced: equal stored values per thread (row pointer prefix) */

typedef struct sb_packed {
    int32_t fmt, split;
    int32_t cout, cin, kh, kw;
    /* row units: PANEL: block-rows of bh rows; CSR/NM/CS: output rows (bh = 1) */
    int32_t units, bh;
    int32_t valid_rows;       /* packed rows that are real (dense pads to a panel multiple) */
    const int32_t *rowptr;    /* PANEL: blocks per block-row prefix; CSR: nnz prefix; units+1 */
    const int32_t *cidx;      /* PANEL: input channel of each block */
    const int32_t *bptr;      /* CSR: start of (block, row) values, block-major, blocks*cout+1 */
    const uint16_t *lidx;     /* ELL16: row of each value inside its block (block-major order) */
    const int32_t *rmap;      /* ELL16: reduction index of each position, NULL = identity */
    const float *val;
    const int32_t *rowmap;    /* output channel of packed row i (filter), NULL = identity */
    const int32_t *fillrows;  /* output channels no packed row writes (bias or 0) */
    int64_t len_rowptr, len_cidx, len_bptr, len_lidx, len_rmap, len_val, len_rowmap, len_fillrows;
    int32_t kb;               /* ELL16: reduction rows per block */
    int32_t n, m;             /* NM (CS: 1 of k) */
    int32_t k, d;             /* CS */
} sb_packed;

int sb_validate(const sb_packed *p, char *err, int errlen);

/* What one sb_conv2d call ran, for the results (sb_conv2d fills it when not NULL). */
typedef struct sb_ran {
    int32_t threads; /* the size of the OpenMP team the call actually ran on */
    int32_t layout;  /* the SB_LAYOUT_* staging that ran (AUTO resolved) */
    int32_t kernel;  /* the micro-kernel that ran: an SB_KERNEL_* row of kernel_table.h */
} sb_ran;

/* layout: an SB_LAYOUT_* code: AUTO (sb_auto_layout), DIRECT (1x1/s1/p0 only), SHIFTED
 * phase planes, COLUMNS (one plane per column shift, rows exactly the output's width),
 * IM2COL (only when forced).  ran (may be NULL): what ran.  The output epilogue is fused into the last
 * write of every output: y = act(conv + bias + residual), residual (NULL: none) shaped
 * like y and not y itself, act an SB_ACT_* code of epilogue.h (0 none, 1 relu, 2 relu6). */
int sb_conv2d(const sb_packed *p, const float *x, int32_t batch, int32_t h, int32_t w,
              int32_t stride_h, int32_t stride_w, int32_t pad_h, int32_t pad_w,
              const float *bias, const float *residual, int32_t act, float *y,
              int32_t threads, int32_t isa, int32_t layout, sb_ran *ran, char *err,
              int errlen);

/* the layout (DIRECT, COLUMNS or SHIFTED) that layout AUTO picks for this geometry, input
 * h x w, a weight storing `density` of its cout x cin x kh x kw values (sb_conv2d: len_val)
 * and a team of `threads` */
int sb_auto_layout(int32_t kh, int32_t kw, int32_t stride_h, int32_t stride_w, int32_t pad_h,
                   int32_t pad_w, int32_t h, int32_t w, double density, int32_t threads);
int sb_isa_mask(void);                         /* bit i set: ISA i runs on this CPU */
int sb_kernel_for(int fmt, int isa);           /* the SB_KERNEL_* row that runs fmt on isa, -1 if none */
const char *sb_kernel_name(int kernel);        /* its function, e.g. f32_spmm_ell16_2x8v_avx512; "" if none */
double sb_peak_gflops(int threads, int isa);   /* FMA throughput probe, <0 on bad args (threads 1..SB_MAX_THREADS) */
#endif
