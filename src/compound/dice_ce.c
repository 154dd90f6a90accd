/*
 * Dice + cross-entropy and Dice + focal: MONAI's DiceCELoss and
 * DiceFocalLoss, as weighted sums of the registered losses (core/terms.h),
 * so that no kernel is copied and the gradients are the terms' summed.
 *
 *   dice_ce:    loss = lambda_dice Dice + lambda_ce CE
 *     CE: cross_entropy (softmax over the logits; PyTorch's CrossEntropyLoss,
 *     whose mean divides by the total weight of the pixels not ignored, that
 *     is, by N x spatial without weights) for C > 1; with one channel,
 *     binary_cross_entropy on the logits with pos_weight = weight, mean over
 *     the N x spatial elements (MONAI's BCEWithLogitsLoss).
 *   dice_focal: loss = lambda_dice Dice + lambda_focal FL
 *     FL: MONAI's FocalLoss as DiceFocalLoss builds it, a sigmoid focal loss
 *     on each channel's logit against the one-hot target,
 *     -a_t (1 - p_t)^gamma log p_t, a_t = alpha t + (1 - alpha)(1 - t) (no
 *     alpha when alpha < 0, MONAI's None), times weight[c]; mean over the
 *     N x C' x spatial elements of the channels kept (include_background=
 *     false leaves channel 0 out of both terms).
 *   Dice: the dice loss with the same options (smooth_nr, smooth_dr,
 *   squared_pred, batch, include_background, weight), its activation
 *   applied to the logits (softmax, or a sigmoid per channel).
 *
 * The input holds logits (MONAI's CE and focal parts always read logits;
 * its softmax/sigmoid flags only concern the Dice part: our activation).
 * The target holds class indices (MONAI's to_onehot_y=True; a 0/1 mask with
 * one channel) or per-class targets shaped like the input (to_onehot_y=
 * False).
 *
 * Conventions, where MONAI's are odd or missing:
 *   - weight (dice_ce) is CrossEntropyLoss's: one per class; the Dice term
 *     gets weight[1:] with include_background=false, as MONAI 1.4+ does.
 *     weight (dice_focal) is per class kept, or one value, for both terms.
 *     With one channel the Dice term takes no weight (MONAI's DiceLoss
 *     ignores it there); the BCE / focal term does.
 *   - reduction=sum: dice_ce is Dice's sum plus CE's sum, as MONAI; for
 *     dice_focal, MONAI's FocalLoss(reduction="sum") sums each (image,
 *     channel)'s spatial mean, and so does ours (the focal term's total
 *     divided by the spatial size).
 *   - ignore_index (dice_ce only; MONAI has none) leaves pixels out of both
 *     terms; with one channel the BCE term reads every pixel, so a label
 *     equal to ignore_index there is reported as not a 0/1 label.
 *   - jaccard=True and other_act are not parameters: write the sum as a spec
 *     ("jaccard + cross_entropy", lk_compound_parse) instead.
 *
 * References: F. Isensee et al., "nnU-Net", Nature Methods 2021 (Dice + CE);
 * W. Zhu et al., "AnatomyNet", Medical Physics 2019 (Dice + focal); MONAI's
 * monai.losses.DiceCELoss / DiceFocalLoss for names and defaults.
 */
#include <stdlib.h>

#include "compound/compound.h"
#include "core/region.h"

extern const lk_loss_desc lk_loss_dice;
extern const lk_loss_desc lk_loss_cross_entropy;
extern const lk_loss_desc lk_loss_binary_cross_entropy;
extern const lk_loss_desc lk_loss_sigmoid_focal;

enum {
    P_INCLUDE_BACKGROUND,
    P_ACTIVATION,
    P_SQUARED_PRED,
    P_SMOOTH_NR,
    P_SMOOTH_DR,
    P_BATCH,
    P_WEIGHT,
    P_LAMBDA_DICE,
    P_LAMBDA_OTHER, /* lambda_ce or lambda_focal */
    P_REDUCTION,
    P_COMMON_COUNT
};
enum { P_CE_IGNORE_INDEX = P_COMMON_COUNT, P_CE_LABEL_SMOOTHING, P_CE_COUNT };
enum { P_FOCAL_GAMMA = P_COMMON_COUNT, P_FOCAL_ALPHA, P_FOCAL_COUNT };

