/*
 * The pieces the contrastive losses (InfoNCE, NT-Xent, SupCon) share:
 *
 *   - L2 normalization of embedding rows, u = x / max(||x||, eps) as
 *     torch.nn.functional.normalize (eps = 1e-12), and its exact Jacobian
 *     for the backward pass: d x = (d u - u (u . d u)) / ||x|| where
 *     ||x|| > eps, d u / eps where the norm is clamped;
 *   - the similarity matrix and the gradient products as one GEMM kernel,
 *     c = alpha a b (+ c), cache-blocked, in the embeddings' dtype, threaded
 *     over tiles of rows of c. Every element of c is one chain of products
 *     added in increasing k: its bits depend neither on the thread count nor
 *     on the tiling;
 *   - the softmax cross-entropy of one row of logits against positive
 *     weights, which every one of these losses is.
 *
 * Functions come in _f32 and _f64 versions (core/typed.h); the loss files
 * call them from their own typed sections with LK_T(name).
 */
#ifndef LK_GENERAL_SIMILARITY_H
#define LK_GENERAL_SIMILARITY_H

#include <math.h>
#include <stdint.h>

#include "core/loss.h"

/* The rows [*first, *last) of task `task` when rows are cut in tasks of per_task. */
static inline void lk_task_rows(int64_t task, int64_t per_task, int64_t rows, int64_t *first,
                                int64_t *last)
{
    *first = task * per_task;
    *last = *first + per_task < rows ? *first + per_task : rows;
}

/* The parameters the contrastive losses share (lk_param_info initializers). */
#define LK_PARAM_TEMPERATURE(default_text, doc)                                            \
    {"temperature", LK_PARAM_FLOAT, default_text, 0, INFINITY, LK_RANGE_MIN_OPEN, NULL,      \
     "T: the logits are the similarities divided by T " doc}
#define LK_PARAM_NORMALIZE(default_text, doc)                                              \
    {"normalize", LK_PARAM_BOOL, default_text, 0, 0, 0, NULL,                              \
     "L2-normalize every embedding first (cosine similarities)" doc}

/* F.normalize's eps: a row whose norm is below it is divided by eps. */
#define LK_NORMALIZE_EPS 1e-12

/* A matrix operand: element (i, j) is data[i * ld + j], or data[j * ld + i]
 * when transposed (so that a b^T needs no copy of b). */
typedef struct lk_matrix {
    const void *data;
    int64_t ld;
    int transposed;
} lk_matrix;

static inline lk_matrix lk_plain(const void *data, int64_t ld)
{
    lk_matrix matrix = {data, ld, 0};
    return matrix;
}

static inline lk_matrix lk_transposed(const void *data, int64_t ld)
{
    lk_matrix matrix = {data, ld, 1};
    return matrix;
}

/* c (m x n, row stride ldc) = alpha a b, or += alpha a b when accumulate;
 * a: m x k, b: k x n as operands; c overlaps neither. */
void lk_gemm_f32(lk_context *ctx, lk_matrix a, lk_matrix b, float *c, int64_t ldc, int64_t m, int64_t k,
                 int64_t n, float alpha, int accumulate);
void lk_gemm_f64(lk_context *ctx, lk_matrix a, lk_matrix b, double *c, int64_t ldc, int64_t m, int64_t k,
                 int64_t n, double alpha, int accumulate);

/* c (n x n) = alpha a a^T, a: n x k (row stride lda): the tiles on and above
 * the diagonal, then their mirror image, bit for bit what lk_gemm gives (the
 * products of c[i][j] and c[j][i] are the same, added in the same order). */
void lk_gram_f32(lk_context *ctx, const float *a, int64_t lda, float *c, int64_t ldc, int64_t n, int64_t k,
                 float alpha);
void lk_gram_f64(lk_context *ctx, const double *a, int64_t lda, double *c, int64_t ldc, int64_t n, int64_t k,
                 double alpha);

/* g (n x n) = g + g^T, in place (each pair added once: the result is exactly
 * symmetric). */
void lk_symmetrize_f32(float *g, int64_t n);
void lk_symmetrize_f64(double *g, int64_t n);

/* unit[i] = x[i] / max(||x[i]||, eps), norm[i] = ||x[i]|| (in double), for
 * rows x dim row-major arrays; unit may be x. */
void lk_normalize_rows_f32(lk_context *ctx, const float *x, int64_t rows, int64_t dim, float *unit,
                           double *norm);
void lk_normalize_rows_f64(lk_context *ctx, const double *x, int64_t rows, int64_t dim, double *unit,
                           double *norm);

/* grad holds d loss / d unit and is turned into d loss / d x, in place. */
void lk_normalize_rows_backward_f32(lk_context *ctx, const float *unit, const double *norm,
                                    int64_t rows, int64_t dim, float *grad);
void lk_normalize_rows_backward_f64(lk_context *ctx, const double *unit, const double *norm,
                                    int64_t rows, int64_t dim, double *grad);

/* Normalizes x (rows x dim) in place, keeping the norms in *norm (malloc'd;
 * the caller frees it). */
lk_status lk_rows_normalize_in_place(lk_context *ctx, lk_dtype dtype, void *x, int64_t rows,
                                     int64_t dim, double **norm);
/* The backward pass of that normalization on grad, in place; nothing when
 * norm or grad is NULL (no normalization, or no gradient wanted). */
void lk_rows_normalize_backward(lk_context *ctx, lk_dtype dtype, const void *unit, const double *norm,
                                int64_t rows, int64_t dim, void *grad);

/* The rows of a logits matrix, each a softmax cross-entropy against its
 * positives:
 *
 *   loss_i = c / P_i (W_i LSE_i - sum_j w_ij l_ij),  LSE_i = log sum_{j != self} exp l_ij
 *
 * with W_i = sum_j w_ij, P_i = W_i (1 where W_i < 1e-6: an anchor without
 * positives adds 0, as SupConLoss does), c = coefficient. The positives are
 * one column, (positive_first + i positive_step) mod len (w = 1 there), or
 * the weights the callback writes for row i (w at the excluded column must
 * be 0). With exclude_self, column i of row i takes no part (the logit of
 * an embedding with itself). The rows are overwritten with
 * scale d loss_i / d l_ij = scale c / P_i (W_i softmax_ij - w_ij). */
typedef void (*lk_row_weights_fn)(const void *arg, int64_t row, void *weights);

typedef struct lk_softmax_rows {
    void *logits; /* rows x len, row stride ld, the dtype of the call */
    int64_t rows, len, ld;
    int exclude_self;
    int64_t positive_first, positive_step;
    lk_row_weights_fn weights; /* NULL: one positive column */
    const void *weights_arg;
    double coefficient, scale;
    double *row_loss; /* [rows] out: loss_i */
    /* row i's gradient is also weighed by lk_upstream(call, i), the weight of
     * element i of the loss tensor (NULL: 1) */
    const lk_call *call;
} lk_softmax_rows;

/* Runs the rows over ctx's threads; returns LK_ENOMEM (reported) or LK_OK. */
lk_status lk_softmax_rows_run(lk_context *ctx, lk_dtype dtype, const lk_softmax_rows *rows);

/* LK_EVALUE naming the first NaN or infinity in the call's float inputs, if any. */
lk_status lk_check_finite_inputs(const lk_call *call);

/* Writes row_loss into the loss tensor for reduction none, and returns
 * their total, added in row order. */
double lk_store_row_losses(const lk_call *call, const double *row_loss, int64_t rows);

#endif
