/*
 * Region mutual information (RMI) loss: a lower bound of the mutual
 * information between the label map and the prediction, taken over each
 * pixel's r x r neighbourhood, plus a binary cross-entropy.
 *
 * Per image n and class c, with q = sigmoid(x) (1e-6 added; ignored pixels
 * 1e-6) and g the one-hot labels (ignored pixels 0):
 *
 *   pool q and g (max or average, kernel = stride = s, padding s/2; or none);
 *   the r x r neighbourhoods of the pooled maps, as d = r^2 dimensional
 *   points (M of them, one per position where the window fits): Y (labels)
 *   and X (predictions), each centered by its mean point;
 *   Sigma = Y Y^T - (Y X^T)(X X^T + alpha I)^-1 (X Y^T)
 *   rmi_nc = 1/2 log det(Sigma + alpha I)
 *   loss = lambda BCE + (1 - lambda) sum_c (1/N) sum_n rmi_nc / d
 *   BCE = sum over the pixels not ignored and the classes of
 *         bce(x, g) / (pixels not ignored + 1)
 *
 * Sigma is the posterior covariance of the labels' points given the
 * prediction's under a Gaussian model; minimizing its log-determinant
 * maximizes the lower bound of the mutual information (eq. 21 of the survey).
 *
 * Gradient. With B = Y X^T, P = (X X^T + alpha I)^-1 and W = (Sigma +
 * alpha I)^-1, d rmi_nc / d X = P B^T W (B P X - Y): through the Cholesky
 * log-det and the inverse, then to the pooled map (each point is a window of
 * it), through the pooling (to the window's first maximum, as PyTorch's
 * max_pool2d, or evenly for average pooling) and the sigmoid.
 *
 * Reference: S. Zhao, Y. Wang, Z. Yang, D. Cai, "Region Mutual Information
 * Loss for Semantic Segmentation", NeurIPS 2019; the authors' code
 * (ZJULearning/RMI, losses/rmi/rmi.py, RMILoss.forward_sigmoid).
 *
 * Conventions: the authors' defaults: radius 3, max pooling with stride 3,
 * alpha = 5e-4 (their _POS_ALPHA), lambda = 0.5, sigmoid probabilities, the
 * BCE over pixels not ignored divided by their count + 1, the log-det over d
 * and summed over the classes (their _IS_SUM = 1), matrices in float64; their
 * ignored label is 255, ours ignore_index (default 255). Their log-det adds
 * 1e-8 to the Cholesky diagonal before the log; ours is the exact log-det.
 * Their interpolation pooling (rmi_pool_way=2) is not offered. Images are 2-D
 * (N, C, H, W), at least large enough for one r x r window after pooling.
 */
#ifndef LK_REAL
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "core/hot.h"
#include "core/labels.h"
#include "core/linalg.h"
#include "core/loss.h"
#include "core/scratch.h"
#include "core/tensor.h"
#include "core/vecmath.h"

enum { P_RADIUS, P_POOL, P_POOL_STRIDE, P_LAMBDA, P_COVARIANCE_EPS, P_IGNORE_INDEX, P_COUNT };
enum { POOL_MAX = 0, POOL_AVG = 1, POOL_NONE = 2 };

#define CLIP_MIN 1e-6 /* added to the probabilities (the authors' _CLIP_MIN) */
#define LABEL_BLOCK 64

typedef struct rmi_geometry {
    int64_t height, width;                /* of the image */
    int64_t pooled_height, pooled_width;  /* after pooling */
    int64_t points_height, points_width;  /* window positions */
    int radius, dim, pool, stride, padding;
} rmi_geometry;

typedef struct rmi_run {
    const lk_call *call;
    rmi_geometry geometry;
    lk_label_rule label_rule;
    double alpha, bce_scale, rmi_scale;   /* bce_scale = lambda / (valid + 1) */
    double *task_bce, *task_rmi;          /* [N x C] */
    uint8_t *task_singular;               /* [N x C] a covariance was not positive definite */
    char *scratch;                        /* one area per worker */
    size_t scratch_size;
} rmi_run;

