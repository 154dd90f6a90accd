/*
 * InverseForm (Borse et al., CVPR 2021): the distance between a predicted
 * and a target edge map as measured by a frozen network, InverseNet, trained
 * beforehand to regress the parameters of the spatial transformation between
 * two edge maps. The loss is small when the network sees no transformation.
 *
 * For each edge map (n, c) of the batch, with P = activation(input[n, c])
 * (the edge probability) and G = target[n, c]:
 *
 *   P', G' = bilinear resize of P and G to (R T, Q T)  (F.interpolate,
 *            mode='bilinear', align_corners=False, no antialiasing)
 *   tile (n, c, i, j): x = [vec(P'_ij), vec(G'_ij)], the T x T tiles at tile
 *            row i < R and column j < Q, each flattened row-major, the
 *            prediction's first: 2 T T values
 *   o = W3 relu(W2 relu(W1 x + b1) + b2) + b3          (D values)
 *   l_(n,c,i,j) = ||o||_2
 *   loss = mean of l over the N C R Q tiles (sum with reduction=sum; the
 *          (N, C, R, Q) values with reduction=none)
 *
 * Gradient, with respect to the input only (the network and the target are
 * constants): d l / d o = o / ||o||, back through the layers (d relu(z) /
 * d z = [z > 0]), d x_pred = W1[:, :TT]^T d h1 (W1's gradient is never
 * formed), then through the tiling and the resize (its adjoint: each output
 * pixel's gradient goes back to its 4 source pixels with its bilinear
 * weights) and the sigmoid (p (1 - p)). Conventions at the kinks: relu'(0) =
 * 0 (as torch), and a tile whose o is exactly 0 has gradient 0 (the
 * reference's (sum o^2)^0.5 gives NaN there).
 *
 * The network: Linear(2 T T, H1) -> ReLU -> Linear(H1, H2) -> ReLU ->
 * Linear(H2, D), given as six inputs W1 (H1, 2 T T), b1 (H1,), W2 (H2, H1),
 * b2, W3 (D, H2), b3, as torch.nn.Linear holds them; T is read from W1's
 * shape. The reference's InverseNet is T = 224, H1 = 1000, H2 = 32, D = 4
 * (SmallInverseNet: T = 112, D = 2). Its trained weights are not part of
 * losskit and cannot be downloaded here: the user supplies them, in the file
 * format of docs/inverse-form.md (lk_inverse_form_weights_load).
 *
 * Reference: S. Borse, Y. Wang, Y. Zhang, F. Porikli, "InverseForm: A Loss
 * Function for Structured Boundary-Aware Segmentation", CVPR 2021; code:
 * Qualcomm-AI-research/InverseForm, models/loss/utils.py
 * (InverseTransform2D) and models/InverseForm.py (InverseNet).
 *
 * Where this differs from the reference code: it applies
 * F.log_softmax(inputs) over the edge head's one channel, which is
 * identically 0, so that as written the network always sees an empty
 * prediction and the term has no gradient. The paper's intent, followed
 * here, is the edge probability: sigmoid of the edge logits (the same
 * logits its edge BCE reads with binary_cross_entropy_with_logits);
 * activation=none takes probabilities as given. The reference's exact
 * behaviour (a constant) is not offered. Its grid is fixed, 672 x 1344 =
 * 3 x 6 tiles of 224 (tile_rows, tile_cols here). With C > 1 channels each
 * channel is an edge map of its own, paired with the same channel of the
 * target, as the reference's view(-1, 224 * 224) would do.
 *
 * Speed: the first layer is one GEMM (general/similarity.h) of all the
 * batch's tiles, N C R Q rows, by W1^T: W1 is read once per 64 of its rows
 * and column block; the backward pass multiplies by the prediction's half
 * of W1 only. Deterministic for any thread count: each GEMM element is one
 * chain of products, the resize and its adjoint run one edge map per task,
 * and the tiles' losses are added in tile order.
 */
#ifndef LK_REAL
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/chunks.h"
#include "core/context.h"
#include "core/hot.h"
#include "core/loss.h"
#include "core/scratch.h"
#include "core/tensor.h"
#include "core/vecmath.h"
#include "general/similarity.h"

enum { P_ACTIVATION, P_TILE_ROWS, P_TILE_COLS, P_REDUCTION, P_COUNT };
enum { IN_EDGES, IN_TARGET, IN_W1, IN_B1, IN_W2, IN_B2, IN_W3, IN_B3, IN_COUNT };

