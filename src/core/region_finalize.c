/*
 * The region driver after the pixel passes (see region.h): the finalize step
 * (terms, weights, absent classes, reduction, d loss / d stats), the
 * validation shared by every region entry point, lk_region_compute, and the
 * public statistics API of include/losskit.h.
 *
 * Reduction. A group is an image, or the whole batch with batch=true. Its
 * terms are the kept classes (per-class losses) or one term (per-group ones).
 * With absent_classes=skip a class absent from the group's target (sum of g
 * = 0) is left out, so a group counts its present classes only:
 *
 *   mean = (1 / groups) sum_groups (1 / counted) sum_counted w_t T_t
 *   sum  = sum_groups sum_counted w_t T_t
 *
 * With keep and zero every kept class counts, and mean is the plain mean of
 * the groups x classes terms, as MONAI's. A group with nothing counted adds
 * 0. Reduction none returns every w_t T_t (0 for skipped terms).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "core/error.h"
#include "core/region_driver.h"
#include "core/tensor.h"

int64_t lk_region_row_length(const lk_loss_desc *desc, int64_t classes)
{
    return desc->region->confusion ? LK_STATS + classes : LK_STATS;
}

int64_t lk_region_terms(const lk_loss_desc *desc, const lk_region_settings *settings,
                        int64_t classes)
{
    return desc->region->class_term ? classes - settings->first_class : 1;
}

void lk_region_output_shape(const lk_loss_desc *desc, const lk_params *params, int64_t images,
                            int64_t classes, lk_tensor *out)
{
    lk_region_settings settings = lk_region_settings_from(params, classes);
    out->ndim = 0;
    if (settings.reduction != LK_REDUCTION_NONE) return;
    if (!settings.batch) out->shape[out->ndim++] = images;
    if (desc->region->class_term) out->shape[out->ndim++] = lk_region_terms(desc, &settings, classes);
}

/* ------------------------------------------------------------ validation */

lk_status lk_region_check(const lk_call *call)
{
    const lk_loss_desc *desc = call->desc;
    lk_region_settings settings = lk_region_settings_from(call->params, call->classes);
    if (settings.activation == LK_REGION_SOFTMAX && call->classes < 2)
        return lk_fail(LK_EPARAM,
                       "loss '%s': activation=softmax needs 2 or more classes; input '%s' has 1 "
                       "(use activation=sigmoid for one channel of logits)",
                       desc->name, desc->inputs[0].name);
    int64_t terms = lk_region_terms(desc, &settings, call->classes);
    if (desc->region->class_term && settings.weight_count > 1 &&
        (int64_t)settings.weight_count != terms)
        return lk_fail(LK_EPARAM,
                       "loss '%s': parameter 'weight' has %zu values; give 1 or one per class kept "
                       "(%lld%s)",
                       desc->name, settings.weight_count, (long long)terms,
                       settings.first_class ? ", class 0 left out by include_background=false" : "");
    if (desc->region->confusion && call->classes > LK_REGION_MAX_CONFUSION_CLASSES)
        return lk_fail(LK_ESHAPE,
                       "loss '%s': input '%s' has %lld classes; at most %d are supported (its "
                       "statistics hold a C x C matrix per image)",
                       desc->name, desc->inputs[0].name, (long long)call->classes,
                       LK_REGION_MAX_CONFUSION_CLASSES);
    return desc->check ? desc->check(call) : LK_OK;
}

/* ------------------------------------------------------------ finalize */

typedef struct finalize_plan {
    const lk_loss_desc *desc;
    lk_region_group group;
    lk_region_settings settings;
    int64_t images, classes, groups, terms;
} finalize_plan;

static finalize_plan plan_for(const lk_loss_desc *desc, const lk_params *params, int64_t images,
                              int64_t classes)
{
    finalize_plan plan;
    plan.desc = desc;
    plan.settings = lk_region_settings_from(params, classes);
    plan.group.params = params;
    plan.group.classes = classes;
    plan.group.row = lk_region_row_length(desc, classes);
    plan.group.first_class = plan.settings.first_class;
    plan.images = images;
    plan.classes = classes;
    plan.groups = plan.settings.batch ? 1 : images;
    plan.terms = lk_region_terms(desc, &plan.settings, classes);
    return plan;
}

