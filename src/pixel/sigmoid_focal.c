/*
 * Sigmoid focal loss — torchvision.ops.sigmoid_focal_loss (RetinaNet).
 *
 *   p    = sigmoid(x)                 (or x itself with activation=none)
 *   ce   = -(pw[c] t log p + (1 - t) log(1 - p))      binary cross-entropy
 *   r    = 1 - p_t = t (1 - p) + (1 - t) p
 *   a_t  = alpha t + (1 - alpha)(1 - t)               (1 if alpha < 0)
 *   loss = w[c] * a_t * ce * r^gamma
 *   mean = sum / number of elements
 *
 * Gradient (logits): d loss / dx = w a_t (dce/dx r^gamma + ce d(r^gamma)/dx),
 *   dce/dx = (pw t + 1 - t) p - pw t,
 *   d(r^gamma)/dx = gamma r^gamma (1 - 2t) p (1 - p) / r   (0 where r = 0).
 *
 * Reference: T.-Y. Lin, P. Goyal, R. Girshick, K. He, P. Dollar, "Focal Loss
 * for Dense Object Detection", ICCV 2017; defaults alpha = 0.25, gamma = 2 as
 * in torchvision.
 *
 * Conventions:
 *   - soft targets follow torchvision (the whole BCE times (1 - p_t)^gamma).
 *     kornia's binary_focal_loss_with_logits weights the positive and negative
 *     terms separately; both agree on 0/1 targets.
 *   - pos_weight (kornia's) multiplies the positive term inside the BCE;
 *     weight multiplies the element's loss; both per class along axis 1.
 *   - reduction defaults to mean (torchvision's function defaults to none).
 */
#ifndef LK_REAL
#include "core/hot.h"
#include "core/vecmath.h"
#include "pixel/pixel.h"

enum { P_ALPHA, P_GAMMA, P_WEIGHT, P_POS_WEIGHT, P_REDUCTION, P_ACTIVATION, P_COUNT };

typedef struct sigmoid_focal_config {
    double alpha; /* < 0: no alpha weighting */
    double gamma;
} sigmoid_focal_config;

#define LK_TYPED_FILE "pixel/sigmoid_focal.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

/* The binary cross-entropy pieces of each element: p, 1 - p, the BCE, its
 * derivative, and d p / d input; logits and probabilities in separate loops
 * (one loop per mode vectorizes; a branch inside would not). */
static inline void LK_T(bce_pieces)(const lk_elementwise_block *block, lk_real *restrict p,
                                    lk_real *restrict q, lk_real *restrict ce,
                                    lk_real *restrict dce, lk_real *restrict dp)
{
    const lk_real *restrict x = block->input, *restrict t = block->target;
    const lk_real *restrict pw = block->class_value[1];
    if (block->mode == LK_INPUT_LOGITS) {
        for (int j = 0; j < block->len; j++) {
            lk_real neg_log_p;
            lk_logistic(x[j], &p[j], &q[j], &neg_log_p);
            lk_real positive = pw[j] * t[j], negative = 1 - t[j];
            ce[j] = positive * neg_log_p + negative * (neg_log_p + x[j]);
            dce[j] = (positive + negative) * p[j] - positive;
            dp[j] = p[j] * q[j];
        }
    } else {
        for (int j = 0; j < block->len; j++) {
            lk_real positive = pw[j] * t[j], negative = 1 - t[j];
            p[j] = x[j];
            q[j] = 1 - x[j];
            ce[j] = -(positive * lk_log_clamped(p[j]) + negative * lk_log_clamped(q[j]));
            dce[j] = -(positive * lk_inverse_clamped(p[j]) - negative * lk_inverse_clamped(q[j]));
            dp[j] = 1;
        }
    }
}

