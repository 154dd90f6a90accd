/*
 * Similarity matrices and the row-wise softmax cross-entropy of the
 * contrastive losses; see general/similarity.h.
 *
 * The GEMM: c = alpha a b with b row-major (k x n), so that a tile of c,
 * GEMM_TILE_ROWS rows by one cache line of columns, is a block of
 * accumulators that the innermost loop updates with one row of b, a vector
 * multiply and add per register: it stays in registers along k. A task
 * takes a block of c, GEMM_TASK_ROWS rows by GEMM_TASK_COLS columns (a
 * short matrix still makes tasks for every thread), and walks the k blocks
 * in its outer loop; for each, it packs GEMM_DEPTH rows of each column
 * tile's strip of b into a contiguous 16 KiB block (b's rows may lie 4 KiB
 * apart, in one set of the L1 cache) that all its row tiles then read from
 * L1. Either
 * operand may be transposed (lk_matrix): the similarity a b^T packs b's rows
 * as columns, G^T a reads G by columns; nothing is copied. Each element is the products
 * a[i][p] b[p][j] added in increasing p from 0 (kept in the element type
 * between blocks), then scaled by alpha: the same bits for the vector tiles
 * and the scalar edges, for any thread count and any blocking.
 */
#ifndef LK_REAL
#include "general/similarity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "core/hot.h"
#include "core/lanes.h"
#include "core/vecmath.h"

#define GEMM_TILE_ROWS 4
/* The GEMM and the row softmax also get an AVX-512 clone (x86-64-v4): about
 * a fifth faster on the development machine's EPYC, the same bits (the
 * library is built without FMA contraction; core/hot.h). */
#if !defined(LK_NO_CLONES) && defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && \
    !defined(__clang__) && __GNUC__ >= 8
#define WIDE_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define WIDE_HOT LK_HOT
#endif
#define GEMM_TASK_ROWS 64
#define GEMM_TASK_COLS 64 /* a multiple of every dtype's TILE_COLS */
#define GEMM_DEPTH 256 /* rows of b per packed block */
#define NORMALIZE_TASK_ROWS 64
#define SOFTMAX_TASK_ROWS 8

typedef struct gemm_job {
    lk_matrix a, b;
    void *c;
    int64_t ldc, m, k, n;
    double alpha;
    int accumulate;
    int upper; /* c = a a^T: only the tiles that reach the diagonal or above */
} gemm_job;

typedef struct normalize_job {
    const void *x, *unit; /* x: the rows; unit: the normalized rows (backward) */
    void *out;
    double *norm;
    const double *norm_in;
    int64_t rows, dim;
} normalize_job;

typedef struct softmax_job {
    const lk_softmax_rows *rows;
    char *scratch; /* per worker: len weights */
    size_t scratch_stride;
} softmax_job;

static int64_t task_count(int64_t rows, int64_t per_task)
{
    return (rows + per_task - 1) / per_task;
}

#define LK_TYPED_FILE "general/similarity.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

/* Columns of one tile: a cache line (GEMM_DEPTH rows of a strip: 16 KiB). */
#define TILE_COLS ((int)(64 / sizeof(lk_real)))

/* Packs rows [k0, k1) of the column tile at j0 of b (cols columns, zeros
 * beyond) into strip[(p - k0) * TILE_COLS + j]: contiguous, whatever b's
 * layout (rows 4 KiB apart would share one set of the L1 cache). */
static inline void LK_T(pack_strip)(lk_matrix b, int64_t k0, int64_t k1, int64_t j0, int cols,
                                    lk_real *restrict strip)
{
    const lk_real *restrict data = b.data;
    if (b.transposed) { /* b^T's rows are contiguous along p */
        for (int j = 0; j < TILE_COLS; j++) {
            const lk_real *restrict column = data + (j0 + j) * b.ld;
            if (j < cols)
                for (int64_t p = k0; p < k1; p++) strip[(p - k0) * TILE_COLS + j] = column[p];
            else
                for (int64_t p = k0; p < k1; p++) strip[(p - k0) * TILE_COLS + j] = 0;
        }
        return;
    }
    for (int64_t p = k0; p < k1; p++) {
        const lk_real *restrict bp = data + p * b.ld + j0;
        lk_real *restrict sp = strip + (p - k0) * TILE_COLS;
        if (cols == TILE_COLS) {
            memcpy(sp, bp, sizeof(lk_real) * TILE_COLS);
            continue;
        }
        for (int j = 0; j < cols; j++) sp[j] = bp[j];
        for (int j = cols; j < TILE_COLS; j++) sp[j] = 0;
    }
}