static double term_weight(const finalize_plan *plan, int64_t t)
{
    if (!plan->desc->region->class_term || plan->settings.weight_count == 0) return 1;
    return plan->settings.weight[plan->settings.weight_count == 1 ? 0 : t];
}

/* Whether term t of the group (stats [C][K]) is absent from its target. */
static int term_absent(const finalize_plan *plan, const double *group_stats, int64_t t)
{
    if (!plan->desc->region->class_term || plan->settings.absent == LK_ABSENT_KEEP) return 0;
    int64_t c = t + plan->group.first_class;
    return group_stats[c * plan->group.row + LK_STAT_G] == 0;
}

/* The group's sums: an image's, or with batch=true every image's, in order. */
static void gather_group(const finalize_plan *plan, const double *stats, int64_t g, double *out)
{
    int64_t block = plan->classes * plan->group.row;
    if (!plan->settings.batch) {
        memcpy(out, stats + g * block, (size_t)block * sizeof(double));
        return;
    }
    memset(out, 0, (size_t)block * sizeof(double));
    for (int64_t n = 0; n < plan->images; n++)
        for (int64_t k = 0; k < block; k++) out[k] += stats[n * block + k];
}

static lk_status nonfinite_term(const finalize_plan *plan, int64_t g, int64_t t, double value,
                                const double *group_stats)
{
    char where[96];
    if (plan->settings.batch)
        snprintf(where, sizeof where, "the batch");
    else
        snprintf(where, sizeof where, "image %lld", (long long)g);
    if (!plan->desc->region->class_term)
        return lk_fail(LK_EVALUE, "loss '%s' is %g for %s: every input is finite, so a sum was 0 "
                       "where it divides (empty classes need smooth_dr > 0)",
                       plan->desc->name, value, where);
    int64_t c = t + plan->group.first_class;
    const double *s = group_stats + c * plan->group.row;
    return lk_fail(LK_EVALUE,
                   "loss '%s': the term of class %lld in %s is %g (its sums: p g = %g, p = %g, "
                   "g = %g); every input is finite, so a sum was 0 where it divides (empty "
                   "classes need smooth_dr > 0)",
                   plan->desc->name, (long long)c, where, value, s[LK_STAT_PG], s[LK_STAT_P],
                   s[LK_STAT_G]);
}

/* One term's value, adding upstream x its derivatives into group_ds. */
static double evaluate_term(const finalize_plan *plan, const double *group_stats, int64_t t,
                            double upstream, double *group_ds)
{
    const lk_region_ops *ops = plan->desc->region;
    if (!ops->class_term) return ops->group_term(&plan->group, group_stats, upstream, group_ds);
    int64_t c = t + plan->group.first_class, offset = c * plan->group.row;
    return ops->class_term(&plan->group, c, group_stats + offset, upstream,
                           group_ds ? group_ds + offset : NULL);
}

/* The sums of the target alone (G, GG, N) pass no gradient to the input:
 * their columns of d loss / d stats are defined as 0. */
static void clear_target_columns(const finalize_plan *plan, double *group_ds)
{
    static const int target_only[] = {LK_STAT_G, LK_STAT_GG, LK_STAT_N};
    for (int64_t c = 0; c < plan->classes; c++)
        for (size_t k = 0; k < sizeof target_only / sizeof target_only[0]; k++)
            group_ds[c * plan->group.row + target_only[k]] = 0;
}