/* The network's sizes and the tiling of one call. */
typedef struct inverse_form_shape {
    int64_t maps;          /* N C edge maps */
    int64_t height, width; /* of each map */
    int64_t side;          /* T */
    int64_t grid_rows, grid_cols, tiles; /* R, Q; N C R Q */
    int64_t pair;          /* 2 T T: one row of the network's input */
    int64_t hidden1, hidden2, outputs;
} inverse_form_shape;

/* One output axis of the resize: output position i reads source positions
 * index[2 i] and index[2 i + 1] with weights weight[2 i] and weight[2 i + 1]
 * (lk_real). */
typedef struct resize_axis {
    int64_t *index;
    void *weight;
} resize_axis;

typedef struct inverse_form_run {
    const lk_call *call;
    inverse_form_shape shape;
    int sigmoid;
    resize_axis rows, cols;
    void *prob;       /* maps x H x W: the edge probabilities */
    void *pairs;      /* tiles x pair: the network's input; then d loss / d pred half (tiles x T T) */
    void *hidden1;    /* tiles x H1: relu(W1 x + b1) */
    void *hidden2;    /* tiles x H2 */
    void *out;        /* tiles x D */
    void *grad_hidden1, *grad_hidden2, *grad_out;
    double *tile_loss; /* tiles */
    char *work;       /* per worker: an H x (Q T) resize buffer */
    size_t work_stride;
    lk_chunk_error *errors; /* per map: the first invalid input or target value */
} inverse_form_run;

static void read_shape(const lk_call *call, inverse_form_shape *s)
{
    const lk_tensor *edges = &call->inputs[IN_EDGES], *w1 = &call->inputs[IN_W1];
    s->maps = edges->shape[0] * edges->shape[1];
    s->height = edges->shape[2];
    s->width = edges->shape[3];
    s->pair = w1->shape[1];
    s->side = (int64_t)floor(sqrt((double)s->pair / 2) + 0.5);
    s->grid_rows = lk_param_int(call->params, P_TILE_ROWS);
    s->grid_cols = lk_param_int(call->params, P_TILE_COLS);
    s->tiles = s->maps * s->grid_rows * s->grid_cols;
    s->hidden1 = w1->shape[0];
    s->hidden2 = call->inputs[IN_W2].shape[0];
    s->outputs = call->inputs[IN_W3].shape[0];
}

/* The buffers of a run, laid out in one area (base NULL: measuring). */
static size_t lay_out(inverse_form_run *run, char *base, size_t real)
{
    const inverse_form_shape *s = &run->shape;
    lk_scratch area = {base, 0};
    int64_t out_rows = s->grid_rows * s->side, out_cols = s->grid_cols * s->side;
    run->rows.index = lk_scratch_take(&area, (size_t)(2 * out_rows) * sizeof(int64_t));
    run->cols.index = lk_scratch_take(&area, (size_t)(2 * out_cols) * sizeof(int64_t));
    run->rows.weight = lk_scratch_take(&area, (size_t)(2 * out_rows) * real);
    run->cols.weight = lk_scratch_take(&area, (size_t)(2 * out_cols) * real);
    run->prob = lk_scratch_take(&area, (size_t)(s->maps * s->height * s->width) * real);
    run->pairs = lk_scratch_take(&area, (size_t)(s->tiles * s->pair) * real);
    run->hidden1 = lk_scratch_take(&area, (size_t)(s->tiles * s->hidden1) * real);
    run->hidden2 = lk_scratch_take(&area, (size_t)(s->tiles * s->hidden2) * real);
    run->out = lk_scratch_take(&area, (size_t)(s->tiles * s->outputs) * real);
    run->grad_hidden1 = lk_scratch_take(&area, (size_t)(s->tiles * s->hidden1) * real);
    run->grad_hidden2 = lk_scratch_take(&area, (size_t)(s->tiles * s->hidden2) * real);
    run->grad_out = lk_scratch_take(&area, (size_t)(s->tiles * s->outputs) * real);
    run->tile_loss = lk_scratch_take(&area, (size_t)s->tiles * sizeof(double));
    run->errors = lk_scratch_take(&area, (size_t)s->maps * sizeof(lk_chunk_error));
    run->work_stride = (size_t)(s->height * out_cols) * real;
    run->work_stride = (run->work_stride + LK_SCRATCH_ALIGN - 1) / LK_SCRATCH_ALIGN * LK_SCRATCH_ALIGN;
    run->work = lk_scratch_take(&area, run->work_stride * (size_t)lk_context_threads(run->call->ctx));
    return lk_scratch_size(&area);
}

