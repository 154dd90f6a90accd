/*
 * Hausdorff distance loss, distance-transform variant (Karimi & Salcudean):
 * squared errors weighed by the distance fields of both segmentations.
 *
 *   f_nc = 1/S sum_x (p_nc(x) - g_nc(x))^2 (d_p(x)^alpha + d_g(x)^alpha)
 *   loss = mean (or sum) of f over the images and the kept classes
 *
 * d_g is the unsigned distance field of the target mask g > 0.5 and d_p that
 * of the prediction p > 0.5: at a pixel inside the mask, its distance to the
 * background; outside, to the mask (EDT(fg) + EDT(bg)); 0 everywhere for an
 * empty or full mask. Both are constants (the paper, and every public
 * implementation, compute them without gradient), so
 *
 *   d loss / d p = 2 (p - g)(d_p^alpha + d_g^alpha) x the reduction's scale,
 *
 * then the activation's chain. With batch=true, f_c averages over the images
 * and pixels together.
 *
 * Conventions: MONAI's HausdorffDTLoss (alpha 2, include_background false,
 * no activation by default: sigmoid / softmax as options, per-channel fields,
 * mean over the spatial axes, then over batch and channels; batch option).
 * MONAI rounds its fields to float32; here they are exact in float64 (and
 * take the voxel spacing of parameter spacing, which MONAI has not). Targets:
 * class labels (MONAI's to_onehot_y) or per-class masks / probabilities
 * shaped like the input. Reductions mean, sum and none: the terms f, shaped
 * (N, kept classes), or (kept classes) with batch=true (MONAI keeps
 * singleton spatial axes: (N, C, 1, ...)). Through a softmax each term
 * depends on every class of its image, so a binding weighs the terms by
 * its incoming gradient with lk_loss_compute_upstream (takes_upstream).
 *
 * Reference: D. Karimi, S. E. Salcudean, "Reducing the Hausdorff distance in
 * medical image segmentation with convolutional neural networks", IEEE TMI
 * 39(2), 2020.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "boundary/class_maps.h"
#include "core/chunks.h"

enum { P_ALPHA, P_INCLUDE_BACKGROUND, P_ACTIVATION, P_BATCH, P_SPACING, P_REDUCTION, P_COUNT };
enum { ACTIVATION_NONE, ACTIVATION_SIGMOID, ACTIVATION_SOFTMAX };

typedef struct hd_buffers {
    double *prob;   /* (N, C, S) activated input */
    double *target; /* (N, C, S) per-class target */
    double *field_p, *field_g; /* (N, C, S) distance fields */
    double *dloss;  /* (N, C, S) d loss / d prob */
    double *partial; /* [N x C] each (image, class)'s sum */
} hd_buffers;

static lk_status hd_check(const lk_call *call)
{
    int activation = lk_param_choice(call->params, P_ACTIVATION);
    if (activation == ACTIVATION_SOFTMAX && call->classes < 2)
        return lk_fail(LK_EPARAM, "loss 'hausdorff_dt': activation=softmax needs 2 or more "
                                  "classes; the input has 1 (use sigmoid)");
    if (call->classes < 2 && !lk_param_bool(call->params, P_INCLUDE_BACKGROUND))
        return lk_fail(LK_ESHAPE, "loss 'hausdorff_dt': the input has 1 class and "
                                  "include_background=false leaves none");
    return lk_check_spacing(call, P_SPACING);
}

typedef struct hd_pass {
    const lk_call *call;
    int activation;
    hd_buffers *b;
} hd_pass;

/* The activation of image `task`, per pixel (softmax over the classes) or per element. */
static void activate_image(void *arg, int64_t task, int worker)
{
    (void)worker;
    const hd_pass *pass = arg;
    const lk_call *call = pass->call;
    int64_t classes = call->classes, spatial = call->spatial, first = task * classes * spatial;
    double *prob = pass->b->prob + first;
    for (int64_t i = 0; i < classes * spatial; i++) {
        double x = lk_read_real(&call->inputs[0], first + i);
        prob[i] = pass->activation == ACTIVATION_SIGMOID ? 1 / (1 + exp(-x)) : x;
    }
    if (pass->activation != ACTIVATION_SOFTMAX) return;
    for (int64_t s = 0; s < spatial; s++) {
        double *p = prob + s, largest = p[0], total = 0;
        for (int64_t c = 1; c < classes; c++) largest = fmax(largest, p[c * spatial]);
        for (int64_t c = 0; c < classes; c++) total += p[c * spatial] = exp(p[c * spatial] - largest);
        for (int64_t c = 0; c < classes; c++) p[c * spatial] /= total;
    }
}