/* 1 when class 0 is left out (include_background=false, more than one channel). */
static int first_class(const lk_call *call)
{
    return call->classes > 1 && !lk_param_bool(call->params, P_INCLUDE_BACKGROUND);
}

/* weight[from:] of the compound, into a term's "weight" (or other list). */
static lk_status set_list_tail(const lk_call *call, lk_params *term, const char *key, size_t from)
{
    size_t count;
    const double *weight = lk_param_list(call->params, P_WEIGHT, &count);
    if (count <= 1) from = 0;
    return lk_params_set_floats(term, key, weight + from, count - from);
}

/* The Dice term's weights: the compound's from class `from` on; none with
 * one channel (MONAI's DiceLoss ignores its weight there). */
static lk_status set_dice_weight(const lk_call *call, lk_params *dice, size_t from)
{
    if (call->classes == 1) return lk_params_set_floats(dice, "weight", NULL, 0);
    return set_list_tail(call, dice, "weight", from);
}

/* ------------------------------------------------------------ dice_ce */

static lk_status dice_ce_terms(const lk_call *call, lk_term_set *set, int materialize)
{
    static const char *const dice_skip[] = {"weight", NULL};
    static const char *const ce_skip[] = {"activation", NULL};
    static const char *const bce_skip[] = {"weight", "activation", NULL};
    lk_params *dice = NULL, *ce = NULL;
    double lambda_ce = lk_param_float(call->params, P_LAMBDA_OTHER);
    lk_status status = lk_term_set_add(set, call, &lk_loss_dice,
                                       lk_param_float(call->params, P_LAMBDA_DICE), dice_skip, &dice);
    if (status == LK_OK) status = set_dice_weight(call, dice, (size_t)first_class(call));
    if (status != LK_OK) return status;
    if (call->classes > 1)
        return lk_term_set_add(set, call, &lk_loss_cross_entropy, lambda_ce, ce_skip, NULL);
    status = lk_term_set_add(set, call, &lk_loss_binary_cross_entropy, lambda_ce, bce_skip, &ce);
    if (status == LK_OK) status = set_list_tail(call, ce, "pos_weight", 0);
    return status == LK_OK ? lk_term_set_per_class_target(set, call, materialize) : status;
}

static lk_status dice_ce_check(const lk_call *call)
{
    size_t count;
    lk_param_list(call->params, P_WEIGHT, &count);
    if (count != 0 && (int64_t)count != call->classes)
        return lk_fail(LK_EPARAM,
                       "loss 'dice_ce': parameter 'weight' has %zu values; give one per class "
                       "(%lld, CrossEntropyLoss's weight; the Dice term drops class 0's with "
                       "include_background=false)",
                       count, (long long)call->classes);
    return lk_compound_loss_check(call, dice_ce_terms);
}

static lk_status dice_ce_compute(const lk_call *call)
{
    return lk_compound_loss_compute(call, dice_ce_terms);
}

/* ------------------------------------------------------------ dice_focal */

/* The focal term's per-channel weights: 0 for a channel left out, then the
 * compound's weight (one value, or one per channel kept; [] = 1). */
static lk_status set_focal_weight(const lk_call *call, lk_params *focal)
{
    size_t count;
    const double *weight = lk_param_list(call->params, P_WEIGHT, &count);
    double *expanded = malloc((size_t)call->classes * sizeof *expanded);
    if (!expanded) return lk_fail(LK_ENOMEM, "out of memory for dice_focal's weights");
    int skipped = first_class(call);
    for (int64_t c = 0; c < call->classes; c++)
        expanded[c] = c < skipped ? 0 : count == 0 ? 1 : count == 1 ? weight[0] : weight[c - skipped];
    lk_status status = lk_params_set_floats(focal, "weight", expanded, (size_t)call->classes);
    free(expanded);
    return status;
}

/* The focal term runs with reduction mean (over N x C x spatial elements);
 * its weight turns that into MONAI's mean over the channels kept, or its
 * sum of spatial means. */
static double focal_term_weight(const lk_call *call)
{
    double lambda = lk_param_float(call->params, P_LAMBDA_OTHER);
    double classes = (double)call->classes, kept = classes - first_class(call);
    if (call->reduction == LK_REDUCTION_SUM) return lambda * (double)call->batch * classes;
    return lambda * classes / kept;
}

