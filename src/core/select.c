/*
 * Radix select (see select.h). The first digit (the top 12 bits: sign,
 * exponent and a few mantissa bits) is counted in parallel, one histogram per
 * worker (integer counts: the sum does not depend on the thread count). The
 * entries in the chosen bucket are then compacted, and the remaining digits,
 * 10 bits each, are resolved on those candidates only.
 */
#ifndef LK_REAL
#include "core/select.h"

#include <stdlib.h>
#include <string.h>

#include "core/chunks.h"
#include "core/context.h"
#include "core/error.h"
#include "core/hot.h"
#include "core/vecmath.h"

#define FIRST_DIGIT_BITS 12
#define DIGIT_BITS 10
#define FIRST_BUCKETS (1 << FIRST_DIGIT_BITS)

typedef struct histogram_job {
    const void *values;
    int64_t count;
    int key_bits;
    int64_t *histograms; /* one FIRST_BUCKETS histogram per worker */
} histogram_job;

/* Walks buckets from the largest down; returns the bucket holding the k-th
 * largest, adds the entries of larger buckets to *above, leaves in *k the
 * rank within the bucket. */
static int choose_bucket(const int64_t *histogram, int buckets, int64_t *k, int64_t *above)
{
    for (int bucket = buckets - 1; bucket > 0; bucket--) {
        if (*k <= histogram[bucket]) return bucket;
        *k -= histogram[bucket];
        *above += histogram[bucket];
    }
    return 0;
}

#define LK_TYPED_FILE "core/select.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

/* The sortable key of a value: its bits (+0 and -0 alike); negative: none. */
static inline uint64_t LK_T(key)(lk_real value)
{
    lk_real positive = value + (lk_real)0; /* -0 + 0 = +0 */
    return sizeof(lk_real) == 4 ? (uint64_t)lk_bits_f32((float)positive)
                                : lk_bits_f64((double)positive);
}

static lk_real LK_T(from_key)(uint64_t key)
{
    return sizeof(lk_real) == 4 ? (lk_real)lk_from_bits_f32((uint32_t)key)
                                : (lk_real)lk_from_bits_f64(key);
}

LK_HOT static void LK_T(histogram_chunk)(void *arg, int64_t chunk, int worker)
{
    histogram_job *job = arg;
    const lk_real *values = job->values;
    int64_t *histogram = job->histograms + (int64_t)worker * FIRST_BUCKETS;
    int shift = job->key_bits - FIRST_DIGIT_BITS;
    int64_t end = lk_chunk_end(chunk, job->count);
    for (int64_t i = chunk * LK_CHUNK; i < end; i++)
        if (values[i] >= 0) histogram[LK_T(key)(values[i]) >> shift]++;
}

static lk_status LK_T(kth_largest)(lk_context *ctx, const lk_real *values, int64_t count,
                                   int64_t k, lk_order_statistic *out)
{
    const int key_bits = (int)sizeof(lk_real) * 8;
    int n_workers = lk_context_threads(ctx);
    histogram_job job = {values, count, key_bits, NULL};
    job.histograms = calloc((size_t)n_workers * FIRST_BUCKETS, sizeof(int64_t));
    if (!job.histograms) return lk_fail(LK_ENOMEM, "out of memory for a histogram");
    lk_parallel_for(ctx, lk_chunk_count(count), LK_T(histogram_chunk), &job);
    for (int w = 1; w < n_workers; w++)
        for (int bucket = 0; bucket < FIRST_BUCKETS; bucket++)
            job.histograms[bucket] += job.histograms[(int64_t)w * FIRST_BUCKETS + bucket];
    int64_t above = 0;
    int shift = key_bits - FIRST_DIGIT_BITS;
    uint64_t prefix = (uint64_t)choose_bucket(job.histograms, FIRST_BUCKETS, &k, &above);
    int64_t n_candidates = job.histograms[prefix];
    free(job.histograms);

    uint64_t *candidates = malloc((size_t)(n_candidates > 0 ? n_candidates : 1) * sizeof *candidates);
    if (!candidates) return lk_fail(LK_ENOMEM, "out of memory for %lld candidates", (long long)n_candidates);
    int64_t kept = 0;
    for (int64_t i = 0; i < count; i++) {
        if (!(values[i] >= 0)) continue;
        uint64_t key = LK_T(key)(values[i]);
        if (key >> shift == prefix) candidates[kept++] = key;
    }
    int64_t histogram[1 << DIGIT_BITS];
    while (shift > 0) {
        int width = shift < DIGIT_BITS ? shift : DIGIT_BITS;
        int buckets = 1 << width;
        shift -= width;
        memset(histogram, 0, (size_t)buckets * sizeof histogram[0]);
        for (int64_t i = 0; i < kept; i++) histogram[(candidates[i] >> shift) & (uint64_t)(buckets - 1)]++;
        uint64_t digit = (uint64_t)choose_bucket(histogram, buckets, &k, &above);
        prefix = (prefix << width) | digit;
        int64_t next = 0;
        for (int64_t i = 0; i < kept; i++)
            if (candidates[i] >> shift == prefix) candidates[next++] = candidates[i];
        kept = next;
    }
    free(candidates);
    out->value = (double)LK_T(from_key)(prefix);
    out->above = above;
    out->equal = kept;
    return LK_OK;
}

static int64_t LK_T(nth_equal_index)(const lk_real *values, int64_t count, lk_real value,
                                     int64_t needed)
{
    for (int64_t i = 0; i < count; i++)
        if (values[i] == value && --needed == 0) return i;
    return count - 1;
}

#endif /* typed section */

#ifndef LK_REAL

lk_status lk_kth_largest(lk_context *ctx, const void *values, lk_dtype dtype, int64_t count,
                         int64_t k, lk_order_statistic *out)
{
    if (!ctx) ctx = lk_default_context();
    return dtype == LK_F32 ? kth_largest_f32(ctx, values, count, k, out)
                           : kth_largest_f64(ctx, values, count, k, out);
}

int64_t lk_nth_equal_index(const void *values, lk_dtype dtype, int64_t count, double value,
                           int64_t needed)
{
    return dtype == LK_F32 ? nth_equal_index_f32(values, count, (float)value, needed)
                           : nth_equal_index_f64(values, count, value, needed);
}

#endif
