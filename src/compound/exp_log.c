/*
 * Exponential logarithmic loss (Wong et al.): powered logarithms of the Dice
 * coefficients and of the labelled class's probabilities,
 *
 *   loss = w_dice L_dice + w_cross L_cross
 *   L_dice  = mean over classes (and images) of (-ln D_c)^gamma_dice,
 *             D_c = (2 sum p g + smooth) / (sum p + sum g + smooth)
 *   L_cross = mean over pixels of w_y (-ln p_y)^gamma_cross
 *             (per-class targets t: sum_c t_c w_c (-ln p_c)^gamma_cross)
 *
 * p the softmax of the logits (or the input, activation=none), g the one-hot
 * labels or the dense target, y a pixel's label, w_l the class weights: the
 * paper's w_l = ((sum_k f_k) / f_l)^0.5 from the label frequencies f_k of the
 * training set, given here as `weight` ([] = 1).
 *
 * Both terms are rules of their own, run through the shared drivers and
 * summed as a weighted sum (core/terms.h):
 *   L_dice: a region rule (core/region.h) per class,
 *     d/dD (-ln D)^g = -g (-ln D)^(g - 1) / D, taken as 0 at D = 1 (a perfect
 *     class, where it is unbounded for g < 1);
 *   L_cross: a softmax rule (core/softmax.h), with L = -ln p_y,
 *     d/dx_c w L^g = G (p_c - [c = y]), G = g w L^(g - 1), 0 where L = 0
 *     (G (p_c - [c = y]) -> 0 there).
 *
 * Conventions: the paper's defaults (w_dice = 0.8, w_cross = 0.2, gamma_dice
 * = gamma_cross = 0.3, smooth 1 in numerator and denominator). The Dice
 * term's sums run per image (batch=false, each image's classes averaged) or
 * over the batch. The mean of L_cross divides by the pixels not ignored, not
 * by the sum of their weights (the paper's expectation over pixels).
 *
 * Reference: K. C. L. Wong, M. Moradi, H. Tang, T. Syeda-Mahmood, "3D
 * Segmentation with Exponential Logarithmic Loss for Highly Unbalanced
 * Object Sizes", MICCAI 2018.
 */
#ifndef LK_REAL
#include <math.h>
#include <stdlib.h>

#include "compound/compound.h"
#include "core/hot.h"
#include "core/region.h"
#include "core/vecmath.h"
#include "pixel/pixel.h"
#include "region/overlap.h"

typedef struct exp_log_ce_config {
    double gamma;
    const double *weight; /* one per class */
} exp_log_ce_config;

#define LK_TYPED_FILE "compound/exp_log.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

/* powered[j] = L[j]^gamma and slope[j] = gamma L^(gamma - 1) (0 where L = 0),
 * both times factor[j]. */
static inline void LK_T(powered_log)(const lk_real *restrict neg_log, const lk_real *restrict factor,
                                     lk_real gamma, int len, lk_real *restrict powered,
                                     lk_real *restrict slope)
{
    lk_pow_array(neg_log, gamma, powered, len);
    for (int j = 0; j < len; j++) {
        slope[j] = neg_log[j] > 0 ? factor[j] * gamma * powered[j] / neg_log[j] : 0;
        powered[j] *= factor[j];
    }
}

LK_HOT static void LK_T(exp_log_label_rule)(const lk_softmax_block *block, const void *config_ptr)
{
    const exp_log_ce_config *config = config_ptr;
    const lk_real *restrict log_p = block->logp_label, *restrict p = block->prob_label;
    const int32_t *restrict label = block->label;
    lk_real *restrict loss = block->loss, *restrict a = block->coef_prob, *restrict b = block->coef_label;
    lk_real neg_log[LK_SOFTMAX_BLOCK], factor[LK_SOFTMAX_BLOCK], slope[LK_SOFTMAX_BLOCK];
    for (int j = 0; j < block->len; j++) {
        neg_log[j] = -log_p[j] > 0 ? -log_p[j] : 0;
        factor[j] = 0;
    }
    for (int c = 0; c < block->classes; c++) {
        lk_real w = (lk_real)config->weight[c];
        for (int j = 0; j < block->len; j++) factor[j] += label[j] == c ? w : 0;
    }
    LK_T(powered_log)(neg_log, factor, (lk_real)config->gamma, block->len, loss, slope);
    if (block->mode == LK_INPUT_LOGITS) {
        for (int j = 0; j < block->len; j++) a[j] = b[j] = slope[j];
    } else {
        for (int j = 0; j < block->len; j++) {
            a[j] = 0;
            b[j] = slope[j] * lk_inverse_clamped(p[j]);
        }
    }
}

