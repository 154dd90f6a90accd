/*
 * Hausdorff erosion loss (HD-ER): a differentiable surrogate of the Hausdorff
 * distance from repeated soft erosions of the error map.
 *
 * For each image n and class c, with p the class's probability map and g =
 * [label == c], over the pixels of the image (2-D or 3-D):
 *
 *   b_0 = (p - g)^2
 *   for k = 1..K:
 *     d_k = conv(b_{k-1}, kernel)                      (zero padding)
 *     e_k = d_k - 0.5 where d_k >= 0.5, else 0         (soft threshold)
 *     b_k = (e_k - min e_k) / (max e_k - min e_k)       if max e_k != min e_k
 *         = e_k                                         otherwise
 *   loss[n, c, x] = sum_k k^alpha b_k[x]
 *
 * kernel: the 3x3 cross times 0.2 in 2-D, the 7-point stencil (the voxel and
 * its 6 face neighbours) times 1/7 in 3-D; max and min over the image.
 * reduction mean: the mean over (N, C, pixels); sum: the sum.
 *
 * Gradient: reverse mode through the K steps, with gb_k = d loss / d b_k
 * (upstream u per pixel: 1 / (N C S) for mean, 1 for sum):
 *
 *   gb_k += u k^alpha
 *   normalized step (r = max - min != 0):
 *     ge_k = gb_k / r + [e = max] dmax / #max + [e = min] dmin / #min,
 *     dmax = -sum(gb_k b_k) / r,  dmin = sum(gb_k (b_k - 1)) / r
 *   otherwise ge_k = gb_k
 *   gd_k = ge_k where d_k >= 0.5, else 0
 *   gb_{k-1} = conv(gd_k, kernel)    (the kernel is symmetric: conv is its own adjoint)
 *   d loss / d p = 2 (p - g) gb_0, then through the activation.
 *
 * This is what torch's autograd gives through kornia's code: the max and the
 * min send their gradient to the elements that reach them, split evenly among
 * ties (torch's amax backward); the threshold (kornia's masked_fill(d < 0.5))
 * passes the gradient where d >= 0.5, d = 0.5 included. The loss jumps where
 * the last pixel above the threshold appears or vanishes (the normalization
 * switches on): there it has no derivative, and near it the gradient is large.
 *
 * Reference: D. Karimi, S. E. Salcudean, "Reducing the Hausdorff Distance in
 * Medical Image Segmentation with Convolutional Neural Networks", IEEE TMI
 * 39(2), 2020 (arXiv 2019).
 *
 * Conventions: kornia's HausdorffERLoss / HausdorffERLoss3D (defaults alpha=2,
 * k=10, reduction mean; channel c against label == c, class 0 included; the
 * prediction used as given, so activation=none is the default; min-max per
 * image and class; weights (i + 1)^alpha for i = 0..k-1). Where we differ:
 * kornia builds its kernel in float32, so in float64 its weights are 0.2 and
 * 1/7 rounded to float32 (0.20000000298..., relative 1.5e-8 off); ours are 0.2
 * and 1/7 in the input's type. With the same weights, float64 values and
 * gradients agree with kornia's to rounding (each conv adds its terms in
 * torch's order, so the ties and thresholds fall the same way). Reduction
 * none returns the per-pixel map sum_k k^alpha b_k shaped like the input,
 * (N, C, *spatial) (kornia: (C, N, 1, *spatial)); each element of that map
 * depends on its neighbours' inputs, so weighing lk_loss_compute's gradient
 * element by element would be wrong: lk_loss_compute_upstream takes the
 * weights u(x) and the reverse pass starts from gb_k += u k^alpha.
 * reduction=sum is the sum of that map.
 * activation=softmax|sigmoid take logits (kornia: pass a softmax yourself);
 * with activation=none the input must hold probabilities in [0, 1]. With one
 * channel the labels are a 0/1 mask (kornia would compare with label 0).
 * JunMa11/SegLoss's HausdorffERLoss runs in numpy (no gradient) and
 * normalizes per image over all channels.
 *
 * Each (image, class) map is one task; with a gradient wanted the task keeps
 * its K maps d_k (K x pixels per worker) and runs the backward pass right
 * after the forward pass. Results do not depend on the thread count.
 */
