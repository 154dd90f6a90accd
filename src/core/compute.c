/*
 * lk_loss_compute: the validation every loss shares, then the loss's own
 * check and compute. What is validated here, losses do not validate again:
 * pointers, dims, dtypes against the input slots, the shape rules, dtype
 * agreement of float inputs, gradient and loss tensors, overlapping buffers.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/loss.h"
#include "core/region.h"

/* "float32 or float64" from a dtype bit set. */
static char *format_dtypes(unsigned dtypes, char *buf, size_t size)
{
    size_t used = 0;
    int listed = 0;
    buf[0] = '\0';
    for (int dtype = 0; dtype < LK_DTYPE_COUNT && used < size; dtype++) {
        if (!(dtypes & LK_DTYPE_BIT(dtype))) continue;
        int n = snprintf(buf + used, size - used, "%s%s", listed ? ", " : "",
                         lk_dtype_name((lk_dtype)dtype));
        used += n > 0 ? (size_t)n : 0;
        listed++;
    }
    return buf;
}

static lk_status shape_error(const char *name, const lk_tensor *t, const char *expected)
{
    char got[LK_SHAPE_TEXT];
    return lk_fail(LK_ESHAPE, "input '%s' must be %s; got shape %s", name, expected,
                   lk_format_shape(t, got, sizeof got));
}

/* A class target against scores (N, C, *spatial): labels (N, *spatial) or
 * (N, 1, *spatial); float targets exactly (N, C, *spatial). */
static lk_status check_class_target(const char *name, const lk_tensor *target,
                                    const lk_tensor *scores)
{
    char expected[LK_SHAPE_TEXT * 2], want[LK_SHAPE_TEXT];
    if (lk_dtype_is_float(target->dtype)) {
        if (lk_same_shape(target, scores)) return LK_OK;
        snprintf(expected, sizeof expected, "shaped like input 0, %s, when it holds per-class targets",
                 lk_format_shape(scores, want, sizeof want));
        return shape_error(name, target, expected);
    }
    lk_tensor per_pixel = *scores;
    per_pixel.ndim = scores->ndim - 1;
    for (int axis = 1; axis < per_pixel.ndim; axis++) per_pixel.shape[axis] = scores->shape[axis + 1];
    lk_tensor with_channel = *scores;
    with_channel.shape[1] = 1;
    if (lk_same_shape(target, &per_pixel) || lk_same_shape(target, &with_channel)) return LK_OK;
    char alternative[LK_SHAPE_TEXT];
    snprintf(expected, sizeof expected, "%s or %s (one class index per pixel of input 0)",
             lk_format_shape(&per_pixel, want, sizeof want),
             lk_format_shape(&with_channel, alternative, sizeof alternative));
    return shape_error(name, target, expected);
}

/* The batch axis of input 0: axis 1 of a (T, N, C) sequence, else axis 0. */
static int batch_axis(const lk_loss_desc *desc)
{
    return desc->inputs[0].shape == LK_SHAPE_SEQUENCE_SCORES ? 1 : 0;
}

/* A per-item vector (N,) against input 0. */
static lk_status check_per_item(const lk_loss_desc *desc, const char *name, const lk_tensor *t,
                                const lk_tensor *first)
{
    int64_t items = first->shape[batch_axis(desc)];
    if (t->ndim == 1 && t->shape[0] == items) return LK_OK;
    char expected[64];
    snprintf(expected, sizeof expected, "(%lld,), one value per batch item of input '%s'",
             (long long)items, desc->inputs[0].name);
    return shape_error(name, t, expected);
}

/* Label sequences: padded (N, S) or concatenated (S_total,). */
static lk_status check_label_sequences(const lk_loss_desc *desc, const char *name,
                                       const lk_tensor *t, const lk_tensor *first)
{
    int64_t items = first->shape[batch_axis(desc)];
    if (t->ndim == 1 || (t->ndim == 2 && t->shape[0] == items)) return LK_OK;
    char expected[96];
    snprintf(expected, sizeof expected, "(%lld, S) padded or (S_total,) concatenated label sequences",
             (long long)items);
    return shape_error(name, t, expected);
}

