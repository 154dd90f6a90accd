/*
 * Balanced L1 loss (Libra R-CNN), as mmdetection's balanced_l1_loss.
 *
 *   x = |input - target|,  b = e^(gamma / alpha) - 1
 *   loss = w * (alpha / b (b x + 1) ln(b x / beta + 1) - alpha x     if x < beta
 *               gamma x + gamma / b - alpha beta                      otherwise)
 *   d loss / d input = w * sign(input - target) *
 *               (alpha ln(b x / beta + 1) + alpha (1 - beta) / (b x + beta)   if x < beta
 *                gamma                                                         otherwise)
 *   mean = sum / number of elements
 *
 * b makes the two sides meet: alpha ln(b + 1) = gamma, so the loss is
 * continuous at x = beta, and with beta = 1 (the paper's case) so is its
 * derivative, alpha ln(b x + 1) inside. The paper promotes the gradients of
 * the inliers (x < 1) relative to smooth L1 and clips the outliers' at gamma.
 *
 * Reference: J. Pang, K. Chen, J. Shi, H. Feng, W. Ouyang, D. Lin, "Libra
 * R-CNN: Towards Balanced Learning for Object Detection", CVPR 2019, eq. (7)-(9).
 * Defaults alpha = 0.5, gamma = 1.5, beta = 1, loss_weight = 1, as
 * mmdetection's BalancedL1Loss.
 *
 * Conventions: mmdetection's expression with a general beta, differentiated
 * exactly (what its autograd does): for beta != 1 its derivative jumps at
 * x = beta (by alpha (1 - beta) / (beta (b + 1)) inside). The subgradient at
 * x = 0 is 0. The target has no gradient. mmdetection's per-element weight
 * and avg_factor are not parameters: weight the reduction=none output, or
 * divide reduction=sum by the factor.
 */
#ifndef LK_REAL
#include <math.h>

#include "core/hot.h"
#include "core/vecmath.h"
#include "general/real_elementwise.h"

enum { P_ALPHA, P_GAMMA, P_BETA, P_REDUCTION, P_LOSS_WEIGHT, P_COUNT };

typedef struct balanced_l1_config {
    double alpha, gamma, beta, b, weight;
} balanced_l1_config;

#define LK_TYPED_FILE "general/balanced_l1.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

LK_HOT static void LK_T(balanced_l1_rule)(const lk_elementwise_block *block, const void *config)
{
    const balanced_l1_config *c = config;
    const lk_real *restrict x = block->input, *restrict t = block->target;
    lk_real *restrict loss = block->loss, *restrict grad = block->grad;
    const lk_real alpha = (lk_real)c->alpha, gamma = (lk_real)c->gamma, beta = (lk_real)c->beta;
    const lk_real b = (lk_real)c->b, w = (lk_real)c->weight, b_over_beta = (lk_real)(c->b / c->beta);
    const lk_real alpha_over_b = (lk_real)(c->alpha / c->b);
    const lk_real linear_offset = (lk_real)(c->gamma / c->b - c->alpha * c->beta);
    const lk_real alpha_one_minus_beta = (lk_real)(c->alpha * (1 - c->beta));
    for (int j = 0; j < block->len; j++) {
        lk_real d = x[j] - t[j], magnitude = d < 0 ? -d : d;
        lk_real sign = (lk_real)((d > 0) - (d < 0));
        lk_real log_term = lk_log1p(b_over_beta * magnitude);
        lk_real inside = alpha_over_b * (b * magnitude + 1) * log_term - alpha * magnitude;
        lk_real inside_slope = alpha * log_term + alpha_one_minus_beta / (b * magnitude + beta);
        int is_inlier = magnitude < beta;
        loss[j] = w * (is_inlier ? inside : gamma * magnitude + linear_offset);
        grad[j] = w * sign * (is_inlier ? inside_slope : gamma);
    }
}

#endif /* typed section */

#ifndef LK_REAL

