/*
 * Conditional Boundary Loss (Wu et al., IEEE TIP 2023): at the ground-truth
 * boundary, each pixel's feature is trained towards its neighbourhood's:
 * cosine similarities to the 5 x 5 window follow the same-label indicator,
 * the average feature of the same-class neighbours must be classified as the
 * class, and a correctly predicted pixel is pulled to the average of its
 * correctly predicted same-class neighbours.
 *
 * Inputs: features f (N, D, H, W); labels y and predicted labels z (N, H, W)
 * in [0, K) or ignore_index (z is the argmax of the segmentation logits, as
 * the reference takes it); the segmentation classifier, a 1 x 1 convolution
 * with weight W (K, D) and bias b (K,); conditional_boundary_map also takes
 * the ground-truth boundary map (N, H, W). R is the 5 x 5 window without its
 * centre (24 offsets, in the reference's row-major order); neighbours past
 * the image's edge do not exist (the reference's zero padding).
 *
 *   loss = context_weight L_context + nce_weight L_NCE + cn_weight L_CN
 *
 * L_context: B_n = boundary pixels of image n with a label (and, with
 * reference_quirks, a label > 0); P_n = those at least 2 pixels from the
 * image's edge; s(p, q) = [y_q == y_p] (0 for an ignored q);
 *   T_n = 1/24 sum_{o in R} mean_{p in P_n} (cos(f_p, f_{p+o}) - s(p, p+o))^2
 *   L_context = sum_n T_n / S, S = #images with B_n non-empty;
 * cos(u, v) = u.v / (max(|u|, 1e-8) max(|v|, 1e-8)) (torch's
 * F.cosine_similarity).
 *
 * For a labelled boundary pixel p of class k = y_p: A_p = the ring
 * neighbours q with y_q = k, C_p = those also predicted right (z_q = k);
 *   a_p = sum_{q in A_p} f_q / (|A_p| + 1e-5), c_p likewise over C_p;
 *   S1_k = {p: |A_p| >= 1}, S2_k = {p in S1_k: z_p = k, |C_p| >= 1}
 * (over the whole batch); the classes with S2_k non-empty are the counted
 * ones, Kc of them, and with CE(v, k) = cross-entropy of the logits W v + b
 * towards k:
 *   L_NCE = 1/Kc sum_k [mean_{S1_k} CE(a_p, k) + mean_{S2_k} CE(c_p, k)]
 *   L_CN  = 1/Kc sum_k mean_{p in S2_k} |f_p - c_p|^2 / D.
 *
 * Gradient, detach=true (the default, the reference's): the classifier W, b
 * and the targets c_p of L_CN are constants (the reference detaches
 * conv_seg's weight and bias in the NCE term and c_p in the CN term), so
 * weight and bias get a zero gradient, and the features' gradient is not the
 * derivative of the loss; detach=false gives the exact derivative with
 * respect to the features, W and b (what the registry examples and the
 * gradient sweep check). Everything that selects pixels (labels,
 * predictions, boundary) is a constant.
 *
 * The ground-truth boundary (conditional_boundary) follows the reference's
 * data pipeline (GenerateBoundary -> multi_class_gt_to_boundary ->
 * mask_to_boundary): a labelled pixel is boundary when a pixel of another
 * label (or an ignored one) lies within Chebyshev distance d of it, or the
 * image's edge does (cv2.erode of each class mask, padded with one row and
 * column of 0, by a 3 x 3 square d times); d = boundary_radius, or when it is
 * 0, max(1, round(boundary_dilation_ratio sqrt(H^2 + W^2))) (Python's
 * round, half to even). The reference computes it on the full-resolution
 * labels before resizing, cropping and padding, and resizes it to the
 * features' size with nearest interpolation; here it is computed on the
 * labels given, which are the features' size. Its default ratio is 0.02:
 * the config's GenerateBoundary(dilation=0.005) never reaches mask_to_boundary
 * (multi_class_gt_to_boundary does not pass it on). conditional_boundary_map
 * takes the map instead: 1 boundary, 0 not, ignore_index read as 0 (the
 * pipeline writes 255 at ignored pixels).
 *
 * Conventions of the reference (dywu98/CBL-Conditional-Boundary-Loss,
 * CBLocr_head.py, New_ER5OCRHead.losses / context_loss / er_loss, with its
 * weights 1, 0.2, 2 and ignore 255), kept by default:
 * - the context term multiplies the boundary map by the label, so the
 *   boundary pixels of class 0 never take part in it (reference_quirks);
 * - an image with boundary pixels, none of them 2 pixels from the edge,
 *   makes the reference's context mean NaN, and it then returns 0 for the
 *   whole batch: here too (reference_quirks); reference_quirks=false uses
 *   class 0's boundary pixels and leaves such images out of S instead;
 * - ignored neighbours take part in the context term with target 0;
 * - the averages divide by count + 1e-5, not by the count;
 * - L_NCE has two cross-entropies per class (all and correct neighbours);
 *   a class whose S2_k is empty is left out of both terms and of Kc.
 * Where nothing is counted (no boundary pixel, every pixel ignored, no
 * class with eligible pixels), a term is 0 with a zero gradient, as in the
 * reference. 2-D feature maps only; computed in float64 whatever the input.
 *
 * Reference: D. Wu, Z. Guo, A. Li, C. Yu, C. Gao, N. Sang, "Conditional
 * Boundary Loss for Semantic Segmentation", IEEE TIP 32, 2023.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/hot.h"
#include "core/labels.h"
#include "core/lanes.h"
#include "core/loss.h"

enum {
    P_CONTEXT_WEIGHT,
    P_NCE_WEIGHT,
    P_CN_WEIGHT,
    P_DETACH,
    P_IGNORE_INDEX,
    P_QUIRKS,
    P_COUNT_MAP, /* conditional_boundary_map's parameters end here */
    P_DILATION_RATIO = P_COUNT_MAP,
    P_RADIUS,
    P_COUNT
};

