/*
 * The public distance transforms, lk_edt and lk_sdf: argument checks, the
 * batch of images, mask dtypes, and the output dtype. The maps themselves
 * are distance/maps.c and distance/edt.c.
 *
 * A batch of images runs through lk_run_items (core/items.h): one image per
 * task, or image after image with each transform's lines spread over the
 * threads; the result is the same either way.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "core/error.h"
#include "core/items.h"
#include "core/scratch.h"
#include "core/tensor.h"
#include "distance/maps.h"

const char *lk_sdf_kind_name(lk_sdf_kind kind)
{
    switch (kind) {
    case LK_SDF_SIGNED: return "signed";
    case LK_SDF_BOUNDARY_LOSS: return "boundary_loss";
    case LK_SDF_NORMALIZED: return "normalized";
    case LK_SDF_UNSIGNED: return "unsigned";
    }
    return "unknown";
}

typedef struct transform_job {
    const lk_tensor *mask;
    const lk_tensor *out;
    lk_grid grid;
    int edt;           /* lk_edt; else lk_sdf of `kind` */
    lk_sdf_kind kind;
} transform_job;

/* One worker's memory: the image's mask bytes, the map work, and the map in
 * double when the output is float32. */
typedef struct image_memory {
    uint8_t *bytes;
    double *map;
    lk_map_work work;
} image_memory;

static size_t image_memory_layout(const transform_job *job, void *base, image_memory *memory)
{
    const lk_grid *grid = &job->grid;
    lk_scratch area = {base, 0};
    memory->bytes = lk_scratch_take(&area, (size_t)grid->numel);
    size_t map_bytes = job->out->dtype == LK_F32 ? (size_t)grid->numel * sizeof(double) : 0;
    memory->map = lk_scratch_take(&area, map_bytes);
    void *work = lk_scratch_take(&area, lk_map_work_layout(grid, NULL, &memory->work));
    lk_map_work_layout(grid, work, &memory->work);
    return lk_scratch_size(&area);
}

/* bytes[i] = 1 where the mask element is non-zero (nonzero_is_one), or zero. */
static void mask_bytes(const lk_tensor *mask, int64_t first, int64_t count, int nonzero_is_one,
                       uint8_t *bytes)
{
    uint8_t one = (uint8_t)(nonzero_is_one != 0), zero = (uint8_t)!one;
    switch (mask->dtype) {
    case LK_F32: {
        const float *x = (const float *)mask->data + first;
        for (int64_t i = 0; i < count; i++) bytes[i] = x[i] != 0 ? one : zero;
        break;
    }
    case LK_F64: {
        const double *x = (const double *)mask->data + first;
        for (int64_t i = 0; i < count; i++) bytes[i] = x[i] != 0 ? one : zero;
        break;
    }
    case LK_U8: {
        const uint8_t *x = (const uint8_t *)mask->data + first;
        for (int64_t i = 0; i < count; i++) bytes[i] = x[i] != 0 ? one : zero;
        break;
    }
    case LK_I32: {
        const int32_t *x = (const int32_t *)mask->data + first;
        for (int64_t i = 0; i < count; i++) bytes[i] = x[i] != 0 ? one : zero;
        break;
    }
    case LK_I64: {
        const int64_t *x = (const int64_t *)mask->data + first;
        for (int64_t i = 0; i < count; i++) bytes[i] = x[i] != 0 ? one : zero;
        break;
    }
    }
}

/* Image `image` of the batch; ctx NULL: on the calling thread. The
 * transform's last pass writes lk_edt's output in its dtype; lk_sdf's maps
 * are combined in double, then rounded to float32 if asked. */
static lk_status transform_image(const transform_job *job, int64_t image, lk_context *ctx,
                                 const image_memory *memory)
{
    int64_t count = job->grid.numel, first = image * count;
    lk_dtype dtype = job->out->dtype;
    void *out = (char *)job->out->data + (size_t)first * lk_dtype_size(dtype);
    double *map = dtype == LK_F64 ? out : memory->map;
    /* lk_edt measures to the mask's zeros; lk_sdf takes the non-zeros as the object */
    mask_bytes(job->mask, first, count, !job->edt, memory->bytes);
    if (job->edt && ctx)
        return lk_distance_parallel_into(ctx, &job->grid, memory->bytes, LK_DISTANCE_ROOT, map,
                                         dtype, out);
    if (job->edt) {
        lk_distance_serial_into(&job->grid, memory->bytes, LK_DISTANCE_ROOT, map, dtype, out,
                                memory->work.scratch);
        return LK_OK;
    }
    lk_status status = lk_signed_map(ctx, &job->grid, memory->bytes, job->kind, map, &memory->work);
    if (dtype == LK_F32)
        for (int64_t i = 0; i < count; i++) ((float *)out)[i] = (float)map[i];
    return status;
}

