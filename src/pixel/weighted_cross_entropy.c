/*
 * Weighted cross-entropy — the class-weighted CE of the segmentation
 * literature, normalized by the number of pixels (not by the weights).
 *
 *   loss_i = -w[y_i] log p_i[y_i]
 *   mean   = sum_i loss_i / (number of pixels not ignored)
 *
 * Weights (parameter weighting):
 *   given             w from the weight parameter ([] = 1 for every class);
 *   inverse_frequency w[c] = n / (K n_c), from this batch's labels: n pixels
 *                     not ignored, n_c of class c, K classes present. With
 *                     it the mean is the average over present classes of
 *                     each class's mean CE ("balanced" CE); sum_c w[c] n_c = n;
 *   median_frequency  w[c] = median_k(f_k) / f_c with f_c = n_c / n over the
 *                     classes present (Eigen & Fergus, ICCV 2015; SegNet).
 *   Classes absent from the batch get weight 0 (no pixel uses it).
 *
 * The difference from cross_entropy with a weight: PyTorch divides a weighted
 * mean by the sum of the weights of the pixels; the seeds' WCE divides by the
 * number of pixels.
 *
 * Reference: eq. (3) of J. Ma, "Segmentation Loss Odyssey" (2020) and eq. (2)
 * of the 2023 survey (seed 002), after Ronneberger et al., "U-Net", MICCAI
 * 2015; median frequency balancing: Eigen & Fergus, ICCV 2015.
 */
#include <stdlib.h>

#include "pixel/cross_entropy.h"
#include "pixel/pixel.h"

enum { P_WEIGHT, P_WEIGHTING, P_IGNORE_INDEX, P_REDUCTION, P_ACTIVATION, P_COUNT };
enum { WEIGHTING_GIVEN, WEIGHTING_INVERSE, WEIGHTING_MEDIAN };