LK_HOT static void LK_T(exp_log_dense_rule)(const lk_softmax_block *block, const void *config_ptr)
{
    const exp_log_ce_config *config = config_ptr;
    lk_real *restrict loss = block->loss, *restrict a = block->coef_prob, *restrict b = block->coef_label;
    int logits = block->mode == LK_INPUT_LOGITS;
    for (int j = 0; j < block->len; j++) loss[j] = a[j] = b[j] = 0;
    for (int c = 0; c < block->classes; c++) {
        const lk_real *restrict t = (const lk_real *)block->target + c * block->source_stride;
        const lk_real *restrict p = (const lk_real *)block->prob + c * block->stride;
        const lk_real *restrict log_p = (const lk_real *)block->logp + c * block->stride;
        lk_real *restrict e = (lk_real *)block->coef_class + c * block->stride;
        lk_real w = (lk_real)config->weight[c];
        lk_real neg_log[LK_SOFTMAX_BLOCK], factor[LK_SOFTMAX_BLOCK], powered[LK_SOFTMAX_BLOCK];
        for (int j = 0; j < block->len; j++) {
            neg_log[j] = -log_p[j] > 0 ? -log_p[j] : 0;
            factor[j] = w * t[j];
        }
        LK_T(powered_log)(neg_log, factor, (lk_real)config->gamma, block->len, powered, e);
        for (int j = 0; j < block->len; j++) loss[j] += factor[j] == 0 ? 0 : powered[j];
        if (logits)
            for (int j = 0; j < block->len; j++) a[j] += e[j];
        else
            for (int j = 0; j < block->len; j++) e[j] *= lk_inverse_clamped(p[j]);
    }
}

#endif /* typed section */

#ifndef LK_REAL

/* ------------------------------------------------------------ the two terms */

/* Their parameters, in one table (each term reads its own; the drivers read
 * activation, ignore_index, include_background and batch by name). */
enum { T_GAMMA, T_SMOOTH, T_WEIGHT, T_INCLUDE_BACKGROUND, T_BATCH, T_IGNORE_INDEX, T_ACTIVATION,
       T_COUNT };

static double exp_log_dice_term(const lk_region_group *group, int64_t c, const double *s,
                                double upstream, double *ds)
{
    (void)c;
    double smooth = lk_param_float(group->params, T_SMOOTH);
    double gamma = lk_param_float(group->params, T_GAMMA);
    lk_sum_ratio dice = lk_dice_ratio(0, smooth, smooth);
    double coefficient = lk_sum_ratio_value(&dice, s, 0, NULL);
    double neg_log = -log(coefficient);
    if (neg_log <= 0) return 0; /* D = 1: a perfect class */
    double powered = pow(neg_log, gamma);
    if (ds) lk_sum_ratio_value(&dice, s, -upstream * gamma * powered / neg_log / coefficient, ds);
    return powered;
}

static const lk_region_ops exp_log_dice_ops = {
    .fixed_sums = LK_STAT_BIT(LK_STAT_PG) | LK_STAT_BIT(LK_STAT_P) | LK_STAT_BIT(LK_STAT_G),
    .class_term = exp_log_dice_term};

static lk_status exp_log_ce_compute(const lk_call *call)
{
    double *weight = lk_class_factors(call, T_WEIGHT);
    if (!weight) return LK_ENOMEM;
    exp_log_ce_config config = {lk_param_float(call->params, T_GAMMA), weight};
    static const lk_softmax_rules rules = {exp_log_label_rule_f32, exp_log_label_rule_f64,
                                           exp_log_dense_rule_f32, exp_log_dense_rule_f64};
    lk_status status = lk_softmax_label_or_dense_loss(call, &config, &rules, T_ACTIVATION, T_IGNORE_INDEX);
    free(weight);
    return status;
}

static const lk_input_info exp_log_inputs[] = {LK_INPUT_SCORES, LK_INPUT_REGION_TARGET};

static const lk_param_info exp_log_term_params[T_COUNT] = {
    [T_GAMMA] = {"gamma", LK_PARAM_FLOAT, "0.3", 0, INFINITY, 0, NULL, "exponent of -ln"},
    [T_SMOOTH] = {"smooth", LK_PARAM_FLOAT, "1", 0, INFINITY, 0, NULL, "Dice smoothing"},
    [T_WEIGHT] = LK_PARAM_CLASS_WEIGHT("class weights w_l ([] = 1)"),
    [T_INCLUDE_BACKGROUND] = LK_PARAM_INCLUDE_BACKGROUND,
    [T_BATCH] = LK_PARAM_BATCH,
    [T_IGNORE_INDEX] = LK_PARAM_IGNORE_INDEX,
    [T_ACTIVATION] = LK_PARAM_SOFTMAX_ACTIVATION,
};

/* Terms of exp_log, not registered: run through lk_loss_compute like any loss. */
static const lk_loss_desc exp_log_dice = {
    .name = "exp_log_dice",
    .category = LK_CATEGORY_REGION,
    .summary = "mean of (-ln Dice_c)^gamma (a term of exp_log)",
    LK_DESC_INPUTS(exp_log_inputs),
    LK_DESC_PARAMS(exp_log_term_params),
    LK_REGION_LOSS(exp_log_dice_ops),
};

static const lk_loss_desc exp_log_cross = {
    .name = "exp_log_cross",
    .category = LK_CATEGORY_PIXEL,
    .summary = "mean of w_y (-ln p_y)^gamma (a term of exp_log)",
    LK_DESC_INPUTS(exp_log_inputs),
    LK_DESC_PARAMS(exp_log_term_params),
    .output = LK_OUTPUT_SCALAR,
    .compute = exp_log_ce_compute,
};

