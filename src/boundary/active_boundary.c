/*
 * Active Boundary Loss (Wang et al., AAAI 2022): at the predicted boundary,
 * the KL divergences between a pixel's class distribution and its eight
 * neighbours' are trained, as logits of a direction classifier, to point
 * towards the nearest ground-truth boundary.
 *
 * With P(x) = softmax of the logits at pixel x and KL(a || b) = sum_c a_c
 * (log a_c - log b_c), per image n of the batch:
 *
 *   1. predicted boundary: k(x) = KL(P(x) || P(x + down)) + KL(P(x) ||
 *      P(x + right)) (0 past the edge); B = {k > eps}, eps = 1e-5 x 1.2^m,
 *      the smallest such that |B| over the whole batch is <= H W
 *      max_n_ratio; then B is dilated by a 3 x 3 square;
 *   2. ground-truth boundary: pixels whose label differs from the label
 *      below or to the right, and ignored pixels; D(x) = max(distance to the
 *      nearest boundary pixel - 1, 0) (exact EDT, per image);
 *   3. at each x in B: among the 9 candidates down, up, left, right,
 *      up-right, down-right, up-left, down-left, centre (in that order, D =
 *      1e5 outside the image), the first with the smallest D is the target
 *      direction t; x is dropped when t is the centre;
 *   4. z_k = KL(P(x + d_k) || P(x)) for the 8 directions (neighbours past
 *      the edge are the edge pixel; the neighbours are constants), and
 *      loss_x = -sum_k y_k log softmax(z)_k with y = 1 - s on t and s / 8
 *      on every other direction (s = label_smoothing; the targets sum to
 *      1 - s / 8, as in CoinCheung's LabelSmoothSoftmaxCEV1 the reference
 *      uses);
 *   5. loss = mean over the kept x of loss_x min(D(x), max_clip_dist) /
 *      max_clip_dist.
 *
 * Gradient: the boundary sets, directions and weights are constants;
 * d loss_x / d z_k = softmax(z)_k sum(y) - y_k, and with q = P(x + d_k),
 * p = P(x): d z_k / d logit_c(x) = p_c - q_c, and (only with
 * detach_neighbours=false, the reference's isdetach=False)
 * d z_k / d logit_c(x + d_k) = q_c (log q_c - log p_c - z_k). With the
 * default (the reference's), the neighbours are constants: that gradient is
 * not the derivative of the loss, so finite differences check the
 * detach_neighbours=false examples, and the default is checked against the
 * reference in torch.
 *
 * Conventions of the reference code (wangchi95/active-boundary-loss,
 * abl.py, ABL(isdetach=True, max_N_ratio=1/100, ignore_label=255,
 * label_smoothing=0.2, max_clip_dist=20)): 2-D logits of the labels' size
 * (the reference resizes them bilinearly first), unit spacing. Where the
 * reference returns None (no predicted boundary) or averages nothing (every
 * candidate pixel dropped), the loss here is 0 with a zero gradient. An
 * image without any ground-truth boundary adds no pixel (the reference would
 * measure to a pixel outside the image). The reference computes in float32;
 * here the KL values, eps and distances are float64 whatever the input.
 * The paper pairs ABL with CE + Lovász-softmax.
 *
 * Reference: C. Wang et al., "Active Boundary Loss for Semantic
 * Segmentation", AAAI 2022.
 */
#include <math.h>
#include <stdlib.h>

#include "core/loss.h"
#include "core/labels.h"
#include "core/select.h"

enum { P_LABEL_SMOOTHING, P_MAX_N_RATIO, P_MAX_CLIP_DIST, P_DETACH, P_IGNORE_INDEX, P_COUNT };

#define ABL_OUTSIDE 1e5 /* D past the image's edge */

/* The 9 candidates: row and column offsets, the centre last. */
static const int direction_row[9] = {1, -1, 0, 0, -1, 1, -1, 1, 0};
static const int direction_col[9] = {0, 0, -1, 1, 1, 1, -1, -1, 0};

