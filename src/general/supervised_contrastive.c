/*
 * Supervised Contrastive loss (SupCon): V views of each of B samples; every
 * anchor is pulled towards all embeddings of its class and pushed from the
 * rest. The contrast set is the B V embeddings in view-major order
 * (c_r = features[r mod B][r div B]); the anchors are all of them
 * (contrast_mode=all) or view 0 of each sample (one). For anchor i:
 *
 *   l_ij   = a_i . c_j / T
 *   LSE_i  = log sum_{j != i} exp l_ij
 *   loss_i = -(T / T_base) sum_{j != i} w_ij (l_ij - LSE_i) / P_i
 *   loss   = mean over the anchors
 *
 * with w_ij = [labels of the two samples are equal], or mask[i mod B][j mod B]
 * given as a float (B, B) mask (weights in [0, 1], possibly asymmetric), and
 * P_i = sum_j w_ij, or 1 when that is below 1e-6 (an anchor without
 * positives adds 0). Gradient, with g_ij = (T / T_base)(W_i softmax_ij - w_ij)
 * / P_i (0 at j = i) times the reduction's scale: d c = G^T a / T, plus G c / T
 * on the anchors' rows (with all anchors: (G + G^T) c / T). normalize=true
 * L2-normalizes each embedding first and differentiates through it.
 *
 * Reference: P. Khosla et al., "Supervised Contrastive Learning", NeurIPS
 * 2020, L^sup_out. Conventions: the authors' SupConLoss (HobbitLong/
 * SupContrast losses.py; temperature 0.07, base_temperature 0.07,
 * contrast_mode 'all'): features (bsz, n_views, D), labels (bsz,) or mask
 * (bsz, bsz); the loss does NOT normalize (their network does: normalize
 * defaults to false here too). An anchor without positives adds 0, with the
 * divisor guard of later versions of losses.py (mask_pos_pairs = 1 where
 * the mask's row sums to < 1e-6); the versions read here divide 0 by 0 (NaN),
 * and one of them adds 1e-9 inside the log, which changes the value only when
 * every other logit is ~20 below the self-similarity. Their SimCLR mode (no
 * labels, no mask) is labels = arange(bsz). reduction=none gives
 * (anchor_count, bsz), as their loss.view(anchor_count, batch_size).
 */
#ifndef LK_REAL
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/loss.h"
#include "general/similarity.h"

enum { P_TEMPERATURE, P_BASE_TEMPERATURE, P_CONTRAST_MODE, P_NORMALIZE, P_REDUCTION, P_COUNT };
enum { MODE_ALL = 0, MODE_ONE = 1 };
enum { IN_FEATURES = 0, IN_LABELS = 1 };

typedef struct supcon_weights {
    int64_t samples, contrast;
    const int64_t *labels; /* [samples], or NULL with a mask */
    const void *mask;      /* (samples, samples) in the features' dtype */
} supcon_weights;

#define LK_TYPED_FILE "general/supervised_contrastive.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

/* Row i's positive weights over the contrast set (0 at the anchor itself). */
static void LK_T(supcon_row_weights)(const void *arg, int64_t row, void *out)
{
    const supcon_weights *w = arg;
    lk_real *weights = out;
    int64_t sample = row % w->samples;
    if (w->labels) {
        const int64_t *labels = w->labels, label = labels[sample];
        for (int64_t j = 0; j < w->contrast; j++) weights[j] = labels[j % w->samples] == label;
    } else {
        const lk_real *mask = (const lk_real *)w->mask + sample * w->samples;
        for (int64_t j = 0; j < w->contrast; j++) weights[j] = mask[j % w->samples];
    }
    weights[row] = 0;
}

/* contrast[v B + b] = features[b][v]. */
static void LK_T(gather_views)(const lk_real *features, int64_t samples, int64_t views, int64_t d,
                               lk_real *contrast)
{
    for (int64_t v = 0; v < views; v++)
        for (int64_t b = 0; b < samples; b++)
            memcpy(contrast + (v * samples + b) * d, features + (b * views + v) * d, (size_t)d * sizeof(lk_real));
}

static void LK_T(scatter_views)(const lk_real *contrast, int64_t samples, int64_t views, int64_t d,
                                lk_real *features)
{
    for (int64_t v = 0; v < views; v++)
        for (int64_t b = 0; b < samples; b++)
            memcpy(features + (b * views + v) * d, contrast + (v * samples + b) * d, (size_t)d * sizeof(lk_real));
}