/* The double buffers of one (image, class) task. */
typedef struct rmi_buffers {
    double *q, *g, *dq;          /* [H x W] probabilities, targets, d bound / d q */
    double *slope, *bce_grad;    /* [H x W] dq/dx (0 where ignored), the BCE's d loss / d x */
    double *pooled_q, *pooled_g; /* [Hp x Wp] */
    double *dpooled;             /* [Hp x Wp] */
    int64_t *argmax;             /* [Hp x Wp] max pooling: where the maximum came from */
    double *x, *y, *grad, *work; /* [d x M] points and their gradient */
    double *label_cov, *inverse, *cross, *transfer, *posterior, *posterior_inverse, *chain; /* [d x d] */
} rmi_buffers;

static size_t rmi_layout(const rmi_geometry *geo, char *base, rmi_buffers *out)
{
    size_t image = (size_t)(geo->height * geo->width) * sizeof(double);
    size_t pooled = (size_t)(geo->pooled_height * geo->pooled_width) * sizeof(double);
    size_t points = (size_t)geo->dim * (size_t)(geo->points_height * geo->points_width) * sizeof(double);
    size_t square = (size_t)geo->dim * (size_t)geo->dim * sizeof(double);
    lk_scratch s = {base, 0};
    double **images[] = {&out->q, &out->g, &out->dq, &out->slope, &out->bce_grad};
    double **pooled_maps[] = {&out->pooled_q, &out->pooled_g, &out->dpooled};
    double **point_sets[] = {&out->x, &out->y, &out->grad, &out->work};
    double **squares[] = {&out->label_cov, &out->inverse, &out->cross, &out->transfer, &out->posterior,
                          &out->posterior_inverse, &out->chain};
    for (size_t i = 0; i < sizeof images / sizeof images[0]; i++) *images[i] = lk_scratch_take(&s, image);
    for (size_t i = 0; i < sizeof pooled_maps / sizeof pooled_maps[0]; i++)
        *pooled_maps[i] = lk_scratch_take(&s, pooled);
    for (size_t i = 0; i < sizeof point_sets / sizeof point_sets[0]; i++)
        *point_sets[i] = lk_scratch_take(&s, points);
    for (size_t i = 0; i < sizeof squares / sizeof squares[0]; i++) *squares[i] = lk_scratch_take(&s, square);
    out->argmax = lk_scratch_take(&s, (size_t)(geo->pooled_height * geo->pooled_width) * sizeof(int64_t));
    return lk_scratch_size(&s);
}

static rmi_geometry geometry_of(const lk_call *call)
{
    rmi_geometry geo;
    const lk_tensor *input = &call->inputs[0];
    geo.height = input->ndim == 4 ? input->shape[2] : 1;
    geo.width = input->ndim == 4 ? input->shape[3] : 1;
    geo.radius = (int)lk_param_int(call->params, P_RADIUS);
    geo.dim = geo.radius * geo.radius;
    geo.pool = lk_param_choice(call->params, P_POOL);
    geo.stride = geo.pool == POOL_NONE ? 1 : (int)lk_param_int(call->params, P_POOL_STRIDE);
    geo.padding = geo.pool == POOL_NONE ? 0 : geo.stride / 2;
    /* PyTorch's pooling output size: floor((H + 2 pad - kernel) / stride) + 1, kernel = stride */
    geo.pooled_height = (geo.height + 2 * geo.padding - geo.stride) / geo.stride + 1;
    geo.pooled_width = (geo.width + 2 * geo.padding - geo.stride) / geo.stride + 1;
    geo.points_height = geo.pooled_height - geo.radius + 1;
    geo.points_width = geo.pooled_width - geo.radius + 1;
    return geo;
}

/* ------------------------------------------------------------ pooling */

/* The window of output (i, j) in PyTorch's terms: [h0, h1) x [w0, w1) inside
 * the image, and its size counting the padding (avg_pool2d's divisor). */
static int64_t pool_window(const rmi_geometry *geo, int64_t i, int64_t j, int64_t *h0, int64_t *h1,
                           int64_t *w0, int64_t *w1)
{
    int64_t hs = i * geo->stride - geo->padding, ws = j * geo->stride - geo->padding;
    int64_t height_end = geo->height + geo->padding, width_end = geo->width + geo->padding;
    int64_t he = hs + geo->stride < height_end ? hs + geo->stride : height_end;
    int64_t we = ws + geo->stride < width_end ? ws + geo->stride : width_end;
    int64_t size = (he - hs) * (we - ws);
    *h0 = hs > 0 ? hs : 0;
    *w0 = ws > 0 ? ws : 0;
    *h1 = he < geo->height ? he : geo->height;
    *w1 = we < geo->width ? we : geo->width;
    return size;
}

