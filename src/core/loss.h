/*
 * What a loss implementation sees: its registry description (struct
 * lk_loss_desc) and, when it runs, one validated call (lk_call).
 *
 * To add a loss: write one file (see docs/adding-a-loss.md and any file in
 * src/pixel/), define `const lk_loss_desc lk_loss_<name>` in it, and add the
 * line LK_LOSS(<name>) to src/core/registry_list.h. The CLI, the Python
 * package, the docs catalogue and the test sweeps pick it up from there.
 */
#ifndef LK_CORE_LOSS_H
#define LK_CORE_LOSS_H

#include <stddef.h>
#include <stdint.h>

#include "core/context.h"
#include "core/error.h"
#include "core/params.h"
#include "core/tensor.h"
#include "losskit.h"

#define LK_MAX_INPUTS 8

/* The shape of the loss tensor for reduction "none". */
typedef enum lk_output_rule {
    LK_OUTPUT_PER_PIXEL = 0,   /* (N, *spatial) of input 0 */
    LK_OUTPUT_PER_ELEMENT = 1, /* the shape of input 0 */
    LK_OUTPUT_SCALAR = 2,      /* always a scalar: the loss has no "none" */
    LK_OUTPUT_REGION = 3,      /* per term of a region loss (core/region.h) */
    LK_OUTPUT_PER_ITEM = 4,    /* (N,): one value per batch item (call->batch) */
    LK_OUTPUT_PER_ANCHOR = 5,  /* per anchor of a contrastive loss (per tile of inverse_form):
                                  values that each read many inputs; the desc's none_shape */
    LK_OUTPUT_PER_CLASS = 6    /* per (image, class) term, or per class: the desc's none_shape */
} lk_output_rule;

struct lk_region_ops; /* core/region.h: losses built on per-class sums */

/* One call of lk_loss_compute, after the generic validation: every input
 * matches its slot's dtype set and shape rule, float inputs share input 0's
 * dtype, gradients (where data != NULL) match their input, the loss tensor
 * has the output shape. */
typedef struct lk_call {
    const lk_loss_desc *desc;
    const lk_params *params;
    const lk_tensor *inputs;
    const lk_tensor *loss;
    const lk_tensor *grads; /* one per input, never NULL; data NULL: not wanted */
    lk_context *ctx;
    int64_t batch;   /* N of input 0 (axis 1 of a (T, N, C) sequence, else axis 0) */
    int64_t classes; /* C of input 0 (1 for a 1-D input) */
    int64_t spatial; /* product of input 0's dims after the class axis; T of a sequence */
    int reduction;   /* LK_REDUCTION_*, or LK_REDUCTION_MEAN if the loss has none */
    /* lk_loss_compute_upstream: the weights of the loss tensor's elements in
     * the differentiated sum (validated: the loss tensor's shape, finite);
     * NULL: all ones. Read with lk_upstream(); only losses with
     * takes_upstream get one. */
    const lk_tensor *upstream;
} lk_call;

/* A check validates the parameters against the call's geometry (desc,
 * params, batch, classes, spatial) and nothing else: it runs before any
 * tensor is read, from every entry point (lk_loss_output_shape too). */
typedef lk_status (*lk_check_fn)(const lk_call *call);
typedef lk_status (*lk_compute_fn)(const lk_call *call);

struct lk_loss_desc {
    const char *name;
    lk_category category;
    const char *summary;   /* one line */
    const char *formula;   /* ASCII math */
    const char *reference; /* the paper */
    const char *notes;     /* conventions, and where they differ from others' */
    const lk_input_info *inputs;
    size_t n_inputs;
    const lk_param_info *params;
    size_t n_params;
    const char *const *examples; /* NULL-terminated lk_params_parse specs */
    lk_output_rule output;
    lk_check_fn check;     /* optional: loss-specific validation before compute */
    lk_compute_fn compute; /* the loss and, where grads[i].data != NULL, its gradients */
    const struct lk_region_ops *region; /* region losses (stats API), else NULL */
    /* LK_OUTPUT_PER_ANCHOR, LK_OUTPUT_PER_CLASS: sets out->ndim and
     * out->shape for reduction none */
    void (*none_shape)(const lk_call *call, lk_tensor *out);
    /* 1: compute weighs its gradient by call->upstream (lk_loss_compute_upstream),
     * for losses whose elements of the loss tensor are coupled across inputs */
    int takes_upstream;
};

#define LK_COUNT_OF(array) (sizeof(array) / sizeof((array)[0]))

/* Convenience for descriptions: `LK_DESC_INPUTS(table)` fills inputs/n_inputs. */
#define LK_DESC_INPUTS(table) .inputs = (table), .n_inputs = LK_COUNT_OF(table)
#define LK_DESC_PARAMS(table) .params = (table), .n_params = LK_COUNT_OF(table)

/* The prediction slot of the losses over class scores (N, C, *spatial). */
#define LK_INPUT_SCORES                                                                    \
    {"input", "scores (N, C, *spatial): logits, or probabilities with activation=none",     \
     LK_DTYPES_FLOAT, LK_SHAPE_SCORES, LK_DOMAIN_SCORES, 1}

/* The target slot of the losses that take class indices only. */
#define LK_INPUT_LABELS                                                                    \
    {"target", "class indices (N, *spatial) or (N, 1, *spatial)", LK_DTYPES_LABEL,         \
     LK_SHAPE_CLASS_TARGET, LK_DOMAIN_CLASS_TARGET, 0}

/* The weight of element `index` of the loss tensor in the differentiated sum
 * (1 without an upstream tensor; for mean and sum, the one upstream value). */
static inline double lk_upstream(const lk_call *call, int64_t index)
{
    return call->upstream ? lk_read_real(call->upstream, call->upstream->ndim ? index : 0) : 1.0;
}

/* Typed data pointers of a call's tensors. */
static inline void *lk_grad_data(const lk_call *call, size_t input)
{
    return call->grads[input].data;
}

/* The validation lk_loss_compute starts with (desc, params, inputs), filling
 * the call's geometry; used by the other entry points too. */
lk_status lk_prepare_call(const lk_loss_desc *desc, const lk_params *params,
                          const lk_tensor *inputs, size_t n_inputs, lk_call *call);

/* The gradient tensors of lk_loss_compute (grads may be NULL; entries with
 * data NULL are skipped): differentiable inputs only, each with its input's
 * dtype and shape, overlapping no input and no other gradient. */
lk_status lk_check_gradients(const lk_call *call, const lk_tensor *grads);

/* Checks that a per-class list parameter has 0 (unset), 1 (when allow_scalar)
 * or C entries. */
lk_status lk_check_class_list(const lk_call *call, size_t param_index, int allow_scalar);

/* Writes the reduced loss into call->loss: total * scale (mean/sum), in the
 * loss tensor's dtype. For reduction none the per-pixel values were written by
 * the kernel and this does nothing. */
void lk_store_reduced_loss(const lk_call *call, double total, double scale);

/* After a kernel reported a non-finite loss: finds the first NaN or infinity in
 * the float inputs and reports it (LK_EVALUE), else reports the overflow. */
lk_status lk_report_nonfinite(const lk_call *call, double total);

/* The end of every compute: a non-finite total is reported (see above),
 * otherwise the reduced loss total * scale is stored. */
lk_status lk_finish_loss(const lk_call *call, double total, double scale);

#endif
