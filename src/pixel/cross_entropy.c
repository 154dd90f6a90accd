/*
 * Cross-entropy — PyTorch's torch.nn.functional.cross_entropy, exactly.
 *
 *   Class-index targets y (with weights w, label smoothing eps, C classes):
 *     loss_i = (1 - eps) * w[y_i] * (-log p_i[y_i])
 *              + (eps / C) * sum_c w[c] * (-log p_i[c])
 *     mean   = sum_i loss_i / sum_i w[y_i]      (over pixels not ignored)
 *   Per-class probability targets t (one-hot or soft):
 *     t'     = (1 - eps) * t + eps / C
 *     loss_i = -sum_c w[c] * t'_i[c] * log p_i[c]
 *     mean   = sum_i loss_i / (N * spatial)
 *   p = softmax(input) over the class axis (activation=softmax), or the input
 *   itself (activation=none).
 *
 * Reference: the standard negative log-likelihood; the pixel-wise form for
 * segmentation is eq. (2) of J. Ma, "Segmentation Loss Odyssey" (2020), and
 * eq. (1) of the 2023 survey (seed 002). Label smoothing: Szegedy et al.,
 * "Rethinking the Inception Architecture" (CVPR 2016).
 *
 * Gradient (softmax): d loss_i / d input[c] = a_i p[c] - b_i [c == y_i] - e[c]
 *   with a_i = (1 - eps) w[y_i] + (eps / C) sum_k w[k], b_i = (1 - eps) w[y_i],
 *   e[c] = (eps / C) w[c]; dense: a_i = sum_k w[k] t'[k], e_i[c] = w[c] t'_i[c].
 *
 * Conventions (where we differ from PyTorch, on purpose):
 *   - every pixel ignored: the mean is 0 with a zero gradient (PyTorch: NaN);
 *   - dense targets: a class with t' = 0 adds 0 even where log p = -inf
 *     (PyTorch: 0 * -inf = NaN);
 *   - activation=none: probabilities below the smallest normal number are
 *     clamped to it before the log (zero gradient there), so the loss stays
 *     finite; inputs outside [0, 1] are rejected.
 * Dense targets must lie in [0, 1]; their rows need not sum to 1 (as in
 * PyTorch). Gradients are returned for the input, not for the target.
 */
#ifndef LK_REAL
#include "pixel/cross_entropy.h"

#include <stdlib.h>

#include "core/hot.h"
#include "core/vecmath.h"
#include "pixel/pixel.h"

enum { P_WEIGHT, P_IGNORE_INDEX, P_LABEL_SMOOTHING, P_REDUCTION, P_ACTIVATION, P_COUNT };

#define LK_TYPED_FILE "pixel/cross_entropy.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

/* The weight of each pixel's labelled class, by selection over classes. */
static inline void LK_T(label_weight)(const lk_softmax_block *block, const lk_ce_config *config,
                                      lk_real *restrict out)
{
    const double *weight = config->weight;
    const int32_t *restrict label = block->label;
    if (config->uniform) {
        for (int j = 0; j < block->len; j++) out[j] = 1;
        return;
    }
    for (int j = 0; j < block->len; j++) out[j] = 0;
    for (int c = 0; c < block->classes; c++) {
        lk_real w = (lk_real)weight[c];
        for (int j = 0; j < block->len; j++) out[j] += label[j] == c ? w : 0;
    }
}

LK_HOT void LK_T(lk_ce_label_rule)(const lk_softmax_block *block, const void *config_ptr)
{
    const lk_ce_config *config = config_ptr;
    const lk_real *restrict logp_label = block->logp_label, *restrict prob_label = block->prob_label;
    lk_real *restrict loss = block->loss, *restrict a = block->coef_prob, *restrict b = block->coef_label;
    int len = block->len, logits = block->mode == LK_INPUT_LOGITS;
    lk_real keep = (lk_real)(1 - config->smoothing);
    lk_real spread = (lk_real)(config->smoothing / block->classes);
    lk_real spread_total = (lk_real)(config->smoothing / block->classes * config->weight_sum);
    lk_real w_label[LK_SOFTMAX_BLOCK];
    LK_T(label_weight)(block, config, w_label);
    for (int j = 0; j < len; j++) loss[j] = -keep * w_label[j] * logp_label[j];
    if (logits) {
        for (int j = 0; j < len; j++) {
            a[j] = keep * w_label[j] + spread_total;
            b[j] = keep * w_label[j];
        }
    } else {
        for (int j = 0; j < len; j++) {
            a[j] = 0;
            b[j] = keep * w_label[j] * lk_inverse_clamped(prob_label[j]);
        }
    }
    if (config->smoothing == 0) return;
    for (int c = 0; c < block->classes; c++) {
        lk_real w = spread * (lk_real)config->weight[c];
        const lk_real *restrict logp = (const lk_real *)block->logp + c * block->stride;
        const lk_real *restrict prob = (const lk_real *)block->prob + c * block->stride;
        lk_real *restrict e = (lk_real *)block->coef_class + c * block->stride;
        for (int j = 0; j < len; j++) loss[j] -= w * logp[j];
        if (logits)
            for (int j = 0; j < len; j++) e[j] = w;
        else
            for (int j = 0; j < len; j++) e[j] = w * lk_inverse_clamped(prob[j]);
    }
}

