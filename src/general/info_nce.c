/*
 * InfoNCE: a query against its positive key and a set of negative keys, as
 * a softmax cross-entropy over their cosine similarities (or dot products)
 * divided by a temperature T.
 *
 * info_nce (explicit negatives), for query q_i (N, D), positive p_i (N, D)
 * and negatives n (M, D) shared by all queries (negative_mode=unpaired) or
 * n_i (N, M, D), M per query (paired):
 *
 *   l_i = [q_i . p_i, q_i . n_1, ..., q_i . n_M] / T
 *   loss_i = -l_i0 + log sum_j exp l_ij
 *
 * info_nce_in_batch (no negatives given: the other queries' positives are
 * the negatives):
 *
 *   l_ij = q_i . p_j / T,   loss_i = -l_ii + log sum_j exp l_ij
 *
 * With normalize=true (the default, as the package) every row is first
 * divided by max(||row||, 1e-12) (F.normalize), and the gradient goes through
 * that normalization exactly. Gradients, with g_ij = softmax_ij - [j is the
 * positive] (times the reduction's 1/N): d q_i = sum_j g_ij k_j / T over the
 * keys k_j of row i, d k_j = sum_i g_ij q_i / T. The similarities and the
 * sums over rows are GEMMs (general/similarity.h); the paired negatives are
 * one matrix-vector product per query.
 *
 * Reference: A. van den Oord, Y. Li, O. Vinyals, "Representation Learning
 * with Contrastive Predictive Coding", arXiv:1807.03748, 2018. Conventions:
 * the info-nce-pytorch package (RElbers/info-nce-pytorch, InfoNCE(temperature
 * = 0.1, reduction='mean', negative_mode='unpaired')): the positive is the
 * first logit, the mean is over the N queries, reduction none gives (N,).
 * The package always normalizes; normalize=false uses the rows as given
 * (dot products). Its optional negative_keys=None is the second registry
 * entry, info_nce_in_batch, rather than an empty tensor.
 */
#ifndef LK_REAL
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "core/hot.h"
#include "core/lanes.h"
#include "core/loss.h"
#include "general/similarity.h"

enum { P_TEMPERATURE, P_NORMALIZE, P_REDUCTION, P_NEGATIVE_MODE, P_COUNT };
enum { MODE_UNPAIRED = 0, MODE_PAIRED = 1 };
enum { IN_QUERY = 0, IN_POSITIVE = 1, IN_NEGATIVES = 2 };

#define PAIRED_TASK_ROWS 16

/* The rows the loss reads: the inputs, or their normalized copies. */
typedef struct nce_rows {
    void *query, *positive, *negatives; /* unit rows (or the inputs themselves) */
    double *norms[3];                   /* NULL: not normalized */
    void *copies[3];
    void *logits;
    double *row_loss;
} nce_rows;

typedef struct paired_job {
    const lk_call *call;
    const nce_rows *rows;
    int64_t n, m, d;
    double inverse_t;
} paired_job;

static int64_t paired_tasks(int64_t n)
{
    return (n + PAIRED_TASK_ROWS - 1) / PAIRED_TASK_ROWS;
}

#define LK_TYPED_FILE "general/info_nce.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

/* x . y in LK_LANES partial sums (core/lanes.h's order, in the element type):
 * a vector of independent chains rather than one chain of dependent adds. */
static inline lk_real LK_T(dot)(const lk_real *restrict x, const lk_real *restrict y, int64_t len)
{
    lk_real lanes[LK_LANES] = {0};
    int64_t j = 0;
    for (; j + LK_LANES <= len; j += LK_LANES)
        for (int lane = 0; lane < LK_LANES; lane++) lanes[lane] += x[j + lane] * y[j + lane];
    for (; j < len; j++) lanes[j % LK_LANES] += x[j] * y[j];
    lk_real total = 0;
    for (int lane = 0; lane < LK_LANES; lane++) total += lanes[lane];
    return total;
}