enum { ERROR_IN_INPUT = 0, ERROR_IN_TARGET = 1 };

#define LK_TYPED_FILE "boundary/inverse_form.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

/* The source positions and weights of each output position along one axis,
 * as torch's upsample_bilinear2d computes them (align_corners=False, in the
 * element type, as its opmath): source = (i + 0.5) in / out - 0.5, at least
 * 0; the same size is copied as is. */
static void LK_T(axis_table)(int64_t in, int64_t out, resize_axis *axis)
{
    lk_real *weight = axis->weight;
    const lk_real scale = (lk_real)in / (lk_real)out;
    for (int64_t i = 0; i < out; i++) {
        int64_t first = i;
        lk_real far = 0;
        if (in != out) {
            lk_real source = scale * ((lk_real)i + (lk_real)0.5) - (lk_real)0.5;
            source = source < 0 ? 0 : source;
            first = (int64_t)floor(source) < in - 1 ? (int64_t)floor(source) : in - 1;
            far = source - (lk_real)first;
            far = far < 0 ? 0 : far > 1 ? 1 : far;
        }
        axis->index[2 * i] = first;
        axis->index[2 * i + 1] = first + (first < in - 1 && in != out ? 1 : 0);
        weight[2 * i] = 1 - far;
        weight[2 * i + 1] = far;
    }
}

/* Checks map m of the input (finite; in [0, 1] without activation) and of
 * the target (in [0, 1]), and writes its edge probabilities. */
LK_HOT static void LK_T(probability_task)(void *arg, int64_t map, int worker)
{
    (void)worker;
    inverse_form_run *run = arg;
    const lk_call *call = run->call;
    int64_t pixels = run->shape.height * run->shape.width;
    const lk_real *restrict x = (const lk_real *)call->inputs[IN_EDGES].data + map * pixels;
    const lk_real *restrict g = (const lk_real *)call->inputs[IN_TARGET].data + map * pixels;
    lk_real *restrict p = (lk_real *)run->prob + map * pixels;
    run->errors[map].index = -1;
    int bad_input = 0, bad_target = 0;
    if (run->sigmoid)
        for (int64_t k = 0; k < pixels; k++) bad_input |= !(x[k] - x[k] == 0);
    else
        for (int64_t k = 0; k < pixels; k++) bad_input |= !(x[k] >= 0 && x[k] <= 1);
    for (int64_t k = 0; k < pixels; k++) bad_target |= !(g[k] >= 0 && g[k] <= 1);
    for (int64_t k = 0; (bad_input || bad_target) && k < pixels; k++) {
        int input_wrong = run->sigmoid ? !(x[k] - x[k] == 0) : !(x[k] >= 0 && x[k] <= 1);
        if (input_wrong || !(g[k] >= 0 && g[k] <= 1)) {
            run->errors[map].index = map * pixels + k;
            run->errors[map].input = input_wrong ? ERROR_IN_INPUT : ERROR_IN_TARGET;
            return;
        }
    }
    if (run->sigmoid)
        for (int64_t k = 0; k < pixels; k++) p[k] = lk_sigmoid(x[k]);
    else
        memcpy(p, x, (size_t)pixels * sizeof(lk_real));
}

/* work (H x Q T) = the map resized along its rows (the horizontal pass). */
static void LK_T(resize_rows)(const inverse_form_run *run, const lk_real *restrict map,
                              lk_real *restrict work)
{
    const inverse_form_shape *s = &run->shape;
    int64_t out_cols = s->grid_cols * s->side;
    const int64_t *restrict index = run->cols.index;
    const lk_real *restrict weight = run->cols.weight;
    for (int64_t r = 0; r < s->height; r++) {
        const lk_real *restrict row = map + r * s->width;
        lk_real *restrict to = work + r * out_cols;
        for (int64_t j = 0; j < out_cols; j++)
            to[j] = row[index[2 * j]] * weight[2 * j] + row[index[2 * j + 1]] * weight[2 * j + 1];
    }
}

