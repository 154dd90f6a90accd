/*
 * losskit bench: the library's own throughput table. Measures the machine's
 * copy bandwidth first (memcpy of a buffer the size of the prediction, on
 * the same number of threads), then the forward and backward pass of each
 * selected loss on deterministic inputs, and prints time, bytes moved per
 * second (inputs read + gradients written) and that rate as a fraction of
 * the copy's.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "losskit.h"
#include "options.h"
#include "progress.h"
#include "scene.h"
#include "selection.h"

#define COMMAND "bench"
#define BLOCK 16 /* side of the label map's regions */

typedef struct bench_options {
    int ndim;
    int64_t shape[LK_MAX_DIMS];
    int64_t threads;
    lk_dtype dtype;
    double min_time;
} bench_options;

static void print_help(FILE *out)
{
    fprintf(out,
"usage: losskit bench [--loss SPEC]... [--category C]... [--shape NxCxHxW]\n"
"                     [--threads N] [--dtype float32|float64] [--min-time SECONDS]\n"
"\n"
"The library's own throughput table: the forward and backward pass (loss and\n"
"gradients in one lk_loss_compute call) of each selected loss, against the\n"
"machine's copy bandwidth measured first in the same run.\n"
"\n"
"The copy. memcpy of a buffer the size of the prediction (N C H W elements of\n"
"the dtype), split over the same number of threads as the losses; its rate\n"
"counts the bytes read and the bytes written.\n"
"\n"
"The inputs (deterministic; the same every run). Logits drawn uniformly in\n"
"[-3, 3] by a fixed-seed generator, turned into each loss's form as the\n"
"explorer does (log-probabilities for softmax, log(p / (1 - p)) for sigmoid,\n"
"probabilities for activation=none); labels made of %dx%d regions cycling\n"
"through the classes (class (n + sum_d (d + 1) floor(x_d / %d)) mod C), or\n"
"their one-hot where a slot takes no labels, or label != 0 where it takes an\n"
"object mask; scalar inputs 1. A loss whose\n"
"inputs do not fit the shape (a 2-D-only loss on 3-D data, say) is listed as\n"
"skipped with the library's reason.\n"
"\n"
"The columns. LOSS; SHAPE, the prediction as the loss takes it; MS, the best\n"
"time of one call over the repetitions (at least 3, and at least\n"
"--min-time seconds); GB/S, (bytes of all inputs + bytes of all gradients) /\n"
"time; COPY, that rate as a fraction of the copy's.\n"
"\n"
"Options:\n"
"  --loss SPEC        a loss, NAME or NAME:key=value,... (repeatable); default:\n"
"                     every loss in the registry, with its default parameters\n"
"  --category C       every loss of category C (repeatable, adds to --loss)\n"
"  --shape SHAPE      the prediction, N x C x spatial (0 to 3 spatial axes),\n"
"                     C >= 2; default 8x4x128x128\n"
"  --threads N        threads, through the library's context; default 0, all\n"
"                     cores (or LOSSKIT_NUM_THREADS)\n"
"  --dtype D          float32 (default) or float64\n"
"  --min-time S       seconds spent on each loss, at least; default 0.2\n"
"  -h, --help         this help\n"
"\n"
"Timings are wall-clock on whatever else the machine runs: compare rows of\n"
"one run. Exit status: 0 on success (skipped losses included), 2 for a\n"
"usage error, 1 otherwise.\n",
            BLOCK, BLOCK, BLOCK);
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ------------------------------------------------------------------ copy */

/* Workers wait for `go` (set once every thread exists, or never: then
 * `aborted`), then copy their chunk between two barriers per repetition. */
typedef struct copy_team {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    int go, aborted;
    pthread_barrier_t start, finish;
    int repetitions;
} copy_team;

typedef struct copy_job {
    copy_team *team;
    char *dst;
    const char *src;
    size_t bytes;
} copy_job;

static int wait_for_go(copy_team *team)
{
    pthread_mutex_lock(&team->lock);
    while (!team->go && !team->aborted) pthread_cond_wait(&team->ready, &team->lock);
    int go = team->go;
    pthread_mutex_unlock(&team->lock);
    return go;
}

static void *copy_worker(void *arg)
{
    copy_job *job = arg;
    if (!wait_for_go(job->team)) return NULL;
    for (int r = 0; r < job->team->repetitions; r++) {
        pthread_barrier_wait(&job->team->start);
        memcpy(job->dst, job->src, job->bytes);
        pthread_barrier_wait(&job->team->finish);
    }
    return NULL;
}

static void split_copy(copy_job *jobs, int n_threads, char *dst, const char *src, size_t bytes)
{
    size_t chunk = (bytes / (size_t)n_threads + 63) / 64 * 64;
    for (int t = 0; t < n_threads; t++) {
        size_t begin = chunk * (size_t)t < bytes ? chunk * (size_t)t : bytes;
        size_t end = begin + chunk < bytes ? begin + chunk : bytes;
        jobs[t].dst = dst + begin;
        jobs[t].src = src + begin;
        jobs[t].bytes = end - begin;
    }
}

static void release_team(copy_team *team, int go)
{
    pthread_mutex_lock(&team->lock);
    team->go = go;
    team->aborted = !go;
    pthread_cond_broadcast(&team->ready);
    pthread_mutex_unlock(&team->lock);
}

/* The caller is thread 0 of the team: the best time of one copy. */
static double lead_copies(copy_team *team, const copy_job *job)
{
    double best = -1.0;
    for (int r = 0; r < team->repetitions; r++) {
        pthread_barrier_wait(&team->start);
        double begin = now_seconds();
        memcpy(job->dst, job->src, job->bytes);
        pthread_barrier_wait(&team->finish);
        double elapsed = now_seconds() - begin;
        if (best < 0 || elapsed < best) best = elapsed;
    }
    return best;
}

/* The best time of one multi-threaded memcpy of bytes over the repetitions;
 * negative when the memory or the threads cannot be had. */
static double time_copy(size_t bytes, int n_threads, int repetitions)
{
    char *src = malloc(bytes), *dst = malloc(bytes);
    copy_job *jobs = calloc((size_t)n_threads, sizeof *jobs);
    pthread_t *threads = calloc((size_t)n_threads, sizeof *threads);
    double best = -1.0;
    if (src && dst && jobs && threads) {
        memset(src, 1, bytes);
        memset(dst, 0, bytes);
        copy_team team = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0,
                          .repetitions = repetitions};
        pthread_barrier_init(&team.start, NULL, (unsigned)n_threads);
        pthread_barrier_init(&team.finish, NULL, (unsigned)n_threads);
        split_copy(jobs, n_threads, dst, src, bytes);
        int started = 1;
        for (int t = 1; t < n_threads && started == t; t++) {
            jobs[t].team = &team;
            if (pthread_create(&threads[t], NULL, copy_worker, &jobs[t]) == 0) started++;
        }
        release_team(&team, started == n_threads);
        if (started == n_threads) best = lead_copies(&team, &jobs[0]);
        for (int t = 1; t < started; t++) pthread_join(threads[t], NULL);
        pthread_barrier_destroy(&team.start);
        pthread_barrier_destroy(&team.finish);
    }
    free(src);
    free(dst);
    free(jobs);
    free(threads);
    return best;
}