/* Keys against embeddings x (N, D) or (N, V, D): (M, D), or (N, M, D). */
static lk_status check_keys(const char *name, const lk_tensor *keys, const lk_tensor *x)
{
    int64_t rows = x->shape[0], dim = x->shape[x->ndim - 1];
    if ((keys->ndim == 2 || (keys->ndim == 3 && keys->shape[0] == rows)) &&
        keys->shape[keys->ndim - 1] == dim)
        return LK_OK;
    char expected[LK_SHAPE_TEXT * 2];
    snprintf(expected, sizeof expected, "(M, %lld) or (%lld, M, %lld) (keys of input 0's rows)",
             (long long)dim, (long long)rows, (long long)dim);
    return shape_error(name, keys, expected);
}

/* Integer labels (N,) or a float mask (N, N), N the rows of input 0. */
static lk_status check_row_target(const char *name, const lk_tensor *target, const lk_tensor *x)
{
    int64_t rows = x->shape[0];
    char expected[LK_SHAPE_TEXT * 2];
    if (lk_dtype_is_float(target->dtype)) {
        if (target->ndim == 2 && target->shape[0] == rows && target->shape[1] == rows) return LK_OK;
        snprintf(expected, sizeof expected, "(%lld, %lld) when it holds a mask of pairs of rows",
                 (long long)rows, (long long)rows);
        return shape_error(name, target, expected);
    }
    if (target->ndim == 1 && target->shape[0] == rows) return LK_OK;
    snprintf(expected, sizeof expected, "(%lld,) (one label per row of input 0)", (long long)rows);
    return shape_error(name, target, expected);
}

/* The first dim of the nearest weight input before slot i (the layer that
 * slot i continues), or -1 if there is none. */
static int64_t previous_layer_rows(const lk_loss_desc *desc, const lk_tensor *inputs, size_t i)
{
    while (i-- > 0)
        if (desc->inputs[i].shape == LK_SHAPE_TILE_PAIR_WEIGHT || desc->inputs[i].shape == LK_SHAPE_LAYER_WEIGHT)
            return inputs[i].shape[0];
    return -1;
}

/* The weights and biases of a dense network's layers (see lk_shape_rule). */
static lk_status check_layer(const lk_loss_desc *desc, const lk_tensor *inputs, size_t i)
{
    const lk_input_info *info = &desc->inputs[i];
    const lk_tensor *t = &inputs[i];
    char expected[LK_SHAPE_TEXT * 2];
    if (info->shape == LK_SHAPE_TILE_PAIR_WEIGHT) {
        int64_t side = t->ndim == 2 ? (int64_t)floor(sqrt((double)t->shape[1] / 2) + 0.5) : 0;
        if (t->ndim == 2 && 2 * side * side == t->shape[1]) return LK_OK;
        return shape_error(info->name, t, "(H, 2 T T): a dense layer's weight over two flattened T x T tiles");
    }
    int64_t rows = previous_layer_rows(desc, inputs, i);
    if (rows < 0)
        return lk_fail(LK_EINVAL, "loss '%s': input '%s' follows no weight input", desc->name, info->name);
    if (info->shape == LK_SHAPE_LAYER_WEIGHT && t->ndim == 2 && t->shape[1] == rows) return LK_OK;
    if (info->shape == LK_SHAPE_LAYER_BIAS && t->ndim == 1 && t->shape[0] == rows) return LK_OK;
    if (info->shape == LK_SHAPE_LAYER_WEIGHT)
        snprintf(expected, sizeof expected, "(H_out, %lld): a dense layer's weight reading the %lld outputs "
                 "of the layer before", (long long)rows, (long long)rows);
    else
        snprintf(expected, sizeof expected, "(%lld,): the bias of the layer before, which has %lld outputs",
                 (long long)rows, (long long)rows);
    return shape_error(info->name, t, expected);
}