/* Resizes one image of the map (`half` 0: the prediction, 1: the target)
 * into its tiles' rows of pairs: the vertical pass, from work. */
static void LK_T(resize_into_tiles)(const inverse_form_run *run, int64_t map, int half,
                                    const lk_real *restrict work)
{
    const inverse_form_shape *s = &run->shape;
    int64_t side = s->side, out_cols = s->grid_cols * side, area = side * side;
    const int64_t *index = run->rows.index;
    const lk_real *weight = run->rows.weight;
    for (int64_t i = 0; i < s->grid_rows * side; i++) {
        const lk_real *restrict near = work + index[2 * i] * out_cols;
        const lk_real *restrict far = work + index[2 * i + 1] * out_cols;
        const lk_real near_weight = weight[2 * i], far_weight = weight[2 * i + 1];
        int64_t tile_row = map * s->grid_rows + i / side;
        for (int64_t tile_col = 0; tile_col < s->grid_cols; tile_col++) {
            lk_real *restrict to = (lk_real *)run->pairs + (tile_row * s->grid_cols + tile_col) * s->pair +
                                   half * area + (i % side) * side;
            const lk_real *restrict a = near + tile_col * side, *restrict b = far + tile_col * side;
            for (int64_t x = 0; x < side; x++) to[x] = a[x] * near_weight + b[x] * far_weight;
        }
    }
}

/* The network's input rows of map m's tiles: its probabilities and target,
 * resized and cut. */
LK_HOT static void LK_T(tile_task)(void *arg, int64_t map, int worker)
{
    inverse_form_run *run = arg;
    int64_t pixels = run->shape.height * run->shape.width;
    lk_real *work = (lk_real *)(run->work + (size_t)worker * run->work_stride);
    LK_T(resize_rows)(run, (const lk_real *)run->prob + map * pixels, work);
    LK_T(resize_into_tiles)(run, map, 0, work);
    LK_T(resize_rows)(run, (const lk_real *)run->call->inputs[IN_TARGET].data + map * pixels, work);
    LK_T(resize_into_tiles)(run, map, 1, work);
}

/* The adjoint of the resize for map m: the gradient of its tiles'
 * predictions (pairs, T T per tile) back to the input pixels, then through
 * the sigmoid. */
LK_HOT static void LK_T(untile_task)(void *arg, int64_t map, int worker)
{
    inverse_form_run *run = arg;
    const inverse_form_shape *s = &run->shape;
    int64_t side = s->side, area = side * side, out_cols = s->grid_cols * side;
    int64_t pixels = s->height * s->width;
    lk_real *restrict work = (lk_real *)(run->work + (size_t)worker * run->work_stride);
    memset(work, 0, (size_t)(s->height * out_cols) * sizeof(lk_real));
    const int64_t *index = run->rows.index;
    const lk_real *weight = run->rows.weight;
    for (int64_t i = 0; i < s->grid_rows * side; i++) {
        lk_real *restrict near = work + index[2 * i] * out_cols;
        lk_real *restrict far = work + index[2 * i + 1] * out_cols;
        const lk_real near_weight = weight[2 * i], far_weight = weight[2 * i + 1];
        int64_t tile_row = map * s->grid_rows + i / side;
        for (int64_t tile_col = 0; tile_col < s->grid_cols; tile_col++) {
            const lk_real *restrict from = (const lk_real *)run->pairs +
                                           (tile_row * s->grid_cols + tile_col) * area + (i % side) * side;
            for (int64_t x = 0; x < side; x++) near[tile_col * side + x] += near_weight * from[x];
            for (int64_t x = 0; x < side; x++) far[tile_col * side + x] += far_weight * from[x];
        }
    }
    lk_real *restrict grad = (lk_real *)lk_grad_data(run->call, IN_EDGES) + map * pixels;
    const int64_t *restrict col_index = run->cols.index;
    const lk_real *restrict col_weight = run->cols.weight;
    memset(grad, 0, (size_t)pixels * sizeof(lk_real));
    for (int64_t r = 0; r < s->height; r++) {
        lk_real *restrict to = grad + r * s->width;
        const lk_real *restrict from = work + r * out_cols;
        for (int64_t j = 0; j < out_cols; j++) {
            to[col_index[2 * j]] += col_weight[2 * j] * from[j];
            to[col_index[2 * j + 1]] += col_weight[2 * j + 1] * from[j];
        }
    }
    if (!run->sigmoid) return;
    const lk_real *restrict x = (const lk_real *)run->call->inputs[IN_EDGES].data + map * pixels;
    for (int64_t k = 0; k < pixels; k++) {
        lk_real p, q, neg_log_p;
        lk_logistic(x[k], &p, &q, &neg_log_p);
        grad[k] *= p * q;
    }
}

