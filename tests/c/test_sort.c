/*
 * The radix sort of core/radix_sort.h: against qsort on random keys, stable on
 * ties, 32- and 64-bit keys, the descending keys of negative numbers and of
 * both zeros, skipped passes, and the degenerate sizes.
 */
#include <stdlib.h>

#include "check.h"
#include "core/radix_sort.h"

typedef struct pair64 {
    uint64_t key;
    uint32_t payload;
} pair64;

static int compare_pairs(const void *a, const void *b)
{
    const pair64 *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->payload < y->payload ? -1 : x->payload > y->payload; /* stability: input order */
}

/* Sorts n keys drawn by draw() both ways and compares, keys and payloads. */
static void check_against_qsort(size_t n, uint64_t (*draw)(lk_rng *), int wide, unsigned long long seed)
{
    lk_rng rng = {seed};
    pair64 *expected = malloc((n + 1) * sizeof *expected);
    uint32_t *keys32 = malloc((n + 1) * 4), *scratch32 = malloc((n + 1) * 4);
    uint64_t *keys64 = malloc((n + 1) * 8), *scratch64 = malloc((n + 1) * 8);
    uint32_t *payload = malloc((n + 1) * 4), *scratch_payload = malloc((n + 1) * 4);
    for (size_t i = 0; i < n; i++) {
        uint64_t key = draw(&rng);
        if (!wide) key &= 0xffffffffu;
        expected[i].key = key;
        expected[i].payload = payload[i] = (uint32_t)i;
        keys32[i] = (uint32_t)key;
        keys64[i] = key;
    }
    qsort(expected, n, sizeof *expected, compare_pairs);
    if (wide)
        lk_radix_sort_f64(keys64, payload, n, scratch64, scratch_payload);
    else
        lk_radix_sort_f32(keys32, payload, n, scratch32, scratch_payload);
    int same = 1;
    for (size_t i = 0; i < n; i++)
        same &= (wide ? keys64[i] : keys32[i]) == expected[i].key && payload[i] == expected[i].payload;
    CHECK_MSG(same, "radix sort of %zu %s-bit keys differs from qsort", n, wide ? "64" : "32");
    free(expected);
    free(keys32);
    free(scratch32);
    free(keys64);
    free(scratch64);
    free(payload);
    free(scratch_payload);
}

static uint64_t draw_any(lk_rng *rng)
{
    return (uint64_t)(lk_rng_uniform(rng) * 4294967296.0) << 32 | (uint64_t)(lk_rng_uniform(rng) * 4294967296.0);
}

static uint64_t draw_few(lk_rng *rng) /* heavy ties */
{
    return (uint64_t)lk_rng_below(rng, 5) * 0x0101010101010101ull;
}

static uint64_t draw_high_digit_only(lk_rng *rng) /* every pass but the top one is skipped */
{
    return (uint64_t)lk_rng_below(rng, 7) << 61 | (uint64_t)lk_rng_below(rng, 7) << 29;
}

static void test_matches_qsort(void)
{
    static const size_t sizes[] = {0, 1, 2, 7, 100, 2049, 100003};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int wide = 0; wide < 2; wide++) {
            check_against_qsort(sizes[s], draw_any, wide, 3 + s);
            check_against_qsort(sizes[s], draw_few, wide, 5 + s);
            check_against_qsort(sizes[s], draw_high_digit_only, wide, 7 + s);
        }
}

static void test_descending_keys(void)
{
    static const float values32[] = {1.0f, 0.5f, 1e-30f, 0.0f, -0.0f, -1e-30f, -2.0f, -INFINITY, INFINITY};
    static const double values64[] = {1.0, 0.5, 1e-300, 0.0, -0.0, -1e-300, -2.0, -INFINITY, INFINITY};
    size_t n = sizeof values32 / sizeof values32[0];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            /* larger values get smaller keys; equal values (0 and -0) equal keys */
            int order32 = values32[i] > values32[j] ? -1 : values32[i] < values32[j];
            uint32_t a = lk_descending_key_f32(values32[i]), b = lk_descending_key_f32(values32[j]);
            CHECK_MSG(order32 == (a < b ? -1 : a > b), "keys of %g and %g out of order", values32[i], values32[j]);
            uint64_t c = lk_descending_key_f64(values64[i]), d = lk_descending_key_f64(values64[j]);
            int order64 = values64[i] > values64[j] ? -1 : values64[i] < values64[j];
            CHECK_MSG(order64 == (c < d ? -1 : c > d), "keys of %g and %g out of order", values64[i], values64[j]);
        }
        CHECK(lk_from_descending_key_f32(lk_descending_key_f32(values32[i])) == values32[i]);
        CHECK(lk_from_descending_key_f64(lk_descending_key_f64(values64[i])) == values64[i]);
        if (values32[i] >= 0) {
            CHECK(lk_descending_key_nonnegative_f32(values32[i]) == lk_descending_key_f32(values32[i]));
            CHECK(lk_descending_key_nonnegative_f64(values64[i]) == lk_descending_key_f64(values64[i]));
        }
    }
}

int main(int argc, char **argv)
{
    static const lk_test tests[] = {
        {"matches_qsort", test_matches_qsort},
        {"descending_keys", test_descending_keys},
    };
    return lk_test_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
