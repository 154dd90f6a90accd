/*
 * Sums in LK_LANES partial sums ("lanes"), the summation order the kernels
 * use inside a chunk: value j goes to lane j % LK_LANES, each lane adds its
 * values in increasing j, and the lanes are added 0, 1, ..., LK_LANES - 1.
 * The order is fixed (results do not depend on the thread count or the
 * vector width), and the LK_LANES independent chains vectorize.
 */
#ifndef LK_CORE_LANES_H
#define LK_CORE_LANES_H

#include <stdint.h>

#define LK_LANES 8

/* lanes[j % LK_LANES] += values[j], j = 0, ..., len - 1, in double. The
 * caller's blocks must start at multiples of LK_LANES for one running sum. */
static inline void lk_lanes_add_f32(double *restrict lanes, const float *restrict values, int len)
{
    int j = 0;
    for (; j + LK_LANES <= len; j += LK_LANES)
        for (int lane = 0; lane < LK_LANES; lane++) lanes[lane] += (double)values[j + lane];
    for (; j < len; j++) lanes[j % LK_LANES] += (double)values[j];
}

static inline void lk_lanes_add_f64(double *restrict lanes, const double *restrict values, int len)
{
    int j = 0;
    for (; j + LK_LANES <= len; j += LK_LANES)
        for (int lane = 0; lane < LK_LANES; lane++) lanes[lane] += values[j + lane];
    for (; j < len; j++) lanes[j % LK_LANES] += values[j];
}

#define lk_lanes_add(lanes, values, len)                                                   \
    _Generic((values), float *: lk_lanes_add_f32, const float *: lk_lanes_add_f32,         \
             double *: lk_lanes_add_f64, const double *: lk_lanes_add_f64)(lanes, values, len)

/* The lanes' total, added in lane order. */
static inline double lk_lanes_total(const double *lanes)
{
    double total = 0;
    for (int lane = 0; lane < LK_LANES; lane++) total += lanes[lane];
    return total;
}

/* sum_k a[k] b[k] in LK_LANES lanes: vectorizes, and adds in a fixed order. */
static inline double lk_dot_lanes(const double *restrict a, const double *restrict b, int64_t n)
{
    double lanes[LK_LANES] = {0};
    int64_t k = 0;
    for (; k + LK_LANES <= n; k += LK_LANES)
        for (int lane = 0; lane < LK_LANES; lane++) lanes[lane] += a[k + lane] * b[k + lane];
    for (; k < n; k++) lanes[k % LK_LANES] += a[k] * b[k];
    return lk_lanes_total(lanes);
}

#endif