/* h = relu(h + bias), rows x width, in place; returns 0 if a value before
 * the relu is not finite (a NaN or infinity in the layer's weights, or an
 * overflow). */
static int LK_T(bias_relu)(lk_real *restrict h, const lk_real *restrict bias, int64_t rows, int64_t width)
{
    int bad = 0;
    for (int64_t t = 0; t < rows; t++) {
        lk_real *restrict row = h + t * width;
        for (int64_t k = 0; k < width; k++) {
            lk_real z = row[k] + bias[k];
            bad |= !(z - z == 0);
            row[k] = z > 0 ? z : 0;
        }
    }
    return !bad;
}

/* The network on every tile; tile_loss = ||o||. Returns the input slot of
 * the layer whose output was not finite, or -1. */
static int LK_T(network_forward)(inverse_form_run *run)
{
    const inverse_form_shape *s = &run->shape;
    const lk_call *call = run->call;
    lk_context *ctx = call->ctx;
    const lk_real *w1 = call->inputs[IN_W1].data, *w2 = call->inputs[IN_W2].data, *w3 = call->inputs[IN_W3].data;
    lk_real *h1 = run->hidden1, *h2 = run->hidden2, *o = run->out;
    LK_T(lk_gemm)(ctx, lk_plain(run->pairs, s->pair), lk_transposed(w1, s->pair), h1, s->hidden1, s->tiles,
                  s->pair, s->hidden1, 1, 0);
    if (!LK_T(bias_relu)(h1, call->inputs[IN_B1].data, s->tiles, s->hidden1)) return IN_W1;
    LK_T(lk_gemm)(ctx, lk_plain(h1, s->hidden1), lk_transposed(w2, s->hidden1), h2, s->hidden2, s->tiles,
                  s->hidden1, s->hidden2, 1, 0);
    if (!LK_T(bias_relu)(h2, call->inputs[IN_B2].data, s->tiles, s->hidden2)) return IN_W2;
    LK_T(lk_gemm)(ctx, lk_plain(h2, s->hidden2), lk_transposed(w3, s->hidden2), o, s->outputs, s->tiles,
                  s->hidden2, s->outputs, 1, 0);
    const lk_real *b3 = call->inputs[IN_B3].data;
    for (int64_t t = 0; t < s->tiles; t++) {
        double squares = 0;
        for (int64_t d = 0; d < s->outputs; d++) {
            o[t * s->outputs + d] += b3[d];
            squares += (double)o[t * s->outputs + d] * (double)o[t * s->outputs + d];
        }
        run->tile_loss[t] = sqrt(squares);
    }
    return -1;
}

/* g *= [h > 0] (the relu's derivative, 0 at 0). */
static void LK_T(relu_backward)(lk_real *restrict g, const lk_real *restrict h, int64_t count)
{
    for (int64_t k = 0; k < count; k++) g[k] = h[k] > 0 ? g[k] : 0;
}

/* d loss / d (the prediction half of each tile's input), into pairs (tiles x
 * T T): scale o / ||o|| back through the layers. */
static void LK_T(network_backward)(inverse_form_run *run, double scale)
{
    const inverse_form_shape *s = &run->shape;
    const lk_call *call = run->call;
    lk_context *ctx = call->ctx;
    const lk_real *w1 = call->inputs[IN_W1].data, *w2 = call->inputs[IN_W2].data, *w3 = call->inputs[IN_W3].data;
    const lk_real *o = run->out;
    lk_real *go = run->grad_out, *g2 = run->grad_hidden2, *g1 = run->grad_hidden1;
    for (int64_t t = 0; t < s->tiles; t++) {
        double norm = run->tile_loss[t];
        const lk_real factor = (lk_real)(norm > 0 ? scale * lk_upstream(call, t) / norm : 0);
        for (int64_t d = 0; d < s->outputs; d++) go[t * s->outputs + d] = factor * o[t * s->outputs + d];
    }
    LK_T(lk_gemm)(ctx, lk_plain(go, s->outputs), lk_plain(w3, s->hidden2), g2, s->hidden2, s->tiles, s->outputs,
                  s->hidden2, 1, 0);
    LK_T(relu_backward)(g2, run->hidden2, s->tiles * s->hidden2);
    LK_T(lk_gemm)(ctx, lk_plain(g2, s->hidden2), lk_plain(w2, s->hidden1), g1, s->hidden1, s->tiles, s->hidden2,
                  s->hidden1, 1, 0);
    LK_T(relu_backward)(g1, run->hidden1, s->tiles * s->hidden1);
    LK_T(lk_gemm)(ctx, lk_plain(g1, s->hidden1), lk_plain(w1, s->pair), run->pairs, s->side * s->side, s->tiles,
                  s->hidden1, s->side * s->side, 1, 0);
}

