/*
 * The region driver's passes over the pixels (see region.h), and the
 * settings it reads from a loss's parameters.
 *
 * Two passes, each reading the input once. The stats pass applies the
 * activation to a block of pixels and adds the block's sums into its chunk's
 * partial sums; when a gradient is wanted it also leaves p in the gradient
 * buffer. The backward pass turns d loss / d sums into d loss / d p (one
 * formula for every loss, below) and applies the activation's backward pass,
 * reading p back from the gradient buffer instead of computing the softmax
 * again. Chunks never span images, so an image's sums do not depend on the
 * rest of the batch: that is what makes the stats of a split batch combine
 * exactly. Within a chunk the sums run in LK_LANES double accumulators in a
 * fixed order; an image's chunks are added in order.
 *
 * d loss / d p of class c at pixel j, from the image's ds = d loss / d sums:
 *
 *   u_c = ds_PG g_c + ds_P + 2 ds_PP p_c + 2 ds_EEG (p_c - g_c) g_c
 *         + 2 ds_EE (p_c - g_c) + sum_l g_l ds_conf[l][c]
 *
 * (the sums of g and the pixel count do not depend on p). It is evaluated as
 *
 *   u_c = a g + b (1 - g) + 2 ds_PP p + (e g + f (1 - g)) (p - g) + ...
 *   a = ds_PG + ds_P, b = ds_P, e = 2 (ds_EEG + ds_EE), f = 2 ds_EE
 *
 * with a, e formed in double: ds_PG and ds_P can be large and opposite (MCC,
 * where I and P move together on the target), and their sum must not lose
 * its digits in float32.
 */
#ifndef LK_REAL
#include "core/region_driver.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/chunks.h"
#include "core/context.h"
#include "core/error.h"
#include "core/hot.h"
#include "core/lanes.h"
#include "core/scratch.h"
#include "core/tensor.h"
#include "core/vecmath.h"

#define REGION_BLOCK 64
#define REGION_BLOCK_ELEMS 4096 /* classes x block, per class-major buffer */

enum { ERROR_IN_INPUT = 0, ERROR_IN_LABELS = 1, ERROR_IN_TARGET = 2 };

/* ------------------------------------------------------------ settings */

static int param_position(const lk_params *params, const char *name)
{
    return lk_param_index(lk_params_desc(params), name);
}

static int activation_from(const lk_params *params)
{
    int index = param_position(params, "activation");
    if (index < 0 || lk_param_choice_is(params, (size_t)index, "softmax")) return LK_REGION_SOFTMAX;
    return lk_param_choice_is(params, (size_t)index, "sigmoid") ? LK_REGION_SIGMOID
                                                                 : LK_REGION_PROBABILITIES;
}

lk_region_settings lk_region_settings_from(const lk_params *params, int64_t classes)
{
    lk_region_settings settings;
    memset(&settings, 0, sizeof settings);
    int index;
    settings.activation = activation_from(params);
    index = param_position(params, "include_background");
    /* As MONAI: with a single channel include_background=false is ignored. */
    settings.first_class = classes > 1 && index >= 0 && !lk_param_bool(params, (size_t)index);
    index = param_position(params, "batch");
    settings.batch = index >= 0 && lk_param_bool(params, (size_t)index);
    index = param_position(params, "reduction");
    settings.reduction = index >= 0 ? lk_param_choice(params, (size_t)index) : LK_REDUCTION_MEAN;
    index = param_position(params, "absent_classes");
    settings.absent = index >= 0 ? lk_param_choice(params, (size_t)index) : LK_ABSENT_KEEP;
    index = param_position(params, "weight");
    if (index >= 0) settings.weight = lk_param_list(params, (size_t)index, &settings.weight_count);
    index = param_position(params, "ignore_index");
    /* One channel: labels are a 0/1 mask, and the channel predicts label 1. */
    settings.label_rule.classes = classes == 1 ? 2 : classes;
    settings.label_rule.has_ignore = index >= 0;
    settings.label_rule.ignore_index = index >= 0 ? lk_param_int(params, (size_t)index) : 0;
    settings.foreground = classes == 1 ? 1 : 0;
    return settings;
}

/* ------------------------------------------------------------ a run */

