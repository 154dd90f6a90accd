/*
 * The Tversky family: Tversky, focal Tversky and asymmetric similarity. Each
 * class's term is made of its Tversky index
 *
 *   TI_c = (I_c + smooth_nr) / (I_c + a FP_c + b FN_c + smooth_dr)
 *   I_c = sum_i p_ic g_ic, FP_c = sum_i p_ic (1 - g_ic), FN_c = sum_i (1 - p_ic) g_ic
 *
 *   tversky:               T_c = 1 - TI_c,          a = alpha, b = beta
 *   focal_tversky:         T_c = (1 - TI_c)^(1/gamma)  (gamma_convention=inverse)
 *                          T_c = (1 - TI_c)^gamma      (gamma_convention=exponent)
 *   asymmetric_similarity: T_c = 1 - TI_c,  a = 1 / (1 + beta^2), b = beta^2 / (1 + beta^2)
 *   loss = mean over the terms of w_c T_c
 *
 * alpha weighs false positives and beta false negatives (MONAI's and Salehi
 * et al.'s convention; alpha = beta = 1/2 is Dice, 1 is Jaccard). Sums,
 * groups (image, or batch=true), activation, ignore_index, include_background,
 * weights, absent classes and reductions as the Dice family (see dice.c).
 *
 * Gradients: d TI / d I = (1 - TI (1 - a - b)) / den, d TI / d P = -TI a / den
 * (FP = P - I, FN = G - I); focal: d T / d TI = -e (1 - TI)^(e - 1), taken as 0
 * where TI = 1 (a perfect class: the minimum, where the derivative of
 * (1 - TI)^e with e < 1 is unbounded).
 *
 * References: S. S. M. Salehi, D. Erdogmus, A. Gholipour, "Tversky loss
 * function for image segmentation using 3D fully convolutional deep networks",
 * MLMI 2017; N. Abraham, N. M. Khan, "A Novel Focal Tversky Loss Function with
 * Improved Attention U-Net for Lesion Segmentation", ISBI 2019; S. R. Hashemi
 * et al., "Asymmetric Loss Functions and Deep Densely-Connected Networks for
 * Highly-Imbalanced Medical Image Segmentation: Application to Multiple
 * Sclerosis Lesion Detection", IEEE Access 7 (2019); eqs. (10), (12), (13)
 * of J. Ma, "Segmentation Loss Odyssey" (2020).
 *
 * Conventions. Tversky: MONAI's TverskyLoss (names and defaults, alpha = beta
 * = 0.5). kornia's tversky_loss averages present classes per image
 * (absent_classes=skip, smooth_nr = 0, smooth_dr = eps); smp's TverskyLoss as
 * its DiceLoss (batch=true, smooth_nr = smooth_dr = smooth, absent_classes=
 * zero). Focal Tversky: the paper writes (1 - TI)^(1/gamma) with gamma in
 * [1, 3] and trains with gamma = 4/3; the authors' code writes the exponent
 * itself, pow(1 - TI, 0.75), and calls it gamma, as smp does (which raises
 * the mean over classes, not each class). The defaults give exponent 0.75
 * under either convention; alpha = 0.3, beta = 0.7 and smooth = 1 are the
 * authors' code's. Asymmetric similarity: the F-beta score of Hashemi et al.,
 * beta = 1.5 as in the paper.
 */
#include <math.h>

#include "core/region.h"
#include "region/overlap.h"

enum {
    P_INCLUDE_BACKGROUND,
    P_ACTIVATION,
    P_SMOOTH_NR,
    P_SMOOTH_DR,
    P_BATCH,
    P_WEIGHT,
    P_IGNORE_INDEX,
    P_ABSENT_CLASSES,
    P_REDUCTION,
    P_COMMON_COUNT,
    /* tversky, focal_tversky */
    P_ALPHA = P_COMMON_COUNT,
    P_BETA,
    /* focal_tversky */
    P_GAMMA,
    P_GAMMA_CONVENTION,
    P_FOCAL_COUNT,
    /* asymmetric_similarity */
    P_F_BETA = P_COMMON_COUNT,
};

enum { CONVENTION_INVERSE = 0, CONVENTION_EXPONENT = 1 };

#define TVERSKY_SUMS (LK_STAT_BIT(LK_STAT_PG) | LK_STAT_BIT(LK_STAT_P) | LK_STAT_BIT(LK_STAT_G))

/* The Tversky index with false positives weighed by alpha, false negatives by beta. */
static lk_sum_ratio tversky_index(const lk_params *params, double alpha, double beta)
{
    return lk_tversky_ratio(alpha, beta, lk_param_float(params, P_SMOOTH_NR),
                            lk_param_float(params, P_SMOOTH_DR));
}

