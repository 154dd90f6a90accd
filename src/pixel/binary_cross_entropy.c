/*
 * Binary cross-entropy for multi-label maps —
 * torch.nn.functional.binary_cross_entropy_with_logits (activation=sigmoid)
 * and binary_cross_entropy (activation=none).
 *
 *   loss = -w[c] * (pw[c] * t * log p + (1 - t) * log(1 - p)),  p = sigmoid(x)
 *   mean = sum / number of elements
 *
 *   With logits, in the overflow-free form PyTorch uses:
 *     loss = w * ((pw t + 1 - t) * softplus(-x) + (1 - t) * x)
 *     d loss / d x = w * ((pw t + 1 - t) * sigmoid(x) - pw t)
 *
 * Every element is its own binary problem; c is the element's index on axis 1
 * (the class). t may be soft (in [0, 1]) or an integer 0/1 mask.
 *
 * Reference: the Bernoulli negative log-likelihood; pos_weight as in PyTorch's
 * BCEWithLogitsLoss (a weight on the positive term, e.g. negatives/positives
 * for a class).
 *
 * Conventions:
 *   - weight and pos_weight are per class along axis 1 (one value, or one per
 *     class). PyTorch broadcasts them from the last dimension instead, so a
 *     per-class pos_weight for (N, C, H, W) maps must be shaped (C, 1, 1) there.
 *   - activation=none: probabilities are clamped at the smallest normal number
 *     before the logs (PyTorch's binary_cross_entropy clamps log at -100).
 */
#ifndef LK_REAL
#include "core/hot.h"
#include "core/vecmath.h"
#include "pixel/pixel.h"

enum { P_WEIGHT, P_POS_WEIGHT, P_REDUCTION, P_ACTIVATION, P_COUNT };

#define LK_TYPED_FILE "pixel/binary_cross_entropy.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

LK_HOT static void LK_T(bce_rule)(const lk_elementwise_block *block, const void *config)
{
    const lk_real *restrict x = block->input, *restrict t = block->target;
    const lk_real *restrict w = block->class_value[0], *restrict pw = block->class_value[1];
    lk_real *restrict loss = block->loss, *restrict grad = block->grad;
    (void)config;
    if (block->mode == LK_INPUT_LOGITS) {
        for (int j = 0; j < block->len; j++) {
            lk_real p, q, neg_log_p;
            lk_logistic(x[j], &p, &q, &neg_log_p);
            lk_real positive = pw[j] * t[j], negative = 1 - t[j];
            loss[j] = w[j] * ((positive + negative) * neg_log_p + negative * x[j]);
            grad[j] = w[j] * ((positive + negative) * p - positive);
        }
    } else {
        for (int j = 0; j < block->len; j++) {
            lk_real p = x[j], q = 1 - x[j];
            lk_real positive = pw[j] * t[j], negative = 1 - t[j];
            loss[j] = -w[j] * (positive * lk_log_clamped(p) + negative * lk_log_clamped(q));
            grad[j] = -w[j] * (positive * lk_inverse_clamped(p) - negative * lk_inverse_clamped(q));
        }
    }
}

#endif /* typed section */

#ifndef LK_REAL

static const size_t class_tables[] = {P_WEIGHT, P_POS_WEIGHT};

static lk_status bce_check(const lk_call *call)
{
    return lk_check_class_lists(call, class_tables, 2);
}

static lk_status bce_compute(const lk_call *call)
{
    return lk_elementwise_loss(call, bce_rule_f32, bce_rule_f64, NULL, P_ACTIVATION,
                               class_tables, 2);
}

static const lk_input_info bce_inputs[] = {LK_INPUT_ELEMENT_SCORES, LK_INPUT_BINARY_TARGETS};

static const lk_param_info bce_params[P_COUNT] = {
    [P_WEIGHT] = LK_PARAM_CLASS_WEIGHT("weight of each class (axis 1): one value, or one per "
                                       "class ([] = 1)"),
    [P_POS_WEIGHT] = {"pos_weight", LK_PARAM_FLOAT_LIST, "[]", 0, INFINITY, 0, NULL,
                      "weight of the positive term of each class (axis 1): one value, or one "
                      "per class ([] = 1)"},
    [P_REDUCTION] = LK_PARAM_REDUCTION("mean", "sum divided by the number of elements"),
    [P_ACTIVATION] = LK_PARAM_SIGMOID_ACTIVATION,
};

static const char *const bce_examples[] = {
    "",
    "pos_weight=[2,0.5,1]",
    "weight=[0.5,1,2],reduction=sum",
    "reduction=none,pos_weight=[3]",
    "activation=none",
    "activation=none,pos_weight=[0.5,2,1],weight=[2]",
    NULL,
};

const lk_loss_desc lk_loss_binary_cross_entropy = {
    .name = "binary_cross_entropy",
    .category = LK_CATEGORY_PIXEL,
    .summary = "Binary cross-entropy per element, for multi-label maps "
               "(torch.nn.functional.binary_cross_entropy_with_logits)",
    .formula = "loss = -w[c] (pw[c] t log p + (1-t) log(1-p)), p = sigmoid(x); "
               "mean over elements",
    .reference = "Bernoulli negative log-likelihood; pos_weight as in PyTorch's BCEWithLogitsLoss",
    .notes = "weight and pos_weight are per class along axis 1 (PyTorch broadcasts them from "
             "the last axis). activation=none clamps probabilities at the smallest normal number.",
    LK_DESC_INPUTS(bce_inputs),
    LK_DESC_PARAMS(bce_params),
    .examples = bce_examples,
    .output = LK_OUTPUT_PER_ELEMENT,
    .check = bce_check,
    .compute = bce_compute,
};

#endif