/* Row i of the logits, [q_i . p_i, q_i . n_i1, ...] / T, for paired negatives. */
LK_HOT static void LK_T(paired_logits_task)(void *arg, int64_t task, int worker)
{
    (void)worker;
    const paired_job *job = arg;
    const lk_real *q = job->rows->query, *p = job->rows->positive, *neg = job->rows->negatives;
    lk_real *logits = job->rows->logits;
    const lk_real inverse_t = (lk_real)job->inverse_t;
    int64_t first, last;
    lk_task_rows(task, PAIRED_TASK_ROWS, job->n, &first, &last);
    for (int64_t i = first; i < last; i++) {
        const lk_real *qi = q + i * job->d;
        lk_real *row = logits + i * (job->m + 1);
        row[0] = LK_T(dot)(qi, p + i * job->d, job->d) * inverse_t;
        for (int64_t j = 0; j < job->m; j++)
            row[1 + j] = LK_T(dot)(qi, neg + (i * job->m + j) * job->d, job->d) * inverse_t;
    }
}

/* d q_i = (g_i0 p_i + sum_j g_ij n_ij) / T and d n_ij = g_ij q_i / T (paired). */
LK_HOT static void LK_T(paired_gradient_task)(void *arg, int64_t task, int worker)
{
    (void)worker;
    const paired_job *job = arg;
    const lk_real *q = job->rows->query, *p = job->rows->positive, *neg = job->rows->negatives;
    const lk_real *logits = job->rows->logits;
    lk_real *grad_q = lk_grad_data(job->call, IN_QUERY), *grad_n = lk_grad_data(job->call, IN_NEGATIVES);
    const lk_real inverse_t = (lk_real)job->inverse_t;
    const int64_t d = job->d;
    int64_t first, last;
    lk_task_rows(task, PAIRED_TASK_ROWS, job->n, &first, &last);
    for (int64_t i = first; i < last; i++) {
        const lk_real *g = logits + i * (job->m + 1);
        if (grad_q) {
            lk_real *restrict gq = grad_q + i * d;
            const lk_real *restrict pi = p + i * d;
            for (int64_t k = 0; k < d; k++) gq[k] = g[0] * pi[k];
            for (int64_t j = 0; j < job->m; j++) {
                const lk_real *restrict nij = neg + (i * job->m + j) * d;
                for (int64_t k = 0; k < d; k++) gq[k] += g[1 + j] * nij[k];
            }
            for (int64_t k = 0; k < d; k++) gq[k] *= inverse_t;
        }
        if (grad_n) {
            const lk_real *restrict qi = q + i * d;
            for (int64_t j = 0; j < job->m; j++) {
                lk_real *restrict gn = grad_n + (i * job->m + j) * d;
                const lk_real factor = g[1 + j] * inverse_t;
                for (int64_t k = 0; k < d; k++) gn[k] = factor * qi[k];
            }
        }
    }
}

/* grad_p_i = (g_i0 q_i) / T, or grad_q_i += (g_i0 p_i) / T: the positive
 * column's share, row by row (stride ld between the rows of g). */
static void LK_T(add_positive_column)(const lk_real *g, int64_t ld, const lk_real *x, int64_t n, int64_t d,
                                      double inverse_t, lk_real *out, int accumulate)
{
    for (int64_t i = 0; i < n; i++) {
        const lk_real factor = (lk_real)(g[i * ld] * inverse_t);
        const lk_real *restrict xi = x + i * d;
        lk_real *restrict oi = out + i * d;
        if (accumulate)
            for (int64_t k = 0; k < d; k++) oi[k] += factor * xi[k];
        else
            for (int64_t k = 0; k < d; k++) oi[k] = factor * xi[k];
    }
}

/* Logits and, after the rows' softmax, the gradients of unpaired negatives
 * or of the in-batch form; the logits matrix is n x cols, cols = m + 1 (the
 * positive first) or n (in batch). */