#ifndef LK_REAL
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "boundary/probability_maps.h"
#include "core/context.h"
#include "core/hot.h"
#include "core/lanes.h"
#include "core/loss.h"
#include "core/scratch.h"
#include "core/tensor.h"

enum { P_ALPHA, P_K, P_REDUCTION, P_ACTIVATION, P_COUNT };

typedef struct erosion_run {
    const lk_call *call;
    lk_probability_maps maps;
    double kernel_weight;          /* 0.2 (2-D) or 1/7 (3-D) */
    int steps;                     /* K */
    double *step_weight;           /* [K] k^alpha */
    double upstream;               /* d loss / d (a pixel's term): the reduction's scale */
    int upstream_map;              /* reduction none with call->upstream: one weight per element */
    double *task_sum;              /* [N x C] sum of the map's per-pixel loss */
    char *scratch;                 /* one area per worker */
    size_t scratch_size;
} erosion_run;

#define LK_TYPED_FILE "boundary/hausdorff_erosion.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

typedef struct LK_T(erosion_buffers) {
    lk_real *dilation; /* [K][S] with a gradient wanted, else [S] */
    lk_real *bound;    /* [S] b_k */
    lk_real *acc;      /* [S] the per-pixel loss */
    lk_real *grad;     /* [S] d loss / d b_k */
    lk_real *work;     /* [S] */
    lk_real *weight;   /* [S] the upstream map's weights (reduction none with upstream) */
    lk_real *max, *min; /* [K] of e_k */
} LK_T(erosion_buffers);

/* Lays the buffers out from base (base NULL: only measures). */
static size_t LK_T(erosion_layout)(char *base, int64_t spatial, int steps, int keep, int weighed,
                                   LK_T(erosion_buffers) *out)
{
    lk_scratch s = {base, 0};
    size_t map = (size_t)spatial * sizeof(lk_real);
    out->dilation = lk_scratch_take(&s, map * (size_t)(keep ? steps : 1));
    out->bound = lk_scratch_take(&s, map);
    out->acc = lk_scratch_take(&s, map);
    out->grad = lk_scratch_take(&s, keep ? map : 0);
    out->work = lk_scratch_take(&s, keep ? map : 0);
    out->weight = lk_scratch_take(&s, keep && weighed ? map : 0);
    out->max = lk_scratch_take(&s, (size_t)steps * sizeof(lk_real));
    out->min = lk_scratch_take(&s, (size_t)steps * sizeof(lk_real));
    return lk_scratch_size(&s);
}

static size_t LK_T(erosion_scratch_size)(int64_t spatial, int steps, int keep, int weighed)
{
    LK_T(erosion_buffers) measure;
    return LK_T(erosion_layout)(NULL, spatial, steps, keep, weighed, &measure);
}

/* out = in convolved with the cross (face neighbours and centre) times
 * weight, zero padded. Each pixel adds its terms in the kernel's row-major
 * order (depth, then row, then column), as torch's conv2d / conv3d do: the
 * float64 results are kornia's to the bit. */
static void LK_T(cross_stencil)(const lk_real *in, lk_real *out, int64_t depth, int64_t height,
                                int64_t width, lk_real weight)
{
    int64_t plane = height * width;
    for (int64_t z = 0; z < depth; z++) {
        for (int64_t y = 0; y < height; y++) {
            const lk_real *restrict row = in + z * plane + y * width;
            const lk_real *restrict back = z > 0 ? row - plane : NULL;
            const lk_real *restrict front = z + 1 < depth ? row + plane : NULL;
            const lk_real *restrict up = y > 0 ? row - width : NULL;
            const lk_real *restrict down = y + 1 < height ? row + width : NULL;
            lk_real *restrict o = out + z * plane + y * width;
            for (int64_t x = 0; x < width; x++) o[x] = 0;
            if (back)
                for (int64_t x = 0; x < width; x++) o[x] += weight * back[x];
            if (up)
                for (int64_t x = 0; x < width; x++) o[x] += weight * up[x];
            for (int64_t x = 1; x < width; x++) o[x] += weight * row[x - 1];
            for (int64_t x = 0; x < width; x++) o[x] += weight * row[x];
            for (int64_t x = 0; x + 1 < width; x++) o[x] += weight * row[x + 1];
            if (down)
                for (int64_t x = 0; x < width; x++) o[x] += weight * down[x];
            if (front)
                for (int64_t x = 0; x < width; x++) o[x] += weight * front[x];
        }
    }
}

