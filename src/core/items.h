/*
 * A batch of independent items (images, or image and class pairs) on a
 * context's threads, each with its own work memory: with at least as many
 * items as threads, one item per task, each worker with its own memory;
 * otherwise item after item on one memory, the item's inner work spread over
 * the threads. Callers whose items give the same result either way (the
 * distance transforms, the metrics) get the same bits for any thread count.
 */
#ifndef LK_CORE_ITEMS_H
#define LK_CORE_ITEMS_H

#include <stddef.h>
#include <stdint.h>

#include "losskit.h"

/* Runs one item with `memory` (memory_size bytes, 64-byte aligned). ctx
 * NULL: all on the calling thread, and it must not fail; else its inner
 * work may run on ctx's threads. */
typedef lk_status (*lk_item_fn)(void *arg, int64_t item, lk_context *ctx, void *memory);

/* Runs fn for every item in [0, count); elements: what one item touches (to
 * keep small batches on the caller's thread). Fails for want of memory
 * (the message names `what`), or with fn's first failure. */
lk_status lk_run_items(lk_context *ctx, int64_t count, int64_t elements, size_t memory_size,
                       lk_item_fn fn, void *arg, const char *what);

#endif