typedef struct abl_state {
    const lk_call *call;
    int64_t height, width, plane; /* plane = H W */
    double *logp;     /* (N, C, H, W) log-softmax of the input */
    double *prob;     /* (N, C, H, W) its exp, the softmax */
    double *kl;       /* (N, H, W) the predicted boundary's KL sum */
    uint8_t *edge;    /* (N, H, W) kl > eps */
    uint8_t *inside;  /* (N, H, W) 1 off the ground-truth boundary */
    double *depth;    /* (N, H, W) distance to the ground-truth boundary */
    double *grad;     /* (N, C, H, W) the gradient, summed in double */
    uint8_t *has_boundary; /* [N] */
} abl_state;

static lk_status abl_check(const lk_call *call)
{
    if (call->inputs[0].ndim != 4)
        return lk_fail(LK_ESHAPE, "loss 'active_boundary': input must be 2-D logits (N, C, H, "
                                  "W); it has %d dims", call->inputs[0].ndim);
    if (call->classes < 2)
        return lk_fail(LK_ESHAPE, "loss 'active_boundary': input needs 2 or more classes");
    return LK_OK;
}

static void log_softmax(const abl_state *s)
{
    const lk_tensor *input = &s->call->inputs[0];
    int64_t classes = s->call->classes, plane = s->plane;
    for (int64_t n = 0; n < s->call->batch; n++) {
        for (int64_t x = 0; x < plane; x++) {
            int64_t base = n * classes * plane + x;
            double largest = -INFINITY, total = 0;
            for (int64_t c = 0; c < classes; c++) largest = fmax(largest, lk_read_real(input, base + c * plane));
            for (int64_t c = 0; c < classes; c++) total += exp(lk_read_real(input, base + c * plane) - largest);
            double log_total = log(total) + largest;
            for (int64_t c = 0; c < classes; c++) {
                s->logp[base + c * plane] = lk_read_real(input, base + c * plane) - log_total;
                s->prob[base + c * plane] = exp(s->logp[base + c * plane]);
            }
        }
    }
}

/* KL(P(a) || P(b)) for pixels a, b of image n (flat positions in the plane). */
static double kl_between(const abl_state *s, int64_t n, int64_t a, int64_t b)
{
    int64_t classes = s->call->classes, plane = s->plane;
    const double *logp = s->logp + n * classes * plane, *prob = s->prob + n * classes * plane;
    double sum = 0;
    for (int64_t c = 0; c < classes; c++) sum += prob[c * plane + a] * (logp[c * plane + a] - logp[c * plane + b]);
    return sum;
}

/* Step 1: the KL sums, the batch-wide eps, the edges (before dilation).
 * Returns the number of edge pixels. */
static lk_status predicted_edges(const abl_state *s, int64_t *edges)
{
    int64_t pixels = s->call->batch * s->plane, width = s->width;
    for (int64_t n = 0; n < s->call->batch; n++) {
        for (int64_t x = 0; x < s->plane; x++) {
            int64_t row = x / width, col = x % width;
            double sum = 0;
            if (row + 1 < s->height) sum += kl_between(s, n, x, x + width);
            if (col + 1 < width) sum += kl_between(s, n, x, x + 1);
            s->kl[n * s->plane + x] = sum;
        }
    }
    /* count(kl > eps) > max_n  <=>  the (floor(max_n) + 1)-th largest exceeds eps */
    double max_n = (double)s->plane * lk_param_float(s->call->params, P_MAX_N_RATIO);
    int64_t k = (int64_t)floor(max_n) + 1, competing = 0;
    for (int64_t i = 0; i < pixels; i++) competing += s->kl[i] >= 0;
    double eps = 1e-5;
    if (k <= competing) {
        lk_order_statistic kth;
        lk_status status = lk_kth_largest(s->call->ctx, s->kl, LK_F64, pixels, k, &kth);
        if (status != LK_OK) return status;
        while (kth.value > eps) eps *= 1.2;
    }
    *edges = 0;
    for (int64_t i = 0; i < pixels; i++) {
        s->edge[i] = s->kl[i] > eps;
        *edges += s->edge[i];
    }
    return LK_OK;
}

