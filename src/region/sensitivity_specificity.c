/*
 * Sensitivity-specificity loss: a weighted sum of the mean squared error on
 * the target's pixels and on the others, per class.
 *
 *   T_c = r sum_i (g_ic - p_ic)^2 g_ic / (sum_i g_ic + smooth)
 *       + (1 - r) sum_i (g_ic - p_ic)^2 (1 - g_ic) / (sum_i (1 - g_ic) + smooth)
 *   loss = mean over the terms of w_c T_c
 *
 * The first part measures the misses (sensitivity), the second the false
 * alarms (specificity); r trades one for the other. Sums, groups, activation,
 * ignore_index, include_background, weights, absent classes and reductions
 * as the Dice family (see dice.c). In the statistics API the two numerators
 * are LK_STAT_EEG and LK_STAT_EE - LK_STAT_EEG, the denominators LK_STAT_G
 * and LK_STAT_N - LK_STAT_G.
 *
 * Gradient: d T / d EEG = r / (G + smooth) - (1 - r) / (N - G + smooth),
 * d T / d EE = (1 - r) / (N - G + smooth).
 *
 * Reference: T. Brosch et al., "Deep Convolutional Encoder Networks for
 * Multiple Sclerosis Lesion Segmentation", MICCAI 2015; eq. (7) of J. Ma,
 * "Segmentation Loss Odyssey" (2020).
 *
 * Conventions: JunMa's SegLoss SSLoss (r = 0.1 and smooth = 1 in each
 * denominator, r on the target's part; SegLoss names that part "specificity").
 */
#include <math.h>

#include "core/region.h"

enum {
    P_INCLUDE_BACKGROUND,
    P_ACTIVATION,
    P_R,
    P_SMOOTH,
    P_BATCH,
    P_WEIGHT,
    P_IGNORE_INDEX,
    P_ABSENT_CLASSES,
    P_REDUCTION,
    P_COUNT
};

static double sensitivity_specificity_term(const lk_region_group *group, int64_t c, const double *s,
                                           double upstream, double *ds)
{
    (void)c;
    double r = lk_param_float(group->params, P_R), smooth = lk_param_float(group->params, P_SMOOTH);
    double on_target = s[LK_STAT_G] + smooth, off_target = s[LK_STAT_N] - s[LK_STAT_G] + smooth;
    double sensitivity = s[LK_STAT_EEG] / on_target;
    double specificity = (s[LK_STAT_EE] - s[LK_STAT_EEG]) / off_target;
    if (ds) {
        ds[LK_STAT_EEG] += upstream * (r / on_target - (1 - r) / off_target);
        ds[LK_STAT_EE] += upstream * (1 - r) / off_target;
    }
    return r * sensitivity + (1 - r) * specificity;
}

static const lk_region_ops sensitivity_specificity_ops = {
    .fixed_sums = LK_STAT_BIT(LK_STAT_EEG) | LK_STAT_BIT(LK_STAT_EE) | LK_STAT_BIT(LK_STAT_G) |
                  LK_STAT_BIT(LK_STAT_N),
    .class_term = sensitivity_specificity_term,
};

static const lk_input_info sensitivity_specificity_inputs[] = {LK_INPUT_SCORES,
                                                               LK_INPUT_REGION_TARGET};

static const lk_param_info sensitivity_specificity_params[P_COUNT] = {
    LK_REGION_CLASS_PARAMS,
    [P_R] = {"r", LK_PARAM_FLOAT, "0.1", 0, 1, 0, NULL,
             "weight of the error on the target's pixels (sensitivity); 1 - r on the others"},
    [P_SMOOTH] = {"smooth", LK_PARAM_FLOAT, "1", 0, INFINITY, 0, NULL,
                  "added to both denominators (SegLoss's smooth)"},
};

static const char *const sensitivity_specificity_examples[] = {
    "",
    "r=0.5,include_background=false,batch=true",
    "r=0,smooth=1e-3,activation=sigmoid,reduction=none",
    "r=1,activation=none,weight=[1,2,3],reduction=sum",
    "ignore_index=1,absent_classes=skip",
    NULL,
};

const lk_loss_desc lk_loss_sensitivity_specificity = {
    .name = "sensitivity_specificity",
    .category = LK_CATEGORY_REGION,
    .summary = "Sensitivity-specificity loss: squared errors on and off the target, weighted",
    .formula = "loss = mean_c w_c [r sum (g - p)^2 g / (sum g + smooth) + (1 - r) sum (g - p)^2 "
               "(1 - g) / (sum (1 - g) + smooth)]",
    .reference = "T. Brosch et al., Deep Convolutional Encoder Networks for Multiple Sclerosis "
                 "Lesion Segmentation, MICCAI 2015",
    .notes = "r = 0.1 and smooth = 1 as JunMa's SegLoss (r weighs the error on the target's "
             "pixels).",
    LK_DESC_INPUTS(sensitivity_specificity_inputs),
    LK_DESC_PARAMS(sensitivity_specificity_params),
    .examples = sensitivity_specificity_examples,
    LK_REGION_LOSS(sensitivity_specificity_ops),
};
