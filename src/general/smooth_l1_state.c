/*
 * The beta schedules of the smooth L1 losses (include/losskit.h): training
 * state that the caller keeps between steps, outside the registry's pure
 * loss calls.
 *
 * Dynamic R-CNN — mmdetection's DynamicRoIHead (beta_topk = 10,
 * update_iter_interval = 100, initial_beta = 1): each iteration records
 * torch.kthvalue(mean(|targets[pos, :2]|, dim=1), min(beta_topk * images,
 * n_pos)); every interval, beta = min(initial_beta, np.median(records)),
 * unchanged if that median is below 1e-15.
 *
 * Self-adjusting smooth L1 — RetinaMask's AdjustSmoothL1Loss (momentum 0.1,
 * beta 1/9): running mean and unbiased variance of |input - target| per
 * column, updated before each loss, beta = clamp(mean - var, 1e-3, 1/9).
 * RetinaMask keeps the statistics in float32 buffers; here they are double.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/select.h"
#include "core/tensor.h"
#include "losskit.h"

#define DYNAMIC_BETA_EPS 1e-15
#define SELF_ADJUSTING_BETA_MIN 1e-3

/* A float (n, K >= min_columns) tensor whose values are all finite. */
static lk_status check_matrix(const char *name, const lk_tensor *t, int64_t min_columns)
{
    if (!t) return lk_fail(LK_EINVAL, "%s is NULL", name);
    lk_status status = lk_check_tensor_header("input", name, t);
    if (status != LK_OK) return status;
    if (!lk_dtype_is_float(t->dtype))
        return lk_fail(LK_EDTYPE, "input '%s' must be float32 or float64; got %s", name,
                       lk_dtype_name(t->dtype));
    if (t->ndim != 2 || t->shape[1] < min_columns) {
        char got[LK_SHAPE_TEXT];
        return lk_fail(LK_ESHAPE, "input '%s' must be (n, K) with K >= %lld; got shape %s", name,
                       (long long)min_columns, lk_format_shape(t, got, sizeof got));
    }
    int64_t bad = lk_find_nonfinite(t);
    if (bad >= 0) {
        char where[LK_INDEX_TEXT];
        return lk_fail(LK_EVALUE, "input '%s'%s = %g: values must be finite", name,
                       lk_format_index(t, bad, where, sizeof where), lk_read_real(t, bad));
    }
    return LK_OK;
}

/* (|t[i, 0]| + |t[i, 1]|) / 2 of each row, in the tensor's dtype. */
static void row_errors(const lk_tensor *targets, void *out)
{
    int64_t rows = targets->shape[0], columns = targets->shape[1];
    if (targets->dtype == LK_F32) {
        const float *t = targets->data;
        for (int64_t i = 0; i < rows; i++)
            ((float *)out)[i] = (fabsf(t[i * columns]) + fabsf(t[i * columns + 1])) / 2;
    } else {
        const double *t = targets->data;
        for (int64_t i = 0; i < rows; i++)
            ((double *)out)[i] = (fabs(t[i * columns]) + fabs(t[i * columns + 1])) / 2;
    }
}

