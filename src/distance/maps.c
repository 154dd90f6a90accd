/*
 * Signed distance maps from two transforms: the distance to the object
 * (d_out, 0 inside it) and the distance to the background (d_in, 0 outside),
 * combined per lk_sdf_kind. Every formula is written in the operation order
 * of its reference, so that the same distances give the same doubles:
 *
 *   boundary_loss  (LIVIAETS/boundary-loss, utils.one_hot2dist)
 *                  EDT(neg) * neg - (EDT(pos) - 1) * pos
 *   normalized     (JunMa11/SegWithDistMap, compute_sdf)
 *                  (negdis - min) / (max - min) - (posdis - min) / (max - min)
 *                  with min = 0 (either term is 0 on each side), and 0 on
 *                  the inner border (skimage find_boundaries, mode
 *                  'inner', connectivity 1: the image edge is no border)
 *   signed         d_out outside, -d_in inside
 *   unsigned       d_in + d_out (MONAI / SegLoss HausdorffDTLoss field)
 *
 * An empty or full mask has no boundary and gets 0 everywhere (the
 * references give NaN or a distance to a phantom pixel for a full mask).
 */
#include "distance/maps.h"

#include <string.h>

#include "core/scratch.h"

size_t lk_map_work_layout(const lk_grid *grid, void *base, lk_map_work *work)
{
    lk_scratch area = {base, 0};
    work->sites = lk_scratch_take(&area, (size_t)grid->numel);
    work->inside = lk_scratch_take(&area, (size_t)grid->numel * sizeof(double));
    work->scratch = lk_scratch_take(&area, lk_distance_scratch_size(grid));
    return lk_scratch_size(&area);
}

static lk_status transform(lk_context *ctx, const lk_grid *grid, const uint8_t *site, double *out,
                           const lk_map_work *work)
{
    if (ctx) return lk_distance_parallel(ctx, grid, site, LK_DISTANCE_ROOT, out);
    lk_distance_serial(grid, site, LK_DISTANCE_ROOT, out, work->scratch);
    return LK_OK;
}

/* Runs of `n` elements `inner` apart: the outer index, the position along
 * the axis and the inner index address every element once, without a
 * division per element. */
void lk_object_border(const lk_grid *grid, const uint8_t *object, lk_edge_rule edge,
                      uint8_t *border)
{
    memset(border, 0, (size_t)grid->numel);
    uint8_t edge_marks = edge == LK_EDGE_IS_BACKGROUND;
    int64_t inner = grid->numel;
    for (int axis = 0; axis < grid->ndim; axis++) {
        int64_t n = grid->shape[axis];
        inner /= n;
        int64_t outer = grid->numel / (n * inner);
        for (int64_t o = 0; o < outer; o++) {
            for (int64_t position = 0; position < n; position++) {
                int64_t row = (o * n + position) * inner;
                for (int64_t i = row; i < row + inner; i++) {
                    if (!object[i]) continue;
                    uint8_t before = position > 0 ? !object[i - inner] : edge_marks;
                    uint8_t after = position < n - 1 ? !object[i + inner] : edge_marks;
                    border[i] |= (uint8_t)(before | after);
                }
            }
        }
    }
}

void lk_inner_border(const lk_grid *grid, const uint8_t *object, uint8_t *border)
{
    lk_object_border(grid, object, LK_EDGE_IS_NOTHING, border);
}

static double max_of(const double *values, int64_t count)
{
    double largest = 0;
    for (int64_t i = 0; i < count; i++)
        if (values[i] > largest) largest = values[i];
    return largest;
}

static void combine(const lk_grid *grid, const uint8_t *object, lk_sdf_kind kind,
                    const double *inside, double *out, uint8_t *border)
{
    int64_t count = grid->numel;
    switch (kind) {
    case LK_SDF_SIGNED:
        for (int64_t i = 0; i < count; i++)
            if (object[i]) out[i] = -inside[i];
        break;
    case LK_SDF_BOUNDARY_LOSS:
        for (int64_t i = 0; i < count; i++)
            if (object[i]) out[i] = -(inside[i] - 1.0);
        break;
    case LK_SDF_UNSIGNED:
        for (int64_t i = 0; i < count; i++)
            if (object[i]) out[i] = inside[i];
        break;
    case LK_SDF_NORMALIZED: {
        double max_inside = max_of(inside, count), max_outside = max_of(out, count);
        lk_inner_border(grid, object, border);
        for (int64_t i = 0; i < count; i++) {
            if (border[i])
                out[i] = 0;
            else if (object[i])
                out[i] = -(inside[i] / max_inside);
            else
                out[i] = out[i] / max_outside;
        }
        break;
    }
    }
}

lk_status lk_signed_map(lk_context *ctx, const lk_grid *grid, const uint8_t *object,
                        lk_sdf_kind kind, double *out, const lk_map_work *work)
{
    int64_t count = grid->numel, inside_count = 0;
    for (int64_t i = 0; i < count; i++) inside_count += object[i] != 0;
    if (inside_count == 0 || inside_count == count) {
        memset(out, 0, (size_t)count * sizeof *out);
        return LK_OK;
    }
    lk_status status = transform(ctx, grid, object, out, work);
    for (int64_t i = 0; i < count; i++) work->sites[i] = object[i] == 0;
    if (status == LK_OK) status = transform(ctx, grid, work->sites, work->inside, work);
    if (status == LK_OK) combine(grid, object, kind, work->inside, out, work->sites);
    return status;
}
