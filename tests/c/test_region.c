/*
 * The statistics API of the region losses (include/losskit.h):
 *
 *   split batch  for every loss with stats, every example of its registry
 *                entry, several shapes, float32 and float64, label and dense
 *                targets: stats of the parts, gathered, finalized, and each
 *                part's backward give the loss and gradient of one
 *                lk_loss_compute on the whole batch, bit for bit, whatever
 *                the split and the thread counts;
 *   values       the sums of a small hand-made case, Dice of empty masks, one
 *                pixel objects, the single-channel mask convention, the
 *                columns of d loss / d stats that must be 0;
 *   errors       every entry point's bad input: the right status and a
 *                message naming the culprit.
 */
#include <stdlib.h>

#include "cases.h"
#include "check.h"

/* ------------------------------------------------------------ helpers */

/* Rows [first, first + count) along axis 0 of a contiguous tensor. */
static lk_tensor rows_of(const lk_tensor *t, int64_t first, int64_t count)
{
    lk_tensor part = *t;
    int64_t per_row = lk_tensor_numel(t) / t->shape[0];
    part.data = (char *)t->data + (size_t)(first * per_row) * lk_dtype_size(t->dtype);
    part.shape[0] = count;
    return part;
}

static lk_tensor f64_tensor(double *data, int ndim, int64_t a, int64_t b, int64_t c)
{
    lk_tensor t = {data, LK_F64, ndim, {a, b, c}};
    return t;
}

/* ------------------------------------------------------------ split batch */

/* The whole batch through stats / finalize / backward, the images cut at
 * cuts[0..parts-1), each part on its own context: loss and gradient must be
 * those of c (computed by lk_loss_compute), bit for bit. */
static void check_split(lk_case *c, const char *spec, const int64_t *cuts, int parts,
                        lk_context **contexts)
{
    const lk_loss_desc *desc = c->desc;
    int64_t images = c->inputs[0].shape[0];
    lk_tensor shape;
    CHECK_OK(lk_loss_stats_shape(desc, c->params, c->inputs, c->n_inputs, &shape));
    int64_t row = shape.shape[2], classes = shape.shape[1], block = classes * row;
    double *stats = malloc((size_t)(images * block) * sizeof(double));
    double *ds = malloc((size_t)(images * block) * sizeof(double));
    lk_tensor grad = c->grads[0];
    grad.data = malloc(lk_tensor_bytes(&grad));
    lk_tensor loss = c->loss;
    loss.data = malloc(lk_tensor_bytes(&loss) + 1);
    for (int part = 0; part < parts; part++) {
        int64_t first = part ? cuts[part - 1] : 0, end = part + 1 < parts ? cuts[part] : images;
        lk_tensor inputs[2] = {rows_of(&c->inputs[0], first, end - first),
                               rows_of(&c->inputs[1], first, end - first)};
        lk_tensor part_stats = f64_tensor(stats + first * block, 3, end - first, classes, row);
        CHECK_MSG(lk_loss_stats(desc, c->params, inputs, 2, &part_stats, contexts[part % 3]) == LK_OK,
                  "%s: stats of images [%lld, %lld): %s", lk_case_label(c, spec), (long long)first,
                  (long long)end, lk_last_error());
    }
    lk_tensor all_stats = f64_tensor(stats, 3, images, classes, row);
    lk_tensor all_ds = f64_tensor(ds, 3, images, classes, row);
    CHECK_MSG(lk_loss_finalize(desc, c->params, &all_stats, &loss, &all_ds) == LK_OK, "%s: finalize: %s",
              lk_case_label(c, spec), lk_last_error());
    for (int part = 0; part < parts; part++) {
        int64_t first = part ? cuts[part - 1] : 0, end = part + 1 < parts ? cuts[part] : images;
        lk_tensor inputs[2] = {rows_of(&c->inputs[0], first, end - first),
                               rows_of(&c->inputs[1], first, end - first)};
        lk_tensor grads[2] = {rows_of(&grad, first, end - first), {0}};
        lk_tensor part_ds = f64_tensor(ds + first * block, 3, end - first, classes, row);
        CHECK_MSG(lk_loss_backward(desc, c->params, inputs, 2, &part_ds, grads, contexts[(part + 1) % 3]) == LK_OK,
                  "%s: backward: %s", lk_case_label(c, spec), lk_last_error());
    }
    CHECK_MSG(lk_tensor_same_bits(&loss, &c->loss), "%s: split loss differs",
              lk_case_label(c, spec));
    CHECK_MSG(lk_tensor_same_bits(&grad, &c->grads[0]), "%s: split gradient differs",
              lk_case_label(c, spec));
    free(stats);
    free(ds);
    free(grad.data);
    free(loss.data);
}

