/*
 * Combo loss (Taghanaki et al.): a beta-weighted binary cross-entropy and
 * the Dice coefficient,
 *
 *   loss = alpha L_wbce - (1 - alpha) DSC
 *   L_wbce = -mean over elements of [beta t log p + (1 - beta) (1 - t) log(1 - p)]
 *   DSC    = mean over classes of (2 sum p t + smooth) / (sum p + sum t + smooth)
 *
 * p = sigmoid(x) per channel (or the input, activation=none: for a softmax's
 * probabilities, say); t the one-hot labels (the 0/1 mask with one channel)
 * or the dense target. beta > 1/2 penalizes false negatives more than false
 * positives; alpha trades the cross-entropy against Dice. Sums run over the
 * whole batch (batch=true, the reference's flattened tensors) or per image.
 *
 * Built as a weighted sum (core/terms.h): the weighted cross-entropy is this
 * file's element-wise rule (the element-wise driver), the Dice term the dice
 * loss, whose value is 1 - DSC: loss = alpha L_wbce + (1 - alpha) dice
 * - (1 - alpha), the constant kept so that the value is the paper's.
 *
 *   d L_wbce / dx = (beta t + (1 - beta)(1 - t)) p - beta t   (logits)
 *
 * Conventions: the paper's formula and the defaults of the authors' code
 * (github.com/asgsaeid/ComboLoss: alpha = beta = 0.5, smooth = 1, one Dice
 * over the flattened batch). That code adds the negative term with the
 * wrong sign (+ (1 - beta)(1 - t) log(1 - p)) and clips p to [1e-7,
 * 1 - 1e-7]; we follow the paper and clip nothing with logits. With several
 * channels the Dice is the mean of the per-class Dice (the reference flattens
 * the channels too: the same with one channel). github.com/mlyg/unified-
 * focal-loss's combo_loss weighs only the positive terms of a two-channel
 * softmax, beta on channel 0: not this formula.
 *
 * Reference: S. A. Taghanaki et al., "Combo loss: Handling input and output
 * imbalance in multi-organ segmentation", Computerized Medical Imaging and
 * Graphics 75 (2019).
 */
#ifndef LK_REAL
#include "compound/compound.h"
#include "core/hot.h"
#include "core/region.h"
#include "core/vecmath.h"
#include "pixel/pixel.h"

extern const lk_loss_desc lk_loss_dice;

typedef struct combo_ce_config {
    double beta;
} combo_ce_config;

#define LK_TYPED_FILE "compound/combo.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

LK_HOT static void LK_T(combo_ce_rule)(const lk_elementwise_block *block, const void *config)
{
    const lk_real *restrict x = block->input, *restrict t = block->target;
    lk_real *restrict loss = block->loss, *restrict grad = block->grad;
    lk_real beta = (lk_real)((const combo_ce_config *)config)->beta;
    if (block->mode == LK_INPUT_LOGITS) {
        for (int j = 0; j < block->len; j++) {
            lk_real p, q, neg_log_p;
            lk_logistic(x[j], &p, &q, &neg_log_p);
            lk_real positive = beta * t[j], negative = (1 - beta) * (1 - t[j]);
            loss[j] = positive * neg_log_p + negative * (neg_log_p + x[j]);
            grad[j] = (positive + negative) * p - positive;
        }
    } else {
        for (int j = 0; j < block->len; j++) {
            lk_real positive = beta * t[j], negative = (1 - beta) * (1 - t[j]);
            loss[j] = -(positive * lk_log_clamped(x[j]) + negative * lk_log_clamped(1 - x[j]));
            grad[j] = negative * lk_inverse_clamped(1 - x[j]) - positive * lk_inverse_clamped(x[j]);
        }
    }
}

#endif /* typed section */

#ifndef LK_REAL

/* ------------------------------------------------------------ the weighted CE term */

enum { W_BETA, W_ACTIVATION, W_COUNT };

static lk_status combo_ce_compute(const lk_call *call)
{
    combo_ce_config config = {lk_param_float(call->params, W_BETA)};
    return lk_elementwise_loss(call, combo_ce_rule_f32, combo_ce_rule_f64, &config, W_ACTIVATION,
                               NULL, 0);
}

static const lk_input_info combo_ce_inputs[] = {LK_INPUT_ELEMENT_SCORES, LK_INPUT_BINARY_TARGETS};

