/*
 * TopK cross-entropy — the loss of only the hardest pixels (bootstrapped CE).
 *
 *   l_i  = -w[y_i] log p_i[y_i]                   per pixel (not ignored)
 *   K    = the k% largest l_i, |K| = max(1, floor(n k / 100)) of the n pixels
 *          not ignored; ties at the threshold go to the lowest pixel indices
 *   loss = sum_{i in K} l_i / |K|   (mean)   or   sum_{i in K} l_i   (sum)
 *   d loss / d input = the cross-entropy gradient of the pixels in K, 0 elsewhere
 *
 * Reference: Z. Wu, C. Shen, A. van den Hengel, "Bridging Category-level and
 * Instance-level Semantic Image Segmentation", arXiv:1605.06885 (2016); the
 * k% form of the 2023 survey (seed 002, eq. 3) and of nnU-Net's TopKLoss
 * (k = 10). Seed 001's threshold form (pixels with p < t) is the same idea.
 *
 * Selection is exact and linear-time (radix select, core/select.c), not a
 * sort. Conventions: k% of the pixels *not ignored* (nnU-Net counts every
 * voxel); deterministic tie-breaking (torch.topk's is unspecified). Two passes
 * over the input: losses, then the gradient of the selected pixels.
 */
#ifndef LK_REAL
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/hot.h"
#include "core/select.h"
#include "pixel/cross_entropy.h"
#include "pixel/pixel.h"

enum { P_K, P_WEIGHT, P_IGNORE_INDEX, P_REDUCTION, P_ACTIVATION, P_COUNT };
enum { TOPK_MEAN = 0, TOPK_SUM = 1 };

typedef struct topk_config {
    lk_ce_config ce;
    const void *pixel_losses; /* from the first pass; -1 where ignored */
    double threshold;         /* the |K|-th largest loss */
    int64_t tie_cutoff;       /* pixels equal to the threshold are selected up to here */
} topk_config;

#define LK_TYPED_FILE "pixel/topk_cross_entropy.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

LK_HOT static void LK_T(topk_rule)(const lk_softmax_block *block, const void *config_ptr)
{
    const topk_config *config = config_ptr;
    LK_T(lk_ce_label_rule)(block, &config->ce);
    const lk_real *restrict losses = (const lk_real *)config->pixel_losses + block->first_pixel;
    lk_real *restrict loss = block->loss, *restrict a = block->coef_prob;
    lk_real *restrict b = block->coef_label;
    lk_real threshold = (lk_real)config->threshold;
    int64_t last_tie = config->tie_cutoff - block->first_pixel;
    for (int j = 0; j < block->len; j++) {
        int chosen = losses[j] > threshold || (losses[j] == threshold && j <= last_tie);
        loss[j] = chosen ? loss[j] : 0;
        a[j] = chosen ? a[j] : 0;
        b[j] = chosen ? b[j] : 0;
    }
}

#endif /* typed section */

#ifndef LK_REAL

static lk_status topk_check(const lk_call *call)
{
    return lk_check_class_list(call, P_WEIGHT, 0);
}

/* The selection from the first pass's losses: threshold and tie cutoff. */
static lk_status select_hardest(const lk_call *call, const void *losses, int64_t chosen,
                                topk_config *config)
{
    int64_t pixels = call->batch * call->spatial;
    lk_dtype dtype = call->inputs[0].dtype;
    lk_order_statistic statistic;
    lk_status status = lk_kth_largest(call->ctx, losses, dtype, pixels, chosen, &statistic);
    if (status != LK_OK) return status;
    int64_t ties_needed = chosen - statistic.above;
    config->threshold = statistic.value;
    config->tie_cutoff = ties_needed < statistic.equal
                             ? lk_nth_equal_index(losses, dtype, pixels, statistic.value, ties_needed)
                             : pixels - 1;
    return LK_OK;
}