/* A classifier's weight (K, D) over the features (N, D, *spatial) of input 0. */
static lk_status check_classifier_weight(const char *name, const lk_tensor *weight,
                                         const lk_tensor *features)
{
    if (weight->ndim == 2 && features->ndim >= 2 && weight->shape[1] == features->shape[1])
        return LK_OK;
    char expected[LK_SHAPE_TEXT];
    snprintf(expected, sizeof expected, "(K, %lld): one row of D = axis 1 of input 0 per class",
             (long long)(features->ndim >= 2 ? features->shape[1] : 0));
    return shape_error(name, weight, expected);
}

/* A classifier's bias (K,), K the rows of the weight slot (which comes first). */
static lk_status check_classifier_bias(const lk_loss_desc *desc, const char *name,
                                       const lk_tensor *bias, const lk_tensor *inputs, size_t slot)
{
    for (size_t i = 0; i < slot; i++) {
        if (desc->inputs[i].shape != LK_SHAPE_CLASSIFIER_WEIGHT) continue;
        if (bias->ndim == 1 && bias->shape[0] == inputs[i].shape[0]) return LK_OK;
        char expected[LK_SHAPE_TEXT];
        snprintf(expected, sizeof expected, "(%lld,), one value per row of input '%s'",
                 (long long)inputs[i].shape[0], desc->inputs[i].name);
        return shape_error(name, bias, expected);
    }
    return lk_fail(LK_EINVAL, "loss '%s': input '%s' has no classifier weight before it", desc->name,
                   name);
}

static lk_status check_input(const lk_loss_desc *desc, const lk_tensor *inputs, size_t i)
{
    const lk_input_info *info = &desc->inputs[i];
    const lk_tensor *t = &inputs[i];
    lk_status status = lk_check_tensor_header("input", info->name, t);
    if (status != LK_OK) return status;
    if (!(info->dtypes & LK_DTYPE_BIT(t->dtype))) {
        char allowed[96];
        return lk_fail(LK_EDTYPE, "input '%s' must be %s; got %s", info->name,
                       format_dtypes(info->dtypes, allowed, sizeof allowed), lk_dtype_name(t->dtype));
    }
    if (i > 0 && lk_dtype_is_float(t->dtype) && t->dtype != inputs[0].dtype)
        return lk_fail(LK_EDTYPE, "input '%s' must have the dtype of input '%s' (%s); got %s",
                       info->name, desc->inputs[0].name, lk_dtype_name(inputs[0].dtype),
                       lk_dtype_name(t->dtype));
    switch (info->shape) {
    case LK_SHAPE_SCORES:
        if (t->ndim < 2 || t->ndim > 5)
            return shape_error(info->name, t, "(N, C, *spatial) with 0 to 3 spatial dimensions");
        return LK_OK;
    case LK_SHAPE_ANY:
        if (t->ndim < 1 || t->ndim > 5) return shape_error(info->name, t, "of 1 to 5 dimensions");
        return LK_OK;
    case LK_SHAPE_CLASS_TARGET: return check_class_target(info->name, t, &inputs[0]);
    case LK_SHAPE_SCALAR:
        if (t->ndim == 0 || (t->ndim == 1 && t->shape[0] == 1)) return LK_OK;
        return shape_error(info->name, t, "a scalar, shape () or (1,)");
    case LK_SHAPE_SEQUENCE_SCORES:
        if (t->ndim != 3) return shape_error(info->name, t, "(T, N, C): time, batch, classes");
        return LK_OK;
    case LK_SHAPE_PER_ITEM: return check_per_item(desc, info->name, t, &inputs[0]);
    case LK_SHAPE_LABEL_SEQUENCES: return check_label_sequences(desc, info->name, t, &inputs[0]);
    case LK_SHAPE_LIKE_FIRST:
        if (!lk_same_shape(t, &inputs[0])) {
            char want[LK_SHAPE_TEXT], expected[LK_SHAPE_TEXT + 32];
            snprintf(expected, sizeof expected, "shaped like input '%s', %s", desc->inputs[0].name,
                     lk_format_shape(&inputs[0], want, sizeof want));
            return shape_error(info->name, t, expected);
        }
        return LK_OK;
    case LK_SHAPE_EMBEDDINGS:
        if (t->ndim != 2) return shape_error(info->name, t, "(N, D): one embedding per row");
        return LK_OK;
    case LK_SHAPE_VIEWS:
        if (t->ndim != 3) return shape_error(info->name, t, "(N, V, D): V views of each of N samples");
        return LK_OK;
    case LK_SHAPE_KEYS: return check_keys(info->name, t, &inputs[0]);
    case LK_SHAPE_ROW_TARGET: return check_row_target(info->name, t, &inputs[0]);
    case LK_SHAPE_TILE_PAIR_WEIGHT:
    case LK_SHAPE_LAYER_WEIGHT:
    case LK_SHAPE_LAYER_BIAS: return check_layer(desc, inputs, i);
    case LK_SHAPE_CLASSIFIER_WEIGHT: return check_classifier_weight(info->name, t, &inputs[0]);
    case LK_SHAPE_CLASSIFIER_BIAS: return check_classifier_bias(desc, info->name, t, inputs, i);
    }
    return lk_fail(LK_EINVAL, "loss '%s': input '%s' has an unknown shape rule", desc->name, info->name);
}

