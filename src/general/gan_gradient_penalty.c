/*
 * WGAN-GP gradient penalty, as a function of the critic's gradients.
 *
 *   g_n     = row n of the input: the gradient of the critic D with respect
 *             to its input at the interpolate x_n = e x_real + (1 - e) x_fake,
 *             flattened over every axis but the first
 *   penalty = lambda_gp * mean_n (||g_n||_2 - 1)^2     (sum_n with reduction=sum;
 *             reduction=none: lambda_gp (||g_n|| - 1)^2 for each sample, (N,))
 *   d penalty / d g_n = lambda_gp * s * 2 (||g_n|| - 1) g_n / ||g_n||   (s = 1/N, or 1)
 *
 * The penalty's gradient with respect to the critic's weights needs the
 * derivative of g (double backpropagation), which stays with the framework
 * that computed g: losskit gives the penalty and its gradient with respect
 * to g, and the caller pushes that gradient back through autograd
 * (losskit.torch: g = torch.autograd.grad(D(x), x, ones, create_graph=True)[0];
 * lkt.WganGpLoss()(g) then backpropagates into g's graph).
 *
 * At g_n = 0 the norm has no derivative; the penalty's subgradient set there
 * is {-2 lambda s u : ||u|| <= 1}, and losskit takes its least-norm element,
 * 0. (junyanz/pytorch-CycleGAN-and-pix2pix's cal_gradient_penalty adds 1e-16
 * to every element of g before the norm, which differs from the exact norm
 * by ~1e-16 relative and, at g = 0, gives the gradient along (1, ..., 1)
 * instead.)
 *
 * Reference: I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville,
 * "Improved Training of Wasserstein GANs", NeurIPS 2017 (lambda = 10).
 *
 * Determinism: each row's sum of squares runs over fixed chunks of that row
 * (core/chunks.h), added in chunk order.
 */
#ifndef LK_REAL
#include <math.h>
#include <stdlib.h>

#include "core/chunks.h"
#include "core/context.h"
#include "core/hot.h"
#include "core/lanes.h"
#include "core/loss.h"
#include "core/tensor.h"

enum { P_LAMBDA, P_REDUCTION, P_COUNT };

typedef struct penalty_run {
    const lk_call *call;
    int64_t per_sample;    /* elements of each row g_n */
    double *partials;      /* [chunk] sums of g^2 */
    const double *factor;  /* [sample] d penalty / d g_n = factor * g_n */
} penalty_run;

/* The flat element range [*begin, *end) of a chunk, inside one row, whose index it returns. */
static int64_t row_chunk(const penalty_run *run, int64_t chunk, int64_t *begin, int64_t *end)
{
    int64_t row = lk_image_chunk_span(chunk, run->per_sample, begin, end);
    *begin += row * run->per_sample;
    *end += row * run->per_sample;
    return row;
}

#define LK_TYPED_FILE "general/gan_gradient_penalty.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

LK_HOT static void LK_T(squares_chunk)(void *arg, int64_t chunk, int worker)
{
    (void)worker;
    penalty_run *run = arg;
    const lk_real *restrict g = run->call->inputs[0].data;
    int64_t begin, end;
    row_chunk(run, chunk, &begin, &end);
    double lanes[LK_LANES] = {0};
    int64_t i = begin;
    for (; i + LK_LANES <= end; i += LK_LANES)
        for (int lane = 0; lane < LK_LANES; lane++) lanes[lane] += (double)g[i + lane] * (double)g[i + lane];
    for (int lane = 0; i < end; i++, lane++) lanes[lane] += (double)g[i] * (double)g[i];
    run->partials[chunk] = lk_lanes_total(lanes);
}

LK_HOT static void LK_T(scale_chunk)(void *arg, int64_t chunk, int worker)
{
    (void)worker;
    penalty_run *run = arg;
    const lk_real *restrict g = run->call->inputs[0].data;
    lk_real *restrict grad = lk_grad_data(run->call, 0);
    int64_t begin, end, row = row_chunk(run, chunk, &begin, &end);
    const lk_real factor = (lk_real)run->factor[row];
    for (int64_t i = begin; i < end; i++) grad[i] = factor * g[i];
}

#endif /* typed section */

#ifndef LK_REAL

/* Each row's penalty (||g_n|| - 1)^2 into the total (and, for reduction
 * none, lambda times it into the loss tensor), and its gradient factor. */