#endif /* typed section */

#ifndef LK_REAL

static lk_status inverse_form_check(const lk_call *call)
{
    const lk_tensor *edges = &call->inputs[IN_EDGES];
    if (edges->ndim != 4) {
        char got[LK_SHAPE_TEXT];
        return lk_fail(LK_ESHAPE, "loss 'inverse_form': input '%s' must be edge maps (N, C, H, W); got shape %s",
                       call->desc->inputs[IN_EDGES].name, lk_format_shape(edges, got, sizeof got));
    }
    inverse_form_shape s;
    read_shape(call, &s);
    double pair_values = (double)s.tiles * (double)s.pair;
    double work_values = (double)s.height * (double)(s.grid_cols * s.side);
    if (pair_values > (double)LK_MAX_NUMEL || work_values > (double)LK_MAX_NUMEL)
        return lk_fail(LK_ESHAPE, "loss 'inverse_form': %lld tiles of 2 x %lld x %lld values are too many",
                       (long long)s.tiles, (long long)s.side, (long long)s.side);
    return LK_OK;
}

/* LK_EVALUE for the first invalid value of the input or the target. */
static lk_status report_map_error(const inverse_form_run *run)
{
    const lk_chunk_error *error = lk_first_chunk_error(run->errors, run->shape.maps);
    if (!error) return LK_OK;
    const lk_call *call = run->call;
    if (error->input == ERROR_IN_TARGET)
        return lk_unit_interval_error(&call->inputs[IN_TARGET], call->desc->inputs[IN_TARGET].name,
                                      error->index, "an edge probability", "");
    if (!run->sigmoid)
        return lk_unit_interval_error(&call->inputs[IN_EDGES], call->desc->inputs[IN_EDGES].name,
                                      error->index, "an edge probability",
                                      " (activation=none; pass logits with activation=sigmoid)");
    char where[LK_INDEX_TEXT];
    return lk_fail(LK_EVALUE, "input '%s'%s = %g: inputs must be finite", call->desc->inputs[IN_EDGES].name,
                   lk_format_index(&call->inputs[IN_EDGES], error->index, where, sizeof where),
                   lk_read_real(&call->inputs[IN_EDGES], error->index));
}

/* LK_EVALUE naming the first NaN or infinity of weight input `slot`, or
 * LK_OK if it has none. */
static lk_status check_weight(const lk_call *call, size_t slot)
{
    int64_t bad = lk_find_nonfinite(&call->inputs[slot]);
    if (bad < 0) return LK_OK;
    char where[LK_INDEX_TEXT];
    return lk_fail(LK_EVALUE, "input '%s'%s = %g: the network's weights must be finite",
                   call->desc->inputs[slot].name, lk_format_index(&call->inputs[slot], bad, where, sizeof where),
                   lk_read_real(&call->inputs[slot], bad));
}

/* The small layers' weights and biases, before the run (W1 is checked
 * through its products, which a non-finite weight always makes non-finite). */
static lk_status check_small_layers(const lk_call *call)
{
    lk_status status = LK_OK;
    for (size_t slot = IN_B1; status == LK_OK && slot < IN_COUNT; slot++) status = check_weight(call, slot);
    return status;
}

/* A layer's output was not finite: names the weight at fault, or reports
 * the overflow. */
static lk_status report_layer(const lk_call *call, int slot)
{
    lk_status status = check_weight(call, (size_t)slot);
    if (status != LK_OK) return status;
    return lk_fail(LK_EVALUE, "loss 'inverse_form': the layer of input '%s' overflowed although every "
                              "weight is finite", call->desc->inputs[slot].name);
}

