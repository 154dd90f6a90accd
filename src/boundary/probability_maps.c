/*
 * Per-class probability maps of the boundary losses (see probability_maps.h).
 *
 * Backward pass, per pixel, from u_c = d loss / d p_c:
 *   softmax: d loss / d x_c = p_c (u_c - sum_k p_k u_k)
 *   sigmoid: d loss / d x_c = u_c p_c (1 - p_c)
 * With a gradient wanted, p waits in the gradient buffer and is overwritten
 * there, block by block, by the backward pass.
 */
#ifndef LK_REAL
#include "boundary/probability_maps.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "core/error.h"
#include "core/hot.h"
#include "core/tensor.h"
#include "core/vecmath.h"

#define MAPS_BLOCK 64

enum { ERROR_IN_INPUT = 0, ERROR_IN_TARGET = 1 };

static void record_error(lk_probability_maps *maps, int64_t chunk, int which, int64_t index)
{
    maps->errors[chunk].index = index;
    maps->errors[chunk].input = which;
}

#define LK_TYPED_FILE "boundary/probability_maps.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

#include "core/class_activation.h"
#include "core/unit_interval.h"

/* Offset of the first logit of x[classes x len] (rows `row` apart) that is a
 * NaN or an infinity, or -1. */
static int64_t LK_T(first_nonfinite)(const lk_real *x, int classes, int64_t row, int len)
{
    for (int c = 0; c < classes; c++) {
        const lk_real *restrict xc = x + c * row;
        int bad = 0;
        for (int j = 0; j < len; j++) bad |= !(xc[j] - xc[j] == 0);
        for (int j = 0; bad && j < len; j++)
            if (!(xc[j] - xc[j] == 0)) return c * row + j;
    }
    return -1;
}

/* The chunk's labels (as channels) and p: checked, activated. */
LK_HOT static void LK_T(prepare_chunk)(void *arg, int64_t chunk, int worker)
{
    (void)worker;
    lk_probability_maps *maps = arg;
    int64_t begin, end, n = lk_image_chunk_span(chunk, maps->spatial, &begin, &end);
    int classes = (int)maps->classes;
    const lk_real *input = (const lk_real *)maps->call->inputs[0].data;
    lk_real max[MAPS_BLOCK], sum[MAPS_BLOCK];
    uint8_t valid[MAPS_BLOCK];
    for (int64_t first = begin; first < end; first += MAPS_BLOCK) {
        int len = (int)(end - first < MAPS_BLOCK ? end - first : MAPS_BLOCK);
        int64_t pixel = n * maps->spatial + first, offset = n * maps->classes * maps->spatial + first;
        int32_t *restrict label = maps->label + pixel;
        int bad = lk_load_labels(&maps->call->inputs[1], pixel, len, &maps->label_rule, label, valid);
        if (bad >= 0) {
            record_error(maps, chunk, ERROR_IN_TARGET, pixel + bad);
            return;
        }
        if (classes == 1) /* a 0/1 mask: channel 0 predicts label 1 */
            for (int j = 0; j < len; j++) label[j] = label[j] - 1;
        int64_t outside = maps->activation == LK_MAPS_NONE
                              ? LK_T(lk_first_outside_unit)(input + offset, classes, maps->spatial, len)
                              : LK_T(first_nonfinite)(input + offset, classes, maps->spatial, len);
        if (outside >= 0) {
            record_error(maps, chunk, ERROR_IN_INPUT, offset + outside);
            return;
        }
        lk_real *prob = (lk_real *)maps->activated + offset;
        if (maps->activation == LK_MAPS_SOFTMAX)
            LK_T(lk_block_softmax)(input + offset, maps->spatial, classes, len, prob, maps->spatial, max,
                                   sum);
        else if (maps->activation == LK_MAPS_SIGMOID)
            LK_T(lk_block_sigmoid)(input + offset, maps->spatial, classes, len, prob, maps->spatial);
    }
}

/* The chunk's gradient from upstream, through the activation, in place of p. */
LK_HOT static void LK_T(backward_chunk)(void *arg, int64_t chunk, int worker)
{
    (void)worker;
    lk_probability_maps *maps = arg;
    int64_t begin, end, n = lk_image_chunk_span(chunk, maps->spatial, &begin, &end);
    int64_t classes = maps->classes, spatial = maps->spatial;
    lk_real *grad = lk_grad_data(maps->call, 0);
    const lk_real *upstream = maps->upstream;
    for (int64_t first = begin; first < end; first += MAPS_BLOCK) {
        int len = (int)(end - first < MAPS_BLOCK ? end - first : MAPS_BLOCK);
        int64_t offset = n * classes * spatial + first;
        if (maps->activation == LK_MAPS_SIGMOID) {
            for (int64_t c = 0; c < classes; c++) {
                lk_real *restrict out = grad + offset + c * spatial; /* holds p */
                const lk_real *restrict u = upstream + offset + c * spatial;
                for (int j = 0; j < len; j++) out[j] = u[j] * out[j] * (1 - out[j]);
            }
            continue;
        }
        lk_real dot[MAPS_BLOCK];
        for (int j = 0; j < len; j++) dot[j] = 0;
        for (int64_t c = 0; c < classes; c++) {
            const lk_real *restrict p = grad + offset + c * spatial;
            const lk_real *restrict u = upstream + offset + c * spatial;
            for (int j = 0; j < len; j++) dot[j] += p[j] * u[j];
        }
        for (int64_t c = 0; c < classes; c++) {
            lk_real *restrict out = grad + offset + c * spatial;
            const lk_real *restrict u = upstream + offset + c * spatial;
            for (int j = 0; j < len; j++) out[j] = out[j] * (u[j] - dot[j]);
        }
    }
}