static double row_penalties(const penalty_run *run, int64_t rows, int64_t chunks_per_row,
                            double lambda, double gradient_scale, double *factor)
{
    const lk_tensor *loss = run->call->loss;
    int per_sample = run->call->reduction == LK_REDUCTION_NONE;
    double total = 0;
    for (int64_t n = 0; n < rows; n++) {
        double squares = 0;
        for (int64_t k = 0; k < chunks_per_row; k++) squares += run->partials[n * chunks_per_row + k];
        double norm = sqrt(squares), penalty = (norm - 1) * (norm - 1);
        total += penalty;
        factor[n] = norm > 0 ? lambda * gradient_scale * 2 * (norm - 1) / norm : 0;
        if (per_sample && loss->dtype == LK_F32) ((float *)loss->data)[n] = (float)(lambda * penalty);
        if (per_sample && loss->dtype == LK_F64) ((double *)loss->data)[n] = lambda * penalty;
    }
    return total;
}

static lk_status wgan_gp_compute(const lk_call *call)
{
    const lk_tensor *g = &call->inputs[0];
    penalty_run run = {.call = call, .per_sample = lk_numel(g) / call->batch};
    int64_t rows = call->batch, chunks_per_row = lk_chunk_count(run.per_sample);
    int64_t chunks = rows * chunks_per_row;
    double lambda = lk_param_float(call->params, P_LAMBDA);
    double scale = call->reduction == LK_REDUCTION_MEAN ? 1 / (double)rows : 1;
    int f32 = g->dtype == LK_F32;
    run.partials = malloc((size_t)chunks * sizeof *run.partials);
    double *factor = malloc((size_t)rows * sizeof *factor);
    lk_status status = LK_OK;
    if (!run.partials || !factor) status = lk_fail(LK_ENOMEM, "out of memory for the gradient penalty");
    if (status == LK_OK) {
        lk_parallel_for_items(call->ctx, chunks, lk_numel(g), f32 ? squares_chunk_f32 : squares_chunk_f64,
                              &run);
        double total = row_penalties(&run, rows, chunks_per_row, lambda, scale, factor);
        status = lk_finish_loss(call, lambda * total, scale);
    }
    run.factor = factor;
    if (status == LK_OK && lk_grad_data(call, 0))
        lk_parallel_for_items(call->ctx, chunks, lk_numel(g), f32 ? scale_chunk_f32 : scale_chunk_f64,
                              &run);
    free(run.partials);
    free(factor);
    return status;
}

static const lk_input_info wgan_gp_inputs[] = {
    {"input", "the critic's gradients at the interpolates, (N, *): one row per sample, e.g. "
              "(N, C, H, W) like the images", LK_DTYPES_FLOAT, LK_SHAPE_ANY, LK_DOMAIN_SCORES, 1},
};

static const lk_param_info wgan_gp_params[P_COUNT] = {
    [P_LAMBDA] = {"lambda_gp", LK_PARAM_FLOAT, "10", 0, INFINITY, 0, NULL,
                  "the penalty's weight (10 in the paper and CycleGAN's lambda_gp)"},
    [P_REDUCTION] = {"reduction", LK_PARAM_CHOICE, "mean", 0, 0, 0, "mean|sum|none",
                     "mean: over the samples (rows); sum: over the samples; none: one penalty "
                     "per sample, (N,)"},
};

static const char *const wgan_gp_examples[] = {
    "",
    "reduction=sum",
    "lambda_gp=1",
    "lambda_gp=0.5,reduction=sum",
    "reduction=none",
    NULL,
};

const lk_loss_desc lk_loss_wgan_gp = {
    .name = "wgan_gp",
    .category = LK_CATEGORY_GENERAL,
    .summary = "WGAN-GP gradient penalty of the critic's gradients at the interpolates, with "
               "its gradient with respect to them",
    .formula = "penalty = lambda_gp mean_n (||g_n||_2 - 1)^2, g_n = row n flattened",
    .reference = "I. Gulrajani et al., Improved Training of Wasserstein GANs, NeurIPS 2017",
    .notes = "The input is the gradient g the framework computed (with create_graph=True); the "
             "gradient returned is d penalty / d g, to be backpropagated through g's graph. At "
             "g_n = 0 the subgradient 0 (CycleGAN's cal_gradient_penalty adds 1e-16 to g before "
             "the norm instead).",
    LK_DESC_INPUTS(wgan_gp_inputs),
    LK_DESC_PARAMS(wgan_gp_params),
    .examples = wgan_gp_examples,
    .output = LK_OUTPUT_PER_ITEM,
    .compute = wgan_gp_compute,
};

#endif
