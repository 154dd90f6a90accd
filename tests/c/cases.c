#include "cases.h"

#include <stdlib.h>
#include <string.h>

int64_t lk_tensor_numel(const lk_tensor *t)
{
    int64_t count = 1;
    for (int axis = 0; axis < t->ndim; axis++) count *= t->shape[axis];
    return count;
}

size_t lk_tensor_bytes(const lk_tensor *t)
{
    return (size_t)lk_tensor_numel(t) * lk_dtype_size(t->dtype);
}

int lk_tensor_same_bits(const lk_tensor *a, const lk_tensor *b)
{
    return memcmp(a->data, b->data, lk_tensor_bytes(a)) == 0;
}

double lk_tensor_get(const lk_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case LK_F32: return ((const float *)t->data)[i];
    case LK_F64: return ((const double *)t->data)[i];
    case LK_U8: return ((const unsigned char *)t->data)[i];
    case LK_I32: return ((const int *)t->data)[i];
    case LK_I64: return (double)((const long long *)t->data)[i];
    }
    return NAN;
}

void lk_tensor_set(lk_tensor *t, int64_t i, double value)
{
    switch (t->dtype) {
    case LK_F32: ((float *)t->data)[i] = (float)value; break;
    case LK_F64: ((double *)t->data)[i] = value; break;
    case LK_U8: ((unsigned char *)t->data)[i] = (unsigned char)value; break;
    case LK_I32: ((int *)t->data)[i] = (int)value; break;
    case LK_I64: ((long long *)t->data)[i] = (long long)value; break;
    }
}

static void allocate(lk_tensor *t)
{
    size_t bytes = lk_tensor_bytes(t);
    t->data = malloc(bytes ? bytes : 1);
    for (int64_t i = 0; lk_dtype_size(t->dtype) >= 4 && i < lk_tensor_numel(t); i++)
        lk_tensor_set(t, i, t->dtype == LK_F32 || t->dtype == LK_F64 ? NAN : 0);
}

int lk_case_int_param(const lk_case *c, const char *name, long long *value)
{
    char text[64];
    if (lk_params_get(c->params, name, text, sizeof text) < 0) return 0;
    *value = strtoll(text, NULL, 10);
    return 1;
}

static int param_is(const lk_case *c, const char *name, const char *word)
{
    char text[64];
    return lk_params_get(c->params, name, text, sizeof text) >= 0 && strcmp(text, word) == 0;
}

int64_t lk_case_classes(const lk_case *c)
{
    int axis = lk_loss_input(c->desc, 0)->shape == LK_SHAPE_SEQUENCE_SCORES ? 2 : 1;
    return c->inputs[0].ndim > axis ? c->inputs[0].shape[axis] : 1;
}

int lk_case_takes_probabilities(const lk_case *c)
{
    return param_is(c, "activation", "none");
}

static int softmax_family(const lk_loss_desc *desc)
{
    for (size_t i = 0; i < lk_loss_param_count(desc); i++) {
        const lk_param_info *param = lk_loss_param(desc, i);
        if (strcmp(param->name, "activation") == 0) return strstr(param->choices, "softmax") != NULL;
    }
    return 0;
}

/* log_softmax over the last axis of random (or, extreme, some very large) logits */
static void fill_log_probs(lk_tensor *t, const lk_case_options *options, lk_rng *rng)
{
    int64_t classes = t->shape[t->ndim - 1], rows = lk_tensor_numel(t) / classes;
    for (int64_t row = 0; row < rows; row++) {
        double largest = -INFINITY, total = 0;
        for (int64_t k = 0; k < classes; k++) {
            double value = lk_rng_uniform(rng) * 6 - 3;
            if (options->extreme && lk_rng_uniform(rng) < 0.2) value = (lk_rng_uniform(rng) < 0.5 ? -1 : 1) * 80;
            lk_tensor_set(t, row * classes + k, value);
            largest = fmax(largest, value);
        }
        for (int64_t k = 0; k < classes; k++) total += exp(lk_tensor_get(t, row * classes + k) - largest);
        for (int64_t k = 0; k < classes; k++)
            lk_tensor_set(t, row * classes + k, lk_tensor_get(t, row * classes + k) - largest - log(total));
    }
}