enum { IN_FEATURES, IN_TARGET, IN_PREDICTION, IN_WEIGHT, IN_BIAS, IN_BOUNDARY };

#define RING 24          /* the 5 x 5 window without its centre */
#define EDGE_MARGIN 2    /* context pixels lie this far from the image's edge */
#define COUNT_EPS 1e-5   /* the reference's average: sum / (count + 1e-5) */
#define NORM_EPS 1e-8    /* F.cosine_similarity's eps */
#define TASK_PIXELS 1024 /* pixels per task (whole rows), fixed: sums do not depend on threads */

enum { ROLE_CONTEXT = 1, ROLE_ALL = 2, ROLE_CORRECT = 4 };

/* The ring's offsets in the reference's order (row-major, the centre skipped). */
static const int ring_row[RING] = {-2, -2, -2, -2, -2, -1, -1, -1, -1, -1, 0, 0,
                                   0,  0,  1,  1,  1,  1,  1,  2,  2,  2,  2, 2};
static const int ring_col[RING] = {-2, -1, 0, 1, 2, -2, -1, 0, 1, 2, -2, -1,
                                   1,  2,  -2, -1, 0, 1, 2, -2, -1, 0, 1, 2};

typedef struct cbl_state {
    const lk_call *call;
    int64_t height, width, plane, dim, classes;
    int detach, want_grads, want_classifier;
    /* whole batch, per pixel */
    int32_t *label, *pred; /* -1: ignored */
    uint8_t *boundary, *role, *count_all, *count_correct;
    /* normalizers: per image (context), per class (NCE all / correct, CN) */
    double *context_scale, *all_scale, *correct_scale, *cn_scale;
    double *weight, *bias; /* (K, D), (K,) in float64 */
    /* one image at a time */
    double *x, *norm, *pair, *grad;
    double *dl_all, *dl_correct; /* (HW, K): d loss / d logits of the averages, over count + 1e-5 */
    double *pull;                /* (HW, D), detach=false: the CN term's pull on the neighbours */
    /* per task */
    int64_t rows_per_task, tasks;
    double *task_loss, *task_dweight, *task_scratch;
    int64_t image;
} cbl_state;

static lk_status cbl_check(const lk_call *call)
{
    if (call->inputs[IN_FEATURES].ndim != 4)
        return lk_fail(LK_ESHAPE, "loss '%s': input 'features' must be 2-D feature maps (N, D, H, "
                                  "W); it has %d dims", call->desc->name, call->inputs[0].ndim);
    return LK_OK;
}

/* ------------------------------------------------------------ labels and boundary */

static lk_status load_labels(const lk_call *call, int slot, int32_t *out)
{
    const lk_tensor *t = &call->inputs[slot];
    int64_t ignore = lk_param_int(call->params, P_IGNORE_INDEX);
    lk_label_rule rule = {call->inputs[IN_WEIGHT].shape[0], 1, ignore};
    lk_status status = lk_check_labels(call->ctx, t, call->desc->inputs[slot].name, &rule);
    if (status != LK_OK) return status;
    int64_t count = lk_numel(t);
    for (int64_t i = 0; i < count; i++) {
        int64_t label = lk_read_label(t, i);
        out[i] = label == ignore ? -1 : (int32_t)label;
    }
    return LK_OK;
}

static lk_status load_boundary_map(const cbl_state *s)
{
    const lk_tensor *t = &s->call->inputs[IN_BOUNDARY];
    int64_t ignore = lk_param_int(s->call->params, P_IGNORE_INDEX);
    for (int64_t i = 0; i < lk_numel(t); i++) {
        int64_t value = lk_read_label(t, i);
        if (value != 0 && value != 1 && value != ignore) {
            char where[LK_INDEX_TEXT];
            return lk_fail(LK_EVALUE, "input 'boundary'%s = %lld is not 0, 1 or ignore_index (%lld)",
                           lk_format_index(t, i, where, sizeof where), (long long)value,
                           (long long)ignore);
        }
        s->boundary[i] = value == 1 && s->label[i] >= 0;
    }
    return LK_OK;
}

/* Python's round (half to even) of a non-negative value. */
static int64_t round_half_even(double value)
{
    double low = floor(value), rest = value - low;
    if (rest > 0.5 || (rest == 0.5 && fmod(low, 2.0) != 0)) low += 1;
    return (int64_t)low;
}

static int64_t boundary_radius(const cbl_state *s)
{
    int64_t radius = lk_param_int(s->call->params, P_RADIUS);
    if (radius > 0) return radius;
    double diagonal = sqrt((double)(s->height * s->height + s->width * s->width));
    radius = round_half_even(lk_param_float(s->call->params, P_DILATION_RATIO) * diagonal);
    return radius < 1 ? 1 : radius;
}

