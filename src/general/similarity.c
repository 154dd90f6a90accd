/*
 * Similarity matrices and the row-wise softmax cross-entropy of the
 * contrastive losses; see general/similarity.h.
 *
 * The GEMM: c = alpha a b with b row-major (k x n), so that a tile of c,
 * GEMM_TILE_ROWS rows by one cache line of columns, is a block of
 * accumulators that the innermost loop updates with one row of b, a vector
 * multiply and add per register: it stays in registers for the whole k
 * loop. A task takes GEMM_TASK_ROWS rows of c and walks the column tiles in
 * its outer loop, so that one strip of b (k rows of one cache line) serves
 * all its row tiles from L1. The similarity a b^T is this kernel on b
 * transposed (the callers transpose once, O(n k) against the GEMM's
 * O(m n k)). Each element is the products a[i][p] b[p][j] added in
 * increasing p from 0, then scaled by alpha: the same bits for the vector
 * tiles and the scalar edges, for any thread count and any tiling.
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
#define GEMM_TASK_ROWS 32
#define NORMALIZE_TASK_ROWS 64
#define SOFTMAX_TASK_ROWS 8

typedef struct gemm_job {
    const void *a, *b;
    void *c;
    int64_t lda, ldb, ldc, m, k, n;
    double alpha;
    int accumulate;
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

/* Columns of one tile: a cache line. */
#define TILE_COLS ((int)(64 / sizeof(lk_real)))

/* Stores alpha acc into c (or adds it). */
static inline void LK_T(store_tile)(lk_real *restrict c, int64_t ldc, const lk_real *restrict acc,
                                    int rows, int cols, lk_real alpha, int accumulate)
{
    for (int r = 0; r < rows; r++) {
        lk_real *restrict cr = c + r * ldc;
        const lk_real *restrict ar = acc + r * TILE_COLS;
        if (accumulate)
            for (int j = 0; j < cols; j++) cr[j] += alpha * ar[j];
        else
            for (int j = 0; j < cols; j++) cr[j] = alpha * ar[j];
    }
}

/* A full tile: GEMM_TILE_ROWS x TILE_COLS, unrolled and vectorized. */
static inline void LK_T(gemm_tile)(const lk_real *restrict a, int64_t lda, const lk_real *restrict b,
                                   int64_t ldb, lk_real *restrict c, int64_t ldc, int64_t k,
                                   lk_real alpha, int accumulate)
{
    lk_real acc[GEMM_TILE_ROWS * TILE_COLS];
    for (int j = 0; j < GEMM_TILE_ROWS * TILE_COLS; j++) acc[j] = 0;
    const lk_real *restrict a0 = a, *restrict a1 = a + lda, *restrict a2 = a + 2 * lda,
                            *restrict a3 = a + 3 * lda;
    for (int64_t p = 0; p < k; p++) {
        const lk_real *restrict bp = b + p * ldb;
        const lk_real v0 = a0[p], v1 = a1[p], v2 = a2[p], v3 = a3[p];
        for (int j = 0; j < TILE_COLS; j++) {
            acc[j] += v0 * bp[j];
            acc[TILE_COLS + j] += v1 * bp[j];
            acc[2 * TILE_COLS + j] += v2 * bp[j];
            acc[3 * TILE_COLS + j] += v3 * bp[j];
        }
    }
    LK_T(store_tile)(c, ldc, acc, GEMM_TILE_ROWS, TILE_COLS, alpha, accumulate);
}

/* An edge tile (fewer rows or columns): the same sums, in scalar loops. */
static void LK_T(gemm_edge)(const lk_real *restrict a, int64_t lda, const lk_real *restrict b,
                            int64_t ldb, lk_real *restrict c, int64_t ldc, int64_t k, int rows,
                            int cols, lk_real alpha, int accumulate)
{
    lk_real acc[GEMM_TILE_ROWS * TILE_COLS];
    for (int j = 0; j < GEMM_TILE_ROWS * TILE_COLS; j++) acc[j] = 0;
    for (int64_t p = 0; p < k; p++)
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) acc[r * TILE_COLS + j] += a[r * lda + p] * b[p * ldb + j];
    LK_T(store_tile)(c, ldc, acc, rows, cols, alpha, accumulate);
}

