/*
 * Fixed chunking: the unit of parallel work and of summation. Pixel (or
 * element) ranges are cut into chunks of LK_CHUNK items whatever the thread
 * count; each chunk sums its items in a fixed order into its own slot, and
 * the slots are added in chunk order. That is what makes every result
 * bit-identical for 1, 2 or 64 threads.
 */
#ifndef LK_CORE_CHUNKS_H
#define LK_CORE_CHUNKS_H

#include <stdint.h>

#define LK_CHUNK 8192

static inline int64_t lk_chunk_count(int64_t items)
{
    return (items + LK_CHUNK - 1) / LK_CHUNK;
}

static inline int64_t lk_chunk_end(int64_t chunk, int64_t items)
{
    int64_t end = (chunk + 1) * LK_CHUNK;
    return end < items ? end : items;
}

/* Chunking per image, for passes whose chunks never span images (an image's
 * sums then do not depend on the rest of the batch): each image of
 * `per_image` items has lk_chunk_count(per_image) chunks. Returns the image
 * of chunk `chunk` and sets [*begin, *end), its items' positions in the image. */
static inline int64_t lk_image_chunk_span(int64_t chunk, int64_t per_image, int64_t *begin,
                                          int64_t *end)
{
    int64_t chunks_per_image = lk_chunk_count(per_image);
    *begin = (chunk % chunks_per_image) * LK_CHUNK;
    *end = lk_chunk_end(chunk % chunks_per_image, per_image);
    return chunk / chunks_per_image;
}

/* The first invalid value a chunk met, if any (index < 0: none). */
typedef struct lk_chunk_error {
    int64_t index; /* flat index into the offending tensor */
    double value;
    int input;     /* which input holds it */
} lk_chunk_error;

/* The error with the lowest index over all chunks, or NULL: chunks cover
 * increasing index ranges, so the first chunk with an error has it. */
static inline const lk_chunk_error *lk_first_chunk_error(const lk_chunk_error *errors,
                                                         int64_t n_chunks)
{
    for (int64_t chunk = 0; chunk < n_chunks; chunk++)
        if (errors[chunk].index >= 0) return &errors[chunk];
    return 0;
}

#endif
