/*
 * The files of `losskit eval` turned into one image for the losses and the
 * metrics (eval.h):
 *
 *   target  a label map of 1 to 3 spatial axes: integers, or floats that are
 *           all whole numbers (NIfTI segmentations are often float32);
 *   pred    the target's shape: a label map (integers, or whole floats), or,
 *           given --pred-kind probabilities|logits, one channel of scores;
 *           or one more axis, the classes: first for .npy (C, *spatial),
 *           last for NIfTI (x, y, z, C); --channel-axis overrides.
 *   kind    --pred-kind auto: label map as above, else probabilities when
 *           every value is in [0, 1], else logits.
 *
 * A label map becomes one-hot scores (probabilities) with C classes: the
 * --classes value, else 1 + the largest label of both files (at least 2).
 * The metrics read the labels of the prediction: the label map itself, the
 * argmax over the classes (the first on ties, as NumPy), or with one channel
 * p > 0.5 (probabilities) or x > 0 (logits).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "eval.h"

/* Prints "losskit eval: MESSAGE" and returns code. */
static int fail(int code, const char *fmt, ...) LK_CLI_PRINTF(2, 3);
static int fail(int code, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fprintf(stderr, "losskit eval: ");
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
    return code;
}

const char *eval_kind_name(pred_kind kind)
{
    static const char *const names[] = {"auto", "probabilities", "logits", "labels"};
    return names[kind];
}

static void format_shape(const lk_tensor *tensor, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "(");
    for (int axis = 0; axis < tensor->ndim && used < size; axis++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", axis ? ", " : "",
                                 (long long)tensor->shape[axis]);
    if (used < size) snprintf(buf + used, size - used, tensor->ndim == 1 ? ",)" : ")");
}

static int64_t element_count(const lk_tensor *tensor)
{
    int64_t count = 1;
    for (int axis = 0; axis < tensor->ndim; axis++) count *= tensor->shape[axis];
    return count;
}

static int same_shape(const int64_t *a, const int64_t *b, int ndim)
{
    for (int axis = 0; axis < ndim; axis++)
        if (a[axis] != b[axis]) return 0;
    return 1;
}

/* A tensor of (1, *shape) or (1, C, *shape), dtype, zero-filled. */
static int allocate(lk_tensor *tensor, lk_dtype dtype, int64_t channels, const int64_t *shape,
                    int ndim)
{
    tensor->dtype = dtype;
    tensor->ndim = 0;
    tensor->shape[tensor->ndim++] = 1;
    if (channels > 0) tensor->shape[tensor->ndim++] = channels;
    for (int axis = 0; axis < ndim; axis++) tensor->shape[tensor->ndim++] = shape[axis];
    tensor->data = calloc((size_t)element_count(tensor), 8);
    if (!tensor->data) return fail(LK_EXIT_FAILURE, "out of memory");
    return LK_EXIT_OK;
}

/* A whole number that fits in int64. */
static int is_whole(double value)
{
    return value == floor(value) && fabs(value) < 9.2e18;
}

static int all_whole(const double *values, int64_t count)
{
    for (int64_t i = 0; i < count; i++)
        if (!is_whole(values[i])) return 0;
    return 1;
}

static int all_unit(const double *values, int64_t count)
{
    for (int64_t i = 0; i < count; i++)
        if (!(values[i] >= 0 && values[i] <= 1)) return 0;
    return 1;
}

/* The label map of a file as int64 values (whole floats converted). */
static int read_labels(const eval_file *file, const char *role, int64_t *labels)
{
    int64_t count = element_count(&file->array.tensor);
    if (file->array.tensor.dtype == LK_I64) {
        memcpy(labels, file->array.tensor.data, (size_t)count * 8);
        return LK_EXIT_OK;
    }
    const double *values = file->array.tensor.data;
    for (int64_t i = 0; i < count; i++) {
        if (!is_whole(values[i]))
            return fail(LK_EXIT_INPUT, "%s %s holds %.17g at flat index %lld, not a label; a label "
                                       "map holds whole numbers",
                        role, file->path, values[i], (long long)i);
        labels[i] = (int64_t)values[i];
    }
    return LK_EXIT_OK;
}

