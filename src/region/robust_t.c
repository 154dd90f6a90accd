/*
 * Robust T-Loss: the negative log-likelihood of a multivariate Student-t
 * distribution of the prediction errors, whose degrees of freedom are learnt.
 *
 * Per image n with D elements, errors delta = input - target, and the
 * learnable parameter nu (its log-degrees of freedom):
 *
 *   v   = exp(nu) + eps
 *   S_n = exp(lambda + eps) sum_i delta_i^2
 *   L_n = -log Gamma((v + D)/2) + log Gamma(v/2) - D (lambda + eps)/2
 *         + (D/2) log pi + (D/2)(nu + eps) + ((v + D)/2) log(1 + S_n / v)
 *   loss = mean over the images of L_n (sum with reduction=sum)
 *
 * lambda (parameter log_precision) is the log of the diagonal precision of
 * every element. Small v
 * gives heavy tails (robust to outlying errors, like an L1 loss); large v
 * tends to the Gaussian's squared error.
 *
 * Gradients:
 *   d L_n / d input_i = (v + D) exp(lambda + eps) delta_i / (v + S_n)
 *   d L_n / d nu      = exp(nu) [psi(v/2)/2 - psi((v + D)/2)/2 + log(1 + S_n/v)/2
 *                                - (v + D) S_n / (2 v (v + S_n))] + D/2
 * (psi: digamma, core/special.h).
 *
 * Reference: A. Gonzalez-Jimenez, S. Lionetti, P. Gottfrois, F. Gröger,
 * M. Pouly, A. Navarini, "Robust T-Loss for Medical Image Segmentation",
 * MICCAI 2023; eq. (22) of the 2023 survey (seed 002).
 *
 * Conventions: the authors' code (Digital-Dermatology/t-loss, TLoss):
 * lambda = 1 for every element (their lambdas = ones, so that the squared
 * errors are weighed by exp(1 + eps)), eps = 1e-8, the term (D/2)(nu + eps)
 * as they write it (not (D/2) log v), D the elements per image, the mean over
 * the images. nu is an input, a scalar (shape () or (1,)), so that the caller
 * owns and trains it (their nn.Parameter, initialized to 1); its gradient is
 * an output like the prediction's. Targets lie in [0, 1] (masks); the
 * prediction is used as given (the authors apply no activation).
 */
#ifndef LK_REAL
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/chunks.h"
#include "core/context.h"
#include "core/hot.h"
#include "core/lanes.h"
#include "core/loss.h"
#include "core/special.h"
#include "core/tensor.h"

enum { P_LAMBDA, P_EPSILON, P_REDUCTION, P_COUNT };
enum { ERROR_IN_INPUT = 0, ERROR_IN_TARGET = 1 };

#define T_BLOCK 256

typedef struct t_run {
    const lk_call *call;
    int64_t per_image, chunks_per_image;
    double *partials;     /* [chunk] sums of delta^2 */
    const double *factor; /* [image] d loss / d input_i = factor * delta_i */
    lk_chunk_error *errors;
} t_run;

/* The chunk's elements [*begin, *end) (flat indices), in one image, which it returns. */
static int64_t chunk_span(const t_run *run, int64_t chunk, int64_t *begin, int64_t *end)
{
    int64_t image = lk_image_chunk_span(chunk, run->per_image, begin, end);
    *begin += image * run->per_image;
    *end += image * run->per_image;
    return image;
}

static void record_error(t_run *run, int64_t chunk, int which, int64_t index)
{
    run->errors[chunk].index = index;
    run->errors[chunk].input = which;
}

#define LK_TYPED_FILE "region/robust_t.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

/* target[first, first + len) as reals (integer masks converted). */
static void LK_T(load_target)(const lk_tensor *target, int64_t first, int len, lk_real *out)
{
    if (target->dtype == LK_REAL_DTYPE) {
        memcpy(out, (const lk_real *)target->data + first, (size_t)len * sizeof(lk_real));
        return;
    }
    for (int j = 0; j < len; j++) out[j] = (lk_real)lk_read_label(target, first + j);
}

/* Sums of delta^2 over the chunk, checking the prediction (finite) and the
 * target (in [0, 1]) on the way. */
