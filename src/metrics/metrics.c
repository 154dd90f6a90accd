/*
 * lk_metrics_compute: argument checks, the (image, class) pairs of a batch,
 * and the threads. The surfaces are metrics/surface.c, the metrics of a pair
 * metrics/summary.c; include/losskit.h documents the conventions.
 *
 * A pair is one task: its masks are extracted from the inputs, its surfaces
 * and distances computed once for all the metrics asked for, and its values
 * written to its own slot of each output. The pairs run through
 * lk_run_items (core/items.h): one pair per task, or pair after pair with
 * each distance transform spread over the threads; every value is the same
 * either way.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "core/error.h"
#include "core/items.h"
#include "core/scratch.h"
#include "core/tensor.h"
#include "metrics/metrics.h"

static const char *const FUNCTION = "lk_metrics_compute";

const char *lk_metric_name(lk_metric metric)
{
    switch (metric) {
    case LK_METRIC_DICE: return "dice";
    case LK_METRIC_IOU: return "iou";
    case LK_METRIC_PRECISION: return "precision";
    case LK_METRIC_RECALL: return "recall";
    case LK_METRIC_HAUSDORFF: return "hausdorff";
    case LK_METRIC_HAUSDORFF_PERCENTILE: return "hausdorff_percentile";
    case LK_METRIC_ASSD: return "assd";
    case LK_METRIC_ASD: return "asd";
    case LK_METRIC_NSD: return "nsd";
    }
    return "unknown";
}

void lk_metric_options_default(lk_metric_options *options)
{
    options->include_background = 0;
    options->surface = LK_SURFACE_VOXELS;
    options->percentile = 95;
    options->percentile_rule = LK_PERCENTILE_PER_DIRECTION;
    options->assd_rule = LK_ASSD_CONCATENATED;
    options->nsd_tolerance = 1;
    options->nsd_tolerances = NULL;
    options->empty_overlap = NAN;
}

typedef struct metric_job {
    const lk_tensor *pred, *target;
    int masks;           /* inputs are (N, C, *spatial) masks; else label maps */
    int64_t classes;     /* C */
    int64_t first_class; /* of column 0 */
    int64_t columns;     /* C' */
    lk_grid image;
    lk_metric_options options;
    const lk_metric *metrics;
    size_t n_metrics;
    const lk_tensor *outs, *flags;
    int surfaces;        /* some metric reads the surfaces */
    double weights[LK_SURFEL_CODES]; /* surfels' lengths or areas by code */
} metric_job;

/* One worker's memory: the pair's masks, and its surface work. */
typedef struct pair_memory {
    uint8_t *pred, *target;
    lk_surface_work work;
} pair_memory;

static size_t pair_memory_layout(const metric_job *job, void *base, pair_memory *memory)
{
    lk_scratch area = {base, 0};
    memory->pred = lk_scratch_take(&area, (size_t)job->image.numel);
    memory->target = lk_scratch_take(&area, (size_t)job->image.numel);
    if (job->surfaces) {
        void *work = lk_scratch_take(&area, lk_surface_work_layout(&job->image, NULL, &memory->work));
        lk_surface_work_layout(&job->image, work, &memory->work);
    }
    return lk_scratch_size(&area);
}

/* bytes[i] = 1 where element first + i of t is in the class: equal to label,
 * or non-zero when label < 0 (masks). Returns the count of ones. */