/* acc (GEMM_TILE_ROWS x TILE_COLS) += a[r][p] strip[p][j] over the strip's
 * rows, in increasing p, a[r][p] at a[r * row + p * col]: a full tile,
 * unrolled and vectorized. */
static inline void LK_T(gemm_tile)(const lk_real *restrict a, int64_t row, int64_t col,
                                   const lk_real *restrict strip, int64_t depth, lk_real *restrict acc)
{
    lk_real c0[TILE_COLS], c1[TILE_COLS], c2[TILE_COLS], c3[TILE_COLS];
    for (int j = 0; j < TILE_COLS; j++) {
        c0[j] = acc[j];
        c1[j] = acc[TILE_COLS + j];
        c2[j] = acc[2 * TILE_COLS + j];
        c3[j] = acc[3 * TILE_COLS + j];
    }
    const lk_real *restrict a0 = a, *restrict a1 = a + row, *restrict a2 = a + 2 * row,
                            *restrict a3 = a + 3 * row;
    for (int64_t p = 0; p < depth; p++) {
        const lk_real *restrict sp = strip + p * TILE_COLS;
        const lk_real v0 = a0[p * col], v1 = a1[p * col], v2 = a2[p * col], v3 = a3[p * col];
        for (int j = 0; j < TILE_COLS; j++) {
            c0[j] += v0 * sp[j];
            c1[j] += v1 * sp[j];
            c2[j] += v2 * sp[j];
            c3[j] += v3 * sp[j];
        }
    }
    for (int j = 0; j < TILE_COLS; j++) {
        acc[j] = c0[j];
        acc[TILE_COLS + j] = c1[j];
        acc[2 * TILE_COLS + j] = c2[j];
        acc[3 * TILE_COLS + j] = c3[j];
    }
}

/* The same sums for the last rows of a task, fewer than GEMM_TILE_ROWS. */
static inline void LK_T(gemm_edge)(const lk_real *restrict a, int64_t row, int64_t col,
                                   const lk_real *restrict strip, int64_t depth, int rows, lk_real *restrict acc)
{
    for (int r = 0; r < rows; r++) {
        lk_real *restrict cr = acc + r * TILE_COLS;
        const lk_real *restrict ar = a + r * row;
        for (int64_t p = 0; p < depth; p++) {
            const lk_real v = ar[p * col];
            const lk_real *restrict sp = strip + p * TILE_COLS;
            for (int j = 0; j < TILE_COLS; j++) cr[j] += v * sp[j];
        }
    }
}

/* The task's block of c, GEMM_TASK_ROWS rows by GEMM_TASK_COLS columns: k
 * blocks in the outer loop, so that the block's rows of a (task rows x
 * GEMM_DEPTH) stay in L1 while each column tile's strip of b is packed and
 * used by every row tile, all the block's accumulators in acc. A short and
 * deep product (a network's first layer: tens of rows, 1e5 deep) then reads
 * a from memory once per column block and b once. */