static void LK_T(supcon_logits)(const lk_call *call, const lk_real *contrast, int64_t anchors,
                                int64_t rows, int64_t d, double inverse_t, lk_real *logits)
{
    if (anchors == rows)
        LK_T(lk_gram)(call->ctx, contrast, d, logits, rows, rows, d, (lk_real)inverse_t);
    else
        LK_T(lk_gemm)(call->ctx, lk_plain(contrast, d), lk_transposed(contrast, d), logits, rows, anchors, d, rows,
                      (lk_real)inverse_t, 0);
}

/* d contrast (rows x d) from G (anchors x rows). */
static void LK_T(supcon_gradient)(const lk_call *call, const lk_real *contrast, int64_t anchors,
                                  int64_t rows, int64_t d, double inverse_t, lk_real *g, lk_real *grad)
{
    const lk_real alpha = (lk_real)inverse_t;
    if (anchors == rows) {
        LK_T(lk_symmetrize)(g, rows);
        LK_T(lk_gemm)(call->ctx, lk_plain(g, rows), lk_plain(contrast, d), grad, d, rows, rows, d, alpha, 0);
        return;
    }
    LK_T(lk_gemm)(call->ctx, lk_transposed(g, rows), lk_plain(contrast, d), grad, d, rows, anchors, d, alpha, 0);
    LK_T(lk_gemm)(call->ctx, lk_plain(g, rows), lk_plain(contrast, d), grad, d, anchors, rows, d, alpha, 1);
}

#endif /* typed section */

#ifndef LK_REAL

/* The labels as int64, or the check of the mask's weights. */
static lk_status read_positives(const lk_call *call, supcon_weights *w, int64_t **labels)
{
    const lk_tensor *target = &call->inputs[IN_LABELS];
    if (lk_dtype_is_float(target->dtype)) {
        w->mask = target->data;
        for (int64_t k = 0; k < lk_numel(target); k++) {
            double value = lk_read_real(target, k);
            if (!(value >= 0 && value <= 1))
                return lk_unit_interval_error(target, call->desc->inputs[IN_LABELS].name, k, "a mask weight", "");
        }
        return LK_OK;
    }
    *labels = malloc((size_t)w->samples * sizeof **labels);
    if (!*labels) return lk_fail(LK_ENOMEM, "out of memory for %lld labels", (long long)w->samples);
    for (int64_t b = 0; b < w->samples; b++) (*labels)[b] = lk_read_label(target, b);
    w->labels = *labels;
    return LK_OK;
}

static lk_status supcon_compute(const lk_call *call)
{
    lk_status status = lk_check_finite_inputs(call);
    if (status != LK_OK) return status;
    const lk_tensor *features = &call->inputs[IN_FEATURES];
    lk_dtype dtype = features->dtype;
    int64_t samples = features->shape[0], views = features->shape[1], d = features->shape[2];
    int64_t rows = samples * views;
    int64_t anchors = lk_param_choice(call->params, P_CONTRAST_MODE) == MODE_ONE ? samples : rows;
    double t = lk_param_float(call->params, P_TEMPERATURE);
    size_t real = lk_dtype_size(dtype);
    supcon_weights w = {samples, rows, NULL, NULL};
    int64_t *labels = NULL;
    double *norms = NULL;
    void *contrast = malloc((size_t)(rows * d) * real);
    void *logits = malloc((size_t)(anchors * rows) * real);
    double *row_loss = malloc((size_t)anchors * sizeof *row_loss);
    if (!contrast || !logits || !row_loss)
        status = lk_fail(LK_ENOMEM, "out of memory for the %lld x %lld logits", (long long)anchors, (long long)rows);
    if (status == LK_OK) status = read_positives(call, &w, &labels);
    if (status == LK_OK) {
        if (dtype == LK_F32)
            gather_views_f32(features->data, samples, views, d, contrast);
        else
            gather_views_f64(features->data, samples, views, d, contrast);
        if (lk_param_bool(call->params, P_NORMALIZE))
            status = lk_rows_normalize_in_place(call->ctx, dtype, contrast, rows, d, &norms);
    }
    if (status == LK_OK) {
        if (dtype == LK_F32)
            supcon_logits_f32(call, contrast, anchors, rows, d, 1 / t, logits);
        else
            supcon_logits_f64(call, contrast, anchors, rows, d, 1 / t, logits);
        double scale = call->reduction == LK_REDUCTION_MEAN ? 1 / (double)anchors : 1;
        lk_softmax_rows softmax = {logits, anchors, rows, rows, 1, 0, 0,
                                   dtype == LK_F32 ? supcon_row_weights_f32 : supcon_row_weights_f64, &w,
                                   t / lk_param_float(call->params, P_BASE_TEMPERATURE), scale, row_loss,
                                   call};
        status = lk_softmax_rows_run(call->ctx, dtype, &softmax);
        if (status == LK_OK) status = lk_finish_loss(call, lk_store_row_losses(call, row_loss, anchors), scale);
    }
    void *grad = lk_grad_data(call, IN_FEATURES);
    if (status == LK_OK && grad) {
        void *grad_rows = malloc((size_t)(rows * d) * real);
        if (!grad_rows) status = lk_fail(LK_ENOMEM, "out of memory for the gradient rows");
        if (status == LK_OK && dtype == LK_F32) {
            supcon_gradient_f32(call, contrast, anchors, rows, d, 1 / t, logits, grad_rows);
            lk_rows_normalize_backward(call->ctx, dtype, contrast, norms, rows, d, grad_rows);
            scatter_views_f32(grad_rows, samples, views, d, grad);
        } else if (status == LK_OK) {
            supcon_gradient_f64(call, contrast, anchors, rows, d, 1 / t, logits, grad_rows);
            lk_rows_normalize_backward(call->ctx, dtype, contrast, norms, rows, d, grad_rows);
            scatter_views_f64(grad_rows, samples, views, d, grad);
        }
        free(grad_rows);
    }
    free(contrast);
    free(logits);
    free(row_loss);
    free(labels);
    free(norms);
    return status;
}

