/*
 * NT-Xent, the normalized temperature-scaled cross-entropy of SimCLR: two
 * views of each of N samples, z = [view1; view2] (2N, D); each of the 2N
 * embeddings is an anchor whose positive is the other view of its sample
 * (a <-> a + N) and whose negatives are the 2N - 2 others:
 *
 *   l_ab = z_a . z_b / T
 *   loss_a = -l_a,pos(a) + log sum_{b != a} exp l_ab
 *   loss = mean over the 2N anchors
 *
 * Gradient: with G the (2N, 2N) matrix of softmax_ab - [b = pos(a)] (0 on
 * the diagonal) times the reduction's scale, d z = (G + G^T) z / T: one
 * GEMM for the logits, one for the gradient (general/similarity.h), then
 * the exact backward of the L2 normalization (normalize=true, the default).
 *
 * Reference: T. Chen, S. Kornblith, M. Norouzi, G. Hinton, "A Simple
 * Framework for Contrastive Learning of Visual Representations" (SimCLR),
 * ICML 2020. Conventions: google-research/simclr objective.py
 * add_contrastive_loss with hidden_norm=True and run.py's temperature 0.1
 * (the function's own default is 1.0). SimCLR masks the self-similarity
 * with -1e9 (here: left out, the same to rounding) and returns the SUM of
 * the two views' means, i.e. twice the mean over the 2N anchors taken here
 * (as SupConLoss in SimCLR mode with T = base_T and most PyTorch ports);
 * reduction=sum divided by N gives SimCLR's number. reduction=none gives
 * the 2N anchors' losses in the order of z (view 1's, then view 2's).
 */
#ifndef LK_REAL
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/loss.h"
#include "general/similarity.h"

enum { P_TEMPERATURE, P_NORMALIZE, P_REDUCTION, P_COUNT };

#define LK_TYPED_FILE "general/nt_xent.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

/* logits = z z^T / T (2N x 2N). */
static void LK_T(nt_xent_logits)(const lk_call *call, const lk_real *z, int64_t rows, int64_t d,
                                 double inverse_t, lk_real *logits)
{
    LK_T(lk_gram)(call->ctx, z, d, logits, rows, rows, d, (lk_real)inverse_t);
}

/* d z = (G + G^T) z / T, written straight into the two views' gradients. */
static void LK_T(nt_xent_gradients)(const lk_call *call, const lk_real *z, int64_t n, int64_t d,
                                    double inverse_t, lk_real *g)
{
    int64_t rows = 2 * n;
    if (!lk_grad_data(call, 0) && !lk_grad_data(call, 1)) return;
    LK_T(lk_symmetrize)(g, rows);
    for (int view = 0; view < 2; view++) {
        lk_real *grad = lk_grad_data(call, (size_t)view);
        if (grad)
            LK_T(lk_gemm)(call->ctx, lk_plain(g + view * n * rows, rows), lk_plain(z, d), grad, d, n, rows, d,
                          (lk_real)inverse_t, 0);
    }
}

#endif /* typed section */

#ifndef LK_REAL

