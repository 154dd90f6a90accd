/*
 * Filling a loss's input slots from a scene (see scene.h for the rules).
 */
#include "scene.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How the prediction slot holds the probabilities. */
typedef enum encoding { ENCODE_LOG_PROB, ENCODE_SIGMOID_LOGIT, ENCODE_PROB } encoding;

size_t lk_cli_tensor_numel(const lk_tensor *tensor)
{
    size_t count = 1;
    for (int d = 0; d < tensor->ndim; d++) count *= (size_t)tensor->shape[d];
    return count;
}

static double read_float(const lk_tensor *tensor, size_t i)
{
    return tensor->dtype == LK_F32 ? (double)((const float *)tensor->data)[i]
                                   : ((const double *)tensor->data)[i];
}

static void write_value(const lk_tensor *tensor, size_t i, double value)
{
    switch (tensor->dtype) {
    case LK_F32: ((float *)tensor->data)[i] = (float)value; break;
    case LK_F64: ((double *)tensor->data)[i] = value; break;
    case LK_U8: ((uint8_t *)tensor->data)[i] = (uint8_t)value; break;
    case LK_I32: ((int32_t *)tensor->data)[i] = (int32_t)value; break;
    case LK_I64: ((int64_t *)tensor->data)[i] = (int64_t)value; break;
    }
}

double lk_cli_tensor_sum(const lk_tensor *tensor)
{
    double sum = 0.0;
    for (size_t i = 0; i < lk_cli_tensor_numel(tensor); i++) sum += read_float(tensor, i);
    return sum;
}

double lk_cli_tensor_norm(const lk_tensor *tensor)
{
    double sum = 0.0;
    for (size_t i = 0; i < lk_cli_tensor_numel(tensor); i++) {
        double value = read_float(tensor, i);
        sum += value * value;
    }
    return sqrt(sum);
}

static int allocate(lk_tensor *tensor)
{
    size_t bytes = lk_cli_tensor_numel(tensor) * lk_dtype_size(tensor->dtype);
    tensor->data = calloc(bytes ? bytes : 1, 1);
    return tensor->data != NULL;
}

static int64_t spatial_size(const lk_cli_scene *scene)
{
    int64_t size = 1;
    for (int d = 2; d < scene->ndim; d++) size *= scene->shape[d];
    return size;
}

static int activation_of(const lk_cli_loss *loss, char *activation, size_t size)
{
    return lk_params_get(loss->params, "activation", activation, size) >= 0;
}

static encoding prediction_encoding(const lk_cli_loss *loss, const lk_input_info *slot)
{
    char activation[32];
    if (!activation_of(loss, activation, sizeof activation))
        return slot->shape == LK_SHAPE_ANY ? ENCODE_SIGMOID_LOGIT : ENCODE_LOG_PROB;
    if (strcmp(activation, "none") == 0) return ENCODE_PROB;
    if (strcmp(activation, "sigmoid") == 0) return ENCODE_SIGMOID_LOGIT;
    return ENCODE_LOG_PROB;
}

static double encode(encoding how, double p)
{
    switch (how) {
    case ENCODE_LOG_PROB: return log(p);
    case ENCODE_SIGMOID_LOGIT: return log(p / (1.0 - p));
    case ENCODE_PROB: return p;
    }
    return p;
}

/* The scene channel held by channel c of a prediction with `channels` channels. */
static int64_t source_channel(const lk_cli_scene *scene, int64_t channels, int64_t c)
{
    return scene->binary && channels == 1 ? 1 : c;
}

static void fill_prediction(const lk_cli_scene *scene, encoding how, const lk_tensor *tensor)
{
    int64_t channels = tensor->shape[1], pixels = spatial_size(scene);
    for (int64_t n = 0; n < scene->shape[0]; n++)
        for (int64_t c = 0; c < channels; c++) {
            int64_t from = source_channel(scene, channels, c);
            const double *probs = scene->probs + (n * scene->shape[1] + from) * pixels;
            size_t base = (size_t)((n * channels + c) * pixels);
            for (int64_t x = 0; x < pixels; x++)
                write_value(tensor, base + (size_t)x, encode(how, probs[x]));
        }
}