LK_HOT static void LK_T(sums_chunk)(void *arg, int64_t chunk, int worker)
{
    (void)worker;
    t_run *run = arg;
    const lk_real *x = (const lk_real *)run->call->inputs[0].data;
    int64_t begin, end;
    chunk_span(run, chunk, &begin, &end);
    double lanes[LK_LANES] = {0};
    lk_real target[T_BLOCK];
    for (int64_t first = begin; first < end; first += T_BLOCK) {
        int len = (int)(end - first < T_BLOCK ? end - first : T_BLOCK);
        LK_T(load_target)(&run->call->inputs[1], first, len, target);
        int bad = 0;
        for (int j = 0; j < len; j++) bad |= !(target[j] >= 0 && target[j] <= 1) | !isfinite(x[first + j]);
        for (int j = 0; bad && j < len; j++) {
            int bad_input = !isfinite(x[first + j]), bad_target = !(target[j] >= 0 && target[j] <= 1);
            if (bad_input || bad_target) {
                record_error(run, chunk, bad_input ? ERROR_IN_INPUT : ERROR_IN_TARGET, first + j);
                return;
            }
        }
        for (int j = 0; j < len; j++) {
            double delta = (double)x[first + j] - (double)target[j];
            lanes[j % LK_LANES] += delta * delta;
        }
    }
    run->partials[chunk] = lk_lanes_total(lanes);
}

LK_HOT static void LK_T(gradient_chunk)(void *arg, int64_t chunk, int worker)
{
    (void)worker;
    t_run *run = arg;
    const lk_real *x = (const lk_real *)run->call->inputs[0].data;
    lk_real *grad = lk_grad_data(run->call, 0);
    int64_t begin, end, image = chunk_span(run, chunk, &begin, &end);
    const lk_real factor = (lk_real)run->factor[image];
    lk_real target[T_BLOCK];
    for (int64_t first = begin; first < end; first += T_BLOCK) {
        int len = (int)(end - first < T_BLOCK ? end - first : T_BLOCK);
        LK_T(load_target)(&run->call->inputs[1], first, len, target);
        for (int j = 0; j < len; j++) grad[first + j] = factor * (x[first + j] - target[j]);
    }
}

#endif /* typed section */

#ifndef LK_REAL

static lk_status report_error(const t_run *run, const lk_chunk_error *error)
{
    const lk_call *call = run->call;
    char where[LK_INDEX_TEXT];
    if (error->input == ERROR_IN_TARGET)
        return lk_unit_interval_error(&call->inputs[1], call->desc->inputs[1].name, error->index,
                                      "a target", "");
    return lk_fail(LK_EVALUE, "input '%s'%s = %g: inputs must be finite", call->desc->inputs[0].name,
                   lk_format_index(&call->inputs[0], error->index, where, sizeof where),
                   lk_read_real(&call->inputs[0], error->index));
}

/* Runs a pass over every chunk and reports the first invalid value. */
static lk_status run_pass(t_run *run, int64_t chunks, lk_task_fn f32, lk_task_fn f64)
{
    for (int64_t chunk = 0; chunk < chunks; chunk++) run->errors[chunk].index = -1;
    lk_parallel_for_items(run->call->ctx, chunks, lk_numel(&run->call->inputs[0]),
                          run->call->inputs[0].dtype == LK_F32 ? f32 : f64, run);
    const lk_chunk_error *error = lk_first_chunk_error(run->errors, chunks);
    return error ? report_error(run, error) : LK_OK;
}

/* L_n and d L_n / d nu of an image from its S_n (the weighted sum of delta^2). */
static double image_loss(double nu, double spread, double eps, double lambda, double elements,
                         double weighted_sum, double *dnu)
{
    double half = elements / 2, ratio = weighted_sum / spread;
    double tail = (spread + elements) * weighted_sum / (2 * spread * (spread + weighted_sum));
    *dnu = exp(nu) * (0.5 * lk_digamma(spread / 2) - 0.5 * lk_digamma((spread + elements) / 2) +
                      0.5 * log1p(ratio) - tail) +
           half;
    return -lk_log_gamma((spread + elements) / 2) + lk_log_gamma(spread / 2) - half * (lambda + eps) +
           half * 1.14472988584940017414 /* log pi */ + half * (nu + eps) +
           (spread + elements) / 2 * log1p(ratio);
}

