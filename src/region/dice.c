/*
 * The Dice family: soft Dice, soft Jaccard (IoU) and log-cosh Dice. They
 * share their parameters and differ in the index each class's term is made of.
 *
 *   dice:          D_c = (2 I_c + smooth_nr) / (P_c + G_c + smooth_dr)
 *                  T_c = 1 - D_c
 *   jaccard:       J_c = (I_c + smooth_nr) / (P_c + G_c - I_c + smooth_dr)
 *                  T_c = 1 - J_c
 *   log_cosh_dice: T_c = log(cosh(1 - D_c))
 *   loss = mean over the terms of w_c T_c
 *
 * I_c = sum_i p_ic g_ic, P_c = sum_i p_ic, G_c = sum_i g_ic; with squared_pred
 * P and G are the sums of p^2 and g^2 (the V-Net form). p: probabilities
 * after the activation (softmax over the classes, a sigmoid per class, or the
 * input itself); g: the one-hot labels or the dense target. Sums run over the
 * pixels of an image (or of the whole batch, batch=true), leaving out pixels
 * labelled ignore_index. The terms are the classes kept (include_background=
 * false leaves class 0 out), per image or once for the batch; reduction mean
 * averages them, sum adds them, none returns them, shaped (N, C_kept) or
 * (C_kept,) with batch=true.
 *
 * Gradients: d D / d I = 2 / den, d D / d P = -D / den; d J / d I =
 * (1 + J) / den, d J / d P = -J / den; d log cosh(x) / dx = tanh(x). The
 * region driver (core/region.h) pushes them to every pixel and through the
 * activation.
 *
 * References: F. Milletari, N. Navab, S.-A. Ahmadi, "V-Net: Fully
 * Convolutional Neural Networks for Volumetric Medical Image Segmentation",
 * 3DV 2016 (Dice); M. A. Rahman, Y. Wang, "Optimizing Intersection-over-Union
 * in Deep Neural Networks for Image Segmentation", ISVC 2016 (IoU); S. Jadon,
 * "A survey of loss functions for semantic segmentation", CIBCB 2020
 * (log-cosh Dice); eqs. (8), (9) of J. Ma, "Segmentation Loss Odyssey" (2020).
 *
 * Conventions: MONAI's DiceLoss (same option names and defaults, smoothing in
 * numerator and denominator). The default activation here is softmax (logits
 * in), MONAI's is none. MONAI's DiceLoss(jaccard=True) is (2 I + s_nr) /
 * (2 U + s_dr): our jaccard with smooth_nr = s_nr / 2, smooth_dr = s_dr / 2.
 * smp's DiceLoss and JaccardLoss sum over the batch (batch=true), add their
 * `smooth` s to the intersection and to the (half) denominator (dice:
 * smooth_nr = smooth_dr = 2 s; jaccard: smooth_nr = smooth_dr = s) and zero
 * the loss of classes absent from the target (absent_classes=zero); kornia's
 * average="macro" averages present classes only (absent_classes=skip,
 * smooth_nr = 0, smooth_dr = eps) and its "micro" is generalized_dice with
 * weight_type=uniform. Jadon applies log-cosh to a binary Dice loss; with
 * several classes we apply it to each class's term, before the mean. Two
 * empty masks (P = G = 0) give D = J = smooth_nr / smooth_dr: 1 (loss 0)
 * with the defaults.
 */
#include <math.h>

#include "core/region.h"
#include "region/overlap.h"

enum {
    P_INCLUDE_BACKGROUND,
    P_ACTIVATION,
    P_SQUARED_PRED,
    P_SMOOTH_NR,
    P_SMOOTH_DR,
    P_BATCH,
    P_WEIGHT,
    P_IGNORE_INDEX,
    P_ABSENT_CLASSES,
    P_REDUCTION,
    P_COUNT
};

static unsigned dice_sums(const lk_params *params)
{
    if (lk_param_bool(params, P_SQUARED_PRED))
        return LK_STAT_BIT(LK_STAT_PG) | LK_STAT_BIT(LK_STAT_PP) | LK_STAT_BIT(LK_STAT_GG);
    return LK_STAT_BIT(LK_STAT_PG) | LK_STAT_BIT(LK_STAT_P) | LK_STAT_BIT(LK_STAT_G);
}

static lk_sum_ratio dice_ratio(const lk_params *params)
{
    return lk_dice_ratio(lk_param_bool(params, P_SQUARED_PRED), lk_param_float(params, P_SMOOTH_NR),
                         lk_param_float(params, P_SMOOTH_DR));
}

static double dice_term(const lk_region_group *group, int64_t c, const double *s, double upstream,
                        double *ds)
{
    (void)c;
    lk_sum_ratio dice = dice_ratio(group->params);
    return 1 - lk_sum_ratio_value(&dice, s, -upstream, ds);
}

static double jaccard_term(const lk_region_group *group, int64_t c, const double *s,
                           double upstream, double *ds)
{
    (void)c;
    const lk_params *params = group->params;
    lk_sum_ratio jaccard = lk_jaccard_ratio(lk_param_bool(params, P_SQUARED_PRED),
                                            lk_param_float(params, P_SMOOTH_NR),
                                            lk_param_float(params, P_SMOOTH_DR));
    return 1 - lk_sum_ratio_value(&jaccard, s, -upstream, ds);
}

