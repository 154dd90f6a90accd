/*
 * Distance maps of every image and class, the constants the boundary-based
 * losses weigh their probabilities with. The object of (image n, class c) is
 * either the pixels labelled c (ground truth) or the pixels where the
 * probability of c exceeds a threshold (a prediction, for the Hausdorff DT
 * loss). Maps are computed per image and class, never across the batch, on
 * the image's grid (its spatial axes and spacing), one (n, c) per task; the
 * result does not depend on the thread count.
 */
#ifndef LK_BOUNDARY_CLASS_MAPS_H
#define LK_BOUNDARY_CLASS_MAPS_H

#include <stdint.h>

#include "core/labels.h"
#include "core/loss.h"
#include "distance/maps.h"

typedef enum lk_class_map_kind {
    /* lk_signed_map of the kind in `sdf` (boundary loss, HD DT field, ...) */
    LK_CLASS_MAP_SDF = 0,
    /* RRW (Valverde & Tohka): -d_in / (max d_in + 1e-15) inside, +1 outside;
     * +1 everywhere for an absent class, -1 everywhere for one that fills
     * the image */
    LK_CLASS_MAP_RECTIFIED = 1,
    /* DPCE (Caliva et al.) inside the object: (max d_in - d_in) / (max d_in -
     * min d_in), 1 on the border, 0 at the deepest pixels; 1 inside if every
     * pixel is at the same depth, 0 for a class that fills the image; 0
     * outside the object */
    LK_CLASS_MAP_PENALTY = 2
} lk_class_map_kind;

/* Where the objects come from: labels (label == c), else probabilities
 * (p > threshold). */
typedef struct lk_class_objects {
    const lk_tensor *labels;  /* (N, *spatial) or (N, 1, *spatial), validated */
    const double *probability; /* (N, C, *spatial), when labels is NULL */
    double threshold;
} lk_class_objects;

typedef struct lk_class_maps_job {
    lk_class_objects objects;
    lk_grid grid;            /* one image */
    int64_t batch, classes;
    const uint8_t *wanted;   /* [classes], 0: map left 0; NULL: every class */
    lk_class_map_kind kind;
    lk_sdf_kind sdf;
} lk_class_maps_job;

/* The grid of the call's images: input 0's spatial axes, with the spacing of
 * the float-list parameter spacing_param (empty: 1 on every axis; one value:
 * that on every axis). */
void lk_call_grid(const lk_call *call, size_t spacing_param, lk_grid *grid);

/* The spacing parameter of the losses built on distance maps; what: the
 * maps' name in its doc ("the distance maps"). */
#define LK_PARAM_SPACING(what)                                                             \
    {"spacing", LK_PARAM_FLOAT_LIST, "[]", 0, INFINITY, LK_RANGE_MIN_OPEN, NULL,           \
     "voxel spacing of " what ": one value per spatial axis, one for all, or [] (1)"}

/* The check of a spacing parameter: empty, one value, or one per spatial
 * axis of input 0 (which must have at least one). */
lk_status lk_check_spacing(const lk_call *call, size_t spacing_param);

/* maps (batch, classes, grid numel), float64. */
lk_status lk_class_maps(lk_context *ctx, const lk_class_maps_job *job, double *maps);

#endif
