/* Argument and packed-data validation: every check that keeps a kernel inside its buffers.
 * sb_check_header is O(1) (run on every call); sb_validate also walks every index (run
 * once at prepare time, and again whenever the caller asks). */
#include <stdarg.h>
#include <stdio.h>
#include "validate.h"

int sb_fail(char *err, int errlen, int code, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, (size_t)errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

#define FAIL(code, ...) return sb_fail(err, errlen, code, __VA_ARGS__)
#define ALIGNED(ptr, n) ((((uintptr_t)(ptr)) % (n)) == 0)

static int64_t red_len(const sb_packed *p) { return (int64_t)p->cin * p->kh * p->kw; }

int sb_check_header(const sb_packed *p, char *err, int errlen)
{
    if (!p) FAIL(SB_EINVAL, "packed weight is NULL");
    if (p->fmt < 0 || p->fmt >= SB_FORMATS) FAIL(SB_ECORRUPT, "unknown packed format %d", p->fmt);
    if (p->cout < 1 || p->cin < 1 || p->cout > (1 << 20) || p->cin > (1 << 20))
        FAIL(SB_ECORRUPT, "channels out of range: cout=%d cin=%d (1..2^20)", p->cout, p->cin);
    if (p->kh < 1 || p->kw < 1 || p->kh > SB_MAX_KERNEL || p->kw > SB_MAX_KERNEL)
        FAIL(SB_EINVAL, "kernel %dx%d out of range: 1..%d", p->kh, p->kw, SB_MAX_KERNEL);
    if (red_len(p) > (1 << 24)) FAIL(SB_EINVAL, "reduction Cin*Kh*Kw too large (> 2^24)");
    if (p->split != SB_SPLIT_EVEN && p->split != SB_SPLIT_NNZ) FAIL(SB_ECORRUPT, "bad split %d", p->split);
    if (p->bh < 1 || p->units < 0 || (int64_t)p->units * p->bh < p->valid_rows || p->valid_rows < 0)
        FAIL(SB_ECORRUPT, "bad row units: units=%d bh=%d valid_rows=%d", p->units, p->bh, p->valid_rows);
    if (p->len_val < 0 || (p->len_val && (!p->val || !ALIGNED(p->val, 4))))
        FAIL(SB_ECORRUPT, "values NULL or misaligned");
    if (p->len_fillrows < 0 || (p->len_fillrows && (!p->fillrows || !ALIGNED(p->fillrows, 4))))
        FAIL(SB_ECORRUPT, "fill rows NULL or misaligned");
    if (p->fmt == SB_FMT_PANEL || p->fmt == SB_FMT_CSR) {
        if (!p->rowptr || !ALIGNED(p->rowptr, 4))
            FAIL(SB_ECORRUPT, "row pointers NULL or misaligned");
        if (p->len_rowptr != (int64_t)p->units + 1) FAIL(SB_ECORRUPT, "row pointer length %lld != units+1", (long long)p->len_rowptr);
    }
    if (p->fmt == SB_FMT_PANEL) {
        if (p->len_cidx < 0 || (p->len_cidx && (!p->cidx || !ALIGNED(p->cidx, 4))))
            FAIL(SB_ECORRUPT, "block indices NULL or misaligned");
        if (p->rowmap) {
            if (!ALIGNED(p->rowmap, 4) || p->len_rowmap < p->valid_rows)
                FAIL(SB_ECORRUPT, "row map misaligned or shorter than the valid rows");
        } else if (p->valid_rows > p->cout) {
            FAIL(SB_ECORRUPT, "valid rows %d > cout %d without a row map", p->valid_rows, p->cout);
        }
        return SB_OK;
    }
    /* ELL16: CSR, NM, CS */
    if (p->units != p->cout || p->bh != 1 || p->valid_rows != p->cout || p->rowmap)
        FAIL(SB_ECORRUPT, "unstructured / n:m / cs need one unit per output channel and no row map");
    if (p->kb < 1 || p->kb > SB_MAX_KB) FAIL(SB_ECORRUPT, "block rows kb=%d out of range 1..%d", p->kb, SB_MAX_KB);
    if (p->len_lidx < 0 || p->len_val < p->len_lidx || (p->len_lidx && (!p->lidx || !ALIGNED(p->lidx, 2))))
        FAIL(SB_ECORRUPT, "block rows NULL, misaligned or longer than the values");
    if (p->rmap && (!ALIGNED(p->rmap, 4) || p->len_rmap != red_len(p)))
        FAIL(SB_ECORRUPT, "channel order misaligned or of length %lld != Cin*Kh*Kw", (long long)p->len_rmap);
    if (p->fmt == SB_FMT_CSR) {
        const int64_t nblk = (red_len(p) + p->kb - 1) / p->kb;
        if (!p->bptr || !ALIGNED(p->bptr, 4) || p->len_bptr != (int64_t)p->cout * nblk + 1)
            FAIL(SB_ECORRUPT, "block pointers NULL, misaligned or not cout*blocks+1 long");
        return SB_OK;
    }
    if (p->fmt == SB_FMT_NM && (p->n < 1 || p->m <= p->n || p->m > 256 || p->cin % p->m))
        FAIL(SB_ECORRUPT, "bad n:m %d:%d for cin %d", p->n, p->m, p->cin);
    if (p->fmt == SB_FMT_CS && (p->k < 2 || p->k > 256 || p->d < 1 || p->cin % ((int64_t)p->k * p->d) ||
                                p->n != 1 || p->m != p->k))
        FAIL(SB_ECORRUPT, "bad cs k=%d d=%d (as %d:%d) for cin %d", p->k, p->d, p->n, p->m, p->cin);
    if (p->kb % p->m) FAIL(SB_ECORRUPT, "block rows kb=%d not a multiple of the group size %d", p->kb, p->m);
    if (p->len_lidx < red_len(p) / p->m * p->n * p->cout)
        FAIL(SB_ECORRUPT, "values shorter than cout*Kh*Kw*Cin*n/m");
    return SB_OK;
}

/* Every ELL16 row index below its block's row count, pointers monotone and in range. */
static int validate_ell16(const sb_packed *p, int64_t red, char *err, int errlen)
{
    const int kb = p->kb;
    const int64_t nblk = (red + kb - 1) / kb;
    if (p->rmap)
        for (int64_t i = 0; i < red; ++i)
            if (p->rmap[i] < 0 || p->rmap[i] >= red)
                FAIL(SB_ECORRUPT, "channel order entry %d at %lld out of range [0, %lld)", p->rmap[i], (long long)i, (long long)red);
    if (p->fmt == SB_FMT_CSR) {
        if (p->bptr[0] != 0) FAIL(SB_ECORRUPT, "block pointer[0] = %d, expected 0", p->bptr[0]);
        if (p->bptr[p->len_bptr - 1] > p->len_lidx)
            FAIL(SB_ECORRUPT, "block pointers reach %d values, arrays hold %lld", p->bptr[p->len_bptr - 1], (long long)p->len_lidx);
        /* block-major: entry blk * cout + co starts (row co, block blk) */
        for (int64_t i = 0; i < (int64_t)p->cout * nblk; ++i) {
            if (p->bptr[i + 1] < p->bptr[i]) FAIL(SB_ECORRUPT, "block pointers not monotone at %lld", (long long)i);
            const int64_t r0 = i / p->cout * kb;
            const int rows = (int)(red - r0 < kb ? red - r0 : kb);
            for (int64_t j = p->bptr[i]; j < p->bptr[i + 1]; ++j)
                if (p->lidx[j] >= rows)
                    FAIL(SB_ECORRUPT, "row index %d at %lld out of range [0, %d)", p->lidx[j], (long long)j, rows);
        }
        if (p->bptr[(int64_t)p->cout * nblk] != p->rowptr[p->cout])
            FAIL(SB_ECORRUPT, "block pointers end at %d, row pointers at %d", p->bptr[(int64_t)p->cout * nblk], p->rowptr[p->cout]);
        for (int co = 0; co < p->cout; ++co) { /* the thread split weighs rows by rowptr */
            int64_t sum = 0;
            for (int64_t b = 0; b < nblk; ++b) sum += p->bptr[b * p->cout + co + 1] - p->bptr[b * p->cout + co];
            if (sum != (int64_t)p->rowptr[co + 1] - p->rowptr[co])
                FAIL(SB_ECORRUPT, "row %d holds %lld values in its blocks, %d by its row pointers", co, (long long)sum, p->rowptr[co + 1] - p->rowptr[co]);
        }
        return SB_OK;
    }
    const int64_t cnt = red / p->m * p->n, ipb = kb / p->m * p->n;
    for (int64_t i = 0; i < cnt * p->cout; ++i) { /* block-major: cout * ipb per full block */
        const int64_t r0 = i / (ipb * p->cout) * kb;
        const int rows = (int)(red - r0 < kb ? red - r0 : kb);
        if (p->lidx[i] >= rows)
            FAIL(SB_ECORRUPT, "%s row index %d at %lld out of range [0, %d)",
                 p->fmt == SB_FMT_NM ? "n:m" : "cs", p->lidx[i], (long long)i, rows);
    }
    return SB_OK;
}

int sb_validate(const sb_packed *p, char *err, int errlen)
{
    int rc = sb_check_header(p, err, errlen);
    if (rc) return rc;
    const int64_t red = red_len(p);
    if (p->fmt == SB_FMT_PANEL || p->fmt == SB_FMT_CSR) {
        if (p->rowptr[0] != 0) FAIL(SB_ECORRUPT, "row pointer[0] = %d, expected 0", p->rowptr[0]);
        for (int u = 0; u < p->units; ++u)
            if (p->rowptr[u + 1] < p->rowptr[u])
                FAIL(SB_ECORRUPT, "row pointers not monotone at unit %d", u);
    }
    if (p->fmt == SB_FMT_PANEL) {
        const int64_t nnz = p->rowptr[p->units], per = (int64_t)p->kh * p->kw * p->bh;
        if (nnz > p->len_cidx || nnz * per > p->len_val)
            FAIL(SB_ECORRUPT, "row pointers reach %lld entries, arrays hold %lld", (long long)nnz, (long long)p->len_cidx);
        for (int64_t i = 0; i < nnz; ++i)
            if (p->cidx[i] < 0 || p->cidx[i] >= p->cin)
                FAIL(SB_ECORRUPT, "index %d at %lld out of range [0, %d)", p->cidx[i], (long long)i, p->cin);
        if (p->rowmap)
            for (int i = 0; i < p->valid_rows; ++i)
                if (p->rowmap[i] < 0 || p->rowmap[i] >= p->cout)
                    FAIL(SB_ECORRUPT, "row map entry %d at %d out of range [0, %d)", p->rowmap[i], i, p->cout);
    } else {
        rc = validate_ell16(p, red, err, errlen);
        if (rc) return rc;
    }
    for (int64_t i = 0; i < p->len_fillrows; ++i)
        if (p->fillrows[i] < 0 || p->fillrows[i] >= p->cout)
            FAIL(SB_ECORRUPT, "fill row %d out of range [0, %d)", p->fillrows[i], p->cout);
    return SB_OK;
}