static const int64_t split_shapes[][6] = {
    {4, 5, 3, 9, 11},       /* 2-D */
    {3, 4, 3, 10001},       /* images of two chunks */
    {5, 6, 3, 3, 4, 5},     /* 3-D */
    {2, 7, 3},              /* one pixel per image */
};

static void test_split_batch_is_bit_identical(void)
{
    lk_context *contexts[3];
    for (int k = 0; k < 3; k++) CHECK_OK(lk_context_create(k + 1, &contexts[k]));
    int cases = 0;
    for (size_t l = 0; l < lk_loss_count(); l++) {
        const lk_loss_desc *desc = lk_loss_at(l);
        if (!lk_loss_has_stats(desc)) continue;
        for (size_t e = 0; lk_loss_example(desc, e); e++) {
            const char *spec = lk_loss_example(desc, e);
            for (size_t s = 0; s < sizeof split_shapes / sizeof split_shapes[0]; s++) {
                for (int variant = 0; variant < 4; variant++) {
                    lk_case_options options = {0};
                    options.dtype = variant & 1 ? LK_F64 : LK_F32;
                    options.target_dtype = variant & 2 ? options.dtype : LK_I64;
                    options.ndim = (int)split_shapes[s][0];
                    for (int axis = 0; axis < options.ndim; axis++) options.shape[axis] = split_shapes[s][axis + 1];
                    options.seed = 31 + l * 7 + e * 3 + s;
                    lk_case c;
                    if (!lk_case_make(desc, spec, &options, &c)) continue;
                    CHECK_OK(lk_case_run(&c, contexts[1], 1));
                    int64_t images = options.shape[0];
                    int64_t halves[1] = {images / 2}, thirds[2] = {1, images - 1};
                    check_split(&c, spec, halves, 2, contexts);
                    check_split(&c, spec, thirds, 3, contexts);
                    lk_case_free(&c);
                    cases++;
                }
            }
        }
    }
    CHECK_MSG(cases > 100, "only %d split cases ran", cases);
    for (int k = 0; k < 3; k++) lk_context_destroy(contexts[k]);
}

/* ------------------------------------------------------------ values */

/* Two images of 4 pixels, 2 classes, probabilities given (activation=none). */
static double probs[2 * 2 * 4] = {0.9, 0.2, 0.6, 0.5, /* image 0, class 0 */
                                  0.1, 0.8, 0.4, 0.5, /* image 0, class 1 */
                                  0.3, 0.3, 0.7, 1.0,
                                  0.7, 0.7, 0.3, 0.0};
static long long labels[2 * 4] = {0, 1, 1, -100, 1, 1, 0, 0};