static void output_shape(const lk_call *call, lk_tensor *out)
{
    const lk_tensor *first = &call->inputs[0];
    out->data = NULL;
    out->dtype = first->dtype;
    out->ndim = 0;
    memset(out->shape, 0, sizeof out->shape);
    if (call->desc->output == LK_OUTPUT_REGION) {
        lk_region_output_shape(call->desc, call->params, call->batch, call->classes, out);
        return;
    }
    if (call->desc->output == LK_OUTPUT_SCALAR || call->reduction != LK_REDUCTION_NONE) return;
    if (call->desc->output == LK_OUTPUT_PER_ITEM) {
        out->ndim = 1;
        out->shape[0] = call->batch;
        return;
    }
    if (call->desc->output == LK_OUTPUT_PER_ANCHOR || call->desc->output == LK_OUTPUT_PER_CLASS) {
        call->desc->none_shape(call, out);
        return;
    }
    if (call->desc->output == LK_OUTPUT_PER_ELEMENT) {
        out->ndim = first->ndim;
        memcpy(out->shape, first->shape, sizeof out->shape);
        return;
    }
    out->ndim = first->ndim - 1;
    out->shape[0] = first->shape[0];
    for (int axis = 1; axis < out->ndim; axis++) out->shape[axis] = first->shape[axis + 1];
}

lk_status lk_prepare_call(const lk_loss_desc *desc, const lk_params *params,
                          const lk_tensor *inputs, size_t n_inputs, lk_call *call)
{
    if (!desc) return lk_fail(LK_EINVAL, "desc is NULL");
    if (!params) return lk_fail(LK_EINVAL, "params is NULL");
    if (lk_params_desc(params) != desc)
        return lk_fail(LK_EINVAL, "params were created for loss '%s', not '%s'",
                       lk_params_desc(params)->name, desc->name);
    if (!inputs && n_inputs > 0) return lk_fail(LK_EINVAL, "inputs is NULL");
    if (n_inputs != desc->n_inputs)
        return lk_fail(LK_EINVAL, "loss '%s' takes %zu inputs, got %zu", desc->name,
                       desc->n_inputs, n_inputs);
    for (size_t i = 0; i < n_inputs; i++) {
        lk_status status = check_input(desc, inputs, i);
        if (status != LK_OK) return status;
    }
    int sequence = desc->inputs[0].shape == LK_SHAPE_SEQUENCE_SCORES;
    int class_axis = sequence ? 2 : 1;
    if (inputs[0].ndim > class_axis && inputs[0].shape[class_axis] > INT32_MAX)
        return lk_fail(LK_ESHAPE, "input '%s' has %lld classes; at most %d are supported",
                       desc->inputs[0].name, (long long)inputs[0].shape[class_axis], INT32_MAX);
    memset(call, 0, sizeof *call);
    call->desc = desc;
    call->params = params;
    call->inputs = inputs;
    call->batch = inputs[0].shape[batch_axis(desc)];
    call->classes = inputs[0].ndim > class_axis ? inputs[0].shape[class_axis] : 1;
    call->spatial = sequence ? inputs[0].shape[0] : lk_numel_from(&inputs[0], 2);
    int reduction = lk_param_index(desc, "reduction");
    call->reduction = reduction >= 0 ? lk_param_choice(params, (size_t)reduction) : LK_REDUCTION_MEAN;
    return LK_OK;
}