static lk_status transform_item(void *arg, int64_t image, lk_context *ctx, void *base)
{
    const transform_job *job = arg;
    image_memory memory;
    image_memory_layout(job, base, &memory);
    return transform_image(job, image, ctx, &memory);
}

static lk_status run_transform(transform_job *job, int64_t images, lk_context *ctx)
{
    image_memory memory;
    size_t memory_size = image_memory_layout(job, NULL, &memory);
    return lk_run_items(ctx, images, job->grid.numel, memory_size, transform_item, job,
                        "the distance transform");
}

static int64_t first_nan(const lk_tensor *t)
{
    int64_t count = lk_numel(t);
    if (t->dtype == LK_F32) {
        const float *x = t->data;
        for (int64_t i = 0; i < count; i++)
            if (isnan(x[i])) return i;
    } else if (t->dtype == LK_F64) {
        const double *x = t->data;
        for (int64_t i = 0; i < count; i++)
            if (isnan(x[i])) return i;
    }
    return -1;
}

static lk_status check_arguments(const char *function, const lk_tensor *mask, int batch_dims,
                                 const double *spacing, const lk_tensor *out)
{
    if (!mask) return lk_fail(LK_EINVAL, "%s: argument 'mask' is NULL", function);
    if (!out) return lk_fail(LK_EINVAL, "%s: argument 'out' is NULL", function);
    lk_status status = lk_check_tensor_header("argument", "mask", mask);
    if (status == LK_OK) status = lk_check_tensor_header("argument", "out", out);
    if (status != LK_OK) return lk_fail_prefix(status, function);
    if (batch_dims < 0 || batch_dims >= mask->ndim)
        return lk_fail(LK_EINVAL,
                       "%s: batch_dims = %d, but mask has %d axes and at least one must be "
                       "spatial: batch_dims must be in [0, %d]",
                       function, batch_dims, mask->ndim, mask->ndim - 1);
    for (int axis = 0; spacing && axis < mask->ndim - batch_dims; axis++)
        if (!(spacing[axis] > 0) || !isfinite(spacing[axis]))
            return lk_fail(LK_EINVAL, "%s: spacing[%d] = %g; a spacing must be positive and finite",
                           function, axis, spacing[axis]);
    if (out->dtype != LK_F32 && out->dtype != LK_F64)
        return lk_fail(LK_EDTYPE, "%s: argument 'out' has dtype %s; expected float32 or float64",
                       function, lk_dtype_name(out->dtype));
    if (!lk_same_shape(mask, out)) {
        char mask_shape[LK_SHAPE_TEXT], out_shape[LK_SHAPE_TEXT];
        return lk_fail(LK_ESHAPE, "%s: argument 'out' has shape %s; expected the mask's, %s",
                       function, lk_format_shape(out, out_shape, sizeof out_shape),
                       lk_format_shape(mask, mask_shape, sizeof mask_shape));
    }
    if (lk_tensors_overlap(mask, out))
        return lk_fail(LK_EINVAL, "%s: argument 'out' overlaps argument 'mask'", function);
    int64_t nan_index = first_nan(mask);
    if (nan_index >= 0) {
        char index[LK_INDEX_TEXT];
        return lk_fail(LK_EVALUE, "%s: mask%s = nan; a mask holds numbers (non-zero: foreground)",
                       function, lk_format_index(mask, nan_index, index, sizeof index));
    }
    return LK_OK;
}

static lk_status transform(const char *function, const lk_tensor *mask, int batch_dims,
                           const double *spacing, int edt, lk_sdf_kind kind, const lk_tensor *out,
                           lk_context *ctx)
{
    lk_status status = check_arguments(function, mask, batch_dims, spacing, out);
    if (status != LK_OK) return status;
    transform_job job = {.mask = mask, .out = out, .edt = edt, .kind = kind};
    lk_grid_init(&job.grid, mask->ndim - batch_dims, mask->shape + batch_dims, spacing);
    int64_t images = lk_numel(mask) / job.grid.numel;
    return run_transform(&job, images, ctx ? ctx : lk_default_context());
}

lk_status lk_edt(const lk_tensor *mask, int batch_dims, const double *spacing, const lk_tensor *out,
                 lk_context *ctx)
{
    return transform("lk_edt", mask, batch_dims, spacing, 1, LK_SDF_SIGNED, out, ctx);
}

lk_status lk_sdf(const lk_tensor *mask, int batch_dims, const double *spacing, lk_sdf_kind kind,
                 const lk_tensor *out, lk_context *ctx)
{
    if ((unsigned)kind >= LK_SDF_KIND_COUNT)
        return lk_fail(LK_EINVAL, "lk_sdf: kind = %d, not an lk_sdf_kind (0 to %d)", (int)kind,
                       LK_SDF_KIND_COUNT - 1);
    return transform("lk_sdf", mask, batch_dims, spacing, 0, kind, out, ctx);
}