static void test_hand_computed_sums(void)
{
    const lk_loss_desc *desc = lk_loss_find("sensitivity_specificity");
    lk_params *params;
    CHECK_OK(lk_params_create(desc, &params));
    CHECK_OK(lk_params_parse(params, "activation=none"));
    lk_tensor inputs[2] = {{probs, LK_F64, 3, {2, 2, 4}}, {labels, LK_I64, 2, {2, 4}}};
    double stats[2 * 2 * LK_STATS];
    lk_tensor out = f64_tensor(stats, 3, 2, 2, LK_STATS);
    CHECK_OK(lk_loss_stats(desc, params, inputs, 2, &out, NULL));
    /* image 0, class 1: pixels 0..2 (pixel 3 ignored), g = (0, 1, 1), p = (0.1, 0.8, 0.4) */
    const double *s = stats + 1 * LK_STATS;
    CHECK_CLOSE(s[LK_STAT_G], 2, 0, 0);
    CHECK_CLOSE(s[LK_STAT_N], 3, 0, 0);
    CHECK_CLOSE(s[LK_STAT_EEG], 0.2 * 0.2 + 0.6 * 0.6, 1e-15, 0);
    CHECK_CLOSE(s[LK_STAT_EE], 0.1 * 0.1 + 0.2 * 0.2 + 0.6 * 0.6, 1e-15, 0);
    CHECK(s[LK_STAT_PG] == 0 && s[LK_STAT_P] == 0 && s[LK_STAT_PP] == 0); /* sums it does not read */
    /* image 1, class 0: g = (0, 0, 1, 1), p = (0.3, 0.3, 0.7, 1.0) */
    s = stats + 2 * LK_STATS;
    CHECK_CLOSE(s[LK_STAT_EEG], 0.3 * 0.3, 1e-15, 0);
    CHECK_CLOSE(s[LK_STAT_EE], 0.09 + 0.09 + 0.09, 1e-15, 0);
    lk_params_destroy(params);

    desc = lk_loss_find("dice");
    CHECK_OK(lk_params_create(desc, &params));
    CHECK_OK(lk_params_parse(params, "activation=none,squared_pred=true"));
    CHECK_OK(lk_loss_stats(desc, params, inputs, 2, &out, NULL));
    s = stats + 1 * LK_STATS; /* image 0, class 1 */
    CHECK_CLOSE(s[LK_STAT_PG], 0.8 + 0.4, 1e-15, 0);
    CHECK_CLOSE(s[LK_STAT_PP], 0.01 + 0.64 + 0.16, 1e-15, 0);
    CHECK_CLOSE(s[LK_STAT_GG], 2, 0, 0);
    double loss, ds[2 * 2 * LK_STATS];
    lk_tensor loss_tensor = {&loss, LK_F64, 0, {0}};
    lk_tensor ds_tensor = f64_tensor(ds, 3, 2, 2, LK_STATS);
    CHECK_OK(lk_loss_finalize(desc, params, &out, &loss_tensor, &ds_tensor));
    double expected = 0;
    for (int term = 0; term < 4; term++) {
        const double *t = stats + term * LK_STATS;
        expected += 1 - (2 * t[LK_STAT_PG] + 1e-5) / (t[LK_STAT_PP] + t[LK_STAT_GG] + 1e-5);
    }
    CHECK_CLOSE(loss, expected / 4, 1e-15, 0);
    for (int term = 0; term < 4; term++) { /* the target's columns carry no gradient */
        CHECK(ds[term * LK_STATS + LK_STAT_GG] == 0 && ds[term * LK_STATS + LK_STAT_G] == 0);
        CHECK(ds[term * LK_STATS + LK_STAT_PP] > 0 && ds[term * LK_STATS + LK_STAT_PG] < 0);
    }
    lk_params_destroy(params);
}

static double dice_of(const char *spec, double *p, long long *y, int64_t n, int64_t classes,
                      int64_t pixels, double *grad)
{
    double loss = NAN;
    lk_tensor inputs[2] = {{p, LK_F64, 3, {n, classes, pixels}}, {y, LK_I64, 2, {n, pixels}}};
    lk_tensor out = {&loss, LK_F64, 0, {0}};
    lk_tensor grads[2] = {{grad, LK_F64, 3, {n, classes, pixels}}, {0}};
    CHECK_OK(lk_compute("dice", spec, inputs, 2, &out, grad ? grads : NULL));
    return loss;
}