/* log cosh(x) = |x| + log1p(exp(-2|x|)) - log 2, without overflow. */
static double log_cosh(double x)
{
    double magnitude = fabs(x);
    return magnitude + log1p(exp(-2 * magnitude)) - log(2.0);
}

static double log_cosh_dice_term(const lk_region_group *group, int64_t c, const double *s,
                                 double upstream, double *ds)
{
    (void)c;
    lk_sum_ratio dice = dice_ratio(group->params);
    double loss = 1 - lk_sum_ratio_value(&dice, s, 0, NULL);
    if (ds) lk_sum_ratio_value(&dice, s, -upstream * tanh(loss), ds);
    return log_cosh(loss);
}

static const lk_region_ops dice_ops = {.sums = dice_sums, .class_term = dice_term};
static const lk_region_ops jaccard_ops = {.sums = dice_sums, .class_term = jaccard_term};
static const lk_region_ops log_cosh_dice_ops = {.sums = dice_sums, .class_term = log_cosh_dice_term};

static const lk_input_info dice_inputs[] = {LK_INPUT_SCORES, LK_INPUT_REGION_TARGET};

static const lk_param_info dice_params[P_COUNT] = {
    LK_REGION_CLASS_PARAMS,
    [P_SQUARED_PRED] = LK_PARAM_SQUARED_PRED,
    [P_SMOOTH_NR] = LK_PARAM_SMOOTH_NR("1e-05"),
    [P_SMOOTH_DR] = LK_PARAM_SMOOTH_DR("1e-05"),
};

static const char *const dice_examples[] = {
    "",
    "include_background=false,batch=true",
    "squared_pred=true,smooth_nr=0,smooth_dr=1e-3",
    "activation=sigmoid,weight=[0.5,2,1],reduction=sum",
    "activation=none,reduction=none",
    "batch=true,reduction=none,ignore_index=1",
    "absent_classes=zero,include_background=false,weight=[3,0.5]",
    "absent_classes=skip,smooth_nr=0,smooth_dr=1e-6",
    NULL,
};

const lk_loss_desc lk_loss_dice = {
    .name = "dice",
    .category = LK_CATEGORY_REGION,
    .summary = "Soft Dice loss (MONAI DiceLoss, smp DiceLoss, kornia dice_loss)",
    .formula = "loss = mean_c w_c [1 - (2 sum p g + smooth_nr) / (sum p + sum g + smooth_dr)]; "
               "squared_pred: sum p^2 + sum g^2 below",
    .reference = "F. Milletari et al., V-Net: Fully Convolutional Neural Networks for Volumetric "
                 "Medical Image Segmentation, 3DV 2016",
    .notes = "MONAI's options and defaults (default activation softmax here). smp: batch=true, "
             "smooth_nr = smooth_dr = 2 smooth, absent_classes=zero. kornia macro: "
             "absent_classes=skip, smooth_nr=0, smooth_dr=eps; kornia micro: generalized_dice "
             "with weight_type=uniform. Two empty masks give D = smooth_nr / smooth_dr.",
    LK_DESC_INPUTS(dice_inputs),
    LK_DESC_PARAMS(dice_params),
    .examples = dice_examples,
    LK_REGION_LOSS(dice_ops),
};

const lk_loss_desc lk_loss_jaccard = {
    .name = "jaccard",
    .category = LK_CATEGORY_REGION,
    .summary = "Soft Jaccard (IoU) loss (smp JaccardLoss, MONAI DiceLoss(jaccard=True))",
    .formula = "loss = mean_c w_c [1 - (sum p g + smooth_nr) / (sum p + sum g - sum p g + "
               "smooth_dr)]; squared_pred: sum p^2 + sum g^2 below",
    .reference = "M. A. Rahman, Y. Wang, Optimizing Intersection-over-Union in Deep Neural "
                 "Networks for Image Segmentation, ISVC 2016",
    .notes = "MONAI's DiceLoss(jaccard=True, smooth_nr=a, smooth_dr=b) is ours with smooth_nr = "
             "a/2, smooth_dr = b/2. smp: batch=true, smooth_nr = smooth_dr = smooth, "
             "absent_classes=zero. Two empty masks give J = smooth_nr / smooth_dr.",
    LK_DESC_INPUTS(dice_inputs),
    LK_DESC_PARAMS(dice_params),
    .examples = dice_examples,
    LK_REGION_LOSS(jaccard_ops),
};

const lk_loss_desc lk_loss_log_cosh_dice = {
    .name = "log_cosh_dice",
    .category = LK_CATEGORY_REGION,
    .summary = "Log-cosh Dice loss: log(cosh(1 - Dice)) per class",
    .formula = "loss = mean_c w_c log(cosh(1 - D_c)), D_c = (2 sum p g + smooth_nr) / (sum p + "
               "sum g + smooth_dr)",
    .reference = "S. Jadon, A survey of loss functions for semantic segmentation, CIBCB 2020",
    .notes = "Jadon wraps a binary Dice loss; with several classes each class's Dice loss is "
             "wrapped before the mean. Options as dice (MONAI's names).",
    LK_DESC_INPUTS(dice_inputs),
    LK_DESC_PARAMS(dice_params),
    .examples = dice_examples,
    LK_REGION_LOSS(log_cosh_dice_ops),
};