/* The loss's own validation of its parameters against the call's geometry. */
static lk_status check_geometry(const lk_call *call)
{
    if (call->desc->region) return lk_region_check(call);
    return call->desc->check ? call->desc->check(call) : LK_OK;
}

lk_status lk_loss_output_shape(const lk_loss_desc *desc, const lk_params *params,
                               const lk_tensor *inputs, size_t n_inputs, lk_tensor *out)
{
    if (!out) return lk_fail(LK_EINVAL, "out is NULL");
    lk_call call;
    lk_status status = lk_prepare_call(desc, params, inputs, n_inputs, &call);
    if (status == LK_OK) status = check_geometry(&call);
    if (status != LK_OK) return status;
    output_shape(&call, out);
    return LK_OK;
}

lk_status lk_check_gradients(const lk_call *call, const lk_tensor *grads)
{
    const lk_loss_desc *desc = call->desc;
    for (size_t i = 0; grads && i < desc->n_inputs; i++) {
        const lk_tensor *grad = &grads[i];
        const char *name = desc->inputs[i].name;
        if (!grad->data) continue;
        if (!desc->inputs[i].differentiable)
            return lk_fail(LK_EINVAL,
                           "grads[%zu]: loss '%s' has no gradient for input '%s'; pass data = NULL",
                           i, desc->name, name);
        lk_status status = lk_check_tensor_header("gradient of", name, grad);
        if (status != LK_OK) return status;
        if (grad->dtype != call->inputs[i].dtype || !lk_same_shape(grad, &call->inputs[i])) {
            char want[LK_SHAPE_TEXT], got[LK_SHAPE_TEXT];
            return lk_fail(LK_ESHAPE, "grads[%zu] must be %s %s like input '%s'; got %s %s", i,
                           lk_dtype_name(call->inputs[i].dtype),
                           lk_format_shape(&call->inputs[i], want, sizeof want), name,
                           lk_dtype_name(grad->dtype), lk_format_shape(grad, got, sizeof got));
        }
        for (size_t k = 0; k < desc->n_inputs; k++)
            if (lk_tensors_overlap(grad, &call->inputs[k]))
                return lk_fail(LK_EINVAL, "grads[%zu] overlaps input '%s'", i, desc->inputs[k].name);
        for (size_t k = 0; k < i; k++)
            if (grads[k].data && lk_tensors_overlap(grad, &grads[k]))
                return lk_fail(LK_EINVAL, "grads[%zu] overlaps grads[%zu]", i, k);
    }
    return LK_OK;
}