static double tversky_term(const lk_region_group *group, int64_t c, const double *s,
                           double upstream, double *ds)
{
    (void)c;
    const lk_params *params = group->params;
    lk_sum_ratio index = tversky_index(params, lk_param_float(params, P_ALPHA),
                                       lk_param_float(params, P_BETA));
    return 1 - lk_sum_ratio_value(&index, s, -upstream, ds);
}

static double focal_exponent(const lk_params *params)
{
    double gamma = lk_param_float(params, P_GAMMA);
    return lk_param_choice(params, P_GAMMA_CONVENTION) == CONVENTION_INVERSE ? 1 / gamma : gamma;
}

static double focal_tversky_term(const lk_region_group *group, int64_t c, const double *s,
                                 double upstream, double *ds)
{
    (void)c;
    const lk_params *params = group->params;
    lk_sum_ratio index = tversky_index(params, lk_param_float(params, P_ALPHA),
                                       lk_param_float(params, P_BETA));
    double exponent = focal_exponent(params);
    /* 1 - TI >= 0, but rounding in FP = P - I may take it below; a NaN
     * (from a NaN input) must stay NaN to be reported, so no fmax */
    double miss = 1 - lk_sum_ratio_value(&index, s, 0, NULL);
    if (miss < 0) miss = 0;
    if (ds && miss > 0)
        lk_sum_ratio_value(&index, s, -upstream * exponent * pow(miss, exponent - 1), ds);
    return pow(miss, exponent);
}

static double asymmetric_similarity_term(const lk_region_group *group, int64_t c, const double *s,
                                         double upstream, double *ds)
{
    (void)c;
    double beta_squared = lk_param_float(group->params, P_F_BETA);
    beta_squared *= beta_squared;
    lk_sum_ratio index = tversky_index(group->params, 1 / (1 + beta_squared),
                                       beta_squared / (1 + beta_squared));
    return 1 - lk_sum_ratio_value(&index, s, -upstream, ds);
}

static const lk_region_ops tversky_ops = {.fixed_sums = TVERSKY_SUMS, .class_term = tversky_term};
static const lk_region_ops focal_tversky_ops = {.fixed_sums = TVERSKY_SUMS,
                                                 .class_term = focal_tversky_term};
static const lk_region_ops asymmetric_similarity_ops = {.fixed_sums = TVERSKY_SUMS,
                                                         .class_term = asymmetric_similarity_term};

static const lk_input_info tversky_inputs[] = {LK_INPUT_SCORES, LK_INPUT_REGION_TARGET};

/* The parameters every loss of the family has, at their common positions. */
#define COMMON_PARAMS(smooth_default)                                                      \
    LK_REGION_CLASS_PARAMS, [P_SMOOTH_NR] = LK_PARAM_SMOOTH_NR(smooth_default),            \
    [P_SMOOTH_DR] = LK_PARAM_SMOOTH_DR(smooth_default)

#define ALPHA_PARAM(default_text)                                                          \
    {"alpha", LK_PARAM_FLOAT, default_text, 0, INFINITY, 0, NULL,                          \
     "weight of the false positives, sum p (1 - g)"}
#define BETA_PARAM(default_text)                                                           \
    {"beta", LK_PARAM_FLOAT, default_text, 0, INFINITY, 0, NULL,                           \
     "weight of the false negatives, sum (1 - p) g"}

static const lk_param_info tversky_params[P_BETA + 1] = {
    COMMON_PARAMS("1e-05"),
    [P_ALPHA] = ALPHA_PARAM("0.5"),
    [P_BETA] = BETA_PARAM("0.5"),
};

static const lk_param_info focal_tversky_params[P_FOCAL_COUNT] = {
    COMMON_PARAMS("1"),
    [P_ALPHA] = ALPHA_PARAM("0.3"),
    [P_BETA] = BETA_PARAM("0.7"),
    [P_GAMMA] = {"gamma", LK_PARAM_FLOAT, "1.3333333333333333", 0, INFINITY, LK_RANGE_MIN_OPEN,
                 NULL, "focal parameter; the exponent is 1/gamma or gamma (gamma_convention)"},
    [P_GAMMA_CONVENTION] = {"gamma_convention", LK_PARAM_CHOICE, "inverse", 0, 0, 0,
                            "inverse|exponent",
                            "inverse: (1 - TI)^(1/gamma), the paper's; exponent: (1 - TI)^gamma, "
                            "the authors' code's (gamma = 0.75) and smp's"},
};

static const lk_param_info asymmetric_similarity_params[P_F_BETA + 1] = {
    COMMON_PARAMS("1e-05"),
    [P_F_BETA] = {"beta", LK_PARAM_FLOAT, "1.5", 0, INFINITY, 0, NULL,
                  "F-beta's beta: false negatives weigh beta^2 / (1 + beta^2), false positives "
                  "1 / (1 + beta^2)"},
};

