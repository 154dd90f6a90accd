/*
 * The surfaces of a prediction and a target mask, and the distance from each
 * surface element to the other surface: an exact EDT whose sites are one
 * surface, read at the other's elements.
 *
 * Both conventions work on the bounding box of P | G, which changes no
 * distance (every site lies in it) and no surface element (outside the box
 * both masks are background):
 *
 *   voxels   (MONAI get_mask_edges, medpy __surface_distances) the box of
 *            the masks; an element is on the surface when it is in the mask
 *            and a neighbour along an axis is not, the box's edge counting as
 *            background (scipy's binary_erosion, border_value=0). MONAI crops
 *            to the same box with a margin of 1, which is equivalent.
 *   surfels  (DeepMind compute_surface_distances) the box padded with one
 *            background element on each side; the corners between 2^d
 *            elements form a grid shifted by half an element, and a corner
 *            whose neighbour code is neither 0 nor all ones carries a surfel.
 *            DeepMind pads only after the box (its correlate reads the
 *            element before the box as cval 0): the same corners.
 *
 * The weight of a voxel is 1; that of a surfel is the length (2-D) or the
 * area (3-D) of the marching-squares or marching-cubes boundary through its
 * cell, by neighbour code (metrics/surfels.c).
 */
#include <math.h>
#include <string.h>

#include "core/scratch.h"
#include "distance/maps.h"
#include "metrics/metrics.h"

/* Crops and pads: every axis of a box has its extent plus 2 (surfels). */
static void capacity_grid(const lk_grid *image, lk_grid *capacity)
{
    int64_t shape[LK_MAX_DIMS];
    for (int k = 0; k < image->ndim; k++) shape[k] = image->shape[k] + 2;
    lk_grid_init(capacity, image->ndim, shape, image->spacing);
}

size_t lk_surface_work_layout(const lk_grid *image, void *base, lk_surface_work *work)
{
    lk_grid capacity;
    capacity_grid(image, &capacity);
    size_t count = (size_t)capacity.numel;
    lk_scratch area = {base, 0};
    work->box_pred = lk_scratch_take(&area, count);
    work->box_target = lk_scratch_take(&area, count);
    work->sites_pred = lk_scratch_take(&area, count);
    work->sites_target = lk_scratch_take(&area, count);
    work->map = lk_scratch_take(&area, count * sizeof(double));
    /* each element is on at most one of the two surfaces' lists */
    work->points = lk_scratch_take(&area, 2 * count * sizeof(lk_surface_point));
    work->scratch = lk_scratch_take(&area, lk_distance_scratch_size(&capacity));
    return lk_scratch_size(&area);
}

/* Visits the rows (runs along the last axis) of a region of `extent`: calls
 * with each row's coordinates on the other axes, last axis at 0. */
static int next_row(int ndim, const int64_t *extent, int64_t *coords)
{
    for (int k = ndim - 2; k >= 0; k--) {
        if (++coords[k] < extent[k]) return 1;
        coords[k] = 0;
    }
    return 0;
}

static int64_t offset_of(const lk_grid *grid, const int64_t *coords)
{
    int64_t offset = 0;
    for (int k = 0; k < grid->ndim; k++) offset = offset * grid->shape[k] + coords[k];
    return offset;
}

/* The bounding box [low, high] of a | b; 0 if both are empty. */
static int union_box(const lk_grid *image, const uint8_t *a, const uint8_t *b, int64_t *low,
                     int64_t *high)
{
    int ndim = image->ndim, found = 0;
    int64_t coords[LK_MAX_DIMS] = {0}, row_length = image->shape[ndim - 1];
    do {
        int64_t row = offset_of(image, coords), first = -1, last = -1;
        for (int64_t j = 0; j < row_length; j++)
            if (a[row + j] | b[row + j]) {
                if (first < 0) first = j;
                last = j;
            }
        if (first < 0) continue;
        coords[ndim - 1] = first;
        for (int k = 0; k < ndim; k++) {
            if (!found || coords[k] < low[k]) low[k] = coords[k];
            if (!found || coords[k] > high[k]) high[k] = coords[k];
        }
        if (last > high[ndim - 1]) high[ndim - 1] = last;
        coords[ndim - 1] = 0;
        found = 1;
    } while (next_row(ndim, image->shape, coords));
    return found;
}

/* box = the region [low, low + extent) of mask, `pad` zeros before and after
 * on every axis (box's shape is extent + 2 pad). */
static void copy_box(const lk_grid *image, const uint8_t *mask, const int64_t *low,
                     const lk_grid *box, int pad, uint8_t *out)
{
    int ndim = image->ndim;
    int64_t extent[LK_MAX_DIMS], coords[LK_MAX_DIMS] = {0}, source[LK_MAX_DIMS],
                                 target[LK_MAX_DIMS];
    for (int k = 0; k < ndim; k++) extent[k] = box->shape[k] - 2 * pad;
    memset(out, 0, (size_t)box->numel);
    do {
        for (int k = 0; k < ndim; k++) {
            source[k] = low[k] + coords[k];
            target[k] = pad + coords[k];
        }
        memcpy(out + offset_of(box, target), mask + offset_of(image, source),
               (size_t)extent[ndim - 1]);
    } while (next_row(ndim, extent, coords));
}

