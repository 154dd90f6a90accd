/*
 * Boundary loss (Kervadec et al.): the probabilities weighed by the signed
 * distance maps of the ground truth, averaged.
 *
 *   loss = 1 / (N |K| S) sum_n sum_{c in K} sum_x p_nc(x) phi_nc(x)
 *   phi  = d_out outside the object of class c, -(d_in - 1) inside
 *
 * d_out: distance from a pixel outside the object to the object; d_in: from
 * a pixel inside to the background (exact EDT, with the voxel spacing of
 * parameter spacing). The object's border pixels have phi = 0, deeper ones
 * are negative: the loss is negative at a good prediction, and is usually
 * added to a region loss (GDL + alpha x boundary, alpha raised over the
 * epochs, in the paper). K = the classes kept: all but class 0 unless
 * include_background (the reference's idc, [1] for binary problems).
 *
 * Conventions of the reference code (LIVIAETS/boundary-loss, utils.py
 * one_hot2dist, losses.py SurfaceLoss): maps per image and class, constants
 * (no gradient to the target); an absent class has phi = 0; plain mean over
 * (N, K, pixels). A class that fills the whole image (no boundary) also has
 * phi = 0 here, where the reference measures to a pixel outside the image.
 * The gradient is d loss / d p = phi / (N |K| S), through the softmax with
 * logits. Spacing: the reference's `resolution`; the "- 1" shift stays 1.
 *
 * Reference: H. Kervadec et al., "Boundary loss for highly unbalanced
 * segmentation", MIDL 2019 / Medical Image Analysis 67, 2021.
 */
#include <stdlib.h>

#include "boundary/class_maps.h"
#include "boundary/map_product.h"

enum { P_INCLUDE_BACKGROUND, P_SPACING, P_REDUCTION, P_ACTIVATION, P_COUNT };

static lk_status boundary_check(const lk_call *call)
{
    if (call->classes < 2 && !lk_param_bool(call->params, P_INCLUDE_BACKGROUND))
        return lk_fail(LK_ESHAPE,
                       "loss 'boundary': the input has 1 class and include_background=false "
                       "leaves none; give (N, C >= 2, *spatial) scores or set "
                       "include_background=true");
    return lk_check_spacing(call, P_SPACING);
}

static lk_status boundary_compute(const lk_call *call)
{
    int include_background = lk_param_bool(call->params, P_INCLUDE_BACKGROUND);
    lk_label_rule rule = {call->classes, 0, 0};
    int64_t classes = call->classes;
    uint8_t *wanted = malloc((size_t)classes);
    double *maps = malloc((size_t)(call->batch * classes * call->spatial) * sizeof *maps);
    lk_status status = wanted && maps ? LK_OK : lk_fail(LK_ENOMEM, "out of memory");
    if (status == LK_OK)
        status = lk_check_labels(call->ctx, &call->inputs[1], call->desc->inputs[1].name, &rule);
    if (status == LK_OK) {
        for (int64_t c = 0; c < classes; c++) wanted[c] = c > 0 || include_background;
        lk_class_maps_job job = {.objects = {.labels = &call->inputs[1]},
                                 .batch = call->batch, .classes = classes, .wanted = wanted,
                                 .kind = LK_CLASS_MAP_SDF, .sdf = LK_SDF_BOUNDARY_LOSS};
        lk_call_grid(call, P_SPACING, &job.grid);
        status = lk_class_maps(call->ctx, &job, maps);
    }
    if (status == LK_OK)
        status = lk_map_product_loss(call, maps, classes - !include_background, P_ACTIVATION);
    free(wanted);
    free(maps);
    return status;
}

static const lk_input_info boundary_inputs[] = {LK_INPUT_SCORES, LK_INPUT_LABELS};

static const lk_param_info boundary_params[P_COUNT] = {
    [P_INCLUDE_BACKGROUND] = {"include_background", LK_PARAM_BOOL, "false", 0, 0, 0, NULL,
                              "whether class 0 contributes (the reference's idc: [1] for a "
                              "binary problem, every class for ACDC)"},
    [P_SPACING] = LK_PARAM_SPACING("the distance maps"),
    [P_REDUCTION] = LK_PARAM_REDUCTION("mean", "divided by N x kept classes x pixels"),
    [P_ACTIVATION] = LK_PARAM_SOFTMAX_ACTIVATION,
};

static const char *const boundary_examples[] = {
    "",
    "include_background=true",
    "reduction=sum",
    "reduction=none,include_background=true",
    "activation=none",
    "spacing=[0.5]",
    NULL,
};

const lk_loss_desc lk_loss_boundary = {
    .name = "boundary",
    .category = LK_CATEGORY_BOUNDARY,
    .summary = "Boundary loss: probabilities times the signed distance maps of the ground "
               "truth (Kervadec et al.)",
    .formula = "loss = mean over n, c in K, x of p_nc(x) phi_nc(x); phi = d_out outside the "
               "object, -(d_in - 1) inside",
    .reference = "H. Kervadec et al., Boundary loss for highly unbalanced segmentation, MIDL "
                 "2019 / MedIA 2021",
    .notes = "Maps per image and class from the labels (exact EDT with spacing), constants; "
             "object border pixels 0, negative inside; an absent class or one filling the "
             "image has phi = 0. Negative at a good prediction: add it to a region loss. "
             "Reduction none: per pixel, the sum over the kept classes.",
    LK_DESC_INPUTS(boundary_inputs),
    LK_DESC_PARAMS(boundary_params),
    .examples = boundary_examples,
    .output = LK_OUTPUT_PER_PIXEL,
    .check = boundary_check,
    .compute = boundary_compute,
};
