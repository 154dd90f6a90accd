/*
 * The segmentation metrics (lk_metrics_compute):
 *
 *   by hand       a 1-D case whose borders and distances are counted on
 *                 paper, under every percentile and ASSD rule, with spacing;
 *                 2-D and 3-D surfels of single voxels; the contour-length
 *                 and surface-area tables (lk_surfel_weights; all 256 areas
 *                 against DeepMind's package in test_metrics_surfels.py);
 *   brute force   on random masks of rank 1 to 3, HD, ASD, ASSD and NSD
 *                 equal the same sums over border pairs tried one by one;
 *   empty masks   MONAI's rules and the flags;
 *   threads       1, 2 and 3 threads give the same bits, on a batch (pairs
 *                 over threads) and on one pair (transforms over threads),
 *                 and the metrics asked for do not change each other's bits;
 *   errors        every argument's bad values: status and message.
 * (Agreement with MONAI and DeepMind is tested in tests/python/test_metrics.py.)
 */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "metrics/metrics.h"

#define ALL_METRICS LK_METRIC_COUNT

static const lk_metric every_metric[ALL_METRICS] = {
    LK_METRIC_DICE, LK_METRIC_IOU,  LK_METRIC_PRECISION, LK_METRIC_RECALL, LK_METRIC_HAUSDORFF,
    LK_METRIC_HAUSDORFF_PERCENTILE, LK_METRIC_ASSD, LK_METRIC_ASD, LK_METRIC_NSD};

/* Every metric of (N, C') pairs into values[metric][pair]. */
static void compute_all(const lk_tensor *pred, const lk_tensor *target, int n_classes,
                        const double *spacing, const lk_metric_options *options, int64_t pairs,
                        double values[ALL_METRICS][64], uint8_t *flags, int threads)
{
    lk_context *ctx = NULL;
    if (threads) CHECK_OK(lk_context_create(threads, &ctx));
    int64_t columns = pairs / pred->shape[0];
    lk_tensor outs[ALL_METRICS], flag_tensor = {flags, LK_U8, 2, {pred->shape[0], columns}};
    for (int m = 0; m < ALL_METRICS; m++) outs[m] = (lk_tensor){values[m], LK_F64, 2, {pred->shape[0], columns}};
    CHECK_OK(lk_metrics_compute(pred, target, n_classes, spacing, options, every_metric, ALL_METRICS,
                                outs, flags ? &flag_tensor : NULL, ctx));
    if (ctx) lk_context_destroy(ctx);
}

/* 1-D, 12 elements: the prediction is element 3, the target elements 5 to
 * 9. Borders: {3} and {5, 9}; d(P -> G) = [2], d(G -> P) = [2, 6]. */