static void LK_T(unpaired_logits)(const lk_call *call, nce_rows *rows, int in_batch, int64_t n, int64_t m,
                                  int64_t d, double inverse_t)
{
    lk_real *logits = rows->logits;
    const lk_real *q = rows->query, *p = rows->positive;
    if (in_batch) {
        LK_T(lk_gemm)(call->ctx, lk_plain(q, d), lk_transposed(p, d), logits, n, n, d, n, (lk_real)inverse_t, 0);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        logits[i * (m + 1)] = LK_T(dot)(q + i * d, p + i * d, d) * (lk_real)inverse_t;
    LK_T(lk_gemm)(call->ctx, lk_plain(q, d), lk_transposed(rows->negatives, d), logits + 1, m + 1, n, d, m,
                  (lk_real)inverse_t, 0);
}

static void LK_T(unpaired_gradients)(const lk_call *call, nce_rows *rows, int in_batch, int64_t n,
                                     int64_t m, int64_t d, double inverse_t)
{
    lk_real *g = rows->logits;
    const lk_real *q = rows->query, *p = rows->positive, *neg = rows->negatives;
    lk_real *grad_q = lk_grad_data(call, IN_QUERY), *grad_p = lk_grad_data(call, IN_POSITIVE);
    lk_real *grad_n = in_batch ? NULL : lk_grad_data(call, IN_NEGATIVES);
    const lk_real alpha = (lk_real)inverse_t;
    if (in_batch) {
        if (grad_q) LK_T(lk_gemm)(call->ctx, lk_plain(g, n), lk_plain(p, d), grad_q, d, n, n, d, alpha, 0);
        if (grad_p) LK_T(lk_gemm)(call->ctx, lk_transposed(g, n), lk_plain(q, d), grad_p, d, n, n, d, alpha, 0);
        return;
    }
    if (grad_q) {
        LK_T(lk_gemm)(call->ctx, lk_plain(g + 1, m + 1), lk_plain(neg, d), grad_q, d, n, m, d, alpha, 0);
        LK_T(add_positive_column)(g, m + 1, p, n, d, inverse_t, grad_q, 1);
    }
    if (grad_p) LK_T(add_positive_column)(g, m + 1, q, n, d, inverse_t, grad_p, 0);
    if (grad_n) LK_T(lk_gemm)(call->ctx, lk_transposed(g + 1, m + 1), lk_plain(q, d), grad_n, d, m, n, d, alpha, 0);
}

static void LK_T(logits)(const lk_call *call, nce_rows *rows, int in_batch, int paired, int64_t n,
                         int64_t m, int64_t d, double inverse_t)
{
    if (paired) {
        paired_job job = {call, rows, n, m, d, inverse_t};
        lk_parallel_for_items(call->ctx, paired_tasks(n), n * (m + 1) * d, LK_T(paired_logits_task), &job);
    } else {
        LK_T(unpaired_logits)(call, rows, in_batch, n, m, d, inverse_t);
    }
}

static void LK_T(gradients)(const lk_call *call, nce_rows *rows, int in_batch, int paired, int64_t n,
                            int64_t m, int64_t d, double inverse_t)
{
    if (paired) {
        paired_job job = {call, rows, n, m, d, inverse_t};
        lk_parallel_for_items(call->ctx, paired_tasks(n), n * (m + 1) * d, LK_T(paired_gradient_task), &job);
        lk_real *grad_p = lk_grad_data(call, IN_POSITIVE);
        if (grad_p) LK_T(add_positive_column)(rows->logits, m + 1, rows->query, n, d, inverse_t, grad_p, 0);
    } else {
        LK_T(unpaired_gradients)(call, rows, in_batch, n, m, d, inverse_t);
    }
}

#endif /* typed section */

#ifndef LK_REAL

/* The rows the loss reads: the inputs, or normalized copies of them. */
static lk_status prepare_rows(const lk_call *call, size_t inputs, int normalize, nce_rows *rows)
{
    void **targets[3] = {&rows->query, &rows->positive, &rows->negatives};
    int64_t d = call->inputs[0].shape[1];
    for (size_t k = 0; k < inputs; k++) {
        const lk_tensor *t = &call->inputs[k];
        *targets[k] = t->data;
        if (!normalize) continue;
        size_t bytes = (size_t)lk_numel(t) * lk_dtype_size(t->dtype);
        rows->copies[k] = malloc(bytes);
        if (!rows->copies[k]) return lk_fail(LK_ENOMEM, "out of memory for a copy of '%s'", call->desc->inputs[k].name);
        memcpy(rows->copies[k], t->data, bytes);
        *targets[k] = rows->copies[k];
        lk_status status = lk_rows_normalize_in_place(call->ctx, t->dtype, rows->copies[k], lk_numel(t) / d, d,
                                                      &rows->norms[k]);
        if (status != LK_OK) return status;
    }
    return LK_OK;
}

static void free_rows(nce_rows *rows)
{
    for (int k = 0; k < 3; k++) {
        free(rows->copies[k]);
        free(rows->norms[k]);
    }
    free(rows->logits);
    free(rows->row_loss);
}

static lk_status nce_compute(const lk_call *call, int in_batch)
{
    lk_status status = lk_check_finite_inputs(call);
    if (status != LK_OK) return status;
    const lk_tensor *query = &call->inputs[IN_QUERY];
    int64_t n = query->shape[0], d = query->shape[1];
    int paired = !in_batch && call->inputs[IN_NEGATIVES].ndim == 3;
    int64_t m = in_batch ? n : call->inputs[IN_NEGATIVES].shape[paired ? 1 : 0];
    int64_t cols = in_batch ? n : m + 1;
    double inverse_t = 1 / lk_param_float(call->params, P_TEMPERATURE);
    size_t inputs = in_batch ? 2 : 3, real = lk_dtype_size(query->dtype);
    nce_rows rows;
    memset(&rows, 0, sizeof rows);
    status = prepare_rows(call, inputs, lk_param_bool(call->params, P_NORMALIZE), &rows);
    rows.logits = malloc((size_t)(n * cols) * real);
    rows.row_loss = malloc((size_t)n * sizeof(double));
    if (status == LK_OK && (!rows.logits || !rows.row_loss))
        status = lk_fail(LK_ENOMEM, "out of memory for the %lld x %lld logits", (long long)n, (long long)cols);
    if (status == LK_OK) {
        if (query->dtype == LK_F32)
            logits_f32(call, &rows, in_batch, paired, n, m, d, inverse_t);
        else
            logits_f64(call, &rows, in_batch, paired, n, m, d, inverse_t);
        double scale = call->reduction == LK_REDUCTION_MEAN ? 1 / (double)n : 1;
        lk_softmax_rows softmax = {rows.logits, n, cols, cols, 0, 0, in_batch ? 1 : 0, NULL, NULL, 1, scale,
                                   rows.row_loss, call};
        status = lk_softmax_rows_run(call->ctx, query->dtype, &softmax);
        if (status == LK_OK) status = lk_finish_loss(call, lk_store_row_losses(call, rows.row_loss, n), scale);
    }
    if (status == LK_OK) {
        if (query->dtype == LK_F32)
            gradients_f32(call, &rows, in_batch, paired, n, m, d, inverse_t);
        else
            gradients_f64(call, &rows, in_batch, paired, n, m, d, inverse_t);
        const void *units[3] = {rows.query, rows.positive, rows.negatives};
        for (size_t k = 0; k < inputs; k++)
            lk_rows_normalize_backward(call->ctx, query->dtype, units[k], rows.norms[k],
                                       lk_numel(&call->inputs[k]) / d, d, lk_grad_data(call, k));
    }
    free_rows(&rows);
    return status;
}

static lk_status info_nce_compute(const lk_call *call)
{
    return nce_compute(call, 0);
}

static lk_status info_nce_in_batch_compute(const lk_call *call)
{
    return nce_compute(call, 1);
}

/* negative_mode against the negatives' rank. */
static lk_status info_nce_check(const lk_call *call)
{
    int paired = lk_param_choice(call->params, P_NEGATIVE_MODE) == MODE_PAIRED;
    const lk_tensor *negatives = &call->inputs[IN_NEGATIVES];
    if (negatives->ndim == (paired ? 3 : 2)) return LK_OK;
    char got[LK_SHAPE_TEXT];
    return lk_fail(LK_ESHAPE, "input '%s' must be %s with negative_mode=%s; got shape %s",
                   call->desc->inputs[IN_NEGATIVES].name, paired ? "(N, M, D)" : "(M, D)",
                   paired ? "paired" : "unpaired", lk_format_shape(negatives, got, sizeof got));
}

static void per_query(const lk_call *call, lk_tensor *out)
{
    out->ndim = 1;
    out->shape[0] = call->batch;
}

#define NCE_QUERY                                                                          \
    {"query", "queries (N, D)", LK_DTYPES_FLOAT, LK_SHAPE_EMBEDDINGS, LK_DOMAIN_REAL, 1}
#define NCE_POSITIVE                                                                       \
    {"positive_key", "the positive key of each query (N, D)", LK_DTYPES_FLOAT,              \
     LK_SHAPE_LIKE_FIRST, LK_DOMAIN_REAL, 1}

static const lk_input_info info_nce_inputs[] = {
    NCE_QUERY,
    NCE_POSITIVE,
    {"negative_keys", "negatives: (M, D) shared by all queries (unpaired), or (N, M, D) (paired)",
     LK_DTYPES_FLOAT, LK_SHAPE_KEYS, LK_DOMAIN_REAL, 1},
};

static const lk_input_info info_nce_in_batch_inputs[] = {NCE_QUERY, NCE_POSITIVE};

#define NCE_PARAMS                                                                         \
    [P_TEMPERATURE] = LK_PARAM_TEMPERATURE("0.1", "(the package's 0.1)"),                  \
    [P_NORMALIZE] = LK_PARAM_NORMALIZE("true", ", as the package; false: dot products of the rows as given"),     \
    [P_REDUCTION] = {"reduction", LK_PARAM_CHOICE, "mean", 0, 0, 0, "mean|sum|none",       \
                     "mean: over the N queries; sum: the sum; none: one value per query"}

static const lk_param_info info_nce_params[P_COUNT] = {
    NCE_PARAMS,
    [P_NEGATIVE_MODE] = {"negative_mode", LK_PARAM_CHOICE, "unpaired", 0, 0, 0, "unpaired|paired",
                         "unpaired: negative_keys (M, D) shared by every query; paired: (N, M, D), "
                         "M negatives per query"},
};

static const lk_param_info info_nce_in_batch_params[P_NEGATIVE_MODE] = {NCE_PARAMS};

static const char *const info_nce_examples[] = {
    "",
    "negative_mode=paired",
    "normalize=false,temperature=0.5",
    "reduction=sum,temperature=0.2",
    "reduction=none,negative_mode=paired,normalize=false,temperature=2",
    NULL,
};

static const char *const info_nce_in_batch_examples[] = {
    "",
    "normalize=false,temperature=0.5",
    "reduction=sum,temperature=0.2",
    "reduction=none,temperature=0.3",
    NULL,
};

#define NCE_REFERENCE                                                                      \
    "A. van den Oord, Y. Li, O. Vinyals, Representation Learning with Contrastive "        \
    "Predictive Coding, arXiv:1807.03748, 2018"

const lk_loss_desc lk_loss_info_nce = {
    .name = "info_nce",
    .category = LK_CATEGORY_GENERAL,
    .summary = "InfoNCE: each query against its positive key and explicit negative keys, a "
               "softmax cross-entropy over temperature-scaled cosine similarities",
    .formula = "loss_i = -l_i0 + log sum_j exp l_ij, l_i = [q_i.p_i, q_i.n_1, ..., q_i.n_M] / T "
               "(rows L2-normalized with normalize=true)",
    .reference = NCE_REFERENCE,
    .notes = "As info-nce-pytorch's InfoNCE(temperature=0.1, reduction='mean', "
             "negative_mode='unpaired'): the positive is the first logit, the mean is over the "
             "queries. normalize=false uses the rows as given. Without negatives use "
             "info_nce_in_batch.",
    LK_DESC_INPUTS(info_nce_inputs),
    LK_DESC_PARAMS(info_nce_params),
    .examples = info_nce_examples,
    .output = LK_OUTPUT_PER_ANCHOR,
    .check = info_nce_check,
    .compute = info_nce_compute,
    .takes_upstream = 1,
    .none_shape = per_query,
};

const lk_loss_desc lk_loss_info_nce_in_batch = {
    .name = "info_nce_in_batch",
    .category = LK_CATEGORY_GENERAL,
    .summary = "InfoNCE without explicit negatives: each query against all positive keys of "
               "the batch, its own being the positive",
    .formula = "loss_i = -l_ii + log sum_j exp l_ij, l_ij = q_i.p_j / T "
               "(rows L2-normalized with normalize=true)",
    .reference = NCE_REFERENCE,
    .notes = "info-nce-pytorch's InfoNCE with negative_keys=None: the logits are q p^T / T and "
             "query i's label is i. The mean is over the queries.",
    LK_DESC_INPUTS(info_nce_in_batch_inputs),
    LK_DESC_PARAMS(info_nce_in_batch_params),
    .examples = info_nce_in_batch_examples,
    .output = LK_OUTPUT_PER_ANCHOR,
    .compute = info_nce_in_batch_compute,
    .takes_upstream = 1,
    .none_shape = per_query,
};

#endif
