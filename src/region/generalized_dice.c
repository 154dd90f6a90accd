/*
 * Generalized Dice loss and its penalty variant: one term per group (an
 * image, or the batch with batch=true) over all classes kept.
 *
 *   GDL = 1 - (2 sum_c w_c I_c + smooth_nr) / (sum_c w_c (P_c + G_c) + smooth_dr)
 *   w_c = 1 / G_c^2 (weight_type=square), 1 / G_c (simple) or 1 (uniform)
 *   penalty_generalized_dice: GDL / (1 + k (1 - GDL))
 *
 * I_c = sum_i p_ic g_ic, P_c = sum_i p_ic, G_c = sum_i g_ic over the group's
 * pixels not ignored. A class absent from the group's target (G_c = 0) would
 * get an infinite weight; as MONAI, it gets the largest weight of the group's
 * present classes instead (0 if no class is present, and then the loss is
 * 1 - smooth_nr / smooth_dr: 0 with the defaults). The weights depend on the
 * target only: no gradient flows through them.
 *
 * Gradients: with N = 2 sum w I + smooth_nr and D = sum w (P + G) + smooth_dr,
 * d GDL / d I_c = -2 w_c / D, d GDL / d P_c = N w_c / D^2; the penalty's
 * d pGD / d GDL = (1 + k) / (1 + k (1 - GDL))^2.
 *
 * References: C. H. Sudre, W. Li, T. Vercauteren, S. Ourselin, M. J. Cardoso,
 * "Generalised Dice overlap as a deep learning loss function for highly
 * unbalanced segmentations", DLMIA 2017; Y. Su, K. Jihoon, K. Young-Hak,
 * "Major vessel segmentation on X-ray coronary angiography using deep networks
 * with a novel penalty loss function", MIDL 2019; eqs. (11), (14) of J. Ma,
 * "Segmentation Loss Odyssey" (2020).
 *
 * Conventions: MONAI's GeneralizedDiceLoss (names, defaults, the weight of
 * empty classes; reduction none gives one value per image, (N,), or a scalar
 * with batch=true). kornia's dice_loss(average="micro") is weight_type=uniform,
 * smooth_nr = 0, smooth_dr = its eps. Penalty: k = 2.5 as the paper and
 * JunMa's SegLoss.
 */
#include <math.h>

#include "core/region.h"

enum {
    P_INCLUDE_BACKGROUND,
    P_ACTIVATION,
    P_WEIGHT_TYPE,
    P_SMOOTH_NR,
    P_SMOOTH_DR,
    P_BATCH,
    P_IGNORE_INDEX,
    P_REDUCTION,
    P_GDL_COUNT,
    P_K = P_GDL_COUNT, /* penalty_generalized_dice */
};

enum { WEIGHT_SQUARE = 0, WEIGHT_SIMPLE = 1, WEIGHT_UNIFORM = 2 };

static double volume_weight(int type, double volume)
{
    if (type == WEIGHT_UNIFORM) return 1;
    return type == WEIGHT_SQUARE ? 1 / (volume * volume) : 1 / volume;
}

/* The largest weight of the group's present classes (0 if none is present). */
static double largest_weight(const lk_region_group *group, const double *stats, int type)
{
    double largest = 0;
    for (int64_t c = group->first_class; c < group->classes; c++) {
        double volume = stats[c * group->row + LK_STAT_G];
        if (volume > 0) largest = fmax(largest, volume_weight(type, volume));
    }
    return largest;
}

static double generalized_dice_term(const lk_region_group *group, const double *stats,
                                    double upstream, double *ds)
{
    int type = lk_param_choice(group->params, P_WEIGHT_TYPE);
    double absent_weight = largest_weight(group, stats, type);
    double numerator = lk_param_float(group->params, P_SMOOTH_NR);
    double denominator = lk_param_float(group->params, P_SMOOTH_DR);
    for (int64_t c = group->first_class; c < group->classes; c++) {
        const double *s = stats + c * group->row;
        double weight = s[LK_STAT_G] > 0 ? volume_weight(type, s[LK_STAT_G]) : absent_weight;
        numerator += 2 * weight * s[LK_STAT_PG];
        denominator += weight * (s[LK_STAT_P] + s[LK_STAT_G]);
    }
    for (int64_t c = group->first_class; ds && c < group->classes; c++) {
        const double *s = stats + c * group->row;
        double weight = s[LK_STAT_G] > 0 ? volume_weight(type, s[LK_STAT_G]) : absent_weight;
        ds[c * group->row + LK_STAT_PG] -= upstream * 2 * weight / denominator;
        ds[c * group->row + LK_STAT_P] += upstream * numerator * weight / (denominator * denominator);
    }
    return 1 - numerator / denominator;
}

static double penalty_generalized_dice_term(const lk_region_group *group, const double *stats,
                                            double upstream, double *ds)
{
    double k = lk_param_float(group->params, P_K);
    double loss = generalized_dice_term(group, stats, 0, NULL);
    double spread = 1 + k * (1 - loss);
    if (ds) generalized_dice_term(group, stats, upstream * (1 + k) / (spread * spread), ds);
    return loss / spread;
}