typedef struct region_run {
    const lk_tensor *input;
    const lk_tensor *labels; /* or NULL */
    const lk_tensor *target; /* dense targets, or NULL */
    lk_region_settings settings;
    unsigned sums;
    int confusion;
    int64_t images, classes, spatial, row, chunks_per_image;
    int block;
    char *scratch; /* one area per worker */
    size_t scratch_size;
    double *partials;     /* stats pass: [chunk][C][K] */
    const double *dstats; /* backward pass: [image][C][K] */
    void *grad;           /* the gradient; holds p between the passes */
    int prob_in_grad;     /* stats pass: store p there; backward pass: read it */
    lk_chunk_error *errors;
} region_run;

static int block_length(int64_t classes)
{
    int64_t length = REGION_BLOCK_ELEMS / classes;
    if (length >= REGION_BLOCK) return REGION_BLOCK;
    if (length >= LK_LANES) return (int)(length & ~(int64_t)(LK_LANES - 1));
    return length >= 1 ? (int)length : 1;
}

static void record_error(region_run *run, int64_t chunk, int which, int64_t index)
{
    run->errors[chunk].index = index;
    run->errors[chunk].input = which;
}

#define LK_TYPED_FILE "core/region.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

typedef struct LK_T(region_buffers) {
    lk_real *prob;     /* [C][L] p after the activation */
    lk_real *target;   /* [C][L] g */
    lk_real *upstream; /* [C][L] d loss / d p */
    lk_real *scratch;  /* [L] */
    lk_real *max, *sum; /* [L] */
    int32_t *label;    /* [L] */
    uint8_t *valid;    /* [L] 0 for ignored pixels */
    double *lanes;     /* [C][LK_STATS][LK_LANES] */
} LK_T(region_buffers);

/* Lays the buffers out from base (base NULL: only computes the size). */
static size_t LK_T(region_layout)(char *base, int64_t classes, int block, LK_T(region_buffers) *out)
{
    lk_scratch s = {base, 0};
    size_t wide = (size_t)classes * (size_t)block * sizeof(lk_real), narrow = (size_t)block * sizeof(lk_real);
    out->prob = lk_scratch_take(&s, wide);
    out->target = lk_scratch_take(&s, wide);
    out->upstream = lk_scratch_take(&s, wide);
    out->scratch = lk_scratch_take(&s, narrow);
    out->max = lk_scratch_take(&s, narrow);
    out->sum = lk_scratch_take(&s, narrow);
    out->label = lk_scratch_take(&s, (size_t)block * sizeof(int32_t));
    out->valid = lk_scratch_take(&s, (size_t)block);
    out->lanes = lk_scratch_take(&s, (size_t)classes * LK_STATS * LK_LANES * sizeof(double));
    return lk_scratch_size(&s);
}

#include "core/class_activation.h"
#include "core/unit_interval.h"

/* Copies `classes` rows of len values between buffers with row strides. */
static inline void LK_T(copy_rows)(lk_real *to, int64_t to_row, const lk_real *from,
                                   int64_t from_row, int classes, int len)
{
    for (int c = 0; c < classes; c++)
        memcpy(to + c * to_row, from + c * from_row, (size_t)len * sizeof(lk_real));
}

/* g and the valid flags of the block [first, first + len) of image n.
 * Returns 0, or records the chunk's first invalid label or target and
 * returns -1. */
static inline int LK_T(load_targets)(region_run *run, int64_t chunk, int64_t n, int64_t first, int len,
                              LK_T(region_buffers) *b)
{
    int classes = (int)run->classes, stride = run->block;
    if (run->labels) {
        int64_t pixel = n * run->spatial + first;
        int bad = lk_load_labels(run->labels, pixel, len, &run->settings.label_rule, b->label,
                                 b->valid);
        if (bad >= 0) {
            record_error(run, chunk, ERROR_IN_LABELS, pixel + bad);
            return -1;
        }
        const int32_t *restrict label = b->label;
        const uint8_t *restrict valid = b->valid;
        for (int c = 0; c < classes; c++) {
            lk_real *restrict gc = b->target + c * stride;
            int32_t wanted = c + run->settings.foreground;
            for (int j = 0; j < len; j++) gc[j] = (label[j] == wanted) & (valid[j] != 0) ? 1 : 0;
        }
        return 0;
    }
    int64_t offset = n * run->classes * run->spatial + first;
    const lk_real *t = (const lk_real *)run->target->data + offset;
    int64_t bad = LK_T(lk_first_outside_unit)(t, classes, run->spatial, len);
    if (bad >= 0) {
        record_error(run, chunk, ERROR_IN_TARGET, offset + bad);
        return -1;
    }
    LK_T(copy_rows)(b->target, stride, t, run->spatial, classes, len);
    memset(b->valid, 1, (size_t)len);
    return 0;
}