/* The labels of one image: boundary where another label (or an ignored pixel)
 * or the edge lies within Chebyshev distance d. Runs of equal labels along
 * the row say which pixels have a uniform row window; runs of those along
 * the column, which have a uniform square. */
static void boundary_from_labels(const cbl_state *s, int64_t n, int64_t d, int32_t *run_a, int32_t *run_b)
{
    int64_t h = s->height, w = s->width;
    const int32_t *label = s->label + n * s->plane;
    uint8_t *boundary = s->boundary + n * s->plane;
    for (int64_t r = 0; r < h; r++) { /* uniform row window: boundary[] = 1 */
        const int32_t *row = label + r * w;
        for (int64_t c = 0; c < w; c++) run_a[c] = c > 0 && row[c - 1] == row[c] ? run_a[c - 1] + 1 : 1;
        for (int64_t c = w - 1; c >= 0; c--) run_b[c] = c + 1 < w && row[c + 1] == row[c] ? run_b[c + 1] + 1 : 1;
        for (int64_t c = 0; c < w; c++) boundary[r * w + c] = run_a[c] > d && run_b[c] > d;
    }
    for (int64_t c = 0; c < w; c++) { /* the same along the column, among uniform rows */
        for (int64_t r = 0; r < h; r++) {
            int64_t i = r * w + c;
            run_a[r] = !boundary[i] ? 0 : r > 0 && boundary[i - w] && label[i - w] == label[i] ? run_a[r - 1] + 1 : 1;
        }
        for (int64_t r = h - 1; r >= 0; r--) {
            int64_t i = r * w + c;
            run_b[r] = !boundary[i] ? 0 : r + 1 < h && boundary[i + w] && label[i + w] == label[i] ? run_b[r + 1] + 1 : 1;
        }
        for (int64_t r = 0; r < h; r++) {
            int64_t i = r * w + c;
            int inside = run_a[r] > d && run_b[r] > d;
            boundary[i] = (uint8_t)(label[i] >= 0 && !inside);
        }
    }
}

/* ------------------------------------------------------------ pixel roles and normalizers */

static int in_image(const cbl_state *s, int64_t row, int64_t col)
{
    return row >= 0 && row < s->height && col >= 0 && col < s->width;
}

/* Roles and neighbour counts of every pixel; returns per image |B_n| and
 * |P_n| and per class |S1_k|, |S2_k| through the arrays given. */
static void assign_roles(const cbl_state *s, int quirks, int64_t *b_count, int64_t *p_count,
                         int64_t *s1, int64_t *s2)
{
    int64_t h = s->height, w = s->width;
    for (int64_t n = 0; n < s->call->batch; n++) {
        b_count[n] = p_count[n] = 0;
        for (int64_t r = 0; r < h; r++) {
            for (int64_t c = 0; c < w; c++) {
                int64_t i = n * s->plane + r * w + c;
                int32_t y = s->label[i];
                s->role[i] = 0;
                s->count_all[i] = s->count_correct[i] = 0;
                if (y < 0 || !s->boundary[i]) continue;
                for (int o = 0; o < RING; o++) {
                    int64_t rr = r + ring_row[o], cc = c + ring_col[o];
                    if (!in_image(s, rr, cc)) continue;
                    int64_t j = n * s->plane + rr * w + cc;
                    if (s->label[j] != y) continue;
                    s->count_all[i]++;
                    if (s->pred[j] == y) s->count_correct[i]++;
                }
                if (!quirks || y > 0) {
                    b_count[n]++;
                    if (r >= EDGE_MARGIN && r < h - EDGE_MARGIN && c >= EDGE_MARGIN && c < w - EDGE_MARGIN) {
                        s->role[i] |= ROLE_CONTEXT;
                        p_count[n]++;
                    }
                }
                if (s->count_all[i] > 0) {
                    s->role[i] |= ROLE_ALL;
                    s1[y]++;
                }
                if (s->pred[i] == y && s->count_correct[i] > 0) {
                    s->role[i] |= ROLE_CORRECT;
                    s2[y]++;
                }
            }
        }
    }
}

static void set_scales(cbl_state *s, int quirks, const int64_t *b_count, const int64_t *p_count,
                       const int64_t *s1, const int64_t *s2)
{
    const lk_params *params = s->call->params;
    int64_t images = 0, counted_classes = 0;
    int reset = 0; /* the reference's NaN: boundary pixels, none inside */
    for (int64_t n = 0; n < s->call->batch; n++) {
        images += quirks ? b_count[n] > 0 : p_count[n] > 0;
        reset |= quirks && b_count[n] > 0 && p_count[n] == 0;
    }
    for (int64_t n = 0; n < s->call->batch; n++)
        s->context_scale[n] = reset || p_count[n] == 0 ? 0
                                                       : lk_param_float(params, P_CONTEXT_WEIGHT) /
                                                             ((double)RING * (double)p_count[n] * (double)images);
    for (int64_t k = 0; k < s->classes; k++) counted_classes += s2[k] > 0;
    for (int64_t k = 0; k < s->classes; k++) {
        int counted = s2[k] > 0;
        double per_class = counted ? 1.0 / (double)counted_classes : 0;
        s->all_scale[k] = counted ? lk_param_float(params, P_NCE_WEIGHT) * per_class / (double)s1[k] : 0;
        s->correct_scale[k] = counted ? lk_param_float(params, P_NCE_WEIGHT) * per_class / (double)s2[k] : 0;
        s->cn_scale[k] = counted ? lk_param_float(params, P_CN_WEIGHT) * per_class /
                                       ((double)s2[k] * (double)s->dim)
                                 : 0;
    }
}