WIDE_HOT static void LK_T(gemm_task)(void *arg, int64_t task, int worker)
{
    (void)worker;
    const gemm_job *job = arg;
    const lk_real *a = job->a.data;
    int64_t row = job->a.transposed ? 1 : job->a.ld, col = job->a.transposed ? job->a.ld : 1;
    lk_real *c = job->c;
    const lk_real alpha = (lk_real)job->alpha;
    lk_real strip[GEMM_DEPTH * TILE_COLS], acc[GEMM_TASK_ROWS * GEMM_TASK_COLS];
    int64_t first, last, column_blocks = task_count(job->n, GEMM_TASK_COLS);
    lk_task_rows(task / column_blocks, GEMM_TASK_ROWS, job->m, &first, &last);
    int64_t j_first = task % column_blocks * GEMM_TASK_COLS;
    int64_t j_last = j_first + GEMM_TASK_COLS < job->n ? j_first + GEMM_TASK_COLS : job->n;
    if (job->upper && first / TILE_COLS * TILE_COLS > j_first) j_first = first / TILE_COLS * TILE_COLS;
    if (j_first >= j_last) return;
    for (int j = 0; j < GEMM_TASK_ROWS * GEMM_TASK_COLS; j++) acc[j] = 0;
    for (int64_t k0 = 0; k0 < job->k; k0 += GEMM_DEPTH) {
        int64_t k1 = k0 + GEMM_DEPTH < job->k ? k0 + GEMM_DEPTH : job->k;
        for (int64_t j0 = j_first; j0 < j_last; j0 += TILE_COLS) {
            int cols = (int)(j_last - j0 < TILE_COLS ? j_last - j0 : TILE_COLS);
            LK_T(pack_strip)(job->b, k0, k1, j0, cols, strip);
            for (int64_t i0 = first; i0 < last; i0 += GEMM_TILE_ROWS) {
                const lk_real *ai = a + i0 * row + k0 * col;
                lk_real *tile = acc + ((j0 - j_first) / TILE_COLS * GEMM_TASK_ROWS + (i0 - first)) * TILE_COLS;
                if (last - i0 >= GEMM_TILE_ROWS)
                    LK_T(gemm_tile)(ai, row, col, strip, k1 - k0, tile);
                else
                    LK_T(gemm_edge)(ai, row, col, strip, k1 - k0, (int)(last - i0), tile);
            }
        }
    }
    for (int64_t i = first; i < last; i++)
        for (int64_t j0 = j_first; j0 < j_last; j0 += TILE_COLS) {
            int cols = (int)(j_last - j0 < TILE_COLS ? j_last - j0 : TILE_COLS);
            lk_real *restrict ci = c + i * job->ldc + j0;
            const lk_real *restrict ai = acc + ((j0 - j_first) / TILE_COLS * GEMM_TASK_ROWS + (i - first)) * TILE_COLS;
            if (job->accumulate)
                for (int j = 0; j < cols; j++) ci[j] += alpha * ai[j];
            else
                for (int j = 0; j < cols; j++) ci[j] = alpha * ai[j];
        }
}

void LK_T(lk_gemm)(lk_context *ctx, lk_matrix a, lk_matrix b, lk_real *c, int64_t ldc, int64_t m, int64_t k,
                   int64_t n, lk_real alpha, int accumulate)
{
    gemm_job job = {a, b, c, ldc, m, k, n, alpha, accumulate, 0};
    lk_parallel_for_items(ctx, task_count(m, GEMM_TASK_ROWS) * task_count(n, GEMM_TASK_COLS),
                          m * n * (k > 0 ? k : 1) / 8, LK_T(gemm_task), &job);
}

/* Over pairs of blocks (I <= J), through a transposed copy of the block
 * below the diagonal: the columns of g are rows 4 KiB apart when n = 1024
 * floats, one set of the L1 cache, so both blocks are read and written row
 * by row. add: g[i][j] and g[j][i] both become their sum; else the upper
 * triangle is copied into the lower one. */
