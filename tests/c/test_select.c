/* Radix select against sorting, with ties, zeros, -0, excluded negatives,
 * huge counts of equal values, and 1 vs 3 threads. */
#include <stdlib.h>

#include "check.h"
#include "core/select.h"

static int descending(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

static void check_against_sort(const double *values, int64_t count, int64_t k, lk_context *ctx)
{
    double *sorted = malloc((size_t)count * sizeof *sorted);
    float *narrow = malloc((size_t)count * sizeof *narrow);
    int64_t kept = 0;
    for (int64_t i = 0; i < count; i++) {
        narrow[i] = (float)values[i];
        if (values[i] >= 0) sorted[kept++] = values[i];
    }
    qsort(sorted, (size_t)kept, sizeof *sorted, descending);
    double expected = sorted[k - 1];
    int64_t above = 0, equal = 0;
    for (int64_t i = 0; i < kept; i++) {
        above += sorted[i] > expected;
        equal += sorted[i] == expected;
    }
    lk_order_statistic got;
    CHECK_OK(lk_kth_largest(ctx, values, LK_F64, count, k, &got));
    CHECK_MSG(got.value == expected && got.above == above && got.equal == equal,
              "k=%lld: got %.17g (above %lld, equal %lld), expected %.17g (%lld, %lld)",
              (long long)k, got.value, (long long)got.above, (long long)got.equal, expected,
              (long long)above, (long long)equal);
    /* float32 keys: the same on values that are exactly floats */
    for (int64_t i = 0; i < count; i++) sorted[i] = narrow[i];
    kept = 0;
    for (int64_t i = 0; i < count; i++)
        if (narrow[i] >= 0) sorted[kept++] = narrow[i];
    qsort(sorted, (size_t)kept, sizeof *sorted, descending);
    CHECK_OK(lk_kth_largest(ctx, narrow, LK_F32, count, k, &got));
    CHECK_MSG(got.value == sorted[k - 1], "float32 k=%lld: got %.9g expected %.9g", (long long)k, got.value, sorted[k - 1]);
    free(sorted);
    free(narrow);
}

static void test_random_values(void)
{
    lk_context *three;
    CHECK_OK(lk_context_create(3, &three));
    lk_rng rng = {3};
    int64_t counts[] = {1, 2, 17, 1000, 40000};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        int64_t count = counts[c];
        double *values = malloc((size_t)count * sizeof *values);
        for (int64_t i = 0; i < count; i++) {
            double u = lk_rng_uniform(&rng);
            values[i] = u < 0.1 ? -1 : u < 0.2 ? 0.0 : u < 0.25 ? -0.0 : u < 0.35 ? 2.5 : exp(lk_rng_uniform(&rng) * 20 - 10);
        }
        int64_t nonnegative = 0;
        for (int64_t i = 0; i < count; i++) nonnegative += values[i] >= 0;
        int64_t ks[] = {1, 2, nonnegative / 3, nonnegative / 2, nonnegative - 1, nonnegative};
        for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++)
            if (ks[j] >= 1 && ks[j] <= nonnegative) {
                check_against_sort(values, count, ks[j], NULL);
                check_against_sort(values, count, ks[j], three);
            }
        free(values);
    }
    lk_context_destroy(three);
}

static void test_all_equal(void)
{
    double values[500];
    for (int i = 0; i < 500; i++) values[i] = 0.75;
    lk_order_statistic got;
    CHECK_OK(lk_kth_largest(NULL, values, LK_F64, 500, 123, &got));
    CHECK(got.value == 0.75 && got.above == 0 && got.equal == 500);
    CHECK(lk_nth_equal_index(values, LK_F64, 500, 0.75, 123) == 122);
    CHECK(lk_nth_equal_index(values, LK_F64, 500, 0.75, 501) == 499);
}

static void test_nth_equal_index(void)
{
    float values[] = {1, 3, 3, -1, 3, 2};
    CHECK(lk_nth_equal_index(values, LK_F32, 6, 3, 1) == 1);
    CHECK(lk_nth_equal_index(values, LK_F32, 6, 3, 3) == 4);
}

int main(int argc, char **argv)
{
    static const lk_test tests[] = {
        {"random_values", test_random_values},
        {"all_equal", test_all_equal},
        {"nth_equal_index", test_nth_equal_index},
    };
    return lk_test_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