static void test_empty_masks_and_single_pixels(void)
{
    /* Class 1 is in neither prediction nor target: D = smooth_nr / smooth_dr = 1. */
    double p[2 * 3] = {1, 1, 1, 0, 0, 0}, grad[6];
    long long y[3] = {0, 0, 0};
    CHECK_CLOSE(dice_of("activation=none", p, y, 1, 2, 3, grad), 0, 0, 1e-15);
    CHECK_CLOSE(dice_of("activation=none,smooth_nr=1e-5,smooth_dr=2e-5", p, y, 1, 2, 3, NULL),
                0.5 * (1 - (6 + 1e-5) / (6 + 2e-5)) + 0.5 * 0.5, 1e-12, 0);
    /* ... and with no smoothing the 0/0 is an error naming the class, not a NaN */
    lk_tensor inputs[2] = {{p, LK_F64, 3, {1, 2, 3}}, {y, LK_I64, 2, {1, 3}}};
    double loss;
    lk_tensor out = {&loss, LK_F64, 0, {0}};
    CHECK_STATUS(lk_compute("dice", "activation=none,smooth_nr=0,smooth_dr=0", inputs, 2, &out, NULL), LK_EVALUE);
    CHECK_MESSAGE_HAS("class 1 in image 0");
    CHECK_MESSAGE_HAS("smooth_dr > 0");
    /* A one-pixel object predicted exactly: its Dice is 1. */
    double q[2 * 4] = {1, 1, 0, 1, 0, 0, 1, 0};
    long long z[4] = {0, 0, 1, 0};
    CHECK_CLOSE(dice_of("activation=none,smooth_nr=0,smooth_dr=0", q, z, 1, 2, 4, NULL), 0, 0, 1e-15);
    /* Missed: class 1's Dice is 0, class 0's 2*3/(3+4). */
    q[2] = 1;
    q[6] = 0;
    CHECK_CLOSE(dice_of("activation=none,smooth_nr=0,smooth_dr=0", q, z, 1, 2, 4, NULL),
                0.5 * (1 - 6.0 / 7.0) + 0.5, 1e-15, 0);
}

static void test_single_channel_is_a_mask(void)
{
    /* One channel of logits, labels 0/1: label 1 is the foreground. */
    double x[4] = {2, -1, 0.5, -3}, grad[4], loss_labels, loss_dense;
    long long mask[4] = {1, 0, 1, 0};
    double dense[4] = {1, 0, 1, 0};
    lk_tensor inputs[2] = {{x, LK_F64, 3, {1, 1, 4}}, {mask, LK_I64, 2, {1, 4}}};
    lk_tensor out = {&loss_labels, LK_F64, 0, {0}};
    lk_tensor grads[2] = {{grad, LK_F64, 3, {1, 1, 4}}, {0}};
    CHECK_OK(lk_compute("dice", "activation=sigmoid", inputs, 2, &out, grads));
    inputs[1] = (lk_tensor){dense, LK_F64, 3, {1, 1, 4}};
    out.data = &loss_dense;
    CHECK_OK(lk_compute("dice", "activation=sigmoid", inputs, 2, &out, NULL));
    CHECK(loss_labels == loss_dense);
    CHECK(grad[0] < 0 && grad[1] > 0); /* raise the foreground, lower the background */
    mask[2] = 2;
    inputs[1] = (lk_tensor){mask, LK_I64, 2, {1, 4}};
    CHECK_STATUS(lk_compute("dice", "activation=sigmoid", inputs, 2, &out, NULL), LK_EVALUE);
    CHECK_MESSAGE_HAS("target[0, 2] = 2");
    CHECK_STATUS(lk_compute("dice", "", inputs, 2, &out, NULL), LK_EPARAM);
    CHECK_MESSAGE_HAS("activation=softmax needs 2 or more classes");
}

/* ------------------------------------------------------------ errors */

