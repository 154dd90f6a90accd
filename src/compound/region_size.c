/*
 * Cross-entropy with an explicit region-size term (Liu et al., the
 * SegLossBias paper): CE plus lambda times a distance between the predicted
 * and the ground-truth class proportions of each image,
 *
 *   loss = CE + lambda_size R
 *   pi_nc  = (G_nc + smooth) / (M_n + smooth)     ground-truth proportion
 *   pi^_nc = (P_nc + smooth) / (M_n + smooth)     predicted proportion
 *   R (penalty=l1) = mean over (n, c) of |pi^_nc - pi_nc|
 *   R (penalty=kl) = mean over n of sum_c pi_nc log(pi_nc / pi^_nc)
 *
 * P_nc = sum of p (the softmax of the logits, or the input with
 * activation=none), G_nc = sum of the one-hot target (or the dense target),
 * M_n = number of pixels, all over the pixels of image n not labelled
 * ignore_index. CE is cross_entropy (PyTorch's, with weight and
 * ignore_index).
 *
 * The region-size terms are region rules over the sums P, G and N of the
 * region driver (core/region.h), which gives the gradient of every pixel:
 *   d|pi^ - pi| / dP = sign(pi^ - pi) / (M + smooth)   (0 where equal, as torch)
 *   d/dP_c [pi log(pi/pi^)] = -pi_c / pi^_c / (M + smooth)
 * and the sum with the CE is a weighted sum of terms (core/terms.h).
 *
 * Conventions: the reference code's (github.com/by-liu/SegLossBias:
 * CrossEntropyWithL1, CrossEntropyWithKL): smooth = EPS = 1e-10, proportions
 * per image, ignore_index 255 (its default), temp = 1. Its multiclass mode
 * is ours. Its binary mode (one logit x, sigmoid, BCE, the foreground's
 * proportion; Bernoulli KL) is ours on two channels of logits [0, x]:
 * softmax([0, x]) = (1 - sigmoid(x), sigmoid(x)), the CE of that is the BCE,
 * the mean of |pi^ - pi| over the two classes equals the foreground's, and
 * the KL over two classes is the Bernoulli KL. A term 0 log 0 is 0.
 *
 * Reference: B. Liu, J. Dolz, A. Galdran, R. Kobbi, I. Ben Ayed, "The hidden
 * label-marginal biases of segmentation losses", arXiv 2104.08717 (seed 003).
 */
#include <math.h>

#include "compound/compound.h"
#include "core/region.h"

extern const lk_loss_desc lk_loss_cross_entropy;

/* ------------------------------------------------------------ the region-size rules */

/* The parameters of the region-size terms (unregistered losses the compound
 * runs as terms); the region driver reads activation and ignore_index. */
enum { S_ACTIVATION, S_IGNORE_INDEX, S_SMOOTH, S_COUNT };

typedef struct proportions {
    double truth, predicted, scale; /* pi, pi^, 1 / (M + smooth) */
} proportions;

static proportions proportions_of(const lk_region_group *group, const double *s)
{
    double smooth = lk_param_float(group->params, S_SMOOTH);
    double scale = 1 / (s[LK_STAT_N] + smooth);
    return (proportions){(s[LK_STAT_G] + smooth) * scale, (s[LK_STAT_P] + smooth) * scale, scale};
}

static double l1_term(const lk_region_group *group, int64_t c, const double *s, double upstream,
                      double *ds)
{
    (void)c;
    proportions pi = proportions_of(group, s);
    double difference = pi.predicted - pi.truth;
    double sign = difference > 0 ? 1 : difference < 0 ? -1 : 0;
    if (ds) ds[LK_STAT_P] += upstream * sign * pi.scale;
    return fabs(difference);
}

/* a log(a / b), 0 where a = 0. */
static double relative_entropy(double a, double b)
{
    return a > 0 ? a * log(a / b) : 0;
}

static double kl_term(const lk_region_group *group, const double *stats, double upstream,
                      double *ds)
{
    double total = 0;
    for (int64_t c = group->first_class; c < group->classes; c++) {
        proportions pi = proportions_of(group, stats + c * group->row);
        total += relative_entropy(pi.truth, pi.predicted);
        if (ds) ds[c * group->row + LK_STAT_P] -= upstream * pi.truth / pi.predicted * pi.scale;
    }
    return total;
}

#define SIZE_SUMS (LK_STAT_BIT(LK_STAT_P) | LK_STAT_BIT(LK_STAT_G) | LK_STAT_BIT(LK_STAT_N))

static const lk_region_ops l1_ops = {.fixed_sums = SIZE_SUMS, .class_term = l1_term};
static const lk_region_ops kl_ops = {.fixed_sums = SIZE_SUMS, .group_term = kl_term};

static const lk_input_info size_inputs[] = {LK_INPUT_SCORES, LK_INPUT_REGION_TARGET};

static const lk_param_info size_params[S_COUNT] = {
    [S_ACTIVATION] = LK_PARAM_SOFTMAX_ACTIVATION,
    [S_IGNORE_INDEX] = LK_PARAM_IGNORE_INDEX,
    [S_SMOOTH] = {"smooth", LK_PARAM_FLOAT, "1e-10", 0, INFINITY, LK_RANGE_MIN_OPEN, NULL,
                  "added to the sums and the pixel count of the proportions"},
};

