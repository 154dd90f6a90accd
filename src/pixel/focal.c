/*
 * Focal loss, multi-class (softmax).
 *
 *   Class-index targets y:
 *     loss_i = -f[y_i] (1 - p_i[y_i])^gamma log p_i[y_i]
 *   Per-class probability targets t (one-hot or soft, as MONAI's FocalLoss):
 *     loss_i = -sum_c f[c] t_i[c] (1 - p_i[c])^gamma log p_i[c]
 *   f[c] = alpha_factor[c] * weight[c]; mean = sum_i loss_i / pixels not ignored.
 *   alpha: [] (no alpha), [a] (1 - a for class 0, a for the others, as MONAI and
 *   kornia), or one value per class.
 *
 * Gradient (softmax, label y, q = 1 - p[y]):
 *   d loss / d input[c] = G (p[c] - [c == y]),
 *   G = f[y] q^gamma (1 - gamma p[y] log p[y] / q),
 * with log p / q -> -1 as q -> 0, so the gradient is finite for every gamma >= 0
 * (kornia detaches (1-p)^gamma where it saturates to avoid the same 0 * inf);
 * q is computed as the sum of the other classes' probabilities, accurate where
 * p[y] is close to 1.
 *
 * Reference: T.-Y. Lin, P. Goyal, R. Girshick, K. He, P. Dollar, "Focal Loss
 * for Dense Object Detection", ICCV 2017; eq. (5) of J. Ma, "Segmentation Loss
 * Odyssey" (2020).
 *
 * Conventions: mean divides by the number of pixels (not ignored). MONAI's and
 * kornia's "mean" also divide by the number of classes (their loss map has a
 * class axis): theirs = ours / C. kornia counts ignored pixels in the divisor.
 */
#ifndef LK_REAL
#include <stdlib.h>

#include "core/hot.h"
#include "core/vecmath.h"
#include "pixel/pixel.h"

enum { P_GAMMA, P_ALPHA, P_WEIGHT, P_IGNORE_INDEX, P_REDUCTION, P_ACTIVATION, P_COUNT };

typedef struct focal_config {
    double gamma;
    const double *factor; /* alpha factor x weight, per class */
    int uniform;          /* every factor is 1 */
} focal_config;

#define LK_TYPED_FILE "pixel/focal.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

/* log(p) / q, -1 where q = 0 (its limit as p -> 1). */
static inline lk_real LK_T(log_ratio)(lk_real log_p, lk_real q)
{
    return q > 0 ? log_p / q : -1;
}

LK_HOT static void LK_T(focal_label_rule)(const lk_softmax_block *block, const void *config_ptr)
{
    const focal_config *config = config_ptr;
    const lk_real *restrict p = block->prob_label, *restrict log_p = block->logp_label;
    const lk_real *restrict q = block->rest_label;
    const int32_t *restrict label = block->label;
    lk_real *restrict loss = block->loss, *restrict a = block->coef_prob;
    lk_real *restrict b = block->coef_label;
    lk_real gamma = (lk_real)config->gamma;
    int logits = block->mode == LK_INPUT_LOGITS;
    lk_real factor[LK_SOFTMAX_BLOCK];
    for (int j = 0; j < block->len; j++) factor[j] = config->uniform ? 1 : 0;
    for (int c = 0; !config->uniform && c < block->classes; c++) {
        lk_real f = (lk_real)config->factor[c];
        for (int j = 0; j < block->len; j++) factor[j] += label[j] == c ? f : 0;
    }
    lk_real scaled[LK_SOFTMAX_BLOCK], ratio[LK_SOFTMAX_BLOCK];
    lk_pow_array(q, gamma, scaled, block->len);
    for (int j = 0; j < block->len; j++) {
        ratio[j] = LK_T(log_ratio)(log_p[j], q[j]);
        scaled[j] *= factor[j];
        loss[j] = -scaled[j] * log_p[j];
    }
    if (logits) {
        for (int j = 0; j < block->len; j++) a[j] = b[j] = scaled[j] * (1 - gamma * p[j] * ratio[j]);
    } else {
        for (int j = 0; j < block->len; j++) {
            a[j] = 0;
            b[j] = scaled[j] * (lk_inverse_clamped(p[j]) - gamma * ratio[j]);
        }
    }
}

LK_HOT static void LK_T(focal_dense_rule)(const lk_softmax_block *block, const void *config_ptr)
{
    const focal_config *config = config_ptr;
    lk_real *restrict loss = block->loss, *restrict a = block->coef_prob;
    lk_real *restrict b = block->coef_label;
    lk_real gamma = (lk_real)config->gamma;
    int logits = block->mode == LK_INPUT_LOGITS;
    for (int j = 0; j < block->len; j++) loss[j] = a[j] = b[j] = 0;
    for (int c = 0; c < block->classes; c++) {
        lk_real f = (lk_real)config->factor[c];
        const lk_real *restrict t = (const lk_real *)block->target + c * block->source_stride;
        const lk_real *restrict p = (const lk_real *)block->prob + c * block->stride;
        const lk_real *restrict log_p = (const lk_real *)block->logp + c * block->stride;
        lk_real *restrict e = (lk_real *)block->coef_class + c * block->stride;
        lk_real q[LK_SOFTMAX_BLOCK], scaled[LK_SOFTMAX_BLOCK], ratio[LK_SOFTMAX_BLOCK];
        for (int j = 0; j < block->len; j++) q[j] = 1 - p[j];
        lk_pow_array(q, gamma, scaled, block->len);
        for (int j = 0; j < block->len; j++) {
            ratio[j] = LK_T(log_ratio)(log_p[j], q[j]);
            scaled[j] *= f * t[j];
            loss[j] -= scaled[j] == 0 ? 0 : scaled[j] * log_p[j];
        }
        if (logits) {
            for (int j = 0; j < block->len; j++) {
                e[j] = scaled[j] * (1 - gamma * p[j] * ratio[j]);
                a[j] += e[j];
            }
        } else {
            for (int j = 0; j < block->len; j++)
                e[j] = scaled[j] * (lk_inverse_clamped(p[j]) - gamma * ratio[j]);
        }
    }
}

