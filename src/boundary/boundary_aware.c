/*
 * Boundary-aware loss (Hayder et al.): the object mask is represented by its
 * truncated, quantized distance transform, and the network predicts, at each
 * pixel, a distribution over the K distance bins, trained with cross-entropy.
 *
 *   d(x)   = distance from x to the background (0 outside the object), exact
 *            EDT with parameter spacing
 *   bin(x) = round((K - 1) min(d(x), R) / R)        (K = the input's C)
 *   loss_x = -log softmax(input_x)[bin(x)],  mean over the pixels
 *
 * Bin 0 is the background, bin K - 1 everything at least R deep; with K = R + 1
 * the bins are the integer distances 0 .. R. The mask is decoded from the
 * predicted bins by the inverse transform (a union of discs), which is not
 * part of the loss. The bins are constants of the target.
 *
 * Choices: the paper truncates at R and quantizes into K uniform bins but
 * gives no public code; R = 5 with K = 6 channels (the integer distances) is
 * the default here, rounding to the nearest bin centre is ours.
 *
 * Reference: Z. Hayder, X. He, M. Salzmann, "Boundary-aware instance
 * segmentation", CVPR 2017.
 */
#include <math.h>
#include <stdlib.h>

#include "boundary/class_maps.h"
#include "pixel/cross_entropy.h"
#include "pixel/pixel.h"

enum { P_TRUNCATION, P_SPACING, P_REDUCTION, P_ACTIVATION, P_COUNT };

static lk_status boundary_aware_check(const lk_call *call)
{
    if (call->classes < 2)
        return lk_fail(LK_ESHAPE, "loss 'boundary_aware': the input's C is the number of distance "
                                  "bins and must be at least 2; it is %lld",
                       (long long)call->classes);
    return lk_check_spacing(call, P_SPACING);
}

/* bins (N x spatial, int32) from the object masks of the target. */
static lk_status distance_bins(const lk_call *call, int32_t *bins)
{
    const lk_tensor *target = &call->inputs[1];
    lk_grid grid;
    lk_call_grid(call, P_SPACING, &grid);
    int64_t pixels = call->batch * call->spatial;
    for (int64_t i = 0; i < pixels; i++) {
        int64_t value = lk_read_label(target, i);
        if (value != 0 && value != 1) {
            char index[LK_INDEX_TEXT];
            return lk_fail(LK_EVALUE, "loss 'boundary_aware': target%s = %lld; the object mask "
                                      "holds 0 (background) or 1 (object)",
                           lk_format_index(target, i, index, sizeof index), (long long)value);
        }
    }
    double *depth = malloc((size_t)pixels * sizeof *depth);
    if (!depth) return lk_fail(LK_ENOMEM, "out of memory");
    lk_tensor out = *target;
    out.dtype = LK_F64;
    out.data = depth;
    /* the target's leading axes (N, or N and 1) index the images */
    lk_status status = lk_edt(target, target->ndim - grid.ndim, grid.spacing, &out, call->ctx);
    double truncation = lk_param_float(call->params, P_TRUNCATION);
    double top = (double)(call->classes - 1);
    for (int64_t i = 0; status == LK_OK && i < pixels; i++)
        bins[i] = (int32_t)nearbyint(top * fmin(depth[i], truncation) / truncation);
    free(depth);
    return status;
}

static lk_status boundary_aware_compute(const lk_call *call)
{
    int64_t pixels = call->batch * call->spatial;
    int32_t *bins = malloc((size_t)pixels * sizeof *bins);
    if (!bins) return lk_fail(LK_ENOMEM, "out of memory");
    lk_status status = distance_bins(call, bins);
    lk_tensor bin_labels = {bins, LK_I32, call->inputs[0].ndim - 1, {0}};
    bin_labels.shape[0] = call->batch;
    for (int axis = 1; axis < bin_labels.ndim; axis++) bin_labels.shape[axis] = call->inputs[0].shape[axis + 1];
    lk_ce_config config = {0, NULL, 1, (double)call->classes}; /* uniform weights: none read */
    lk_softmax_job job = {.rule_f32 = lk_ce_label_rule_f32, .rule_f64 = lk_ce_label_rule_f64,
                          .config = &config};
    lk_softmax_job_from_call(call, &job, P_ACTIVATION, -1);
    job.labels = &bin_labels;
    job.target = NULL;
    double divisor = 0;
    if (status == LK_OK) status = lk_softmax_run_reduced(call, &job, NULL, &divisor);
    if (status == LK_OK) status = lk_finish_loss(call, job.loss_sum, divisor > 0 ? 1 / divisor : 0);
    free(bins);
    return status;
}

static const lk_input_info boundary_aware_inputs[] = {
    {"input", "scores (N, K, *spatial) over the K distance bins: logits, or probabilities "
              "with activation=none", LK_DTYPES_FLOAT, LK_SHAPE_SCORES, LK_DOMAIN_SCORES, 1},
    {"target", "object mask (N, *spatial) or (N, 1, *spatial): 1 inside the object, 0 outside",
     LK_DTYPES_LABEL, LK_SHAPE_CLASS_TARGET, LK_DOMAIN_BINARY, 0},
};

static const lk_param_info boundary_aware_params[P_COUNT] = {
    [P_TRUNCATION] = {"truncation", LK_PARAM_FLOAT, "5", 0, INFINITY, LK_RANGE_MIN_OPEN, NULL,
                      "R: distances at least R deep fall in the last bin"},
    [P_SPACING] = LK_PARAM_SPACING("the distance transform"),
    [P_REDUCTION] = LK_PARAM_REDUCTION("mean", "divided by the number of pixels"),
    [P_ACTIVATION] = LK_PARAM_SOFTMAX_ACTIVATION,
};

static const char *const boundary_aware_examples[] = {
    "",
    "truncation=2",
    "reduction=sum,spacing=[0.5]",
    "reduction=none",
    "activation=none,truncation=1.5",
    NULL,
};

const lk_loss_desc lk_loss_boundary_aware = {
    .name = "boundary_aware",
    .category = LK_CATEGORY_BOUNDARY,
    .summary = "Boundary-aware loss: cross-entropy over the bins of the object's truncated, "
               "quantized distance transform (Hayder et al.)",
    .formula = "bin(x) = round((K - 1) min(d(x), R) / R), d = distance to the background; "
               "loss = mean over x of -log p_x[bin(x)]",
    .reference = "Z. Hayder, X. He, M. Salzmann, Boundary-aware instance segmentation, CVPR 2017",
    .notes = "The input's C is the number of bins K (default R = 5 with K = 6: the integer "
             "distances 0..5; the paper's exact binning is not public). Exact EDT with "
             "spacing; the bins are constants of the target.",
    LK_DESC_INPUTS(boundary_aware_inputs),
    LK_DESC_PARAMS(boundary_aware_params),
    .examples = boundary_aware_examples,
    .output = LK_OUTPUT_PER_PIXEL,
    .check = boundary_aware_check,
    .compute = boundary_aware_compute,
};