static int64_t max_label(const int64_t *labels, int64_t count)
{
    int64_t largest = 0;
    for (int64_t i = 0; i < count; i++)
        if (labels[i] > largest) largest = labels[i];
    return largest;
}

/* One-hot float64 (1, C, *spatial) of labels; the first out-of-range label
 * is reported in problem and leaves the tensor unformed (data NULL). */
static int one_hot(const int64_t *labels, int64_t pixels, int classes, const int64_t *shape,
                   int ndim, lk_tensor *out, char *problem, size_t size)
{
    int binary = classes == 1; /* one channel: the foreground of a 0/1 mask */
    for (int64_t i = 0; i < pixels; i++)
        if (labels[i] < 0 || labels[i] >= (binary ? 2 : classes)) {
            snprintf(problem, size, "label %lld at flat index %lld is not in [0, %d)",
                     (long long)labels[i], (long long)i, binary ? 2 : classes);
            return LK_EXIT_OK;
        }
    if (allocate(out, LK_F64, classes, shape, ndim) != LK_EXIT_OK) return LK_EXIT_FAILURE;
    double *values = out->data;
    for (int64_t i = 0; i < pixels; i++) {
        if (binary)
            values[i] = (double)labels[i];
        else
            values[labels[i] * pixels + i] = 1.0;
    }
    return LK_EXIT_OK;
}

/* Where the prediction's class axis is, or -1 (no class axis). */
static int class_axis(const eval_file *pred, const eval_file *target, channel_axis axis)
{
    const lk_tensor *p = &pred->array.tensor, *t = &target->array.tensor;
    if (p->ndim != t->ndim + 1) return -1;
    int last = axis == AXIS_LAST || (axis == AXIS_AUTO && pred->nifti);
    return last ? p->ndim - 1 : 0;
}

static int check_shapes(const eval_file *pred, const eval_file *target, int axis)
{
    const lk_tensor *p = &pred->array.tensor, *t = &target->array.tensor;
    char pred_shape[160], target_shape[160];
    format_shape(p, pred_shape, sizeof pred_shape);
    format_shape(t, target_shape, sizeof target_shape);
    if (t->ndim < 1 || t->ndim > 3)
        return fail(LK_EXIT_INPUT, "target %s has shape %s; eval takes one image of 1 to 3 "
                                   "spatial axes",
                    target->path, target_shape);
    int fits = p->ndim == t->ndim ? same_shape(p->shape, t->shape, t->ndim)
               : axis == 0        ? same_shape(p->shape + 1, t->shape, t->ndim)
               : axis > 0         ? same_shape(p->shape, t->shape, t->ndim)
                                  : 0;
    if (fits && element_count(t) > 0 && (axis < 0 || p->shape[axis] > 0)) return LK_EXIT_OK;
    return fail(LK_EXIT_INPUT, "pred %s has shape %s, target %s has shape %s: the prediction "
                    "must have the target's shape (a label map or one channel of scores) or "
                    "one more axis for the classes (%s), and no axis may be empty",
            pred->path, pred_shape, target->path, target_shape,
            pred->nifti ? "last in NIfTI, or --channel-axis first" : "first in .npy, or --channel-axis last");
}

/* Copies the prediction's scores into (1, C, *spatial), moving a last
 * class axis to the front. */
static void copy_scores(const lk_tensor *pred, int axis, lk_tensor *scores)
{
    const double *src = pred->data;
    double *dst = scores->data;
    int64_t classes = scores->shape[1], pixels = element_count(scores) / classes;
    if (pred->dtype == LK_I64) {
        const int64_t *integers = pred->data;
        for (int64_t i = 0; i < pixels * classes; i++)
            dst[axis == 0 ? i : (i % classes) * pixels + i / classes] = (double)integers[i];
        return;
    }
    if (axis == 0) {
        memcpy(dst, src, (size_t)(pixels * classes) * 8);
        return;
    }
    for (int64_t pixel = 0; pixel < pixels; pixel++)
        for (int64_t c = 0; c < classes; c++) dst[c * pixels + pixel] = src[pixel * classes + c];
}

