/*
 * Boundary Difference over Union loss (Boundary DoU).
 *
 * For each class i (background included), with p the class's probability, g
 * = [label == i], and every sum over the whole batch and all pixels:
 *
 *   I = sum p g,  Y = sum g^2,  Z = sum p^2
 *   alpha = min(2 (1 - (C + s) / (S + s)) - 1, alpha_max)
 *   L_i = (Z + Y - 2 I + s) / (Z + Y - (1 + alpha) I + s)
 *   loss = sum_i L_i / n_classes
 *
 * C counts the target's boundary pixels of class i: pixels of the class with
 * at least one face neighbour (4 in 2-D, 6 in 3-D) outside it, the image's
 * border counting as outside; S counts the class's pixels. Both are batch
 * totals, constant with respect to p. In the paper's form alpha = 1 - 2 C / S:
 * small or thin objects (C close to S) give alpha near -1 (a Dice-like ratio),
 * large ones alpha near 1 (the boundary region dominates).
 *
 * Gradient, with N and D the numerator and denominator of L_i:
 *
 *   d loss / d p = [(2 p - 2 g) D - N (2 p - (1 + alpha) g)] / (D^2 n_classes)
 *
 * then through the softmax (or the sigmoid). D >= (1 - alpha) I + s > 0
 * since Z + Y >= 2 I and alpha < 1. A class absent from the whole batch has
 * I = Y = 0, so L_i = (Z + s) / (Z + s) = 1 with no gradient; it still counts
 * in n_classes (as in the reference).
 *
 * Reference: F. Sun, Z. Luo, S. Li, "Boundary Difference over Union Loss for
 * Medical Image Segmentation", MICCAI 2023.
 *
 * Conventions: the authors' BoundaryDoULoss (sunfan-bvb/BoundaryDoULoss,
 * TransUNet/utils.py): logits with a softmax inside, integer labels, s = 1e-5
 * in alpha and in the ratio, alpha truncated at 0.8 (their recommendation;
 * alpha_max here), sums over the batch, background included, the mean over
 * the classes. Their boundary count is a 3x3 cross convolution of g (zero
 * padding) whose value at a pixel of the class is below 5; ours is the same
 * set of pixels. Their code is 2-D only; in 3-D we use the 6-neighbour
 * stencil (the 7-point cross), the natural extension. They compute alpha in
 * float32 (a ratio of counts); we compute it in double. activation=none takes
 * probabilities (checked in [0, 1]); activation=sigmoid, logits with a sigmoid
 * per class. With one channel the labels are a 0/1 mask and the channel is
 * label 1 (its background term is then left out).
 *
 * Why not the region driver (core/region.h): its stats rows hold point-wise
 * sums in the public column layout of every region loss (LK_STAT_* in
 * losskit.h), computed over flat pixel blocks; the boundary count needs each
 * pixel's neighbours in the image's geometry, and one more column would change
 * the stats layout of every region loss. So this loss has its own kernel: one
 * task per (image, class) sums I, Z, S and C over the whole image, the images'
 * sums are added in image order (bit-identical for any thread count), and a
 * second pass writes d loss / d p. It has no statistics API.
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
#include "core/tensor.h"

enum { P_ALPHA_MAX, P_SMOOTH, P_ACTIVATION, P_COUNT };

/* The sums of one (image, class). */
typedef struct dou_sums {
    double intersection; /* sum p g */
    double squares;      /* sum p^2 */
    int64_t area;        /* sum g = sum g^2: the class's pixels */
    int64_t boundary;    /* the class's pixels with a face neighbour outside it */
} dou_sums;

typedef struct dou_run {
    const lk_call *call;
    lk_probability_maps maps;
    dou_sums *sums;                /* [N x C] */
    double *coef_prob, *coef_target; /* [C] d loss / d p = coef_prob p + coef_target g */
} dou_run;

/* Whether the pixel at (z, y, x) of a label map of `depth x height x width`
 * whose label is c has a face neighbour that is not c (or lies outside). */
static int on_boundary(const int32_t *label, int64_t z, int64_t y, int64_t x, int64_t depth,
                       int64_t height, int64_t width, int volume, int32_t c)
{
    int64_t plane = height * width, at = z * plane + y * width + x;
    if (x == 0 || x + 1 == width || y == 0 || y + 1 == height) return 1;
    if (label[at - 1] != c || label[at + 1] != c || label[at - width] != c || label[at + width] != c)
        return 1;
    if (!volume) return 0;
    return z == 0 || z + 1 == depth || label[at - plane] != c || label[at + plane] != c;
}

