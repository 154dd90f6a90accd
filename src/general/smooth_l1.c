/*
 * Dynamic SmoothL1 and Self-Adjusting Smooth L1: smooth L1 losses of box
 * regression whose beta is a training-state schedule kept by the caller.
 *
 *   d = x - t,  loss = w * (0.5 d^2 / beta   if |d| < beta
 *                           |d| - 0.5 beta   otherwise)
 *   mean = sum / number of elements
 *
 * (the rule of general/smooth_l1.h; w = loss_weight, as mmdetection's).
 *
 * dynamic_smooth_l1 — H. Zhang, H. Chang, B. Ma, N. Wang, X. Chen, "Dynamic
 * R-CNN: Towards High Quality Object Detection via Dynamic Training", ECCV
 * 2020. The loss is smooth L1 at the current beta (a parameter: at a fixed
 * beta it is torch.nn.functional.smooth_l1_loss). The schedule is
 * lk_dynamic_beta_statistic / lk_dynamic_beta_update (include/losskit.h;
 * losskit.DynamicBeta in Python), as mmdetection's DynamicRoIHead: each
 * iteration records the k-th smallest mean(|dx|, |dy|) of the positive
 * boxes' regression targets (k = beta_topk x images, at most the positives);
 * every update_iter_interval iterations beta = min(initial_beta, median of
 * the records), kept when that median is below 1e-15.
 *
 * self_adjusting_smooth_l1 — C.-Y. Fu, M. Shvets, A. C. Berg, "RetinaMask:
 * Learning to predict masks improves state-of-the-art single-shot detection
 * for free", 2019; its maskrcnn-benchmark fork's AdjustSmoothL1Loss. beta is
 * per column (axis 1 of (N, 4) box deltas): one value, or one per column.
 * Its state (running mean and variance of |d| per column, momentum 0.1,
 * beta_j = clamp(mean_j - var_j, 1e-3, 1/9)) is lk_self_adjusting_state
 * (include/losskit.h; losskit.torch.AdjustSmoothL1Loss keeps it as buffers
 * and passes the current beta here).
 *
 * Conventions: the target is a constant (no gradient), as the regression
 * targets of detectors; beta = 0 is allowed (the L1 loss, as PyTorch;
 * mmdetection asserts beta > 0). mmdetection's per-element weight and
 * avg_factor are not parameters: weight the reduction=none output, or divide
 * reduction=sum by the factor.
 */
#ifndef LK_REAL
#include <stdlib.h>

#include "core/hot.h"
#include "general/real_elementwise.h"
#include "general/smooth_l1.h"
#include "pixel/pixel.h"

enum { P_BETA, P_REDUCTION, P_LOSS_WEIGHT, P_COUNT };

#define LK_TYPED_FILE "general/smooth_l1.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

static inline void LK_T(smooth_l1_element)(lk_real d, lk_real beta, lk_real scale, lk_real *loss,
                                           lk_real *grad)
{
    const lk_real half = (lk_real)0.5;
    lk_real magnitude = d < 0 ? -d : d, sign = (lk_real)((d > 0) - (d < 0));
    lk_real positive_beta = beta > 0 ? beta : 1; /* beta = 0 never takes the quadratic side */
    int quadratic = magnitude < beta;
    *loss = scale * (quadratic ? half * d * d / positive_beta : magnitude - half * beta);
    *grad = scale * (quadratic ? d / positive_beta : sign);
}

LK_HOT void LK_T(lk_smooth_l1_rule)(const lk_elementwise_block *block, const void *config)
{
    const lk_smooth_l1_config *c = config;
    const lk_real *restrict x = block->input, *restrict t = block->target;
    const lk_real *restrict beta_table = block->class_value[0];
    lk_real *restrict loss = block->loss, *restrict grad = block->grad;
    const lk_real scale = (lk_real)c->scale, beta = (lk_real)c->beta;
    if (beta_table) {
        for (int j = 0; j < block->len; j++)
            LK_T(smooth_l1_element)(x[j] - t[j], beta_table[j], scale, &loss[j], &grad[j]);
    } else {
        for (int j = 0; j < block->len; j++)
            LK_T(smooth_l1_element)(x[j] - t[j], beta, scale, &loss[j], &grad[j]);
    }
}

#endif /* typed section */

#ifndef LK_REAL

static lk_status dynamic_compute(const lk_call *call)
{
    lk_smooth_l1_config config = {lk_param_float(call->params, P_LOSS_WEIGHT),
                                  lk_param_float(call->params, P_BETA)};
    return lk_real_elementwise_loss(call, lk_smooth_l1_rule_f32, lk_smooth_l1_rule_f64, &config, NULL);
}

static lk_status self_adjusting_check(const lk_call *call)
{
    size_t count;
    lk_param_list(call->params, P_BETA, &count);
    if (count == 0)
        return lk_fail(LK_EPARAM, "loss '%s': parameter 'beta' is empty; give one value or one per "
                       "column of input '%s'", call->desc->name, call->desc->inputs[0].name);
    return lk_check_class_list(call, P_BETA, 1);
}