static void LK_T(fold_blocks)(lk_real *g, int64_t n, int64_t ld, int add)
{
    enum { BLOCK = 16 };
    lk_real mirror[BLOCK * BLOCK]; /* mirror[(j - j0) BLOCK + (i - i0)] stands for g[j][i] */
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK)
        for (int64_t j0 = i0; j0 < n; j0 += BLOCK) {
            int64_t i1 = i0 + BLOCK < n ? i0 + BLOCK : n, j1 = j0 + BLOCK < n ? j0 + BLOCK : n;
            for (int64_t j = j0; add && j < j1; j++)
                for (int64_t i = i0; i < i1; i++) mirror[(j - j0) * BLOCK + (i - i0)] = g[j * ld + i];
            for (int64_t i = i0; i < i1; i++)
                for (int64_t j = j0 > i ? j0 : i; j < j1; j++) {
                    lk_real value = add ? g[i * ld + j] + mirror[(j - j0) * BLOCK + (i - i0)] : g[i * ld + j];
                    g[i * ld + j] = value;
                    mirror[(j - j0) * BLOCK + (i - i0)] = value;
                }
            for (int64_t j = j0; j < j1; j++) /* the entries on and below the diagonal, i <= j */
                for (int64_t i = i0; i < (i1 < j + 1 ? i1 : j + 1); i++) g[j * ld + i] = mirror[(j - j0) * BLOCK + (i - i0)];
        }
}

void LK_T(lk_gram)(lk_context *ctx, const lk_real *a, int64_t lda, lk_real *c, int64_t ldc, int64_t n, int64_t k,
                   lk_real alpha)
{
    gemm_job job = {lk_plain(a, lda), lk_transposed(a, lda), c, ldc, n, k, n, alpha, 0, 1};
    lk_parallel_for_items(ctx, task_count(n, GEMM_TASK_ROWS) * task_count(n, GEMM_TASK_COLS),
                          n * n * (k > 0 ? k : 1) / 16,
                          LK_T(gemm_task), &job);
    LK_T(fold_blocks)(c, n, ldc, 0);
}

void LK_T(lk_symmetrize)(lk_real *g, int64_t n)
{
    LK_T(fold_blocks)(g, n, n, 1);
}

/* sum of x[j] y[j] in double lanes (core/lanes.h). */
static inline double LK_T(dot_lanes)(const lk_real *restrict x, const lk_real *restrict y, int64_t len)
{
    double lanes[LK_LANES] = {0};
    int64_t j = 0;
    for (; j + LK_LANES <= len; j += LK_LANES)
        for (int lane = 0; lane < LK_LANES; lane++) lanes[lane] += (double)x[j + lane] * (double)y[j + lane];
    for (; j < len; j++) lanes[j % LK_LANES] += (double)x[j] * (double)y[j];
    return lk_lanes_total(lanes);
}

/* unit = x / max(||x||, eps) for one row; returns ||x||. unit may be x. */
static inline double LK_T(normalize_row)(const lk_real *x, lk_real *unit, int64_t dim)
{
    double norm = sqrt(LK_T(dot_lanes)(x, x, dim));
    /* a division, as F.normalize: a 1-D row becomes exactly +-1 (its gradient exactly 0) */
    const lk_real divisor = (lk_real)(norm > LK_NORMALIZE_EPS ? norm : LK_NORMALIZE_EPS);
    for (int64_t j = 0; j < dim; j++) unit[j] = x[j] / divisor;
    return norm;
}

/* d u -> d x through u = x / max(||x||, eps), in place. */
static inline void LK_T(normalize_row_backward)(const lk_real *restrict unit, double norm,
                                                lk_real *restrict grad, int64_t dim)
{
    if (!(norm > LK_NORMALIZE_EPS)) { /* u = x / eps: the Jacobian is I / eps */
        for (int64_t j = 0; j < dim; j++) grad[j] = (lk_real)(grad[j] / LK_NORMALIZE_EPS);
        return;
    }
    const lk_real projection = (lk_real)LK_T(dot_lanes)(unit, grad, dim);
    const lk_real inverse = (lk_real)(1 / norm);
    for (int64_t j = 0; j < dim; j++) grad[j] = (grad[j] - unit[j] * projection) * inverse;
}