/* ------------------------------------------------------------ one image */

#define TILE 32       /* pixels per tile of the layout changes */
#define TILE_DIMS 16  /* channels per step of a tile (few cache lines, no 4 KiB-stride conflicts) */

/* Moves pixels [first, last) of the current image between a tensor in its
 * (N, D, H, W) layout and a pixel-major (HW, D) float64 buffer (tensor ->
 * buffer when to_pixels), in tiles of TILE pixels x TILE_DIMS channels. */
static void change_layout(const cbl_state *s, const lk_tensor *t, double *buffer, int64_t first,
                          int64_t last, int to_pixels)
{
    int64_t plane = s->plane, dim = s->dim, base = s->image * dim * plane;
    for (int64_t begin = first; begin < last; begin += TILE) {
        int64_t end = begin + TILE < last ? begin + TILE : last;
        for (int64_t first_dim = 0; first_dim < dim; first_dim += TILE_DIMS) {
            int64_t last_dim = first_dim + TILE_DIMS < dim ? first_dim + TILE_DIMS : dim;
            for (int64_t p = begin; p < end; p++) {
                for (int64_t d = first_dim; d < last_dim; d++) {
                    int64_t i = base + d * plane + p;
                    if (t->dtype == LK_F32 && to_pixels)
                        buffer[p * dim + d] = ((const float *)t->data)[i];
                    else if (t->dtype == LK_F32)
                        ((float *)t->data)[i] = (float)buffer[p * dim + d];
                    else if (to_pixels)
                        buffer[p * dim + d] = ((const double *)t->data)[i];
                    else
                        ((double *)t->data)[i] = buffer[p * dim + d];
                }
            }
        }
    }
}

/* Pixels [first, last) of the current image's features, pixel-major, and
 * their norms. */
static void load_pixels(cbl_state *s, int64_t first, int64_t last)
{
    change_layout(s, &s->call->inputs[IN_FEATURES], s->x, first, last, 1);
    for (int64_t p = first; p < last; p++) s->norm[p] = sqrt(lk_dot_lanes(s->x + p * s->dim, s->x + p * s->dim, s->dim));
}


static inline void add_scaled(double *restrict out, const double *restrict v, double scale, int64_t dim)
{
    for (int64_t d = 0; d < dim; d++) out[d] += scale * v[d];
}

/* coef d cos(u, v) / d u = coef (v / (nu nv) - u cos / (nu |u|)), nu = max(|u|,
 * eps) (the clamp is a constant to torch's autograd): v's part is added into
 * out, u's coefficient returned (u's part is added once for all pairs). */
static inline double add_cosine_gradient(double *out, double u_norm, const double *v, double v_norm,
                                         double cos, double coef, int64_t dim)
{
    double nu = fmax(u_norm, NORM_EPS), nv = fmax(v_norm, NORM_EPS);
    add_scaled(out, v, coef / (nu * nv), dim);
    return u_norm > 0 ? -coef * cos / (nu * u_norm) : 0;
}

/* The context term of pixel p (row, col): its 24 coefficients and cosines
 * into pair[], its own gradient into grad[p]; returns its loss. */
LK_HOT static double context_pixel(cbl_state *s, int64_t p, int64_t row, int64_t col, double scale)
{
    int64_t dim = s->dim, w = s->width;
    const double *xp = s->x + p * dim;
    int32_t y = s->label[s->image * s->plane + p];
    double loss = 0, own = 0;
    for (int o = 0; o < RING; o++) {
        int64_t q = (row + ring_row[o]) * w + col + ring_col[o];
        const double *xq = s->x + q * dim;
        double cos = lk_dot_lanes(xp, xq, dim) / (fmax(s->norm[p], NORM_EPS) * fmax(s->norm[q], NORM_EPS));
        double r = cos - (double)(s->label[s->image * s->plane + q] == y);
        loss += scale * r * r;
        s->pair[(p * RING + o) * 2] = 2 * scale * r;
        s->pair[(p * RING + o) * 2 + 1] = cos;
        if (s->want_grads) own += add_cosine_gradient(s->grad + p * dim, s->norm[p], xq, s->norm[q], cos, 2 * scale * r, dim);
    }
    if (s->want_grads) add_scaled(s->grad + p * dim, xp, own, dim);
    return loss;
}

/* sum of the ring neighbours' features with p's label (and predicted right
 * when `correct`), divided by count + 1e-5. */
LK_HOT static void neighbour_average(const cbl_state *s, int64_t p, int64_t row, int64_t col, int correct,
                              int count, double *out)
{
    int64_t dim = s->dim, w = s->width, base = s->image * s->plane;
    int32_t y = s->label[base + p];
    memset(out, 0, (size_t)dim * sizeof *out);
    for (int o = 0; o < RING; o++) {
        int64_t rr = row + ring_row[o], cc = col + ring_col[o];
        if (!in_image(s, rr, cc)) continue;
        int64_t q = rr * w + cc;
        if (s->label[base + q] != y || (correct && s->pred[base + q] != y)) continue;
        add_scaled(out, s->x + q * dim, 1.0, dim);
    }
    double inverse = 1.0 / ((double)count + COUNT_EPS);
    for (int64_t d = 0; d < dim; d++) out[d] *= inverse;
}