static lk_status self_adjusting_compute(const lk_call *call)
{
    lk_smooth_l1_config config = {lk_param_float(call->params, P_LOSS_WEIGHT), 0};
    double *beta = lk_class_factors(call, P_BETA); /* one value, or one per column */
    if (!beta) return LK_ENOMEM;
    lk_status status = lk_real_elementwise_loss(call, lk_smooth_l1_rule_f32, lk_smooth_l1_rule_f64,
                                                &config, beta);
    free(beta);
    return status;
}

static const lk_input_info regression_inputs[] = {
    {"input", "predicted regression values of any shape, e.g. box deltas (N, 4); axis 1 is "
              "the column", LK_DTYPES_FLOAT, LK_SHAPE_ANY, LK_DOMAIN_SCORES, 1},
    LK_INPUT_REGRESSION_TARGET("regression targets shaped like input (no gradient)"),
};

#define LOSS_WEIGHT_PARAM                                                                  \
    {"loss_weight", LK_PARAM_FLOAT, "1", 0, INFINITY, 0, NULL,                             \
     "factor of the loss (mmdetection's loss_weight)"}

static const lk_param_info dynamic_params[P_COUNT] = {
    [P_BETA] = {"beta", LK_PARAM_FLOAT, "1", 0, INFINITY, 0, NULL,
                "the current beta, where the quadratic part ends (Dynamic R-CNN's initial_beta "
                "is 1; lk_dynamic_beta_update / losskit.DynamicBeta give the next); 0 is L1"},
    [P_REDUCTION] = LK_PARAM_REDUCTION("mean", "sum divided by the number of elements"),
    [P_LOSS_WEIGHT] = LOSS_WEIGHT_PARAM,
};

static const lk_param_info self_adjusting_params[P_COUNT] = {
    [P_BETA] = {"beta", LK_PARAM_FLOAT_LIST, "[0.1111111111111111]", 0, INFINITY, 0, NULL,
                "the current beta of each column (axis 1): one value, or one per column "
                "(lk_self_adjusting_beta / losskit.torch.AdjustSmoothL1Loss give them; "
                "RetinaMask starts at 1/9)"},
    [P_REDUCTION] = LK_PARAM_REDUCTION("mean", "sum divided by the number of elements"),
    [P_LOSS_WEIGHT] = LOSS_WEIGHT_PARAM,
};

static const char *const dynamic_examples[] = {
    "",
    "beta=0.35,reduction=sum",
    "beta=0,reduction=none",
    "beta=5,loss_weight=2",
    NULL,
};

static const char *const self_adjusting_examples[] = {
    "",
    "beta=[0.5,0.05,2]",
    "beta=[0.3],reduction=sum,loss_weight=0.5",
    "beta=[0.001,1,0],reduction=none",
    NULL,
};

const lk_loss_desc lk_loss_dynamic_smooth_l1 = {
    .name = "dynamic_smooth_l1",
    .category = LK_CATEGORY_GENERAL,
    .summary = "Dynamic SmoothL1: smooth L1 of box regression at the current beta of Dynamic "
               "R-CNN's schedule (lk_dynamic_beta_update)",
    .formula = "loss = w (0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta), d = x - t; "
               "mean over elements",
    .reference = "H. Zhang et al., Dynamic R-CNN: Towards High Quality Object Detection via "
                 "Dynamic Training, ECCV 2020",
    .notes = "At a fixed beta this is torch.nn.functional.smooth_l1_loss times loss_weight. The "
             "schedule (mmdetection's DynamicRoIHead) is a separate helper: "
             "lk_dynamic_beta_statistic records the beta_topk*images-th smallest mean(|dx|,|dy|) "
             "of the positives' targets per iteration, lk_dynamic_beta_update sets beta = "
             "min(initial_beta, median) every update_iter_interval iterations "
             "(losskit.DynamicBeta in Python). The target has no gradient.",
    LK_DESC_INPUTS(regression_inputs),
    LK_DESC_PARAMS(dynamic_params),
    .examples = dynamic_examples,
    .output = LK_OUTPUT_PER_ELEMENT,
    .compute = dynamic_compute,
};

const lk_loss_desc lk_loss_self_adjusting_smooth_l1 = {
    .name = "self_adjusting_smooth_l1",
    .category = LK_CATEGORY_GENERAL,
    .summary = "Self-Adjusting Smooth L1 (RetinaMask): smooth L1 with a beta per column from "
               "running statistics of |x - t| (lk_self_adjusting_state)",
    .formula = "loss = w (0.5 d^2 / beta[c] if |d| < beta[c] else |d| - 0.5 beta[c]), d = x - t, "
               "c the column (axis 1); mean over elements",
    .reference = "C.-Y. Fu, M. Shvets, A. C. Berg, RetinaMask: Learning to predict masks improves "
                 "state-of-the-art single-shot detection for free, 2019",
    .notes = "beta is the state's current beta: per column j, clamp(running_mean_j - "
             "running_var_j, 1e-3, 1/9) of |x - t| with momentum 0.1, updated (no gradient) "
             "before each loss as RetinaMask's AdjustSmoothL1Loss does; the state is "
             "lk_self_adjusting_state / losskit.torch.AdjustSmoothL1Loss. The target has no "
             "gradient.",
    LK_DESC_INPUTS(regression_inputs),
    LK_DESC_PARAMS(self_adjusting_params),
    .examples = self_adjusting_examples,
    .output = LK_OUTPUT_PER_ELEMENT,
    .check = self_adjusting_check,
    .compute = self_adjusting_compute,
};

#endif
