/*
 * Generalized Wasserstein Dice loss: a generalized Dice loss in which a
 * mistake between semantically close classes costs less than one between
 * distant classes. One term per group (an image, or the batch).
 *
 * With M the class distance matrix (normalized by its largest entry), the
 * Wasserstein distance between a pixel's predicted distribution p and its
 * label l is W_i = sum_c M[l][c] p_ic. Per label class l, over the group's
 * pixels labelled l (n_l of them, not ignored):
 *
 *   A_l = sum_{i: y_i = l} W_i = sum_c M[l][c] S[l][c],  S[l][c] = sum_{i: y_i = l} p_ic
 *   TP  = sum_l alpha_l (n_l - A_l)
 *   weighting_mode=default: alpha_0 = 0, alpha_l = 1 otherwise (class 0 is
 *                           the background); denominator = 2 TP + sum_l A_l
 *   weighting_mode=GDL:     alpha_l = 1 / (n_l + 1);
 *                           denominator = sum_l alpha_l (2 n_l - A_l)
 *   loss = 1 - (2 TP + smooth_nr) / (denominator + smooth_dr)
 *
 * S is the soft confusion matrix of the statistics API (K = LK_STATS + C);
 * n_l its sum of g. Gradient: d loss / d S[l][c] = M[l][c] d loss / d A_l,
 * spread to the pixels by the region driver.
 *
 * Reference: L. Fidon et al., "Generalised Wasserstein Dice Score for
 * Imbalanced Multi-class Segmentation using Holistic Convolutional Networks",
 * BrainLes (MICCAI) 2017; eq. (9) of the 2023 survey (seed 002).
 *
 * Conventions: MONAI's GeneralizedWassersteinDiceLoss: the same two weighting
 * modes, M divided by its largest entry, softmax over the classes, smoothing
 * 1e-5, one value per image for reduction none. dist_matrix is the C x C
 * matrix in row-major order (M[l][c] = dist_matrix[l C + c]); it must have
 * zeros on the diagonal, no negative entry and a positive one. Empty: the
 * 0/1 distance (1 between any two different classes). Targets are class
 * indices, as MONAI's; with ignore_index and batch as the other region losses.
 */
#include <math.h>

#include "core/region.h"

enum {
    P_DIST_MATRIX,
    P_WEIGHTING_MODE,
    P_ACTIVATION,
    P_SMOOTH_NR,
    P_SMOOTH_DR,
    P_BATCH,
    P_IGNORE_INDEX,
    P_REDUCTION,
    P_COUNT
};

enum { WEIGHTING_DEFAULT = 0, WEIGHTING_GDL = 1 };

/* M[l][c], normalized by the largest entry (the 0/1 distance if unset). */
static double distance(const double *matrix, size_t count, double largest, int64_t classes,
                       int64_t l, int64_t c)
{
    if (count == 0) return l != c;
    return matrix[l * classes + c] / largest;
}

static double largest_entry(const double *matrix, size_t count)
{
    double largest = 0;
    for (size_t i = 0; i < count; i++) largest = fmax(largest, matrix[i]);
    return largest;
}

/* alpha_l of the weighting mode, from n_l. */
static double class_alpha(int mode, int64_t l, double volume)
{
    if (mode == WEIGHTING_GDL) return 1 / (volume + 1);
    return l == 0 ? 0 : 1;
}

static double wasserstein_term(const lk_region_group *group, const double *stats, double upstream,
                               double *ds)
{
    size_t count;
    const double *matrix = lk_param_list(group->params, P_DIST_MATRIX, &count);
    double largest = largest_entry(matrix, count);
    int mode = lk_param_choice(group->params, P_WEIGHTING_MODE);
    int64_t classes = group->classes, row = group->row;
    double true_positives = 0, denominator = lk_param_float(group->params, P_SMOOTH_DR);
    for (int64_t l = 0; l < classes; l++) {
        const double *s = stats + l * row;
        double volume = s[LK_STAT_G], alpha = class_alpha(mode, l, volume), cost = 0;
        for (int64_t c = 0; c < classes; c++)
            cost += distance(matrix, count, largest, classes, l, c) * s[LK_STATS + c];
        true_positives += alpha * (volume - cost);
        denominator += mode == WEIGHTING_GDL ? alpha * (2 * volume - cost) : cost;
    }
    if (mode == WEIGHTING_DEFAULT) denominator += 2 * true_positives;
    double numerator = 2 * true_positives + lk_param_float(group->params, P_SMOOTH_NR);
    double score = numerator / denominator;
    for (int64_t l = 0; ds && l < classes; l++) {
        double alpha = class_alpha(mode, l, stats[l * row + LK_STAT_G]);
        /* d numerator / d A_l = -2 alpha_l; d denominator / d A_l below */
        double d_denominator = mode == WEIGHTING_GDL ? -alpha : 1 - 2 * alpha;
        double d_cost = -(-2 * alpha - score * d_denominator) / denominator;
        for (int64_t c = 0; c < classes; c++)
            ds[l * row + LK_STATS + c] +=
                upstream * d_cost * distance(matrix, count, largest, classes, l, c);
    }
    return 1 - score;
}