/* Whether pixel (row, col) of image n is within one step (3 x 3) of an edge. */
static int near_edge(const abl_state *s, int64_t n, int64_t row, int64_t col)
{
    for (int64_t r = row - 1; r <= row + 1; r++)
        for (int64_t c = col - 1; c <= col + 1; c++)
            if (r >= 0 && r < s->height && c >= 0 && c < s->width &&
                s->edge[n * s->plane + r * s->width + c])
                return 1;
    return 0;
}

/* Step 2: the ground-truth boundary and D. */
static lk_status truth_depth(const abl_state *s, int64_t ignore_index)
{
    const lk_tensor *labels = &s->call->inputs[1];
    int64_t width = s->width;
    for (int64_t n = 0; n < s->call->batch; n++) {
        s->has_boundary[n] = 0;
        for (int64_t x = 0; x < s->plane; x++) {
            int64_t i = n * s->plane + x, row = x / width, col = x % width;
            int64_t label = lk_read_label(labels, i);
            int boundary = label == ignore_index ||
                           (row + 1 < s->height && lk_read_label(labels, i + width) != label) ||
                           (col + 1 < width && lk_read_label(labels, i + 1) != label);
            s->inside[i] = (uint8_t)!boundary;
            s->has_boundary[n] |= (uint8_t)boundary;
        }
    }
    lk_tensor mask = {s->inside, LK_U8, 3, {s->call->batch, s->height, width}};
    lk_tensor out = {s->depth, LK_F64, 3, {s->call->batch, s->height, width}};
    return lk_edt(&mask, 1, NULL, &out, s->call->ctx);
}

/* D at (row, col) of image n, ABL_OUTSIDE past the edge. */
static double depth_at(const abl_state *s, int64_t n, int64_t row, int64_t col)
{
    if (row < 0 || row >= s->height || col < 0 || col >= s->width) return ABL_OUTSIDE;
    return fmax(s->depth[n * s->plane + row * s->width + col] - 1.0, 0.0);
}

typedef struct abl_pixel_result {
    double loss;       /* weighted loss_x */
    double dz[8];      /* weight x d loss_x / d z_k */
    int64_t neighbour[8];
} abl_pixel_result;

/* Steps 3 and 4 at pixel (row, col) of image n: 0 if the pixel is dropped. */
static int pixel_term(const abl_state *s, int64_t n, int64_t row, int64_t col, abl_pixel_result *r)
{
    int target = 0;
    double best = depth_at(s, n, row + direction_row[0], col + direction_col[0]);
    for (int k = 1; k < 9; k++) {
        double d = depth_at(s, n, row + direction_row[k], col + direction_col[k]);
        if (d < best) {
            best = d;
            target = k;
        }
    }
    if (target == 8) return 0;
    double clip = lk_param_float(s->call->params, P_MAX_CLIP_DIST);
    double weight = fmin(depth_at(s, n, row, col), clip) / clip;
    double smoothing = lk_param_float(s->call->params, P_LABEL_SMOOTHING);
    int64_t centre = row * s->width + col;
    double z[8], largest = -INFINITY;
    for (int k = 0; k < 8; k++) {
        int64_t r_k = row + direction_row[k], c_k = col + direction_col[k];
        r_k = r_k < 0 ? 0 : r_k >= s->height ? s->height - 1 : r_k; /* edge replicated */
        c_k = c_k < 0 ? 0 : c_k >= s->width ? s->width - 1 : c_k;
        r->neighbour[k] = r_k * s->width + c_k;
        z[k] = kl_between(s, n, r->neighbour[k], centre);
        largest = fmax(largest, z[k]);
    }
    double total = 0;
    for (int k = 0; k < 8; k++) total += exp(z[k] - largest);
    double log_total = log(total) + largest, y_sum = 0;
    r->loss = 0;
    for (int k = 0; k < 8; k++) {
        double y = k == target ? 1 - smoothing : smoothing / 8;
        r->loss -= y * (z[k] - log_total);
        y_sum += y;
    }
    for (int k = 0; k < 8; k++) {
        double y = k == target ? 1 - smoothing : smoothing / 8;
        r->dz[k] = weight * (exp(z[k] - log_total) * y_sum - y);
    }
    r->loss *= weight;
    return 1;
}