/* e = the soft threshold of d (kornia's (d - 0.5).masked_fill(d < 0.5, 0));
 * returns its max and min in *max, *min. */
static void LK_T(threshold)(const lk_real *restrict d, lk_real *restrict e, int64_t spatial,
                            lk_real *max, lk_real *min)
{
    const lk_real half = (lk_real)0.5;
    for (int64_t s = 0; s < spatial; s++) e[s] = d[s] >= half ? d[s] - half : 0;
    lk_real top = e[0], bottom = e[0];
    for (int64_t s = 1; s < spatial; s++) {
        top = e[s] > top ? e[s] : top;
        bottom = e[s] < bottom ? e[s] : bottom;
    }
    *max = top;
    *min = bottom;
}

/* d loss / d e of a normalized step, in place of gb: b = (e - min) / range. */
static void LK_T(normalization_backward)(const lk_real *restrict e, lk_real *restrict gb, int64_t spatial,
                                         lk_real max, lk_real min)
{
    lk_real range = max - min;
    double weighted = 0, total = 0;
    int64_t at_max = 0, at_min = 0;
    for (int64_t s = 0; s < spatial; s++) {
        lk_real b = (e[s] - min) / range;
        weighted += (double)gb[s] * (double)b;
        total += (double)gb[s];
        at_max += e[s] == max;
        at_min += e[s] == min;
    }
    /* d b / d max = -b / range, d b / d min = (b - 1) / range; each split among its ties */
    lk_real to_max = (lk_real)(-weighted / (double)range / (double)at_max);
    lk_real to_min = (lk_real)((weighted - total) / (double)range / (double)at_min);
    for (int64_t s = 0; s < spatial; s++)
        gb[s] = gb[s] / range + (e[s] == max ? to_max : 0) + (e[s] == min ? to_min : 0);
}