/* The forward pass (job->unit NULL) or the backward pass over the task's rows. */
LK_HOT static void LK_T(normalize_task)(void *arg, int64_t task, int worker)
{
    (void)worker;
    const normalize_job *job = arg;
    int64_t first, last, dim = job->dim;
    lk_task_rows(task, NORMALIZE_TASK_ROWS, job->rows, &first, &last);
    lk_real *out = job->out;
    if (job->unit) {
        const lk_real *unit = job->unit;
        for (int64_t i = first; i < last; i++)
            LK_T(normalize_row_backward)(unit + i * dim, job->norm_in[i], out + i * dim, dim);
    } else {
        const lk_real *x = job->x;
        for (int64_t i = first; i < last; i++) job->norm[i] = LK_T(normalize_row)(x + i * dim, out + i * dim, dim);
    }
}

void LK_T(lk_normalize_rows)(lk_context *ctx, const lk_real *x, int64_t rows, int64_t dim, lk_real *unit,
                             double *norm)
{
    normalize_job job = {x, NULL, unit, norm, NULL, rows, dim};
    lk_parallel_for_items(ctx, task_count(rows, NORMALIZE_TASK_ROWS), rows * dim,
                          LK_T(normalize_task), &job);
}

void LK_T(lk_normalize_rows_backward)(lk_context *ctx, const lk_real *unit, const double *norm,
                                      int64_t rows, int64_t dim, lk_real *grad)
{
    normalize_job job = {NULL, unit, grad, NULL, norm, rows, dim};
    lk_parallel_for_items(ctx, task_count(rows, NORMALIZE_TASK_ROWS), rows * dim,
                          LK_T(normalize_task), &job);
}

/* Whether x[0, count) holds a NaN or an infinity: x - x is 0 exactly for
 * finite x, NaN otherwise; blocks of comparisons that vectorize. */
LK_HOT static int LK_T(any_nonfinite)(const lk_real *x, int64_t count)
{
    enum { BLOCK = 4096 };
    for (int64_t first = 0; first < count; first += BLOCK) {
        int64_t last = first + BLOCK < count ? first + BLOCK : count;
        int bad = 0;
        for (int64_t i = first; i < last; i++) bad |= !(x[i] - x[i] == 0);
        if (bad) return 1;
    }
    return 0;
}

/* One row (see lk_softmax_rows): returns its loss, leaves its gradient. */
WIDE_HOT static double LK_T(softmax_row)(lk_real *restrict row, int64_t len, int64_t self,
                                       const lk_real *restrict weights, int64_t positive,
                                       double coefficient, double scale)
{
    if (len - (self >= 0) < 1) { /* nothing to contrast with: no loss */
        for (int64_t j = 0; j < len; j++) row[j] = 0;
        return 0;
    }
    double weighted, total_weight;
    if (weights) {
        double lanes[LK_LANES] = {0};
        weighted = LK_T(dot_lanes)(weights, row, len);
        lk_lanes_add(lanes, weights, (int)len);
        total_weight = lk_lanes_total(lanes);
    } else {
        weighted = row[positive];
        total_weight = 1;
    }
    if (self >= 0) row[self] = -INFINITY;
    lk_real max = -INFINITY;
    for (int64_t j = 0; j < len; j++) max = row[j] > max ? row[j] : max;
    for (int64_t j = 0; j < len; j++) row[j] = lk_exp_nonpositive(row[j] - max);
    double lanes[LK_LANES] = {0};
    lk_lanes_add(lanes, row, (int)len);
    double sum = lk_lanes_total(lanes);
    double divisor = total_weight < 1e-6 ? 1 : total_weight;
    double loss = coefficient / divisor * (total_weight * ((double)max + log(sum)) - weighted);
    const lk_real factor = (lk_real)(scale * coefficient / divisor * total_weight / sum);
    const lk_real weight_factor = (lk_real)(scale * coefficient / divisor);
    if (weights) {
        for (int64_t j = 0; j < len; j++) row[j] = factor * row[j] - weight_factor * weights[j];
    } else {
        for (int64_t j = 0; j < len; j++) row[j] *= factor;
        row[positive] -= weight_factor;
    }
    return loss;
}