/* Labels of a score prediction: argmax over C, or a threshold with one channel. */
static void argmax_labels(const lk_tensor *scores, pred_kind kind, int64_t *labels)
{
    const double *values = scores->data;
    int64_t classes = scores->shape[1], pixels = element_count(scores) / classes;
    double threshold = kind == KIND_PROBABILITIES ? 0.5 : 0.0;
    for (int64_t pixel = 0; pixel < pixels; pixel++) {
        if (classes == 1) {
            labels[pixel] = values[pixel] > threshold;
            continue;
        }
        int64_t best = 0;
        for (int64_t c = 1; c < classes; c++)
            if (values[c * pixels + pixel] > values[best * pixels + pixel]) best = c;
        labels[pixel] = best;
    }
}

static int all_binary(const int64_t *values, int64_t count)
{
    for (int64_t i = 0; i < count; i++)
        if (values[i] != 0 && values[i] != 1) return 0;
    return 1;
}

/* --pred-kind auto (the rule in the header comment); integers with a class
 * axis are one-hot probabilities when all 0 or 1, else logits. */
static pred_kind guess_kind(const lk_tensor *pred, int has_class_axis)
{
    int64_t count = element_count(pred);
    if (pred->dtype == LK_I64)
        return !has_class_axis                ? KIND_LABELS
               : all_binary(pred->data, count) ? KIND_PROBABILITIES
                                               : KIND_LOGITS;
    if (!has_class_axis && all_whole(pred->data, count)) return KIND_LABELS;
    return all_unit(pred->data, count) ? KIND_PROBABILITIES : KIND_LOGITS;
}

static int prepare_label_prediction(const eval_file *pred, const eval_request *request,
                                    eval_data *out)
{
    const lk_tensor *t = &out->labels;
    int64_t pixels = element_count(t);
    const int64_t *spatial = t->shape + 1;
    if (allocate(&out->pred_labels, LK_I64, 0, spatial, out->spatial_dims) != LK_EXIT_OK) return LK_EXIT_FAILURE;
    int code = read_labels(pred, "pred", out->pred_labels.data);
    if (code != LK_EXIT_OK) return code;
    int64_t largest = max_label(out->pred_labels.data, pixels);
    int64_t target_largest = max_label(out->labels.data, pixels);
    if (target_largest > largest) largest = target_largest;
    if (request->classes == 0 && largest >= 1 << 16)
        return fail(LK_EXIT_INPUT, "the label maps hold label %lld; give --classes for that many "
                                   "classes",
                    (long long)largest);
    out->classes = request->classes ? request->classes : largest < 1 ? 2 : (int)largest + 1;
    char problem[192] = "";
    if (one_hot(out->pred_labels.data, pixels, out->classes, spatial, out->spatial_dims,
                &out->scores, problem, sizeof problem) != LK_EXIT_OK)
        return LK_EXIT_FAILURE;
    if (problem[0]) return fail(LK_EXIT_INPUT, "pred %s: %s (see --classes)", pred->path, problem);
    return LK_EXIT_OK;
}

static int prepare_score_prediction(const eval_file *pred, int axis, const eval_request *request,
                                    eval_data *out)
{
    const lk_tensor *p = &pred->array.tensor;
    int64_t classes = axis < 0 ? 1 : p->shape[axis];
    if (request->classes && request->classes != classes) {
        return fail(LK_EXIT_INPUT, "pred %s has %lld channels, --classes says %d", pred->path,
                (long long)classes, request->classes);
    }
    if (classes > 1 << 16)
        return fail(LK_EXIT_INPUT, "pred %s has %lld channels; is its class axis the one "
                                   "--channel-axis names?",
                    pred->path, (long long)classes);
    out->classes = (int)classes;
    if (allocate(&out->scores, LK_F64, classes, out->labels.shape + 1, out->spatial_dims) != LK_EXIT_OK ||
        allocate(&out->pred_labels, LK_I64, 0, out->labels.shape + 1, out->spatial_dims) != LK_EXIT_OK)
        return LK_EXIT_FAILURE;
    copy_scores(p, axis < 0 ? 0 : axis, &out->scores);
    argmax_labels(&out->scores, out->kind, out->pred_labels.data);
    return LK_EXIT_OK;
}