static int64_t class_bytes(const lk_tensor *t, int64_t first, int64_t count, int64_t label,
                           uint8_t *bytes)
{
    int nonzero = label < 0;
    switch (t->dtype) {
    case LK_F32: {
        const float *x = (const float *)t->data + first;
        for (int64_t i = 0; i < count; i++) bytes[i] = x[i] != 0;
        break;
    }
    case LK_F64: {
        const double *x = (const double *)t->data + first;
        for (int64_t i = 0; i < count; i++) bytes[i] = x[i] != 0;
        break;
    }
    case LK_U8: {
        const uint8_t *x = (const uint8_t *)t->data + first;
        for (int64_t i = 0; i < count; i++) bytes[i] = nonzero ? x[i] != 0 : x[i] == label;
        break;
    }
    case LK_I32: {
        const int32_t *x = (const int32_t *)t->data + first;
        for (int64_t i = 0; i < count; i++) bytes[i] = nonzero ? x[i] != 0 : x[i] == label;
        break;
    }
    case LK_I64: {
        const int64_t *x = (const int64_t *)t->data + first;
        for (int64_t i = 0; i < count; i++) bytes[i] = nonzero ? x[i] != 0 : x[i] == label;
        break;
    }
    }
    int64_t ones = 0;
    for (int64_t i = 0; i < count; i++) ones += bytes[i];
    return ones;
}

/* Pair `task` (image task / C', column task % C'); ctx NULL: on the calling
 * thread. */
static lk_status run_pair(const metric_job *job, int64_t task, lk_context *ctx,
                          const pair_memory *memory)
{
    int64_t image = task / job->columns, column = task % job->columns;
    int64_t label = column + job->first_class, count = job->image.numel;
    int64_t first = job->masks ? (image * job->classes + label) * count : image * count;
    lk_pair_counts counts;
    counts.pred = class_bytes(job->pred, first, count, job->masks ? -1 : label, memory->pred);
    counts.target = class_bytes(job->target, first, count, job->masks ? -1 : label, memory->target);
    counts.both = 0;
    for (int64_t i = 0; i < count; i++) counts.both += memory->pred[i] & memory->target[i];
    lk_surface_pair pair, *surfaces = NULL;
    if (job->surfaces && counts.pred > 0 && counts.target > 0) {
        lk_status status = lk_surface_distances(ctx, &job->image, memory->pred, memory->target,
                                                job->options.surface, job->weights, &memory->work,
                                                &pair);
        if (status != LK_OK) return status;
        surfaces = &pair;
    }
    const lk_metric_options *options = &job->options;
    double tolerance = options->nsd_tolerances ? options->nsd_tolerances[column] : options->nsd_tolerance;
    for (int sorting = 0; sorting <= 1; sorting++)
        for (size_t m = 0; m < job->n_metrics; m++)
            if (lk_metric_sorts(job->metrics[m]) == sorting)
                ((double *)job->outs[m].data)[task] =
                    lk_pair_metric(job->metrics[m], &counts, surfaces, options, tolerance);
    if (job->flags)
        ((uint8_t *)job->flags->data)[task] = (uint8_t)((counts.pred == 0 ? LK_METRIC_PRED_EMPTY : 0) |
                                                        (counts.target == 0 ? LK_METRIC_TARGET_EMPTY : 0));
    return LK_OK;
}

static lk_status pair_item(void *arg, int64_t task, lk_context *ctx, void *base)
{
    const metric_job *job = arg;
    pair_memory memory;
    pair_memory_layout(job, base, &memory);
    return run_pair(job, task, ctx, &memory);
}

static lk_status run_pairs(metric_job *job, int64_t pairs, lk_context *ctx)
{
    pair_memory memory;
    size_t memory_size = pair_memory_layout(job, NULL, &memory);
    return lk_run_items(ctx, pairs, job->image.numel, memory_size, pair_item, job, "the metrics");
}

/* ---------------------------------------------------------------- checks */

