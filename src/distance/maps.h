/*
 * Distance maps of one image's object mask: the unsigned EDT and the signed
 * conventions of lk_sdf_kind (see include/losskit.h). Shared by the public
 * transforms (lk_edt, lk_sdf) and by the boundary losses and the metrics,
 * which build one map per image and class from their labels.
 */
#ifndef LK_DISTANCE_MAPS_H
#define LK_DISTANCE_MAPS_H

#include <stdint.h>

#include "distance/edt.h"

/* Memory for the maps of one image, laid out by lk_map_work_carve. */
typedef struct lk_map_work {
    uint8_t *sites;  /* [numel] */
    double *inside;  /* [numel] distance from object elements to the background */
    void *scratch;   /* lk_distance_scratch_size(grid) */
} lk_map_work;

/* Lays the work memory of a grid out on base (64-byte aligned; NULL: only
 * measures) and returns its size in bytes. */
size_t lk_map_work_layout(const lk_grid *grid, void *base, lk_map_work *work);

/* The signed map of the kind from object (object[i] != 0: in the object),
 * into out. ctx NULL: on the calling thread; else the transforms run on the
 * context's threads (work->scratch is then unused). Fails only for want of
 * memory (ctx != NULL). */
lk_status lk_signed_map(lk_context *ctx, const lk_grid *grid, const uint8_t *object,
                        lk_sdf_kind kind, double *out, const lk_map_work *work);

/* Whether a border function takes the elements outside the image for
 * background. skimage's find_boundaries does not (LK_EDGE_IS_NOTHING);
 * scipy.ndimage.binary_erosion with its default border_value=0 does
 * (LK_EDGE_IS_BACKGROUND), and so mask ^ binary_erosion(mask), the surface
 * of MONAI's and medpy's metrics, marks an object's elements on the edge. */
typedef enum lk_edge_rule { LK_EDGE_IS_NOTHING = 0, LK_EDGE_IS_BACKGROUND = 1 } lk_edge_rule;

/* Object elements with a background neighbour one step along some axis, the
 * image edge counted as `edge` says: border[i] = 1, else 0. */
void lk_object_border(const lk_grid *grid, const uint8_t *object, lk_edge_rule edge,
                      uint8_t *border);

/* lk_object_border with LK_EDGE_IS_NOTHING. */
void lk_inner_border(const lk_grid *grid, const uint8_t *object, uint8_t *border);

#endif