static void fill_one_hot(const lk_cli_scene *scene, const lk_tensor *tensor)
{
    int64_t channels = tensor->shape[1], pixels = spatial_size(scene);
    for (int64_t n = 0; n < scene->shape[0]; n++)
        for (int64_t c = 0; c < channels; c++) {
            int64_t from = source_channel(scene, channels, c);
            const int64_t *labels = scene->labels + n * pixels;
            size_t base = (size_t)((n * channels + c) * pixels);
            for (int64_t x = 0; x < pixels; x++)
                write_value(tensor, base + (size_t)x, labels[x] == from ? 1.0 : 0.0);
        }
}

/* A binary-domain slot (an object mask) gets label != 0: every class but the
 * background is the object. */
static void fill_labels(const lk_cli_scene *scene, const lk_input_info *slot,
                        const lk_tensor *tensor)
{
    size_t count = lk_cli_tensor_numel(tensor);
    int mask = slot->domain == LK_DOMAIN_BINARY;
    for (size_t i = 0; i < count; i++)
        write_value(tensor, i, mask ? (double)(scene->labels[i] != 0) : (double)scene->labels[i]);
}

static lk_dtype label_dtype(unsigned dtypes)
{
    if (dtypes & LK_DTYPE_BIT(LK_I64)) return LK_I64;
    return dtypes & LK_DTYPE_BIT(LK_I32) ? LK_I32 : LK_U8;
}

/* Shapes and fills the prediction (slot 0). */
static int build_prediction(const lk_cli_loss *loss, const lk_cli_scene *scene, lk_tensor *tensor,
                            char *why, size_t why_size)
{
    const lk_input_info *slot = lk_loss_input(loss->desc, 0);
    if (slot->shape != LK_SHAPE_SCORES && slot->shape != LK_SHAPE_ANY) {
        snprintf(why, why_size, "its first input '%s' is not a prediction (N, C, *spatial)",
                 slot->name);
        return 0;
    }
    if (!(slot->dtypes & LK_DTYPE_BIT(scene->dtype))) {
        snprintf(why, why_size, "its input '%s' does not take %s", slot->name,
                 lk_dtype_name(scene->dtype));
        return 0;
    }
    encoding how = prediction_encoding(loss, slot);
    int one_channel = scene->binary && (slot->shape == LK_SHAPE_ANY || how == ENCODE_SIGMOID_LOGIT);
    tensor->dtype = scene->dtype;
    tensor->ndim = scene->ndim;
    memcpy(tensor->shape, scene->shape, sizeof tensor->shape);
    if (one_channel) tensor->shape[1] = 1;
    if (!allocate(tensor)) {
        snprintf(why, why_size, "out of memory");
        return 0;
    }
    fill_prediction(scene, how, tensor);
    return 1;
}

static void describe_target(const lk_cli_scene *scene, const lk_input_info *slot,
                            const lk_tensor *prediction, lk_tensor *tensor)
{
    int labels = slot->shape == LK_SHAPE_CLASS_TARGET && (slot->dtypes & LK_DTYPES_LABEL);
    if (labels) {
        tensor->dtype = label_dtype(slot->dtypes);
        tensor->ndim = scene->ndim - 1;
        tensor->shape[0] = scene->shape[0];
        for (int d = 2; d < scene->ndim; d++) tensor->shape[d - 1] = scene->shape[d];
        return;
    }
    tensor->dtype = slot->dtypes & LK_DTYPE_BIT(scene->dtype) ? scene->dtype
                                                             : label_dtype(slot->dtypes);
    tensor->ndim = prediction->ndim;
    memcpy(tensor->shape, prediction->shape, sizeof tensor->shape);
}