static void fill_scores(lk_case *c, const lk_case_options *options, lk_rng *rng)
{
    lk_tensor *t = &c->inputs[0];
    int64_t count = lk_tensor_numel(t);
    /* Embeddings multiply each other: entries of 8 make logits of 1e3 to 1e4
     * (a saturated softmax) where 80 would leave finite differences to the
     * curvature of the products. */
    lk_shape_rule rule = lk_loss_input(c->desc, 0)->shape;
    double extreme = rule == LK_SHAPE_EMBEDDINGS || rule == LK_SHAPE_VIEWS ? 8 : 80;
    if (lk_loss_input(c->desc, 0)->domain == LK_DOMAIN_LOG_PROBS) {
        fill_log_probs(t, options, rng);
        return;
    }
    if (!lk_case_takes_probabilities(c)) {
        for (int64_t i = 0; i < count; i++) {
            double value = lk_rng_uniform(rng) * 6 - 3;
            if (options->extreme && lk_rng_uniform(rng) < 0.2)
                value = (lk_rng_uniform(rng) < 0.5 ? -1 : 1) * (extreme + lk_rng_uniform(rng));
            lk_tensor_set(t, i, value);
        }
        return;
    }
    if (!softmax_family(c->desc) || t->ndim < 2) {
        for (int64_t i = 0; i < count; i++) lk_tensor_set(t, i, 0.05 + 0.9 * lk_rng_uniform(rng));
        return;
    }
    /* a distribution over the classes at each pixel */
    int64_t classes = t->shape[1], spatial = count / (t->shape[0] * classes);
    for (int64_t n = 0; n < t->shape[0]; n++) {
        for (int64_t s = 0; s < spatial; s++) {
            double total = 0;
            for (int64_t k = 0; k < classes; k++) {
                double value = exp(lk_rng_uniform(rng) * 4 - 2);
                lk_tensor_set(t, (n * classes + k) * spatial + s, value);
                total += value;
            }
            for (int64_t k = 0; k < classes; k++) {
                int64_t i = (n * classes + k) * spatial + s;
                lk_tensor_set(t, i, lk_tensor_get(t, i) / total);
            }
        }
    }
}

static int representable(lk_dtype dtype, long long value)
{
    switch (dtype) {
    case LK_U8: return value >= 0 && value <= 255;
    case LK_I32: return value >= -2147483647LL - 1 && value <= 2147483647LL;
    default: return 1;
    }
}

static void fill_labels(lk_case *c, lk_tensor *t, const lk_case_options *options, lk_rng *rng)
{
    int64_t classes = c->inputs[0].shape[1];
    long long ignore = 0;
    int can_ignore = lk_case_int_param(c, "ignore_index", &ignore) && representable(t->dtype, ignore);
    for (int64_t i = 0; i < lk_tensor_numel(t); i++) {
        long long label = options->single_class ? 0 : lk_rng_below(rng, classes);
        if (can_ignore && (options->all_ignored || lk_rng_uniform(rng) < 0.2)) label = ignore;
        lk_tensor_set(t, i, (double)label);
    }
}

static void fill_class_distributions(lk_tensor *t, lk_rng *rng)
{
    int64_t classes = t->shape[1], spatial = lk_tensor_numel(t) / (t->shape[0] * classes);
    for (int64_t n = 0; n < t->shape[0]; n++) {
        for (int64_t s = 0; s < spatial; s++) {
            double total = 0;
            for (int64_t k = 0; k < classes; k++) {
                double value = lk_rng_uniform(rng) < 0.3 ? 0 : lk_rng_uniform(rng);
                lk_tensor_set(t, (n * classes + k) * spatial + s, value);
                total += value;
            }
            for (int64_t k = 0; k < classes; k++) {
                int64_t i = (n * classes + k) * spatial + s;
                lk_tensor_set(t, i, total > 0 ? lk_tensor_get(t, i) / total : k == 0);
            }
        }
    }
}

/* ------------------------------------------------------------ label sequences (CTC) */

/* The slot of the first input of the loss with this value domain, or -1. */
static int slot_of_domain(const lk_loss_desc *desc, lk_value_domain domain)
{
    for (size_t i = 0; i < lk_loss_input_count(desc); i++)
        if (lk_loss_input(desc, i)->domain == domain) return (int)i;
    return -1;
}