/* Surfel sites on the corner grid of a padded box, and each corner's
 * neighbour code: the bit of the corner's element at offsets o (each 0 or 1,
 * o_0 most significant) is 2^(2^d - 1 - o), DeepMind's kernel. Rank 3 at
 * most: a code fits a byte. codes may be box itself: corner i is written
 * after the last read of box at i (box offsets of later corners are
 * larger). */
static void surfel_sites(const lk_grid *padded, const lk_grid *corners, const uint8_t *box,
                         uint8_t *sites, uint8_t *codes)
{
    int ndim = padded->ndim, cell = 1 << ndim;
    int64_t neighbour[1 << LK_MAX_DIMS];
    for (int o = 0; o < cell; o++) {
        int64_t offset = 0;
        for (int k = 0; k < ndim; k++) offset = offset * padded->shape[k] + (o >> (ndim - 1 - k) & 1);
        neighbour[o] = offset;
    }
    int64_t coords[LK_MAX_DIMS] = {0}, row_length = corners->shape[ndim - 1];
    unsigned full = (1u << cell) - 1;
    do {
        int64_t corner = offset_of(corners, coords), base = offset_of(padded, coords);
        for (int64_t j = 0; j < row_length; j++) {
            unsigned code = 0;
            for (int o = 0; o < cell; o++)
                code |= (unsigned)box[base + j + neighbour[o]] << (cell - 1 - o);
            sites[corner + j] = code != 0 && code != full;
            if (codes) codes[corner + j] = (uint8_t)code;
        }
    } while (next_row(ndim, corners->shape, coords));
}

/* The distance map to `sites`, on ctx's threads or the calling one. */
static lk_status distance_map(lk_context *ctx, const lk_grid *grid, const uint8_t *sites,
                              const lk_surface_work *work)
{
    if (ctx) return lk_distance_parallel(ctx, grid, sites, LK_DISTANCE_ROOT, work->map);
    lk_distance_serial(grid, sites, LK_DISTANCE_ROOT, work->map, work->scratch);
    return LK_OK;
}

/* Appends the map at the elements of `on` to points; weights by code, or 1. */
static int64_t gather(const lk_grid *grid, const uint8_t *on, const double *map,
                      const uint8_t *codes, const double *weights, lk_surface_point *points)
{
    int64_t count = 0;
    for (int64_t i = 0; i < grid->numel; i++) {
        if (!on[i]) continue;
        points[count].distance = map[i];
        points[count].weight = codes ? weights[codes[i]] : 1.0;
        count++;
    }
    return count;
}

lk_status lk_surface_distances(lk_context *ctx, const lk_grid *image, const uint8_t *pred,
                               const uint8_t *target, lk_surface surface, const double *weights,
                               const lk_surface_work *work, lk_surface_pair *pair)
{
    int64_t low[LK_MAX_DIMS], high[LK_MAX_DIMS], shape[LK_MAX_DIMS];
    union_box(image, pred, target, low, high);
    int pad = surface == LK_SURFACE_SURFELS;
    for (int k = 0; k < image->ndim; k++) shape[k] = high[k] - low[k] + 1 + 2 * pad;
    lk_grid box, grid;
    lk_grid_init(&box, image->ndim, shape, image->spacing);
    copy_box(image, pred, low, &box, pad, work->box_pred);
    copy_box(image, target, low, &box, pad, work->box_target);
    /* surfels: the codes replace the cropped masks, which are read once */
    uint8_t *codes_pred = NULL, *codes_target = NULL;
    if (surface == LK_SURFACE_SURFELS) {
        for (int k = 0; k < image->ndim; k++) shape[k] -= 1;
        lk_grid_init(&grid, image->ndim, shape, image->spacing);
        codes_pred = work->box_pred;
        codes_target = work->box_target;
        surfel_sites(&box, &grid, work->box_pred, work->sites_pred, codes_pred);
        surfel_sites(&box, &grid, work->box_target, work->sites_target, codes_target);
    } else {
        grid = box;
        lk_object_border(&grid, work->box_pred, LK_EDGE_IS_BACKGROUND, work->sites_pred);
        lk_object_border(&grid, work->box_target, LK_EDGE_IS_BACKGROUND, work->sites_target);
    }
    lk_status status = distance_map(ctx, &grid, work->sites_target, work);
    if (status != LK_OK) return status;
    pair->pred = work->points;
    pair->n_pred = gather(&grid, work->sites_pred, work->map, codes_pred, weights, pair->pred);
    status = distance_map(ctx, &grid, work->sites_pred, work);
    if (status != LK_OK) return status;
    pair->target = pair->pred + pair->n_pred;
    pair->n_target = gather(&grid, work->sites_target, work->map, codes_target, weights, pair->target);
    return LK_OK;
}
