/*
 * Exact order statistics of non-negative reals, in linear time: the k-th
 * largest of an array without sorting it (radix select on the IEEE bit
 * patterns, which order non-negative numbers like their values). Negative
 * values are excluded (callers use -1 to mark entries that do not compete).
 */
#ifndef LK_CORE_SELECT_H
#define LK_CORE_SELECT_H

#include <stdint.h>

#include "losskit.h"

typedef struct lk_order_statistic {
    double value;  /* the k-th largest */
    int64_t above; /* entries strictly larger */
    int64_t equal; /* entries equal to it */
} lk_order_statistic;

/* The k-th largest (k >= 1) of the non-negative entries of values (float32 or
 * float64, contiguous, count entries). k must not exceed the number of
 * non-negative entries. */
lk_status lk_kth_largest(lk_context *ctx, const void *values, lk_dtype dtype, int64_t count,
                         int64_t k, lk_order_statistic *out);

/* The index of the needed-th entry (in index order, needed >= 1) equal to
 * value, or count - 1 if there are fewer. */
int64_t lk_nth_equal_index(const void *values, lk_dtype dtype, int64_t count, double value,
                           int64_t needed);

#endif
