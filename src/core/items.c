#define _DEFAULT_SOURCE /* madvise */
#include "core/items.h"

#include <stdlib.h>
#include <sys/mman.h>

#include "core/context.h"
#include "core/error.h"
#include "core/scratch.h"

typedef struct items_job {
    lk_item_fn fn;
    void *arg;
    char *memory;
    size_t memory_size;
} items_job;

/* Areas of at least LK_HUGE_AREA bytes (a distance transform's double map
 * of a 128^3 volume, say) are offered to Linux's transparent huge pages: a
 * fresh area is then faulted in 2 MiB at a time rather than 4 KiB, which
 * took a sixth of such a transform's time. Elsewhere, or with huge pages
 * off, the advice does nothing. */
#define LK_HUGE_PAGE ((size_t)2 << 20)
#define LK_HUGE_AREA ((size_t)4 << 20)

static void *area_alloc(size_t bytes)
{
#ifdef MADV_HUGEPAGE
    if (bytes >= LK_HUGE_AREA) {
        size_t rounded = (bytes + LK_HUGE_PAGE - 1) / LK_HUGE_PAGE * LK_HUGE_PAGE;
        void *area = aligned_alloc(LK_HUGE_PAGE, rounded);
        if (area) madvise(area, rounded, MADV_HUGEPAGE);
        return area;
    }
#endif
    return aligned_alloc(LK_SCRATCH_ALIGN, bytes);
}

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
    items_job job = {fn, arg, area_alloc(workers * memory_size), memory_size};
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
