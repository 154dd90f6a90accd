#include "core/items.h"

#include <stdlib.h>

#include "core/context.h"
#include "core/error.h"
#include "core/scratch.h"

typedef struct items_job {
    lk_item_fn fn;
    void *arg;
    char *memory;
    size_t memory_size;
} items_job;

static void item_task(void *arg, int64_t item, int worker)
{
    const items_job *job = arg;
    job->fn(job->arg, item, NULL, job->memory + (size_t)worker * job->memory_size); /* cannot fail */
}

lk_status lk_run_items(lk_context *ctx, int64_t count, int64_t elements, size_t memory_size,
                       lk_item_fn fn, void *arg, const char *what)
{
    int threads = lk_context_threads(ctx);
    int per_item_tasks = count >= threads;
    size_t workers = per_item_tasks ? (size_t)threads : 1;
    items_job job = {fn, arg, aligned_alloc(LK_SCRATCH_ALIGN, workers * memory_size), memory_size};
    if (!job.memory) return lk_fail(LK_ENOMEM, "out of memory for %s", what);
    lk_status status = LK_OK;
    if (per_item_tasks)
        lk_parallel_for_items(ctx, count, count * elements, item_task, &job);
    else
        for (int64_t item = 0; item < count && status == LK_OK; item++)
            status = fn(arg, item, ctx, job.memory);
    free(job.memory);
    return status;
}
