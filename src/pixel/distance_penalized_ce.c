/*
 * Distance map penalized cross-entropy (DPCE, Caliva et al.): cross-entropy
 * weighted per pixel by a penalty that is largest on the ground truth's
 * boundaries.
 *
 *   loss_i = -(1 + D_i) log p_i[y_i],   mean over the pixels not ignored
 *   D_i    = (max d - d_i) / (max d - min d)   over the pixels of class y_i
 *
 * d_i is the distance from pixel i to the nearest pixel of another class
 * (exact EDT with parameter spacing, per image): D is 1 on each region's
 * border and falls to 0 at its deepest pixels; the 1 keeps the gradient
 * alive there ("the constant 1 is added to avoid the vanishing gradient").
 * D is a constant of the labels.
 *
 * The reference code (JunMa11/SegLoss, DisPenalizedCE and
 * compute_edts_forPenalizedLoss) is binary: (max(pos) - pos) / max(...)
 * inside the object plus the same outside it. Per class, as here, that is
 * exactly its value for two classes, and it extends to C classes. Where the
 * reference divides 0 by 0 (a region whose pixels all lie on its border, or
 * a class filling the image) D is 1 (all border) and 0 (no border). Note: the
 * reference's forward computes the weighted loss but returns the unweighted
 * mean (plain CE); this is the paper's loss.
 *
 * Reference: F. Caliva, C. Iriondo, A. M. Martinez, S. Majumdar, V. Pedoia,
 * "Distance map loss penalty term for semantic segmentation", MIDL 2019
 * (arXiv:1908.03679); eq. 6 of J. Ma, "Segmentation Loss Odyssey" (2020).
 */
#ifndef LK_REAL
#include <stdlib.h>

#include "boundary/class_maps.h"
#include "core/hot.h"
#include "core/vecmath.h"
#include "pixel/pixel.h"

enum { P_SPACING, P_IGNORE_INDEX, P_REDUCTION, P_ACTIVATION, P_COUNT };

typedef struct dpce_config {
    const double *weight; /* (N x spatial): 1 + D */
} dpce_config;

#define LK_TYPED_FILE "pixel/distance_penalized_ce.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

LK_HOT static void LK_T(dpce_rule)(const lk_softmax_block *block, const void *config_ptr)
{
    const dpce_config *config = config_ptr;
    const double *restrict weight = config->weight + block->first_pixel;
    const lk_real *restrict logp = block->logp_label, *restrict p = block->prob_label;
    lk_real *restrict loss = block->loss, *restrict a = block->coef_prob;
    lk_real *restrict b = block->coef_label;
    int logits = block->mode == LK_INPUT_LOGITS;
    for (int j = 0; j < block->len; j++) {
        lk_real w = (lk_real)weight[j];
        loss[j] = -w * logp[j];
        a[j] = logits ? w : 0;
        b[j] = logits ? w : w * lk_inverse_clamped(p[j]);
    }
}

#endif /* typed section */

#ifndef LK_REAL

static lk_status dpce_check(const lk_call *call)
{
    return lk_check_spacing(call, P_SPACING);
}

/* weight[n, x] = 1 + D of pixel x's class; 1 at ignored pixels (unused). */
static void pixel_weights(const lk_call *call, const lk_label_rule *rule, const double *maps,
                          double *weight)
{
    const lk_tensor *labels = &call->inputs[1];
    int64_t spatial = call->spatial;
    for (int64_t pixel = 0; pixel < call->batch * spatial; pixel++) {
        int64_t label = lk_read_label(labels, pixel);
        int ignored = rule->has_ignore && label == rule->ignore_index;
        int64_t image = pixel / spatial, position = pixel % spatial;
        double penalty = ignored ? 0 : maps[(image * call->classes + label) * spatial + position];
        weight[pixel] = penalty + 1.0;
    }
}

static lk_status dpce_compute(const lk_call *call)
{
    int64_t classes = call->classes, pixels = call->batch * call->spatial;
    dpce_config config = {NULL};
    lk_softmax_job job = {.rule_f32 = dpce_rule_f32, .rule_f64 = dpce_rule_f64, .config = &config};
    lk_softmax_job_from_call(call, &job, P_ACTIVATION, P_IGNORE_INDEX);
    int64_t *counts = malloc((size_t)classes * sizeof *counts);
    double *maps = malloc((size_t)(pixels * classes) * sizeof *maps);
    double *weight = malloc((size_t)pixels * sizeof *weight);
    lk_status status = counts && maps && weight ? LK_OK : lk_fail(LK_ENOMEM, "out of memory");
    if (status == LK_OK) status = lk_softmax_label_counts(call, &job, counts);
    if (status == LK_OK) {
        lk_class_maps_job maps_job = {.objects = {.labels = job.labels},
                                      .batch = call->batch, .classes = classes,
                                      .kind = LK_CLASS_MAP_PENALTY};
        lk_call_grid(call, P_SPACING, &maps_job.grid);
        status = lk_class_maps(call->ctx, &maps_job, maps);
    }
    double valid = 0;
    for (int64_t c = 0; status == LK_OK && c < classes; c++) valid += (double)counts[c];
    double scale = call->reduction == LK_REDUCTION_MEAN ? (valid > 0 ? 1 / valid : 0) : 1;
    if (status == LK_OK) {
        pixel_weights(call, &job.label_rule, maps, weight);
        config.weight = weight;
        job.grad_scale = scale;
        status = lk_softmax_run(call->ctx, &job);
    }
    if (status == LK_OK) status = lk_finish_loss(call, job.loss_sum, scale);
    free(counts);
    free(maps);
    free(weight);
    return status;
}

static const lk_input_info dpce_inputs[] = {LK_INPUT_SCORES, LK_INPUT_LABELS};

static const lk_param_info dpce_params[P_COUNT] = {
    [P_SPACING] = LK_PARAM_SPACING("the distance maps"),
    [P_IGNORE_INDEX] = LK_PARAM_IGNORE_INDEX,
    [P_REDUCTION] = LK_PARAM_REDUCTION("mean", "sum divided by the number of pixels not ignored"),
    [P_ACTIVATION] = LK_PARAM_SOFTMAX_ACTIVATION,
};

static const char *const dpce_examples[] = {
    "",
    "reduction=sum",
    "reduction=none",
    "ignore_index=1",
    "activation=none",
    "spacing=[0.5]",
    NULL,
};

const lk_loss_desc lk_loss_distance_penalized_ce = {
    .name = "distance_penalized_ce",
    .category = LK_CATEGORY_PIXEL,
    .summary = "Cross-entropy weighted by 1 + a distance penalty that peaks on the ground "
               "truth's boundaries (DPCE, Caliva et al.)",
    .formula = "loss_i = -(1 + D_i) log p_i[y_i]; D_i = (max d - d_i) / (max d - min d) over "
               "the pixels of class y_i, d = distance to another class",
    .reference = "F. Caliva et al., Distance map loss penalty term for semantic segmentation, "
                 "MIDL 2019",
    .notes = "Per image and class, exact EDT with spacing; D is a constant of the labels, 1 "
             "on borders, 0 at the deepest pixels. The binary reference (JunMa11/SegLoss) "
             "returns the unweighted mean by mistake; this is the paper's weighted loss. "
             "Ignored pixels belong to no class.",
    LK_DESC_INPUTS(dpce_inputs),
    LK_DESC_PARAMS(dpce_params),
    .examples = dpce_examples,
    .output = LK_OUTPUT_PER_PIXEL,
    .check = dpce_check,
    .compute = dpce_compute,
};

#endif