static lk_status dice_focal_terms(const lk_call *call, lk_term_set *set, int materialize)
{
    static const char *const dice_skip[] = {"weight", NULL};
    static const char *const focal_skip[] = {"weight", "activation", "reduction", NULL};
    lk_params *dice = NULL, *focal = NULL;
    lk_status status = lk_term_set_add(set, call, &lk_loss_dice,
                                       lk_param_float(call->params, P_LAMBDA_DICE), dice_skip, &dice);
    if (status == LK_OK) status = set_dice_weight(call, dice, 0);
    if (status == LK_OK)
        status = lk_term_set_add(set, call, &lk_loss_sigmoid_focal, focal_term_weight(call),
                                 focal_skip, &focal);
    if (status == LK_OK) status = set_focal_weight(call, focal);
    return status == LK_OK ? lk_term_set_per_class_target(set, call, materialize) : status;
}

static lk_status dice_focal_check(const lk_call *call)
{
    size_t count;
    lk_param_list(call->params, P_WEIGHT, &count);
    int64_t kept = call->classes - first_class(call);
    if (count > 1 && (int64_t)count != kept)
        return lk_fail(LK_EPARAM,
                       "loss 'dice_focal': parameter 'weight' has %zu values; give 1 or one per "
                       "class kept (%lld%s)",
                       count, (long long)kept,
                       first_class(call) ? ", class 0 left out by include_background=false" : "");
    return lk_compound_loss_check(call, dice_focal_terms);
}

static lk_status dice_focal_compute(const lk_call *call)
{
    return lk_compound_loss_compute(call, dice_focal_terms);
}

/* ------------------------------------------------------------ descriptions */

static const lk_input_info dice_compound_inputs[] = {
    {"input", "logits (N, C, *spatial)", LK_DTYPES_FLOAT, LK_SHAPE_SCORES, LK_DOMAIN_SCORES, 1},
    LK_INPUT_REGION_TARGET,
};

#define DICE_COMPOUND_PARAMS(lambda_name, lambda_doc)                                       \
    [P_INCLUDE_BACKGROUND] = {"include_background", LK_PARAM_BOOL, "true", 0, 0, 0, NULL,  \
                              "false leaves class 0 out of both terms (MONAI's "           \
                              "include_background; ignored with one channel)"},            \
    [P_ACTIVATION] = {"activation", LK_PARAM_CHOICE, "softmax", 0, 0, 0, "softmax|sigmoid", \
                      "the Dice term's activation of the logits: softmax over the classes " \
                      "or a sigmoid per channel (MONAI's softmax=True / sigmoid=True)"},   \
    [P_SQUARED_PRED] = LK_PARAM_SQUARED_PRED, [P_SMOOTH_NR] = LK_PARAM_SMOOTH_NR("1e-05"),  \
    [P_SMOOTH_DR] = LK_PARAM_SMOOTH_DR("1e-05"), [P_BATCH] = LK_PARAM_BATCH,                \
    [P_LAMBDA_DICE] = {"lambda_dice", LK_PARAM_FLOAT, "1", 0, INFINITY, 0, NULL,            \
                       "weight of the Dice term (MONAI's lambda_dice)"},                    \
    [P_LAMBDA_OTHER] = {lambda_name, LK_PARAM_FLOAT, "1", 0, INFINITY, 0, NULL, lambda_doc}, \
    [P_REDUCTION] = {"reduction", LK_PARAM_CHOICE, "mean", 0, 0, 0, "mean|sum",            \
                     "applied to each term (MONAI's; none is not available: the terms "    \
                     "have different shapes)"}

static const lk_param_info dice_ce_params[P_CE_COUNT] = {
    DICE_COMPOUND_PARAMS("lambda_ce", "weight of the cross-entropy term (MONAI's lambda_ce)"),
    [P_WEIGHT] = LK_PARAM_CLASS_WEIGHT("per-class weights of the cross-entropy, one per class "
                                       "([] = 1); the Dice term gets those of the classes kept; "
                                       "with one channel, BCE's pos_weight (MONAI's weight)"),
    [P_CE_IGNORE_INDEX] = LK_PARAM_IGNORE_INDEX,
    [P_CE_LABEL_SMOOTHING] = {"label_smoothing", LK_PARAM_FLOAT, "0", 0, 1, 0, NULL,
                              "the cross-entropy's label smoothing (MONAI's; unused with one "
                              "channel, as MONAI)"},
};