static lk_status check_outputs(const lk_call *call, const lk_tensor *loss, const lk_tensor *grads)
{
    const lk_loss_desc *desc = call->desc;
    if (!loss) return lk_fail(LK_EINVAL, "loss is NULL");
    lk_status status = lk_check_tensor_header("output", "loss", loss);
    if (status != LK_OK) return status;
    lk_tensor expected;
    output_shape(call, &expected);
    if (loss->dtype != expected.dtype)
        return lk_fail(LK_EDTYPE, "output 'loss' must be %s (the dtype of input '%s'); got %s",
                       lk_dtype_name(expected.dtype), desc->inputs[0].name, lk_dtype_name(loss->dtype));
    if (!lk_same_shape(loss, &expected)) {
        char want[LK_SHAPE_TEXT], got[LK_SHAPE_TEXT];
        return lk_fail(LK_ESHAPE, "output 'loss' must have shape %s for reduction %s; got %s",
                       lk_format_shape(&expected, want, sizeof want),
                       call->reduction == LK_REDUCTION_NONE ? "none" : "mean/sum",
                       lk_format_shape(loss, got, sizeof got));
    }
    for (size_t i = 0; i < desc->n_inputs; i++)
        if (lk_tensors_overlap(loss, &call->inputs[i]))
            return lk_fail(LK_EINVAL, "output 'loss' overlaps input '%s'", desc->inputs[i].name);
    status = lk_check_gradients(call, grads);
    for (size_t i = 0; status == LK_OK && grads && i < desc->n_inputs; i++)
        if (grads[i].data && lk_tensors_overlap(&grads[i], loss))
            status = lk_fail(LK_EINVAL, "grads[%zu] overlaps output 'loss'", i);
    return status;
}

/* The upstream tensor of lk_loss_compute_upstream: the loss tensor's shape,
 * a float dtype, finite values, no overlap with a gradient. */
static lk_status check_upstream(const lk_call *call, const lk_tensor *loss, const lk_tensor *grads,
                                const lk_tensor *upstream)
{
    const lk_loss_desc *desc = call->desc;
    if (!desc->takes_upstream)
        return lk_fail(LK_EINVAL, "loss '%s' does not take an upstream gradient (lk_loss_takes_upstream "
                                  "is 0): call lk_loss_compute and weigh its gradients", desc->name);
    lk_status status = lk_check_tensor_header("upstream gradient", "upstream", upstream);
    if (status != LK_OK) return status;
    if (!lk_dtype_is_float(upstream->dtype))
        return lk_fail(LK_EDTYPE, "upstream must be float32 or float64; got %s", lk_dtype_name(upstream->dtype));
    if (!lk_same_shape(upstream, loss)) {
        char want[LK_SHAPE_TEXT], got[LK_SHAPE_TEXT];
        return lk_fail(LK_ESHAPE, "upstream must have the shape of output 'loss', %s; got %s",
                       lk_format_shape(loss, want, sizeof want), lk_format_shape(upstream, got, sizeof got));
    }
    int64_t bad = lk_find_nonfinite(upstream);
    if (bad >= 0) {
        char where[LK_INDEX_TEXT];
        return lk_fail(LK_EVALUE, "upstream%s = %g: it must be finite",
                       lk_format_index(upstream, bad, where, sizeof where), lk_read_real(upstream, bad));
    }
    for (size_t i = 0; grads && i < desc->n_inputs; i++)
        if (grads[i].data && lk_tensors_overlap(&grads[i], upstream))
            return lk_fail(LK_EINVAL, "grads[%zu] overlaps upstream", i);
    return LK_OK;
}

static lk_status compute_call(const lk_loss_desc *desc, const lk_params *params, const lk_tensor *inputs,
                              size_t n_inputs, const lk_tensor *loss, const lk_tensor *grads,
                              const lk_tensor *upstream, lk_context *ctx)
{
    lk_call call;
    lk_status status = lk_prepare_call(desc, params, inputs, n_inputs, &call);
    if (status == LK_OK) status = check_outputs(&call, loss, grads);
    if (status == LK_OK && upstream) status = check_upstream(&call, loss, grads, upstream);
    if (status == LK_OK) status = check_geometry(&call);
    if (status != LK_OK) return status;
    lk_tensor no_grads[LK_MAX_INPUTS];
    memset(no_grads, 0, sizeof no_grads);
    call.loss = loss;
    call.grads = grads ? grads : no_grads;
    call.upstream = upstream;
    call.ctx = ctx ? ctx : lk_default_context();
    return desc->compute(&call);
}

