/*
 * Stable LSD radix sort of (key, payload) pairs, and order-preserving keys
 * of non-negative reals: linear time, where a comparison sort of everything
 * would be O(n log n). Used by the losses that rank errors (Lovász).
 *
 * Keys of float32 values are uint32, of float64 values uint64; the payload is
 * a uint32 the caller chooses (an index, with a flag in its low bit, say).
 * Passes whose digit is the same for every key are skipped: one read of the
 * keys counts every pass's digits first.
 */
#ifndef LK_CORE_RADIX_SORT_H
#define LK_CORE_RADIX_SORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/vecmath.h"

/* The key types, named after the reals they order (for typed code: LK_T(lk_radix_key)). */
typedef uint32_t lk_radix_key_f32;
typedef uint64_t lk_radix_key_f64;

/* Sorts keys (with their payloads) into ascending order, stably: equal keys
 * keep their order. scratch_keys and scratch_payload hold n entries each; the
 * result is in keys and payload. */
void lk_radix_sort_f32(uint32_t *keys, uint32_t *payload, size_t n, uint32_t *scratch_keys,
                       uint32_t *scratch_payload);
void lk_radix_sort_f64(uint64_t *keys, uint32_t *payload, size_t n, uint64_t *scratch_keys,
                       uint32_t *scratch_payload);

/* The key that sorts a real (not NaN) into DEcreasing order under the
 * ascending sort above, and the real back from its key. The usual map of
 * IEEE bits to an order-preserving integer (flip the sign bit of positives,
 * every bit of negatives), complemented; -0 counts as +0. */
static inline uint32_t lk_descending_key_f32(float value)
{
    uint32_t bits = lk_bits_f32(value + 0.0f); /* -0 + 0 = +0 */
    uint32_t ascending = bits >> 31 ? ~bits : bits | 0x80000000u;
    return ~ascending;
}

static inline uint64_t lk_descending_key_f64(double value)
{
    uint64_t bits = lk_bits_f64(value + 0.0);
    uint64_t ascending = bits >> 63 ? ~bits : bits | 0x8000000000000000u;
    return ~ascending;
}

static inline float lk_from_descending_key_f32(uint32_t key)
{
    uint32_t ascending = ~key;
    return lk_from_bits_f32(ascending >> 31 ? ascending & 0x7fffffffu : ~ascending);
}

static inline double lk_from_descending_key_f64(uint64_t key)
{
    uint64_t ascending = ~key;
    return lk_from_bits_f64(ascending >> 63 ? ascending & 0x7fffffffffffffffu : ~ascending);
}

/* The same keys for reals known to be >= 0 (or -0), without the sign test. */
static inline uint32_t lk_descending_key_nonnegative_f32(float value)
{
    return ~lk_bits_f32(value + 0.0f) & 0x7fffffffu;
}

static inline uint64_t lk_descending_key_nonnegative_f64(double value)
{
    return ~lk_bits_f64(value + 0.0) & 0x7fffffffffffffffu;
}

#define lk_descending_key_nonnegative(value)                                                 \
    _Generic((value), float: lk_descending_key_nonnegative_f32,                               \
             double: lk_descending_key_nonnegative_f64)(value)
#define lk_from_descending_key(key) \
    _Generic((key), uint32_t: lk_from_descending_key_f32, uint64_t: lk_from_descending_key_f64)(key)
#define lk_descending_key(value) \
    _Generic((value), float: lk_descending_key_f32, double: lk_descending_key_f64)(value)

#endif
