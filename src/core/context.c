/*
 * The thread pool behind lk_context. Workers sleep on a condition variable
 * between jobs (they never spin, so they do not steal cycles from the
 * framework calling us), take task indices from an atomic counter, and the
 * caller works alongside them.
 *
 * One job runs at a time per context. If another thread submits while a job
 * runs, it runs its own tasks serially on its thread: results are the same
 * bits either way, because the drivers make results independent of the
 * thread count.
 */
#define _GNU_SOURCE
#include "core/context.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

struct lk_context {
    int n_threads;
    pid_t owner_pid; /* after fork() the workers are gone: run serially */
    pthread_t *workers;
    int n_workers;
    pthread_mutex_t submit_lock; /* held while a job runs */
    pthread_mutex_t lock;        /* guards the fields below */
    pthread_cond_t job_ready;
    pthread_cond_t job_done;
    uint64_t generation; /* incremented per job */
    int running;         /* workers still inside the current job */
    int shutting_down;
    lk_task_fn fn;
    void *arg;
    int64_t n_tasks;
    atomic_int_fast64_t next_task;
};

typedef struct worker_start {
    lk_context *ctx;
    int index;
} worker_start;

static void run_tasks(lk_context *ctx, int worker)
{
    for (;;) {
        int64_t task = atomic_fetch_add(&ctx->next_task, 1);
        if (task >= ctx->n_tasks) return;
        ctx->fn(ctx->arg, task, worker);
    }
}

static void *worker_main(void *raw)
{
    worker_start start = *(worker_start *)raw;
    free(raw);
    lk_context *ctx = start.ctx;
    uint64_t seen = 0;
    pthread_mutex_lock(&ctx->lock);
    for (;;) {
        while (ctx->generation == seen && !ctx->shutting_down)
            pthread_cond_wait(&ctx->job_ready, &ctx->lock);
        if (ctx->shutting_down) break;
        seen = ctx->generation;
        pthread_mutex_unlock(&ctx->lock);
        run_tasks(ctx, start.index);
        pthread_mutex_lock(&ctx->lock);
        if (--ctx->running == 0) pthread_cond_signal(&ctx->job_done);
    }
    pthread_mutex_unlock(&ctx->lock);
    return NULL;
}

static void run_serially(int64_t n_tasks, lk_task_fn fn, void *arg)
{
    for (int64_t task = 0; task < n_tasks; task++) fn(arg, task, 0);
}

void lk_parallel_for(lk_context *ctx, int64_t n_tasks, lk_task_fn fn, void *arg)
{
    if (!ctx) ctx = lk_default_context();
    if (n_tasks <= 0) return;
    if (ctx->n_workers == 0 || n_tasks == 1 || getpid() != ctx->owner_pid ||
        pthread_mutex_trylock(&ctx->submit_lock) != 0) {
        run_serially(n_tasks, fn, arg);
        return;
    }
    pthread_mutex_lock(&ctx->lock);
    ctx->fn = fn;
    ctx->arg = arg;
    ctx->n_tasks = n_tasks;
    atomic_store(&ctx->next_task, 0);
    ctx->running = ctx->n_workers;
    ctx->generation++;
    pthread_cond_broadcast(&ctx->job_ready);
    pthread_mutex_unlock(&ctx->lock);

    run_tasks(ctx, 0);

    pthread_mutex_lock(&ctx->lock);
    while (ctx->running > 0) pthread_cond_wait(&ctx->job_done, &ctx->lock);
    pthread_mutex_unlock(&ctx->lock);
    pthread_mutex_unlock(&ctx->submit_lock);
}

void lk_parallel_for_items(lk_context *ctx, int64_t n_tasks, int64_t items, lk_task_fn fn, void *arg)
{
    if (items < LK_PARALLEL_MIN_ITEMS)
        run_serially(n_tasks, fn, arg);
    else
        lk_parallel_for(ctx, n_tasks, fn, arg);
}