/* The gradient of one kept pixel: its centre's logits, and with
 * detach_neighbours=false its neighbours'. */
static void add_gradient(const abl_state *s, int64_t n, int64_t centre, const abl_pixel_result *r,
                         double scale)
{
    int64_t classes = s->call->classes, plane = s->plane;
    const double *logp = s->logp + n * classes * plane, *prob = s->prob + n * classes * plane;
    double *grad = s->grad + n * classes * plane;
    int neighbours = !lk_param_bool(s->call->params, P_DETACH);
    for (int k = 0; k < 8; k++) {
        int64_t other = r->neighbour[k];
        double z = neighbours ? kl_between(s, n, other, centre) : 0;
        for (int64_t c = 0; c < classes; c++) {
            double lp = logp[c * plane + centre], lq = logp[c * plane + other];
            double p = prob[c * plane + centre], q = prob[c * plane + other];
            grad[c * plane + centre] += scale * r->dz[k] * (p - q);
            if (neighbours) grad[c * plane + other] += scale * r->dz[k] * q * (lq - lp - z);
        }
    }
}

static void store_gradient(const abl_state *s)
{
    const lk_tensor *grad = &s->call->grads[0];
    int64_t count = lk_numel(grad);
    for (int64_t i = 0; i < count; i++) {
        if (grad->dtype == LK_F32)
            ((float *)grad->data)[i] = (float)s->grad[i];
        else
            ((double *)grad->data)[i] = s->grad[i];
    }
}

/* Steps 3 to 5 over the dilated boundary; the pixels in row-major order. */
static lk_status boundary_terms(const abl_state *s)
{
    int64_t kept = 0;
    double total = 0;
    abl_pixel_result r;
    for (int pass = 0; pass < 2; pass++) { /* count and sum, then the gradient */
        for (int64_t n = 0; n < s->call->batch; n++) {
            if (!s->has_boundary[n]) continue;
            for (int64_t row = 0; row < s->height; row++) {
                for (int64_t col = 0; col < s->width; col++) {
                    if (!near_edge(s, n, row, col) || !pixel_term(s, n, row, col, &r)) continue;
                    if (pass == 0) {
                        kept++;
                        total += r.loss;
                    } else {
                        add_gradient(s, n, row * s->width + col, &r, 1.0 / (double)kept);
                    }
                }
            }
        }
        if (kept == 0 || !lk_grad_data(s->call, 0)) break;
    }
    if (lk_grad_data(s->call, 0)) store_gradient(s);
    return lk_finish_loss(s->call, total, kept > 0 ? 1.0 / (double)kept : 0);
}

static lk_status abl_compute(const lk_call *call)
{
    int64_t batch = call->batch, plane = call->spatial, pixels = batch * plane;
    int64_t ignore_index = lk_param_int(call->params, P_IGNORE_INDEX);
    lk_label_rule rule = {call->classes, 1, ignore_index};
    abl_state s = {call, call->inputs[0].shape[2], call->inputs[0].shape[3], plane,
                   malloc((size_t)(pixels * call->classes) * sizeof(double)),
                   malloc((size_t)(pixels * call->classes) * sizeof(double)),
                   malloc((size_t)pixels * sizeof(double)), malloc((size_t)pixels),
                   malloc((size_t)pixels), malloc((size_t)pixels * sizeof(double)),
                   calloc((size_t)(pixels * call->classes), sizeof(double)), malloc((size_t)batch)};
    lk_status status = s.logp && s.prob && s.kl && s.edge && s.inside && s.depth && s.grad && s.has_boundary
                           ? LK_OK
                           : lk_fail(LK_ENOMEM, "out of memory");
    if (status == LK_OK && lk_find_nonfinite(&call->inputs[0]) >= 0) status = lk_report_nonfinite(call, NAN);
    if (status == LK_OK)
        status = lk_check_labels(call->ctx, &call->inputs[1], call->desc->inputs[1].name, &rule);
    int64_t edges = 0;
    if (status == LK_OK) {
        log_softmax(&s);
        status = predicted_edges(&s, &edges);
    }
    if (status == LK_OK) status = truth_depth(&s, ignore_index);
    if (status == LK_OK && edges > 0) {
        status = boundary_terms(&s);
    } else if (status == LK_OK) {
        if (lk_grad_data(call, 0)) store_gradient(&s);
        status = lk_finish_loss(call, 0, 0);
    }
    free(s.logp);
    free(s.prob);
    free(s.kl);
    free(s.edge);
    free(s.inside);
    free(s.depth);
    free(s.grad);
    free(s.has_boundary);
    return status;
}