static lk_dtype length_dtype(const lk_input_info *info, lk_dtype preferred)
{
    return info->dtypes & LK_DTYPE_BIT(preferred) ? preferred : LK_I64;
}

/* Inputs of a loss over label sequences (input 0: (T, N, C) log-probs): input
 * lengths in [1, T], target lengths at most half of them (so that an alignment
 * always exists), labels in [0, C) other than blank. Targets are concatenated
 * for int64 and padded (N, S) otherwise, their padding holding values that
 * are not labels (they must not be read). Returns 0 if the dtypes do not fit. */
static int make_sequences(lk_case *c, const lk_case_options *options, lk_rng *rng)
{
    const lk_loss_desc *desc = c->desc;
    int targets_slot = slot_of_domain(desc, LK_DOMAIN_LABEL_SEQUENCES);
    int steps_slot = slot_of_domain(desc, LK_DOMAIN_INPUT_LENGTHS);
    int lengths_slot = slot_of_domain(desc, LK_DOMAIN_TARGET_LENGTHS);
    if (targets_slot < 0 || steps_slot < 0 || lengths_slot < 0) return 0;
    if (!(lk_loss_input(desc, (size_t)targets_slot)->dtypes & LK_DTYPE_BIT(options->target_dtype))) return 0;
    int64_t steps = c->inputs[0].shape[0], batch = c->inputs[0].shape[1], classes = c->inputs[0].shape[2];
    long long blank = 0;
    lk_case_int_param(c, "blank", &blank);
    if (classes < 2 || blank >= classes) return 0;
    int64_t padded_length = steps / 2 > 0 ? steps / 2 : 1;
    lk_tensor *input_lengths = &c->inputs[steps_slot], *target_lengths = &c->inputs[lengths_slot];
    lk_tensor *targets = &c->inputs[targets_slot];
    memset(input_lengths, 0, sizeof *input_lengths);
    input_lengths->dtype = length_dtype(lk_loss_input(desc, (size_t)steps_slot), options->target_dtype);
    input_lengths->ndim = 1;
    input_lengths->shape[0] = batch;
    *target_lengths = *input_lengths;
    target_lengths->dtype = length_dtype(lk_loss_input(desc, (size_t)lengths_slot), options->target_dtype);
    allocate(input_lengths);
    allocate(target_lengths);
    int64_t total = 0;
    for (int64_t n = 0; n < batch; n++) {
        int64_t length = 1 + (int64_t)lk_rng_below(rng, steps);
        int64_t labels = (int64_t)lk_rng_below(rng, (length / 2 < padded_length ? length / 2 : padded_length) + 1);
        lk_tensor_set(input_lengths, n, (double)length);
        lk_tensor_set(target_lengths, n, (double)labels);
        total += labels;
    }
    int concatenated = options->target_dtype == LK_I64 && total > 0;
    memset(targets, 0, sizeof *targets);
    targets->dtype = options->target_dtype;
    targets->ndim = concatenated ? 1 : 2;
    targets->shape[0] = concatenated ? total : batch;
    targets->shape[1] = padded_length;
    allocate(targets);
    int64_t at = 0;
    for (int64_t n = 0; n < batch; n++) {
        int64_t labels = (int64_t)lk_tensor_get(target_lengths, n);
        int64_t width = concatenated ? labels : padded_length;
        for (int64_t i = 0; i < width; i++) {
            long long label = (blank + 1 + (long long)lk_rng_below(rng, classes - 1)) % classes;
            if (i >= labels) label = options->target_dtype == LK_U8 ? 255 : -1; /* padding */
            lk_tensor_set(targets, at++, (double)label);
        }
    }
    return 1;
}

/* Embedding losses read (rows, D) or (B, V, D), not (N, C, *spatial): the
 * sweep's shape becomes rows = N C (at most 300) of D = the spatial size (C
 * without spatial axes; at most 64), in V = ndim - 1 views for the VIEWS
 * rule (B = N C, at most 150). */