/* ------------------------------------------------------------ exp_log */

enum { P_W_DICE, P_W_CROSS, P_GAMMA_DICE, P_GAMMA_CROSS, P_SMOOTH, P_WEIGHT, P_INCLUDE_BACKGROUND,
       P_BATCH, P_IGNORE_INDEX, P_ACTIVATION, P_COUNT };

static lk_status exp_log_terms(const lk_call *call, lk_term_set *set, int materialize)
{
    (void)materialize; /* every term reads the target as given */
    static const char *const dice_skip[] = {"weight", NULL};
    static const char *const cross_skip[] = {"include_background", NULL};
    lk_params *dice = NULL, *cross = NULL;
    lk_status status = lk_term_set_add(set, call, &exp_log_dice, lk_param_float(call->params, P_W_DICE),
                                       dice_skip, &dice);
    if (status == LK_OK) status = lk_params_set_float(dice, "gamma", lk_param_float(call->params, P_GAMMA_DICE));
    if (status == LK_OK)
        status = lk_term_set_add(set, call, &exp_log_cross, lk_param_float(call->params, P_W_CROSS),
                                 cross_skip, &cross);
    if (status == LK_OK)
        status = lk_params_set_float(cross, "gamma", lk_param_float(call->params, P_GAMMA_CROSS));
    return status;
}

static lk_status exp_log_check(const lk_call *call)
{
    lk_status status = lk_check_class_list(call, P_WEIGHT, 0);
    return status == LK_OK ? lk_compound_loss_check(call, exp_log_terms) : status;
}

static lk_status exp_log_compute(const lk_call *call)
{
    return lk_compound_loss_compute(call, exp_log_terms);
}

static const lk_param_info exp_log_params[P_COUNT] = {
    [P_W_DICE] = {"w_dice", LK_PARAM_FLOAT, "0.8", 0, INFINITY, 0, NULL, "weight of L_dice"},
    [P_W_CROSS] = {"w_cross", LK_PARAM_FLOAT, "0.2", 0, INFINITY, 0, NULL, "weight of L_cross"},
    [P_GAMMA_DICE] = {"gamma_dice", LK_PARAM_FLOAT, "0.3", 0, INFINITY, 0, NULL,
                      "exponent of -ln Dice_c"},
    [P_GAMMA_CROSS] = {"gamma_cross", LK_PARAM_FLOAT, "0.3", 0, INFINITY, 0, NULL,
                       "exponent of -ln p_y"},
    [P_SMOOTH] = {"smooth", LK_PARAM_FLOAT, "1", 0, INFINITY, 0, NULL,
                  "added to the Dice coefficient's numerator and denominator (the paper's "
                  "epsilon)"},
    [P_WEIGHT] = LK_PARAM_CLASS_WEIGHT("class weights w_l of L_cross, one per class ([] = 1; "
                                       "the paper's ((sum_k f_k) / f_l)^0.5)"),
    [P_INCLUDE_BACKGROUND] = LK_PARAM_INCLUDE_BACKGROUND,
    [P_BATCH] = LK_PARAM_BATCH,
    [P_IGNORE_INDEX] = LK_PARAM_IGNORE_INDEX,
    [P_ACTIVATION] = LK_PARAM_SOFTMAX_ACTIVATION,
};

static const char *const exp_log_examples[] = {
    "",
    "gamma_dice=1,gamma_cross=1,w_dice=0.5,w_cross=0.5",
    "gamma_dice=2,gamma_cross=0.5,weight=[0.5,2,1],batch=true",
    "include_background=false,ignore_index=1,smooth=0.5",
    "activation=none",
    "activation=none,gamma_cross=1.5,weight=[1,3,2]",
    NULL,
};

const lk_loss_desc lk_loss_exp_log = {
    .name = "exp_log",
    .category = LK_CATEGORY_COMPOUND,
    .summary = "Exponential logarithmic loss: powered -ln of the Dice coefficients and of the "
               "labelled probabilities",
    .formula = "loss = w_dice mean_c (-ln D_c)^gamma_dice + w_cross mean_i w_y (-ln p_iy)^"
               "gamma_cross, D_c = (2 sum p g + smooth) / (sum p + sum g + smooth)",
    .reference = "K. C. L. Wong et al., 3D Segmentation with Exponential Logarithmic Loss for "
                 "Highly Unbalanced Object Sizes, MICCAI 2018",
    .notes = "The paper's defaults (0.8, 0.2, gamma 0.3, smooth 1). Class weights given as "
             "`weight` (the paper's ((sum_k f_k)/f_l)^0.5 from training-set frequencies); the "
             "cross term's mean divides by the pixels, not their weights. d/dD (-ln D)^g is "
             "taken as 0 at D = 1.",
    LK_DESC_INPUTS(exp_log_inputs),
    LK_DESC_PARAMS(exp_log_params),
    .examples = exp_log_examples,
    .output = LK_OUTPUT_SCALAR,
    .check = exp_log_check,
    .compute = exp_log_compute,
};

#endif
