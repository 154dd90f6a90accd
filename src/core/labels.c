#include "core/labels.h"

#include <stdlib.h>
#include <string.h>

#include "core/chunks.h"
#include "core/context.h"
#include "core/error.h"
#include "core/hot.h"
#include "core/tensor.h"

/* Branch-free, with the rule in locals and restrict pointers, so that the
 * loops vectorize: one unsigned compare tests 0 <= label < classes. */
#define LK_CLASSIFY_LOOP(type)                                                              \
    do {                                                                                    \
        const type *restrict source = (const type *)labels->data + first;                   \
        for (int j = 0; j < len; j++) {                                                     \
            int64_t label = (int64_t)source[j];                                             \
            int64_t ignored = has_ignore & (label == ignore_index);                         \
            int64_t in_range = (uint64_t)label < classes;                                   \
            int64_t ok = in_range & !ignored;                                               \
            class_index[j] = (int32_t)(ok ? label : 0);                                     \
            valid[j] = (uint8_t)ok;                                                         \
            any_bad |= !(in_range | ignored);                                               \
        }                                                                                   \
    } while (0)

static int first_bad_label(const lk_tensor *labels, int64_t first, int len,
                           const lk_label_rule *rule)
{
    for (int j = 0; j < len; j++) {
        int64_t label = lk_read_label(labels, first + j);
        int ignored = rule->has_ignore && label == rule->ignore_index;
        if (!ignored && (label < 0 || label >= rule->classes)) return j;
    }
    return -1;
}

LK_HOT int lk_load_labels(const lk_tensor *labels, int64_t first, int len,
                          const lk_label_rule *rule, int32_t *restrict class_index,
                          uint8_t *restrict valid)
{
    const int64_t has_ignore = rule->has_ignore != 0, ignore_index = rule->ignore_index;
    const uint64_t classes = (uint64_t)rule->classes;
    int64_t any_bad = 0;
    switch (labels->dtype) {
    case LK_U8: LK_CLASSIFY_LOOP(uint8_t); break;
    case LK_I32: LK_CLASSIFY_LOOP(int32_t); break;
    case LK_I64: LK_CLASSIFY_LOOP(int64_t); break;
    case LK_F32:
    case LK_F64: return 0;
    }
    return any_bad ? first_bad_label(labels, first, len, rule) : -1;
}
#undef LK_CLASSIFY_LOOP

lk_status lk_label_error(const lk_tensor *labels, const char *name, const lk_label_rule *rule,
                         int64_t index)
{
    char where[LK_INDEX_TEXT];
    lk_format_index(labels, index, where, sizeof where);
    long long value = (long long)lk_read_label(labels, index);
    if (rule->has_ignore)
        return lk_fail(LK_EVALUE,
                       "%s%s = %lld is not a class index in [0, %lld) nor ignore_index (%lld)",
                       name, where, value, (long long)rule->classes, (long long)rule->ignore_index);
    return lk_fail(LK_EVALUE, "%s%s = %lld is not a class index in [0, %lld)", name, where, value,
                   (long long)rule->classes);
}

typedef struct counts_job {
    const lk_tensor *labels;
    const lk_label_rule *rule;
    int64_t n_pixels;
    int64_t *worker_counts; /* n_threads x classes */
    lk_chunk_error *errors;
} counts_job;

static void count_chunk(void *arg, int64_t chunk, int worker)
{
    counts_job *job = arg;
    int64_t *counts = job->worker_counts + (int64_t)worker * job->rule->classes;
    int32_t class_index[256];
    uint8_t valid[256];
    int64_t end = lk_chunk_end(chunk, job->n_pixels);
    for (int64_t first = chunk * LK_CHUNK; first < end; first += 256) {
        int len = (int)(end - first < 256 ? end - first : 256);
        int bad = lk_load_labels(job->labels, first, len, job->rule, class_index, valid);
        if (bad >= 0) {
            job->errors[chunk].index = first + bad;
            return;
        }
        for (int j = 0; j < len; j++) counts[class_index[j]] += valid[j];
    }
}

lk_status lk_label_counts(lk_context *ctx, const lk_tensor *labels, const char *name,
                          const lk_label_rule *rule, int64_t *counts)
{
    int64_t n_pixels = lk_numel(labels);
    int64_t n_chunks = lk_chunk_count(n_pixels);
    int n_workers = lk_context_threads(ctx);
    counts_job job = {labels, rule, n_pixels, NULL, NULL};
    job.worker_counts = calloc((size_t)n_workers * (size_t)rule->classes, sizeof(int64_t));
    job.errors = malloc((size_t)n_chunks * sizeof *job.errors);
    if (!job.worker_counts || !job.errors) {
        free(job.worker_counts);
        free(job.errors);
        return lk_fail(LK_ENOMEM, "out of memory counting labels");
    }
    for (int64_t chunk = 0; chunk < n_chunks; chunk++) job.errors[chunk].index = -1;
    lk_parallel_for(ctx, n_chunks, count_chunk, &job);
    lk_status status = LK_OK;
    const lk_chunk_error *error = lk_first_chunk_error(job.errors, n_chunks);
    if (error) {
        status = lk_label_error(labels, name, rule, error->index);
    } else {
        memset(counts, 0, (size_t)rule->classes * sizeof *counts);
        for (int w = 0; w < n_workers; w++)
            for (int64_t c = 0; c < rule->classes; c++)
                counts[c] += job.worker_counts[(int64_t)w * rule->classes + c];
    }
    free(job.worker_counts);
    free(job.errors);
    return status;
}

lk_status lk_check_labels(lk_context *ctx, const lk_tensor *labels, const char *name,
                          const lk_label_rule *rule)
{
    int64_t *counts = malloc((size_t)rule->classes * sizeof *counts + 1);
    if (!counts) return lk_fail(LK_ENOMEM, "out of memory checking '%s'", name);
    lk_status status = lk_label_counts(ctx, labels, name, rule, counts);
    free(counts);
    return status;
}