static lk_status check_inputs(const lk_tensor *pred, const lk_tensor *target, int n_classes)
{
    if (!pred) return lk_fail(LK_EINVAL, "%s: argument 'pred' is NULL", FUNCTION);
    if (!target) return lk_fail(LK_EINVAL, "%s: argument 'target' is NULL", FUNCTION);
    lk_status status = lk_check_tensor_header("argument", "pred", pred);
    if (status == LK_OK) status = lk_check_tensor_header("argument", "target", target);
    if (status != LK_OK) return lk_fail_prefix(status, FUNCTION);
    if (n_classes < 0)
        return lk_fail(LK_EINVAL,
                       "%s: n_classes = %d; give the number of labels (> 0) of label maps, or 0 "
                       "for (N, C, *spatial) masks",
                       FUNCTION, n_classes);
    int least = n_classes > 0 ? 2 : 3;
    const lk_tensor *inputs[2] = {pred, target};
    const char *names[2] = {"pred", "target"};
    for (int k = 0; k < 2; k++) {
        if (inputs[k]->ndim < least)
            return lk_fail(LK_ESHAPE, "%s: argument '%s' has %d axes; %s need at least %d (%s)",
                           FUNCTION, names[k], inputs[k]->ndim,
                           n_classes > 0 ? "label maps" : "masks", least,
                           n_classes > 0 ? "N, *spatial" : "N, C, *spatial");
        if (n_classes > 0 && !lk_dtype_is_label(inputs[k]->dtype))
            return lk_fail(LK_EDTYPE,
                           "%s: argument '%s' has dtype %s; label maps (n_classes = %d) are uint8, "
                           "int32 or int64",
                           FUNCTION, names[k], lk_dtype_name(inputs[k]->dtype), n_classes);
    }
    if (!lk_same_shape(pred, target)) {
        char pred_shape[LK_SHAPE_TEXT], target_shape[LK_SHAPE_TEXT];
        return lk_fail(LK_ESHAPE, "%s: argument 'target' has shape %s; expected pred's, %s",
                       FUNCTION, lk_format_shape(target, target_shape, sizeof target_shape),
                       lk_format_shape(pred, pred_shape, sizeof pred_shape));
    }
    return LK_OK;
}

/* The first label outside [0, n_classes), or NaN of a mask: its flat index, or -1. */
static int64_t first_bad_value(const lk_tensor *t, int n_classes)
{
    int64_t count = lk_numel(t);
    switch (t->dtype) {
    case LK_F32: {
        const float *x = t->data;
        for (int64_t i = 0; i < count; i++)
            if (isnan(x[i])) return i;
        break;
    }
    case LK_F64: {
        const double *x = t->data;
        for (int64_t i = 0; i < count; i++)
            if (isnan(x[i])) return i;
        break;
    }
    case LK_U8: {
        const uint8_t *x = t->data;
        for (int64_t i = 0; n_classes > 0 && i < count; i++)
            if (x[i] >= n_classes) return i;
        break;
    }
    case LK_I32: {
        const int32_t *x = t->data;
        for (int64_t i = 0; n_classes > 0 && i < count; i++)
            if (x[i] < 0 || x[i] >= n_classes) return i;
        break;
    }
    case LK_I64: {
        const int64_t *x = t->data;
        for (int64_t i = 0; n_classes > 0 && i < count; i++)
            if (x[i] < 0 || x[i] >= n_classes) return i;
        break;
    }
    }
    return -1;
}

static lk_status check_values(const lk_tensor *t, const char *name, int n_classes)
{
    int64_t bad = first_bad_value(t, n_classes);
    if (bad < 0) return LK_OK;
    char index[LK_INDEX_TEXT];
    lk_format_index(t, bad, index, sizeof index);
    if (n_classes == 0)
        return lk_fail(LK_EVALUE, "%s: %s%s = nan; a mask holds numbers (non-zero: in the class)",
                       FUNCTION, name, index);
    return lk_fail(LK_EVALUE, "%s: %s%s = %lld; labels must be in [0, %d) (n_classes = %d)",
                   FUNCTION, name, index, (long long)lk_read_label(t, bad), n_classes, n_classes);
}

