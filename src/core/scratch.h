/*
 * Per-worker scratch areas carved into aligned buffers. A driver lays its
 * buffers out twice with the same calls: once with base NULL to measure the
 * area (lk_scratch_size), once on each worker's area to carve it.
 *
 *     lk_scratch s = {base, 0};
 *     b->prob = lk_scratch_take(&s, classes * block * sizeof(float));
 *     b->label = lk_scratch_take(&s, block * sizeof(int32_t));
 *     return lk_scratch_size(&s);
 */
#ifndef LK_CORE_SCRATCH_H
#define LK_CORE_SCRATCH_H

#include <stddef.h>

#define LK_SCRATCH_ALIGN 64 /* a cache line, and any vector */

typedef struct lk_scratch {
    char *base;    /* NULL: measuring only */
    size_t offset; /* bytes laid out so far */
} lk_scratch;

/* The next buffer of `bytes` (NULL while measuring). */
static inline void *lk_scratch_take(lk_scratch *s, size_t bytes)
{
    size_t start = (s->offset + LK_SCRATCH_ALIGN - 1) / LK_SCRATCH_ALIGN * LK_SCRATCH_ALIGN;
    s->offset = start + bytes;
    return s->base ? s->base + start : NULL;
}

/* The area's size so far, rounded up so that the next area stays aligned. */
static inline size_t lk_scratch_size(lk_scratch *s)
{
    lk_scratch_take(s, 0);
    return s->offset;
}

#endif
