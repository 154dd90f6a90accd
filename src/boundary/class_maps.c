/*
 * Distance maps per image and class (see boundary/class_maps.h). Each task
 * builds the object mask of one (image, class), transforms it on the
 * calling worker with that worker's memory, and writes its own map.
 */
#include "boundary/class_maps.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* d_in: the distance from each object pixel to the background (0 outside). */
static void inside_distance(const lk_grid *grid, const uint8_t *object, double *map,
                            const lk_map_work *work)
{
    for (int64_t i = 0; i < grid->numel; i++) work->sites[i] = !object[i];
    lk_distance_serial(grid, work->sites, LK_DISTANCE_ROOT, map, work->scratch);
}

/* Valverde & Tohka's rectified region-wise map (jmlipman/RegionWiseLoss). */
static void rectified_map(const lk_grid *grid, const uint8_t *object, int64_t inside, double *map,
                          const lk_map_work *work)
{
    int64_t count = grid->numel;
    if (inside == 0 || inside == count) {
        fill(map, count, inside ? -1.0 : 1.0);
        return;
    }
    inside_distance(grid, object, map, work);
    double largest = 0;
    for (int64_t i = 0; i < count; i++)
        if (map[i] + 1e-15 > largest) largest = map[i] + 1e-15;
    for (int64_t i = 0; i < count; i++) map[i] = object[i] ? -map[i] / largest : 1.0;
}

/* Caliva et al.'s penalty, as JunMa11/SegLoss computes it for its object. */
static void penalty_map(const lk_grid *grid, const uint8_t *object, int64_t inside, double *map,
                        const lk_map_work *work)
{
    int64_t count = grid->numel;
    if (inside == 0 || inside == count) {
        fill(map, count, 0.0);
        return;
    }
    inside_distance(grid, object, map, work);
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
}

typedef struct maps_run {
    const lk_class_maps_job *job;
    double *maps;
    char *memory; /* per worker: object bytes, then the map work */
    size_t memory_size;
} maps_run;

static size_t worker_layout(const lk_grid *grid, void *base, uint8_t **object, lk_map_work *work)
{
    lk_scratch area = {base, 0};
    *object = lk_scratch_take(&area, (size_t)grid->numel);
    void *rest = lk_scratch_take(&area, lk_map_work_layout(grid, NULL, work));
    lk_map_work_layout(grid, rest, work);
    return lk_scratch_size(&area);
}

static void map_task(void *arg, int64_t task, int worker)
{
    const maps_run *run = arg;
    const lk_class_maps_job *job = run->job;
    int64_t image = task / job->classes, class_index = task % job->classes;
    int64_t count = job->grid.numel;
    double *map = run->maps + task * count;
    if (job->wanted && !job->wanted[class_index]) {
        fill(map, count, 0.0);
        return;
    }
    uint8_t *object;
    lk_map_work work;
    worker_layout(&job->grid, run->memory + (size_t)worker * run->memory_size, &object, &work);
    int64_t inside = object_of(job, image, class_index, object);
    switch (job->kind) {
    case LK_CLASS_MAP_SDF: lk_signed_map(NULL, &job->grid, object, job->sdf, map, &work); break;
    case LK_CLASS_MAP_RECTIFIED: rectified_map(&job->grid, object, inside, map, &work); break;
    case LK_CLASS_MAP_PENALTY: penalty_map(&job->grid, object, inside, map, &work); break;
    }
}

lk_status lk_class_maps(lk_context *ctx, const lk_class_maps_job *job, double *maps)
{
    uint8_t *object;
    lk_map_work work;
    maps_run run = {job, maps, NULL, worker_layout(&job->grid, NULL, &object, &work)};
    int workers = lk_context_threads(ctx);
    run.memory = aligned_alloc(LK_SCRATCH_ALIGN, (size_t)workers * run.memory_size);
    if (!run.memory) return lk_fail(LK_ENOMEM, "out of memory for distance maps");
    int64_t tasks = job->batch * job->classes;
    lk_parallel_for_items(ctx, tasks, tasks * job->grid.numel, map_task, &run);
    free(run.memory);
    return LK_OK;
}
