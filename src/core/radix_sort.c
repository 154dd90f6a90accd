/*
 * LSD radix sort with 11-bit digits (see radix_sort.h): 3 passes over 32-bit
 * keys, 6 over 64-bit ones. Measured on 131072 float32 error keys (the Lovász
 * losses' sorts on (8, 4, 128, 128)): 8-bit digits (4 passes, 256 buckets)
 * 6.3 ns/key, 11-bit 3.6, 16-bit 3.0 -- but 16-bit needs a 2 x 65536-entry
 * histogram per sort, which costs more than it saves on the small groups of
 * per-image sorts. The histograms (48 KiB, 96 KiB for 64-bit keys) live on the
 * stack.
 */
#ifndef LK_REAL
#include "core/radix_sort.h"

#include <string.h>

#include "core/hot.h"

#define DIGIT_BITS 11
#define BUCKETS (1 << DIGIT_BITS)
#define SMALL 64 /* below this, a stable insertion sort beats clearing the histograms */

#define LK_TYPED_FILE "core/radix_sort.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

#define KEY LK_T(lk_radix_key)
#define PASSES ((int)((sizeof(KEY) * 8 + DIGIT_BITS - 1) / DIGIT_BITS))

/* One stable scatter of every pair by the digit at `shift`. */
static void LK_T(scatter)(const KEY *restrict keys, const uint32_t *restrict payload, size_t n,
                          int shift, size_t *restrict offsets, KEY *restrict out_keys,
                          uint32_t *restrict out_payload)
{
    for (size_t i = 0; i < n; i++) {
        size_t position = offsets[(keys[i] >> shift) & (BUCKETS - 1)]++;
        out_keys[position] = keys[i];
        out_payload[position] = payload[i];
    }
}

static void LK_T(insertion_sort)(KEY *keys, uint32_t *payload, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        KEY key = keys[i];
        uint32_t value = payload[i];
        size_t j = i;
        for (; j > 0 && keys[j - 1] > key; j--) { /* strict: equal keys keep their order */
            keys[j] = keys[j - 1];
            payload[j] = payload[j - 1];
        }
        keys[j] = key;
        payload[j] = value;
    }
}

LK_HOT void LK_T(lk_radix_sort)(KEY *keys, uint32_t *payload, size_t n, KEY *scratch_keys,
                                uint32_t *scratch_payload)
{
    if (n < SMALL) {
        LK_T(insertion_sort)(keys, payload, n);
        return;
    }
    size_t counts[PASSES][BUCKETS];
    memset(counts, 0, sizeof counts);
    for (size_t i = 0; i < n; i++)
        for (int pass = 0; pass < PASSES; pass++)
            counts[pass][(keys[i] >> (pass * DIGIT_BITS)) & (BUCKETS - 1)]++;
    KEY *from_keys = keys, *to_keys = scratch_keys;
    uint32_t *from_payload = payload, *to_payload = scratch_payload;
    for (int pass = 0; pass < PASSES && n > 0; pass++) {
        int shift = pass * DIGIT_BITS;
        if (counts[pass][(keys[0] >> shift) & (BUCKETS - 1)] == n) continue; /* one digit for all */
        size_t offsets[BUCKETS], total = 0;
        for (int b = 0; b < BUCKETS; b++) {
            offsets[b] = total;
            total += counts[pass][b];
        }
        LK_T(scatter)(from_keys, from_payload, n, shift, offsets, to_keys, to_payload);
        KEY *swap_keys = from_keys;
        uint32_t *swap_payload = from_payload;
        from_keys = to_keys;
        from_payload = to_payload;
        to_keys = swap_keys;
        to_payload = swap_payload;
    }
    if (from_keys != keys) {
        memcpy(keys, from_keys, n * sizeof(KEY));
        memcpy(payload, from_payload, n * sizeof(uint32_t));
    }
}

#undef PASSES
#undef KEY

#endif /* typed section */
