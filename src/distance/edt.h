/*
 * Exact Euclidean distance transforms, for the public lk_edt / lk_sdf and for
 * the losses and metrics that need distance maps of their labels.
 *
 * The unit of work is one image: a C-contiguous grid of 1 to LK_MAX_DIMS
 * axes with a spacing per axis, and a byte mask of *sites* (non-zero bytes).
 * The transform gives every element its squared Euclidean distance to the
 * nearest site, +inf when the image has none. EDT(mask) in scipy's sense is
 * the distance to the nearest zero of the mask: the sites are its zeros.
 *
 * Squared distances are sums over the axes, in axis order, of (offset x
 * spacing)^2, each term formed as scipy.ndimage.distance_transform_edt forms
 * it; with the same nearest site, the value is the same double, bit for bit.
 */
#ifndef LK_DISTANCE_EDT_H
#define LK_DISTANCE_EDT_H

#include <stddef.h>
#include <stdint.h>

#include "core/context.h"
#include "losskit.h"

/* One image's geometry. */
typedef struct lk_grid {
    int ndim;
    int64_t shape[LK_MAX_DIMS];
    double spacing[LK_MAX_DIMS]; /* > 0 and finite */
    int64_t numel;
} lk_grid;

/* What the last pass writes: the squared distance, or its square root. */
typedef enum lk_distance_output { LK_DISTANCE_SQUARED = 0, LK_DISTANCE_ROOT = 1 } lk_distance_output;

/* A grid of `ndim` axes from shape, with spacing (NULL: 1 on every axis). */
void lk_grid_init(lk_grid *grid, int ndim, const int64_t *shape, const double *spacing);

/* Bytes of scratch the serial transform of this grid needs. */
size_t lk_distance_scratch_size(const lk_grid *grid);

/* The transform of one image on the calling thread: out[i] = the (squared)
 * distance from element i to the nearest site. scratch holds
 * lk_distance_scratch_size(grid) bytes, 64-byte aligned. For the losses,
 * which run one image and class per task. */
void lk_distance_serial(const lk_grid *grid, const uint8_t *site, lk_distance_output output,
                        double *out, void *scratch);

/* lk_distance_serial with the last pass writing `final`, an image of dtype
 * LK_F32 or LK_F64, instead of out: work (numel doubles) holds the passes
 * before it and may be final itself when it is LK_F64. */
void lk_distance_serial_into(const lk_grid *grid, const uint8_t *site, lk_distance_output output,
                             double *work, lk_dtype dtype, void *final, void *scratch);

/* The same on the context's threads, lines of each pass spread over them
 * (the result does not depend on the thread count: lines are independent).
 * Fails only for want of memory. */
lk_status lk_distance_parallel(lk_context *ctx, const lk_grid *grid, const uint8_t *site,
                               lk_distance_output output, double *out);

/* lk_distance_parallel writing `final` as lk_distance_serial_into does. */
lk_status lk_distance_parallel_into(lk_context *ctx, const lk_grid *grid, const uint8_t *site,
                                    lk_distance_output output, double *work, lk_dtype dtype,
                                    void *final);

#endif