static int valid_spacing(const double *spacing, int count)
{
    for (int axis = 0; axis < count; axis++)
        if (!(spacing[axis] > 0 && isfinite(spacing[axis]))) return 0;
    return 1;
}

static int spacing_differs(const double *a, const double *b, int count)
{
    for (int axis = 0; axis < count; axis++)
        if (fabs(a[axis] - b[axis]) > 1e-5 * fabs(b[axis])) return 1;
    return 0;
}

/* --spacing, else the target's header, else the prediction's (its spatial
 * axes: all but a class axis), else none. */
static int choose_spacing(const eval_file *pred, int axis, const eval_file *target,
                          const eval_request *request, eval_data *out)
{
    int dims = out->spatial_dims;
    if (request->n_spacing) {
        if (request->n_spacing != 1 && request->n_spacing != dims)
            return fail(LK_EXIT_USAGE, "--spacing has %d values; the images have %d spatial axes "
                                       "(give one value, or one per axis)",
                        request->n_spacing, dims);
        for (int i = 0; i < dims; i++)
            out->spacing[i] = request->spacing[request->n_spacing == 1 ? 0 : i];
        out->has_spacing = 1;
        out->spacing_source = "--spacing";
        return LK_EXIT_OK;
    }
    const double *pred_spacing = pred->array.spacing + (axis == 0 ? 1 : 0);
    const eval_file *source = target->array.has_spacing ? target : pred->array.has_spacing ? pred : NULL;
    out->spacing_source = "none";
    if (!source) return LK_EXIT_OK;
    const double *spacing = source == target ? target->array.spacing : pred_spacing;
    if (!valid_spacing(spacing, dims))
        return fail(LK_EXIT_INPUT, "%s: its header's voxel spacing is not positive and finite "
                                   "on every axis; give --spacing", source->path);
    if (source == target && pred->array.has_spacing && spacing_differs(pred_spacing, spacing, dims))
        return fail(LK_EXIT_INPUT, "the voxel spacings of pred %s and target %s differ; give --spacing",
                    pred->path, target->path);
    memcpy(out->spacing, spacing, (size_t)dims * sizeof(double));
    out->has_spacing = 1;
    out->spacing_source = source == target ? "target header" : "pred header";
    return LK_EXIT_OK;
}

static int prepare_target(const eval_file *target, eval_data *out)
{
    const lk_tensor *t = &target->array.tensor;
    out->spatial_dims = t->ndim;
    if (allocate(&out->labels, LK_I64, 0, t->shape, t->ndim) != LK_EXIT_OK) return LK_EXIT_FAILURE;
    return read_labels(target, "target", out->labels.data);
}

int eval_data_prepare(const eval_file *pred, const eval_file *target, const eval_request *request,
                      eval_data *out)
{
    memset(out, 0, sizeof *out);
    int axis = class_axis(pred, target, request->axis);
    int code = check_shapes(pred, target, axis);
    if (code == LK_EXIT_OK) code = prepare_target(target, out);
    if (code != LK_EXIT_OK) return code;
    out->kind_given = request->kind != KIND_AUTO;
    out->kind = out->kind_given ? request->kind : guess_kind(&pred->array.tensor, axis >= 0);
    if (out->kind == KIND_LABELS && axis >= 0)
        return fail(LK_EXIT_INPUT, "pred %s has a class axis; --pred-kind labels takes a label "
                                   "map of the target's shape", pred->path);
    code = out->kind == KIND_LABELS ? prepare_label_prediction(pred, request, out)
                                    : prepare_score_prediction(pred, axis, request, out);
    if (code == LK_EXIT_OK) code = choose_spacing(pred, axis, target, request, out);
    if (code != LK_EXIT_OK) return code;
    return one_hot(out->labels.data, element_count(&out->labels), out->classes, out->labels.shape + 1,
                   out->spatial_dims, &out->one_hot, out->one_hot_problem,
                   sizeof out->one_hot_problem);
}

void eval_data_free(eval_data *data)
{
    free(data->scores.data);
    free(data->labels.data);
    free(data->pred_labels.data);
    free(data->one_hot.data);
    memset(data, 0, sizeof *data);
}