static void target_values(const lk_call *call, double *target)
{
    const lk_tensor *t = &call->inputs[1];
    int64_t classes = call->classes, spatial = call->spatial;
    if (!lk_dtype_is_label(t->dtype)) {
        for (int64_t i = 0, count = lk_numel(t); i < count; i++) target[i] = lk_read_real(t, i);
        return;
    }
    memset(target, 0, (size_t)(call->batch * classes * spatial) * sizeof *target);
    for (int64_t pixel = 0; pixel < call->batch * spatial; pixel++) {
        int64_t n = pixel / spatial, s = pixel % spatial;
        target[(n * classes + lk_read_label(t, pixel)) * spatial + s] = 1;
    }
}

static lk_status check_values(const lk_call *call, int activation)
{
    const lk_tensor *input = &call->inputs[0], *target = &call->inputs[1];
    int64_t bad = lk_find_nonfinite(input);
    if (bad >= 0) return lk_report_nonfinite(call, NAN);
    for (int64_t i = 0, count = lk_numel(input); activation == ACTIVATION_NONE && i < count; i++) {
        double p = lk_read_real(input, i);
        if (!(p >= 0 && p <= 1))
            return lk_unit_interval_error(input, call->desc->inputs[0].name, i, "a probability",
                                          " (activation=none)");
    }
    if (lk_dtype_is_label(target->dtype)) {
        lk_label_rule rule = {call->classes, 0, 0};
        return lk_check_labels(call->ctx, target, call->desc->inputs[1].name, &rule);
    }
    for (int64_t i = 0, count = lk_numel(target); i < count; i++) {
        double g = lk_read_real(target, i);
        if (!(g >= 0 && g <= 1))
            return lk_unit_interval_error(target, call->desc->inputs[1].name, i, "a target in [0, 1]", "");
    }
    return LK_OK;
}

typedef struct hd_terms {
    const lk_call *call;
    const hd_buffers *b;
    double alpha, scale; /* d loss / d f of each term, before the upstream weight */
    double per_term;     /* f = per_term x its sum: 1 / its pixel count */
    int first_class, batch;
} hd_terms;

/* The index of image n, class c's term in the loss tensor of reduction none
 * ((N, kept classes), or (kept classes) with batch=true). */
static int64_t term_index(const lk_call *call, int batch, int first_class, int64_t n, int64_t c)
{
    int64_t kept = call->classes - first_class;
    return (batch ? 0 : n * kept) + c - first_class;
}

/* One (image, class): its sum of (p - g)^2 D, and d loss / d p. */
static void hd_term_task(void *arg, int64_t task, int worker)
{
    (void)worker;
    const hd_terms *t = arg;
    int64_t classes = t->call->classes, spatial = t->call->spatial;
    int64_t c = task % classes;
    double *dloss = t->b->dloss + task * spatial;
    if (c < t->first_class) {
        memset(dloss, 0, (size_t)spatial * sizeof *dloss);
        t->b->partial[task] = 0;
        return;
    }
    const double *p = t->b->prob + task * spatial, *g = t->b->target + task * spatial;
    const double *fp = t->b->field_p + task * spatial, *fg = t->b->field_g + task * spatial;
    double scale = t->scale * lk_upstream(t->call, term_index(t->call, t->batch, t->first_class,
                                                              task / classes, c));
    double total = 0;
    for (int64_t s = 0; s < spatial; s++) {
        double weight = t->alpha == 2 ? fp[s] * fp[s] + fg[s] * fg[s]
                                      : pow(fp[s], t->alpha) + pow(fg[s], t->alpha);
        double error = p[s] - g[s];
        total += error * error * weight;
        dloss[s] = 2 * error * weight * scale;
    }
    t->b->partial[task] = total;
}

