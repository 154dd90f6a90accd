/*
 * The distance transforms (lk_edt, lk_sdf):
 *
 *   brute force   on random masks of rank 1 to 4, random shapes (1-wide
 *                 axes included) and spacings, the transform equals the
 *                 minimum over all background elements of the distance,
 *                 formed the same way (terms in axis order), bit for bit;
 *                 also on shapes that leave ragged groups of the lines built
 *                 together, with background in runs, on 1 and 2 threads,
 *                 float32 output included;
 *   threads       a batch and a single large image give the same bits on
 *                 1, 2 and 3 threads, float32 output is the float64 rounded;
 *   conventions   each lk_sdf_kind on a hand-made image, empty and full masks;
 *   errors        every argument's bad values: status and message.
 * (Agreement with scipy.ndimage is tested in tests/python/test_distance.py.)
 */
#include <stdlib.h>

#include "check.h"

static int64_t numel_of(const lk_tensor *t)
{
    int64_t count = 1;
    for (int k = 0; k < t->ndim; k++) count *= t->shape[k];
    return count;
}

/* The distance from element `index` to the nearest zero of mask, by
 * trying every zero; +inf if none. */
static double brute_force(const uint8_t *mask, const lk_tensor *grid, const double *spacing,
                          int64_t index)
{
    if (!mask[index]) return 0;
    int64_t count = numel_of(grid);
    double best = INFINITY;
    for (int64_t other = 0; other < count; other++) {
        if (mask[other]) continue;
        double sum = 0;
        int64_t a = index, b = other;
        double terms[LK_MAX_DIMS];
        for (int k = grid->ndim - 1; k >= 0; k--) {
            double offset = (double)(a % grid->shape[k] - b % grid->shape[k]);
            terms[k] = offset * spacing[k] * (offset * spacing[k]);
            a /= grid->shape[k];
            b /= grid->shape[k];
        }
        for (int k = 0; k < grid->ndim; k++) sum += terms[k];
        if (sum < best) best = sum;
    }
    return sqrt(best);
}

static void test_matches_brute_force(void)
{
    lk_rng rng = {7};
    for (int trial = 0; trial < 300; trial++) {
        lk_tensor mask = {NULL, LK_U8, 1 + (int)lk_rng_below(&rng, 4), {0}};
        for (int k = 0; k < mask.ndim; k++) mask.shape[k] = 1 + lk_rng_below(&rng, mask.ndim > 2 ? 7 : 19);
        int64_t count = numel_of(&mask);
        double spacing[LK_MAX_DIMS];
        for (int k = 0; k < mask.ndim; k++) spacing[k] = trial % 3 ? 0.25 + 3 * lk_rng_uniform(&rng) : 1;
        double background = lk_rng_uniform(&rng);
        uint8_t *bytes = malloc((size_t)count);
        for (int64_t i = 0; i < count; i++) bytes[i] = lk_rng_uniform(&rng) >= background;
        mask.data = bytes;
        lk_tensor out = mask;
        out.dtype = LK_F64;
        out.data = malloc((size_t)count * sizeof(double));
        CHECK_OK(lk_edt(&mask, 0, spacing, &out, NULL));
        const double *got = out.data;
        for (int64_t i = 0; i < count; i++) {
            double want = brute_force(bytes, &mask, spacing, i);
            CHECK_MSG(got[i] == want, "trial %d (rank %d): element %lld is %.17g, brute force %.17g",
                      trial, mask.ndim, (long long)i, got[i], want);
        }
        free(bytes);
        free(out.data);
    }
}

/* Background (the sites) in runs of random lengths along the last axis, as
 * the envelopes meet them after the first axis of a segmentation mask. */
static void runs_of_background(uint8_t *bytes, int64_t count, double background, lk_rng *rng)
{
    int64_t position = 0;
    while (position < count) {
        int64_t length = 1 + lk_rng_below(rng, 12);
        uint8_t value = lk_rng_uniform(rng) >= background;
        for (int64_t i = position; i < position + length && i < count; i++) bytes[i] = value;
        position += length;
    }
}

/* lk_edt of mask on a context of `threads`, in float64 and float32, against
 * the brute force: the doubles bit for bit, the floats as they round. */