static void embedding_shape(lk_shape_rule rule, const lk_case_options *options, lk_tensor *t)
{
    int64_t rows = options->shape[0] * options->shape[1], dim = options->ndim > 2 ? 1 : options->shape[1];
    for (int axis = 2; axis < options->ndim; axis++) dim *= options->shape[axis];
    dim = dim < 64 ? dim : 64;
    if (rule == LK_SHAPE_EMBEDDINGS) {
        t->ndim = 2;
        t->shape[0] = rows < 300 ? rows : 300;
        t->shape[1] = dim;
        return;
    }
    t->ndim = 3;
    t->shape[0] = rows < 150 ? rows : 150;
    t->shape[1] = options->ndim - 1;
    t->shape[2] = dim;
}

/* Keys of the rows of input 0: (M, D), or (N, 3, D) with negative_mode=paired. */
static void keys_shape(const lk_case *c, lk_tensor *t)
{
    const lk_tensor *x = &c->inputs[0];
    int64_t dim = x->shape[x->ndim - 1];
    if (param_is(c, "negative_mode", "paired")) {
        t->ndim = 3;
        t->shape[0] = x->shape[0];
        t->shape[1] = 3;
        t->shape[2] = dim;
    } else {
        t->ndim = 2;
        t->shape[0] = x->shape[0] / 2 + 2;
        t->shape[1] = dim;
    }
}

/* Labels (N,) in [0, 3) (all 0: every pair positive), or a float (N, N)
 * mask of weights in [0, 1], a third of them 0 and a third 1. */
static void fill_row_target(lk_case *c, lk_tensor *t, const lk_case_options *options, lk_rng *rng)
{
    int64_t rows = c->inputs[0].shape[0];
    int is_float = t->dtype == LK_F32 || t->dtype == LK_F64;
    t->ndim = is_float ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = rows;
    allocate(t);
    for (int64_t i = 0; i < lk_tensor_numel(t); i++) {
        double u = lk_rng_uniform(rng), value = u < 1.0 / 3 ? 0 : u < 2.0 / 3 ? 1 : lk_rng_uniform(rng);
        if (!is_float) value = options->single_class ? 0 : (double)lk_rng_below(rng, 3);
        lk_tensor_set(t, i, value);
    }
}

/* ------------------------------------------------------------ network layers (InverseForm) */

/* The first dim of the nearest weight input before slot, or 0. */
static int64_t previous_layer_rows(const lk_case *c, size_t slot)
{
    while (slot-- > 0) {
        lk_shape_rule rule = lk_loss_input(c->desc, slot)->shape;
        if (rule == LK_SHAPE_TILE_PAIR_WEIGHT || rule == LK_SHAPE_LAYER_WEIGHT) return c->inputs[slot].shape[0];
    }
    return 0;
}

/* A small dense network in the prediction's dtype: the first layer reads
 * two 4 x 4 tiles (32 values) into 12 units, each later layer halves the
 * width (12, 6, 3), weights and biases uniform in [-1, 1]. */
static void make_layer(lk_case *c, size_t slot, const lk_case_options *options, lk_rng *rng)
{
    lk_shape_rule rule = lk_loss_input(c->desc, slot)->shape;
    lk_tensor *t = &c->inputs[slot];
    int64_t rows = previous_layer_rows(c, slot);
    memset(t, 0, sizeof *t);
    t->dtype = options->dtype;
    t->ndim = rule == LK_SHAPE_LAYER_BIAS ? 1 : 2;
    if (rule == LK_SHAPE_TILE_PAIR_WEIGHT) {
        t->shape[0] = 12;
        t->shape[1] = 2 * 4 * 4;
    } else if (rule == LK_SHAPE_LAYER_WEIGHT) {
        t->shape[0] = (rows + 1) / 2;
        t->shape[1] = rows;
    } else {
        t->shape[0] = rows;
    }
    allocate(t);
    for (int64_t i = 0; i < lk_tensor_numel(t); i++) lk_tensor_set(t, i, lk_rng_uniform(rng) * 2 - 1);
}

/* A classifier over the features (N, D, *spatial) of input 0: weight (K, D)
 * or bias (K,) with K = D, so that the labels the sweep draws in [0, D) are
 * its classes; entries in [-1, 1], in the prediction's dtype. */
static void make_classifier(const lk_case *c, lk_shape_rule rule, const lk_case_options *options,
                            lk_rng *rng, lk_tensor *t)
{
    int64_t dim = lk_case_classes(c);
    memset(t, 0, sizeof *t);
    t->dtype = options->dtype;
    t->ndim = rule == LK_SHAPE_CLASSIFIER_WEIGHT ? 2 : 1;
    t->shape[0] = dim;
    t->shape[1] = dim;
    allocate(t);
    for (int64_t i = 0; i < lk_tensor_numel(t); i++) lk_tensor_set(t, i, lk_rng_uniform(rng) * 2 - 1);
}