#define GENERALIZED_DICE_SUMS (LK_STAT_BIT(LK_STAT_PG) | LK_STAT_BIT(LK_STAT_P) | LK_STAT_BIT(LK_STAT_G))

static const lk_region_ops generalized_dice_ops = {.fixed_sums = GENERALIZED_DICE_SUMS,
                                                    .group_term = generalized_dice_term};
static const lk_region_ops penalty_generalized_dice_ops = {
    .fixed_sums = GENERALIZED_DICE_SUMS, .group_term = penalty_generalized_dice_term};

static const lk_input_info generalized_dice_inputs[] = {LK_INPUT_SCORES, LK_INPUT_REGION_TARGET};

#define GDL_PARAMS                                                                         \
    [P_INCLUDE_BACKGROUND] = LK_PARAM_INCLUDE_BACKGROUND,                                  \
    [P_ACTIVATION] = LK_PARAM_REGION_ACTIVATION,                                           \
    [P_WEIGHT_TYPE] = {"weight_type", LK_PARAM_CHOICE, "square", 0, 0, 0,                   \
                       "square|simple|uniform",                                            \
                       "class weights from the target's volume G: 1/G^2, 1/G or 1 (MONAI's " \
                       "w_type)"},                                                         \
    [P_SMOOTH_NR] = LK_PARAM_SMOOTH_NR("1e-05"), [P_SMOOTH_DR] = LK_PARAM_SMOOTH_DR("1e-05"), \
    [P_BATCH] = LK_PARAM_BATCH, [P_IGNORE_INDEX] = LK_PARAM_IGNORE_INDEX,                  \
    [P_REDUCTION] = {"reduction", LK_PARAM_CHOICE, "mean", 0, 0, 0, "mean|sum|none",        \
                     "mean: over the images (one value with batch=true); sum; none: one "  \
                     "value per image"}

static const lk_param_info generalized_dice_params[P_GDL_COUNT] = {GDL_PARAMS};

static const lk_param_info penalty_generalized_dice_params[P_K + 1] = {
    GDL_PARAMS,
    [P_K] = {"k", LK_PARAM_FLOAT, "2.5", 0, INFINITY, 0, NULL,
             "penalty of false positives and negatives; 0 gives generalized_dice"},
};

static const char *const generalized_dice_examples[] = {
    "",
    "weight_type=simple,include_background=false",
    "weight_type=uniform,batch=true,smooth_nr=0,smooth_dr=1e-6",
    "activation=sigmoid,reduction=none",
    "activation=none,ignore_index=0,reduction=sum",
    "batch=true,reduction=none,weight_type=square",
    NULL,
};

static const char *const penalty_generalized_dice_examples[] = {
    "",
    "k=0",
    "k=10,weight_type=simple,batch=true",
    "activation=none,include_background=false,reduction=none",
    NULL,
};

const lk_loss_desc lk_loss_generalized_dice = {
    .name = "generalized_dice",
    .category = LK_CATEGORY_REGION,
    .summary = "Generalized Dice loss with class weights from the target's volumes (MONAI "
               "GeneralizedDiceLoss)",
    .formula = "loss = 1 - (2 sum_c w_c sum p g + smooth_nr) / (sum_c w_c sum (p + g) + "
               "smooth_dr), w_c = 1 / (sum g)^2",
    .reference = "C. H. Sudre et al., Generalised Dice overlap as a deep learning loss function "
                 "for highly unbalanced segmentations, DLMIA 2017",
    .notes = "One term per image (per batch with batch=true). A class absent from the target "
             "gets the largest weight of the present classes, as MONAI (no infinity). kornia's "
             "micro Dice: weight_type=uniform, smooth_nr=0, smooth_dr=eps.",
    LK_DESC_INPUTS(generalized_dice_inputs),
    LK_DESC_PARAMS(generalized_dice_params),
    .examples = generalized_dice_examples,
    LK_REGION_LOSS(generalized_dice_ops),
};

const lk_loss_desc lk_loss_penalty_generalized_dice = {
    .name = "penalty_generalized_dice",
    .category = LK_CATEGORY_REGION,
    .summary = "Penalty generalized Dice loss: GDL / (1 + k (1 - GDL))",
    .formula = "loss = GDL / (1 + k (1 - GDL)), GDL as in generalized_dice",
    .reference = "Y. Su, K. Jihoon, K. Young-Hak, Major vessel segmentation on X-ray coronary "
                 "angiography using deep networks with a novel penalty loss function, MIDL 2019",
    .notes = "k = 2.5 as the paper; applied to each image's GDL (the batch's with batch=true).",
    LK_DESC_INPUTS(generalized_dice_inputs),
    LK_DESC_PARAMS(penalty_generalized_dice_params),
    .examples = penalty_generalized_dice_examples,
    LK_REGION_LOSS(penalty_generalized_dice_ops),
};