static void check_brute_force_on(const lk_tensor *mask, const double *spacing, int threads,
                                 const char *label)
{
    lk_context *ctx;
    CHECK_OK(lk_context_create(threads, &ctx));
    int64_t count = numel_of(mask);
    lk_tensor wide = *mask, narrow = *mask;
    wide.dtype = LK_F64;
    wide.data = malloc((size_t)count * sizeof(double));
    narrow.dtype = LK_F32;
    narrow.data = malloc((size_t)count * sizeof(float));
    CHECK_OK(lk_edt(mask, 0, spacing, &wide, ctx));
    CHECK_OK(lk_edt(mask, 0, spacing, &narrow, ctx));
    const double *got = wide.data;
    const float *got_float = narrow.data;
    for (int64_t i = 0; i < count; i++) {
        double want = brute_force(mask->data, mask, spacing, i);
        CHECK_MSG(got[i] == want && got_float[i] == (float)want,
                  "%s, %d threads: element %lld is %.17g (float32 %.9g), brute force %.17g", label,
                  threads, (long long)i, got[i], (double)got_float[i], want);
    }
    free(wide.data);
    free(narrow.data);
    lk_context_destroy(ctx);
}

/* Lines are built LK_DT_LANES (8) at a time and runs of sites are jumped
 * over: shapes whose line counts along every axis leave ragged groups, lines
 * longer than a task, ranks 1 to 4, masks of noise and of runs. */
static void test_ragged_groups_and_runs_match_brute_force(void)
{
    static const lk_tensor shapes[] = {
        {NULL, LK_U8, 1, {300}},        {NULL, LK_U8, 2, {13, 37}},    {NULL, LK_U8, 2, {37, 13}},
        {NULL, LK_U8, 2, {2, 600}},     {NULL, LK_U8, 3, {9, 10, 11}}, {NULL, LK_U8, 3, {3, 17, 20}},
        {NULL, LK_U8, 4, {3, 5, 7, 9}},
    };
    static const double backgrounds[] = {0.03, 0.5, 0.9};
    lk_rng rng = {23};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        lk_tensor mask = shapes[s];
        int64_t count = numel_of(&mask);
        uint8_t *bytes = malloc((size_t)count);
        mask.data = bytes;
        double spacing[LK_MAX_DIMS];
        for (int k = 0; k < mask.ndim; k++) spacing[k] = s % 2 ? 0.3 + 2 * lk_rng_uniform(&rng) : 1;
        for (int b = 0; b < 3; b++) {
            for (int runs = 0; runs < 2; runs++) {
                if (runs)
                    runs_of_background(bytes, count, backgrounds[b], &rng);
                else
                    for (int64_t i = 0; i < count; i++) bytes[i] = lk_rng_uniform(&rng) >= backgrounds[b];
                char label[64];
                snprintf(label, sizeof label, "shape %zu, %s, background %g", s, runs ? "runs" : "noise",
                         backgrounds[b]);
                for (int threads = 1; threads <= 2; threads++)
                    check_brute_force_on(&mask, spacing, threads, label);
            }
        }
        free(bytes);
    }
}

/* A random mask of the shape, float64 distances of it on a context of `threads`. */
static double *transform_on(const lk_tensor *mask, int batch_dims, lk_dtype dtype, int threads,
                            lk_sdf_kind kind, int signed_map)
{
    lk_context *ctx;
    CHECK_OK(lk_context_create(threads, &ctx));
    lk_tensor out = *mask;
    out.dtype = dtype;
    out.data = malloc((size_t)numel_of(mask) * lk_dtype_size(dtype));
    double spacing[3] = {0.7, 1.3, 2.0};
    if (signed_map)
        CHECK_OK(lk_sdf(mask, batch_dims, spacing, kind, &out, ctx));
    else
        CHECK_OK(lk_edt(mask, batch_dims, spacing, &out, ctx));
    lk_context_destroy(ctx);
    return out.data;
}