lk_status lk_region_finalize(const lk_loss_desc *desc, const lk_params *params, int64_t images,
                             int64_t classes, const double *stats, double *values,
                             double *reduced, double *ds)
{
    finalize_plan plan = plan_for(desc, params, images, classes);
    int64_t block = classes * plan.group.row;
    double *group_stats = malloc((size_t)block * sizeof(double));
    double *group_ds = malloc((size_t)block * sizeof(double));
    lk_status status = group_stats && group_ds ? LK_OK : lk_fail(LK_ENOMEM, "out of memory in finalize");
    int reduction = plan.settings.reduction;
    double total = 0;
    for (int64_t g = 0; status == LK_OK && g < plan.groups; g++) {
        gather_group(&plan, stats, g, group_stats);
        int64_t counted = 0;
        for (int64_t t = 0; t < plan.terms; t++)
            counted += !(plan.settings.absent == LK_ABSENT_SKIP && term_absent(&plan, group_stats, t));
        double scale = reduction == LK_REDUCTION_MEAN && counted > 0
                           ? 1.0 / ((double)plan.groups * (double)counted)
                           : 1.0;
        memset(group_ds, 0, (size_t)block * sizeof(double));
        double group_total = 0;
        for (int64_t t = 0; status == LK_OK && t < plan.terms; t++) {
            double value = 0;
            if (!term_absent(&plan, group_stats, t)) {
                double w = term_weight(&plan, t);
                value = w * evaluate_term(&plan, group_stats, t, w * scale, ds ? group_ds : NULL);
                if (!isfinite(value)) status = nonfinite_term(&plan, g, t, value, group_stats);
            }
            values[g * plan.terms + t] = value;
            group_total += value;
        }
        total += reduction == LK_REDUCTION_MEAN ? group_total * scale : group_total;
        if (!ds) continue;
        clear_target_columns(&plan, group_ds);
        for (int64_t n = plan.settings.batch ? 0 : g; n < (plan.settings.batch ? images : g + 1); n++)
            memcpy(ds + n * block, group_ds, (size_t)block * sizeof(double));
    }
    free(group_stats);
    free(group_ds);
    *reduced = total;
    return status;
}

/* How many values the finalize step gives (reduction none returns them all):
 * one per term of each group. */
static int64_t value_count(const lk_loss_desc *desc, const lk_region_settings *settings,
                           int64_t images, int64_t classes)
{
    int64_t groups = settings->batch ? 1 : images;
    return groups * lk_region_terms(desc, settings, classes);
}

/* Writes the loss tensor: the reduced value, or the values for none. */
static void store_loss(const lk_tensor *loss, int reduction, double reduced, const double *values,
                       int64_t count)
{
    if (reduction != LK_REDUCTION_NONE) count = 1;
    for (int64_t i = 0; i < count; i++) {
        double value = reduction == LK_REDUCTION_NONE ? values[i] : reduced;
        if (loss->dtype == LK_F32)
            ((float *)loss->data)[i] = (float)value;
        else
            ((double *)loss->data)[i] = value;
    }
}

/* ------------------------------------------------------------ compute */

lk_status lk_region_compute(const lk_call *call)
{
    lk_region_settings settings = lk_region_settings_from(call->params, call->classes);
    int64_t block = call->classes * lk_region_row_length(call->desc, call->classes);
    int64_t count = value_count(call->desc, &settings, call->batch, call->classes);
    int wants_grad = lk_grad_data(call, 0) != NULL;
    double *stats = malloc((size_t)(call->batch * block) * sizeof(double));
    double *ds = wants_grad ? malloc((size_t)(call->batch * block) * sizeof(double)) : NULL;
    double *values = malloc((size_t)count * sizeof(double));
    lk_status status = LK_OK;
    if (!stats || !values || (wants_grad && !ds))
        status = lk_fail(LK_ENOMEM, "out of memory for region statistics");
    if (status == LK_OK) status = lk_region_stats_pass(call, stats, wants_grad);
    double reduced = 0;
    if (status == LK_OK)
        status = lk_region_finalize(call->desc, call->params, call->batch, call->classes, stats,
                                    values, &reduced, ds);
    if (status == LK_OK) store_loss(call->loss, settings.reduction, reduced, values, count);
    if (status == LK_OK && wants_grad) status = lk_region_backward_pass(call, ds, 1);
    free(stats);
    free(ds);
    free(values);
    return status;
}

/* ------------------------------------------------------------ public stats API */

int lk_loss_has_stats(const lk_loss_desc *desc)
{
    return desc && desc->region;
}

static lk_status require_stats(const lk_loss_desc *desc, const lk_params *params)
{
    if (!desc) return lk_fail(LK_EINVAL, "desc is NULL");
    if (!desc->region)
        return lk_fail(LK_EINVAL, "loss '%s' has no statistics API (it is not built on per-class sums)",
                       desc->name);
    if (!params) return lk_fail(LK_EINVAL, "params is NULL");
    if (lk_params_desc(params) != desc)
        return lk_fail(LK_EINVAL, "params were created for loss '%s', not '%s'",
                       lk_params_desc(params)->name, desc->name);
    return LK_OK;
}