static void test_one_dimension_by_hand(void)
{
    uint8_t pred_labels[12] = {0}, target_labels[12] = {0};
    pred_labels[3] = 1;
    for (int i = 5; i <= 9; i++) target_labels[i] = 1;
    lk_tensor pred = {pred_labels, LK_U8, 2, {1, 12}}, target = {target_labels, LK_U8, 2, {1, 12}};
    lk_metric_options options;
    lk_metric_options_default(&options);
    options.percentile = 50;
    options.nsd_tolerance = 2;
    double values[ALL_METRICS][64];
    uint8_t flags;
    for (int scaled = 0; scaled <= 1; scaled++) {
        double spacing = scaled ? 0.5 : 1, unit = spacing;
        options.nsd_tolerance = 2 * unit;
        compute_all(&pred, &target, 2, &spacing, &options, 1, values, &flags, 0);
        CHECK(values[LK_METRIC_DICE][0] == 0 && values[LK_METRIC_IOU][0] == 0);
        CHECK(values[LK_METRIC_PRECISION][0] == 0 && values[LK_METRIC_RECALL][0] == 0);
        CHECK(values[LK_METRIC_HAUSDORFF][0] == 6 * unit);
        CHECK(values[LK_METRIC_HAUSDORFF_PERCENTILE][0] == 4 * unit); /* [2, 6] at 0.5: 4 */
        CHECK_CLOSE(values[LK_METRIC_ASSD][0], 10.0 / 3 * unit, 1e-15, 0);
        CHECK(values[LK_METRIC_ASD][0] == 2 * unit);
        CHECK_CLOSE(values[LK_METRIC_NSD][0], 2.0 / 3, 1e-15, 0);
        CHECK(flags == 0);
    }
    options.nsd_tolerance = 1.99;
    options.percentile_rule = LK_PERCENTILE_POOLED; /* [2, 2, 6] at 0.5: 2 */
    options.assd_rule = LK_ASSD_MEAN_OF_MEANS;      /* (2 + 4) / 2 */
    compute_all(&pred, &target, 2, NULL, &options, 1, values, NULL, 1);
    CHECK(values[LK_METRIC_HAUSDORFF_PERCENTILE][0] == 2);
    CHECK(values[LK_METRIC_ASSD][0] == 3);
    CHECK(values[LK_METRIC_NSD][0] == 0);
    options.percentile_rule = LK_PERCENTILE_AREA_WEIGHTED; /* [2, 6]: 2 reaches 0.5 */
    compute_all(&pred, &target, 2, NULL, &options, 1, values, NULL, 1);
    CHECK(values[LK_METRIC_HAUSDORFF_PERCENTILE][0] == 2);
    options.percentile = 50.5; /* now 6 */
    compute_all(&pred, &target, 2, NULL, &options, 1, values, NULL, 1);
    CHECK(values[LK_METRIC_HAUSDORFF_PERCENTILE][0] == 6);
    /* Class 0 too: the background's borders are 2, 4 and 10, 11 (the edge
     * counts): |P & G| = 6 of 11 and 7 */
    options.include_background = 1;
    compute_all(&pred, &target, 2, NULL, &options, 2, values, NULL, 1);
    CHECK_CLOSE(values[LK_METRIC_DICE][0], 12.0 / 18, 1e-15, 0);
    CHECK_CLOSE(values[LK_METRIC_IOU][0], 6.0 / 12, 1e-15, 0);
    CHECK(values[LK_METRIC_HAUSDORFF][0] == 2); /* {0, 2, 4, 11} vs {0, 4, 10, 11}: 2 to 0 or 4 */
    CHECK(values[LK_METRIC_HAUSDORFF][1] == 6);
}

/* Single voxels two steps apart along the last axis, as surfels: each has
 * 2^d corners of one weight, half at distance 1 from the other's, half at
 * 2. The median is a tie (the near half's weight is half the total): the
 * first crossing reaches it at 1. Leaves options at surfels, area-weighted,
 * percentile 50. */
static void check_voxel_pair_surfels(const lk_tensor *pred, const lk_tensor *target,
                                     lk_metric_options *options, double values[ALL_METRICS][64])
{
    lk_metric_options_default(options);
    options->include_background = 1;
    options->surface = LK_SURFACE_SURFELS;
    options->percentile_rule = LK_PERCENTILE_AREA_WEIGHTED;
    options->percentile = 50;
    compute_all(pred, target, 0, NULL, options, 1, values, NULL, 1);
    CHECK(values[LK_METRIC_HAUSDORFF][0] == 2);
    /* the weights, all equal, cancel up to rounding */
    CHECK_CLOSE(values[LK_METRIC_ASD][0], 1.5, 1e-15, 0);
    CHECK_CLOSE(values[LK_METRIC_ASSD][0], 1.5, 1e-15, 0);
    CHECK(values[LK_METRIC_HAUSDORFF_PERCENTILE][0] == 1);
    CHECK_CLOSE(values[LK_METRIC_NSD][0], 0.5, 1e-15, 0);
}