/* scale CE(W v + b, k); dl = scale (softmax - e_k) / (count + 1e-5): each
 * averaged neighbour receives W^T dl; with want_classifier the classifier's
 * gradient is added to dweight (K, D) and dbias (K,). */
LK_HOT static double classify(const cbl_state *s, const double *v, int32_t k, double scale, int count,
                              double *logits, double *dl, double *dweight)
{
    int64_t dim = s->dim, classes = s->classes;
    double largest = -INFINITY, total = 0;
    for (int64_t c = 0; c < classes; c++) {
        logits[c] = lk_dot_lanes(s->weight + c * dim, v, dim) + s->bias[c];
        largest = fmax(largest, logits[c]);
    }
    for (int64_t c = 0; c < classes; c++) total += exp(logits[c] - largest);
    double log_total = largest + log(total), loss = scale * (log_total - logits[k]);
    if (!s->want_grads) return loss;
    double inverse = 1.0 / ((double)count + COUNT_EPS);
    for (int64_t c = 0; c < classes; c++) {
        logits[c] = scale * (exp(logits[c] - log_total) - (c == k));
        dl[c] = logits[c] * inverse;
    }
    if (s->want_classifier) {
        for (int64_t c = 0; c < classes; c++) add_scaled(dweight + c * dim, v, logits[c], dim);
        for (int64_t c = 0; c < classes; c++) dweight[classes * dim + c] += logits[c];
    }
    return loss;
}

/* The NCE and CN terms of pixel p; what its neighbours receive into dl_all,
 * dl_correct and pull, its own CN gradient into grad[p]. */
LK_HOT static double neighbour_terms(cbl_state *s, int64_t task, int64_t p, int64_t row, int64_t col)
{
    int64_t dim = s->dim, i = s->image * s->plane + p;
    int32_t y = s->label[i];
    double *average = s->task_scratch + task * (2 * dim + s->classes), *logits = average + dim;
    double *dweight = s->task_dweight + task * (s->classes * dim + s->classes);
    double loss = 0;
    if ((s->role[i] & ROLE_ALL) && s->all_scale[y] > 0) {
        neighbour_average(s, p, row, col, 0, s->count_all[i], average);
        loss += classify(s, average, y, s->all_scale[y], s->count_all[i], logits, s->dl_all + p * s->classes,
                         dweight);
    }
    if (!(s->role[i] & ROLE_CORRECT) || s->correct_scale[y] == 0) return loss;
    neighbour_average(s, p, row, col, 1, s->count_correct[i], average);
    loss += classify(s, average, y, s->correct_scale[y], s->count_correct[i], logits,
                     s->dl_correct + p * s->classes, dweight);
    const double *xp = s->x + p * dim;
    double squares = 0, cn = s->cn_scale[y];
    for (int64_t d = 0; d < dim; d++) squares += (xp[d] - average[d]) * (xp[d] - average[d]);
    if (!s->want_grads) return loss + cn * squares;
    for (int64_t d = 0; d < dim; d++) s->grad[p * dim + d] += 2 * cn * (xp[d] - average[d]);
    if (!s->detach) { /* the targets c_p move too: -2 cn (f_p - c_p) / (|C_p| + 1e-5) to each */
        double outgoing = -2 * cn / ((double)s->count_correct[i] + COUNT_EPS);
        for (int64_t d = 0; d < dim; d++) s->pull[p * dim + d] = outgoing * (xp[d] - average[d]);
    }
    return loss + cn * squares;
}

/* The rows [*first, *last) of a task. */
static void task_rows(const cbl_state *s, int64_t task, int64_t *first, int64_t *last)
{
    *first = task * s->rows_per_task;
    *last = *first + s->rows_per_task < s->height ? *first + s->rows_per_task : s->height;
}

static void load_task(void *arg, int64_t task, int worker)
{
    (void)worker;
    cbl_state *s = arg;
    int64_t first, last;
    task_rows(s, task, &first, &last);
    load_pixels(s, first * s->width, last * s->width);
}

static void forward_task(void *arg, int64_t task, int worker)
{
    (void)worker;
    cbl_state *s = arg;
    int64_t first, last;
    task_rows(s, task, &first, &last);
    double loss = 0, context = s->context_scale[s->image];
    if (s->want_grads)
        memset(s->grad + first * s->width * s->dim, 0, (size_t)((last - first) * s->width * s->dim) * sizeof(double));
    for (int64_t row = first; row < last; row++) {
        for (int64_t col = 0; col < s->width; col++) {
            int64_t p = row * s->width + col;
            if ((s->role[s->image * s->plane + p] & ROLE_CONTEXT) && context > 0)
                loss += context_pixel(s, p, row, col, context);
            loss += neighbour_terms(s, task, p, row, col);
        }
    }
    s->task_loss[task] = loss;
}

/* What pixel q (row, col) receives from its neighbours: the context terms of
 * the pixels p = q - o, and, through W^T, the classifications of the
 * averages q takes part in (dl summed into the K-vector `received` first). */