/* Validates inputs (as lk_loss_compute) and the loss's geometry checks. */
static lk_status prepare_inputs(const lk_loss_desc *desc, const lk_params *params,
                                const lk_tensor *inputs, size_t n_inputs, lk_context *ctx,
                                lk_call *call)
{
    lk_status status = require_stats(desc, params);
    if (status == LK_OK) status = lk_prepare_call(desc, params, inputs, n_inputs, call);
    if (status != LK_OK) return status;
    call->ctx = ctx ? ctx : lk_default_context();
    return lk_region_check(call);
}

/* A float64 (rows, C, K) tensor with data; rows, C and K as given, or any if < 0. */
static lk_status check_stats_tensor(const char *name, const lk_tensor *t, int64_t rows,
                                    int64_t classes, int64_t row)
{
    if (!t) return lk_fail(LK_EINVAL, "%s is NULL", name);
    if (!t->data) return lk_fail(LK_EINVAL, "%s has data = NULL", name);
    if (t->dtype != LK_F64)
        return lk_fail(LK_EDTYPE, "%s must be float64; got %s", name, lk_dtype_name(t->dtype));
    int fits = t->ndim == 3 && t->shape[0] >= 1 && t->shape[1] >= 1 && t->shape[2] >= 1 &&
               (rows < 0 || t->shape[0] == rows) && (classes < 0 || t->shape[1] == classes) &&
               (row < 0 || t->shape[2] == row);
    if (fits && (t->shape[0] > LK_MAX_NUMEL / t->shape[1] ||
                 t->shape[0] * t->shape[1] > LK_MAX_NUMEL / t->shape[2]))
        return lk_fail(LK_ESHAPE, "%s has more than 2^48 elements", name);
    if (fits) return LK_OK;
    char got[LK_SHAPE_TEXT], want[3][24];
    int64_t expected[3] = {rows, classes, row};
    for (int axis = 0; axis < 3; axis++) {
        if (expected[axis] < 0)
            snprintf(want[axis], sizeof want[axis], "%s", axis == 0 ? "N" : axis == 1 ? "C" : "K");
        else
            snprintf(want[axis], sizeof want[axis], "%lld", (long long)expected[axis]);
    }
    return lk_fail(LK_ESHAPE, "%s must have shape (%s, %s, %s); got %s", name, want[0], want[1],
                   want[2], lk_format_shape(t, got, sizeof got));
}

static lk_status check_finite_stats(const char *name, const lk_tensor *t)
{
    int64_t bad = lk_find_nonfinite(t);
    if (bad < 0) return LK_OK;
    char where[LK_INDEX_TEXT];
    return lk_fail(LK_EVALUE, "%s%s = %g: statistics must be finite", name,
                   lk_format_index(t, bad, where, sizeof where), lk_read_real(t, bad));
}

lk_status lk_loss_stats_shape(const lk_loss_desc *desc, const lk_params *params,
                              const lk_tensor *inputs, size_t n_inputs, lk_tensor *out)
{
    if (!out) return lk_fail(LK_EINVAL, "out is NULL");
    lk_call call;
    lk_status status = prepare_inputs(desc, params, inputs, n_inputs, NULL, &call);
    if (status != LK_OK) return status;
    memset(out, 0, sizeof *out);
    out->dtype = LK_F64;
    out->ndim = 3;
    out->shape[0] = call.batch;
    out->shape[1] = call.classes;
    out->shape[2] = lk_region_row_length(desc, call.classes);
    return LK_OK;
}

lk_status lk_loss_stats(const lk_loss_desc *desc, const lk_params *params, const lk_tensor *inputs,
                        size_t n_inputs, const lk_tensor *stats, lk_context *ctx)
{
    lk_call call;
    lk_tensor no_grads[LK_MAX_INPUTS];
    memset(no_grads, 0, sizeof no_grads);
    lk_status status = prepare_inputs(desc, params, inputs, n_inputs, ctx, &call);
    if (status == LK_OK)
        status = check_stats_tensor("stats", stats, call.batch, call.classes,
                                    lk_region_row_length(desc, call.classes));
    if (status != LK_OK) return status;
    call.grads = no_grads;
    return lk_region_stats_pass(&call, stats->data, 0);
}

