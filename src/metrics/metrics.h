/*
 * Segmentation metrics: the parts behind lk_metrics_compute (metrics.c).
 *
 *   surface.c  the surfaces of one image's prediction and target masks of a
 *              class, in either lk_surface convention, and the distance of
 *              every surface element to the other surface;
 *   surfels.c  the weights of DeepMind's surfels by neighbour code;
 *   summary.c  the metrics of one (image, class) pair from its counts and
 *              its distances.
 */
#ifndef LK_METRICS_METRICS_H
#define LK_METRICS_METRICS_H

#include <stdint.h>

#include "distance/edt.h"
#include "losskit.h"

/* A surface element: its distance to the other surface and its weight (1
 * for a voxel, a length for a surfel). */
typedef struct lk_surface_point {
    double distance;
    double weight;
} lk_surface_point;

/* The two surfaces of a pair: S_P's points measured to S_G, then S_G's
 * measured to S_P, contiguous (target == pred + n_pred), each in the order
 * of the elements in the image. */
typedef struct lk_surface_pair {
    lk_surface_point *pred;
    int64_t n_pred;
    lk_surface_point *target;
    int64_t n_target;
} lk_surface_pair;

/* Memory for the surfaces of one pair, for any crop of an image grid. */
typedef struct lk_surface_work {
    uint8_t *box_pred, *box_target; /* the masks cropped (and padded, for surfels) */
    uint8_t *sites_pred, *sites_target;
    double *map;
    lk_surface_point *points;
    void *scratch;
} lk_surface_work;

/* Lays the work out on base (NULL: only measures) for images of `image`'s
 * shape; returns its size in bytes. */
size_t lk_surface_work_layout(const lk_grid *image, void *base, lk_surface_work *work);

/* The lengths of DeepMind's 2-D surfels by neighbour code (bit 8: element
 * (i-1, j-1) of the corner (i, j), 4: (i-1, j), 2: (i, j-1), 1: (i, j)). */
void lk_contour_lengths(const double spacing[2], double lengths[16]);

/* The areas of DeepMind's 3-D surfels by neighbour code (bit 128: element
 * (i-1, j-1, k-1) of the corner (i, j, k), 64: (i-1, j-1, k), ..., 1:
 * (i, j, k)). */
void lk_surfel_areas(const double spacing[3], double areas[256]);

/* lk_contour_lengths (2 axes: 16 weights) or lk_surfel_areas (3: 256) of a
 * checked spacing. */
#define LK_SURFEL_CODES 256
void lk_surfel_weights_of(int spatial_dims, const double *spacing, double *weights);

/* The surfaces of the masks pred and target of an image (neither empty;
 * bytes 0 or 1) and their distances, in pair (whose points live in work).
 * weights: lk_surfel_weights_of the spacing, for surfels. ctx NULL: on the
 * calling thread (cannot fail); else the transforms run on its threads
 * (fails only for want of memory). */
lk_status lk_surface_distances(lk_context *ctx, const lk_grid *image, const uint8_t *pred,
                               const uint8_t *target, lk_surface surface, const double *weights,
                               const lk_surface_work *work, lk_surface_pair *pair);

/* What one (image, class) pair's metrics are made of. */
typedef struct lk_pair_counts {
    int64_t both, pred, target; /* |P & G|, |P|, |G| */
} lk_pair_counts;

/* Whether the metric sorts the pair's lists (the percentile does). Callers
 * compute the other metrics first: they sum the lists in element order, and
 * the sums must not depend on which metrics were asked for. */
int lk_metric_sorts(lk_metric metric);

/* The metric of the pair from its counts and its surfaces (pair NULL when
 * P or G is empty). */
double lk_pair_metric(lk_metric metric, const lk_pair_counts *counts, lk_surface_pair *pair,
                      const lk_metric_options *options, double tolerance);

#endif
