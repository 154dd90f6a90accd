/*
 * Tensor helpers shared by the core and the losses: element counts, shape and
 * index formatting for error messages, scalar reads for diagnostics.
 */
#ifndef LK_CORE_TENSOR_H
#define LK_CORE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "losskit.h"

/* Largest element count accepted in one tensor (keeps every offset and byte
 * count inside int64 and size_t). */
#define LK_MAX_NUMEL ((int64_t)1 << 48)

int lk_dtype_is_float(lk_dtype dtype);
int lk_dtype_is_label(lk_dtype dtype);
int lk_dtype_valid(lk_dtype dtype);

/* Product of shape[0..ndim); the caller has validated the shape. */
int64_t lk_numel(const lk_tensor *t);
/* Product of shape[first..ndim). */
int64_t lk_numel_from(const lk_tensor *t, int first);

/* "(2, 3, 64, 64)". Returns buf. */
char *lk_format_shape(const lk_tensor *t, char *buf, size_t size);
/* The multi-index of flat element `flat` of t, "[1, 0, 5, 7]". Returns buf. */
char *lk_format_index(const lk_tensor *t, int64_t flat, char *buf, size_t size);

/* Element `flat` of a float tensor as double; of a label tensor as int64. */
double lk_read_real(const lk_tensor *t, int64_t flat);
int64_t lk_read_label(const lk_tensor *t, int64_t flat);

/* The checks every tensor argument passes first: ndim in [0, LK_MAX_DIMS],
 * every dimension >= 1, at most LK_MAX_NUMEL elements, a losskit dtype, data
 * not NULL. role and name make the message ("input 'target' has ..."). */
lk_status lk_check_tensor_header(const char *role, const char *name, const lk_tensor *t);

/* Whether a and b have the same dims. */
int lk_same_shape(const lk_tensor *a, const lk_tensor *b);

/* Whether the memory of a and b (validated tensors) overlaps. */
int lk_tensors_overlap(const lk_tensor *a, const lk_tensor *b);

/* Flat index of the first NaN or infinity in a float tensor, or -1. */
int64_t lk_find_nonfinite(const lk_tensor *t);

/* The LK_EVALUE report of a value outside [0, 1] at flat index `index` of the
 * input called name; `what` says what was expected ("a probability"). */
lk_status lk_unit_interval_error(const lk_tensor *t, const char *name, int64_t index,
                                 const char *what, const char *hint);

/* t *= factor, element-wise, in parallel (float tensors). */
void lk_scale_in_place(lk_context *ctx, const lk_tensor *t, double factor);

#define LK_SHAPE_TEXT 96
#define LK_INDEX_TEXT 96

#endif