static void LK_T(softmax_task)(void *arg, int64_t task, int worker)
{
    const softmax_job *job = arg;
    const lk_softmax_rows *rows = job->rows;
    lk_real *weights = rows->weights ? (lk_real *)(job->scratch + (size_t)worker * job->scratch_stride) : NULL;
    int64_t first, last;
    lk_task_rows(task, SOFTMAX_TASK_ROWS, rows->rows, &first, &last);
    for (int64_t i = first; i < last; i++) {
        lk_real *row = (lk_real *)rows->logits + i * rows->ld;
        if (weights) rows->weights(rows->weights_arg, i, weights);
        int64_t positive = (rows->positive_first + i * rows->positive_step) % rows->len;
        double scale = rows->scale * (rows->call ? lk_upstream(rows->call, i) : 1.0);
        rows->row_loss[i] = LK_T(softmax_row)(row, rows->len, rows->exclude_self ? i : -1, weights,
                                              positive, rows->coefficient, scale);
    }
}

#undef TILE_COLS
#endif /* typed section */

#ifndef LK_REAL

lk_status lk_softmax_rows_run(lk_context *ctx, lk_dtype dtype, const lk_softmax_rows *rows)
{
    softmax_job job = {rows, NULL, 0};
    if (rows->weights) {
        size_t bytes = (size_t)rows->len * lk_dtype_size(dtype);
        job.scratch_stride = (bytes + 63) / 64 * 64;
        job.scratch = malloc(job.scratch_stride * (size_t)lk_context_threads(ctx));
        if (!job.scratch) return lk_fail(LK_ENOMEM, "out of memory for %lld weights per thread", (long long)rows->len);
    }
    lk_parallel_for_items(ctx, task_count(rows->rows, SOFTMAX_TASK_ROWS), rows->rows * rows->len,
                          dtype == LK_F32 ? softmax_task_f32 : softmax_task_f64, &job);
    free(job.scratch);
    return LK_OK;
}

lk_status lk_rows_normalize_in_place(lk_context *ctx, lk_dtype dtype, void *x, int64_t rows,
                                     int64_t dim, double **norm)
{
    *norm = malloc((size_t)rows * sizeof **norm);
    if (!*norm) return lk_fail(LK_ENOMEM, "out of memory for %lld norms", (long long)rows);
    if (dtype == LK_F32)
        lk_normalize_rows_f32(ctx, x, rows, dim, x, *norm);
    else
        lk_normalize_rows_f64(ctx, x, rows, dim, x, *norm);
    return LK_OK;
}

void lk_rows_normalize_backward(lk_context *ctx, lk_dtype dtype, const void *unit, const double *norm,
                                int64_t rows, int64_t dim, void *grad)
{
    if (!norm || !grad) return;
    if (dtype == LK_F32)
        lk_normalize_rows_backward_f32(ctx, unit, norm, rows, dim, grad);
    else
        lk_normalize_rows_backward_f64(ctx, unit, norm, rows, dim, grad);
}

lk_status lk_check_finite_inputs(const lk_call *call)
{
    for (size_t i = 0; i < call->desc->n_inputs; i++) {
        const lk_tensor *t = &call->inputs[i];
        int bad = t->dtype == LK_F32 ? any_nonfinite_f32(t->data, lk_numel(t))
                  : t->dtype == LK_F64 ? any_nonfinite_f64(t->data, lk_numel(t)) : 0;
        if (bad) return lk_report_nonfinite(call, NAN); /* finds and names the first one */
    }
    return LK_OK;
}

double lk_store_row_losses(const lk_call *call, const double *row_loss, int64_t rows)
{
    double total = 0;
    for (int64_t i = 0; i < rows; i++) total += row_loss[i];
    if (call->reduction != LK_REDUCTION_NONE) return total;
    if (call->loss->dtype == LK_F32) {
        float *out = call->loss->data;
        for (int64_t i = 0; i < rows; i++) out[i] = (float)row_loss[i];
    } else {
        double *out = call->loss->data;
        for (int64_t i = 0; i < rows; i++) out[i] = row_loss[i];
    }
    return total;
}

#endif