/* pooled_q, pooled_g (and argmax) from q, g. */
static void pool_forward(const rmi_geometry *geo, rmi_buffers *b)
{
    for (int64_t i = 0; i < geo->pooled_height; i++)
        for (int64_t j = 0; j < geo->pooled_width; j++) {
            int64_t out = i * geo->pooled_width + j, h0, h1, w0, w1;
            int64_t size = pool_window(geo, i, j, &h0, &h1, &w0, &w1);
            double best_q = -INFINITY, best_g = -INFINITY, sum_q = 0, sum_g = 0;
            int64_t where = h0 * geo->width + w0;
            for (int64_t h = h0; h < h1; h++)
                for (int64_t w = w0; w < w1; w++) {
                    double value = b->q[h * geo->width + w], label = b->g[h * geo->width + w];
                    if (value > best_q) { /* strict: the first maximum, as max_pool2d */
                        best_q = value;
                        where = h * geo->width + w;
                    }
                    best_g = label > best_g ? label : best_g;
                    sum_q += value;
                    sum_g += label;
                }
            b->argmax[out] = where;
            b->pooled_q[out] = geo->pool == POOL_AVG ? sum_q / (double)size : best_q;
            b->pooled_g[out] = geo->pool == POOL_AVG ? sum_g / (double)size : best_g;
        }
}

/* dq from dpooled. */
static void pool_backward(const rmi_geometry *geo, rmi_buffers *b)
{
    memset(b->dq, 0, (size_t)(geo->height * geo->width) * sizeof(double));
    for (int64_t i = 0; i < geo->pooled_height; i++)
        for (int64_t j = 0; j < geo->pooled_width; j++) {
            int64_t out = i * geo->pooled_width + j, h0, h1, w0, w1;
            int64_t size = pool_window(geo, i, j, &h0, &h1, &w0, &w1);
            if (geo->pool != POOL_AVG) {
                b->dq[b->argmax[out]] += b->dpooled[out];
                continue;
            }
            for (int64_t h = h0; h < h1; h++)
                for (int64_t w = w0; w < w1; w++) b->dq[h * geo->width + w] += b->dpooled[out] / (double)size;
        }
}

/* ------------------------------------------------------------ the bound */

/* points[k][m] = map[(y_m + dy) Wp + x_m + dx], k = dy r + dx, then centered. */
static void gather_points(const rmi_geometry *geo, const double *map, double *points)
{
    int64_t count = geo->points_height * geo->points_width;
    for (int dy = 0; dy < geo->radius; dy++)
        for (int dx = 0; dx < geo->radius; dx++) {
            double *row = points + (int64_t)(dy * geo->radius + dx) * count, mean = 0;
            for (int64_t y = 0; y < geo->points_height; y++)
                for (int64_t x = 0; x < geo->points_width; x++)
                    row[y * geo->points_width + x] = map[(y + dy) * geo->pooled_width + x + dx];
            for (int64_t m = 0; m < count; m++) mean += row[m];
            mean /= (double)count;
            for (int64_t m = 0; m < count; m++) row[m] -= mean;
        }
}

/* dpooled from the points' gradient (each point reads a window of the map). */
static void scatter_points(const rmi_geometry *geo, const double *grad, double *dpooled)
{
    int64_t count = geo->points_height * geo->points_width;
    memset(dpooled, 0, (size_t)(geo->pooled_height * geo->pooled_width) * sizeof(double));
    for (int dy = 0; dy < geo->radius; dy++)
        for (int dx = 0; dx < geo->radius; dx++) {
            const double *row = grad + (int64_t)(dy * geo->radius + dx) * count;
            for (int64_t y = 0; y < geo->points_height; y++)
                for (int64_t x = 0; x < geo->points_width; x++)
                    dpooled[(y + dy) * geo->pooled_width + x + dx] += row[y * geo->points_width + x];
        }
}

static void add_diagonal(double *matrix, int n, double value)
{
    for (int i = 0; i < n; i++) matrix[i * n + i] += value;
}

/* 1/2 log det(Sigma + alpha I) of the channel in b (q, g filled), and
 * scale x its gradient w.r.t. q in dq. Returns NAN if a covariance is not
 * positive definite. */
