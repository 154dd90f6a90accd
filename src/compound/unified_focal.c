/*
 * Unified focal loss (Yeung et al.): a focal Tversky part and a focal
 * (cross-entropy) part, each with a background / foreground asymmetry,
 *
 *   loss = lambda_ftl FTL + (1 - lambda_ftl) FL
 *
 * with class 0 the background and every other class a foreground, as the
 * authors' code does for its two classes (background channel 0, foreground
 * channel 1):
 *
 *   TI_c = (TP_c + smooth) / (TP_c + delta FN_c + (1 - delta) FP_c + smooth)
 *   asymmetric FTL = mean over (image, class) of
 *                    1 - TI_0 for the background, (1 - TI_c)^(1 - gamma) for c > 0
 *   symmetric FTL  = mean over (image, class) of (1 - TI_c)^(1 - gamma)
 *   asymmetric FL  = mean over pixels of
 *                    -(1 - delta) (1 - p_0)^gamma t_0 log p_0 - delta sum_{c>0} t_c log p_c
 *   symmetric FL   = mean over pixels of
 *                    -(1 - delta) (1 - p_0)^gamma t_0 log p_0
 *                    - delta sum_{c>0} (1 - p_c)^gamma t_c log p_c
 *
 * TP, FN, FP: sums of p g, (1 - p) g, p (1 - g) over an image's pixels (the
 * whole batch's with batch=true); p the softmax of the logits (or the input,
 * activation=none); t the one-hot labels or the dense target.
 *
 * Built from registered losses (core/terms.h), with no kernel of its own:
 * FTL is tversky on class 0 plus focal_tversky (exponent 1 - gamma) on the
 * others, their per-class weights 0 on the classes the term leaves to the
 * other (the region driver's mean still counts every class, as the authors'
 * K.mean over the stacked classes does); FL is focal with per-class factors
 * [1 - delta, 0, ...] plus focal with gamma = 0 and factors [0, delta, ...]
 * (symmetric: one focal with [1 - delta, delta, ...]). Focal's mean divides
 * by the pixels, as the authors' K.mean(K.sum(..., axis=-1)).
 *
 * Conventions: the authors' defaults (lambda 0.5, delta 0.6, gamma 0.5 for
 * the unified loss; their smooth is K.epsilon() = 1e-7). Their code clips
 * probabilities to [1e-7, 1 - 1e-7] before the logs and the sums; we do not
 * (with logits the logs are exact): the values agree wherever every p lies
 * in that range. gamma must be below 1 (the exponent 1 - gamma is positive).
 *
 * Reference: M. Yeung, E. Sala, C.-B. Schoenlieb, L. Rundo, "Unified Focal
 * loss: Generalising Dice and cross entropy-based losses to handle class
 * imbalanced medical image segmentation", Computerized Medical Imaging and
 * Graphics 95 (2022); code: github.com/mlyg/unified-focal-loss.
 */
#include "compound/compound.h"
#include "core/region.h"

extern const lk_loss_desc lk_loss_tversky;
extern const lk_loss_desc lk_loss_focal_tversky;
extern const lk_loss_desc lk_loss_focal;

enum {
    P_VARIANT,
    P_LAMBDA_FTL,
    P_DELTA,
    P_GAMMA,
    P_SMOOTH,
    P_BATCH,
    P_IGNORE_INDEX,
    P_ACTIVATION,
    P_COUNT
};
enum { VARIANT_ASYMMETRIC = 0, VARIANT_SYMMETRIC = 1 };

typedef struct unified_settings {
    double lambda, delta, gamma, smooth;
    int symmetric;
    int64_t classes;
} unified_settings;

static const char *const shared_skip[] = {"gamma", "alpha", "weight", NULL};

/* A Tversky-family term with the authors' FP / FN weights and smoothing;
 * class_weights: [background, foreground] factors, or NULL for none. */
static lk_status add_tversky(lk_term_set *set, const lk_call *call, const unified_settings *u,
                             const lk_loss_desc *desc, const double *class_weights,
                             lk_params **params)
{
    lk_status status = lk_term_set_add(set, call, desc, u->lambda, shared_skip, params);
    if (status == LK_OK) status = lk_params_set_float(*params, "alpha", 1 - u->delta);
    if (status == LK_OK) status = lk_params_set_float(*params, "beta", u->delta);
    if (status == LK_OK) status = lk_params_set_float(*params, "smooth_nr", u->smooth);
    if (status == LK_OK) status = lk_params_set_float(*params, "smooth_dr", u->smooth);
    if (status == LK_OK && class_weights)
        status = lk_term_params_split(*params, "weight", u->classes, class_weights[0], class_weights[1]);
    return status;
}

static lk_status add_focal(lk_term_set *set, const lk_call *call, const unified_settings *u,
                           double gamma, double background, double foreground)
{
    lk_params *params = NULL;
    lk_status status = lk_term_set_add(set, call, &lk_loss_focal, 1 - u->lambda, shared_skip, &params);
    if (status == LK_OK) status = lk_params_set_float(params, "gamma", gamma);
    if (status == LK_OK) status = lk_term_params_split(params, "alpha", u->classes, background, foreground);
    return status;
}