static void store_tile_losses(const lk_call *call, const double *tile_loss, int64_t tiles)
{
    if (call->loss->dtype == LK_F32)
        for (int64_t t = 0; t < tiles; t++) ((float *)call->loss->data)[t] = (float)tile_loss[t];
    else
        memcpy(call->loss->data, tile_loss, (size_t)tiles * sizeof(double));
}

static lk_status run_forward(inverse_form_run *run, int f32, double *total)
{
    const lk_call *call = run->call;
    const inverse_form_shape *s = &run->shape;
    int64_t out_rows = s->grid_rows * s->side, out_cols = s->grid_cols * s->side;
    if (f32) {
        axis_table_f32(s->height, out_rows, &run->rows);
        axis_table_f32(s->width, out_cols, &run->cols);
    } else {
        axis_table_f64(s->height, out_rows, &run->rows);
        axis_table_f64(s->width, out_cols, &run->cols);
    }
    int64_t pixels = s->maps * s->height * s->width;
    lk_parallel_for_items(call->ctx, s->maps, pixels, f32 ? probability_task_f32 : probability_task_f64, run);
    lk_status status = report_map_error(run);
    if (status == LK_OK) status = check_small_layers(call);
    if (status != LK_OK) return status;
    lk_parallel_for_items(call->ctx, s->maps, s->tiles * s->pair, f32 ? tile_task_f32 : tile_task_f64, run);
    int bad_layer = f32 ? network_forward_f32(run) : network_forward_f64(run);
    if (bad_layer >= 0) return report_layer(call, bad_layer);
    *total = 0;
    for (int64_t t = 0; t < s->tiles; t++) *total += run->tile_loss[t];
    return LK_OK;
}

static lk_status inverse_form_compute(const lk_call *call)
{
    inverse_form_run run;
    memset(&run, 0, sizeof run);
    run.call = call;
    run.sigmoid = lk_param_choice(call->params, P_ACTIVATION) == LK_ACTIVATION_APPLY;
    read_shape(call, &run.shape);
    int f32 = call->inputs[IN_EDGES].dtype == LK_F32;
    size_t real = f32 ? sizeof(float) : sizeof(double);
    char *area = malloc(lay_out(&run, NULL, real));
    if (!area)
        return lk_fail(LK_ENOMEM, "loss 'inverse_form': out of memory for %lld tiles of %lld values",
                       (long long)run.shape.tiles, (long long)run.shape.pair);
    lay_out(&run, area, real);
    double total = 0, scale = call->reduction == LK_REDUCTION_MEAN ? 1 / (double)run.shape.tiles : 1;
    lk_status status = run_forward(&run, f32, &total);
    if (status == LK_OK && call->reduction == LK_REDUCTION_NONE && isfinite(total))
        store_tile_losses(call, run.tile_loss, run.shape.tiles);
    if (status == LK_OK) status = lk_finish_loss(call, total, scale);
    if (status == LK_OK && lk_grad_data(call, IN_EDGES)) {
        if (f32)
            network_backward_f32(&run, scale);
        else
            network_backward_f64(&run, scale);
        lk_parallel_for_items(call->ctx, run.shape.maps, run.shape.tiles * run.shape.pair,
                              f32 ? untile_task_f32 : untile_task_f64, &run);
    }
    free(area);
    return status;
}

static void per_tile(const lk_call *call, lk_tensor *out)
{
    out->ndim = 4;
    out->shape[0] = call->inputs[IN_EDGES].shape[0];
    out->shape[1] = call->inputs[IN_EDGES].shape[1];
    out->shape[2] = lk_param_int(call->params, P_TILE_ROWS);
    out->shape[3] = lk_param_int(call->params, P_TILE_COLS);
}