LK_HOT static void gather_pixel(cbl_state *s, int64_t q, int64_t row, int64_t col, double *received)
{
    int64_t dim = s->dim, w = s->width, base = s->image * s->plane, classes = s->classes;
    int32_t y = s->label[base + q];
    int correct = y >= 0 && s->pred[base + q] == y;
    double *out = s->grad + q * dim, context = s->context_scale[s->image], own = 0;
    memset(received, 0, (size_t)classes * sizeof *received);
    for (int o = 0; o < RING; o++) {
        int64_t rr = row - ring_row[o], cc = col - ring_col[o];
        if (!in_image(s, rr, cc)) continue;
        int64_t p = rr * w + cc;
        uint8_t role = s->role[base + p];
        if ((role & ROLE_CONTEXT) && context > 0) {
            const double *pair = s->pair + (p * RING + o) * 2;
            own += add_cosine_gradient(out, s->norm[q], s->x + p * dim, s->norm[p], pair[1], pair[0], dim);
        }
        if (y < 0 || s->label[base + p] != y) continue;
        if ((role & ROLE_ALL) && s->all_scale[y] > 0) add_scaled(received, s->dl_all + p * classes, 1.0, classes);
        if (!correct || !(role & ROLE_CORRECT) || s->correct_scale[y] == 0) continue;
        add_scaled(received, s->dl_correct + p * classes, 1.0, classes);
        if (!s->detach) add_scaled(out, s->pull + p * dim, 1.0, dim);
    }
    add_scaled(out, s->x + q * dim, own, dim);
    for (int64_t c = 0; c < classes; c++)
        if (received[c] != 0) add_scaled(out, s->weight + c * dim, received[c], dim);
}

static void backward_task(void *arg, int64_t task, int worker)
{
    (void)worker;
    cbl_state *s = arg;
    int64_t first, last;
    task_rows(s, task, &first, &last);
    double *received = s->task_scratch + task * (2 * s->dim + s->classes);
    for (int64_t row = first; row < last; row++)
        for (int64_t col = 0; col < s->width; col++) gather_pixel(s, row * s->width + col, row, col, received);
    change_layout(s, &s->call->grads[IN_FEATURES], s->grad, first * s->width, last * s->width, 0);
}

/* ------------------------------------------------------------ the call */

static void store_classifier_gradient(const cbl_state *s, const double *total)
{
    int64_t weights = s->classes * s->dim;
    for (int slot = IN_WEIGHT; slot <= IN_BIAS; slot++) {
        const lk_tensor *grad = &s->call->grads[slot];
        if (!grad->data) continue;
        const double *values = slot == IN_WEIGHT ? total : total + weights;
        int64_t count = lk_numel(grad);
        for (int64_t i = 0; i < count; i++) {
            double value = s->want_classifier ? values[i] : 0.0;
            if (grad->dtype == LK_F32)
                ((float *)grad->data)[i] = (float)value;
            else
                ((double *)grad->data)[i] = value;
        }
    }
}

static lk_status prepare(cbl_state *s, int has_map)
{
    const lk_call *call = s->call;
    lk_status status = LK_OK;
    if (lk_find_nonfinite(&call->inputs[IN_FEATURES]) >= 0 || lk_find_nonfinite(&call->inputs[IN_WEIGHT]) >= 0 ||
        lk_find_nonfinite(&call->inputs[IN_BIAS]) >= 0)
        status = lk_report_nonfinite(call, NAN);
    if (status == LK_OK) status = load_labels(call, IN_TARGET, s->label);
    if (status == LK_OK) status = load_labels(call, IN_PREDICTION, s->pred);
    if (status != LK_OK) return status;
    if (has_map) return load_boundary_map(s);
    int64_t longest = s->height > s->width ? s->height : s->width, d = boundary_radius(s);
    int32_t *runs = malloc((size_t)(2 * longest) * sizeof *runs);
    if (!runs) return lk_fail(LK_ENOMEM, "out of memory");
    for (int64_t n = 0; n < call->batch; n++) boundary_from_labels(s, n, d, runs, runs + longest);
    free(runs);
    return LK_OK;
}

static void load_classifier(cbl_state *s)
{
    int64_t weights = s->classes * s->dim;
    for (int64_t i = 0; i < weights; i++) s->weight[i] = lk_read_real(&s->call->inputs[IN_WEIGHT], i);
    for (int64_t k = 0; k < s->classes; k++) s->bias[k] = lk_read_real(&s->call->inputs[IN_BIAS], k);
}

/* Runs the images one after the other; the tasks of an image in parallel. */
static double run_images(cbl_state *s, double *dclassifier)
{
    int64_t per_task = s->classes * s->dim + s->classes;
    double total = 0;
    for (int64_t n = 0; n < s->call->batch; n++) {
        s->image = n;
        int64_t items = s->plane * s->dim;
        lk_parallel_for_items(s->call->ctx, s->tasks, items, load_task, s);
        memset(s->task_dweight, 0, (size_t)(s->tasks * per_task) * sizeof(double));
        lk_parallel_for_items(s->call->ctx, s->tasks, items, forward_task, s);
        for (int64_t t = 0; t < s->tasks; t++) total += s->task_loss[t];
        if (!s->want_grads) continue;
        if (lk_grad_data(s->call, IN_FEATURES))
            lk_parallel_for_items(s->call->ctx, s->tasks, items, backward_task, s);
        for (int64_t t = 0; t < s->tasks && s->want_classifier; t++)
            add_scaled(dclassifier, s->task_dweight + t * per_task, 1.0, per_task);
    }
    return total;
}