/* p of the block, from the activation or (with `stored`) from the gradient
 * buffer. Returns 0, or records an invalid probability and returns -1. */
static inline int LK_T(load_probabilities)(region_run *run, int64_t chunk, int64_t n, int64_t first,
                                    int len, int stored, LK_T(region_buffers) *b)
{
    int classes = (int)run->classes, stride = run->block;
    int64_t row = run->spatial, offset = n * run->classes * run->spatial + first;
    const lk_real *x = (const lk_real *)run->input->data + offset;
    if (stored) {
        LK_T(copy_rows)(b->prob, stride, (const lk_real *)run->grad + offset, row, classes, len);
    } else if (run->settings.activation == LK_REGION_SOFTMAX) {
        LK_T(lk_block_softmax)(x, row, classes, len, b->prob, stride, b->max, b->sum);
    } else if (run->settings.activation == LK_REGION_SIGMOID) {
        LK_T(lk_block_sigmoid)(x, row, classes, len, b->prob, stride);
    } else {
        int64_t bad = LK_T(lk_first_outside_unit)(x, classes, row, len);
        if (bad >= 0) {
            record_error(run, chunk, ERROR_IN_INPUT, offset + bad);
            return -1;
        }
        LK_T(copy_rows)(b->prob, stride, x, row, classes, len);
    }
    return 0;
}

/* Adds the block's sums of one class (the sums in use) into its lanes.
 * Ignored pixels add nothing, whatever their p (it may not even be finite). */
static inline void LK_T(accumulate_class)(const lk_real *restrict p, const lk_real *restrict g,
                                          const uint8_t *restrict valid, int len, unsigned sums,
                                          double *restrict lanes, lk_real *restrict scratch)
{
    if (sums & LK_STAT_BIT(LK_STAT_PG)) {
        for (int j = 0; j < len; j++) scratch[j] = valid[j] ? p[j] * g[j] : 0;
        lk_lanes_add(lanes + LK_STAT_PG * LK_LANES, scratch, len);
    }
    if (sums & LK_STAT_BIT(LK_STAT_P)) {
        for (int j = 0; j < len; j++) scratch[j] = valid[j] ? p[j] : 0;
        lk_lanes_add(lanes + LK_STAT_P * LK_LANES, scratch, len);
    }
    if (sums & LK_STAT_BIT(LK_STAT_G)) lk_lanes_add(lanes + LK_STAT_G * LK_LANES, g, len);
    if (sums & LK_STAT_BIT(LK_STAT_PP)) {
        for (int j = 0; j < len; j++) scratch[j] = valid[j] ? p[j] * p[j] : 0;
        lk_lanes_add(lanes + LK_STAT_PP * LK_LANES, scratch, len);
    }
    if (sums & LK_STAT_BIT(LK_STAT_GG)) {
        for (int j = 0; j < len; j++) scratch[j] = g[j] * g[j];
        lk_lanes_add(lanes + LK_STAT_GG * LK_LANES, scratch, len);
    }
    if (sums & LK_STAT_BIT(LK_STAT_EEG)) {
        for (int j = 0; j < len; j++) {
            lk_real error = p[j] - g[j];
            scratch[j] = valid[j] ? error * error * g[j] : 0;
        }
        lk_lanes_add(lanes + LK_STAT_EEG * LK_LANES, scratch, len);
    }
    if (sums & LK_STAT_BIT(LK_STAT_EE)) {
        for (int j = 0; j < len; j++) {
            lk_real error = p[j] - g[j];
            scratch[j] = valid[j] ? error * error : 0;
        }
        lk_lanes_add(lanes + LK_STAT_EE * LK_LANES, scratch, len);
    }
    if (sums & LK_STAT_BIT(LK_STAT_N)) {
        for (int j = 0; j < len; j++) scratch[j] = valid[j];
        lk_lanes_add(lanes + LK_STAT_N * LK_LANES, scratch, len);
    }
}