static lk_status nt_xent_compute(const lk_call *call)
{
    lk_status status = lk_check_finite_inputs(call);
    if (status != LK_OK) return status;
    lk_dtype dtype = call->inputs[0].dtype;
    int64_t n = call->inputs[0].shape[0], d = call->inputs[0].shape[1], rows = 2 * n;
    size_t real = lk_dtype_size(dtype), view_bytes = (size_t)(n * d) * real;
    double inverse_t = 1 / lk_param_float(call->params, P_TEMPERATURE);
    char *z = malloc(2 * view_bytes);
    void *logits = malloc((size_t)(rows * rows) * real);
    double *row_loss = malloc((size_t)rows * sizeof *row_loss), *norms = NULL;
    if (!z || !logits || !row_loss)
        status = lk_fail(LK_ENOMEM, "out of memory for the %lld x %lld logits", (long long)rows, (long long)rows);
    if (status == LK_OK) {
        memcpy(z, call->inputs[0].data, view_bytes);
        memcpy(z + view_bytes, call->inputs[1].data, view_bytes);
        if (lk_param_bool(call->params, P_NORMALIZE))
            status = lk_rows_normalize_in_place(call->ctx, dtype, z, rows, d, &norms);
    }
    if (status == LK_OK) {
        if (dtype == LK_F32)
            nt_xent_logits_f32(call, (const float *)z, rows, d, inverse_t, logits);
        else
            nt_xent_logits_f64(call, (const double *)z, rows, d, inverse_t, logits);
        double scale = call->reduction == LK_REDUCTION_MEAN ? 1 / (double)rows : 1;
        lk_softmax_rows softmax = {logits, rows, rows, rows, 1, n, 1, NULL, NULL, 1, scale, row_loss, call};
        status = lk_softmax_rows_run(call->ctx, dtype, &softmax);
        if (status == LK_OK) status = lk_finish_loss(call, lk_store_row_losses(call, row_loss, rows), scale);
    }
    if (status == LK_OK) {
        if (dtype == LK_F32)
            nt_xent_gradients_f32(call, (const float *)z, n, d, inverse_t, logits);
        else
            nt_xent_gradients_f64(call, (const double *)z, n, d, inverse_t, logits);
        for (int view = 0; view < 2; view++)
            lk_rows_normalize_backward(call->ctx, dtype, z + (size_t)view * view_bytes,
                                       norms ? norms + view * n : NULL, n, d, lk_grad_data(call, (size_t)view));
    }
    free(z);
    free(logits);
    free(row_loss);
    free(norms);
    return status;
}

static void per_anchor(const lk_call *call, lk_tensor *out)
{
    out->ndim = 1;
    out->shape[0] = 2 * call->batch;
}

static const lk_input_info nt_xent_inputs[] = {
    {"view1", "the first view's embeddings (N, D)", LK_DTYPES_FLOAT, LK_SHAPE_EMBEDDINGS,
     LK_DOMAIN_REAL, 1},
    {"view2", "the second view's embeddings (N, D): row i is the positive of view1's row i",
     LK_DTYPES_FLOAT, LK_SHAPE_LIKE_FIRST, LK_DOMAIN_REAL, 1},
};

static const lk_param_info nt_xent_params[P_COUNT] = {
    [P_TEMPERATURE] = LK_PARAM_TEMPERATURE("0.1", "(SimCLR's run.py 0.1)"),
    [P_NORMALIZE] = LK_PARAM_NORMALIZE("true", ", as SimCLR's hidden_norm=True; false: dot products"),
    [P_REDUCTION] = {"reduction", LK_PARAM_CHOICE, "mean", 0, 0, 0, "mean|sum|none",
                     "mean: over the 2N anchors (SimCLR's objective is twice this); sum: the "
                     "sum; none: (2N,), the anchors of view1 then view2"},
};

static const char *const nt_xent_examples[] = {
    "",
    "normalize=false,temperature=0.7",
    "reduction=sum",
    "reduction=none,temperature=0.3",
    NULL,
};

const lk_loss_desc lk_loss_nt_xent = {
    .name = "nt_xent",
    .category = LK_CATEGORY_GENERAL,
    .summary = "NT-Xent (SimCLR): each of 2N views against the other view of its sample, "
               "with the remaining 2N - 2 as negatives",
    .formula = "loss_a = -l_a,pos(a) + log sum_{b != a} exp l_ab, l_ab = z_a.z_b / T, "
               "z = [view1; view2], pos(a) = a +- N",
    .reference = "T. Chen, S. Kornblith, M. Norouzi, G. Hinton, A Simple Framework for "
                 "Contrastive Learning of Visual Representations, ICML 2020",
    .notes = "SimCLR's objective (hidden_norm=True, temperature 0.1) returns the sum of the two "
             "views' means, twice the mean over the 2N anchors taken here (as SupConLoss in "
             "SimCLR mode); reduction=sum / N is SimCLR's value. The self-similarity is left "
             "out (SimCLR subtracts 1e9).",
    LK_DESC_INPUTS(nt_xent_inputs),
    LK_DESC_PARAMS(nt_xent_params),
    .examples = nt_xent_examples,
    .output = LK_OUTPUT_PER_ANCHOR,
    .compute = nt_xent_compute,
    .takes_upstream = 1,
    .none_shape = per_anchor,
};

#endif