/* The boundary count of class c in one image's labels. */
static int64_t boundary_count(const lk_probability_maps *maps, const int32_t *label, int32_t c)
{
    int64_t count = 0, width = maps->width, height = maps->height;
    for (int64_t z = 0; z < maps->depth; z++)
        for (int64_t y = 0; y < height; y++) {
            const int32_t *row = label + (z * height + y) * width;
            for (int64_t x = 0; x < width; x++)
                if (row[x] == c)
                    count += on_boundary(label, z, y, x, maps->depth, height, width, maps->volume, c);
        }
    return count;
}

#define LK_TYPED_FILE "boundary/boundary_dou.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

LK_HOT static void LK_T(sums_task)(void *arg, int64_t task, int worker)
{
    (void)worker;
    dou_run *run = arg;
    const lk_probability_maps *maps = &run->maps;
    int64_t spatial = maps->spatial, c = task % maps->classes, n = task / maps->classes;
    const lk_real *restrict p = (const lk_real *)maps->prob + lk_probability_map_offset(maps, n, c);
    const int32_t *restrict label = maps->label + n * spatial;
    double intersection[LK_LANES] = {0}, squares[LK_LANES] = {0};
    int64_t area = 0;
    for (int64_t first = 0; first < spatial; first += LK_LANES) {
        int len = (int)(spatial - first < LK_LANES ? spatial - first : LK_LANES);
        for (int j = 0; j < len; j++) {
            double value = (double)p[first + j];
            int in_class = label[first + j] == c;
            intersection[j] += in_class ? value : 0;
            squares[j] += value * value;
            area += in_class;
        }
    }
    dou_sums *sums = &run->sums[task];
    sums->intersection = lk_lanes_total(intersection);
    sums->squares = lk_lanes_total(squares);
    sums->area = area;
    sums->boundary = area ? boundary_count(maps, label, (int32_t)c) : 0;
}

LK_HOT static void LK_T(gradient_task)(void *arg, int64_t task, int worker)
{
    (void)worker;
    dou_run *run = arg;
    const lk_probability_maps *maps = &run->maps;
    int64_t spatial = maps->spatial, c = task % maps->classes, n = task / maps->classes;
    int64_t offset = lk_probability_map_offset(maps, n, c);
    const lk_real *restrict p = (const lk_real *)maps->prob + offset;
    const int32_t *restrict label = maps->label + n * spatial;
    lk_real *restrict out = (lk_real *)maps->upstream + offset;
    const lk_real coef_prob = (lk_real)run->coef_prob[c], coef_target = (lk_real)run->coef_target[c];
    for (int64_t s = 0; s < spatial; s++) out[s] = coef_prob * p[s] + (label[s] == c ? coef_target : 0);
}

#endif /* typed section */

#ifndef LK_REAL

static lk_status dou_check(const lk_call *call)
{
    return lk_probability_maps_check(call, lk_param_choice(call->params, P_ACTIVATION));
}

/* L_i from the batch's sums of class i; sets the coefficients of its gradient. */
static double class_term(const dou_sums *total, double alpha_max, double smooth, double classes,
                         double *coef_prob, double *coef_target)
{
    double area = (double)total->area, boundary = (double)total->boundary;
    double alpha = 2 * (1 - (boundary + smooth) / (area + smooth)) - 1;
    alpha = alpha < alpha_max ? alpha : alpha_max;
    double base = total->squares + area; /* Z + Y */
    double numerator = base - 2 * total->intersection + smooth;
    double denominator = base - (1 + alpha) * total->intersection + smooth;
    double scale = 1 / (denominator * denominator * classes);
    *coef_prob = 2 * (denominator - numerator) * scale;
    *coef_target = ((1 + alpha) * numerator - 2 * denominator) * scale;
    return numerator / denominator;
}