static lk_status wce_check(const lk_call *call)
{
    size_t count;
    lk_param_list(call->params, P_WEIGHT, &count);
    if (count > 0 && lk_param_choice(call->params, P_WEIGHTING) != WEIGHTING_GIVEN)
        return lk_fail(LK_EPARAM,
                       "loss 'weighted_cross_entropy': parameter 'weight' is only used with "
                       "weighting=given; the other weightings compute the weights from the labels");
    return lk_check_class_list(call, P_WEIGHT, 0);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of the frequencies of the present classes (mean of the middle two
 * for an even count, as numpy.median). */
static double median_frequency(const int64_t *counts, int64_t classes, double pixels)
{
    double *frequencies = malloc((size_t)classes * sizeof *frequencies);
    if (!frequencies) return -1;
    size_t present = 0;
    for (int64_t c = 0; c < classes; c++)
        if (counts[c] > 0) frequencies[present++] = (double)counts[c] / pixels;
    qsort(frequencies, present, sizeof *frequencies, compare_doubles);
    double median = present % 2 ? frequencies[present / 2]
                                : 0.5 * (frequencies[present / 2 - 1] + frequencies[present / 2]);
    free(frequencies);
    return median;
}

/* Weights from the label counts, for the inverse and median weightings. */
static lk_status frequency_weights(const int64_t *counts, int64_t classes, int weighting,
                                   double pixels, double *weight)
{
    int64_t present = 0;
    for (int64_t c = 0; c < classes; c++) present += counts[c] > 0;
    double median = weighting == WEIGHTING_MEDIAN && present > 0
                        ? median_frequency(counts, classes, pixels)
                        : 0;
    if (median < 0) return lk_fail(LK_ENOMEM, "out of memory computing median frequencies");
    for (int64_t c = 0; c < classes; c++) {
        double frequency = (double)counts[c] / pixels;
        if (counts[c] == 0)
            weight[c] = 0;
        else if (weighting == WEIGHTING_INVERSE)
            weight[c] = 1.0 / ((double)present * frequency);
        else
            weight[c] = median / frequency;
    }
    return LK_OK;
}

static lk_status wce_compute(const lk_call *call)
{
    int weighting = lk_param_choice(call->params, P_WEIGHTING);
    double *weight = lk_class_factors(call, P_WEIGHT);
    int64_t *counts = malloc((size_t)call->classes * sizeof *counts);
    lk_status status = weight && counts ? LK_OK : lk_fail(LK_ENOMEM, "out of memory");
    lk_ce_config config = {0, weight, weighting == WEIGHTING_GIVEN, 0};
    lk_softmax_job job = {.rule_f32 = lk_ce_label_rule_f32,
                          .rule_f64 = lk_ce_label_rule_f64,
                          .config = &config};
    lk_softmax_job_from_call(call, &job, P_ACTIVATION, P_IGNORE_INDEX);
    double pixels = 0; /* not ignored */
    int need_counts = weighting != WEIGHTING_GIVEN || call->reduction == LK_REDUCTION_MEAN;
    if (status == LK_OK && need_counts) {
        status = lk_softmax_label_counts(call, &job, counts);
        for (int64_t c = 0; status == LK_OK && c < call->classes; c++) pixels += (double)counts[c];
    }
    if (status == LK_OK && weighting != WEIGHTING_GIVEN && pixels > 0)
        status = frequency_weights(counts, call->classes, weighting, pixels, weight);
    for (int64_t c = 0; c < call->classes && weight; c++) config.uniform &= weight[c] == 1;
    double scale = pixels > 0 ? 1 / pixels : 0;
    job.grad_scale = call->reduction == LK_REDUCTION_MEAN ? scale : 1;
    if (status == LK_OK) status = lk_softmax_run(call->ctx, &job);
    if (status == LK_OK) status = lk_finish_loss(call, job.loss_sum, scale);
    free(weight);
    free(counts);
    return status;
}

static const lk_input_info wce_inputs[] = {LK_INPUT_SCORES, LK_INPUT_LABELS};

static const lk_param_info wce_params[P_COUNT] = {
    [P_WEIGHT] = LK_PARAM_CLASS_WEIGHT("per-class weights for weighting=given, one per class "
                                       "([] = 1)"),
    [P_WEIGHTING] = {"weighting", LK_PARAM_CHOICE, "given", 0, 0, 0,
                     "given|inverse_frequency|median_frequency",
                     "where the class weights come from: the weight parameter, or this "
                     "batch's label frequencies"},
    [P_IGNORE_INDEX] = LK_PARAM_IGNORE_INDEX,
    [P_REDUCTION] = LK_PARAM_REDUCTION("mean", "sum divided by the number of pixels not ignored"),
    [P_ACTIVATION] = LK_PARAM_SOFTMAX_ACTIVATION,
};

static const char *const wce_examples[] = {
    "",
    "weight=[0.2,1,3]",
    "weighting=inverse_frequency",
    "weighting=median_frequency,reduction=sum",
    "weighting=inverse_frequency,ignore_index=2",
    "reduction=none,weight=[1,0.5,2]",
    "activation=none,weighting=median_frequency",
    NULL,
};

const lk_loss_desc lk_loss_weighted_cross_entropy = {
    .name = "weighted_cross_entropy",
    .category = LK_CATEGORY_PIXEL,
    .summary = "Class-weighted cross-entropy averaged over pixels; weights given or from the "
               "batch's inverse / median class frequency",
    .formula = "loss_i = -w[y_i] log p_i[y_i]; mean = sum_i loss_i / pixels not ignored; "
               "inverse_frequency: w[c] = n / (K n_c)",
    .reference = "J. Ma, Segmentation Loss Odyssey (2020), eq. 3; median frequency balancing: "
                 "Eigen & Fergus, ICCV 2015",
    .notes = "Divides by the number of pixels, where cross_entropy (PyTorch) divides a weighted "
             "sum by the sum of the pixels' weights. Frequency weights are constants of the "
             "labels (no gradient).",
    LK_DESC_INPUTS(wce_inputs),
    LK_DESC_PARAMS(wce_params),
    .examples = wce_examples,
    .output = LK_OUTPUT_PER_PIXEL,
    .check = wce_check,
    .compute = wce_compute,
};
