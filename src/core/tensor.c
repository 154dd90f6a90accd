#include "core/tensor.h"

#include "core/chunks.h"
#include "core/context.h"
#include "core/error.h"
#include "core/hot.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *lk_dtype_name(lk_dtype dtype)
{
    switch (dtype) {
    case LK_F32: return "float32";
    case LK_F64: return "float64";
    case LK_U8: return "uint8";
    case LK_I32: return "int32";
    case LK_I64: return "int64";
    }
    return "unknown";
}

size_t lk_dtype_size(lk_dtype dtype)
{
    switch (dtype) {
    case LK_F32: return 4;
    case LK_F64: return 8;
    case LK_U8: return 1;
    case LK_I32: return 4;
    case LK_I64: return 8;
    }
    return 0;
}

int lk_dtype_valid(lk_dtype dtype)
{
    return lk_dtype_size(dtype) != 0;
}

int lk_dtype_is_float(lk_dtype dtype)
{
    return dtype == LK_F32 || dtype == LK_F64;
}

int lk_dtype_is_label(lk_dtype dtype)
{
    return dtype == LK_U8 || dtype == LK_I32 || dtype == LK_I64;
}

int64_t lk_numel_from(const lk_tensor *t, int first)
{
    int64_t count = 1;
    for (int axis = first; axis < t->ndim; axis++) count *= t->shape[axis];
    return count;
}

int64_t lk_numel(const lk_tensor *t)
{
    return lk_numel_from(t, 0);
}

char *lk_format_shape(const lk_tensor *t, char *buf, size_t size)
{
    size_t used = 0;
    int n = snprintf(buf, size, "(");
    used = n > 0 ? (size_t)n : 0;
    for (int axis = 0; axis < t->ndim && used < size; axis++) {
        n = snprintf(buf + used, size - used, "%s%lld", axis ? ", " : "",
                     (long long)t->shape[axis]);
        used += n > 0 ? (size_t)n : 0;
    }
    if (used < size) snprintf(buf + used, size - used, t->ndim == 1 ? ",)" : ")");
    return buf;
}

char *lk_format_index(const lk_tensor *t, int64_t flat, char *buf, size_t size)
{
    int64_t index[LK_MAX_DIMS] = {0};
    for (int axis = t->ndim - 1; axis >= 0; axis--) {
        index[axis] = flat % t->shape[axis];
        flat /= t->shape[axis];
    }
    size_t used = 0;
    int n = snprintf(buf, size, "[");
    used = n > 0 ? (size_t)n : 0;
    for (int axis = 0; axis < t->ndim && used < size; axis++) {
        n = snprintf(buf + used, size - used, "%s%lld", axis ? ", " : "", (long long)index[axis]);
        used += n > 0 ? (size_t)n : 0;
    }
    if (used < size) snprintf(buf + used, size - used, "]");
    return buf;
}

double lk_read_real(const lk_tensor *t, int64_t flat)
{
    switch (t->dtype) {
    case LK_F32: return ((const float *)t->data)[flat];
    case LK_F64: return ((const double *)t->data)[flat];
    case LK_U8: return ((const uint8_t *)t->data)[flat];
    case LK_I32: return ((const int32_t *)t->data)[flat];
    case LK_I64: return (double)((const int64_t *)t->data)[flat];
    }
    return NAN;
}

int64_t lk_read_label(const lk_tensor *t, int64_t flat)
{
    switch (t->dtype) {
    case LK_U8: return ((const uint8_t *)t->data)[flat];
    case LK_I32: return ((const int32_t *)t->data)[flat];
    case LK_I64: return ((const int64_t *)t->data)[flat];
    case LK_F32:
    case LK_F64: break;
    }
    return 0;
}

int64_t lk_find_nonfinite(const lk_tensor *t)
{
    int64_t count = lk_numel(t);
    if (t->dtype == LK_F32) {
        const float *x = t->data;
        for (int64_t i = 0; i < count; i++)
            if (!isfinite(x[i])) return i;
    } else if (t->dtype == LK_F64) {
        const double *x = t->data;
        for (int64_t i = 0; i < count; i++)
            if (!isfinite(x[i])) return i;
    }
    return -1;
}

typedef struct scale_job {
    const lk_tensor *tensor;
    int64_t count;
    double factor;
} scale_job;

LK_HOT static void scale_chunk(void *arg, int64_t chunk, int worker)
{
    const scale_job *job = arg;
    int64_t begin = chunk * LK_CHUNK, end = lk_chunk_end(chunk, job->count);
    (void)worker;
    if (job->tensor->dtype == LK_F32) {
        float *x = job->tensor->data, factor = (float)job->factor;
        for (int64_t i = begin; i < end; i++) x[i] *= factor;
    } else {
        double *x = job->tensor->data, factor = job->factor;
        for (int64_t i = begin; i < end; i++) x[i] *= factor;
    }
}

void lk_scale_in_place(lk_context *ctx, const lk_tensor *t, double factor)
{
    scale_job job = {t, lk_numel(t), factor};
    lk_parallel_for(ctx, lk_chunk_count(job.count), scale_chunk, &job);
}

lk_status lk_unit_interval_error(const lk_tensor *t, const char *name, int64_t index,
                                 const char *what, const char *hint)
{
    char where[LK_INDEX_TEXT];
    return lk_fail(LK_EVALUE, "%s%s = %.9g is not %s in [0, 1]%s", name,
                   lk_format_index(t, index, where, sizeof where), lk_read_real(t, index), what,
                   hint);
}

lk_status lk_check_tensor_header(const char *role, const char *name, const lk_tensor *t)
{
    if (t->ndim < 0 || t->ndim > LK_MAX_DIMS)
        return lk_fail(LK_ESHAPE, "%s '%s' has ndim = %d, outside [0, %d]", role, name, t->ndim,
                       LK_MAX_DIMS);
    int64_t count = 1;
    for (int axis = 0; axis < t->ndim; axis++) {
        if (t->shape[axis] < 1)
            return lk_fail(LK_ESHAPE, "%s '%s' has shape[%d] = %lld; every dimension must be >= 1",
                           role, name, axis, (long long)t->shape[axis]);
        if (t->shape[axis] > LK_MAX_NUMEL / count)
            return lk_fail(LK_ESHAPE, "%s '%s' has more than 2^48 elements", role, name);
        count *= t->shape[axis];
    }
    if (!lk_dtype_valid(t->dtype))
        return lk_fail(LK_EDTYPE, "%s '%s' has dtype %d, which is not a losskit dtype", role, name,
                       (int)t->dtype);
    if (!t->data) return lk_fail(LK_EINVAL, "%s '%s' has data = NULL", role, name);
    return LK_OK;
}

int lk_tensors_overlap(const lk_tensor *a, const lk_tensor *b)
{
    const char *a_begin = a->data, *b_begin = b->data;
    const char *a_end = a_begin + (size_t)lk_numel(a) * lk_dtype_size(a->dtype);
    const char *b_end = b_begin + (size_t)lk_numel(b) * lk_dtype_size(b->dtype);
    return a_begin < b_end && b_begin < a_end;
}

int lk_same_shape(const lk_tensor *a, const lk_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int axis = 0; axis < a->ndim; axis++)
        if (a->shape[axis] != b->shape[axis]) return 0;
    return 1;
}
