/*
 * Distance maps per image and class (see boundary/class_maps.h). Each item
 * builds the object mask of one (image, class), transforms it with its
 * worker's memory, and writes its own map (core/items.h: one item per task,
 * or one after another with the transforms' lines over the threads).
 */
#include "boundary/class_maps.h"

#include <math.h>

#include "core/items.h"
#include "core/scratch.h"

void lk_call_grid(const lk_call *call, size_t spacing_param, lk_grid *grid)
{
    const lk_tensor *input = &call->inputs[0];
    size_t count;
    const double *given = lk_param_list(call->params, spacing_param, &count);
    double spacing[LK_MAX_DIMS];
    for (int axis = 0; axis < input->ndim - 2; axis++)
        spacing[axis] = count == 0 ? 1.0 : given[count == 1 ? 0 : axis];
    lk_grid_init(grid, input->ndim - 2, input->shape + 2, spacing);
}

lk_status lk_check_spacing(const lk_call *call, size_t spacing_param)
{
    int spatial_dims = call->inputs[0].ndim - 2;
    const char *name = call->desc->name;
    if (spatial_dims < 1)
        return lk_fail(LK_ESHAPE,
                       "loss '%s': input has %d dims; distance maps need at least one spatial "
                       "axis, (N, C, *spatial)",
                       name, call->inputs[0].ndim);
    size_t count;
    lk_param_list(call->params, spacing_param, &count);
    if (count > 1 && count != (size_t)spatial_dims)
        return lk_fail(LK_EPARAM,
                       "loss '%s': parameter 'spacing' has %zu values; the input has %d spatial "
                       "axes (give one value per axis, one for all, or [] for 1)",
                       name, count, spatial_dims);
    return LK_OK;
}

/* The object of (image, class): bytes 1 inside. Returns the object's size. */
static int64_t object_of(const lk_class_maps_job *job, int64_t image, int64_t class_index,
                         uint8_t *object)
{
    int64_t count = job->grid.numel, first = image * count, inside = 0;
    const lk_tensor *labels = job->objects.labels;
    if (labels) {
        for (int64_t i = 0; i < count; i++) {
            object[i] = lk_read_label(labels, first + i) == class_index;
            inside += object[i];
        }
    } else {
        const double *p = job->objects.probability + (image * job->classes + class_index) * count;
        for (int64_t i = 0; i < count; i++) {
            object[i] = p[i] > job->objects.threshold;
            inside += object[i];
        }
    }
    return inside;
}

static void fill(double *map, int64_t count, double value)
{
    for (int64_t i = 0; i < count; i++) map[i] = value;
}

/* d_in: the distance from each object pixel to the background (0 outside);
 * ctx NULL: on the calling thread. */
static lk_status inside_distance(lk_context *ctx, const lk_grid *grid, const uint8_t *object,
                                 double *map, const lk_map_work *work)
{
    for (int64_t i = 0; i < grid->numel; i++) work->sites[i] = !object[i];
    if (ctx) return lk_distance_parallel(ctx, grid, work->sites, LK_DISTANCE_ROOT, map);
    lk_distance_serial(grid, work->sites, LK_DISTANCE_ROOT, map, work->scratch);
    return LK_OK;
}

/* Valverde & Tohka's rectified region-wise map (jmlipman/RegionWiseLoss). */
static lk_status rectified_map(lk_context *ctx, const lk_grid *grid, const uint8_t *object,
                               int64_t inside, double *map, const lk_map_work *work)
{
    int64_t count = grid->numel;
    if (inside == 0 || inside == count) {
        fill(map, count, inside ? -1.0 : 1.0);
        return LK_OK;
    }
    lk_status status = inside_distance(ctx, grid, object, map, work);
    double largest = 0;
    for (int64_t i = 0; i < count; i++)
        if (map[i] + 1e-15 > largest) largest = map[i] + 1e-15;
    for (int64_t i = 0; i < count; i++) map[i] = object[i] ? -map[i] / largest : 1.0;
    return status;
}

/* Caliva et al.'s penalty, as JunMa11/SegLoss computes it for its object. */
static lk_status penalty_map(lk_context *ctx, const lk_grid *grid, const uint8_t *object,
                             int64_t inside, double *map, const lk_map_work *work)
{
    int64_t count = grid->numel;
    if (inside == 0 || inside == count) {
        fill(map, count, 0.0);
        return LK_OK;
    }
    lk_status status = inside_distance(ctx, grid, object, map, work);
    double deepest = 0, shallowest = INFINITY;
    for (int64_t i = 0; i < count; i++) {
        if (!object[i]) continue;
        if (map[i] > deepest) deepest = map[i];
        if (map[i] < shallowest) shallowest = map[i];
    }
    double range = deepest - shallowest; /* max over the object of (deepest - d) */
    for (int64_t i = 0; i < count; i++) {
        if (!object[i])
            map[i] = 0;
        else
            map[i] = range > 0 ? (deepest - map[i]) / range : 1.0;
    }
    return status;
}

typedef struct maps_run {
    const lk_class_maps_job *job;
    double *maps;
} maps_run;

/* Per item: the object bytes, then the map work. */
static size_t item_layout(const lk_grid *grid, void *base, uint8_t **object, lk_map_work *work)
{
    lk_scratch area = {base, 0};
    *object = lk_scratch_take(&area, (size_t)grid->numel);
    void *rest = lk_scratch_take(&area, lk_map_work_layout(grid, NULL, work));
    lk_map_work_layout(grid, rest, work);
    return lk_scratch_size(&area);
}

/* The map of item (image, class); ctx NULL: on the calling thread. */
static lk_status map_item(void *arg, int64_t item, lk_context *ctx, void *memory)
{
    const maps_run *run = arg;
    const lk_class_maps_job *job = run->job;
    int64_t image = item / job->classes, class_index = item % job->classes;
    int64_t count = job->grid.numel;
    double *map = run->maps + item * count;
    if (job->wanted && !job->wanted[class_index]) {
        fill(map, count, 0.0);
        return LK_OK;
    }
    uint8_t *object;
    lk_map_work work;
    item_layout(&job->grid, memory, &object, &work);
    int64_t inside = object_of(job, image, class_index, object);
    switch (job->kind) {
    case LK_CLASS_MAP_SDF: return lk_signed_map(ctx, &job->grid, object, job->sdf, map, &work);
    case LK_CLASS_MAP_RECTIFIED: return rectified_map(ctx, &job->grid, object, inside, map, &work);
    case LK_CLASS_MAP_PENALTY: return penalty_map(ctx, &job->grid, object, inside, map, &work);
    }
    return LK_OK;
}

lk_status lk_class_maps(lk_context *ctx, const lk_class_maps_job *job, double *maps)
{
    uint8_t *object;
    lk_map_work work;
    maps_run run = {job, maps};
    size_t memory_size = item_layout(&job->grid, NULL, &object, &work);
    return lk_run_items(ctx, job->batch * job->classes, job->grid.numel, memory_size, map_item,
                        &run, "distance maps");
}