/* Shapes and fills slot i > 0. */
static int build_other(const lk_cli_scene *scene, const lk_input_info *slot,
                       const lk_tensor *prediction, lk_tensor *tensor, char *why, size_t why_size)
{
    switch (slot->shape) {
    case LK_SHAPE_CLASS_TARGET:
    case LK_SHAPE_LIKE_FIRST: describe_target(scene, slot, prediction, tensor); break;
    case LK_SHAPE_SCALAR:
        if (!(slot->dtypes & LK_DTYPE_BIT(scene->dtype))) {
            snprintf(why, why_size, "its scalar input '%s' does not take %s", slot->name,
                     lk_dtype_name(scene->dtype));
            return 0;
        }
        tensor->dtype = scene->dtype;
        tensor->ndim = 0;
        break;
    case LK_SHAPE_SCORES:
    case LK_SHAPE_ANY:
        snprintf(why, why_size, "its input '%s' is a second prediction", slot->name);
        return 0;
    default: /* a shape rule added after this tool */
        snprintf(why, why_size, "its input '%s' has a shape rule (%d) this tool cannot fill",
                 slot->name, (int)slot->shape);
        return 0;
    }
    if (!allocate(tensor)) {
        snprintf(why, why_size, "out of memory");
        return 0;
    }
    if (slot->shape == LK_SHAPE_SCALAR)
        write_value(tensor, 0, scene->scalar);
    else if (tensor->ndim == scene->ndim - 1)
        fill_labels(scene, slot, tensor);
    else
        fill_one_hot(scene, tensor);
    return 1;
}

static int build_outputs(const lk_cli_loss *loss, lk_cli_inputs *out, char *why, size_t why_size)
{
    if (lk_loss_output_shape(loss->desc, loss->params, out->inputs, out->count, &out->loss) !=
        LK_OK) {
        snprintf(why, why_size, "%s", lk_last_error());
        return 0;
    }
    if (!allocate(&out->loss)) {
        snprintf(why, why_size, "out of memory");
        return 0;
    }
    for (size_t i = 0; i < out->count; i++) {
        out->bytes_read += lk_cli_tensor_numel(&out->inputs[i]) * lk_dtype_size(out->inputs[i].dtype);
        if (!lk_loss_input(loss->desc, i)->differentiable) continue;
        out->grads[i] = out->inputs[i];
        out->grads[i].data = NULL;
        if (!allocate(&out->grads[i])) {
            snprintf(why, why_size, "out of memory");
            return 0;
        }
        out->bytes_written += lk_cli_tensor_numel(&out->grads[i]) * lk_dtype_size(out->grads[i].dtype);
    }
    return 1;
}

int lk_cli_inputs_build(const lk_cli_loss *loss, const lk_cli_scene *scene, lk_cli_inputs *out,
                        char *why, size_t why_size)
{
    memset(out, 0, sizeof *out);
    out->count = lk_loss_input_count(loss->desc);
    if (out->count == 0 || out->count > LK_CLI_MAX_INPUTS) {
        snprintf(why, why_size, "it takes %zu inputs", out->count);
        out->count = 0;
        return 0;
    }
    int ok = build_prediction(loss, scene, &out->inputs[0], why, why_size);
    for (size_t i = 1; ok && i < out->count; i++)
        ok = build_other(scene, lk_loss_input(loss->desc, i), &out->inputs[0], &out->inputs[i],
                         why, why_size);
    if (ok) ok = build_outputs(loss, out, why, why_size);
    if (!ok) lk_cli_inputs_free(out);
    return ok;
}

lk_status lk_cli_inputs_compute(const lk_cli_loss *loss, lk_cli_inputs *inputs, lk_context *ctx)
{
    return lk_loss_compute(loss->desc, loss->params, inputs->inputs, inputs->count, &inputs->loss,
                           inputs->grads, ctx);
}

void lk_cli_inputs_free(lk_cli_inputs *inputs)
{
    for (size_t i = 0; i < LK_CLI_MAX_INPUTS; i++) {
        free(inputs->inputs[i].data);
        free(inputs->grads[i].data);
    }
    free(inputs->loss.data);
    memset(inputs, 0, sizeof *inputs);
}