lk_status lk_loss_finalize_shape(const lk_loss_desc *desc, const lk_params *params,
                                 const lk_tensor *stats, lk_tensor *out)
{
    lk_status status = require_stats(desc, params);
    if (status == LK_OK) status = check_stats_tensor("stats", stats, -1, -1, -1);
    if (status == LK_OK && stats->shape[2] != lk_region_row_length(desc, stats->shape[1]))
        status = check_stats_tensor("stats", stats, -1, stats->shape[1],
                                    lk_region_row_length(desc, stats->shape[1]));
    if (status == LK_OK && !out) status = lk_fail(LK_EINVAL, "out is NULL");
    if (status != LK_OK) return status;
    /* The geometry checks of the loss, for N images of C classes. */
    lk_call call;
    memset(&call, 0, sizeof call);
    call.desc = desc;
    call.params = params;
    call.batch = stats->shape[0];
    call.classes = stats->shape[1];
    status = lk_region_check(&call);
    if (status != LK_OK) return status;
    memset(out, 0, sizeof *out);
    out->dtype = LK_F64;
    lk_region_output_shape(desc, params, stats->shape[0], stats->shape[1], out);
    return LK_OK;
}

lk_status lk_loss_finalize(const lk_loss_desc *desc, const lk_params *params, const lk_tensor *stats,
                           const lk_tensor *loss, const lk_tensor *dloss_dstats)
{
    lk_tensor expected;
    lk_status status = lk_loss_finalize_shape(desc, params, stats, &expected);
    if (status == LK_OK) status = check_finite_stats("stats", stats);
    if (status == LK_OK && (!loss || !loss->data))
        status = lk_fail(LK_EINVAL, "loss is NULL or has data = NULL");
    if (status == LK_OK && !lk_dtype_is_float(loss->dtype))
        status = lk_fail(LK_EDTYPE, "loss must be float32 or float64; got %s", lk_dtype_name(loss->dtype));
    if (status == LK_OK && !lk_same_shape(loss, &expected)) {
        char want[LK_SHAPE_TEXT], got[LK_SHAPE_TEXT];
        status = lk_fail(LK_ESHAPE, "loss must have shape %s; got %s",
                         lk_format_shape(&expected, want, sizeof want),
                         lk_format_shape(loss, got, sizeof got));
    }
    int wants_ds = dloss_dstats && dloss_dstats->data;
    if (status == LK_OK && wants_ds)
        status = check_stats_tensor("dloss_dstats", dloss_dstats, stats->shape[0], stats->shape[1],
                                    stats->shape[2]);
    if (status == LK_OK && wants_ds && dloss_dstats->data == stats->data)
        status = lk_fail(LK_EINVAL, "dloss_dstats overlaps stats");
    if (status != LK_OK) return status;
    lk_region_settings settings = lk_region_settings_from(params, stats->shape[1]);
    int64_t count = value_count(desc, &settings, stats->shape[0], stats->shape[1]);
    double *values = malloc((size_t)count * sizeof(double));
    if (!values) return lk_fail(LK_ENOMEM, "out of memory in finalize");
    double reduced = 0;
    status = lk_region_finalize(desc, params, stats->shape[0], stats->shape[1], stats->data, values,
                                &reduced, wants_ds ? dloss_dstats->data : NULL);
    if (status == LK_OK) store_loss(loss, settings.reduction, reduced, values, count);
    free(values);
    return status;
}

lk_status lk_loss_backward(const lk_loss_desc *desc, const lk_params *params, const lk_tensor *inputs,
                           size_t n_inputs, const lk_tensor *dloss_dstats, const lk_tensor *grads,
                           lk_context *ctx)
{
    lk_call call;
    lk_status status = prepare_inputs(desc, params, inputs, n_inputs, ctx, &call);
    if (status == LK_OK)
        status = check_stats_tensor("dloss_dstats", dloss_dstats, call.batch, call.classes,
                                    lk_region_row_length(desc, call.classes));
    if (status == LK_OK) status = check_finite_stats("dloss_dstats", dloss_dstats);
    if (status == LK_OK && (!grads || !grads[0].data))
        status = lk_fail(LK_EINVAL, "grads[0] (the gradient of input '%s') is NULL",
                         desc->inputs[0].name);
    if (status == LK_OK) status = lk_check_gradients(&call, grads);
    if (status != LK_OK) return status;
    call.grads = grads;
    return lk_region_backward_pass(&call, dloss_dstats->data, 0);
}