static double channel_bound(const rmi_geometry *geo, double alpha, double scale, rmi_buffers *b)
{
    int d = geo->dim, count = (int)(geo->points_height * geo->points_width);
    pool_forward(geo, b);
    gather_points(geo, b->pooled_q, b->x);
    gather_points(geo, b->pooled_g, b->y);
    lk_matmul_transposed(b->y, b->y, b->label_cov, d, count, d);
    lk_matmul_transposed(b->x, b->x, b->inverse, d, count, d); /* X X^T, inverted below */
    lk_matmul_transposed(b->y, b->x, b->cross, d, count, d);   /* B = Y X^T */
    add_diagonal(b->inverse, d, alpha);
    if (lk_cholesky(b->inverse, d) != 0) return NAN;
    memcpy(b->chain, b->inverse, (size_t)(d * d) * sizeof(double));
    lk_cholesky_inverse(b->chain, d, b->inverse);                 /* P */
    lk_matmul(b->cross, b->inverse, b->transfer, d, d, d);         /* T = B P */
    lk_matmul_transposed(b->transfer, b->cross, b->posterior, d, d, d); /* T B^T */
    for (int i = 0; i < d * d; i++) b->posterior[i] = b->label_cov[i] - b->posterior[i];
    add_diagonal(b->posterior, d, alpha);
    if (lk_cholesky(b->posterior, d) != 0) return NAN;
    double bound = 0.5 * lk_cholesky_logdet(b->posterior, d);
    if (scale == 0) { /* no weight on the bound (lambda = 1), or no gradient asked */
        memset(b->dq, 0, (size_t)(geo->height * geo->width) * sizeof(double));
        return bound;
    }
    /* d bound / d X = P B^T W (B P X - Y) = (W T)^T (T X - Y) */
    lk_cholesky_inverse(b->posterior, d, b->posterior_inverse); /* W */
    lk_matmul(b->posterior_inverse, b->transfer, b->chain, d, d, d); /* W T */
    for (int i = 0; i < d; i++) /* chain = (W T)^T, in label_cov's place */
        for (int j = 0; j < d; j++) b->label_cov[i * d + j] = b->chain[j * d + i];
    lk_matmul(b->transfer, b->x, b->work, d, d, count);
    for (int64_t i = 0; i < (int64_t)d * count; i++) b->work[i] -= b->y[i];
    lk_matmul(b->label_cov, b->work, b->grad, d, d, count);
    for (int k = 0; k < d; k++) { /* through the centering: minus the row's mean */
        double *row = b->grad + (int64_t)k * count, mean = 0;
        for (int m = 0; m < count; m++) mean += row[m];
        mean /= count;
        for (int m = 0; m < count; m++) row[m] = scale * (row[m] - mean);
    }
    scatter_points(geo, b->grad, b->dpooled);
    pool_backward(geo, b);
    return bound;
}

#define LK_TYPED_FILE "region/rmi.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

/* One (image, class) task: q and g from the logits and labels, the BCE part
 * and its gradient, the bound and its gradient, the gradient written. */
LK_HOT static void LK_T(rmi_task)(void *arg, int64_t task, int worker)
{
    rmi_run *run = arg;
    const lk_call *call = run->call;
    const rmi_geometry *geo = &run->geometry;
    rmi_buffers b;
    rmi_layout(geo, run->scratch + (size_t)worker * run->scratch_size, &b);
    int64_t n = task / call->classes, c = task % call->classes, pixels = geo->height * geo->width;
    const lk_real *x = (const lk_real *)call->inputs[0].data + task * pixels;
    lk_real *grad = lk_grad_data(call, 0);
    int32_t label[LABEL_BLOCK];
    uint8_t valid[LABEL_BLOCK];
    double bce = 0;
    for (int64_t first = 0; first < pixels; first += LABEL_BLOCK) {
        int len = (int)(pixels - first < LABEL_BLOCK ? pixels - first : LABEL_BLOCK);
        lk_load_labels(&call->inputs[1], n * pixels + first, len, &run->label_rule, label, valid);
        for (int j = 0; j < len; j++) {
            double p, rest, neg_log_p, logit = (double)x[first + j];
            lk_logistic(logit, &p, &rest, &neg_log_p);
            double target = valid[j] && label[j] == c ? 1 : 0;
            b.q[first + j] = (valid[j] ? p : 0) + CLIP_MIN;
            b.g[first + j] = target;
            b.slope[first + j] = valid[j] ? p * rest : 0;
            b.bce_grad[first + j] = valid[j] ? (p - target) * run->bce_scale : 0;
            bce += valid[j] ? neg_log_p + (1 - target) * logit : 0; /* -log(1 - p) = -log p + x */
        }
    }
    run->task_bce[task] = bce;
    double bound = channel_bound(geo, run->alpha, grad ? run->rmi_scale : 0, &b);
    run->task_rmi[task] = bound;
    run->task_singular[task] = (uint8_t)isnan(bound);
    if (!grad || isnan(bound)) return;
    for (int64_t i = 0; i < pixels; i++)
        grad[task * pixels + i] = (lk_real)(b.bce_grad[i] + b.dq[i] * b.slope[i]);
}