LK_HOT static void LK_T(erosion_task)(void *arg, int64_t task, int worker)
{
    erosion_run *run = arg;
    const lk_probability_maps *maps = &run->maps;
    int64_t spatial = maps->spatial, c = task % maps->classes, n = task / maps->classes;
    int steps = run->steps, keep = maps->upstream != NULL;
    LK_T(erosion_buffers) b;
    LK_T(erosion_layout)(run->scratch + (size_t)worker * run->scratch_size, spatial, steps, keep,
                         run->upstream_map, &b);
    const lk_real *restrict p = (const lk_real *)maps->prob + lk_probability_map_offset(maps, n, c);
    const int32_t *restrict label = maps->label + n * spatial;
    const lk_real weight = (lk_real)run->kernel_weight;
    lk_real *restrict bound = b.bound, *restrict acc = b.acc;
    for (int64_t s = 0; s < spatial; s++) {
        lk_real error = p[s] - (label[s] == c ? 1 : 0);
        bound[s] = error * error;
        acc[s] = 0;
    }
    for (int k = 0; k < steps; k++) {
        lk_real *restrict dilation = b.dilation + (keep ? (size_t)k * (size_t)spatial : 0);
        LK_T(cross_stencil)(bound, dilation, maps->depth, maps->height, maps->width, weight);
        LK_T(threshold)(dilation, bound, spatial, &b.max[k], &b.min[k]);
        const lk_real min = b.min[k], range = b.max[k] - b.min[k];
        if (range != 0) /* a division, as kornia's: the same bits */
            for (int64_t s = 0; s < spatial; s++) bound[s] = (bound[s] - min) / range;
        const lk_real step_weight = (lk_real)run->step_weight[k];
        for (int64_t s = 0; s < spatial; s++) acc[s] = acc[s] + bound[s] * step_weight;
    }
    double lanes[LK_LANES] = {0};
    for (int64_t first = 0; first < spatial; first += LK_CHUNK) /* LK_CHUNK: a multiple of the lanes */
        lk_lanes_add(lanes, acc + first, (int)(lk_chunk_end(first / LK_CHUNK, spatial) - first));
    run->task_sum[task] = lk_lanes_total(lanes);
    int64_t offset = lk_probability_map_offset(maps, n, c);
    if (run->call->reduction == LK_REDUCTION_NONE) {
        lk_real *restrict loss = (lk_real *)run->call->loss->data + offset;
        for (int64_t s = 0; s < spatial; s++) loss[s] = acc[s];
    }
    if (!keep) return;
    lk_real *restrict grad = b.grad, *restrict work = b.work, *restrict element_weight = b.weight;
    for (int64_t s = 0; s < spatial; s++) grad[s] = 0;
    for (int64_t s = 0; run->upstream_map && s < spatial; s++)
        element_weight[s] = (lk_real)lk_upstream(run->call, offset + s);
    const lk_real half = (lk_real)0.5;
    for (int k = steps - 1; k >= 0; k--) {
        const lk_real *restrict dilation = b.dilation + (size_t)k * (size_t)spatial;
        if (run->upstream_map) {
            const lk_real step_weight = (lk_real)run->step_weight[k];
            for (int64_t s = 0; s < spatial; s++) grad[s] += element_weight[s] * step_weight;
        } else {
            const lk_real upstream = (lk_real)(run->upstream * run->step_weight[k]);
            for (int64_t s = 0; s < spatial; s++) grad[s] += upstream;
        }
        if (b.max[k] != b.min[k]) {
            for (int64_t s = 0; s < spatial; s++) work[s] = dilation[s] >= half ? dilation[s] - half : 0;
            LK_T(normalization_backward)(work, grad, spatial, b.max[k], b.min[k]);
        }
        for (int64_t s = 0; s < spatial; s++) work[s] = dilation[s] >= half ? grad[s] : 0;
        LK_T(cross_stencil)(work, grad, maps->depth, maps->height, maps->width, weight);
    }
    lk_real *restrict out = (lk_real *)maps->upstream + offset;
    for (int64_t s = 0; s < spatial; s++) out[s] = 2 * (p[s] - (label[s] == c ? 1 : 0)) * grad[s];
}

#endif /* typed section */

#ifndef LK_REAL

static lk_status erosion_check(const lk_call *call)
{
    return lk_probability_maps_check(call, lk_param_choice(call->params, P_ACTIVATION));
}

static lk_status erosion_compute(const lk_call *call)
{
    erosion_run run;
    memset(&run, 0, sizeof run);
    run.call = call;
    const lk_tensor *input = &call->inputs[0];
    run.steps = (int)lk_param_int(call->params, P_K);
    double alpha = lk_param_float(call->params, P_ALPHA);
    int64_t tasks = call->batch * call->classes;
    double elements = (double)tasks * (double)call->spatial;
    double scale = call->reduction == LK_REDUCTION_MEAN ? 1 / elements : 1;
    run.upstream = scale * (call->reduction == LK_REDUCTION_NONE ? 1 : lk_upstream(call, 0));
    run.upstream_map = call->reduction == LK_REDUCTION_NONE && call->upstream;
    lk_status status = lk_probability_maps_prepare(&run.maps, call, lk_param_choice(call->params, P_ACTIVATION));
    if (status != LK_OK) return status;
    run.kernel_weight = run.maps.volume ? 1.0 / 7.0 : 0.2;
    int keep = run.maps.upstream != NULL;
    run.scratch_size = input->dtype == LK_F32
                           ? erosion_scratch_size_f32(call->spatial, run.steps, keep, run.upstream_map)
                           : erosion_scratch_size_f64(call->spatial, run.steps, keep, run.upstream_map);
    run.scratch = malloc(run.scratch_size * (size_t)lk_context_threads(call->ctx));
    run.task_sum = malloc((size_t)tasks * sizeof(double));
    run.step_weight = malloc((size_t)run.steps * sizeof(double));
    if (!run.scratch || !run.task_sum || !run.step_weight)
        status = lk_fail(LK_ENOMEM, "out of memory for the Hausdorff erosion loss");
    for (int k = 0; status == LK_OK && k < run.steps; k++) run.step_weight[k] = pow(k + 1, alpha);
    if (status == LK_OK)
        lk_parallel_for_items(call->ctx, tasks, lk_numel(input) * run.steps,
                              input->dtype == LK_F32 ? erosion_task_f32 : erosion_task_f64, &run);
    double total = 0;
    for (int64_t task = 0; status == LK_OK && task < tasks; task++) total += run.task_sum[task];
    if (status == LK_OK) lk_probability_maps_backward(&run.maps);
    if (status == LK_OK) status = lk_finish_loss(call, total, scale);
    lk_probability_maps_free(&run.maps);
    free(run.scratch);
    free(run.task_sum);
    free(run.step_weight);
    return status;
}