static lk_status check_options(const lk_metric_options *options, int spatial_dims, int64_t columns)
{
    if ((unsigned)options->surface > LK_SURFACE_SURFELS)
        return lk_fail(LK_EINVAL, "%s: options.surface = %d, not an lk_surface (0 to 1)", FUNCTION,
                       (int)options->surface);
    if (options->surface == LK_SURFACE_SURFELS && spatial_dims != 2 && spatial_dims != 3)
        return lk_fail(LK_EINVAL,
                       "%s: options.surface = LK_SURFACE_SURFELS with %d spatial axes; surfels "
                       "(DeepMind's) have 2 or 3",
                       FUNCTION, spatial_dims);
    if (!(options->percentile >= 0 && options->percentile <= 100))
        return lk_fail(LK_EINVAL, "%s: options.percentile = %g; it must be in [0, 100]", FUNCTION,
                       options->percentile);
    if ((unsigned)options->percentile_rule > LK_PERCENTILE_AREA_WEIGHTED)
        return lk_fail(LK_EINVAL,
                       "%s: options.percentile_rule = %d, not an lk_percentile_rule (0 to 2)",
                       FUNCTION, (int)options->percentile_rule);
    if ((unsigned)options->assd_rule > LK_ASSD_MEAN_OF_MEANS)
        return lk_fail(LK_EINVAL, "%s: options.assd_rule = %d, not an lk_assd_rule (0 to 1)",
                       FUNCTION, (int)options->assd_rule);
    if (!(options->nsd_tolerance >= 0) || !isfinite(options->nsd_tolerance))
        return lk_fail(LK_EINVAL, "%s: options.nsd_tolerance = %g; it must be >= 0 and finite",
                       FUNCTION, options->nsd_tolerance);
    for (int64_t k = 0; options->nsd_tolerances && k < columns; k++)
        if (!(options->nsd_tolerances[k] >= 0) || !isfinite(options->nsd_tolerances[k]))
            return lk_fail(LK_EINVAL,
                           "%s: options.nsd_tolerances[%lld] = %g; it must be >= 0 and finite",
                           FUNCTION, (long long)k, options->nsd_tolerances[k]);
    return LK_OK;
}

/* An output: dtype, shape (N, C'), and no overlap with the inputs or the
 * outputs before it. */
static lk_status check_output(const lk_tensor *out, const char *name, lk_dtype dtype, int64_t images,
                              int64_t columns, const lk_tensor *const *others, size_t n_others,
                              const char *const *other_names)
{
    lk_status status = lk_check_tensor_header("argument", name, out);
    if (status != LK_OK) return lk_fail_prefix(status, FUNCTION);
    if (out->dtype != dtype)
        return lk_fail(LK_EDTYPE, "%s: argument '%s' has dtype %s; expected %s", FUNCTION, name,
                       lk_dtype_name(out->dtype), lk_dtype_name(dtype));
    if (out->ndim != 2 || out->shape[0] != images || out->shape[1] != columns) {
        char shape[LK_SHAPE_TEXT];
        return lk_fail(LK_ESHAPE, "%s: argument '%s' has shape %s; expected (%lld, %lld): (images, "
                       "classes reported)",
                       FUNCTION, name, lk_format_shape(out, shape, sizeof shape), (long long)images,
                       (long long)columns);
    }
    for (size_t k = 0; k < n_others; k++)
        if (lk_tensors_overlap(out, others[k]))
            return lk_fail(LK_EINVAL, "%s: argument '%s' overlaps argument '%s'", FUNCTION, name,
                           other_names[k]);
    return LK_OK;
}