static lk_status topk_compute(const lk_call *call)
{
    int64_t pixels = call->batch * call->spatial;
    double *weight = lk_class_factors(call, P_WEIGHT);
    void *losses = malloc((size_t)pixels * lk_dtype_size(call->inputs[0].dtype));
    lk_status status = weight && losses ? LK_OK : lk_fail(LK_ENOMEM, "out of memory");
    topk_config config = {{0, weight, 1, 0}, losses, 0, -1};
    for (int64_t c = 0; weight && c < call->classes; c++) config.ce.uniform &= weight[c] == 1;
    lk_softmax_job job = {.rule_f32 = lk_ce_label_rule_f32, .rule_f64 = lk_ce_label_rule_f64,
                          .config = &config.ce};
    lk_softmax_job_from_call(call, &job, P_ACTIVATION, P_IGNORE_INDEX);
    void *grad = job.grad;
    job.grad = NULL;
    job.pixel_loss = losses;
    job.ignored_loss = -1;
    if (status == LK_OK) status = lk_softmax_run(call->ctx, &job);
    if (status == LK_OK && !isfinite(job.loss_sum)) status = lk_report_nonfinite(call, job.loss_sum);
    int64_t chosen = (int64_t)floor((double)job.valid_pixels * lk_param_float(call->params, P_K) / 100);
    chosen = chosen < 1 ? 1 : chosen;
    double scale = lk_param_choice(call->params, P_REDUCTION) == TOPK_SUM ? 1 : 1.0 / (double)chosen;
    job.loss_sum = 0;
    if (status == LK_OK && job.valid_pixels == 0) {
        if (grad) memset(grad, 0, (size_t)lk_numel(&call->inputs[0]) * lk_dtype_size(call->inputs[0].dtype));
    } else if (status == LK_OK) {
        status = select_hardest(call, losses, chosen, &config);
        job.rule_f32 = topk_rule_f32;
        job.rule_f64 = topk_rule_f64;
        job.config = &config;
        job.pixel_loss = NULL;
        job.grad = grad;
        job.grad_scale = scale;
        if (status == LK_OK) status = lk_softmax_run(call->ctx, &job);
    }
    if (status == LK_OK) status = lk_finish_loss(call, job.loss_sum, scale);
    free(weight);
    free(losses);
    return status;
}

static const lk_input_info topk_inputs[] = {LK_INPUT_SCORES, LK_INPUT_LABELS};

static const lk_param_info topk_params[P_COUNT] = {
    [P_K] = {"k", LK_PARAM_FLOAT, "10", 0, 100, LK_RANGE_MIN_OPEN, NULL,
             "percentage of the pixels (not ignored) kept: those with the largest loss"},
    [P_WEIGHT] = LK_PARAM_CLASS_WEIGHT("per-class weights, one per class ([] = 1), applied "
                                       "before the selection as in nnU-Net"),
    [P_IGNORE_INDEX] = LK_PARAM_IGNORE_INDEX,
    [P_REDUCTION] = {"reduction", LK_PARAM_CHOICE, "mean", 0, 0, 0, "mean|sum",
                     "mean: the sum over the kept pixels divided by their number; sum: the sum"},
    [P_ACTIVATION] = LK_PARAM_SOFTMAX_ACTIVATION,
};

static const char *const topk_examples[] = {
    "",
    "k=50",
    "k=100",
    "k=1,reduction=sum",
    "k=30,weight=[0.5,2,1]",
    "k=20,ignore_index=1",
    "activation=none,k=40",
    NULL,
};

const lk_loss_desc lk_loss_topk_cross_entropy = {
    .name = "topk_cross_entropy",
    .category = LK_CATEGORY_PIXEL,
    .summary = "Cross-entropy over the k% hardest pixels (TopK loss, nnU-Net's TopKLoss)",
    .formula = "loss = mean of the k% largest -w[y_i] log p_i[y_i] over pixels not ignored",
    .reference = "Z. Wu, C. Shen, A. van den Hengel, arXiv:1605.06885 (2016); J. Ma, "
                 "Segmentation Loss Odyssey (2020), eq. 4",
    .notes = "k% of the pixels not ignored (nnU-Net: of all voxels), at least one; ties at the "
             "threshold go to the lowest indices. Exact linear-time selection.",
    LK_DESC_INPUTS(topk_inputs),
    LK_DESC_PARAMS(topk_params),
    .examples = topk_examples,
    .output = LK_OUTPUT_SCALAR,
    .check = topk_check,
    .compute = topk_compute,
};

#endif