static const lk_loss_desc size_l1 = {
    .name = "region_size_l1",
    .category = LK_CATEGORY_REGION,
    .summary = "mean |pi^ - pi| of the class proportions (a term of ce_region_size)",
    LK_DESC_INPUTS(size_inputs),
    LK_DESC_PARAMS(size_params),
    LK_REGION_LOSS(l1_ops),
};

static const lk_loss_desc size_kl = {
    .name = "region_size_kl",
    .category = LK_CATEGORY_REGION,
    .summary = "mean over images of KL(pi || pi^) (a term of ce_region_size)",
    LK_DESC_INPUTS(size_inputs),
    LK_DESC_PARAMS(size_params),
    LK_REGION_LOSS(kl_ops),
};

/* ------------------------------------------------------------ the compound */

enum { P_PENALTY, P_LAMBDA_SIZE, P_SMOOTH, P_WEIGHT, P_IGNORE_INDEX, P_ACTIVATION, P_COUNT };
enum { PENALTY_L1 = 0, PENALTY_KL = 1 };

static lk_status region_size_terms(const lk_call *call, lk_term_set *set, int materialize)
{
    (void)materialize; /* every term reads the target as given */
    const lk_loss_desc *size = lk_param_choice(call->params, P_PENALTY) == PENALTY_KL ? &size_kl : &size_l1;
    lk_status status = lk_term_set_add(set, call, &lk_loss_cross_entropy, 1, NULL, NULL);
    if (status == LK_OK)
        status = lk_term_set_add(set, call, size, lk_param_float(call->params, P_LAMBDA_SIZE), NULL, NULL);
    return status;
}

static lk_status region_size_check(const lk_call *call)
{
    return lk_compound_loss_check(call, region_size_terms);
}

static lk_status region_size_compute(const lk_call *call)
{
    return lk_compound_loss_compute(call, region_size_terms);
}

static const lk_input_info region_size_inputs[] = {LK_INPUT_SCORES, LK_INPUT_REGION_TARGET};

static const lk_param_info region_size_params[P_COUNT] = {
    [P_PENALTY] = {"penalty", LK_PARAM_CHOICE, "l1", 0, 0, 0, "l1|kl",
                   "l1: mean |pi^ - pi| over images and classes (CrossEntropyWithL1); kl: mean "
                   "over images of KL(pi || pi^) (CrossEntropyWithKL)"},
    [P_LAMBDA_SIZE] = {"lambda_size", LK_PARAM_FLOAT, "1", 0, INFINITY, 0, NULL,
                       "weight of the region-size term (the reference's alpha)"},
    [P_SMOOTH] = {"smooth", LK_PARAM_FLOAT, "1e-10", 0, INFINITY, LK_RANGE_MIN_OPEN, NULL,
                  "added to the sums and the pixel count of the proportions (the reference's "
                  "EPS)"},
    [P_WEIGHT] = LK_PARAM_CLASS_WEIGHT("per-class weights of the cross-entropy, one per class "
                                       "([] = 1)"),
    [P_IGNORE_INDEX] = {"ignore_index", LK_PARAM_INT, "255", -LK_INT_LIMIT, LK_INT_LIMIT, 0, NULL,
                        "label value whose pixels add nothing to either term (the reference's "
                        "default 255)"},
    [P_ACTIVATION] = LK_PARAM_SOFTMAX_ACTIVATION,
};

static const char *const region_size_examples[] = {
    "",
    "penalty=kl,lambda_size=0.5",
    "weight=[0.5,2,1],ignore_index=1,lambda_size=3",
    "activation=none,smooth=1e-3",
    "activation=none,penalty=kl,smooth=1e-2,weight=[1,3,0.5]",
    NULL,
};

const lk_loss_desc lk_loss_ce_region_size = {
    .name = "ce_region_size",
    .category = LK_CATEGORY_COMPOUND,
    .summary = "Cross-entropy + an explicit region-size term: L1 or KL between predicted and "
               "ground-truth class proportions (SegLossBias)",
    .formula = "loss = CE + lambda_size R; R = mean_{n,c} |pi^_nc - pi_nc| (l1) or mean_n "
               "sum_c pi_nc log(pi_nc / pi^_nc) (kl); pi = (sum g + s)/(M + s), pi^ = (sum p + "
               "s)/(M + s)",
    .reference = "B. Liu et al., The hidden label-marginal biases of segmentation losses, "
                 "arXiv 2104.08717 (SegLossBias)",
    .notes = "The reference code's conventions (CrossEntropyWithL1 / CrossEntropyWithKL): "
             "proportions per image over the pixels not ignored, EPS = 1e-10, ignore_index "
             "255. Its binary mode (one logit x) is ours on two channels [0, x]. 0 log 0 = 0.",
    LK_DESC_INPUTS(region_size_inputs),
    LK_DESC_PARAMS(region_size_params),
    .examples = region_size_examples,
    .output = LK_OUTPUT_SCALAR,
    .check = region_size_check,
    .compute = region_size_compute,
};