static lk_status check_outputs(const lk_tensor *pred, const lk_tensor *target,
                               const lk_metric *metrics, size_t n_metrics, const lk_tensor *outs,
                               const lk_tensor *flags, int64_t images, int64_t columns)
{
    if (!metrics) return lk_fail(LK_EINVAL, "%s: argument 'metrics' is NULL", FUNCTION);
    if (n_metrics == 0) return lk_fail(LK_EINVAL, "%s: n_metrics = 0; ask for at least one", FUNCTION);
    if (!outs) return lk_fail(LK_EINVAL, "%s: argument 'outs' is NULL", FUNCTION);
    for (size_t m = 0; m < n_metrics; m++)
        if ((unsigned)metrics[m] >= LK_METRIC_COUNT)
            return lk_fail(LK_EINVAL, "%s: metrics[%zu] = %d, not an lk_metric (0 to %d)", FUNCTION,
                           m, (int)metrics[m], LK_METRIC_COUNT - 1);
    size_t n_others = n_metrics + 2;
    const lk_tensor **others = malloc(n_others * sizeof *others);
    char (*names)[32] = malloc(n_others * sizeof *names);
    const char **name_of = malloc(n_others * sizeof *name_of);
    if (!others || !names || !name_of) {
        free(others), free(names), free(name_of);
        return lk_fail(LK_ENOMEM, "%s: out of memory", FUNCTION);
    }
    others[0] = pred, others[1] = target;
    name_of[0] = "pred", name_of[1] = "target";
    for (size_t m = 0; m < n_metrics; m++) {
        others[m + 2] = &outs[m];
        snprintf(names[m + 2], sizeof names[m + 2], "outs[%zu]", m);
        name_of[m + 2] = names[m + 2];
    }
    lk_status status = LK_OK;
    for (size_t m = 0; m < n_metrics && status == LK_OK; m++)
        status = check_output(&outs[m], name_of[m + 2], LK_F64, images, columns, others, m + 2, name_of);
    if (status == LK_OK && flags)
        status = check_output(flags, "flags", LK_U8, images, columns, others, n_others, name_of);
    free(others), free(names), free(name_of);
    return status;
}

lk_status lk_metrics_compute(const lk_tensor *pred, const lk_tensor *target, int n_classes,
                             const double *spacing, const lk_metric_options *options,
                             const lk_metric *metrics, size_t n_metrics, const lk_tensor *outs,
                             const lk_tensor *flags, lk_context *ctx)
{
    lk_status status = check_inputs(pred, target, n_classes);
    if (status != LK_OK) return status;
    metric_job job = {.pred = pred, .target = target, .masks = n_classes == 0,
                      .metrics = metrics, .n_metrics = n_metrics, .outs = outs, .flags = flags};
    if (options)
        job.options = *options;
    else
        lk_metric_options_default(&job.options);
    int batch_axes = job.masks ? 2 : 1, spatial_dims = pred->ndim - batch_axes;
    job.classes = job.masks ? pred->shape[1] : n_classes;
    job.first_class = job.options.include_background ? 0 : 1;
    job.columns = job.classes - job.first_class;
    if (job.columns < 1)
        return lk_fail(LK_EINVAL,
                       "%s: %lld class and options.include_background = 0 leave no class to report",
                       FUNCTION, (long long)job.classes);
    for (int axis = 0; spacing && axis < spatial_dims; axis++)
        if (!(spacing[axis] > 0) || !isfinite(spacing[axis]))
            return lk_fail(LK_EINVAL, "%s: spacing[%d] = %g; a spacing must be positive and finite",
                           FUNCTION, axis, spacing[axis]);
    status = check_options(&job.options, spatial_dims, job.columns);
    int64_t images = pred->shape[0];
    if (status == LK_OK)
        status = check_outputs(pred, target, metrics, n_metrics, outs, flags, images, job.columns);
    if (status == LK_OK) status = check_values(pred, "pred", n_classes);
    if (status == LK_OK) status = check_values(target, "target", n_classes);
    if (status != LK_OK) return status;
    lk_grid_init(&job.image, spatial_dims, pred->shape + batch_axes, spacing);
    for (size_t m = 0; m < n_metrics; m++) /* lk_metric lists the surface metrics last */
        job.surfaces |= metrics[m] >= LK_METRIC_HAUSDORFF;
    if (job.options.surface == LK_SURFACE_SURFELS) lk_surfel_weights_of(spatial_dims, job.image.spacing, job.weights);
    return run_pairs(&job, images * job.columns, ctx ? ctx : lk_default_context());
}