/* (anchor_count, B) for reduction none. */
static void per_anchor(const lk_call *call, lk_tensor *out)
{
    int one = lk_param_choice(call->params, P_CONTRAST_MODE) == MODE_ONE;
    out->ndim = 2;
    out->shape[0] = one ? 1 : call->inputs[IN_FEATURES].shape[1];
    out->shape[1] = call->batch;
}

static const lk_input_info supcon_inputs[] = {
    {"features", "embeddings (B, V, D): V views of each of B samples", LK_DTYPES_FLOAT,
     LK_SHAPE_VIEWS, LK_DOMAIN_REAL, 1},
    {"labels", "class labels (B,), compared for equality; or a float mask (B, B) of positive "
               "weights in [0, 1] (row: anchor's sample, column: contrast's sample)",
     LK_DTYPES_LABEL | LK_DTYPES_FLOAT, LK_SHAPE_ROW_TARGET, LK_DOMAIN_GROUPS, 0},
};

static const lk_param_info supcon_params[P_COUNT] = {
    [P_TEMPERATURE] = LK_PARAM_TEMPERATURE("0.07", "(the authors' 0.07)"),
    [P_BASE_TEMPERATURE] = {"base_temperature", LK_PARAM_FLOAT, "0.07", 0, INFINITY, LK_RANGE_MIN_OPEN,
                            NULL, "the loss is scaled by T / base_temperature (the authors' 0.07)"},
    [P_CONTRAST_MODE] = {"contrast_mode", LK_PARAM_CHOICE, "all", 0, 0, 0, "all|one",
                         "all: every embedding is an anchor; one: view 0 of each sample only"},
    [P_NORMALIZE] = LK_PARAM_NORMALIZE("false", "; false, as the authors' loss: the features "
                                                "as given (their network normalizes)"),
    [P_REDUCTION] = {"reduction", LK_PARAM_CHOICE, "mean", 0, 0, 0, "mean|sum|none",
                     "mean: over the anchors; sum: the sum; none: (anchor_count, B), one value "
                     "per anchor"},
};

static const char *const supcon_examples[] = {
    "",
    "contrast_mode=one",
    "normalize=true,temperature=0.5,base_temperature=0.2",
    "reduction=sum,contrast_mode=one,normalize=true",
    "reduction=none,temperature=0.3",
    NULL,
};

const lk_loss_desc lk_loss_supervised_contrastive = {
    .name = "supervised_contrastive",
    .category = LK_CATEGORY_GENERAL,
    .summary = "Supervised Contrastive (SupCon): each anchor against all embeddings of its "
               "class (positives) and of the other classes, over V views of B samples",
    .formula = "loss_i = -(T/T_base) sum_{j != i} w_ij (l_ij - log sum_{k != i} exp l_ik) / "
               "sum_j w_ij, l_ij = a_i.c_j / T",
    .reference = "P. Khosla et al., Supervised Contrastive Learning, NeurIPS 2020",
    .notes = "As the authors' SupConLoss (temperature 0.07, base_temperature 0.07, "
             "contrast_mode all, features (bsz, n_views, D), labels or a mask): the features are "
             "not normalized unless normalize=true; an anchor without positives adds 0 (the "
             "divisor guard of later losses.py; the 2020 code gives NaN). SimCLR mode: "
             "labels = arange(B).",
    LK_DESC_INPUTS(supcon_inputs),
    LK_DESC_PARAMS(supcon_params),
    .examples = supcon_examples,
    .output = LK_OUTPUT_PER_ANCHOR,
    .compute = supcon_compute,
    .takes_upstream = 1,
    .none_shape = per_anchor,
};

#endif