#endif /* typed section */

#ifndef LK_REAL

/* ------------------------------------------------------------ compute */

static lk_status rmi_check(const lk_call *call)
{
    if (call->inputs && call->inputs[0].ndim != 4)
        return lk_fail(LK_ESHAPE, "loss 'rmi': input '%s' must be 2-D images (N, C, H, W); got %d "
                       "dimensions", call->desc->inputs[0].name, call->inputs[0].ndim);
    if (!call->inputs) return LK_OK;
    rmi_geometry geo = geometry_of(call);
    if (geo.pooled_height < geo.radius || geo.pooled_width < geo.radius)
        return lk_fail(LK_ESHAPE,
                       "loss 'rmi': images of %lld x %lld pool to %lld x %lld, smaller than the %d x %d "
                       "window of radius=%d (use larger images, a smaller radius, or pool_stride / "
                       "pool=none)",
                       (long long)geo.height, (long long)geo.width, (long long)geo.pooled_height,
                       (long long)geo.pooled_width, geo.radius, geo.radius, geo.radius);
    return LK_OK;
}

static lk_status rmi_compute(const lk_call *call)
{
    rmi_run run;
    memset(&run, 0, sizeof run);
    run.call = call;
    run.geometry = geometry_of(call);
    run.label_rule.classes = call->classes;
    run.label_rule.has_ignore = 1;
    run.label_rule.ignore_index = lk_param_int(call->params, P_IGNORE_INDEX);
    double lambda = lk_param_float(call->params, P_LAMBDA);
    run.alpha = lk_param_float(call->params, P_COVARIANCE_EPS);
    int64_t tasks = call->batch * call->classes;
    int64_t *counts = malloc((size_t)call->classes * sizeof *counts);
    run.task_bce = calloc((size_t)tasks, sizeof(double));
    run.task_rmi = calloc((size_t)tasks, sizeof(double));
    run.task_singular = calloc((size_t)tasks, 1);
    run.scratch_size = rmi_layout(&run.geometry, NULL, &(rmi_buffers){0});
    run.scratch = aligned_alloc(LK_SCRATCH_ALIGN, run.scratch_size * (size_t)lk_context_threads(call->ctx));
    lk_status status = LK_OK;
    if (!counts || !run.task_bce || !run.task_rmi || !run.task_singular || !run.scratch)
        status = lk_fail(LK_ENOMEM, "out of memory for the RMI loss");
    /* the labels, checked, and the BCE's divisor: the pixels not ignored + 1 */
    if (status == LK_OK)
        status = lk_label_counts(call->ctx, &call->inputs[1], call->desc->inputs[1].name, &run.label_rule,
                                 counts);
    double valid = 0;
    for (int64_t c = 0; status == LK_OK && c < call->classes; c++) valid += (double)counts[c];
    run.bce_scale = lambda / (valid + 1);
    run.rmi_scale = (1 - lambda) / ((double)call->batch * run.geometry.dim);
    if (status == LK_OK)
        lk_parallel_for_items(call->ctx, tasks, lk_numel(&call->inputs[0]),
                              call->inputs[0].dtype == LK_F32 ? rmi_task_f32 : rmi_task_f64, &run);
    double bce = 0, bound = 0;
    int64_t singular = -1; /* the first task whose covariance was not positive definite */
    for (int64_t task = 0; status == LK_OK && task < tasks; task++) {
        bce += run.task_bce[task];
        bound += run.task_rmi[task];
        if (singular < 0 && run.task_singular[task]) singular = task;
    }
    /* with a non-finite input the loss is not finite: lk_finish_loss names the input */
    if (status == LK_OK && singular >= 0 && lk_find_nonfinite(&call->inputs[0]) < 0)
        status = lk_fail(LK_EVALUE, "loss 'rmi': a covariance of image %lld, class %lld is not "
                         "positive definite (covariance_eps = %g)", (long long)(singular / call->classes),
                         (long long)(singular % call->classes), run.alpha);
    if (status == LK_OK)
        status = lk_finish_loss(call, lambda * bce / (valid + 1) + run.rmi_scale * bound, 1);
    free(counts);
    free(run.task_bce);
    free(run.task_rmi);
    free(run.task_singular);
    free(run.scratch);
    return status;
}