static const lk_input_info abl_inputs[] = {
    {"input", "logits (N, C, H, W) of the labels' size", LK_DTYPES_FLOAT, LK_SHAPE_SCORES,
     LK_DOMAIN_SCORES, 1},
    LK_INPUT_LABELS,
};

static const lk_param_info abl_params[P_COUNT] = {
    [P_LABEL_SMOOTHING] = {"label_smoothing", LK_PARAM_FLOAT, "0.2", 0, 1, 0, NULL,
                           "s: the target direction gets 1 - s, every other s / 8"},
    [P_MAX_N_RATIO] = {"max_n_ratio", LK_PARAM_FLOAT, "0.01", 0, 1, LK_RANGE_MIN_OPEN, NULL,
                       "the predicted boundary holds at most H W max_n_ratio pixels over the "
                       "batch (before dilation)"},
    [P_MAX_CLIP_DIST] = {"max_clip_dist", LK_PARAM_FLOAT, "20", 0, INFINITY, LK_RANGE_MIN_OPEN,
                         NULL, "pixels are weighed by min(D, max_clip_dist) / max_clip_dist"},
    [P_DETACH] = {"detach_neighbours", LK_PARAM_BOOL, "true", 0, 0, 0, NULL,
                  "the neighbours' distributions are constants (the reference's isdetach); "
                  "false: the gradient also reaches them (the loss's true derivative)"},
    [P_IGNORE_INDEX] = {"ignore_index", LK_PARAM_INT, "255", -LK_INT_LIMIT, LK_INT_LIMIT, 0, NULL,
                        "label of ignored pixels, which count as ground-truth boundary (the "
                        "reference's ignore_label)"},
};

/* The default detaches the neighbours, whose gradient is then not the
 * loss's derivative: the sweep's finite differences need the full one. */
static const char *const abl_examples[] = {
    "detach_neighbours=false",
    "detach_neighbours=false,label_smoothing=0",
    "detach_neighbours=false,max_n_ratio=0.2,max_clip_dist=3",
    "detach_neighbours=false,ignore_index=1",
    NULL,
};

const lk_loss_desc lk_loss_active_boundary = {
    .name = "active_boundary",
    .category = LK_CATEGORY_BOUNDARY,
    .summary = "Active Boundary Loss: KL divergences to the neighbours, at the predicted "
               "boundary, trained to point to the nearest ground-truth boundary (Wang et al.)",
    .formula = "loss = mean over x in the predicted boundary of w(x) CE_s(z(x), t(x)); z_k = "
               "KL(P(x + d_k) || P(x)), t = direction of least distance to the GT boundary",
    .reference = "C. Wang et al., Active Boundary Loss for Semantic Segmentation, AAAI 2022",
    .notes = "2-D logits of the labels' size; the reference's defaults and choices (adaptive "
             "eps over the batch, 3 x 3 dilation, first-minimum direction, CoinCheung's label "
             "smoothing, neighbours detached). No predicted boundary, or no pixel kept: loss 0. "
             "Images without ground-truth boundary add nothing.",
    LK_DESC_INPUTS(abl_inputs),
    LK_DESC_PARAMS(abl_params),
    .examples = abl_examples,
    .output = LK_OUTPUT_SCALAR,
    .check = abl_check,
    .compute = abl_compute,
};