static lk_status unified_terms(const lk_call *call, lk_term_set *set, int materialize)
{
    (void)materialize; /* every term reads the target as given */
    unified_settings u = {lk_param_float(call->params, P_LAMBDA_FTL),
                          lk_param_float(call->params, P_DELTA),
                          lk_param_float(call->params, P_GAMMA),
                          lk_param_float(call->params, P_SMOOTH),
                          lk_param_choice(call->params, P_VARIANT) == VARIANT_SYMMETRIC, call->classes};
    static const double background_only[2] = {1, 0}, foreground_only[2] = {0, 1};
    lk_params *params = NULL;
    lk_status status = LK_OK;
    if (!u.symmetric) status = add_tversky(set, call, &u, &lk_loss_tversky, background_only, &params);
    if (status == LK_OK)
        status = add_tversky(set, call, &u, &lk_loss_focal_tversky,
                             u.symmetric ? NULL : foreground_only, &params);
    if (status == LK_OK) status = lk_params_set(params, "gamma_convention", "exponent");
    if (status == LK_OK) status = lk_params_set_float(params, "gamma", 1 - u.gamma);
    if (status != LK_OK) return status;
    if (u.symmetric) return add_focal(set, call, &u, u.gamma, 1 - u.delta, u.delta);
    status = add_focal(set, call, &u, u.gamma, 1 - u.delta, 0);
    return status == LK_OK ? add_focal(set, call, &u, 0, 0, u.delta) : status;
}

static lk_status unified_check(const lk_call *call)
{
    if (call->classes < 2)
        return lk_fail(LK_EPARAM, "loss 'unified_focal': input '%s' has %lld class; it needs 2 or "
                                  "more (class 0 is the background)",
                       call->desc->inputs[0].name, (long long)call->classes);
    return lk_compound_loss_check(call, unified_terms);
}

static lk_status unified_compute(const lk_call *call)
{
    return lk_compound_loss_compute(call, unified_terms);
}

static const lk_input_info unified_inputs[] = {
    {"input", "scores (N, C, *spatial), C >= 2, class 0 the background: logits, or "
              "probabilities with activation=none",
     LK_DTYPES_FLOAT, LK_SHAPE_SCORES, LK_DOMAIN_SCORES, 1},
    {"target", "class indices (N, *spatial) or (N, 1, *spatial); or per-class targets in [0, 1] "
               "shaped like input",
     LK_DTYPES_LABEL | LK_DTYPES_FLOAT, LK_SHAPE_CLASS_TARGET, LK_DOMAIN_CLASS_TARGET, 0},
};

static const lk_param_info unified_params[P_COUNT] = {
    [P_VARIANT] = {"variant", LK_PARAM_CHOICE, "asymmetric", 0, 0, 0, "asymmetric|symmetric",
                   "asymmetric: focal modulation of the background only in FL and of the "
                   "foreground only in FTL (the authors' asym_unified_focal_loss); symmetric: "
                   "of every class in both"},
    [P_LAMBDA_FTL] = {"lambda_ftl", LK_PARAM_FLOAT, "0.5", 0, 1, 0, NULL,
                      "the authors' weight (lambda): lambda FTL + (1 - lambda) FL"},
    [P_DELTA] = {"delta", LK_PARAM_FLOAT, "0.6", 0, 1, 0, NULL,
                 "FN weight in the Tversky index (1 - delta for FP), and foreground weight in FL "
                 "(1 - delta for the background)"},
    [P_GAMMA] = {"gamma", LK_PARAM_FLOAT, "0.5", 0, 1, LK_RANGE_MAX_OPEN, NULL,
                 "focal parameter: (1 - p)^gamma in FL, (1 - TI)^(1 - gamma) in FTL"},
    [P_SMOOTH] = {"smooth", LK_PARAM_FLOAT, "1e-07", 0, INFINITY, 0, NULL,
                  "added to the Tversky index's numerator and denominator (the authors' "
                  "K.epsilon())"},
    [P_BATCH] = LK_PARAM_BATCH,
    [P_IGNORE_INDEX] = LK_PARAM_IGNORE_INDEX,
    [P_ACTIVATION] = LK_PARAM_SOFTMAX_ACTIVATION,
};

static const char *const unified_examples[] = {
    "",
    "variant=symmetric",
    "lambda_ftl=0.2,delta=0.7,gamma=0.75,batch=true",
    "variant=symmetric,gamma=0,smooth=1,ignore_index=1",
    "activation=none,lambda_ftl=1",
    "activation=none,variant=symmetric,lambda_ftl=0",
    NULL,
};

const lk_loss_desc lk_loss_unified_focal = {
    .name = "unified_focal",
    .category = LK_CATEGORY_COMPOUND,
    .summary = "Unified focal loss: asymmetric or symmetric focal Tversky + focal, class 0 the "
               "background",
    .formula = "loss = lambda FTL + (1 - lambda) FL; FTL: 1 - TI_0 and (1 - TI_c)^(1-gamma) "
               "(c > 0); FL: -(1-delta)(1-p_0)^gamma log p_0, -delta log p_c (c > 0)",
    .reference = "M. Yeung et al., Unified Focal loss: Generalising Dice and cross entropy-based "
                 "losses to handle class imbalanced medical image segmentation, CMIG 2022",
    .notes = "The authors' code's conventions (github.com/mlyg/unified-focal-loss): "
             "TI = (TP + s)/(TP + delta FN + (1-delta) FP + s), means over (image, class) and "
             "over pixels; every class c > 0 is a foreground. No clipping of p to [1e-7, 1-1e-7].",
    LK_DESC_INPUTS(unified_inputs),
    LK_DESC_PARAMS(unified_params),
    .examples = unified_examples,
    .output = LK_OUTPUT_SCALAR,
    .check = unified_check,
    .compute = unified_compute,
};