typedef struct cbl_buffers {
    void *ptr[24];
    int count;
} cbl_buffers;

static void *take(cbl_buffers *b, size_t items, size_t size)
{
    void *p = calloc(items ? items : 1, size);
    b->ptr[b->count++] = p;
    return p;
}

static lk_status cbl_compute(const lk_call *call)
{
    int has_map = call->desc->n_inputs > IN_BOUNDARY;
    cbl_state s = {0};
    s.call = call;
    s.height = call->inputs[IN_FEATURES].shape[2];
    s.width = call->inputs[IN_FEATURES].shape[3];
    s.plane = s.height * s.width;
    s.dim = call->inputs[IN_FEATURES].shape[1];
    s.classes = call->inputs[IN_WEIGHT].shape[0];
    s.detach = lk_param_bool(call->params, P_DETACH);
    s.want_grads = lk_grad_data(call, IN_FEATURES) || lk_grad_data(call, IN_WEIGHT) || lk_grad_data(call, IN_BIAS);
    s.want_classifier = !s.detach && (lk_grad_data(call, IN_WEIGHT) || lk_grad_data(call, IN_BIAS));
    s.rows_per_task = (TASK_PIXELS + s.width - 1) / s.width;
    s.tasks = (s.height + s.rows_per_task - 1) / s.rows_per_task;
    int64_t pixels = call->batch * s.plane, per_task = s.classes * s.dim + s.classes;
    size_t plane = (size_t)s.plane, dim = (size_t)s.dim, d = sizeof(double);
    cbl_buffers b = {{0}, 0};
    s.label = take(&b, (size_t)pixels, sizeof(int32_t));
    s.pred = take(&b, (size_t)pixels, sizeof(int32_t));
    s.boundary = take(&b, (size_t)pixels, 1);
    s.role = take(&b, (size_t)pixels, 1);
    s.count_all = take(&b, (size_t)pixels, 1);
    s.count_correct = take(&b, (size_t)pixels, 1);
    s.context_scale = take(&b, (size_t)call->batch, d);
    s.all_scale = take(&b, (size_t)s.classes, d);
    s.correct_scale = take(&b, (size_t)s.classes, d);
    s.cn_scale = take(&b, (size_t)s.classes, d);
    s.weight = take(&b, (size_t)(s.classes * s.dim), d);
    s.bias = take(&b, (size_t)s.classes, d);
    s.x = take(&b, plane * dim, d);
    s.norm = take(&b, plane, d);
    s.pair = take(&b, plane * RING * 2, d);
    s.dl_all = take(&b, plane * (size_t)s.classes, d);
    s.dl_correct = take(&b, plane * (size_t)s.classes, d);
    s.pull = take(&b, s.detach ? 1 : plane * dim, d);
    s.grad = take(&b, plane * dim, d);
    s.task_loss = take(&b, (size_t)s.tasks, d);
    s.task_dweight = take(&b, (size_t)(s.tasks * per_task), d);
    s.task_scratch = take(&b, (size_t)(s.tasks * (2 * s.dim + s.classes)), d);
    double *dclassifier = take(&b, (size_t)per_task, d);
    int64_t *counts = take(&b, (size_t)(2 * call->batch + 2 * s.classes), sizeof(int64_t));
    lk_status status = LK_OK;
    for (int i = 0; i < b.count; i++)
        if (!b.ptr[i]) status = lk_fail(LK_ENOMEM, "out of memory");
    if (status == LK_OK) status = prepare(&s, has_map);
    if (status == LK_OK) {
        int quirks = lk_param_bool(call->params, P_QUIRKS);
        int64_t *b_count = counts, *p_count = counts + call->batch, *s1 = p_count + call->batch, *s2 = s1 + s.classes;
        assign_roles(&s, quirks, b_count, p_count, s1, s2);
        set_scales(&s, quirks, b_count, p_count, s1, s2);
        load_classifier(&s);
        double total = run_images(&s, dclassifier);
        store_classifier_gradient(&s, dclassifier);
        status = lk_finish_loss(call, total, 1.0);
    }
    for (int i = 0; i < b.count; i++) free(b.ptr[i]);
    return status;
}

/* ------------------------------------------------------------ registry */

#define CBL_INPUTS                                                                                  \
    {"features", "feature map (N, D, H, W) (the reference's output_er)", LK_DTYPES_FLOAT,           \
     LK_SHAPE_SCORES, LK_DOMAIN_REAL, 1},                                                           \
        {"target", "class indices (N, H, W) or (N, 1, H, W) in [0, K), or ignore_index",            \
         LK_DTYPES_LABEL, LK_SHAPE_CLASS_TARGET, LK_DOMAIN_CLASSIFIER_LABELS, 0},                   \
        {"prediction", "predicted class indices (N, H, W), the argmax of the segmentation logits",  \
         LK_DTYPES_LABEL, LK_SHAPE_CLASS_TARGET, LK_DOMAIN_CLASSIFIER_LABELS, 0},                   \
        {"weight", "the segmentation classifier's weight (K, D) (conv_seg.weight flattened)",       \
         LK_DTYPES_FLOAT, LK_SHAPE_CLASSIFIER_WEIGHT, LK_DOMAIN_REAL, 1},                           \
        {"bias", "the classifier's bias (K,)", LK_DTYPES_FLOAT, LK_SHAPE_CLASSIFIER_BIAS,           \
         LK_DOMAIN_REAL, 1}

