/*
 * Region-wise loss (Valverde & Tohka): the probabilities weighed by a
 * region-wise map Z of the ground truth, averaged over every class.
 *
 *   loss = 1 / (N C S) sum_n sum_c sum_x p_nc(x) Z_nc(x)
 *
 * Z is either given (target: float maps (N, C, *spatial), any values: the
 * generic RW loss, of which the boundary loss is one instance), or computed
 * from class labels with parameter map:
 *   rectified      RRW: -d_in / (max d_in + 1e-15) inside the class (the
 *                  deepest pixel -1), +1 outside; an absent class is +1
 *                  everywhere (probability put on it is penalized), a class
 *                  filling the image -1 everywhere (the reference measures
 *                  to a pixel outside the image there);
 *   boundary_loss  Kervadec's signed map, -(d_in - 1) inside, d_out outside;
 *   signed         -d_in inside, d_out outside;
 *   normalized     -d_in / max d_in inside, d_out / max d_out outside, 0 on
 *                  the inner border.
 * Maps are per image and class, from the exact EDT with parameter spacing,
 * constants of the target; d loss / d p = Z / (N C S).
 *
 * Reference code: jmlipman/RegionWiseLoss, nnUNet/training/loss_functions/
 * rwexp_loss.py (RWLoss: the RRW map, unit spacing, plain mean). Its
 * schedules (CE + RW, or alpha CE + (1 - alpha) RW) are left to the caller.
 *
 * Reference: J. M. Valverde, J. Tohka, "Region-wise loss for biomedical image
 * segmentation", Pattern Recognition 136, 2023 (arXiv:2108.01405).
 */
#include <stdlib.h>

#include "boundary/class_maps.h"
#include "boundary/map_product.h"

enum { P_MAP, P_SPACING, P_REDUCTION, P_ACTIVATION, P_COUNT };
enum { MAP_RECTIFIED, MAP_BOUNDARY_LOSS, MAP_SIGNED, MAP_NORMALIZED };

static lk_status region_wise_check(const lk_call *call)
{
    return lk_check_spacing(call, P_SPACING);
}

static lk_status maps_from_labels(const lk_call *call, double *maps)
{
    static const lk_sdf_kind kinds[] = {
        [MAP_BOUNDARY_LOSS] = LK_SDF_BOUNDARY_LOSS,
        [MAP_SIGNED] = LK_SDF_SIGNED,
        [MAP_NORMALIZED] = LK_SDF_NORMALIZED,
    };
    int map = lk_param_choice(call->params, P_MAP);
    lk_label_rule rule = {call->classes, 0, 0};
    lk_status status = lk_check_labels(call->ctx, &call->inputs[1], call->desc->inputs[1].name,
                                       &rule);
    if (status != LK_OK) return status;
    lk_class_maps_job job = {.objects = {.labels = &call->inputs[1]},
                             .batch = call->batch, .classes = call->classes,
                             .kind = map == MAP_RECTIFIED ? LK_CLASS_MAP_RECTIFIED : LK_CLASS_MAP_SDF,
                             .sdf = map == MAP_RECTIFIED ? LK_SDF_SIGNED : kinds[map]};
    lk_call_grid(call, P_SPACING, &job.grid);
    return lk_class_maps(call->ctx, &job, maps);
}

/* Given maps: finite values, as float64. */
static lk_status maps_given(const lk_call *call, double *maps)
{
    const lk_tensor *target = &call->inputs[1];
    int64_t bad = lk_find_nonfinite(target);
    if (bad >= 0) {
        char index[LK_INDEX_TEXT];
        return lk_fail(LK_EVALUE, "loss 'region_wise': target%s = %g; a region-wise map must be finite",
                       lk_format_index(target, bad, index, sizeof index), lk_read_real(target, bad));
    }
    for (int64_t i = 0, count = lk_numel(target); i < count; i++) maps[i] = lk_read_real(target, i);
    return LK_OK;
}

static lk_status region_wise_compute(const lk_call *call)
{
    double *maps = malloc((size_t)(call->batch * call->classes * call->spatial) * sizeof *maps);
    if (!maps) return lk_fail(LK_ENOMEM, "out of memory");
    lk_status status = lk_dtype_is_label(call->inputs[1].dtype) ? maps_from_labels(call, maps)
                                                                 : maps_given(call, maps);
    if (status == LK_OK) status = lk_map_product_loss(call, maps, call->classes, P_ACTIVATION);
    free(maps);
    return status;
}

static const lk_input_info region_wise_inputs[] = {
    LK_INPUT_SCORES,
    {"target",
     "class indices (N, *spatial) or (N, 1, *spatial), the map computed per parameter map; or "
     "region-wise maps Z shaped like input (float, any finite values)",
     LK_DTYPES_LABEL | LK_DTYPES_FLOAT, LK_SHAPE_CLASS_TARGET, LK_DOMAIN_REAL, 0},
};

static const lk_param_info region_wise_params[P_COUNT] = {
    [P_MAP] = {"map", LK_PARAM_CHOICE, "rectified", 0, 0, 0,
               "rectified|boundary_loss|signed|normalized",
               "the map computed from labels (unused with given maps): rectified = RRW"},
    [P_SPACING] = LK_PARAM_SPACING("the distance maps"),
    [P_REDUCTION] = LK_PARAM_REDUCTION("mean", "divided by N x C x pixels"),
    [P_ACTIVATION] = LK_PARAM_SOFTMAX_ACTIVATION,
};

static const char *const region_wise_examples[] = {
    "",
    "map=boundary_loss",
    "map=signed,reduction=sum",
    "map=normalized,spacing=[2]",
    "reduction=none",
    "activation=none",
    NULL,
};

const lk_loss_desc lk_loss_region_wise = {
    .name = "region_wise",
    .category = LK_CATEGORY_BOUNDARY,
    .summary = "Region-wise loss: probabilities times a region-wise map, RRW from the labels "
               "or given maps (Valverde & Tohka)",
    .formula = "loss = mean over n, c, x of p_nc(x) Z_nc(x); RRW: Z = -d_in / max d_in inside, "
               "+1 outside",
    .reference = "J. M. Valverde, J. Tohka, Region-wise loss for biomedical image segmentation, "
                 "Pattern Recognition 136, 2023",
    .notes = "Float targets are the maps Z themselves (precomputed, any finite values). From "
             "labels: per image and class, exact EDT with spacing; an absent class is +1 "
             "everywhere, a class filling the image -1. Reduction none: per pixel, the sum "
             "over the classes.",
    LK_DESC_INPUTS(region_wise_inputs),
    LK_DESC_PARAMS(region_wise_params),
    .examples = region_wise_examples,
    .output = LK_OUTPUT_PER_PIXEL,
    .check = region_wise_check,
    .compute = region_wise_compute,
};