static void test_surfels_by_hand(void)
{
    double lengths[16], spacing[2] = {3, 4};
    lk_contour_lengths(spacing, lengths);
    CHECK(lengths[0] == 0 && lengths[15] == 0);
    CHECK(lengths[1] == 2.5 && lengths[8] == 2.5 && lengths[7] == 2.5 && lengths[14] == 2.5);
    CHECK(lengths[3] == 4 && lengths[12] == 4); /* a row inside: along axis 1 */
    CHECK(lengths[5] == 3 && lengths[10] == 3); /* a column inside: along axis 0 */
    CHECK(lengths[6] == 5 && lengths[9] == 5);
    /* single voxels at (1, 1) and (1, 3) of a 3x5 image: four corners each,
     * two at distance 1, two at 2 */
    uint8_t pred_mask[15] = {0}, target_mask[15] = {0};
    pred_mask[6] = 1;
    target_mask[8] = 1;
    lk_tensor pred = {pred_mask, LK_U8, 4, {1, 1, 3, 5}}, target = {target_mask, LK_U8, 4, {1, 1, 3, 5}};
    lk_metric_options options;
    double values[ALL_METRICS][64];
    check_voxel_pair_surfels(&pred, &target, &options, values);
    /* with spacing (2, 1): the two far corners are 2 away along axis 1 still */
    double anisotropic[2] = {2, 1};
    compute_all(&pred, &target, 0, anisotropic, &options, 1, values, NULL, 1);
    CHECK(values[LK_METRIC_HAUSDORFF][0] == 2);
    CHECK_CLOSE(values[LK_METRIC_ASD][0], 1.5, 1e-15, 0);
}