/* Shapes and fills input `slot` (> 0) of the case; 0 if the dtype does not fit. */
static int make_target(lk_case *c, size_t slot, const lk_case_options *options, lk_rng *rng)
{
    const lk_input_info *info = lk_loss_input(c->desc, slot);
    lk_tensor *t = &c->inputs[slot];
    if (info->shape == LK_SHAPE_LABEL_SEQUENCES || info->shape == LK_SHAPE_PER_ITEM)
        return t->data != NULL || make_sequences(c, options, rng); /* all at once, at the first */
    if (info->shape == LK_SHAPE_SCALAR) { /* a parameter-like input in the prediction's dtype */
        memset(t, 0, sizeof *t);
        t->dtype = options->dtype;
        allocate(t);
        lk_tensor_set(t, 0, lk_rng_uniform(rng) * 3 - 1);
        return 1;
    }
    if (info->shape == LK_SHAPE_TILE_PAIR_WEIGHT || info->shape == LK_SHAPE_LAYER_WEIGHT ||
        info->shape == LK_SHAPE_LAYER_BIAS) {
        make_layer(c, slot, options, rng);
        return 1;
    }
    if (info->shape == LK_SHAPE_CLASSIFIER_WEIGHT || info->shape == LK_SHAPE_CLASSIFIER_BIAS) {
        make_classifier(c, info->shape, options, rng, t);
        return 1;
    }
    lk_dtype dtype = options->target_dtype;
    int is_float = dtype == LK_F32 || dtype == LK_F64;
    if (!(info->dtypes & LK_DTYPE_BIT(dtype))) return 0;
    if (is_float && dtype != options->dtype) return 0;
    *t = c->inputs[0];
    t->dtype = dtype;
    if (info->shape == LK_SHAPE_ROW_TARGET) {
        fill_row_target(c, t, options, rng);
        return 1;
    }
    if (info->shape == LK_SHAPE_KEYS) keys_shape(c, t);
    if (info->shape == LK_SHAPE_CLASS_TARGET && !is_float) {
        t->ndim = c->inputs[0].ndim - 1;
        for (int axis = 1; axis < t->ndim; axis++) t->shape[axis] = c->inputs[0].shape[axis + 1];
    }
    allocate(t);
    if (info->domain == LK_DOMAIN_CLASS_TARGET || info->domain == LK_DOMAIN_CLASSIFIER_LABELS ||
        (info->domain == LK_DOMAIN_REAL && !is_float)) {
        if (is_float)
            fill_class_distributions(t, rng);
        else
            fill_labels(c, t, options, rng);
    } else if (info->domain == LK_DOMAIN_REAL) {
        for (int64_t i = 0; i < lk_tensor_numel(t); i++) lk_tensor_set(t, i, lk_rng_uniform(rng) * 4 - 2);
    } else if (info->domain == LK_DOMAIN_BINARY || !is_float) {
        for (int64_t i = 0; i < lk_tensor_numel(t); i++) lk_tensor_set(t, i, (double)lk_rng_below(rng, 2));
    } else {
        for (int64_t i = 0; i < lk_tensor_numel(t); i++) lk_tensor_set(t, i, lk_rng_uniform(rng));
    }
    return 1;
}