/* The gradient of image `task`'s input: d loss / d p through the activation. */
static void chain_image(void *arg, int64_t task, int worker)
{
    (void)worker;
    const hd_pass *pass = arg;
    const lk_tensor *grad = &pass->call->grads[0];
    int64_t classes = pass->call->classes, spatial = pass->call->spatial;
    const double *prob = pass->b->prob, *dloss = pass->b->dloss;
    for (int64_t s = 0; s < spatial; s++) {
        int64_t base = task * classes * spatial + s;
        double inner = 0; /* softmax: sum_c p_c dL/dp_c */
        for (int64_t c = 0; pass->activation == ACTIVATION_SOFTMAX && c < classes; c++)
            inner += prob[base + c * spatial] * dloss[base + c * spatial];
        for (int64_t c = 0; c < classes; c++) {
            int64_t i = base + c * spatial;
            double p = prob[i], d = dloss[i];
            double g = pass->activation == ACTIVATION_SOFTMAX   ? p * (d - inner)
                       : pass->activation == ACTIVATION_SIGMOID ? d * p * (1 - p)
                                                                : d;
            if (grad->dtype == LK_F32)
                ((float *)grad->data)[i] = (float)g;
            else
                ((double *)grad->data)[i] = g;
        }
    }
}

/* reduction none: each term f (image, class), or f_c with batch=true (its
 * images' sums added in image order). */
static void store_terms(const lk_call *call, const hd_terms *t)
{
    const lk_tensor *loss = call->loss;
    int64_t kept = call->classes - t->first_class;
    int64_t count = t->batch ? kept : call->batch * kept;
    for (int64_t term = 0; term < count; term++) {
        int64_t c = term % kept + t->first_class, first = t->batch ? 0 : term / kept;
        int64_t last = t->batch ? call->batch : first + 1;
        double total = 0;
        for (int64_t n = first; n < last; n++) total += t->b->partial[n * call->classes + c];
        if (loss->dtype == LK_F32)
            ((float *)loss->data)[term] = (float)(total * t->per_term);
        else
            ((double *)loss->data)[term] = total * t->per_term;
    }
}

/* The loss tensor of reduction none: (N, kept classes), or (kept classes). */
static void hd_none_shape(const lk_call *call, lk_tensor *out)
{
    int first_class = !lk_param_bool(call->params, P_INCLUDE_BACKGROUND);
    out->ndim = 0;
    if (!lk_param_bool(call->params, P_BATCH)) out->shape[out->ndim++] = call->batch;
    out->shape[out->ndim++] = call->classes - first_class;
}

static lk_status distance_fields(const lk_call *call, const double *values, const uint8_t *wanted,
                                 double *fields)
{
    lk_class_maps_job job = {.objects = {.probability = values, .threshold = 0.5},
                             .batch = call->batch, .classes = call->classes, .wanted = wanted,
                             .kind = LK_CLASS_MAP_SDF, .sdf = LK_SDF_UNSIGNED};
    lk_call_grid(call, P_SPACING, &job.grid);
    return lk_class_maps(call->ctx, &job, fields);
}

static lk_status hd_compute(const lk_call *call)
{
    int activation = lk_param_choice(call->params, P_ACTIVATION);
    int first_class = !lk_param_bool(call->params, P_INCLUDE_BACKGROUND);
    int64_t classes = call->classes, kept = classes - first_class;
    size_t elements = (size_t)(call->batch * classes * call->spatial);
    lk_status status = check_values(call, activation);
    if (status != LK_OK) return status;
    hd_buffers b = {malloc(elements * sizeof(double)), malloc(elements * sizeof(double)),
                    malloc(elements * sizeof(double)), malloc(elements * sizeof(double)),
                    malloc(elements * sizeof(double)),
                    malloc((size_t)(call->batch * classes) * sizeof(double))};
    uint8_t *wanted = malloc((size_t)classes);
    hd_pass pass = {call, activation, &b};
    if (!b.prob || !b.target || !b.field_p || !b.field_g || !b.dloss || !b.partial || !wanted)
        status = lk_fail(LK_ENOMEM, "out of memory");
    if (status == LK_OK) {
        for (int64_t c = 0; c < classes; c++) wanted[c] = c >= first_class;
        lk_parallel_for_items(call->ctx, call->batch, (int64_t)elements, activate_image, &pass);
        target_values(call, b.target);
        status = distance_fields(call, b.prob, wanted, b.field_p);
    }
    if (status == LK_OK) status = distance_fields(call, b.target, wanted, b.field_g);
    /* f averages over the pixels (and the images with batch); mean then over the f's */
    int batch = lk_param_bool(call->params, P_BATCH);
    double per_term = 1.0 / ((double)call->spatial * (batch ? (double)call->batch : 1.0));
    double terms = (double)kept * (batch ? 1.0 : (double)call->batch);
    double scale = per_term / (call->reduction == LK_REDUCTION_MEAN ? terms : 1.0);
    if (status == LK_OK) {
        hd_terms t = {call, &b, lk_param_float(call->params, P_ALPHA), scale, per_term, first_class, batch};
        int64_t tasks = call->batch * classes;
        lk_parallel_for_items(call->ctx, tasks, (int64_t)elements, hd_term_task, &t);
        double total = 0;
        for (int64_t task = 0; task < tasks; task++) total += b.partial[task];
        if (lk_grad_data(call, 0))
            lk_parallel_for_items(call->ctx, call->batch, (int64_t)elements, chain_image, &pass);
        status = lk_finish_loss(call, total * per_term, scale / per_term);
        if (status == LK_OK && call->reduction == LK_REDUCTION_NONE) store_terms(call, &t);
    }
    free(b.prob);
    free(b.target);
    free(b.field_p);
    free(b.field_g);
    free(b.dloss);
    free(b.partial);
    free(wanted);
    return status;
}