static lk_status dou_compute(const lk_call *call)
{
    dou_run run;
    memset(&run, 0, sizeof run);
    run.call = call;
    const lk_tensor *input = &call->inputs[0];
    int64_t classes = call->classes, tasks = call->batch * classes;
    lk_status status = lk_probability_maps_prepare(&run.maps, call, lk_param_choice(call->params, P_ACTIVATION));
    if (status != LK_OK) return status;
    run.sums = malloc((size_t)tasks * sizeof *run.sums);
    run.coef_prob = malloc((size_t)classes * sizeof(double));
    run.coef_target = malloc((size_t)classes * sizeof(double));
    if (!run.sums || !run.coef_prob || !run.coef_target)
        status = lk_fail(LK_ENOMEM, "out of memory for the Boundary DoU loss");
    int f32 = input->dtype == LK_F32;
    if (status == LK_OK)
        lk_parallel_for_items(call->ctx, tasks, lk_numel(input), f32 ? sums_task_f32 : sums_task_f64,
                              &run);
    double total = 0;
    double alpha_max = lk_param_float(call->params, P_ALPHA_MAX), smooth = lk_param_float(call->params, P_SMOOTH);
    for (int64_t c = 0; status == LK_OK && c < classes; c++) {
        dou_sums batch = {0, 0, 0, 0};
        for (int64_t n = 0; n < call->batch; n++) { /* image order: the same bits for any thread count */
            const dou_sums *image = &run.sums[n * classes + c];
            batch.intersection += image->intersection;
            batch.squares += image->squares;
            batch.area += image->area;
            batch.boundary += image->boundary;
        }
        total += class_term(&batch, alpha_max, smooth, (double)classes, &run.coef_prob[c],
                            &run.coef_target[c]);
    }
    if (status == LK_OK) status = lk_finish_loss(call, total, 1 / (double)classes);
    if (status == LK_OK && run.maps.upstream) {
        lk_parallel_for_items(call->ctx, tasks, lk_numel(input),
                              f32 ? gradient_task_f32 : gradient_task_f64, &run);
        lk_probability_maps_backward(&run.maps);
    }
    lk_probability_maps_free(&run.maps);
    free(run.sums);
    free(run.coef_prob);
    free(run.coef_target);
    return status;
}

static const lk_input_info dou_inputs[] = {
    LK_INPUT_MAP_SCORES("scores (N, C, H, W) or (N, C, D, H, W): logits, or probabilities with "
                        "activation=none"),
    LK_INPUT_MAP_LABELS,
};

static const lk_param_info dou_params[P_COUNT] = {
    [P_ALPHA_MAX] = {"alpha_max", LK_PARAM_FLOAT, "0.8", -1, 1, 0, NULL,
                     "alpha is truncated at this value (the authors' recommended 0.8; 1: no "
                     "truncation, since alpha < 1)"},
    [P_SMOOTH] = {"smooth", LK_PARAM_FLOAT, "1e-05", 0, 1, LK_RANGE_MIN_OPEN, NULL,
                  "s, added to both counts of alpha and to the ratio's numerator and denominator "
                  "(the authors' 1e-5)"},
    [P_ACTIVATION] = LK_PARAM_MAPS_ACTIVATION(
        "softmax", "softmax: logits, softmax over the classes (the authors'); none: probabilities; "
                   "sigmoid: logits, a sigmoid per class"),
};

static const char *const dou_examples[] = {
    "",
    "alpha_max=1",
    "activation=none,smooth=1e-3",
    "activation=sigmoid,alpha_max=0.5",
    NULL,
};

const lk_loss_desc lk_loss_boundary_dou = {
    .name = "boundary_dou",
    .category = LK_CATEGORY_BOUNDARY,
    .summary = "Boundary Difference over Union loss: a ratio of soft overlaps weighted by the "
               "target's boundary-to-area ratio (the authors' BoundaryDoULoss)",
    .formula = "L_i = (Z + Y - 2 I + s) / (Z + Y - (1 + alpha_i) I + s), I = sum p g, Y = sum g^2, "
               "Z = sum p^2 over the batch; alpha_i = min(1 - 2 (C_i + s)/(S_i + s), alpha_max); "
               "loss = mean over classes",
    .reference = "F. Sun, Z. Luo, S. Li, Boundary Difference over Union Loss for Medical Image "
                 "Segmentation, MICCAI 2023",
    .notes = "The authors' code: softmax inside, background included, batch sums, s = 1e-5, alpha "
             "truncated at 0.8. C: the class's pixels with a face neighbour outside it (image "
             "border outside); 3-D (not in the paper) uses the 6 face neighbours. An absent class "
             "adds 1. No statistics API (its own kernel).",
    LK_DESC_INPUTS(dou_inputs),
    LK_DESC_PARAMS(dou_params),
    .examples = dou_examples,
    .output = LK_OUTPUT_SCALAR,
    .check = dou_check,
    .compute = dou_compute,
};

#endif