static const lk_param_info combo_ce_params[W_COUNT] = {
    [W_BETA] = {"beta", LK_PARAM_FLOAT, "0.5", 0, 1, 0, NULL, "weight of the positive term"},
    [W_ACTIVATION] = LK_PARAM_SIGMOID_ACTIVATION,
};

/* A term of combo, not registered: run through lk_loss_compute like any loss. */
static const lk_loss_desc combo_ce = {
    .name = "combo_weighted_bce",
    .category = LK_CATEGORY_PIXEL,
    .summary = "beta-weighted binary cross-entropy, mean over elements (a term of combo)",
    LK_DESC_INPUTS(combo_ce_inputs),
    LK_DESC_PARAMS(combo_ce_params),
    .output = LK_OUTPUT_SCALAR,
    .compute = combo_ce_compute,
};

/* ------------------------------------------------------------ combo */

enum { P_ALPHA, P_BETA, P_SMOOTH, P_BATCH, P_ACTIVATION, P_COUNT };

static lk_status combo_terms(const lk_call *call, lk_term_set *set, int materialize)
{
    double alpha = lk_param_float(call->params, P_ALPHA);
    lk_params *dice = NULL;
    lk_status status = lk_term_set_add(set, call, &combo_ce, alpha, NULL, NULL);
    if (status == LK_OK) status = lk_term_set_per_class_target(set, call, materialize);
    if (status == LK_OK) status = lk_term_set_add(set, call, &lk_loss_dice, 1 - alpha, NULL, &dice);
    if (status == LK_OK) status = lk_params_set_float(dice, "smooth_nr", lk_param_float(call->params, P_SMOOTH));
    if (status == LK_OK) status = lk_params_set_float(dice, "smooth_dr", lk_param_float(call->params, P_SMOOTH));
    set->offset = -(1 - alpha);
    return status;
}

static lk_status combo_check(const lk_call *call)
{
    return lk_compound_loss_check(call, combo_terms);
}

static lk_status combo_compute(const lk_call *call)
{
    return lk_compound_loss_compute(call, combo_terms);
}

static const lk_input_info combo_inputs[] = {LK_INPUT_SCORES, LK_INPUT_REGION_TARGET};

static const lk_param_info combo_params[P_COUNT] = {
    [P_ALPHA] = {"alpha", LK_PARAM_FLOAT, "0.5", 0, 1, 0, NULL,
                 "weight of the cross-entropy (1 - alpha for the Dice coefficient)"},
    [P_BETA] = {"beta", LK_PARAM_FLOAT, "0.5", 0, 1, 0, NULL,
                "weight of the positive (false-negative) term of the cross-entropy, 1 - beta "
                "for the negative one"},
    [P_SMOOTH] = {"smooth", LK_PARAM_FLOAT, "1", 0, INFINITY, 0, NULL,
                  "added to the Dice coefficient's numerator and denominator"},
    [P_BATCH] = {"batch", LK_PARAM_BOOL, "true", 0, 0, 0, NULL,
                 "true: one Dice over the whole batch per class (the reference's); false: per "
                 "image, then averaged"},
    [P_ACTIVATION] = LK_PARAM_SIGMOID_ACTIVATION,
};

static const char *const combo_examples[] = {
    "",
    "alpha=0.3,beta=0.7",
    "beta=1,smooth=0.1,batch=false",
    "activation=none,alpha=0.8,beta=0.2",
    "alpha=1,beta=0",
    NULL,
};

const lk_loss_desc lk_loss_combo = {
    .name = "combo",
    .category = LK_CATEGORY_COMPOUND,
    .summary = "Combo loss: beta-weighted binary cross-entropy minus the Dice coefficient",
    .formula = "loss = alpha (-mean[beta t log p + (1-beta)(1-t) log(1-p)]) - (1-alpha) DSC, "
               "DSC = mean_c (2 sum p t + smooth) / (sum p + sum t + smooth)",
    .reference = "S. A. Taghanaki et al., Combo loss: Handling input and output imbalance in "
                 "multi-organ segmentation, CMIG 2019",
    .notes = "The paper's formula (the authors' Keras code adds the negative term with the "
             "wrong sign); their defaults alpha = beta = 0.5, smooth = 1, one Dice over the "
             "batch. Per-channel sigmoid; activation=none for given probabilities. The value "
             "may be negative (it is -DSC at alpha = 0).",
    LK_DESC_INPUTS(combo_inputs),
    LK_DESC_PARAMS(combo_params),
    .examples = combo_examples,
    .output = LK_OUTPUT_SCALAR,
    .check = combo_check,
    .compute = combo_compute,
};

#endif