static const lk_param_info dice_focal_params[P_FOCAL_COUNT] = {
    DICE_COMPOUND_PARAMS("lambda_focal", "weight of the focal term (MONAI's lambda_focal)"),
    [P_WEIGHT] = LK_PARAM_CLASS_WEIGHT("per-class weights of both terms: one value, or one per "
                                       "class kept ([] = 1; MONAI's weight)"),
    [P_FOCAL_GAMMA] = {"gamma", LK_PARAM_FLOAT, "2", 0, INFINITY, 0, NULL,
                       "focusing exponent of (1 - p_t)"},
    [P_FOCAL_ALPHA] = {"alpha", LK_PARAM_FLOAT, "-1", -1, 1, 0, NULL,
                       "weight of the positives (1 - alpha for the negatives); negative: none "
                       "(MONAI's alpha=None)"},
};

static const char *const dice_ce_examples[] = {
    "",
    "include_background=false,weight=[0.5,2,1]",
    "lambda_dice=0.5,lambda_ce=2,label_smoothing=0.1,reduction=sum",
    "activation=sigmoid,squared_pred=true,batch=true",
    "ignore_index=1,smooth_nr=0,smooth_dr=1e-3",
    NULL,
};

static const char *const dice_focal_examples[] = {
    "",
    "include_background=false,weight=[2,0.5]",
    "gamma=0.5,alpha=0.25,lambda_focal=2,reduction=sum",
    "activation=sigmoid,batch=true,weight=[1.5]",
    "squared_pred=true,gamma=0,lambda_dice=0.5",
    NULL,
};

const lk_loss_desc lk_loss_dice_ce = {
    .name = "dice_ce",
    .category = LK_CATEGORY_COMPOUND,
    .summary = "Dice + cross-entropy (MONAI DiceCELoss, the nnU-Net loss)",
    .formula = "loss = lambda_dice Dice + lambda_ce CE; CE = cross_entropy on the logits "
               "(binary_cross_entropy with one channel)",
    .reference = "F. Isensee et al., nnU-Net: a self-configuring method for deep learning-based "
                 "biomedical image segmentation, Nature Methods 2021",
    .notes = "MONAI's DiceCELoss(softmax=True, to_onehot_y=True) for class indices. The CE's "
             "mean is PyTorch's (over pixels, or the total weight). weight: one per class; the "
             "Dice term drops class 0's with include_background=false (as MONAI). ignore_index "
             "applies to both terms (MONAI has none).",
    LK_DESC_INPUTS(dice_compound_inputs),
    LK_DESC_PARAMS(dice_ce_params),
    .examples = dice_ce_examples,
    .output = LK_OUTPUT_SCALAR,
    .check = dice_ce_check,
    .compute = dice_ce_compute,
};

const lk_loss_desc lk_loss_dice_focal = {
    .name = "dice_focal",
    .category = LK_CATEGORY_COMPOUND,
    .summary = "Dice + sigmoid focal loss (MONAI DiceFocalLoss)",
    .formula = "loss = lambda_dice Dice + lambda_focal FL; FL = mean over elements of "
               "-a_t w_c (1 - p_t)^gamma log p_t, p = sigmoid(logit), t one-hot",
    .reference = "W. Zhu et al., AnatomyNet: Deep learning for fast and fully automated "
                 "whole-volume segmentation of head and neck anatomy, Medical Physics 2019",
    .notes = "MONAI's DiceFocalLoss(to_onehot_y=True): its focal part is a sigmoid focal loss "
             "on each channel's logit whatever the Dice activation, mean over N x C_kept x "
             "spatial; reduction=sum sums each (image, channel)'s spatial mean, as MONAI.",
    LK_DESC_INPUTS(dice_compound_inputs),
    LK_DESC_PARAMS(dice_focal_params),
    .examples = dice_focal_examples,
    .output = LK_OUTPUT_SCALAR,
    .check = dice_focal_check,
    .compute = dice_focal_compute,
};