/* partial[l][LK_STATS + c] += the block's sum of g_l p_c, for every l, c. */
static void LK_T(accumulate_confusion)(const LK_T(region_buffers) *b, int classes, int stride,
                                       int len, int64_t row, double *partial)
{
    for (int l = 0; l < classes; l++) {
        const lk_real *restrict g = b->target + l * stride;
        for (int c = 0; c < classes; c++) {
            const lk_real *restrict p = b->prob + c * stride;
            double lanes[LK_LANES] = {0};
            for (int j = 0; j < len; j++) b->scratch[j] = b->valid[j] ? g[j] * p[j] : 0;
            lk_lanes_add(lanes, b->scratch, len);
            partial[l * row + LK_STATS + c] += lk_lanes_total(lanes);
        }
    }
}

LK_HOT static void LK_T(stats_chunk)(void *arg, int64_t chunk, int worker)
{
    region_run *run = arg;
    LK_T(region_buffers) b;
    LK_T(region_layout)(run->scratch + (size_t)worker * run->scratch_size, run->classes, run->block, &b);
    int classes = (int)run->classes, stride = run->block;
    int64_t begin, end, n = lk_image_chunk_span(chunk, run->spatial, &begin, &end);
    double *partial = run->partials + chunk * run->classes * run->row;
    memset(b.lanes, 0, (size_t)classes * LK_STATS * LK_LANES * sizeof(double));
    for (int64_t first = begin; first < end; first += stride) {
        int len = (int)(end - first < stride ? end - first : stride);
        if (LK_T(load_targets)(run, chunk, n, first, len, &b) != 0 ||
            LK_T(load_probabilities)(run, chunk, n, first, len, 0, &b) != 0)
            return;
        for (int c = 0; c < classes; c++)
            LK_T(accumulate_class)(b.prob + c * stride, b.target + c * stride, b.valid, len,
                                   run->sums, b.lanes + (int64_t)c * LK_STATS * LK_LANES, b.scratch);
        if (run->confusion) LK_T(accumulate_confusion)(&b, classes, stride, len, run->row, partial);
        if (run->prob_in_grad) {
            int64_t offset = n * run->classes * run->spatial + first;
            LK_T(copy_rows)((lk_real *)run->grad + offset, run->spatial, b.prob, stride, classes, len);
        }
    }
    for (int64_t c = 0; c < run->classes; c++) {
        for (int k = 0; k < LK_STATS; k++)
            partial[c * run->row + k] = lk_lanes_total(b.lanes + (c * LK_STATS + k) * LK_LANES);
    }
}

/* u (d loss / d p) of class c from the image's d loss / d sums. */
static inline void LK_T(upstream_class)(const lk_real *restrict p, const lk_real *restrict g,
                                        const uint8_t *restrict valid, int len,
                                        const double *restrict ds, lk_real *restrict u)
{
    const lk_real on_target = (lk_real)(ds[LK_STAT_PG] + ds[LK_STAT_P]);
    const lk_real off_target = (lk_real)ds[LK_STAT_P];
    const lk_real per_p = (lk_real)(2 * ds[LK_STAT_PP]);
    const lk_real error_on = (lk_real)(2 * (ds[LK_STAT_EEG] + ds[LK_STAT_EE]));
    const lk_real error_off = (lk_real)(2 * ds[LK_STAT_EE]);
    for (int j = 0; j < len; j++) {
        lk_real miss = 1 - g[j];
        lk_real value = on_target * g[j] + off_target * miss + per_p * p[j] +
                        (error_on * g[j] + error_off * miss) * (p[j] - g[j]);
        u[j] = valid[j] ? value : 0;
    }
}