static const lk_input_info cbl_inputs[] = {CBL_INPUTS};
static const lk_input_info cbl_map_inputs[] = {
    CBL_INPUTS,
    {"boundary", "ground-truth boundary map (N, H, W): 1 boundary, 0 not, ignore_index read as 0",
     LK_DTYPES_LABEL, LK_SHAPE_CLASS_TARGET, LK_DOMAIN_BINARY, 0},
};

static const lk_param_info cbl_params[P_COUNT] = {
    [P_CONTEXT_WEIGHT] = {"context_weight", LK_PARAM_FLOAT, "1", 0, INFINITY, 0, NULL,
                          "weight of the context term (cosine similarities in the 5 x 5 window)"},
    [P_NCE_WEIGHT] = {"nce_weight", LK_PARAM_FLOAT, "0.2", 0, INFINITY, 0, NULL,
                      "weight of the NCE term (the neighbour averages classified as the class)"},
    [P_CN_WEIGHT] = {"cn_weight", LK_PARAM_FLOAT, "2", 0, INFINITY, 0, NULL,
                     "weight of the CN term (MSE to the correct same-class neighbours' average)"},
    [P_DETACH] = {"detach", LK_PARAM_BOOL, "true", 0, 0, 0, NULL,
                  "the classifier and the CN targets are constants (the reference's gradient); "
                  "false: the loss's exact derivative"},
    [P_IGNORE_INDEX] = {"ignore_index", LK_PARAM_INT, "255", -LK_INT_LIMIT, LK_INT_LIMIT, 0, NULL,
                        "label of ignored pixels (also accepted in prediction, never correct)"},
    [P_QUIRKS] = {"reference_quirks", LK_PARAM_BOOL, "true", 0, 0, 0, NULL,
                  "context term as the reference: class 0's boundary pixels left out, and 0 for the "
                  "batch when an image's boundary lies only within 2 pixels of its edge"},
    [P_DILATION_RATIO] = {"boundary_dilation_ratio", LK_PARAM_FLOAT, "0.02", 0, 1, 0, NULL,
                          "boundary width d = max(1, round(ratio x image diagonal)) (the "
                          "reference's mask_to_boundary)"},
    [P_RADIUS] = {"boundary_radius", LK_PARAM_INT, "0", 0, 1 << 20, 0, NULL,
                  "boundary width d in pixels (Chebyshev); 0: from boundary_dilation_ratio"},
};

/* The default detaches: the sweep's finite differences need the exact derivative. */
static const char *const cbl_examples[] = {
    "detach=false",
    "detach=false,reference_quirks=false,boundary_radius=2",
    "detach=false,context_weight=0.5,nce_weight=1,cn_weight=0.3,ignore_index=1",
    "detach=false,boundary_dilation_ratio=0",
    NULL,
};

static const char *const cbl_map_examples[] = {
    "detach=false",
    "detach=false,reference_quirks=false",
    "detach=false,context_weight=0,ignore_index=1",
    "detach=false,nce_weight=1,cn_weight=0.5",
    NULL,
};

#define CBL_DESC_COMMON                                                                             \
    .category = LK_CATEGORY_BOUNDARY,                                                               \
    .formula = "loss = context_weight mean (cos(f_p, f_q) - [y_p == y_q])^2 + nce_weight mean "     \
               "CE(W avg_same(p) + b, y_p) + cn_weight mean |f_p - avg_correct(p)|^2 / D, at "    \
               "ground-truth boundary pixels p, q in p's 5 x 5 window",                            \
    .reference = "D. Wu et al., Conditional Boundary Loss for Semantic Segmentation, IEEE TIP 2023", \
    .output = LK_OUTPUT_SCALAR, .check = cbl_check, .compute = cbl_compute

const lk_loss_desc lk_loss_conditional_boundary = {
    .name = "conditional_boundary",
    .summary = "Conditional Boundary Loss on feature maps: context, neighbour-classification "
               "(NCE) and correct-neighbour (CN) terms at the boundary computed from the labels "
               "(Wu et al.)",
    .notes = "Inputs: features, labels, predicted labels, classifier weight and bias. The "
             "reference's weights (1, 0.2, 2), quirks (reference_quirks) and boundary rule "
             "(cv2 erosion, d from 0.02 x the diagonal, image edge counts); detach=true is the "
             "reference's gradient (classifier and CN targets constant). Empty terms are 0.",
    LK_DESC_INPUTS(cbl_inputs),
    LK_DESC_PARAMS(cbl_params),
    .examples = cbl_examples,
    CBL_DESC_COMMON,
};

const lk_loss_desc lk_loss_conditional_boundary_map = {
    .name = "conditional_boundary_map",
    .summary = "Conditional Boundary Loss with a given ground-truth boundary map (the "
               "reference's gt_boundary_seg) (Wu et al.)",
    .notes = "conditional_boundary with the boundary map as a sixth input (1 boundary, 0 not, "
             "ignore_index read as 0) instead of computed from the labels.",
    .inputs = cbl_map_inputs,
    .n_inputs = LK_COUNT_OF(cbl_map_inputs),
    .params = cbl_params,
    .n_params = P_COUNT_MAP,
    .examples = cbl_map_examples,
    CBL_DESC_COMMON,
};