static const lk_input_info hd_inputs[] = {
    LK_INPUT_SCORES,
    {"target", "class indices (N, *spatial) or (N, 1, *spatial); or per-class masks in [0, 1] "
               "shaped like input", LK_DTYPES_LABEL | LK_DTYPES_FLOAT, LK_SHAPE_CLASS_TARGET,
     LK_DOMAIN_CLASS_TARGET, 0},
};

static const lk_param_info hd_params[P_COUNT] = {
    [P_ALPHA] = {"alpha", LK_PARAM_FLOAT, "2", 0, 16, LK_RANGE_MIN_OPEN, NULL,
                 "exponent of the distances"},
    [P_INCLUDE_BACKGROUND] = {"include_background", LK_PARAM_BOOL, "false", 0, 0, 0, NULL,
                              "whether class 0 contributes"},
    [P_ACTIVATION] = {"activation", LK_PARAM_CHOICE, "none", 0, 0, 0, "none|sigmoid|softmax",
                      "none: input holds probabilities (MONAI's default); sigmoid per element or "
                      "softmax over the classes applied inside"},
    [P_BATCH] = {"batch", LK_PARAM_BOOL, "false", 0, 0, 0, NULL,
                 "average each class over the images and pixels together (one term per class)"},
    [P_SPACING] = LK_PARAM_SPACING("the distance fields"),
    [P_REDUCTION] = {"reduction", LK_PARAM_CHOICE, "mean", 0, 0, 0, "mean|sum|none",
                     "mean or sum of the per image and class terms; none: the terms, (N, kept "
                     "classes), or (kept classes) with batch=true"},
};

static const char *const hd_examples[] = {
    "activation=softmax",
    "activation=sigmoid,include_background=true",
    "",
    "activation=softmax,alpha=1.5,reduction=sum",
    "activation=softmax,batch=true",
    "activation=softmax,spacing=[2]",
    "activation=softmax,reduction=none",
    "activation=sigmoid,include_background=true,batch=true,reduction=none",
    NULL,
};

const lk_loss_desc lk_loss_hausdorff_dt = {
    .name = "hausdorff_dt",
    .category = LK_CATEGORY_BOUNDARY,
    .summary = "Hausdorff distance loss, distance-transform variant: squared errors weighed by "
               "the distance fields of prediction and target (Karimi & Salcudean)",
    .formula = "f_nc = mean over x of (p - g)^2 (d_p^alpha + d_g^alpha); loss = mean of f",
    .reference = "D. Karimi, S. E. Salcudean, Reducing the Hausdorff distance in medical image "
                 "segmentation with CNNs, IEEE TMI 2020",
    .notes = "MONAI's HausdorffDTLoss conventions (alpha 2, no activation by default, "
             "include_background false, batch option). Fields of p > 0.5 and g > 0.5, exact "
             "EDT in float64 with spacing (MONAI rounds them to float32), 0 for an empty or "
             "full mask, constants for the gradient.",
    LK_DESC_INPUTS(hd_inputs),
    LK_DESC_PARAMS(hd_params),
    .examples = hd_examples,
    .output = LK_OUTPUT_PER_CLASS,
    .none_shape = hd_none_shape,
    .takes_upstream = 1,
    .check = hd_check,
    .compute = hd_compute,
};