static lk_status wasserstein_check(const lk_call *call)
{
    size_t count;
    const double *matrix = lk_param_list(call->params, P_DIST_MATRIX, &count);
    int64_t classes = call->classes;
    if (count == 0) return LK_OK;
    if ((int64_t)count != classes * classes)
        return lk_fail(LK_EPARAM,
                       "loss '%s': parameter 'dist_matrix' has %zu values; input '%s' has %lld "
                       "classes, so it needs %lld (a C x C matrix, row-major)",
                       call->desc->name, count, call->desc->inputs[0].name, (long long)classes,
                       (long long)(classes * classes));
    for (int64_t c = 0; c < classes; c++)
        if (matrix[c * classes + c] != 0)
            return lk_fail(LK_EPARAM,
                           "loss '%s': parameter 'dist_matrix' has [%lld][%lld] = %.17g; the "
                           "distance of a class to itself must be 0",
                           call->desc->name, (long long)c, (long long)c, matrix[c * classes + c]);
    if (largest_entry(matrix, count) <= 0)
        return lk_fail(LK_EPARAM,
                       "loss '%s': parameter 'dist_matrix' is all zeros; it needs a positive "
                       "distance (it is divided by its largest entry)",
                       call->desc->name);
    return LK_OK;
}

static const lk_region_ops wasserstein_ops = {
    .fixed_sums = LK_STAT_BIT(LK_STAT_G), .confusion = 1, .group_term = wasserstein_term};

static const lk_input_info wasserstein_inputs[] = {LK_INPUT_SCORES, LK_INPUT_LABELS};

static const lk_param_info wasserstein_params[P_COUNT] = {
    [P_DIST_MATRIX] = {"dist_matrix", LK_PARAM_FLOAT_LIST, "[]", 0, INFINITY, 0, NULL,
                       "C x C class distances, row-major, zero diagonal ([] = 1 between any two "
                       "classes); divided by the largest"},
    [P_WEIGHTING_MODE] = {"weighting_mode", LK_PARAM_CHOICE, "default", 0, 0, 0, "default|GDL",
                          "default: class 0 is background (alpha 0), others 1; GDL: alpha_l = "
                          "1 / (n_l + 1) (MONAI's weighting_mode)"},
    [P_ACTIVATION] = LK_PARAM_SOFTMAX_ACTIVATION,
    [P_SMOOTH_NR] = LK_PARAM_SMOOTH_NR("1e-05"),
    [P_SMOOTH_DR] = LK_PARAM_SMOOTH_DR("1e-05"),
    [P_BATCH] = LK_PARAM_BATCH,
    [P_IGNORE_INDEX] = LK_PARAM_IGNORE_INDEX,
    [P_REDUCTION] = {"reduction", LK_PARAM_CHOICE, "mean", 0, 0, 0, "mean|sum|none",
                     "mean: over the images (one value with batch=true); sum; none: one value "
                     "per image"},
};

static const char *const wasserstein_examples[] = {
    "",
    "weighting_mode=GDL",
    "dist_matrix=[0,1,2,1,0,1,2,1,0],batch=true",
    "dist_matrix=[0,0.5,1,0.5,0,1,1,1,0],reduction=none,ignore_index=2",
    "weighting_mode=GDL,activation=none,reduction=sum,smooth_nr=0,smooth_dr=1e-4",
    NULL,
};

const lk_loss_desc lk_loss_generalized_wasserstein_dice = {
    .name = "generalized_wasserstein_dice",
    .category = LK_CATEGORY_REGION,
    .summary = "Generalized Wasserstein Dice loss with a class distance matrix (MONAI "
               "GeneralizedWassersteinDiceLoss)",
    .formula = "loss = 1 - (2 TP + smooth_nr) / (den + smooth_dr), TP = sum_l alpha_l (n_l - "
               "A_l), A_l = sum_{y_i = l} sum_c M[l][c] p_ic",
    .reference = "L. Fidon et al., Generalised Wasserstein Dice Score for Imbalanced Multi-class "
                 "Segmentation using Holistic Convolutional Networks, BrainLes 2017",
    .notes = "MONAI's two weighting modes (default: den = 2 TP + sum_l A_l; GDL: den = sum_l "
             "alpha_l (2 n_l - A_l)); M divided by its largest entry; one term per image. "
             "Statistics: K = 8 + C (a soft confusion matrix).",
    LK_DESC_INPUTS(wasserstein_inputs),
    LK_DESC_PARAMS(wasserstein_params),
    .examples = wasserstein_examples,
    .check = wasserstein_check,
    LK_REGION_LOSS(wasserstein_ops),
};