static const lk_input_info erosion_inputs[] = {
    LK_INPUT_MAP_SCORES("scores (N, C, H, W) or (N, C, D, H, W): probabilities (activation=none), "
                        "or logits"),
    LK_INPUT_MAP_LABELS,
};

static const lk_param_info erosion_params[P_COUNT] = {
    [P_ALPHA] = {"alpha", LK_PARAM_FLOAT, "2", -16, 16, 0, NULL,
                 "the exponent of erosion k's weight k^alpha (kornia's alpha)"},
    [P_K] = {"k", LK_PARAM_INT, "10", 1, 1000, 0, NULL, "the number of erosions (kornia's k)"},
    [P_REDUCTION] = {"reduction", LK_PARAM_CHOICE, "mean", 0, 0, 0, "mean|sum|none",
                     "mean: over (N, C, pixels), as kornia; sum: the sum; none: the map "
                     "sum_k k^alpha b_k, shaped like input (kornia's (C, N, 1, *spatial) "
                     "transposed)"},
    [P_ACTIVATION] = LK_PARAM_MAPS_ACTIVATION(
        "none", "none: input holds probabilities, used as given (kornia); softmax: logits, softmax "
                "over the classes; sigmoid: logits, a sigmoid per class"),
};

static const char *const erosion_examples[] = {
    "",
    "alpha=1,k=3,reduction=sum",
    "alpha=0.5,k=4,activation=softmax",
    "k=1",
    "activation=sigmoid,k=2,reduction=sum",
    "k=3,reduction=none",
    "activation=softmax,k=2,reduction=none",
    NULL,
};

const lk_loss_desc lk_loss_hausdorff_erosion = {
    .name = "hausdorff_erosion",
    .category = LK_CATEGORY_BOUNDARY,
    .summary = "Hausdorff loss by soft erosions of the squared error (HD-ER; kornia "
               "HausdorffERLoss, HausdorffERLoss3D)",
    .formula = "b_0 = (p - g)^2; d_k = conv(b_{k-1}, cross); e_k = relu(d_k - 0.5); b_k = minmax(e_k) "
               "per image and class; loss = mean of sum_k k^alpha b_k",
    .reference = "D. Karimi, S. E. Salcudean, Reducing the Hausdorff Distance in Medical Image "
                 "Segmentation with Convolutional Neural Networks, IEEE TMI 2020",
    .notes = "kornia's defaults and math, 2-D (3x3 cross x 0.2) and 3-D (7-point stencil x 1/7); "
             "kernel weights exact (kornia's are float32-rounded). Gradient as torch's autograd "
             "through kornia: ties of max/min share it evenly. reduction none: the map, shaped "
             "like input (kornia's is (C, N, 1, *spatial)); its elements are coupled across "
             "pixels, so bindings weigh it through lk_loss_compute_upstream. Default activation "
             "none (kornia applies none).",
    LK_DESC_INPUTS(erosion_inputs),
    LK_DESC_PARAMS(erosion_params),
    .examples = erosion_examples,
    .output = LK_OUTPUT_PER_ELEMENT,
    .takes_upstream = 1,
    .check = erosion_check,
    .compute = erosion_compute,
};

#endif