static const char *const tversky_examples[] = {
    "",
    "alpha=0.3,beta=0.7,include_background=false",
    "alpha=1,beta=1,batch=true,reduction=sum,smooth_nr=0,smooth_dr=1e-4",
    "activation=sigmoid,weight=[2,1,0.5],reduction=none",
    "activation=none,ignore_index=2,absent_classes=skip",
    "batch=true,absent_classes=zero,reduction=none",
    NULL,
};

static const char *const focal_tversky_examples[] = {
    "",
    "gamma=3,include_background=false,batch=true",
    "gamma=0.75,gamma_convention=exponent,smooth_nr=1e-5,smooth_dr=1e-5",
    "gamma=1,alpha=0.5,beta=0.5,reduction=none,activation=sigmoid",
    "activation=none,weight=[1,2,3],ignore_index=0,reduction=sum",
    "absent_classes=skip,gamma=2",
    NULL,
};

static const char *const asymmetric_similarity_examples[] = {
    "",
    "beta=1,include_background=false,reduction=sum",
    "beta=2,batch=true,activation=sigmoid,reduction=none",
    "activation=none,smooth_nr=0,smooth_dr=1e-3,ignore_index=1,absent_classes=zero",
    NULL,
};

const lk_loss_desc lk_loss_tversky = {
    .name = "tversky",
    .category = LK_CATEGORY_REGION,
    .summary = "Tversky loss (MONAI TverskyLoss, smp TverskyLoss, kornia tversky_loss)",
    .formula = "loss = mean_c w_c [1 - (I + smooth_nr) / (I + alpha FP + beta FN + smooth_dr)], "
               "I = sum p g, FP = sum p (1 - g), FN = sum (1 - p) g",
    .reference = "S. S. M. Salehi, D. Erdogmus, A. Gholipour, Tversky loss function for image "
                 "segmentation using 3D fully convolutional deep networks, MLMI 2017",
    .notes = "alpha weighs false positives, beta false negatives (MONAI's names and defaults; "
             "0.5/0.5 is Dice). kornia: absent_classes=skip, smooth_nr=0, smooth_dr=eps. smp: "
             "batch=true, smooth_nr = smooth_dr = smooth, absent_classes=zero.",
    LK_DESC_INPUTS(tversky_inputs),
    LK_DESC_PARAMS(tversky_params),
    .examples = tversky_examples,
    LK_REGION_LOSS(tversky_ops),
};

const lk_loss_desc lk_loss_focal_tversky = {
    .name = "focal_tversky",
    .category = LK_CATEGORY_REGION,
    .summary = "Focal Tversky loss: (1 - Tversky index)^(1/gamma) per class",
    .formula = "loss = mean_c w_c (1 - TI_c)^e, e = 1/gamma (gamma_convention=inverse) or gamma "
               "(exponent); TI as in tversky",
    .reference = "N. Abraham, N. M. Khan, A Novel Focal Tversky Loss Function with Improved "
                 "Attention U-Net for Lesion Segmentation, ISBI 2019",
    .notes = "The paper's exponent is 1/gamma (gamma in [1, 3], 4/3 in its experiments); its code "
             "and smp call the exponent itself gamma (0.75). Defaults give 0.75 either way; "
             "alpha = 0.3 (false positives), beta = 0.7, smooth 1 as the authors' code. smp "
             "raises the class mean, not each class. The gradient is 0 where TI = 1.",
    LK_DESC_INPUTS(tversky_inputs),
    LK_DESC_PARAMS(focal_tversky_params),
    .examples = focal_tversky_examples,
    LK_REGION_LOSS(focal_tversky_ops),
};

const lk_loss_desc lk_loss_asymmetric_similarity = {
    .name = "asymmetric_similarity",
    .category = LK_CATEGORY_REGION,
    .summary = "Asymmetric similarity loss: 1 - F-beta score, a Tversky loss with alpha + beta = 1",
    .formula = "loss = mean_c w_c [1 - (I + smooth_nr) / (I + b^2/(1+b^2) FN + 1/(1+b^2) FP + "
               "smooth_dr)], b = beta",
    .reference = "S. R. Hashemi et al., Asymmetric Loss Functions and Deep Densely-Connected "
                 "Networks for Highly-Imbalanced Medical Image Segmentation, IEEE Access 7 (2019)",
    .notes = "beta = 1.5 as in the paper; beta = 1 is Dice. Equals tversky with alpha = "
             "1/(1+beta^2), beta' = beta^2/(1+beta^2).",
    LK_DESC_INPUTS(tversky_inputs),
    LK_DESC_PARAMS(asymmetric_similarity_params),
    .examples = asymmetric_similarity_examples,
    LK_REGION_LOSS(asymmetric_similarity_ops),
};