static const lk_input_info inverse_form_inputs[IN_COUNT] = {
    [IN_EDGES] = {"input", "edge maps (N, C, H, W): logits, or probabilities with activation=none (C = 1 "
                  "in the reference; each channel is a map of its own)",
                  LK_DTYPES_FLOAT, LK_SHAPE_SCORES, LK_DOMAIN_SCORES, 1},
    [IN_TARGET] = {"target", "target edge maps in [0, 1], shaped like input", LK_DTYPES_FLOAT,
                   LK_SHAPE_LIKE_FIRST, LK_DOMAIN_UNIT_INTERVAL, 0},
    [IN_W1] = {"w1", "the network's first weight (H1, 2 T T), reading a tile pair (prediction first); "
               "T = 224, H1 = 1000 in the reference", LK_DTYPES_FLOAT, LK_SHAPE_TILE_PAIR_WEIGHT,
               LK_DOMAIN_REAL, 0},
    [IN_B1] = {"b1", "its bias (H1,)", LK_DTYPES_FLOAT, LK_SHAPE_LAYER_BIAS, LK_DOMAIN_REAL, 0},
    [IN_W2] = {"w2", "the second weight (H2, H1); H2 = 32 in the reference", LK_DTYPES_FLOAT,
               LK_SHAPE_LAYER_WEIGHT, LK_DOMAIN_REAL, 0},
    [IN_B2] = {"b2", "its bias (H2,)", LK_DTYPES_FLOAT, LK_SHAPE_LAYER_BIAS, LK_DOMAIN_REAL, 0},
    [IN_W3] = {"w3", "the last weight (D, H2): D transformation parameters, 4 in the reference",
               LK_DTYPES_FLOAT, LK_SHAPE_LAYER_WEIGHT, LK_DOMAIN_REAL, 0},
    [IN_B3] = {"b3", "its bias (D,)", LK_DTYPES_FLOAT, LK_SHAPE_LAYER_BIAS, LK_DOMAIN_REAL, 0},
};

static const lk_param_info inverse_form_params[P_COUNT] = {
    [P_ACTIVATION] = LK_PARAM_SIGMOID_ACTIVATION,
    [P_TILE_ROWS] = {"tile_rows", LK_PARAM_INT, "3", 1, 256, 0, NULL,
                     "R: tile rows; the maps are resized to R T rows (the reference: 3, 672 rows)"},
    [P_TILE_COLS] = {"tile_cols", LK_PARAM_INT, "6", 1, 256, 0, NULL,
                     "Q: tile columns; the maps are resized to Q T columns (the reference: 6, 1344)"},
    [P_REDUCTION] = {"reduction", LK_PARAM_CHOICE, "mean", 0, 0, 0, "mean|sum|none",
                     "mean: over the N C R Q tiles (the reference); sum: their sum; none: the "
                     "(N, C, R, Q) tile values"},
};

static const char *const inverse_form_examples[] = {
    "",
    "activation=none,reduction=sum",
    "tile_rows=1,tile_cols=1",
    "tile_rows=2,tile_cols=3,reduction=none",
    NULL,
};

const lk_loss_desc lk_loss_inverse_form = {
    .name = "inverse_form",
    .category = LK_CATEGORY_BOUNDARY,
    .summary = "InverseForm: the norm of the transformation a frozen network (InverseNet, weights "
               "supplied by the user) reads between predicted and target edge tiles",
    .formula = "mean over tiles of || W3 relu(W2 relu(W1 [tile(resize(sigmoid(x))), tile(resize(y))] "
               "+ b1) + b2) + b3 ||_2",
    .reference = "S. Borse, Y. Wang, Y. Zhang, F. Porikli, InverseForm: A Loss Function for Structured "
                 "Boundary-Aware Segmentation, CVPR 2021",
    .notes = "The reference code (InverseTransform2D): bilinear resize (align_corners=False) of both "
             "maps to (R T, Q T) = 672 x 1344, 3 x 6 tiles of T = 224, each tile pair flattened "
             "row-major, prediction first, mean over the tiles of the L2 norm of the network's 4 "
             "outputs. It applies log_softmax over the edge head's single channel, which is "
             "identically 0 (a constant loss); losskit follows the paper's intent, the edge "
             "probability sigmoid(x) (activation=none: probabilities as given). Gradient of the "
             "input only; relu'(0) = 0 and a tile whose output is 0 has gradient 0. No weights ship "
             "with losskit: load the user's (docs/inverse-form.md).",
    LK_DESC_INPUTS(inverse_form_inputs),
    LK_DESC_PARAMS(inverse_form_params),
    .examples = inverse_form_examples,
    .output = LK_OUTPUT_PER_ANCHOR,
    .check = inverse_form_check,
    .compute = inverse_form_compute,
    .none_shape = per_tile,
    .takes_upstream = 1,
};

#endif