LK_HOT static void LK_T(gemm_task)(void *arg, int64_t task, int worker)
{
    (void)worker;
    const gemm_job *job = arg;
    const lk_real *a = job->a, *b = job->b;
    lk_real *c = job->c;
    const lk_real alpha = (lk_real)job->alpha;
    int64_t first, last;
    lk_task_rows(task, GEMM_TASK_ROWS, job->m, &first, &last);
    for (int64_t j0 = 0; j0 < job->n; j0 += TILE_COLS) {
        int cols = (int)(job->n - j0 < TILE_COLS ? job->n - j0 : TILE_COLS);
        for (int64_t i0 = first; i0 < last; i0 += GEMM_TILE_ROWS) {
            int rows = (int)(last - i0 < GEMM_TILE_ROWS ? last - i0 : GEMM_TILE_ROWS);
            const lk_real *ai = a + i0 * job->lda;
            lk_real *ci = c + i0 * job->ldc + j0;
            if (rows == GEMM_TILE_ROWS && cols == TILE_COLS)
                LK_T(gemm_tile)(ai, job->lda, b + j0, job->ldb, ci, job->ldc, job->k, alpha,
                                job->accumulate);
            else
                LK_T(gemm_edge)(ai, job->lda, b + j0, job->ldb, ci, job->ldc, job->k, rows, cols,
                                alpha, job->accumulate);
        }
    }
}

void LK_T(lk_gemm)(lk_context *ctx, const lk_real *a, int64_t lda, const lk_real *b, int64_t ldb,
                   lk_real *c, int64_t ldc, int64_t m, int64_t k, int64_t n, lk_real alpha,
                   int accumulate)
{
    gemm_job job = {a, b, c, lda, ldb, ldc, m, k, n, alpha, accumulate};
    lk_parallel_for_items(ctx, task_count(m, GEMM_TASK_ROWS), m * n * (k > 0 ? k : 1) / 8,
                          LK_T(gemm_task), &job);
}

void LK_T(lk_transpose)(const lk_real *src, int64_t rows, int64_t cols, int64_t ld, lk_real *dst)
{
    enum { BLOCK = 32 };
    for (int64_t i0 = 0; i0 < rows; i0 += BLOCK)
        for (int64_t j0 = 0; j0 < cols; j0 += BLOCK) {
            int64_t i1 = i0 + BLOCK < rows ? i0 + BLOCK : rows, j1 = j0 + BLOCK < cols ? j0 + BLOCK : cols;
            for (int64_t i = i0; i < i1; i++)
                for (int64_t j = j0; j < j1; j++) dst[j * rows + i] = src[i * ld + j];
        }
}

void LK_T(lk_symmetrize)(lk_real *g, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i; j < n; j++) {
            lk_real sum = g[i * n + j] + g[j * n + i];
            g[i * n + j] = sum;
            g[j * n + i] = sum;
        }
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

/* One row (see lk_softmax_rows): returns its loss, leaves its gradient. */
LK_HOT static double LK_T(softmax_row)(lk_real *restrict row, int64_t len, int64_t self,
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
        rows->row_loss[i] = LK_T(softmax_row)(row, rows->len, rows->exclude_self ? i : -1, weights,
                                              positive, rows->coefficient, rows->scale);
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
    for (size_t i = 0; i < call->desc->n_inputs; i++)
        if (lk_dtype_is_float(call->inputs[i].dtype) && lk_find_nonfinite(&call->inputs[i]) >= 0)
            return lk_report_nonfinite(call, NAN);
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