int lk_case_make(const lk_loss_desc *desc, const char *spec, const lk_case_options *options,
                 lk_case *out)
{
    memset(out, 0, sizeof *out);
    out->desc = desc;
    out->n_inputs = lk_loss_input_count(desc);
    if (lk_params_create(desc, &out->params) != LK_OK || lk_params_parse(out->params, spec) != LK_OK) {
        fprintf(stderr, "  cannot set up %s with '%s': %s\n", lk_loss_name(desc), spec, lk_last_error());
        lk_case_free(out);
        return 0;
    }
    lk_rng rng = {options->seed};
    lk_tensor *scores = &out->inputs[0];
    scores->dtype = options->dtype;
    scores->ndim = options->ndim;
    memcpy(scores->shape, options->shape, sizeof options->shape);
    lk_shape_rule rule = lk_loss_input(desc, 0)->shape;
    if (rule == LK_SHAPE_EMBEDDINGS || rule == LK_SHAPE_VIEWS) embedding_shape(rule, options, scores);
    allocate(scores);
    fill_scores(out, options, &rng);
    for (size_t slot = 1; slot < out->n_inputs; slot++) {
        if (!make_target(out, slot, options, &rng)) {
            lk_case_free(out);
            return 0;
        }
    }
    lk_status status = lk_loss_output_shape(desc, out->params, out->inputs, out->n_inputs, &out->loss);
    if (status != LK_OK) {
        /* a shape the loss does not take (say RMI's 2-D images) is skipped quietly */
        if (status != LK_ESHAPE) fprintf(stderr, "  output shape of %s: %s\n", lk_loss_name(desc), lk_last_error());
        lk_case_free(out);
        return 0;
    }
    allocate(&out->loss);
    for (size_t slot = 0; slot < out->n_inputs; slot++) {
        if (!lk_loss_input(desc, slot)->differentiable) continue;
        out->grads[slot] = out->inputs[slot];
        allocate(&out->grads[slot]);
    }
    return 1;
}

void lk_case_free(lk_case *c)
{
    for (size_t i = 0; i < 8; i++) {
        free(c->inputs[i].data);
        free(c->grads[i].data);
    }
    free(c->loss.data);
    free(c->upstream.data);
    lk_params_destroy(c->params);
    memset(c, 0, sizeof *c);
}

static void copy_tensor(lk_tensor *to, const lk_tensor *from)
{
    *to = *from;
    if (!from->data) return;
    to->data = malloc(lk_tensor_bytes(from) ? lk_tensor_bytes(from) : 1);
    memcpy(to->data, from->data, lk_tensor_bytes(from));
}

lk_case lk_case_clone(const lk_case *c)
{
    lk_case copy = *c;
    copy.params = lk_params_clone(c->params);
    for (size_t i = 0; i < 8; i++) {
        copy_tensor(&copy.inputs[i], &c->inputs[i]);
        copy_tensor(&copy.grads[i], &c->grads[i]);
    }
    copy_tensor(&copy.loss, &c->loss);
    copy_tensor(&copy.upstream, &c->upstream);
    return copy;
}

lk_status lk_case_run(lk_case *c, lk_context *ctx, int with_grads)
{
    if (c->upstream.data)
        return lk_loss_compute_upstream(c->desc, c->params, c->inputs, c->n_inputs, &c->loss,
                                        with_grads ? c->grads : NULL, &c->upstream, ctx);
    return lk_loss_compute(c->desc, c->params, c->inputs, c->n_inputs, &c->loss,
                           with_grads ? c->grads : NULL, ctx);
}

void lk_case_weigh(lk_case *c, unsigned long long seed)
{
    lk_rng rng = {seed};
    free(c->upstream.data);
    c->upstream = c->loss;
    c->upstream.dtype = LK_F64;
    allocate(&c->upstream);
    for (int64_t i = 0; i < lk_tensor_numel(&c->upstream); i++)
        lk_tensor_set(&c->upstream, i, 3 * lk_rng_uniform(&rng) - 1);
}

double lk_case_total(const lk_case *c)
{
    double total = 0;
    for (int64_t i = 0; i < lk_tensor_numel(&c->loss); i++)
        total += lk_tensor_get(&c->loss, i) * (c->upstream.data ? lk_tensor_get(&c->upstream, i) : 1);
    return total;
}

const char *lk_case_label(const lk_case *c, const char *spec)
{
    static char label[256];
    int used = snprintf(label, sizeof label, "%s[%s] %s target %s (", lk_loss_name(c->desc), spec,
                        lk_dtype_name(c->inputs[0].dtype), lk_dtype_name(c->inputs[1].dtype));
    for (int axis = 0; axis < c->inputs[0].ndim && used < (int)sizeof label; axis++)
        used += snprintf(label + used, sizeof label - (size_t)used, "%s%lld", axis ? ", " : "",
                         (long long)c->inputs[0].shape[axis]);
    if (used < (int)sizeof label) snprintf(label + used, sizeof label - (size_t)used, ")");
    return label;
}