static void test_threads_and_dtypes(void)
{
    static const lk_tensor shapes[] = {
        {NULL, LK_U8, 3, {1, 160, 150}},     /* one image: lines over threads */
        {NULL, LK_U8, 4, {5, 2, 40, 30}},   /* a batch: images over threads */
        {NULL, LK_U8, 4, {1, 30, 40, 50}},  /* 3-D: a strided middle axis */
    };
    lk_rng rng = {11};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        lk_tensor mask = shapes[s];
        int batch_dims = mask.ndim - 2 - (s == 2);
        int64_t count = numel_of(&mask);
        uint8_t *bytes = malloc((size_t)count);
        for (int64_t i = 0; i < count; i++) bytes[i] = lk_rng_uniform(&rng) < 0.97;
        mask.data = bytes;
        for (int kind = -1; kind < 4; kind++) {
            double *one = transform_on(&mask, batch_dims, LK_F64, 1, (lk_sdf_kind)kind, kind >= 0);
            float *single = (float *)transform_on(&mask, batch_dims, LK_F32, 2, (lk_sdf_kind)kind, kind >= 0);
            for (int threads = 2; threads <= 3; threads++) {
                double *many = transform_on(&mask, batch_dims, LK_F64, threads, (lk_sdf_kind)kind, kind >= 0);
                CHECK_MSG(memcmp(one, many, (size_t)count * sizeof(double)) == 0,
                          "shape %zu kind %d: %d threads differ from 1", s, kind, threads);
                free(many);
            }
            for (int64_t i = 0; i < count; i++)
                CHECK_MSG(single[i] == (float)one[i], "shape %zu kind %d: float32[%lld] = %g, not %g",
                          s, kind, (long long)i, single[i], (float)one[i]);
            free(one);
            free(single);
        }
        free(bytes);
    }
}

/* A 5x6 image with a 3x3 object at rows 1-3, columns 1-3. */
static void test_sdf_kinds_by_hand(void)
{
    uint8_t bytes[30] = {0};
    for (int r = 1; r <= 3; r++)
        for (int c = 1; c <= 3; c++) bytes[r * 6 + c] = 1;
    lk_tensor mask = {bytes, LK_U8, 2, {5, 6}};
    double out[30];
    lk_tensor t = {out, LK_F64, 2, {5, 6}};
    CHECK_OK(lk_sdf(&mask, 0, NULL, LK_SDF_SIGNED, &t, NULL));
    CHECK(out[2 * 6 + 2] == -2);          /* the centre: 2 steps to the background */
    CHECK(out[1 * 6 + 1] == -1);          /* a corner of the object */
    CHECK(out[0] == sqrt(2));             /* (0, 0): diagonal to (1, 1) */
    CHECK(out[2 * 6 + 5] == 2);           /* (2, 5): two steps to (2, 3) */
    CHECK_OK(lk_sdf(&mask, 0, NULL, LK_SDF_BOUNDARY_LOSS, &t, NULL));
    CHECK(out[2 * 6 + 2] == -1 && out[1 * 6 + 2] == 0 && out[2 * 6 + 5] == 2);
    CHECK_OK(lk_sdf(&mask, 0, NULL, LK_SDF_UNSIGNED, &t, NULL));
    CHECK(out[2 * 6 + 2] == 2 && out[1 * 6 + 1] == 1 && out[0] == sqrt(2));
    CHECK_OK(lk_sdf(&mask, 0, NULL, LK_SDF_NORMALIZED, &t, NULL));
    /* the border ring of the object is 0, the centre -2/2, outside d / max d (max: (4, 5), sqrt 5) */
    CHECK(out[1 * 6 + 1] == 0 && out[3 * 6 + 2] == 0 && out[2 * 6 + 2] == -1);
    CHECK(out[4 * 6 + 5] == sqrt(5) / sqrt(5) && out[0] == sqrt(2) / sqrt(5));
    static const uint8_t constant[2] = {0, 1};
    for (int fill = 0; fill < 2; fill++) {
        memset(bytes, constant[fill], sizeof bytes);
        for (int kind = 0; kind < 4; kind++) {
            CHECK_OK(lk_sdf(&mask, 0, NULL, (lk_sdf_kind)kind, &t, NULL));
            for (int i = 0; i < 30; i++) CHECK_MSG(out[i] == 0, "fill %d kind %d: %g", fill, kind, out[i]);
        }
        CHECK_OK(lk_edt(&mask, 0, NULL, &t, NULL));
        for (int i = 0; i < 30; i++) CHECK(out[i] == (fill ? INFINITY : 0));
    }
    CHECK(strcmp(lk_sdf_kind_name(LK_SDF_BOUNDARY_LOSS), "boundary_loss") == 0);
    CHECK(strcmp(lk_sdf_kind_name((lk_sdf_kind)9), "unknown") == 0);
}