static lk_status balanced_l1_compute(const lk_call *call)
{
    balanced_l1_config config = {.alpha = lk_param_float(call->params, P_ALPHA),
                                 .gamma = lk_param_float(call->params, P_GAMMA),
                                 .beta = lk_param_float(call->params, P_BETA),
                                 .weight = lk_param_float(call->params, P_LOSS_WEIGHT)};
    config.b = expm1(config.gamma / config.alpha);
    double ratios[3] = {config.b, config.alpha / config.b, config.b / config.beta};
    for (int k = 0; k < 3; k++)
        if (!(ratios[k] > 0) || !isfinite(ratios[k]))
            return lk_fail(LK_EPARAM, "loss '%s': b = e^(gamma / alpha) - 1 = %g is out of range "
                           "for alpha = %g, gamma = %g, beta = %g (b, alpha / b and b / beta must "
                           "be positive and finite)", call->desc->name, config.b, config.alpha,
                           config.gamma, config.beta);
    return lk_real_elementwise_loss(call, balanced_l1_rule_f32, balanced_l1_rule_f64, &config, NULL);
}

static const lk_input_info balanced_l1_inputs[] = {
    {"input", "predicted regression values of any shape, e.g. box deltas (N, 4)", LK_DTYPES_FLOAT,
     LK_SHAPE_ANY, LK_DOMAIN_SCORES, 1},
    LK_INPUT_REGRESSION_TARGET("regression targets shaped like input (no gradient)"),
};

static const lk_param_info balanced_l1_params[P_COUNT] = {
    [P_ALPHA] = {"alpha", LK_PARAM_FLOAT, "0.5", 0, 100, LK_RANGE_MIN_OPEN, NULL,
                 "promotion of the inliers' gradient (the paper's alpha)"},
    [P_GAMMA] = {"gamma", LK_PARAM_FLOAT, "1.5", 0, 100, LK_RANGE_MIN_OPEN, NULL,
                 "the outliers' gradient bound (the paper's gamma)"},
    [P_BETA] = {"beta", LK_PARAM_FLOAT, "1", 0, INFINITY, LK_RANGE_MIN_OPEN, NULL,
                "where the linear part starts (1 in the paper)"},
    [P_REDUCTION] = LK_PARAM_REDUCTION("mean", "sum divided by the number of elements"),
    [P_LOSS_WEIGHT] = {"loss_weight", LK_PARAM_FLOAT, "1", 0, INFINITY, 0, NULL,
                       "factor of the loss (mmdetection's loss_weight)"},
};

static const char *const balanced_l1_examples[] = {
    "",
    "alpha=0.3,gamma=1,reduction=sum",
    "beta=0.5,reduction=none",
    "beta=2.5,loss_weight=3,alpha=1,gamma=2",
    NULL,
};

const lk_loss_desc lk_loss_balanced_l1 = {
    .name = "balanced_l1",
    .category = LK_CATEGORY_GENERAL,
    .summary = "Balanced L1 loss of box regression (Libra R-CNN; mmdetection's BalancedL1Loss)",
    .formula = "x = |input - target|, b = e^(gamma/alpha) - 1; loss = w (alpha/b (b x + 1) "
               "ln(b x/beta + 1) - alpha x if x < beta else gamma x + gamma/b - alpha beta); "
               "mean over elements",
    .reference = "J. Pang et al., Libra R-CNN: Towards Balanced Learning for Object Detection, "
                 "CVPR 2019",
    .notes = "mmdetection's expression, differentiated exactly: continuous at x = beta, and "
             "smooth there only for beta = 1 (the paper's case). The target has no gradient; "
             "mmdetection's per-element weight and avg_factor: weight the reduction=none output "
             "or divide reduction=sum.",
    LK_DESC_INPUTS(balanced_l1_inputs),
    LK_DESC_PARAMS(balanced_l1_params),
    .examples = balanced_l1_examples,
    .output = LK_OUTPUT_PER_ELEMENT,
    .compute = balanced_l1_compute,
};

#endif