/* u_c += sum_l g_l ds[l][LK_STATS + c]: the confusion block's part. */
static void LK_T(upstream_confusion)(const LK_T(region_buffers) *b, int classes, int stride,
                                     int len, int64_t row, const double *ds)
{
    for (int c = 0; c < classes; c++) {
        lk_real *restrict u = b->upstream + c * stride;
        for (int l = 0; l < classes; l++) {
            const lk_real *restrict g = b->target + l * stride;
            const lk_real factor = (lk_real)ds[l * row + LK_STATS + c];
            for (int j = 0; j < len; j++) u[j] += b->valid[j] ? factor * g[j] : 0;
        }
    }
}

/* The activation's backward pass, written into the gradient rows. */
static inline void LK_T(activation_backward)(const LK_T(region_buffers) *b, int activation,
                                             int classes, int stride, int len,
                                             lk_real *restrict out, int64_t row)
{
    const uint8_t *restrict valid = b->valid;
    if (activation == LK_REGION_SOFTMAX) {
        lk_real *restrict dot = b->sum;
        for (int j = 0; j < len; j++) dot[j] = 0;
        for (int c = 0; c < classes; c++) {
            const lk_real *restrict p = b->prob + c * stride, *restrict u = b->upstream + c * stride;
            for (int j = 0; j < len; j++) dot[j] += p[j] * u[j];
        }
        for (int c = 0; c < classes; c++) {
            const lk_real *restrict p = b->prob + c * stride, *restrict u = b->upstream + c * stride;
            lk_real *restrict grad = out + c * row;
            for (int j = 0; j < len; j++) grad[j] = valid[j] ? p[j] * (u[j] - dot[j]) : 0;
        }
    } else if (activation == LK_REGION_SIGMOID) {
        for (int c = 0; c < classes; c++) {
            const lk_real *restrict p = b->prob + c * stride, *restrict u = b->upstream + c * stride;
            lk_real *restrict grad = out + c * row;
            for (int j = 0; j < len; j++) grad[j] = valid[j] ? u[j] * p[j] * (1 - p[j]) : 0;
        }
    } else {
        LK_T(copy_rows)(out, row, b->upstream, stride, classes, len);
    }
}

LK_HOT static void LK_T(backward_chunk)(void *arg, int64_t chunk, int worker)
{
    region_run *run = arg;
    LK_T(region_buffers) b;
    LK_T(region_layout)(run->scratch + (size_t)worker * run->scratch_size, run->classes, run->block, &b);
    int classes = (int)run->classes, stride = run->block;
    int64_t begin, end, n = lk_image_chunk_span(chunk, run->spatial, &begin, &end);
    const double *ds = run->dstats + n * run->classes * run->row;
    for (int64_t first = begin; first < end; first += stride) {
        int len = (int)(end - first < stride ? end - first : stride);
        if (LK_T(load_targets)(run, chunk, n, first, len, &b) != 0 ||
            LK_T(load_probabilities)(run, chunk, n, first, len, run->prob_in_grad, &b) != 0)
            return;
        for (int c = 0; c < classes; c++)
            LK_T(upstream_class)(b.prob + c * stride, b.target + c * stride, b.valid, len,
                                 ds + c * run->row, b.upstream + c * stride);
        if (run->confusion) LK_T(upstream_confusion)(&b, classes, stride, len, run->row, ds);
        lk_real *grad = (lk_real *)run->grad + n * run->classes * run->spatial + first;
        LK_T(activation_backward)(&b, run->settings.activation, classes, stride, len, grad, run->spatial);
    }
}

#endif /* typed section */

#ifndef LK_REAL

/* ------------------------------------------------------------ the passes */

static lk_status report_error(const region_run *run, const lk_chunk_error *error,
                              const lk_loss_desc *desc)
{
    switch (error->input) {
    case ERROR_IN_LABELS:
        return lk_label_error(run->labels, desc->inputs[1].name, &run->settings.label_rule,
                              error->index);
    case ERROR_IN_TARGET:
        return lk_unit_interval_error(run->target, desc->inputs[1].name, error->index,
                                      "a target", "");
    default:
        return lk_unit_interval_error(run->input, desc->inputs[0].name, error->index,
                                      "a probability",
                                      " (activation=none expects probabilities; use the softmax "
                                      "or sigmoid activation for logits)");
    }
}