LK_HOT void LK_T(lk_ce_dense_rule)(const lk_softmax_block *block, const void *config_ptr)
{
    const lk_ce_config *config = config_ptr;
    lk_real *restrict loss = block->loss, *restrict a = block->coef_prob, *restrict b = block->coef_label;
    int len = block->len, logits = block->mode == LK_INPUT_LOGITS;
    lk_real keep = (lk_real)(1 - config->smoothing);
    lk_real spread = (lk_real)(config->smoothing / block->classes);
    for (int j = 0; j < len; j++) loss[j] = a[j] = b[j] = 0;
    for (int c = 0; c < block->classes; c++) {
        lk_real w = (lk_real)config->weight[c];
        size_t row = (size_t)c * (size_t)block->stride;
        const lk_real *restrict target = (const lk_real *)block->target + c * block->source_stride;
        const lk_real *restrict logp = (const lk_real *)block->logp + row;
        const lk_real *restrict prob = (const lk_real *)block->prob + row;
        lk_real *restrict e = (lk_real *)block->coef_class + row;
        for (int j = 0; j < len; j++) {
            e[j] = w * (keep * target[j] + spread); /* the mass of class c */
            loss[j] -= e[j] == 0 ? 0 : e[j] * logp[j];
        }
        if (logits)
            for (int j = 0; j < len; j++) a[j] += e[j];
        else
            for (int j = 0; j < len; j++) e[j] *= lk_inverse_clamped(prob[j]);
    }
}

#endif /* typed section */

#ifndef LK_REAL

static lk_status ce_check(const lk_call *call)
{
    return lk_check_class_list(call, P_WEIGHT, 0);
}

static lk_status ce_compute(const lk_call *call)
{
    double *weight = lk_class_factors(call, P_WEIGHT);
    if (!weight) return LK_ENOMEM;
    lk_ce_config config = {lk_param_float(call->params, P_LABEL_SMOOTHING), weight, 1, 0};
    for (int64_t c = 0; c < call->classes; c++) {
        config.weight_sum += weight[c];
        config.uniform &= weight[c] == 1;
    }
    lk_softmax_job job = {.config = &config};
    lk_softmax_job_from_call(call, &job, P_ACTIVATION, P_IGNORE_INDEX);
    int labels = job.labels != NULL;
    job.rule_f32 = labels ? lk_ce_label_rule_f32 : lk_ce_dense_rule_f32;
    job.rule_f64 = labels ? lk_ce_label_rule_f64 : lk_ce_dense_rule_f64;
    job.uses_class_coef = !labels || config.smoothing > 0;
    job.needs_distribution = job.uses_class_coef;
    size_t weight_count;
    lk_param_list(call->params, P_WEIGHT, &weight_count);
    double divisor;
    lk_status status = lk_softmax_run_reduced(call, &job, weight_count ? weight : NULL, &divisor);
    if (status == LK_OK) status = lk_finish_loss(call, job.loss_sum, divisor > 0 ? 1 / divisor : 0);
    free(weight);
    return status;
}

static const lk_input_info ce_inputs[] = {LK_INPUT_SCORES, LK_INPUT_LABELS_OR_DISTRIBUTIONS};

static const lk_param_info ce_params[P_COUNT] = {
    [P_WEIGHT] = LK_PARAM_CLASS_WEIGHT("per-class weights, one per class ([] = all 1)"),
    [P_IGNORE_INDEX] = LK_PARAM_IGNORE_INDEX,
    [P_LABEL_SMOOTHING] = {"label_smoothing", LK_PARAM_FLOAT, "0", 0, 1, 0, NULL,
                           "mix of the target with the uniform distribution (PyTorch's "
                           "label_smoothing)"},
    [P_REDUCTION] = LK_PARAM_REDUCTION("mean", "sum divided by the total weight of the pixels not "
                                               "ignored (by N x spatial for per-class targets)"),
    [P_ACTIVATION] = LK_PARAM_SOFTMAX_ACTIVATION,
};

static const char *const ce_examples[] = {
    "",
    "label_smoothing=0.1",
    "weight=[0.2,1,3]",
    "weight=[0.5,2,1],label_smoothing=0.2,reduction=sum",
    "ignore_index=1",
    "reduction=none,label_smoothing=0.05",
    "activation=none",
    "activation=none,label_smoothing=0.1,weight=[1,2,0.5]",
    NULL,
};

const lk_loss_desc lk_loss_cross_entropy = {
    .name = "cross_entropy",
    .category = LK_CATEGORY_PIXEL,
    .summary = "Cross-entropy with class weights, ignore_index and label smoothing "
               "(torch.nn.functional.cross_entropy)",
    .formula = "loss_i = (1-eps) w[y_i] (-log p_i[y_i]) + (eps/C) sum_c w[c] (-log p_i[c]); "
               "mean = sum_i loss_i / sum_i w[y_i]",
    .reference = "Cross-entropy as in J. Ma, Segmentation Loss Odyssey (2020), eq. 2; "
                 "label smoothing: Szegedy et al., CVPR 2016",
    .notes = "Matches PyTorch's cross_entropy, including weighted means and label smoothing. "
             "All pixels ignored: 0 with zero gradient (PyTorch: NaN). Dense targets: 0 log 0 = 0.",
    LK_DESC_INPUTS(ce_inputs),
    LK_DESC_PARAMS(ce_params),
    .examples = ce_examples,
    .output = LK_OUTPUT_PER_PIXEL,
    .check = ce_check,
    .compute = ce_compute,
};

#endif