#endif /* typed section */

#ifndef LK_REAL

static lk_status focal_check(const lk_call *call)
{
    size_t count;
    const double *alpha = lk_param_list(call->params, P_ALPHA, &count);
    if (count == 1 && alpha[0] > 1)
        return lk_fail(LK_EPARAM,
                       "loss 'focal': parameter 'alpha' = [%.17g]: a single alpha must lie in "
                       "[0, 1] (1 - alpha weighs class 0, alpha the others)",
                       alpha[0]);
    lk_status status = lk_check_class_list(call, P_ALPHA, 1);
    return status == LK_OK ? lk_check_class_list(call, P_WEIGHT, 1) : status;
}

/* alpha factor x weight, per class. */
static double *class_factors(const lk_call *call)
{
    double *factor = lk_class_factors(call, P_WEIGHT);
    size_t count;
    const double *alpha = lk_param_list(call->params, P_ALPHA, &count);
    for (int64_t c = 0; factor && count > 0 && c < call->classes; c++)
        factor[c] *= count == 1 ? (c == 0 ? 1 - alpha[0] : alpha[0]) : alpha[c];
    return factor;
}

static lk_status focal_compute(const lk_call *call)
{
    double *factor = class_factors(call);
    if (!factor) return LK_ENOMEM;
    focal_config config = {lk_param_float(call->params, P_GAMMA), factor, 1};
    for (int64_t c = 0; c < call->classes; c++) config.uniform &= factor[c] == 1;
    static const lk_softmax_rules rules = {focal_label_rule_f32, focal_label_rule_f64,
                                           focal_dense_rule_f32, focal_dense_rule_f64};
    lk_status status = lk_softmax_label_or_dense_loss(call, &config, &rules, P_ACTIVATION, P_IGNORE_INDEX);
    free(factor);
    return status;
}

static const lk_input_info focal_inputs[] = {LK_INPUT_SCORES, LK_INPUT_LABELS_OR_DISTRIBUTIONS};

static const lk_param_info focal_params[P_COUNT] = {
    [P_GAMMA] = {"gamma", LK_PARAM_FLOAT, "2", 0, INFINITY, 0, NULL,
                 "focusing exponent of (1 - p); 0 gives cross-entropy"},
    [P_ALPHA] = {"alpha", LK_PARAM_FLOAT_LIST, "[]", 0, INFINITY, 0, NULL,
                 "[] none; [a]: 1-a for class 0 and a for the others (MONAI, kornia); or one "
                 "factor per class"},
    [P_WEIGHT] = LK_PARAM_CLASS_WEIGHT("per-class weights: one value, or one per class "
                                       "([] = 1)"),
    [P_IGNORE_INDEX] = LK_PARAM_IGNORE_INDEX,
    [P_REDUCTION] = LK_PARAM_REDUCTION("mean", "sum divided by the number of pixels not ignored"),
    [P_ACTIVATION] = LK_PARAM_SOFTMAX_ACTIVATION,
};

static const char *const focal_examples[] = {
    "",
    "gamma=0",
    "gamma=0.5,alpha=[0.25]",
    "gamma=3,alpha=[0.2,0.5,0.3],weight=[1,2,0.5]",
    "ignore_index=0,reduction=sum",
    "reduction=none,gamma=1",
    "activation=none",
    "activation=none,gamma=1.5,alpha=[0.75]",
    NULL,
};

const lk_loss_desc lk_loss_focal = {
    .name = "focal",
    .category = LK_CATEGORY_PIXEL,
    .summary = "Multi-class focal loss over a softmax (MONAI FocalLoss(use_softmax=True), "
               "kornia focal_loss)",
    .formula = "loss_i = -alpha[y_i] (1 - p_i[y_i])^gamma log p_i[y_i]; mean over pixels not "
               "ignored",
    .reference = "T.-Y. Lin et al., Focal Loss for Dense Object Detection, ICCV 2017",
    .notes = "mean divides by pixels, not pixels x classes (MONAI's and kornia's mean = ours / "
             "C). A single alpha weighs class 0 by 1-alpha and the others by alpha.",
    LK_DESC_INPUTS(focal_inputs),
    LK_DESC_PARAMS(focal_params),
    .examples = focal_examples,
    .output = LK_OUTPUT_PER_PIXEL,
    .check = focal_check,
    .compute = focal_compute,
};

#endif