static const lk_input_info rmi_inputs[] = {
    {"input", "logits (N, C, H, W): a sigmoid per class", LK_DTYPES_FLOAT, LK_SHAPE_SCORES,
     LK_DOMAIN_SCORES, 1},
    {"target", "class indices (N, H, W) or (N, 1, H, W)", LK_DTYPES_LABEL, LK_SHAPE_CLASS_TARGET,
     LK_DOMAIN_CLASS_TARGET, 0},
};

static const lk_param_info rmi_params[P_COUNT] = {
    [P_RADIUS] = {"radius", LK_PARAM_INT, "3", 1, 10, 0, NULL,
                  "side of the square neighbourhood: points of radius^2 dimensions"},
    [P_POOL] = {"pool", LK_PARAM_CHOICE, "max", 0, 0, 0, "max|avg|none",
                "down-sampling before the neighbourhoods (the authors' rmi_pool_way 0, 1; none)"},
    [P_POOL_STRIDE] = {"pool_stride", LK_PARAM_INT, "3", 1, 64, 0, NULL,
                       "pooling kernel and stride (padding stride/2)"},
    [P_LAMBDA] = {"weight_lambda", LK_PARAM_FLOAT, "0.5", 0, 1, 0, NULL,
                  "lambda: weight of the BCE; 1 - lambda weighs the RMI bound (the authors' "
                  "weight_lambda)"},
    [P_COVARIANCE_EPS] = {"covariance_eps", LK_PARAM_FLOAT, "0.0005", 0, INFINITY, LK_RANGE_MIN_OPEN,
                          NULL, "added to the covariances' diagonals (the authors' _POS_ALPHA)"},
    [P_IGNORE_INDEX] = {"ignore_index", LK_PARAM_INT, "255", -LK_INT_LIMIT, LK_INT_LIMIT, 0, NULL,
                        "label value of ignored pixels (the authors': 255)"},
};

static const char *const rmi_examples[] = {
    "",
    "pool=none,radius=2",
    "pool=avg,pool_stride=2,radius=2,weight_lambda=0",
    "pool=max,pool_stride=2,radius=2,ignore_index=1",
    "pool=none,radius=1,weight_lambda=1",
    NULL,
};

const lk_loss_desc lk_loss_rmi = {
    .name = "rmi",
    .category = LK_CATEGORY_REGION,
    .summary = "Region mutual information loss: a lower bound of the mutual information of "
               "neighbourhoods, plus BCE",
    .formula = "loss = lambda BCE + (1 - lambda) sum_c mean_n 1/2 log det(Sigma_nc + alpha I) / r^2, "
               "Sigma = YY' - YX'(XX' + alpha I)^-1 XY' over r x r neighbourhoods",
    .reference = "S. Zhao, Y. Wang, Z. Yang, D. Cai, Region Mutual Information Loss for Semantic "
                 "Segmentation, NeurIPS 2019",
    .notes = "The authors' code's defaults (radius 3, max pooling stride 3, alpha 5e-4, lambda 0.5, "
             "sigmoid, ignore 255); exact log-det (theirs adds 1e-8 inside the log). 2-D images.",
    LK_DESC_INPUTS(rmi_inputs),
    LK_DESC_PARAMS(rmi_params),
    .examples = rmi_examples,
    .output = LK_OUTPUT_SCALAR,
    .check = rmi_check,
    .compute = rmi_compute,
};

#endif