static void test_mask_dtypes(void)
{
    double values[6] = {0, 2.5, -1, 0, 1, 1};
    double want[6];
    lk_tensor reference = {values, LK_F64, 2, {2, 3}}, out = {want, LK_F64, 2, {2, 3}};
    CHECK_OK(lk_edt(&reference, 0, NULL, &out, NULL));
    float f32[6];
    uint8_t u8[6];
    int32_t i32[6];
    int64_t i64[6];
    for (int i = 0; i < 6; i++) {
        f32[i] = (float)values[i];
        u8[i] = values[i] != 0;
        i32[i] = (int32_t)values[i];
        i64[i] = values[i] != 0 ? -7 : 0;
    }
    void *data[4] = {f32, u8, i32, i64};
    lk_dtype dtypes[4] = {LK_F32, LK_U8, LK_I32, LK_I64};
    for (int d = 0; d < 4; d++) {
        double got[6];
        lk_tensor mask = {data[d], dtypes[d], 2, {2, 3}}, result = {got, LK_F64, 2, {2, 3}};
        CHECK_OK(lk_edt(&mask, 0, NULL, &result, NULL));
        CHECK_MSG(memcmp(got, want, sizeof got) == 0, "dtype %s", lk_dtype_name(dtypes[d]));
    }
}

static void test_errors(void)
{
    double values[6] = {0, 1, 1, 0, 1, 1}, out_values[6];
    lk_tensor mask = {values, LK_F64, 2, {2, 3}}, out = {out_values, LK_F64, 2, {2, 3}};
    CHECK_STATUS(lk_edt(NULL, 0, NULL, &out, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("'mask' is NULL");
    CHECK_STATUS(lk_sdf(&mask, 0, NULL, LK_SDF_SIGNED, NULL, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("'out' is NULL");
    CHECK_STATUS(lk_edt(&mask, 2, NULL, &out, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("batch_dims = 2");
    CHECK_STATUS(lk_edt(&mask, -1, NULL, &out, NULL), LK_EINVAL);
    double spacing[2] = {1, 0};
    CHECK_STATUS(lk_edt(&mask, 0, spacing, &out, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("spacing[1] = 0");
    spacing[1] = NAN;
    CHECK_STATUS(lk_edt(&mask, 0, spacing, &out, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("spacing[1] = nan");
    CHECK_STATUS(lk_sdf(&mask, 0, NULL, (lk_sdf_kind)4, &out, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("kind = 4");
    lk_tensor wrong = out;
    wrong.shape[1] = 2;
    CHECK_STATUS(lk_edt(&mask, 0, NULL, &wrong, NULL), LK_ESHAPE);
    CHECK_MESSAGE_HAS("(2, 2)");
    wrong = out;
    wrong.dtype = LK_I32;
    CHECK_STATUS(lk_edt(&mask, 0, NULL, &wrong, NULL), LK_EDTYPE);
    CHECK_MESSAGE_HAS("int32");
    CHECK_STATUS(lk_edt(&mask, 0, NULL, &mask, NULL), LK_EINVAL);
    CHECK_MESSAGE_HAS("overlaps");
    wrong = mask;
    wrong.shape[0] = 0;
    CHECK_STATUS(lk_edt(&wrong, 0, NULL, &out, NULL), LK_ESHAPE);
    CHECK_MESSAGE_HAS("shape[0] = 0");
    wrong = mask;
    wrong.data = NULL;
    CHECK_STATUS(lk_edt(&wrong, 0, NULL, &out, NULL), LK_EINVAL);
    values[4] = NAN;
    CHECK_STATUS(lk_edt(&mask, 0, NULL, &out, NULL), LK_EVALUE);
    CHECK_MESSAGE_HAS("mask[1, 1] = nan");
}

int main(int argc, char **argv)
{
    static const lk_test tests[] = {
        {"matches_brute_force", test_matches_brute_force},
        {"ragged_groups_and_runs_match_brute_force", test_ragged_groups_and_runs_match_brute_force},
        {"threads_and_dtypes", test_threads_and_dtypes},
        {"sdf_kinds_by_hand", test_sdf_kinds_by_hand},
        {"mask_dtypes", test_mask_dtypes},
        {"errors", test_errors},
    };
    return lk_test_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