/* The marching-cubes areas of a unit cell, and with spacing. */
static void test_surface_areas_by_hand(void)
{
    double areas[256], corner = sqrt(3) / 8;
    lk_surfel_areas((double[3]){1, 1, 1}, areas);
    CHECK(areas[0] == 0 && areas[255] == 0);
    for (int bit = 0; bit < 8; bit++) CHECK_CLOSE(areas[1 << bit], corner, 1e-15, 0); /* a cut corner */
    CHECK_CLOSE(areas[128 | 64], sqrt(2) / 2, 1e-15, 0);  /* an edge: a 1 x sqrt(2)/2 rectangle */
    CHECK(areas[128 | 64 | 32 | 16] == 1);                 /* a face: the midplane's unit square */
    CHECK_CLOSE(areas[128 | 64 | 32 | 8], 6 * corner, 1e-15, 0); /* a corner and its neighbours: a hexagon */
    /* three corners of a face: half the midplane's square and a quadrilateral
     * of three cut corners' area */
    CHECK_CLOSE(areas[128 | 64 | 32], 0.5 + 3 * corner, 1e-15, 0);
    CHECK_CLOSE(areas[128 | 1], 2 * corner, 1e-15, 0); /* opposite corners: two triangles */
    for (int code = 0; code < 256; code++) {
        CHECK(areas[code] == areas[255 - code]);
        if (code != 0 && code != 255) CHECK(areas[code] > 0);
    }
    double scaled[256];
    lk_surfel_areas((double[3]){2, 3, 5}, scaled);
    CHECK(scaled[128 | 64 | 32 | 16] == 15); /* across axis 0: 3 x 5 */
    CHECK(scaled[128 | 64 | 8 | 4] == 10);   /* across axis 1: 2 x 5 */
    CHECK(scaled[128 | 32 | 8 | 2] == 6);    /* across axis 2: 2 x 3 */
    /* the public entry point: the same tables, and its argument checks */
    double weights[256], lengths[16], expected[16];
    CHECK_OK(lk_surfel_weights(3, NULL, weights));
    for (int code = 0; code < 256; code++) CHECK(weights[code] == areas[code]);
    CHECK_OK(lk_surfel_weights(2, (double[2]){3, 4}, lengths));
    lk_contour_lengths((double[2]){3, 4}, expected);
    for (int code = 0; code < 16; code++) CHECK(lengths[code] == expected[code]);
    CHECK_STATUS(lk_surfel_weights(4, NULL, weights), LK_EINVAL);
    CHECK_MESSAGE_HAS("spatial_dims = 4");
    CHECK_STATUS(lk_surfel_weights(3, NULL, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("'weights' is NULL");
    CHECK_STATUS(lk_surfel_weights(3, (double[3]){1, NAN, 1}, weights), LK_EINVAL);
    CHECK_MESSAGE_HAS("spacing[1] = nan");
}

/* Single voxels at (1, 1, 1) and (1, 1, 3) of a 3x3x5 image: eight corners
 * each, of one inside element (area sqrt(3) / 8), four at distance 1 and
 * four at 2. */
static void test_surfels_3d_by_hand(void)
{
    uint8_t pred_mask[45] = {0}, target_mask[45] = {0};
    pred_mask[(1 * 3 + 1) * 5 + 1] = 1;
    target_mask[(1 * 3 + 1) * 5 + 3] = 1;
    lk_tensor pred = {pred_mask, LK_U8, 5, {1, 1, 3, 3, 5}}, target = {target_mask, LK_U8, 5, {1, 1, 3, 3, 5}};
    lk_metric_options options;
    double values[ALL_METRICS][64];
    check_voxel_pair_surfels(&pred, &target, &options, values);
    options.percentile = 50.001;
    compute_all(&pred, &target, 0, NULL, &options, 1, values, NULL, 1);
    CHECK(values[LK_METRIC_HAUSDORFF_PERCENTILE][0] == 2);
    /* spacing (1, 1, 0.5): distances along axis 2 halve, the areas stay equal */
    options.percentile = 50;
    compute_all(&pred, &target, 0, (double[3]){1, 1, 0.5}, &options, 1, values, NULL, 2);
    CHECK(values[LK_METRIC_HAUSDORFF][0] == 1);
    CHECK_CLOSE(values[LK_METRIC_ASD][0], 0.75, 1e-15, 0);
    CHECK(values[LK_METRIC_HAUSDORFF_PERCENTILE][0] == 0.5);
}

/* ---------------------------------------------------------------- brute force */

typedef struct coords_list {
    int64_t count;
    int64_t at[4096][3];
} coords_list;

/* The voxel border of mask (edge counted) as coordinates. */
static void border_of(const uint8_t *mask, int ndim, const int64_t *shape, coords_list *out)
{
    int64_t count = 1;
    for (int k = 0; k < ndim; k++) count *= shape[k];
    out->count = 0;
    for (int64_t i = 0; i < count; i++) {
        if (!mask[i]) continue;
        int64_t c[3] = {0, 0, 0}, rest = i, stride[3];
        for (int k = ndim - 1; k >= 0; k--) {
            c[k] = rest % shape[k];
            rest /= shape[k];
        }
        stride[ndim - 1] = 1;
        for (int k = ndim - 2; k >= 0; k--) stride[k] = stride[k + 1] * shape[k + 1];
        int border = 0;
        for (int k = 0; k < ndim; k++) {
            border |= c[k] == 0 || !mask[i - stride[k]];
            border |= c[k] == shape[k] - 1 || !mask[i + stride[k]];
        }
        if (!border) continue;
        for (int k = 0; k < 3; k++) out->at[out->count][k] = c[k];
        out->count++;
    }
}

static double nearest(const int64_t *from, const coords_list *to, int ndim, const double *spacing)
{
    double best = INFINITY;
    for (int64_t j = 0; j < to->count; j++) {
        double sum = 0;
        for (int k = 0; k < ndim; k++) {
            double step = (double)(from[k] - to->at[j][k]) * spacing[k];
            sum += step * step;
        }
        if (sum < best) best = sum;
    }
    return sqrt(best);
}

static void test_matches_brute_force(void)
{
    lk_rng rng = {5};
    static coords_list pred_border, target_border;
    for (int trial = 0; trial < 120; trial++) {
        int ndim = 1 + trial % 3;
        int64_t shape[3], count = 1;
        double spacing[3];
        for (int k = 0; k < ndim; k++) {
            shape[k] = 1 + lk_rng_below(&rng, ndim == 3 ? 9 : 20);
            spacing[k] = trial % 2 ? 0.3 + 2 * lk_rng_uniform(&rng) : 1;
            count *= shape[k];
        }
        uint8_t *labels = malloc(2 * (size_t)count);
        double density = lk_rng_uniform(&rng);
        for (int64_t i = 0; i < 2 * count; i++) labels[i] = lk_rng_uniform(&rng) < density;
        lk_tensor pred = {labels, LK_U8, ndim + 1, {1}}, target = {labels + count, LK_U8, ndim + 1, {1}};
        for (int k = 0; k < ndim; k++) pred.shape[k + 1] = target.shape[k + 1] = shape[k];
        lk_metric_options options;
        lk_metric_options_default(&options);
        options.nsd_tolerance = 1.5;
        double values[ALL_METRICS][64];
        compute_all(&pred, &target, 2, spacing, &options, 1, values, NULL, 1);
        border_of(labels, ndim, shape, &pred_border);
        border_of(labels + count, ndim, shape, &target_border);
        if (pred_border.count == 0 || target_border.count == 0) {
            CHECK(isnan(values[LK_METRIC_HAUSDORFF][0]) || isinf(values[LK_METRIC_HAUSDORFF][0]));
        } else {
            double largest = 0, pred_sum = 0, sum = 0, within = 0;
            for (int side = 0; side < 2; side++) {
                const coords_list *from = side ? &target_border : &pred_border;
                const coords_list *to = side ? &pred_border : &target_border;
                for (int64_t i = 0; i < from->count; i++) {
                    double d = nearest(from->at[i], to, ndim, spacing);
                    largest = fmax(largest, d);
                    sum += d;
                    if (!side) pred_sum += d;
                    within += d <= 1.5;
                }
            }
            double total = (double)(pred_border.count + target_border.count);
            CHECK_MSG(values[LK_METRIC_HAUSDORFF][0] == largest, "trial %d: hd %.17g, brute force %.17g",
                      trial, values[LK_METRIC_HAUSDORFF][0], largest);
            CHECK_CLOSE(values[LK_METRIC_ASD][0], pred_sum / (double)pred_border.count, 1e-13, 0);
            CHECK_CLOSE(values[LK_METRIC_ASSD][0], sum / total, 1e-13, 0);
            CHECK_CLOSE(values[LK_METRIC_NSD][0], within / total, 1e-13, 0);
        }
        free(labels);
    }
}

/* ---------------------------------------------------------------- empty */

static void test_empty_masks(void)
{
    /* 2 images of 4x4, labels 0..2: image 0 has class 1 only in pred and
     * class 2 in neither; image 1 has class 1 only in target */
    int32_t pred_labels[32] = {0}, target_labels[32] = {0};
    pred_labels[5] = 1;
    target_labels[16 + 10] = 1;
    target_labels[16 + 11] = 2;
    pred_labels[16 + 11] = 2;
    lk_tensor pred = {pred_labels, LK_I32, 3, {2, 4, 4}}, target = {target_labels, LK_I32, 3, {2, 4, 4}};
    lk_metric_options options;
    lk_metric_options_default(&options);
    double values[ALL_METRICS][64];
    uint8_t flags[4];
    compute_all(&pred, &target, 3, NULL, &options, 4, values, flags, 2);
    /* pairs: (0, class 1), (0, class 2), (1, class 1), (1, class 2) */
    CHECK(flags[0] == LK_METRIC_TARGET_EMPTY);
    CHECK(flags[1] == (LK_METRIC_PRED_EMPTY | LK_METRIC_TARGET_EMPTY));
    CHECK(flags[2] == LK_METRIC_PRED_EMPTY);
    CHECK(flags[3] == 0);
    for (int pair = 0; pair < 3; pair += 2) {
        CHECK(isinf(values[LK_METRIC_HAUSDORFF][pair]) && isinf(values[LK_METRIC_HAUSDORFF_PERCENTILE][pair]));
        CHECK(isinf(values[LK_METRIC_ASSD][pair]) && isinf(values[LK_METRIC_ASD][pair]));
        CHECK(values[LK_METRIC_NSD][pair] == 0 && values[LK_METRIC_DICE][pair] == 0);
        CHECK(values[LK_METRIC_IOU][pair] == 0);
    }
    CHECK(isnan(values[LK_METRIC_PRECISION][2]) && values[LK_METRIC_RECALL][2] == 0);
    CHECK(values[LK_METRIC_PRECISION][0] == 0 && isnan(values[LK_METRIC_RECALL][0]));
    for (int m = 0; m < ALL_METRICS; m++) CHECK_MSG(isnan(values[m][1]), "metric %d of two empty masks", m);
    CHECK(values[LK_METRIC_DICE][3] == 1 && values[LK_METRIC_HAUSDORFF][3] == 0);
    CHECK(values[LK_METRIC_NSD][3] == 1);
    options.empty_overlap = 1;
    compute_all(&pred, &target, 3, NULL, &options, 4, values, NULL, 1);
    CHECK(values[LK_METRIC_DICE][1] == 1 && values[LK_METRIC_IOU][1] == 1);
    CHECK(isnan(values[LK_METRIC_PRECISION][1]));
}

/* ---------------------------------------------------------------- threads */

static void test_threads_and_order(void)
{
    static const lk_tensor shapes[] = {
        {NULL, LK_I64, 3, {5, 40, 36}},    /* a batch: pairs over threads */
        {NULL, LK_I64, 4, {1, 30, 26, 22}}, /* one pair: transforms over threads */
    };
    lk_rng rng = {13};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        lk_tensor pred = shapes[s], target = shapes[s];
        int64_t count = 1;
        for (int k = 0; k < pred.ndim; k++) count *= pred.shape[k];
        int64_t *labels = malloc(2 * (size_t)count * sizeof *labels);
        int n_classes = s == 0 ? 3 : 2;
        for (int64_t i = 0; i < 2 * count; i++) labels[i] = lk_rng_uniform(&rng) < 0.6 ? 1 + (i % 7 == 0) : 0;
        for (int64_t i = 0; s == 1 && i < 2 * count; i++) labels[i] = labels[i] != 0;
        pred.data = labels;
        target.data = labels + count;
        int64_t pairs = pred.shape[0] * (n_classes - 1);
        static double one[ALL_METRICS][64], many[ALL_METRICS][64];
        double spacing[3] = {0.8, 1.3, 2.1};
        lk_metric_options options;
        lk_metric_options_default(&options);
        for (int rule = 0; rule < 3; rule++) {
            options.percentile_rule = (lk_percentile_rule)rule;
            compute_all(&pred, &target, n_classes, spacing, &options, pairs, one, NULL, 1);
            for (int threads = 2; threads <= 3; threads++) {
                compute_all(&pred, &target, n_classes, spacing, &options, pairs, many, NULL, threads);
                CHECK_MSG(memcmp(one, many, sizeof one) == 0, "shape %zu rule %d: %d threads differ",
                          s, rule, threads);
            }
            /* the percentile sorts the lists: asked first, it must not move ASSD's bits */
            lk_metric order[2] = {LK_METRIC_HAUSDORFF_PERCENTILE, LK_METRIC_ASSD};
            double percentile_values[64], assd_values[64];
            lk_tensor outs[2] = {{percentile_values, LK_F64, 2, {pred.shape[0], n_classes - 1}},
                                 {assd_values, LK_F64, 2, {pred.shape[0], n_classes - 1}}};
            CHECK_OK(lk_metrics_compute(&pred, &target, n_classes, spacing, &options, order, 2, outs,
                                        NULL, NULL));
            CHECK(memcmp(percentile_values, one[LK_METRIC_HAUSDORFF_PERCENTILE],
                         (size_t)pairs * sizeof(double)) == 0);
            CHECK(memcmp(assd_values, one[LK_METRIC_ASSD], (size_t)pairs * sizeof(double)) == 0);
        }
        free(labels);
    }
}

/* ---------------------------------------------------------------- errors */

static void test_errors(void)
{
    uint8_t labels[12] = {0, 1, 2, 1, 0, 0, 1, 1, 2, 0, 0, 1};
    float mask_values[12] = {0};
    double values[2][4];
    uint8_t flags[4];
    lk_tensor pred = {labels, LK_U8, 3, {2, 2, 3}}, target = pred;
    lk_tensor outs[2] = {{values[0], LK_F64, 2, {2, 2}}, {values[1], LK_F64, 2, {2, 2}}};
    lk_tensor flag_tensor = {flags, LK_U8, 2, {2, 2}};
    lk_metric metrics[2] = {LK_METRIC_DICE, LK_METRIC_HAUSDORFF};
    lk_metric_options options;
    lk_metric_options_default(&options);
    CHECK_OK(lk_metrics_compute(&pred, &target, 3, NULL, NULL, metrics, 2, outs, &flag_tensor, NULL));
    CHECK_STATUS(lk_metrics_compute(NULL, &target, 3, NULL, NULL, metrics, 2, outs, NULL, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("'pred' is NULL");
    CHECK_STATUS(lk_metrics_compute(&pred, NULL, 3, NULL, NULL, metrics, 2, outs, NULL, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("'target' is NULL");
    CHECK_STATUS(lk_metrics_compute(&pred, &target, -1, NULL, NULL, metrics, 2, outs, NULL, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("n_classes = -1");
    options.include_background = 1; /* 2 classes, 2 columns */
    CHECK_STATUS(lk_metrics_compute(&pred, &target, 2, NULL, &options, metrics, 2, outs, NULL, NULL), LK_EVALUE);
    options.include_background = 0;
    CHECK_MESSAGE_HAS("pred[0, 0, 2] = 2");
    lk_tensor wrong = target;
    wrong.shape[2] = 2;
    CHECK_STATUS(lk_metrics_compute(&pred, &wrong, 3, NULL, NULL, metrics, 2, outs, NULL, NULL), LK_ESHAPE);
    CHECK_MESSAGE_HAS("(2, 2, 2)");
    wrong = target;
    wrong.dtype = LK_F32;
    wrong.data = mask_values;
    CHECK_STATUS(lk_metrics_compute(&pred, &wrong, 3, NULL, NULL, metrics, 2, outs, NULL, NULL), LK_EDTYPE);
    CHECK_MESSAGE_HAS("'target' has dtype float32");
    wrong = pred;
    wrong.ndim = 1;
    CHECK_STATUS(lk_metrics_compute(&wrong, &wrong, 3, NULL, NULL, metrics, 2, outs, NULL, NULL), LK_ESHAPE);
    CHECK_MESSAGE_HAS("at least 2");
    double spacing[2] = {1, -2};
    CHECK_STATUS(lk_metrics_compute(&pred, &target, 3, spacing, NULL, metrics, 2, outs, NULL, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("spacing[1] = -2");
    options.percentile = 101;
    CHECK_STATUS(lk_metrics_compute(&pred, &target, 3, NULL, &options, metrics, 2, outs, NULL, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("options.percentile = 101");
    lk_metric_options_default(&options);
    options.surface = LK_SURFACE_SURFELS;
    lk_tensor one_d = {labels, LK_U8, 2, {2, 6}}, one_d_outs[1] = {{values[0], LK_F64, 2, {2, 2}}};
    CHECK_STATUS(lk_metrics_compute(&one_d, &one_d, 3, NULL, &options, metrics, 1, one_d_outs, NULL, NULL),
                 LK_EINVAL);
    CHECK_MESSAGE_HAS("1 spatial axes");
    uint8_t four_d_labels[16] = {0};
    lk_tensor four_d = {four_d_labels, LK_U8, 5, {1, 2, 2, 2, 2}}, four_d_outs[1] = {{values[0], LK_F64, 2, {1, 2}}};
    CHECK_STATUS(lk_metrics_compute(&four_d, &four_d, 3, NULL, &options, metrics, 1, four_d_outs, NULL, NULL),
                 LK_EINVAL);
    CHECK_MESSAGE_HAS("4 spatial axes; surfels (DeepMind's) have 2 or 3");
    options.surface = (lk_surface)2;
    CHECK_STATUS(lk_metrics_compute(&pred, &target, 3, NULL, &options, metrics, 2, outs, NULL, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("options.surface = 2");
    lk_metric_options_default(&options);
    options.percentile_rule = (lk_percentile_rule)3;
    CHECK_STATUS(lk_metrics_compute(&pred, &target, 3, NULL, &options, metrics, 2, outs, NULL, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("options.percentile_rule = 3");
    lk_metric_options_default(&options);
    options.assd_rule = (lk_assd_rule)-1;
    CHECK_STATUS(lk_metrics_compute(&pred, &target, 3, NULL, &options, metrics, 2, outs, NULL, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("options.assd_rule = -1");
    lk_metric_options_default(&options);
    options.nsd_tolerance = INFINITY;
    CHECK_STATUS(lk_metrics_compute(&pred, &target, 3, NULL, &options, metrics, 2, outs, NULL, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("options.nsd_tolerance = inf");
    lk_metric_options_default(&options);
    double tolerances[2] = {1, -0.5};
    options.nsd_tolerances = tolerances;
    CHECK_STATUS(lk_metrics_compute(&pred, &target, 3, NULL, &options, metrics, 2, outs, NULL, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("options.nsd_tolerances[1] = -0.5");
    lk_tensor single = {labels, LK_U8, 3, {2, 2, 3}};
    uint8_t zeros[12] = {0};
    single.data = zeros;
    CHECK_STATUS(lk_metrics_compute(&single, &single, 1, NULL, NULL, metrics, 2, outs, NULL, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("leave no class");
    lk_metric bad_metrics[2] = {LK_METRIC_DICE, (lk_metric)9};
    CHECK_STATUS(lk_metrics_compute(&pred, &target, 3, NULL, NULL, bad_metrics, 2, outs, NULL, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("metrics[1] = 9");
    CHECK_STATUS(lk_metrics_compute(&pred, &target, 3, NULL, NULL, metrics, 0, outs, NULL, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("n_metrics = 0");
    CHECK_STATUS(lk_metrics_compute(&pred, &target, 3, NULL, NULL, NULL, 2, outs, NULL, NULL), LK_EINVAL);
    CHECK_STATUS(lk_metrics_compute(&pred, &target, 3, NULL, NULL, metrics, 2, NULL, NULL, NULL), LK_EINVAL);
    lk_tensor bad_outs[2] = {outs[0], outs[1]};
    bad_outs[1].shape[1] = 3;
    CHECK_STATUS(lk_metrics_compute(&pred, &target, 3, NULL, NULL, metrics, 2, bad_outs, NULL, NULL), LK_ESHAPE);
    CHECK_MESSAGE_HAS("'outs[1]' has shape (2, 3); expected (2, 2)");
    bad_outs[1] = outs[1];
    bad_outs[1].dtype = LK_F32;
    CHECK_STATUS(lk_metrics_compute(&pred, &target, 3, NULL, NULL, metrics, 2, bad_outs, NULL, NULL), LK_EDTYPE);
    CHECK_MESSAGE_HAS("'outs[1]' has dtype float32");
    bad_outs[1] = outs[0];
    CHECK_STATUS(lk_metrics_compute(&pred, &target, 3, NULL, NULL, metrics, 2, bad_outs, NULL, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("'outs[1]' overlaps argument 'outs[0]'");
    lk_tensor bad_flags = flag_tensor;
    bad_flags.dtype = LK_I32;
    CHECK_STATUS(lk_metrics_compute(&pred, &target, 3, NULL, NULL, metrics, 2, outs, &bad_flags, NULL), LK_EDTYPE);
    CHECK_MESSAGE_HAS("'flags' has dtype int32");
    bad_flags = flag_tensor;
    bad_flags.data = labels;
    bad_flags.shape[1] = 2;
    CHECK_STATUS(lk_metrics_compute(&pred, &target, 3, NULL, NULL, metrics, 2, outs, &bad_flags, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("'flags' overlaps argument 'pred'");
    /* masks (n_classes = 0): a NaN is reported by index */
    lk_tensor mask = {mask_values, LK_F32, 4, {1, 2, 2, 3}};
    mask_values[7] = NAN;
    lk_tensor mask_outs[1] = {{values[0], LK_F64, 2, {1, 1}}};
    CHECK_STATUS(lk_metrics_compute(&mask, &mask, 0, NULL, NULL, metrics, 1, mask_outs, NULL, NULL), LK_EVALUE);
    CHECK_MESSAGE_HAS("pred[0, 1, 0, 1] = nan");
    int32_t negative[12] = {0, 0, 0, 0, 0, -3};
    lk_tensor signed_labels = {negative, LK_I32, 3, {2, 2, 3}};
    CHECK_STATUS(lk_metrics_compute(&pred, &signed_labels, 3, NULL, NULL, metrics, 2, outs, NULL, NULL),
                 LK_EVALUE);
    CHECK_MESSAGE_HAS("target[0, 1, 2] = -3");
}

int main(int argc, char **argv)
{
    static const lk_test tests[] = {
        {"one_dimension_by_hand", test_one_dimension_by_hand},
        {"surfels_by_hand", test_surfels_by_hand},
        {"surface_areas_by_hand", test_surface_areas_by_hand},
        {"surfels_3d_by_hand", test_surfels_3d_by_hand},
        {"matches_brute_force", test_matches_brute_force},
        {"empty_masks", test_empty_masks},
        {"threads_and_order", test_threads_and_order},
        {"errors", test_errors},
    };
    return lk_test_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