lk_status lk_dynamic_beta_statistic(const lk_tensor *targets, int64_t k, double *statistic)
{
    lk_status status = check_matrix("targets", targets, 2);
    if (status != LK_OK) return status;
    if (!statistic) return lk_fail(LK_EINVAL, "statistic is NULL");
    int64_t rows = targets->shape[0];
    if (k < 1 || k > rows)
        return lk_fail(LK_EINVAL, "k = %lld is outside [1, %lld] (the rows of 'targets'; the "
                       "reference takes min(beta_topk * images, positives))", (long long)k,
                       (long long)rows);
    void *errors = malloc((size_t)rows * lk_dtype_size(targets->dtype));
    if (!errors) return lk_fail(LK_ENOMEM, "out of memory for %lld row errors", (long long)rows);
    row_errors(targets, errors);
    lk_order_statistic order;
    /* the k-th smallest of n is the (n - k + 1)-th largest */
    status = lk_kth_largest(NULL, errors, targets->dtype, rows, rows - k + 1, &order);
    free(errors);
    if (status == LK_OK) *statistic = order.value;
    return status;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

lk_status lk_dynamic_beta_update(const double *history, size_t n, double initial_beta,
                                 double current_beta, double *new_beta)
{
    if (!history || !new_beta) return lk_fail(LK_EINVAL, "%s is NULL", history ? "new_beta" : "history");
    if (n == 0) return lk_fail(LK_EINVAL, "history is empty: record at least one statistic");
    if (!(initial_beta > 0) || !isfinite(initial_beta) || !(current_beta > 0) || !isfinite(current_beta))
        return lk_fail(LK_EVALUE, "initial_beta = %g and current_beta = %g must be positive and "
                       "finite", initial_beta, current_beta);
    for (size_t i = 0; i < n; i++)
        if (!(history[i] >= 0) || !isfinite(history[i]))
            return lk_fail(LK_EVALUE, "history[%zu] = %g: statistics must be finite and >= 0", i,
                           history[i]);
    double *sorted = malloc(n * sizeof *sorted);
    if (!sorted) return lk_fail(LK_ENOMEM, "out of memory for %zu statistics", n);
    memcpy(sorted, history, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, compare_doubles);
    double median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    free(sorted);
    *new_beta = median < DYNAMIC_BETA_EPS ? current_beta : fmin(initial_beta, median);
    return LK_OK;
}

static lk_status check_state(const lk_self_adjusting_state *state)
{
    if (!state) return lk_fail(LK_EINVAL, "state is NULL");
    if (!state->running_mean || !state->running_var)
        return lk_fail(LK_EINVAL, "state's running_%s is NULL", state->running_mean ? "var" : "mean");
    if (state->n_features < 1)
        return lk_fail(LK_EINVAL, "n_features = %lld must be >= 1", (long long)state->n_features);
    if (!(state->momentum >= 0 && state->momentum <= 1))
        return lk_fail(LK_EINVAL, "momentum = %g is outside [0, 1]", state->momentum);
    if (!(state->beta_max > 0) || !isfinite(state->beta_max))
        return lk_fail(LK_EINVAL, "beta_max = %g must be positive and finite", state->beta_max);
    return LK_OK;
}

lk_status lk_self_adjusting_init(lk_self_adjusting_state *state, int64_t n_features,
                                 double beta_max, double momentum, double *running_mean,
                                 double *running_var)
{
    if (!state) return lk_fail(LK_EINVAL, "state is NULL");
    lk_self_adjusting_state filled = {n_features, momentum, beta_max, running_mean, running_var};
    lk_status status = check_state(&filled);
    if (status != LK_OK) return status;
    for (int64_t j = 0; j < n_features; j++) {
        running_mean[j] = beta_max;
        running_var[j] = 0;
    }
    *state = filled;
    return LK_OK;
}

/* Column j's mean and unbiased variance of |input - target| (two passes, in double). */
static void column_moments(const lk_tensor *input, const lk_tensor *target, int64_t j,
                           double *mean, double *variance)
{
    int64_t rows = input->shape[0], columns = input->shape[1];
    double sum = 0, squares = 0;
    for (int64_t i = 0; i < rows; i++)
        sum += fabs(lk_read_real(input, i * columns + j) - lk_read_real(target, i * columns + j));
    *mean = sum / (double)rows;
    for (int64_t i = 0; i < rows; i++) {
        double e = fabs(lk_read_real(input, i * columns + j) - lk_read_real(target, i * columns + j));
        squares += (e - *mean) * (e - *mean);
    }
    *variance = squares / (double)(rows - 1);
}

lk_status lk_self_adjusting_update(lk_self_adjusting_state *state, const lk_tensor *input,
                                   const lk_tensor *target)
{
    lk_status status = check_state(state);
    if (status == LK_OK) status = check_matrix("input", input, 1);
    if (status == LK_OK) status = check_matrix("target", target, 1);
    if (status != LK_OK) return status;
    if (input->shape[1] != state->n_features || !lk_same_shape(input, target) ||
        input->dtype != target->dtype) {
        char got_input[LK_SHAPE_TEXT], got_target[LK_SHAPE_TEXT];
        return lk_fail(LK_ESHAPE, "input %s %s and target %s %s must both be (N, %lld) of one dtype",
                       lk_dtype_name(input->dtype), lk_format_shape(input, got_input, sizeof got_input),
                       lk_dtype_name(target->dtype),
                       lk_format_shape(target, got_target, sizeof got_target),
                       (long long)state->n_features);
    }
    if (input->shape[0] < 2) return LK_OK; /* no unbiased variance of one row */
    for (int64_t j = 0; j < state->n_features; j++) {
        double mean, variance;
        column_moments(input, target, j, &mean, &variance);
        state->running_mean[j] = (1 - state->momentum) * state->running_mean[j] + state->momentum * mean;
        state->running_var[j] = (1 - state->momentum) * state->running_var[j] + state->momentum * variance;
    }
    return LK_OK;
}

lk_status lk_self_adjusting_beta(const lk_self_adjusting_state *state, double *beta)
{
    lk_status status = check_state(state);
    if (status != LK_OK) return status;
    if (!beta) return lk_fail(LK_EINVAL, "beta is NULL");
    for (int64_t j = 0; j < state->n_features; j++) {
        double value = state->running_mean[j] - state->running_var[j];
        if (!isfinite(value))
            return lk_fail(LK_EVALUE, "running_mean[%lld] - running_var[%lld] = %g is not finite",
                           (long long)j, (long long)j, value);
        beta[j] = fmin(fmax(value, SELF_ADJUSTING_BETA_MIN), state->beta_max);
    }
    return LK_OK;
}