static void test_stats_api_errors(void)
{
    const lk_loss_desc *dice = lk_loss_find("dice"), *focal = lk_loss_find("focal");
    lk_params *params, *focal_params;
    CHECK_OK(lk_params_create(dice, &params));
    CHECK_OK(lk_params_create(focal, &focal_params));
    CHECK(lk_loss_has_stats(dice) && !lk_loss_has_stats(focal) && !lk_loss_has_stats(NULL));
    double x[2 * 3 * 4] = {0}, stats[2 * 3 * LK_STATS] = {0}, ds[2 * 3 * LK_STATS] = {0}, grad[24];
    long long y[8] = {0, 1, 2, 0, 1, 1, 2, 2};
    lk_tensor inputs[2] = {{x, LK_F64, 3, {2, 3, 4}}, {y, LK_I64, 2, {2, 4}}};
    lk_tensor out = f64_tensor(stats, 3, 2, 3, LK_STATS), shape;
    lk_tensor d = f64_tensor(ds, 3, 2, 3, LK_STATS);
    lk_tensor grads[2] = {{grad, LK_F64, 3, {2, 3, 4}}, {0}};
    double loss;
    lk_tensor loss_tensor = {&loss, LK_F64, 0, {0}};

    CHECK_STATUS(lk_loss_stats(focal, focal_params, inputs, 2, &out, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("no statistics API");
    CHECK_STATUS(lk_loss_stats(NULL, params, inputs, 2, &out, NULL), LK_EINVAL);
    CHECK_STATUS(lk_loss_stats(dice, focal_params, inputs, 2, &out, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("created for loss 'focal'");
    CHECK_STATUS(lk_loss_stats(dice, params, inputs, 2, NULL, NULL), LK_EINVAL);
    CHECK_STATUS(lk_loss_stats_shape(dice, params, inputs, 2, NULL), LK_EINVAL);
    CHECK_OK(lk_loss_stats_shape(dice, params, inputs, 2, &shape));
    CHECK(shape.ndim == 3 && shape.shape[0] == 2 && shape.shape[1] == 3 && shape.shape[2] == LK_STATS &&
          shape.dtype == LK_F64);
    lk_tensor wrong = f64_tensor(stats, 3, 1, 3, LK_STATS);
    CHECK_STATUS(lk_loss_stats(dice, params, inputs, 2, &wrong, NULL), LK_ESHAPE);
    CHECK_MESSAGE_HAS("stats must have shape (2, 3, 8); got (1, 3, 8)");
    wrong = out;
    wrong.dtype = LK_F32;
    CHECK_STATUS(lk_loss_stats(dice, params, inputs, 2, &wrong, NULL), LK_EDTYPE);
    y[3] = 3;
    CHECK_STATUS(lk_loss_stats(dice, params, inputs, 2, &out, NULL), LK_EVALUE);
    CHECK_MESSAGE_HAS("target[0, 3] = 3");
    y[3] = 0;
    CHECK_OK(lk_loss_stats(dice, params, inputs, 2, &out, NULL));

    CHECK_OK(lk_loss_finalize(dice, params, &out, &loss_tensor, &d));
    CHECK_OK(lk_loss_finalize(dice, params, &out, &loss_tensor, NULL));
    wrong = f64_tensor(stats, 3, 2, 3, LK_STATS + 1);
    CHECK_STATUS(lk_loss_finalize(dice, params, &wrong, &loss_tensor, &d), LK_ESHAPE);
    CHECK_MESSAGE_HAS("(N, 3, 8)");
    wrong = f64_tensor(ds, 3, 2, 2, LK_STATS);
    CHECK_STATUS(lk_loss_finalize(dice, params, &out, &loss_tensor, &wrong), LK_ESHAPE);
    CHECK_MESSAGE_HAS("dloss_dstats");
    CHECK_STATUS(lk_loss_finalize(dice, params, &out, &loss_tensor, &out), LK_EINVAL);
    CHECK_MESSAGE_HAS("overlaps");
    lk_tensor vector_loss = {&loss, LK_F64, 1, {1}};
    CHECK_STATUS(lk_loss_finalize(dice, params, &out, &vector_loss, &d), LK_ESHAPE);
    CHECK_MESSAGE_HAS("loss must have shape ()");
    stats[5] = NAN;
    CHECK_STATUS(lk_loss_finalize(dice, params, &out, &loss_tensor, &d), LK_EVALUE);
    CHECK_MESSAGE_HAS("stats[0, 0, 5] = nan");
    stats[5] = 0;
    CHECK_OK(lk_params_set(params, "weight", "[1,2]"));
    CHECK_STATUS(lk_loss_finalize(dice, params, &out, &loss_tensor, &d), LK_EPARAM);
    CHECK_MESSAGE_HAS("'weight' has 2 values");
    CHECK_OK(lk_params_set(params, "weight", "[]"));

    CHECK_OK(lk_loss_backward(dice, params, inputs, 2, &d, grads, NULL));
    CHECK_STATUS(lk_loss_backward(dice, params, inputs, 2, &d, NULL, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("grads[0]");
    grads[1] = (lk_tensor){grad, LK_I64, 2, {2, 4}};
    CHECK_STATUS(lk_loss_backward(dice, params, inputs, 2, &d, grads, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("no gradient for input 'target'");
    grads[1].data = NULL;
    grads[0].data = x;
    CHECK_STATUS(lk_loss_backward(dice, params, inputs, 2, &d, grads, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("overlaps input 'input'");
    grads[0].data = grad;
    grads[0].dtype = LK_F32;
    CHECK_STATUS(lk_loss_backward(dice, params, inputs, 2, &d, grads, NULL), LK_ESHAPE);
    grads[0].dtype = LK_F64;
    ds[7] = INFINITY;
    CHECK_STATUS(lk_loss_backward(dice, params, inputs, 2, &d, grads, NULL), LK_EVALUE);
    CHECK_MESSAGE_HAS("dloss_dstats[0, 0, 7] = inf");
    lk_params_destroy(params);
    lk_params_destroy(focal_params);
}

static void test_wasserstein_matrix_errors(void)
{
    double x[1 * 3 * 2] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, loss;
    long long y[2] = {0, 2};
    lk_tensor inputs[2] = {{x, LK_F64, 3, {1, 3, 2}}, {y, LK_I64, 2, {1, 2}}};
    lk_tensor out = {&loss, LK_F64, 0, {0}};
    const char *name = "generalized_wasserstein_dice";
    CHECK_STATUS(lk_compute(name, "dist_matrix=[0,1,1,0]", inputs, 2, &out, NULL), LK_EPARAM);
    CHECK_MESSAGE_HAS("has 4 values; input 'input' has 3 classes, so it needs 9");
    CHECK_STATUS(lk_compute(name, "dist_matrix=[0,1,1,1,0.5,1,1,1,0]", inputs, 2, &out, NULL), LK_EPARAM);
    CHECK_MESSAGE_HAS("[1][1] = 0.5");
    CHECK_STATUS(lk_compute(name, "dist_matrix=[0,1,-1,1,0,1,1,1,0]", inputs, 2, &out, NULL), LK_EPARAM);
    CHECK_MESSAGE_HAS("dist_matrix");
    CHECK_STATUS(lk_compute(name, "dist_matrix=[0,0,0,0,0,0,0,0,0]", inputs, 2, &out, NULL), LK_EPARAM);
    CHECK_MESSAGE_HAS("all zeros");
    CHECK_OK(lk_compute(name, "dist_matrix=[0,2,4,2,0,2,4,2,0]", inputs, 2, &out, NULL));
    double scaled = loss;
    CHECK_OK(lk_compute(name, "dist_matrix=[0,0.5,1,0.5,0,0.5,1,0.5,0]", inputs, 2, &out, NULL));
    CHECK(loss == scaled); /* divided by the largest entry */
    /* the statistics hold a C x C block: too many classes is a shape error */
    lk_tensor big = {x, LK_F64, 3, {1, 2000, 1}};
    lk_tensor shape;
    const lk_loss_desc *desc = lk_loss_find(name);
    lk_params *params;
    CHECK_OK(lk_params_create(desc, &params));
    long long one_label[1] = {0};
    lk_tensor big_inputs[2] = {big, {one_label, LK_I64, 2, {1, 1}}};
    CHECK_STATUS(lk_loss_stats_shape(desc, params, big_inputs, 2, &shape), LK_ESHAPE);
    CHECK_MESSAGE_HAS("at most 1024");
    lk_params_destroy(params);
}

int main(int argc, char **argv)
{
    static const lk_test tests[] = {
        {"split_batch_is_bit_identical", test_split_batch_is_bit_identical},
        {"hand_computed_sums", test_hand_computed_sums},
        {"empty_masks_and_single_pixels", test_empty_masks_and_single_pixels},
        {"single_channel_is_a_mask", test_single_channel_is_a_mask},
        {"stats_api_errors", test_stats_api_errors},
        {"wasserstein_matrix_errors", test_wasserstein_matrix_errors},
    };
    return lk_test_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