static lk_status robust_t_compute(const lk_call *call)
{
    t_run run;
    memset(&run, 0, sizeof run);
    run.call = call;
    run.per_image = lk_numel(&call->inputs[0]) / call->batch;
    run.chunks_per_image = lk_chunk_count(run.per_image);
    int64_t images = call->batch, chunks = images * run.chunks_per_image;
    double nu = lk_read_real(&call->inputs[2], 0);
    double lambda = lk_param_float(call->params, P_LAMBDA), eps = lk_param_float(call->params, P_EPSILON);
    if (!isfinite(nu) || exp(nu) + eps <= 0 || !isfinite(exp(nu)))
        return lk_fail(LK_EVALUE, "input '%s' = %g: nu must be finite, with exp(nu) + eps > 0 finite",
                       call->desc->inputs[2].name, nu);
    double spread = exp(nu) + eps, precision = exp(lambda + eps), elements = (double)run.per_image;
    double scale = call->reduction == LK_REDUCTION_MEAN ? 1 / (double)images : 1;
    run.partials = malloc((size_t)chunks * sizeof(double));
    run.errors = malloc((size_t)chunks * sizeof *run.errors);
    double *factor = malloc((size_t)images * sizeof *factor);
    lk_status status = LK_OK;
    if (!run.partials || !run.errors || !factor) status = lk_fail(LK_ENOMEM, "out of memory for the T-loss");
    if (status == LK_OK) status = run_pass(&run, chunks, sums_chunk_f32, sums_chunk_f64);
    double total = 0, dnu_total = 0;
    for (int64_t n = 0; status == LK_OK && n < images; n++) {
        double squares = 0, dnu;
        for (int64_t k = 0; k < run.chunks_per_image; k++)
            squares += run.partials[n * run.chunks_per_image + k];
        double weighted_sum = precision * squares;
        total += image_loss(nu, spread, eps, lambda, elements, weighted_sum, &dnu);
        dnu_total += dnu;
        factor[n] = scale * (spread + elements) * precision / (spread + weighted_sum);
    }
    run.factor = factor;
    if (status == LK_OK) status = lk_finish_loss(call, total, scale);
    if (status == LK_OK && lk_grad_data(call, 0))
        status = run_pass(&run, chunks, gradient_chunk_f32, gradient_chunk_f64);
    if (status == LK_OK && lk_grad_data(call, 2)) {
        if (call->grads[2].dtype == LK_F32)
            *(float *)lk_grad_data(call, 2) = (float)(scale * dnu_total);
        else
            *(double *)lk_grad_data(call, 2) = scale * dnu_total;
    }
    free(run.partials);
    free(run.errors);
    free(factor);
    return status;
}

static const lk_input_info robust_t_inputs[] = {
    {"input", "predictions of any shape (N, ...), as given (no activation)", LK_DTYPES_FLOAT,
     LK_SHAPE_ANY, LK_DOMAIN_SCORES, 1},
    {"target", "targets in [0, 1] shaped like input (a mask, or soft)", LK_DTYPES_FLOAT | LK_DTYPES_LABEL,
     LK_SHAPE_LIKE_FIRST, LK_DOMAIN_UNIT_INTERVAL, 0},
    {"nu", "the learnable log-degrees of freedom: a scalar, shape () or (1,) (the authors start at 1)",
     LK_DTYPES_FLOAT, LK_SHAPE_SCALAR, LK_DOMAIN_SCORES, 1},
};

static const lk_param_info robust_t_params[P_COUNT] = {
    [P_LAMBDA] = {"log_precision", LK_PARAM_FLOAT, "1", -50, 50, 0, NULL,
                  "lambda: log of every element's precision (the authors' lambdas = ones)"},
    [P_EPSILON] = {"epsilon", LK_PARAM_FLOAT, "1e-08", 0, 1, 0, NULL,
                   "added to exp(nu), to nu and to lambda, as the authors"},
    [P_REDUCTION] = {"reduction", LK_PARAM_CHOICE, "mean", 0, 0, 0, "mean|sum",
                     "mean: over the images; sum: over the images"},
};

static const char *const robust_t_examples[] = {
    "",
    "reduction=sum",
    "log_precision=0,epsilon=0",
    "log_precision=-2,epsilon=1e-3,reduction=sum",
    NULL,
};

const lk_loss_desc lk_loss_robust_t = {
    .name = "robust_t",
    .category = LK_CATEGORY_REGION,
    .summary = "Robust T-Loss: the Student-t negative log-likelihood with learnable degrees of "
               "freedom (nu is an input with a gradient)",
    .formula = "L_n = -lgamma((v+D)/2) + lgamma(v/2) - D(lambda+eps)/2 + (D/2) log pi + "
               "(D/2)(nu+eps) + ((v+D)/2) log(1 + exp(lambda+eps) sum (x - y)^2 / v), v = exp(nu)+eps",
    .reference = "A. Gonzalez-Jimenez et al., Robust T-Loss for Medical Image Segmentation, "
                 "MICCAI 2023",
    .notes = "The authors' code: lambda = 1 for every element, eps = 1e-8, (D/2)(nu + eps) as "
             "written, D elements per image, mean over images. nu is the caller's (their "
             "nn.Parameter); its gradient is returned.",
    LK_DESC_INPUTS(robust_t_inputs),
    LK_DESC_PARAMS(robust_t_params),
    .examples = robust_t_examples,
    .output = LK_OUTPUT_SCALAR,
    .compute = robust_t_compute,
};

#endif