LK_HOT static void LK_T(sigmoid_focal_rule)(const lk_elementwise_block *block, const void *config_ptr)
{
    const sigmoid_focal_config *config = config_ptr;
    const lk_real *restrict t = block->target, *restrict w = block->class_value[0];
    lk_real *restrict loss = block->loss, *restrict grad = block->grad;
    lk_real p[LK_ELEMENTWISE_BLOCK], q[LK_ELEMENTWISE_BLOCK], ce[LK_ELEMENTWISE_BLOCK];
    lk_real dce[LK_ELEMENTWISE_BLOCK], dp[LK_ELEMENTWISE_BLOCK];
    LK_T(bce_pieces)(block, p, q, ce, dce, dp);
    lk_real gamma = (lk_real)config->gamma, alpha = (lk_real)config->alpha;
    lk_real positive_weight = config->alpha >= 0 ? alpha : 1;
    lk_real negative_weight = config->alpha >= 0 ? 1 - alpha : 1;
    lk_real r[LK_ELEMENTWISE_BLOCK], power[LK_ELEMENTWISE_BLOCK];
    for (int j = 0; j < block->len; j++) r[j] = t[j] * q[j] + (1 - t[j]) * p[j]; /* 1 - p_t */
    lk_pow_array(r, gamma, power, block->len);
    for (int j = 0; j < block->len; j++) {
        lk_real modulation = power[j];
        lk_real dmodulation = r[j] > 0 ? gamma * modulation * (1 - 2 * t[j]) * dp[j] / r[j] : 0;
        lk_real factor = w[j] * (positive_weight * t[j] + negative_weight * (1 - t[j]));
        loss[j] = factor * ce[j] * modulation;
        grad[j] = factor * (dce[j] * modulation + ce[j] * dmodulation);
    }
}

#endif /* typed section */

#ifndef LK_REAL

static const size_t class_tables[] = {P_WEIGHT, P_POS_WEIGHT};

static lk_status sigmoid_focal_check(const lk_call *call)
{
    return lk_check_class_lists(call, class_tables, 2);
}

static lk_status sigmoid_focal_compute(const lk_call *call)
{
    sigmoid_focal_config config = {lk_param_float(call->params, P_ALPHA),
                                   lk_param_float(call->params, P_GAMMA)};
    return lk_elementwise_loss(call, sigmoid_focal_rule_f32, sigmoid_focal_rule_f64, &config,
                               P_ACTIVATION, class_tables, 2);
}

static const lk_input_info sigmoid_focal_inputs[] = {LK_INPUT_ELEMENT_SCORES, LK_INPUT_BINARY_TARGETS};

static const lk_param_info sigmoid_focal_params[P_COUNT] = {
    [P_ALPHA] = {"alpha", LK_PARAM_FLOAT, "0.25", -1, 1, 0, NULL,
                 "weight of positives (1 - alpha for negatives); a negative value disables it "
                 "(torchvision's alpha=-1)"},
    [P_GAMMA] = {"gamma", LK_PARAM_FLOAT, "2", 0, INFINITY, 0, NULL,
                 "focusing exponent of (1 - p_t)"},
    [P_WEIGHT] = LK_PARAM_CLASS_WEIGHT("weight of each class (axis 1): one value, or one per "
                                       "class ([] = 1)"),
    [P_POS_WEIGHT] = {"pos_weight", LK_PARAM_FLOAT_LIST, "[]", 0, INFINITY, 0, NULL,
                      "weight of the positive term of the BCE, per class (axis 1): one value, "
                      "or one per class ([] = 1)"},
    [P_REDUCTION] = LK_PARAM_REDUCTION("mean", "sum divided by the number of elements"),
    [P_ACTIVATION] = LK_PARAM_SIGMOID_ACTIVATION,
};

static const char *const sigmoid_focal_examples[] = {
    "",
    "gamma=0,alpha=-1",
    "gamma=0.5,alpha=0.75",
    "gamma=3,weight=[1,0.5,2],pos_weight=[2],reduction=sum",
    "reduction=none",
    "activation=none",
    "activation=none,gamma=1.5,alpha=-1",
    NULL,
};

const lk_loss_desc lk_loss_sigmoid_focal = {
    .name = "sigmoid_focal",
    .category = LK_CATEGORY_PIXEL,
    .summary = "Sigmoid focal loss per element (torchvision.ops.sigmoid_focal_loss)",
    .formula = "loss = w[c] a_t BCE(p, t) (1 - p_t)^gamma, p = sigmoid(x), "
               "a_t = alpha t + (1-alpha)(1-t)",
    .reference = "T.-Y. Lin et al., Focal Loss for Dense Object Detection, ICCV 2017",
    .notes = "torchvision's defaults alpha=0.25, gamma=2, and its soft-target form; reduction "
             "defaults to mean (torchvision: none). weight/pos_weight are per class (axis 1).",
    LK_DESC_INPUTS(sigmoid_focal_inputs),
    LK_DESC_PARAMS(sigmoid_focal_params),
    .examples = sigmoid_focal_examples,
    .output = LK_OUTPUT_PER_ELEMENT,
    .check = sigmoid_focal_check,
    .compute = sigmoid_focal_compute,
};

#endif
