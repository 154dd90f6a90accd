/*
 * Compute contexts: a pool of worker threads and a parallel for-loop over
 * task indices. Determinism does not depend on which thread runs which task:
 * callers give each task its own output slot and combine the slots in task
 * order afterwards (see the drivers in softmax.c and elementwise.c).
 */
#ifndef LK_CORE_CONTEXT_H
#define LK_CORE_CONTEXT_H

#include <stdint.h>

#include "losskit.h"

/* Runs one task. worker is in [0, lk_context_threads(ctx)) and is unique among
 * the tasks running at the same time, so it can index per-thread scratch. */
typedef void (*lk_task_fn)(void *arg, int64_t task, int worker);

/* Runs fn(arg, task, worker) for every task in [0, n_tasks), on the context's
 * threads, the calling thread included, and returns when all are done. */
void lk_parallel_for(lk_context *ctx, int64_t n_tasks, lk_task_fn fn, void *arg);

/* lk_parallel_for for jobs whose tasks together touch `items` elements: below
 * LK_PARALLEL_MIN_ITEMS the caller runs them alone, since waking the workers
 * costs more than such a job (the result is the same, see above). */
void lk_parallel_for_items(lk_context *ctx, int64_t n_tasks, int64_t items, lk_task_fn fn, void *arg);

#define LK_PARALLEL_MIN_ITEMS 16384

/* The default context (created on first use, lives until the process ends). */
lk_context *lk_default_context(void);

/* The thread count the default context uses: LOSSKIT_NUM_THREADS if it holds
 * an integer in [1, LK_MAX_THREADS], else the cores this process may run on. */
int lk_default_thread_count(void);

#define LK_MAX_THREADS 1024

#endif