/* Sets up a run over the call's inputs, with its scratch and error slots. */
static lk_status start_run(const lk_call *call, region_run *run)
{
    const lk_tensor *target = &call->inputs[1];
    memset(run, 0, sizeof *run);
    run->input = &call->inputs[0];
    run->labels = lk_dtype_is_label(target->dtype) ? target : NULL;
    run->target = run->labels ? NULL : target;
    run->settings = lk_region_settings_from(call->params, call->classes);
    const lk_region_ops *ops = call->desc->region;
    run->sums = ops->sums ? ops->sums(call->params) : ops->fixed_sums;
    if (run->settings.absent != LK_ABSENT_KEEP) run->sums |= LK_STAT_BIT(LK_STAT_G);
    run->confusion = ops->confusion;
    run->images = call->batch;
    run->classes = call->classes;
    run->spatial = call->spatial;
    run->row = lk_region_row_length(call->desc, call->classes);
    run->chunks_per_image = lk_chunk_count(call->spatial);
    run->block = block_length(call->classes);
    run->grad = call->grads[0].data;
    int f32 = call->inputs[0].dtype == LK_F32;
    run->scratch_size = f32 ? region_layout_f32(NULL, run->classes, run->block, &(region_buffers_f32){0})
                            : region_layout_f64(NULL, run->classes, run->block, &(region_buffers_f64){0});
    int64_t chunks = run->images * run->chunks_per_image;
    run->scratch = aligned_alloc(LK_SCRATCH_ALIGN, run->scratch_size * (size_t)lk_context_threads(call->ctx));
    run->errors = malloc((size_t)chunks * sizeof *run->errors);
    if (!run->scratch || !run->errors) return lk_fail(LK_ENOMEM, "out of memory for the region driver");
    for (int64_t chunk = 0; chunk < chunks; chunk++) run->errors[chunk].index = -1;
    return LK_OK;
}

static void end_run(region_run *run)
{
    free(run->scratch);
    free(run->errors);
    free(run->partials);
}

/* Runs a pass over every chunk and reports the first invalid input value. */
static lk_status run_pass(const lk_call *call, region_run *run, lk_task_fn f32, lk_task_fn f64)
{
    int64_t chunks = run->images * run->chunks_per_image;
    lk_task_fn fn = call->inputs[0].dtype == LK_F32 ? f32 : f64;
    lk_parallel_for_items(call->ctx, chunks, lk_numel(run->input), fn, run);
    const lk_chunk_error *error = lk_first_chunk_error(run->errors, chunks);
    return error ? report_error(run, error, call->desc) : LK_OK;
}

lk_status lk_region_stats_pass(const lk_call *call, double *stats, int store_prob)
{
    region_run run;
    lk_status status = start_run(call, &run);
    int64_t block = run.classes * run.row;
    run.prob_in_grad = store_prob && run.grad && run.settings.activation != LK_REGION_PROBABILITIES;
    if (status == LK_OK) {
        run.partials = calloc((size_t)(run.images * run.chunks_per_image * block), sizeof(double));
        if (!run.partials) status = lk_fail(LK_ENOMEM, "out of memory for the region sums");
    }
    if (status == LK_OK) status = run_pass(call, &run, stats_chunk_f32, stats_chunk_f64);
    if (status == LK_OK) {
        memset(stats, 0, (size_t)(run.images * block) * sizeof(double));
        for (int64_t n = 0; n < run.images; n++)
            for (int64_t chunk = 0; chunk < run.chunks_per_image; chunk++) {
                const double *partial = run.partials + (n * run.chunks_per_image + chunk) * block;
                for (int64_t k = 0; k < block; k++) stats[n * block + k] += partial[k];
            }
    }
    end_run(&run);
    return status;
}

lk_status lk_region_backward_pass(const lk_call *call, const double *dstats, int prob_stored)
{
    region_run run;
    lk_status status = start_run(call, &run);
    run.dstats = dstats;
    run.prob_in_grad = prob_stored && run.settings.activation != LK_REGION_PROBABILITIES;
    if (status == LK_OK) status = run_pass(call, &run, backward_chunk_f32, backward_chunk_f64);
    end_run(&run);
    return status;
}

#endif
