/*
 * Matthews correlation coefficient loss, per class.
 *
 *   TP = sum p g, FP = sum p (1 - g), FN = sum (1 - p) g, TN = sum (1 - p)(1 - g)
 *   (each plus eps)
 *   MCC_c = (TP TN - FP FN + smooth_nr) / sqrt((TP + FP)(TP + FN)(TN + FP)(TN + FN) + smooth_dr)
 *   T_c = 1 - MCC_c, and 0 for a perfect class (FP = FN = 0 before eps)
 *   loss = mean over the terms of w_c T_c
 *
 * From the sums: TP = I, FP = P - I, FN = G - I, TN = N - P - G + I (N the
 * pixels not ignored). The four products under the root are P, G, N - G and
 * N - P (plus eps's): the denominator depends on P only, not on I. Sums,
 * groups, activation, ignore_index, include_background, weights, absent
 * classes and reductions as the Dice family (see dice.c).
 *
 * Gradient: d numerator / d I = TP + FP + FN + TN, d numerator / d P =
 * -(TP + FN); d Q / d P = (TP + FN)[(TN + FP)(TN + FN) - (TP + FP)(TN + FP)]
 * for Q the product under the root; a perfect class has none (as MONAI, whose
 * special case makes a perfect prediction's loss 0 where the formula with
 * smooth_nr = 0 would give 1 for a class that fills the image).
 *
 * Reference: K. Abhishek, G. Hamarneh, "Matthews Correlation Coefficient Loss
 * for Deep Convolutional Networks: Application to Skin Lesion Segmentation",
 * ISBI 2021.
 *
 * Conventions: MONAI's MCCLoss (smooth_nr = 0, smooth_dr = 1e-5, the perfect
 * case). smp's MCCLoss is one binary problem over the whole batch without
 * smoothing but with eps = 1e-5 added to each count: one channel,
 * batch=true, activation=none, smooth_nr = smooth_dr = 0, eps = 1e-5.
 */
#include <math.h>

#include "core/region.h"

enum {
    P_INCLUDE_BACKGROUND,
    P_ACTIVATION,
    P_SMOOTH_NR,
    P_SMOOTH_DR,
    P_EPS,
    P_BATCH,
    P_WEIGHT,
    P_IGNORE_INDEX,
    P_ABSENT_CLASSES,
    P_REDUCTION,
    P_COUNT
};

static double mcc_term(const lk_region_group *group, int64_t c, const double *s, double upstream,
                       double *ds)
{
    (void)c;
    const lk_params *params = group->params;
    double eps = lk_param_float(params, P_EPS);
    double intersection = s[LK_STAT_PG];
    double false_positives = s[LK_STAT_P] - intersection, false_negatives = s[LK_STAT_G] - intersection;
    if (false_positives == 0 && false_negatives == 0) return 0;
    /* the marginals straight from the sums, so that an empty one is exactly 0 */
    double predicted = s[LK_STAT_P] + 2 * eps, actual = s[LK_STAT_G] + 2 * eps;
    double actual_negative = s[LK_STAT_N] - s[LK_STAT_G] + 2 * eps;
    double predicted_negative = s[LK_STAT_N] - s[LK_STAT_P] + 2 * eps;
    double tp = intersection + eps, fp = false_positives + eps, fn = false_negatives + eps;
    double tn = (s[LK_STAT_N] - s[LK_STAT_G]) - false_positives + eps;
    double numerator = tp * tn - fp * fn + lk_param_float(params, P_SMOOTH_NR);
    double product = predicted * actual * actual_negative * predicted_negative;
    double denominator = sqrt(product + lk_param_float(params, P_SMOOTH_DR));
    double mcc = numerator / denominator;
    if (ds) {
        /* I moves TP and TN up, FP and FN down; P moves FP up and TN down */
        double d_numerator_d_i = tp + tn + fp + fn, d_numerator_d_p = -(tp + fn);
        double d_product_d_p = actual * actual_negative * (predicted_negative - predicted);
        double d_denominator_d_p = d_product_d_p / (2 * denominator);
        ds[LK_STAT_PG] -= upstream * d_numerator_d_i / denominator;
        ds[LK_STAT_P] -= upstream * (d_numerator_d_p - mcc * d_denominator_d_p) / denominator;
    }
    return 1 - mcc;
}

static const lk_region_ops mcc_ops = {
    .fixed_sums = LK_STAT_BIT(LK_STAT_PG) | LK_STAT_BIT(LK_STAT_P) | LK_STAT_BIT(LK_STAT_G) |
                  LK_STAT_BIT(LK_STAT_N),
    .class_term = mcc_term,
};

static const lk_input_info mcc_inputs[] = {LK_INPUT_SCORES, LK_INPUT_REGION_TARGET};

static const lk_param_info mcc_params[P_COUNT] = {
    LK_REGION_CLASS_PARAMS,
    [P_SMOOTH_NR] = LK_PARAM_SMOOTH_NR("0"),
    [P_SMOOTH_DR] = LK_PARAM_SMOOTH_DR("1e-05"),
    [P_EPS] = {"eps", LK_PARAM_FLOAT, "0", 0, INFINITY, 0, NULL,
               "added to each of TP, FP, FN and TN (smp's eps)"},
};

static const char *const mcc_examples[] = {
    "",
    "include_background=false,batch=true",
    "eps=1e-5,smooth_dr=0,activation=sigmoid,reduction=none",
    "smooth_nr=1e-3,activation=none,weight=[2,1,1],reduction=sum",
    "ignore_index=0,absent_classes=zero",
    NULL,
};

const lk_loss_desc lk_loss_mcc = {
    .name = "mcc",
    .category = LK_CATEGORY_REGION,
    .summary = "Matthews correlation coefficient loss (MONAI MCCLoss, smp MCCLoss)",
    .formula = "loss = mean_c w_c [1 - (TP TN - FP FN + smooth_nr) / sqrt((TP + FP)(TP + FN)(TN + "
               "FP)(TN + FN) + smooth_dr)], soft counts",
    .reference = "K. Abhishek, G. Hamarneh, Matthews Correlation Coefficient Loss for Deep "
                 "Convolutional Networks: Application to Skin Lesion Segmentation, ISBI 2021",
    .notes = "MONAI's defaults; a perfect class (FP = FN = 0) has loss 0, as MONAI. smp: one "
             "channel, batch=true, activation=none, smooth_nr = smooth_dr = 0, eps=1e-5.",
    LK_DESC_INPUTS(mcc_inputs),
    LK_DESC_PARAMS(mcc_params),
    .examples = mcc_examples,
    LK_REGION_LOSS(mcc_ops),
};