#endif /* typed section */

#ifndef LK_REAL

lk_status lk_probability_maps_check(const lk_call *call, int activation)
{
    if (call->inputs && call->inputs[0].ndim != 4 && call->inputs[0].ndim != 5)
        return lk_fail(LK_ESHAPE, "loss '%s': input '%s' must be 2-D images (N, C, H, W) or 3-D "
                       "volumes (N, C, D, H, W); got %d dimensions",
                       call->desc->name, call->desc->inputs[0].name, call->inputs[0].ndim);
    if (activation == LK_MAPS_SOFTMAX && call->classes < 2)
        return lk_fail(LK_EPARAM, "loss '%s': activation=softmax needs 2 or more classes; got %lld "
                       "(use activation=sigmoid or none for one channel)",
                       call->desc->name, (long long)call->classes);
    return LK_OK;
}

void lk_probability_maps_free(lk_probability_maps *maps)
{
    free(maps->label);
    free(maps->prob_scratch);
    free(maps->upstream_scratch);
    free(maps->errors);
    memset(maps, 0, sizeof *maps);
}

static lk_status report_error(const lk_probability_maps *maps, const lk_chunk_error *error)
{
    const lk_call *call = maps->call;
    const char *input_name = call->desc->inputs[0].name;
    char where[LK_INDEX_TEXT];
    if (error->input == ERROR_IN_TARGET)
        return lk_label_error(&call->inputs[1], call->desc->inputs[1].name, &maps->label_rule, error->index);
    if (maps->activation == LK_MAPS_NONE)
        return lk_unit_interval_error(&call->inputs[0], input_name, error->index, "a probability",
                                      " (activation=none expects probabilities; use activation=softmax "
                                      "or sigmoid for logits)");
    return lk_fail(LK_EVALUE, "input '%s'%s = %g: logits must be finite", input_name,
                   lk_format_index(&call->inputs[0], error->index, where, sizeof where),
                   lk_read_real(&call->inputs[0], error->index));
}

static int64_t chunk_total(const lk_probability_maps *maps)
{
    return maps->images * lk_chunk_count(maps->spatial);
}

lk_status lk_probability_maps_prepare(lk_probability_maps *maps, const lk_call *call, int activation)
{
    memset(maps, 0, sizeof *maps);
    maps->call = call;
    maps->activation = activation;
    maps->images = call->batch;
    maps->classes = call->classes;
    maps->spatial = call->spatial;
    const lk_tensor *input = &call->inputs[0];
    maps->volume = input->ndim == 5;
    maps->depth = maps->volume ? input->shape[2] : 1;
    maps->height = input->shape[input->ndim - 2];
    maps->width = input->shape[input->ndim - 1];
    maps->label_rule.classes = call->classes == 1 ? 2 : call->classes;
    int64_t chunks = chunk_total(maps);
    size_t elements = (size_t)lk_numel(&call->inputs[0]);
    size_t element_size = lk_dtype_size(call->inputs[0].dtype);
    void *grad = lk_grad_data(call, 0);
    maps->label = malloc((size_t)(maps->images * maps->spatial) * sizeof(int32_t) + 1);
    maps->errors = malloc((size_t)chunks * sizeof *maps->errors + 1);
    if (activation == LK_MAPS_NONE) {
        maps->prob = call->inputs[0].data;
        maps->upstream = grad; /* d loss / d p is the gradient */
    } else {
        maps->activated = grad ? grad : (maps->prob_scratch = malloc(elements * element_size));
        maps->prob = maps->activated;
        if (grad) maps->upstream = maps->upstream_scratch = malloc(elements * element_size);
    }
    if (!maps->label || !maps->errors || !maps->prob || (grad && !maps->upstream)) {
        lk_probability_maps_free(maps);
        return lk_fail(LK_ENOMEM, "out of memory for the class maps of loss '%s'", call->desc->name);
    }
    for (int64_t chunk = 0; chunk < chunks; chunk++) maps->errors[chunk].index = -1;
    lk_parallel_for_items(call->ctx, chunks, (int64_t)elements,
                          call->inputs[0].dtype == LK_F32 ? prepare_chunk_f32 : prepare_chunk_f64, maps);
    const lk_chunk_error *error = lk_first_chunk_error(maps->errors, chunks);
    if (!error) return LK_OK;
    lk_status status = report_error(maps, error);
    lk_probability_maps_free(maps);
    return status;
}

void lk_probability_maps_backward(lk_probability_maps *maps)
{
    if (maps->activation == LK_MAPS_NONE || !maps->upstream) return;
    const lk_call *call = maps->call;
    lk_parallel_for_items(call->ctx, chunk_total(maps), lk_numel(&call->inputs[0]),
                          call->inputs[0].dtype == LK_F32 ? backward_chunk_f32 : backward_chunk_f64, maps);
}

#endif