lk_status lk_loss_compute(const lk_loss_desc *desc, const lk_params *params,
                          const lk_tensor *inputs, size_t n_inputs, const lk_tensor *loss,
                          const lk_tensor *grads, lk_context *ctx)
{
    return compute_call(desc, params, inputs, n_inputs, loss, grads, NULL, ctx);
}

lk_status lk_loss_compute_upstream(const lk_loss_desc *desc, const lk_params *params,
                                   const lk_tensor *inputs, size_t n_inputs, const lk_tensor *loss,
                                   const lk_tensor *grads, const lk_tensor *upstream, lk_context *ctx)
{
    if (!upstream) return lk_fail(LK_EINVAL, "upstream is NULL (use lk_loss_compute for weights of 1)");
    return compute_call(desc, params, inputs, n_inputs, loss, grads, upstream, ctx);
}

int lk_loss_takes_upstream(const lk_loss_desc *desc)
{
    return desc && desc->takes_upstream;
}

lk_status lk_compute(const char *name, const char *spec, const lk_tensor *inputs, size_t n_inputs,
                     const lk_tensor *loss, const lk_tensor *grads)
{
    const lk_loss_desc *desc = lk_loss_find(name);
    if (!desc) return LK_ENOTFOUND;
    lk_params *params = NULL;
    lk_status status = lk_params_create(desc, &params);
    if (status == LK_OK) status = lk_params_parse(params, spec);
    if (status == LK_OK) status = lk_loss_compute(desc, params, inputs, n_inputs, loss, grads, NULL);
    lk_params_destroy(params);
    return status;
}

/* ------------------------------------------------------------ helpers for losses */

lk_status lk_check_class_list(const lk_call *call, size_t param_index, int allow_scalar)
{
    size_t count;
    lk_param_list(call->params, param_index, &count);
    if (count == 0 || (allow_scalar && count == 1) || (int64_t)count == call->classes) return LK_OK;
    return lk_fail(LK_EPARAM, "loss '%s': parameter '%s' has %zu values; input '%s' has %lld classes%s",
                   call->desc->name, call->desc->params[param_index].name, count,
                   call->desc->inputs[0].name, (long long)call->classes,
                   allow_scalar ? " (give 1 value or one per class)" : " (give one per class)");
}

void lk_store_reduced_loss(const lk_call *call, double total, double scale)
{
    if (call->reduction == LK_REDUCTION_NONE && call->desc->output != LK_OUTPUT_SCALAR) return;
    double value = call->reduction == LK_REDUCTION_SUM ? total : total * scale;
    if (call->loss->dtype == LK_F32)
        *(float *)call->loss->data = (float)value;
    else
        *(double *)call->loss->data = value;
}

lk_status lk_report_nonfinite(const lk_call *call, double total)
{
    for (size_t i = 0; i < call->desc->n_inputs; i++) {
        const lk_tensor *t = &call->inputs[i];
        if (!lk_dtype_is_float(t->dtype)) continue;
        int64_t bad = lk_find_nonfinite(t);
        if (bad >= 0) {
            char where[LK_INDEX_TEXT];
            return lk_fail(LK_EVALUE, "input '%s'%s = %g: inputs must be finite",
                           call->desc->inputs[i].name, lk_format_index(t, bad, where, sizeof where),
                           lk_read_real(t, bad));
        }
    }
    return lk_fail(LK_EVALUE, "loss '%s' is %g: it overflowed although every input is finite",
                   call->desc->name, total);
}

lk_status lk_finish_loss(const lk_call *call, double total, double scale)
{
    if (!isfinite(total)) return lk_report_nonfinite(call, total);
    lk_store_reduced_loss(call, total, scale);
    return LK_OK;
}