/* ---------------------------------------------------------------- inputs */

/* xorshift64*: a fixed sequence, the same on every machine. */
static double next_uniform(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (double)((*state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static int64_t pixels_of(const bench_options *options)
{
    int64_t pixels = 1;
    for (int d = 2; d < options->ndim; d++) pixels *= options->shape[d];
    return pixels;
}

/* Softmax over the classes of uniform logits in [-3, 3]. */
static void fill_probabilities(const bench_options *options, double *probs)
{
    int64_t classes = options->shape[1], pixels = pixels_of(options);
    uint64_t state = 0x9e3779b97f4a7c15ull;
    for (int64_t n = 0; n < options->shape[0]; n++)
        for (int64_t x = 0; x < pixels; x++) {
            double sum = 0.0;
            for (int64_t c = 0; c < classes; c++) {
                double *p = &probs[(n * classes + c) * pixels + x];
                *p = exp(6.0 * next_uniform(&state) - 3.0);
                sum += *p;
            }
            for (int64_t c = 0; c < classes; c++) probs[(n * classes + c) * pixels + x] /= sum;
        }
}

static void fill_labels(const bench_options *options, int64_t *labels)
{
    int64_t pixels = pixels_of(options);
    for (int64_t n = 0; n < options->shape[0]; n++)
        for (int64_t x = 0; x < pixels; x++) {
            int64_t rest = x, label = n;
            for (int d = options->ndim - 1; d >= 2; d--) {
                label += (d - 1) * ((rest % options->shape[d]) / BLOCK);
                rest /= options->shape[d];
            }
            labels[n * pixels + x] = label % options->shape[1];
        }
}

/* ------------------------------------------------------------------ table */

static void format_shape(const lk_tensor *tensor, char *text, size_t size)
{
    size_t used = 0;
    text[0] = '\0';
    for (int d = 0; d < tensor->ndim && used < size; d++)
        used += (size_t)snprintf(text + used, size - used, "%s%lld", d ? "x" : "",
                                 (long long)tensor->shape[d]);
    if (tensor->ndim == 0) snprintf(text, size, "()");
}

/* The best time of one call; negative with why filled when it cannot run. */
static double time_loss(const lk_cli_loss *loss, lk_cli_inputs *inputs, lk_context *ctx,
                        double min_time, char *why, size_t why_size)
{
    if (lk_cli_inputs_compute(loss, inputs, ctx) != LK_OK) {
        snprintf(why, why_size, "%s", lk_last_error());
        return -1.0;
    }
    double best = -1.0, spent = 0.0;
    for (int r = 0; r < 3 || spent < min_time; r++) {
        double begin = now_seconds();
        lk_cli_inputs_compute(loss, inputs, ctx);
        double elapsed = now_seconds() - begin;
        spent += elapsed;
        if (best < 0 || elapsed < best) best = elapsed;
    }
    return best;
}

static int print_copy(const bench_options *options, int n_threads, double *copy_rate)
{
    size_t bytes = lk_dtype_size(options->dtype);
    for (int d = 0; d < options->ndim; d++) bytes *= (size_t)options->shape[d];
    /* 50 copies, fewer (at least 3) of buffers over 64 MiB */
    size_t cap = ((size_t)50 << 26) / (bytes ? bytes : 1);
    int repetitions = cap >= 50 ? 50 : cap < 3 ? 3 : (int)cap;
    double seconds = time_copy(bytes, n_threads, repetitions);
    if (seconds <= 0) {
        fprintf(stderr, "losskit " COMMAND ": cannot time the copy (threads or memory)\n");
        return 0;
    }
    *copy_rate = 2.0 * (double)bytes / seconds;
    printf("copy bandwidth: memcpy of %.3g MiB on %d thread%s: %.3f ms, %.2f GB/s "
           "(read + written)\n\n",
           (double)bytes / 1048576.0, n_threads, n_threads == 1 ? "" : "s", 1e3 * seconds,
           *copy_rate / 1e9);
    return 1;
}

static void run_table(const bench_options *options, const lk_cli_selection *selection,
                      const lk_cli_scene *scene, lk_context *ctx, double copy_rate)
{
    int width = 4;
    for (size_t l = 0; l < selection->count; l++)
        if ((int)strlen(selection->losses[l].label) > width)
            width = (int)strlen(selection->losses[l].label);
    printf("%-*s  %-18s %10s %9s %7s\n", width, "LOSS", "SHAPE", "MS", "GB/S", "COPY");
    lk_cli_progress progress;
    lk_cli_progress_start(&progress, "bench", selection->count);
    for (size_t l = 0; l < selection->count; l++) {
        const lk_cli_loss *loss = &selection->losses[l];
        char why[512], shape[64];
        lk_cli_inputs inputs;
        double seconds = -1.0;
        if (lk_cli_inputs_build(loss, scene, &inputs, why, sizeof why)) {
            format_shape(&inputs.inputs[0], shape, sizeof shape);
            seconds = time_loss(loss, &inputs, ctx, options->min_time, why, sizeof why);
        }
        lk_cli_progress_step(&progress, loss->label);
        if (seconds >= 0) {
            double rate = (double)(inputs.bytes_read + inputs.bytes_written) / seconds;
            lk_cli_progress_end(&progress);
            printf("%-*s  %-18s %10.4g %9.3g %7.3g\n", width, loss->label, shape, 1e3 * seconds,
                   rate / 1e9, rate / copy_rate);
            lk_cli_inputs_free(&inputs);
        } else {
            lk_cli_progress_end(&progress);
            printf("%-*s  skipped: %s\n", width, loss->label, why);
        }
        fflush(stdout);
    }
    lk_cli_progress_end(&progress);
}

/* ---------------------------------------------------------------- options */

static int parse_shape(const char *text, bench_options *options)
{
    options->ndim = 0;
    const char *cursor = text;
    while (*cursor && options->ndim < 5) {
        char *end;
        long long extent = strtoll(cursor, &end, 10);
        if (end == cursor || extent < 1 || extent > (1ll << 31)) break;
        options->shape[options->ndim++] = extent;
        cursor = end;
        if (*cursor == 'x') cursor++;
        else break;
    }
    if (*cursor || cursor[-1] == 'x' || options->ndim < 2 || options->shape[1] < 2) {
        fprintf(stderr,
                "losskit " COMMAND ": --shape '%s': expected N x C x spatial with 2 to 5 "
                "positive extents and C >= 2, e.g. 8x4x128x128\n",
                text);
        return 0;
    }
    double elements = 1.0;
    for (int d = 0; d < options->ndim; d++) elements *= (double)options->shape[d];
    if (elements > 1e9) {
        fprintf(stderr, "losskit " COMMAND ": --shape '%s': more than 1e9 elements\n", text);
        return 0;
    }
    return 1;
}

static int parse_dtype(const char *text, lk_dtype *dtype)
{
    if (strcmp(text, "float32") == 0 || strcmp(text, "float64") == 0) {
        *dtype = text[5] == '3' ? LK_F32 : LK_F64;
        return 1;
    }
    fprintf(stderr, "losskit " COMMAND ": --dtype '%s': expected float32 or float64\n", text);
    return 0;
}

static int parse_arguments(int argc, char **argv, bench_options *options,
                           lk_cli_selection *selection)
{
    for (int i = 0; i < argc; i++) {
        const char *option = argv[i];
        int known = strcmp(option, "--loss") == 0 || strcmp(option, "--category") == 0 ||
                    strcmp(option, "--shape") == 0 || strcmp(option, "--threads") == 0 ||
                    strcmp(option, "--dtype") == 0 || strcmp(option, "--min-time") == 0;
        if (!known) {
            fprintf(stderr, "losskit " COMMAND ": unexpected argument '%s' (see --help)\n", option);
            return 0;
        }
        const char *value = lk_cli_option_value(COMMAND, argc, argv, &i);
        int ok = value != NULL;
        if (ok && strcmp(option, "--loss") == 0)
            ok = lk_cli_selection_add_spec(selection, COMMAND, value);
        else if (ok && strcmp(option, "--category") == 0)
            ok = lk_cli_selection_add_category(selection, COMMAND, value);
        else if (ok && strcmp(option, "--shape") == 0)
            ok = parse_shape(value, options);
        else if (ok && strcmp(option, "--threads") == 0)
            ok = lk_cli_parse_int(COMMAND, option, value, 0, 1024, &options->threads);
        else if (ok && strcmp(option, "--dtype") == 0)
            ok = parse_dtype(value, &options->dtype);
        else if (ok)
            ok = lk_cli_parse_real(COMMAND, option, value, 0.0, 3600.0, &options->min_time);
        if (!ok) return 0;
    }
    return 1;
}

static int bench(const bench_options *options, const lk_cli_selection *selection)
{
    size_t elements = 1;
    for (int d = 0; d < options->ndim; d++) elements *= (size_t)options->shape[d];
    double *probs = malloc(elements * sizeof *probs);
    int64_t *labels = malloc(elements / (size_t)options->shape[1] * sizeof *labels);
    lk_context *ctx = NULL;
    int status = LK_EXIT_FAILURE;
    if (!probs || !labels) {
        fprintf(stderr, "losskit " COMMAND ": out of memory\n");
        goto done;
    }
    if (lk_context_create((int)options->threads, &ctx) != LK_OK) {
        fprintf(stderr, "losskit " COMMAND ": %s\n", lk_last_error());
        goto done;
    }
    fill_probabilities(options, probs);
    fill_labels(options, labels);
    lk_cli_scene scene;
    memset(&scene, 0, sizeof scene);
    scene.ndim = options->ndim;
    memcpy(scene.shape, options->shape, sizeof scene.shape);
    scene.probs = probs;
    scene.labels = labels;
    scene.scalar = 1.0;
    scene.dtype = options->dtype;
    double copy_rate;
    if (!print_copy(options, lk_context_threads(ctx), &copy_rate)) goto done;
    run_table(options, selection, &scene, ctx, copy_rate);
    status = LK_EXIT_OK;
done:
    lk_context_destroy(ctx);
    free(probs);
    free(labels);
    return status;
}

int lk_cli_bench(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            print_help(stdout);
            return LK_EXIT_OK;
        }
    bench_options options = {4, {8, 4, 128, 128}, 0, LK_F32, 0.2};
    lk_cli_selection selection;
    memset(&selection, 0, sizeof selection);
    int status = LK_EXIT_OK;
    if (!parse_arguments(argc, argv, &options, &selection))
        status = LK_EXIT_USAGE;
    else if (!lk_cli_selection_finish(&selection, COMMAND, ~0u))
        status = LK_EXIT_FAILURE;
    if (status == LK_EXIT_OK) status = bench(&options, &selection);
    lk_cli_selection_free(&selection);
    return status;
}