static void stop_workers(lk_context *ctx, int started)
{
    pthread_mutex_lock(&ctx->lock);
    ctx->shutting_down = 1;
    pthread_cond_broadcast(&ctx->job_ready);
    pthread_mutex_unlock(&ctx->lock);
    for (int i = 0; i < started; i++) pthread_join(ctx->workers[i], NULL);
}

static void free_context(lk_context *ctx)
{
    pthread_cond_destroy(&ctx->job_done);
    pthread_cond_destroy(&ctx->job_ready);
    pthread_mutex_destroy(&ctx->lock);
    pthread_mutex_destroy(&ctx->submit_lock);
    free(ctx->workers);
    free(ctx);
}

static lk_status create_context(int n_threads, lk_context **out)
{
    lk_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return lk_fail(LK_ENOMEM, "out of memory creating a context");
    ctx->n_threads = n_threads;
    ctx->owner_pid = getpid();
    pthread_mutex_init(&ctx->submit_lock, NULL);
    pthread_mutex_init(&ctx->lock, NULL);
    pthread_cond_init(&ctx->job_ready, NULL);
    pthread_cond_init(&ctx->job_done, NULL);
    atomic_init(&ctx->next_task, 0);
    if (n_threads > 1) {
        ctx->workers = calloc((size_t)(n_threads - 1), sizeof *ctx->workers);
        if (!ctx->workers) {
            free_context(ctx);
            return lk_fail(LK_ENOMEM, "out of memory creating %d threads", n_threads);
        }
    }
    for (int i = 0; i < n_threads - 1; i++) {
        worker_start *start = malloc(sizeof *start);
        int failed = !start;
        if (start) {
            start->ctx = ctx;
            start->index = i + 1;
            failed = pthread_create(&ctx->workers[i], NULL, worker_main, start) != 0;
            if (failed) free(start);
        }
        if (failed) {
            stop_workers(ctx, i);
            free_context(ctx);
            return lk_fail(LK_ESYSTEM, "could not start thread %d of %d", i + 1, n_threads);
        }
        ctx->n_workers = i + 1;
    }
    *out = ctx;
    return LK_OK;
}

static int parse_thread_count(const char *text)
{
    if (!text || !*text) return 0;
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (*end != '\0' || value < 1 || value > LK_MAX_THREADS) return 0;
    return (int)value;
}

int lk_default_thread_count(void)
{
    int from_env = parse_thread_count(getenv("LOSSKIT_NUM_THREADS"));
    if (from_env > 0) return from_env;
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
        int count = CPU_COUNT(&allowed);
        if (count > 0) return count < LK_MAX_THREADS ? count : LK_MAX_THREADS;
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (online < LK_MAX_THREADS ? (int)online : LK_MAX_THREADS) : 1;
}

lk_status lk_context_create(int n_threads, lk_context **out)
{
    if (!out) return lk_fail(LK_EINVAL, "out is NULL");
    *out = NULL;
    if (n_threads < 0 || n_threads > LK_MAX_THREADS)
        return lk_fail(LK_EINVAL, "n_threads = %d is outside [0, %d] (0 = default)", n_threads,
                       LK_MAX_THREADS);
    return create_context(n_threads == 0 ? lk_default_thread_count() : n_threads, out);
}

void lk_context_destroy(lk_context *ctx)
{
    if (!ctx || ctx == lk_default_context()) return;
    if (getpid() == ctx->owner_pid) stop_workers(ctx, ctx->n_workers);
    free_context(ctx);
}

int lk_context_threads(const lk_context *ctx)
{
    return ctx ? ctx->n_threads : lk_default_context()->n_threads;
}

static lk_context *default_context;
static lk_context serial_fallback = {.n_threads = 1};
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void create_default_context(void)
{
    if (create_context(lk_default_thread_count(), &default_context) != LK_OK) {
        serial_fallback.owner_pid = getpid();
        pthread_mutex_init(&serial_fallback.submit_lock, NULL);
        default_context = &serial_fallback;
    }
}

lk_context *lk_default_context(void)
{
    pthread_once(&default_once, create_default_context);
    return default_context;
}
