/*
 * losskit.h — deep-learning loss functions with exact analytic gradients.
 *
 * The one public header of liblosskit. Every entry point is documented where
 * it is declared. Conventions shared by all losses:
 *
 *  - Tensors are dense, C-contiguous arrays described by lk_tensor. Dense
 *    predictions are channels-first: (N, C, *spatial) with 0 to 3 spatial
 *    dimensions; the class axis is axis 1.
 *  - Predictions and gradients are float32 or float64; a call computes in the
 *    prediction's dtype and accumulates sums in double. Label maps are uint8,
 *    int32 or int64.
 *  - Each loss is described once in a registry (name, category, reference,
 *    inputs, typed parameters with defaults and valid ranges). Look a loss up
 *    with lk_loss_find(), set its parameters with lk_params_*, and run it with
 *    lk_loss_compute(), which returns the loss and the gradient of the loss
 *    with respect to each differentiable input, as given (logits or
 *    probabilities), in one call.
 *  - Every function that can fail returns an lk_status; on failure
 *    lk_last_error() returns a message, kept per thread, that names the
 *    argument, the index and the offending value. Bad input never crashes and
 *    never writes outside the caller's buffers. On failure the contents of the
 *    output buffers are unspecified.
 *  - Results are bit-identical for any thread count: reductions run over a
 *    fixed chunking of the data and sum the chunks in a fixed order.
 *  - No global mutable state: every function is re-entrant and thread-safe.
 *    The default context (threads) is created once, on first use.
 */
#ifndef LOSSKIT_H
#define LOSSKIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(LOSSKIT_SHARED_BUILD)
#define LK_API __declspec(dllexport)
#elif defined(__GNUC__)
#define LK_API __attribute__((visibility("default")))
#else
#define LK_API
#endif

#define LK_VERSION_MAJOR 0
#define LK_VERSION_MINOR 1
#define LK_VERSION_PATCH 0

/* "0.1.0": the version of the library actually loaded. */
LK_API const char *lk_version(void);

/* ------------------------------------------------------------------------
 * Status codes and errors
 * ------------------------------------------------------------------------ */

typedef enum lk_status {
    LK_OK = 0,
    LK_EINVAL = 1,    /* invalid argument: NULL pointer, wrong count, bad request */
    LK_ESHAPE = 2,    /* a tensor's shape does not fit the loss */
    LK_EDTYPE = 3,    /* a tensor's dtype is not accepted */
    LK_EVALUE = 4,    /* a value inside a tensor is invalid (NaN, label out of range) */
    LK_EPARAM = 5,    /* a parameter is unknown, malformed or out of range */
    LK_ENOMEM = 6,    /* memory allocation failed */
    LK_ENOTFOUND = 7, /* no loss of that name */
    LK_ESYSTEM = 8    /* the operating system refused (threads) */
} lk_status;

/* Short name of a status code, e.g. "LK_ESHAPE"; "LK_UNKNOWN" otherwise. */
LK_API const char *lk_status_name(lk_status status);

/* The message of the last failure on the calling thread ("" if none yet).
 * Valid until the next failing call on this thread. */
LK_API const char *lk_last_error(void);

/* ------------------------------------------------------------------------
 * Tensors
 * ------------------------------------------------------------------------ */

typedef enum lk_dtype {
    LK_F32 = 0,
    LK_F64 = 1,
    LK_U8 = 2,
    LK_I32 = 3,
    LK_I64 = 4
} lk_dtype;

#define LK_DTYPE_COUNT 5
#define LK_MAX_DIMS 8

/* A dense, C-contiguous array. The library never takes ownership of data. */
typedef struct lk_tensor {
    void *data;
    lk_dtype dtype;
    int ndim;                     /* 0 (a scalar) to LK_MAX_DIMS */
    int64_t shape[LK_MAX_DIMS];
} lk_tensor;

/* "float32", "float64", "uint8", "int32", "int64"; "unknown" otherwise. */
LK_API const char *lk_dtype_name(lk_dtype dtype);
/* Bytes per element, 0 for an unknown dtype. */
LK_API size_t lk_dtype_size(lk_dtype dtype);

/* ------------------------------------------------------------------------
 * Compute context: thread count
 * ------------------------------------------------------------------------ */

typedef struct lk_context lk_context;

/* Creates a context running computations on n_threads threads (the caller's
 * thread included). n_threads = 0 means the default: the environment variable
 * LOSSKIT_NUM_THREADS if set, else the number of cores this process may use. */
LK_API lk_status lk_context_create(int n_threads, lk_context **out);
LK_API void lk_context_destroy(lk_context *ctx);
LK_API int lk_context_threads(const lk_context *ctx);

/* ------------------------------------------------------------------------
 * Registry
 * ------------------------------------------------------------------------ */

typedef enum lk_category {
    LK_CATEGORY_PIXEL = 0,    /* distribution-based, one term per pixel */
    LK_CATEGORY_REGION = 1,   /* overlap of regions: Dice, Tversky, ... */
    LK_CATEGORY_BOUNDARY = 2, /* distance to boundaries */
    LK_CATEGORY_COMPOUND = 3, /* combinations of the above */
    LK_CATEGORY_GENERAL = 4   /* non-segmentation losses: CTC, contrastive, GAN */
} lk_category;

/* "pixel", "region", "boundary", "compound", "general"; "unknown" otherwise. */
LK_API const char *lk_category_name(lk_category category);

typedef enum lk_param_type {
    LK_PARAM_FLOAT = 0,      /* a finite real number */
    LK_PARAM_INT = 1,        /* an integer (int64 range) */
    LK_PARAM_BOOL = 2,       /* true/false */
    LK_PARAM_CHOICE = 3,     /* one word out of a fixed list */
    LK_PARAM_FLOAT_LIST = 4  /* zero or more finite reals, e.g. per-class weights */
} lk_param_type;

/* Flags of lk_param_info.flags. */
#define LK_RANGE_MIN_OPEN 1u /* the minimum itself is not allowed */
#define LK_RANGE_MAX_OPEN 2u /* the maximum itself is not allowed */

typedef struct lk_param_info lk_param_info;

/* The valid range as text, "[0, inf)", "(0, 100]" (each element's, for a
 * list); "" for bool and choice parameters. Returns buf. */
LK_API char *lk_param_range(const lk_param_info *info, char *buf, size_t size);

struct lk_param_info {
    const char *name;
    lk_param_type type;
    const char *default_value; /* in the text form lk_params_set accepts */
    double min, max;           /* valid range: FLOAT, INT, each FLOAT_LIST element */
    unsigned flags;            /* LK_RANGE_* */
    const char *choices;       /* CHOICE: the words, separated by '|' */
    const char *doc;           /* one line */
};

/* How an input's shape must relate to the others. */
typedef enum lk_shape_rule {
    LK_SHAPE_SCORES = 0,       /* (N, C, *spatial), 0 to 3 spatial dims */
    LK_SHAPE_CLASS_TARGET = 1, /* integer labels (N, *spatial) or (N, 1, *spatial),
                                  or float per-class targets shaped like input 0 */
    LK_SHAPE_LIKE_FIRST = 2,   /* exactly the shape of input 0 */
    LK_SHAPE_ANY = 3,          /* any shape of 1 to 5 dims; axis 1, if any, is the class */
    LK_SHAPE_SCALAR = 4,       /* one value: shape () or (1,) */
    LK_SHAPE_SEQUENCE_SCORES = 5, /* (T, N, C): time, batch, classes (CTC's log-probs); as
                                     input 0 the batch is N = axis 1 */
    LK_SHAPE_PER_ITEM = 6,        /* (N,): one value per batch item of input 0 */
    LK_SHAPE_LABEL_SEQUENCES = 7, /* integer label sequences, one per batch item: padded
                                     (N, S) or concatenated (S_total,) */
    /* Embeddings (contrastive losses). Their optional inputs (InfoNCE's
     * negatives, SupCon's labels) are not empty tensors: a loss that can go
     * without one is registered twice, with and without the slot
     * (info_nce / info_nce_in_batch). */
    LK_SHAPE_EMBEDDINGS = 8,   /* (N, D): one D-dimensional embedding per row */
    LK_SHAPE_VIEWS = 9,        /* (N, V, D): V views (embeddings) of each of N samples */
    LK_SHAPE_KEYS = 10,         /* (M, D) keys shared by every row of input 0, or (N, M, D):
                                  M keys per row; D and N those of input 0 */
    LK_SHAPE_ROW_TARGET = 11,  /* integer labels (N,), one per row of input 0, or a float
                                  mask (N, N) of pairs of rows */
    /* The layers of a frozen dense network that a loss runs (InverseForm's
     * InverseNet), each weight (out, in) as torch.nn.Linear holds it, then its
     * bias; the loss checks what the first layer reads and the last writes. */
    LK_SHAPE_TILE_PAIR_WEIGHT = 12, /* (H, 2 T T): the first layer's weight, reading two
                                       flattened T x T tiles side by side (T >= 1) */
    LK_SHAPE_LAYER_WEIGHT = 13,     /* (H_out, H_in): a later layer's weight; H_in is the
                                       first dim of the weight input before it */
    LK_SHAPE_LAYER_BIAS = 14,       /* (H,): the bias of the weight input before it, H its
                                       first dim */
    /* A linear (1 x 1 convolution) classifier over the features of input 0
     * (N, D, *spatial), for losses over feature maps (conditional_boundary).
     * Its K classes, not D, are the range of the labels of domain
     * LK_DOMAIN_CLASSIFIER_LABELS. The weight slot comes before the bias. */
    LK_SHAPE_CLASSIFIER_WEIGHT = 15, /* (K, D): one row per class, D = axis 1 of input 0 */
    LK_SHAPE_CLASSIFIER_BIAS = 16    /* (K,): K = rows of the classifier weight input */
} lk_shape_rule;

/* The shape a rule asks for, in words: "(N, C, *spatial)", "(T, N, C)", ...
 * (static; "?" for a value that is no rule). */
LK_API const char *lk_shape_rule_text(lk_shape_rule rule);

/* What values an input holds (for documentation and test generation). */
typedef enum lk_value_domain {
    LK_DOMAIN_SCORES = 0,       /* logits, or probabilities when activation=none */
    LK_DOMAIN_CLASS_TARGET = 1, /* class indices, or per-class probabilities */
    LK_DOMAIN_UNIT_INTERVAL = 2, /* binary or soft targets in [0, 1] */
    LK_DOMAIN_BINARY = 3,        /* a 0/1 mask */
    LK_DOMAIN_REAL = 4,          /* any finite value (a precomputed map); labels are
                                    class indices */
    LK_DOMAIN_LOG_PROBS = 5,     /* log-probabilities over the class axis (log_softmax) */
    LK_DOMAIN_LABEL_SEQUENCES = 6, /* class indices in [0, C), never the blank class */
    LK_DOMAIN_INPUT_LENGTHS = 7,   /* sequence lengths in [0, T] */
    LK_DOMAIN_TARGET_LENGTHS = 8,  /* label-sequence lengths in [0, S] (S_total in all) */
    LK_DOMAIN_GROUPS = 9,        /* integer labels compared only for equality (any value),
                                    or float pair weights in [0, 1] */
    LK_DOMAIN_CLASSIFIER_LABELS = 10 /* class indices in [0, K) (or ignore_index), K the rows
                                        of the LK_SHAPE_CLASSIFIER_WEIGHT input */
} lk_value_domain;

/* One bit per accepted dtype. */
#define LK_DTYPE_BIT(dtype) (1u << (unsigned)(dtype))
#define LK_DTYPES_FLOAT (LK_DTYPE_BIT(LK_F32) | LK_DTYPE_BIT(LK_F64))
#define LK_DTYPES_LABEL (LK_DTYPE_BIT(LK_U8) | LK_DTYPE_BIT(LK_I32) | LK_DTYPE_BIT(LK_I64))

typedef struct lk_input_info {
    const char *name;
    const char *doc;
    unsigned dtypes; /* LK_DTYPE_BIT set */
    lk_shape_rule shape;
    lk_value_domain domain;
    int differentiable; /* 1 if lk_loss_compute can return its gradient */
} lk_input_info;

typedef struct lk_loss_desc lk_loss_desc;

/* Number of registered losses, and the i-th (NULL if i is out of range). */
LK_API size_t lk_loss_count(void);
LK_API const lk_loss_desc *lk_loss_at(size_t i);
/* The loss of that name, or NULL (LK_ENOTFOUND; lk_last_error() lists the
 * known names). */
LK_API const lk_loss_desc *lk_loss_find(const char *name);

/* Accessors of a registered loss. Strings are static. */
LK_API const char *lk_loss_name(const lk_loss_desc *desc);
LK_API lk_category lk_loss_category(const lk_loss_desc *desc);
LK_API const char *lk_loss_summary(const lk_loss_desc *desc);   /* one line */
LK_API const char *lk_loss_formula(const lk_loss_desc *desc);   /* ASCII math */
LK_API const char *lk_loss_reference(const lk_loss_desc *desc); /* the paper */
LK_API const char *lk_loss_notes(const lk_loss_desc *desc);     /* conventions */
LK_API size_t lk_loss_input_count(const lk_loss_desc *desc);
LK_API const lk_input_info *lk_loss_input(const lk_loss_desc *desc, size_t i);
LK_API size_t lk_loss_param_count(const lk_loss_desc *desc);
LK_API const lk_param_info *lk_loss_param(const lk_loss_desc *desc, size_t i);
/* Parameter sets that exercise each code path of the loss, as lk_params_parse
 * specs (the test sweeps run every one); NULL after the last. */
LK_API const char *lk_loss_example(const lk_loss_desc *desc, size_t i);

/* The whole registry as a JSON document {"version": ..., "losses": [...]}, and
 * one loss as a JSON object (static storage, built once; NULL on ENOMEM). */
LK_API const char *lk_registry_json(void);
LK_API const char *lk_loss_json(const lk_loss_desc *desc);

/* ------------------------------------------------------------------------
 * Parameters
 * ------------------------------------------------------------------------ */

typedef struct lk_params lk_params;

/* A parameter set for desc, holding every parameter's default. */
LK_API lk_status lk_params_create(const lk_loss_desc *desc, lk_params **out);
LK_API void lk_params_destroy(lk_params *params);
LK_API lk_params *lk_params_clone(const lk_params *params); /* NULL on ENOMEM */

/* Sets one parameter from text: "2.5", "-100", "true", "mean", "[1,0.5,2]"
 * ("[]" empties a list). Checks the type and the valid range. */
LK_API lk_status lk_params_set(lk_params *params, const char *key, const char *value);
/* Sets several: "gamma=2,alpha=[0.25,0.75],reduction=sum". All or nothing:
 * on failure params is unchanged. */
LK_API lk_status lk_params_parse(lk_params *params, const char *spec);
/* Typed setters, same checks. */
LK_API lk_status lk_params_set_float(lk_params *params, const char *key, double value);
LK_API lk_status lk_params_set_int(lk_params *params, const char *key, int64_t value);
LK_API lk_status lk_params_set_floats(lk_params *params, const char *key,
                                      const double *values, size_t count);
/* Writes the parameter's current value in the text form lk_params_set takes.
 * Returns the length it needs (excluding the NUL), or -1 for an unknown key;
 * writes at most size bytes, always NUL-terminated when size > 0. */
LK_API int lk_params_get(const lk_params *params, const char *key, char *buf, size_t size);

/* ------------------------------------------------------------------------
 * Computing a loss
 * ------------------------------------------------------------------------ */

/* Fills out->ndim, out->shape and out->dtype with what lk_loss_compute needs
 * for its loss tensor: a scalar (ndim 0) for reduction mean or sum, the
 * per-pixel or per-element shape for reduction none. Validates like
 * lk_loss_compute, without reading tensor data. */
LK_API lk_status lk_loss_output_shape(const lk_loss_desc *desc, const lk_params *params,
                                      const lk_tensor *inputs, size_t n_inputs,
                                      lk_tensor *out);

/* Computes the loss and, in the same pass, its gradients.
 *   inputs   n_inputs tensors in the order of lk_loss_input().
 *   loss     the output, shaped as lk_loss_output_shape() says, dtype of the
 *            prediction (input 0).
 *   grads    NULL for no gradients, or n_inputs tensors: grads[i].data NULL
 *            skips input i; otherwise grads[i] must have input i's shape and
 *            dtype, and input i must be differentiable. The gradient is that of
 *            the sum of the loss tensor's elements (of the loss itself for mean
 *            and sum), with respect to the input as given.
 *   ctx      threads to use; NULL for the default context.
 * Inputs are validated (shapes, dtypes, labels in range, probabilities in
 * [0, 1]); a NaN or infinity in an input that reaches the loss is reported
 * as LK_EVALUE with its index. */
LK_API lk_status lk_loss_compute(const lk_loss_desc *desc, const lk_params *params,
                                 const lk_tensor *inputs, size_t n_inputs,
                                 const lk_tensor *loss, const lk_tensor *grads,
                                 lk_context *ctx);

/* Like lk_loss_compute, with the gradients those of sum(upstream * loss):
 * each element of the loss tensor weighed by the element of upstream at the
 * same index (a float tensor of the loss tensor's shape, finite; for
 * reduction mean or sum, a scalar). This is the backward pass of a binding
 * whose framework hands an incoming gradient to a loss with reduction none,
 * for the losses whose elements are coupled across inputs, so that weighing
 * lk_loss_compute's gradients by it would be wrong (hausdorff_dt's terms
 * through a softmax, hausdorff_erosion's map). Only losses for which
 * lk_loss_takes_upstream() is 1 accept it (LK_EINVAL otherwise). */
LK_API lk_status lk_loss_compute_upstream(const lk_loss_desc *desc, const lk_params *params,
                                          const lk_tensor *inputs, size_t n_inputs,
                                          const lk_tensor *loss, const lk_tensor *grads,
                                          const lk_tensor *upstream, lk_context *ctx);
LK_API int lk_loss_takes_upstream(const lk_loss_desc *desc);

/* One-shot convenience: finds the loss by name, parses spec (may be NULL or
 * ""), computes on the default context. */
LK_API lk_status lk_compute(const char *name, const char *spec,
                            const lk_tensor *inputs, size_t n_inputs,
                            const lk_tensor *loss, const lk_tensor *grads);

/* ------------------------------------------------------------------------
 * The statistics API of region losses
 * ------------------------------------------------------------------------
 *
 * Losses built on per-class sums over the pixels (Dice, IoU, Tversky, GDL,
 * ...; lk_loss_has_stats() says which) run in three steps, which
 * lk_loss_compute performs on one worker:
 *
 *   lk_loss_stats      the sums of each image and class: a float64 tensor
 *                      stats[n][c][k] of shape (N, C, K) (see
 *                      lk_loss_stats_shape), over the pixels not ignored;
 *   lk_loss_finalize   the loss and d loss / d stats from the stats of the
 *                      whole batch (with batch=true the images' sums are
 *                      added first, in image order);
 *   lk_loss_backward   the gradient of the inputs from d loss / d stats.
 *
 * With p the predicted probability of class c (after the activation) and g
 * the target (one-hot of the labels, or the dense target), the columns are
 * k = LK_STAT_* below; a loss fills the columns it reads and leaves the
 * others 0. Losses that compare classes with each other (generalized
 * Wasserstein Dice) have K = LK_STATS + C: column LK_STATS + c' of row c
 * holds the sum of g_c p_c' (a soft confusion matrix).
 *
 * To spread a batch over workers (threads, processes, machines): each worker
 * runs lk_loss_stats on its images; the rows are gathered along axis 0 in
 * image order (all_gather; or an all-reduce SUM of zero-padded arrays, exact
 * because each entry has one non-zero contributor); every worker runs
 * lk_loss_finalize on the whole (N, C, K) array, then lk_loss_backward on its
 * own images with its rows of d loss / d stats. Loss and gradients are then
 * bit-identical to one lk_loss_compute over the whole batch: an image's sums
 * never depend on the rest of the batch, and finalize adds images in order.
 * The gradient each worker gets is that of the whole batch's loss with
 * respect to its own inputs. */

enum {
    LK_STAT_PG = 0,  /* sum of p g: the soft intersection */
    LK_STAT_P = 1,   /* sum of p */
    LK_STAT_G = 2,   /* sum of g */
    LK_STAT_PP = 3,  /* sum of p^2 */
    LK_STAT_GG = 4,  /* sum of g^2 */
    LK_STAT_EEG = 5, /* sum of (p - g)^2 g: squared error on the target */
    LK_STAT_EE = 6,  /* sum of (p - g)^2 */
    LK_STAT_N = 7,   /* number of pixels not ignored */
    LK_STATS = 8     /* columns before the confusion block, if any */
};

/* 1 if the loss has the three steps above (0 for NULL). */
LK_API int lk_loss_has_stats(const lk_loss_desc *desc);

/* Fills out with the stats tensor's dtype (float64) and shape (N, C, K) for
 * these inputs; validates them as lk_loss_compute does, without reading data. */
LK_API lk_status lk_loss_stats_shape(const lk_loss_desc *desc, const lk_params *params,
                                     const lk_tensor *inputs, size_t n_inputs,
                                     lk_tensor *out);

/* Writes the sums of the inputs' images into stats, float64 (N, C, K).
 * Reports invalid input values as lk_loss_compute does. */
LK_API lk_status lk_loss_stats(const lk_loss_desc *desc, const lk_params *params,
                               const lk_tensor *inputs, size_t n_inputs,
                               const lk_tensor *stats, lk_context *ctx);

/* The loss tensor's shape for a stats tensor of N images (what
 * lk_loss_output_shape says for inputs of N images), dtype float64. */
LK_API lk_status lk_loss_finalize_shape(const lk_loss_desc *desc, const lk_params *params,
                                        const lk_tensor *stats, lk_tensor *out);

/* stats: (N, C, K) of the whole batch, finite. loss: float32 or float64,
 * shaped as lk_loss_finalize_shape says. dloss_dstats: NULL or data NULL
 * when no gradient is wanted, else float64 shaped like stats: the derivative
 * of the loss (of the sum of its elements, for reduction none) with respect
 * to each sum of the prediction; the columns of the target's own sums
 * (LK_STAT_G, _GG, _N), through which no gradient flows, are 0. With
 * reduction none, the derivative of a term lies in the rows of the sums it
 * reads: its class's row in its image (in every image with batch=true) for
 * per-class losses, all rows of its image (of the batch) for per-group ones;
 * scaling those rows weighs the terms. A non-finite loss (say 0/0 from an empty class with no
 * smoothing) is reported as LK_EVALUE naming the image and class. */
LK_API lk_status lk_loss_finalize(const lk_loss_desc *desc, const lk_params *params,
                                  const lk_tensor *stats, const lk_tensor *loss,
                                  const lk_tensor *dloss_dstats);

/* inputs: the images lk_loss_stats saw; dloss_dstats: their rows,
 * (n_images, C, K); grads as in lk_loss_compute (grads[0] required, the
 * others data NULL). */
LK_API lk_status lk_loss_backward(const lk_loss_desc *desc, const lk_params *params,
                                  const lk_tensor *inputs, size_t n_inputs,
                                  const lk_tensor *dloss_dstats, const lk_tensor *grads,
                                  lk_context *ctx);

/* ------------------------------------------------------------------------
 * Distance transforms
 * ------------------------------------------------------------------------
 *
 * Exact Euclidean distance transforms of masks with 1 to 8 spatial axes,
 * each axis with its own voxel spacing, in linear time. The leading
 * batch_dims axes of the mask index independent images (0: the whole tensor
 * is one image); the rest are spatial. spacing: NULL (1 on every axis) or one
 * positive, finite value per spatial axis. A mask is any dtype; an element
 * is foreground when it is non-zero (NaN is an error). out: float32 or
 * float64, shaped like the mask; distances are computed in float64 and
 * rounded once. Results do not depend on the thread count.
 */

/* out = distance from each foreground element to the nearest background
 * (zero) element of its image, 0 on the background: bit for bit what
 * scipy.ndimage.distance_transform_edt(mask, sampling=spacing) returns,
 * except for an image with no background at all, where scipy measures to a
 * phantom element outside the image and losskit gives +inf. */
LK_API lk_status lk_edt(const lk_tensor *mask, int batch_dims, const double *spacing,
                        const lk_tensor *out, lk_context *ctx);

/* The signed distance maps of the boundary-based losses. With d_in(x) the
 * distance from an object element to the nearest background element and
 * d_out(x) the distance from a background element to the nearest object
 * element (as lk_edt measures them):
 *   LK_SDF_SIGNED         -d_in inside, +d_out outside (no element is 0;
 *                         the zero level lies between the pixels);
 *   LK_SDF_BOUNDARY_LOSS  -(d_in - 1) inside, +d_out outside: the boundary
 *                         loss reference (Kervadec et al.), whose object
 *                         border pixels are 0 (with spacing, the shift is
 *                         still 1, as in that code);
 *   LK_SDF_NORMALIZED     -d_in / max d_in inside, +d_out / max d_out
 *                         outside, 0 on the object's inner border (object
 *                         elements with a background neighbour along an
 *                         axis; the image edge is not a border): the maps of
 *                         the shape-aware SDF regression papers, in [-1, 1];
 *   LK_SDF_UNSIGNED       d_in inside, d_out outside: the field of the
 *                         Hausdorff distance-transform loss.
 * An image whose mask is empty or full has no boundary: its map is 0. */
typedef enum lk_sdf_kind {
    LK_SDF_SIGNED = 0,
    LK_SDF_BOUNDARY_LOSS = 1,
    LK_SDF_NORMALIZED = 2,
    LK_SDF_UNSIGNED = 3
} lk_sdf_kind;

#define LK_SDF_KIND_COUNT 4

/* "signed", "boundary_loss", "normalized", "unsigned"; "unknown" otherwise. */
LK_API const char *lk_sdf_kind_name(lk_sdf_kind kind);

LK_API lk_status lk_sdf(const lk_tensor *mask, int batch_dims, const double *spacing,
                        lk_sdf_kind kind, const lk_tensor *out, lk_context *ctx);

/* ------------------------------------------------------------------------
 * Segmentation metrics
 * ------------------------------------------------------------------------
 *
 * Overlap and surface-distance metrics of each image and class of a batch of
 * hard segmentations, with 1 to 7 spatial axes (surfels: 2 or 3), each axis
 * with its own voxel spacing. See docs/metrics.md for the conventions table.
 *
 * Inputs, pred and target, of the same shape and dtype family:
 *   n_classes > 0  label maps (N, *spatial), uint8, int32 or int64, each
 *                  label in [0, n_classes); class c is the set of elements
 *                  labelled c;
 *   n_classes = 0  masks (N, C, *spatial) of any dtype: class c of image n
 *                  is the non-zero elements of [n, c] (NaN is an error). A
 *                  voxel may be in several classes.
 * The output columns are the classes from 1 (0 with include_background) to
 * C - 1: C' = C - 1 columns by default, C with include_background.
 *
 * With P and G the prediction's and the target's elements of a class:
 *   LK_METRIC_DICE       2 |P & G| / (|P| + |G|)
 *   LK_METRIC_IOU        |P & G| / |P | G|
 *   LK_METRIC_PRECISION  |P & G| / |P|   (NaN when P is empty)
 *   LK_METRIC_RECALL     |P & G| / |G|   (NaN when G is empty)
 * Dice and IoU of two empty sets are options.empty_overlap (default NaN,
 * MONAI's ignore_empty=True; 1 reproduces ignore_empty=False); with only G
 * empty they are 0 (MONAI's ignore_empty=True gives NaN there).
 *
 * Surface metrics compare the surface elements S_P of P and S_G of G (see
 * lk_surface), each with a weight w (1 for a voxel, the length or area of a
 * surfel). d(x, S) is the Euclidean distance, in spacing units, from element
 * x to the nearest element of S:
 *   LK_METRIC_HAUSDORFF     max(max_{S_P} d(x, S_G), max_{S_G} d(x, S_P))
 *   LK_METRIC_HAUSDORFF_PERCENTILE
 *                           the options.percentile-th percentile of the
 *                           distances, by options.percentile_rule
 *   LK_METRIC_ASSD          symmetric mean distance, by options.assd_rule
 *   LK_METRIC_ASD           directed: sum_{S_P} w d(x, S_G) / sum_{S_P} w
 *                           (MONAI's symmetric=False, prediction to target)
 *   LK_METRIC_NSD           normalized surface Dice at tolerance tau:
 *                           (sum_{S_P, d <= tau} w + sum_{S_G, d <= tau} w)
 *                           / (sum_{S_P} w + sum_{S_G} w)
 * Empty classes (MONAI's rules): when exactly one of P and G is empty every
 * distance metric is +inf and NSD is 0; when both are, all surface metrics
 * are NaN. (MONAI's percentile of an all-inf list is NaN, from its
 * interpolation inf - inf; losskit gives +inf. DeepMind gives +inf for two
 * empty masks; losskit gives NaN.) The flags output tells which case
 * applied.
 *
 * Results are computed in float64 (MONAI computes distances and means in
 * float32) and do not depend on the thread count: (image, class) pairs run
 * as independent tasks.
 */

typedef enum lk_metric {
    LK_METRIC_DICE = 0,
    LK_METRIC_IOU = 1,
    LK_METRIC_PRECISION = 2,
    LK_METRIC_RECALL = 3,
    LK_METRIC_HAUSDORFF = 4,
    LK_METRIC_HAUSDORFF_PERCENTILE = 5,
    LK_METRIC_ASSD = 6,
    LK_METRIC_ASD = 7,
    LK_METRIC_NSD = 8
} lk_metric;

#define LK_METRIC_COUNT 9

/* "dice", "iou", "precision", "recall", "hausdorff", "hausdorff_percentile",
 * "assd", "asd", "nsd"; "unknown" otherwise. */
LK_API const char *lk_metric_name(lk_metric metric);

/* What a surface element is.
 *   LK_SURFACE_VOXELS  (MONAI, medpy) the object's voxels with a background
 *                      neighbour one step along an axis, elements outside
 *                      the image counting as background (mask XOR scipy's
 *                      binary_erosion with the cross structure); weight 1.
 *   LK_SURFACE_SURFELS (DeepMind surface-distance) the corners of the voxel
 *                      grid (shifted by half a voxel) whose 2x2 (2x2x2)
 *                      neighbour code is neither 0 nor all ones; weight:
 *                      the length of the marching-squares contour (the
 *                      area of the marching-cubes surface) through the
 *                      corner's cell, with spacing (lk_surfel_weights).
 *                      2 or 3 spatial axes, as DeepMind; others are
 *                      LK_EINVAL. */
typedef enum lk_surface { LK_SURFACE_VOXELS = 0, LK_SURFACE_SURFELS = 1 } lk_surface;

/* How LK_METRIC_HAUSDORFF_PERCENTILE reads the percentile q.
 *   LK_PERCENTILE_PER_DIRECTION  (MONAI) the q-th percentile of each
 *                                direction's distances, linear
 *                                interpolation as torch.quantile, then the
 *                                larger of the two; weights ignored;
 *   LK_PERCENTILE_POOLED         (medpy hd95) np.percentile (linear) of the
 *                                two directions' distances together;
 *                                weights ignored;
 *   LK_PERCENTILE_AREA_WEIGHTED  (DeepMind compute_robust_hausdorff) per
 *                                direction, the first distance, in order of
 *                                (distance, weight), where the cumulative
 *                                weight fraction reaches q / 100, no
 *                                interpolation; then the larger. A
 *                                fraction equal to q / 100 up to rounding
 *                                (32 ulp of the total) reaches it: exact
 *                                ties, which DeepMind's float sums round
 *                                either way, count as reached. */
typedef enum lk_percentile_rule {
    LK_PERCENTILE_PER_DIRECTION = 0,
    LK_PERCENTILE_POOLED = 1,
    LK_PERCENTILE_AREA_WEIGHTED = 2
} lk_percentile_rule;

/* How LK_METRIC_ASSD combines the two directions.
 *   LK_ASSD_CONCATENATED  (MONAI symmetric=True, medpy >= 0.4 assd) the
 *                         weighted mean of both lists together;
 *   LK_ASSD_MEAN_OF_MEANS (older medpy; the mean of the pair DeepMind's
 *                         compute_average_surface_distance returns) the
 *                         mean of the two directed weighted means. */
typedef enum lk_assd_rule { LK_ASSD_CONCATENATED = 0, LK_ASSD_MEAN_OF_MEANS = 1 } lk_assd_rule;

typedef struct lk_metric_options {
    int include_background;             /* 0 (default): columns start at class 1 */
    lk_surface surface;                 /* default LK_SURFACE_VOXELS */
    double percentile;                  /* in [0, 100]; default 95 */
    lk_percentile_rule percentile_rule; /* default LK_PERCENTILE_PER_DIRECTION */
    lk_assd_rule assd_rule;             /* default LK_ASSD_CONCATENATED */
    double nsd_tolerance;               /* >= 0, finite, in spacing units; default 1 */
    const double *nsd_tolerances;       /* NULL (default), or one per output
                                           column, overriding nsd_tolerance
                                           (MONAI's class_thresholds) */
    double empty_overlap;               /* Dice and IoU of two empty sets;
                                           default NaN */
} lk_metric_options;

/* The defaults above. */
LK_API void lk_metric_options_default(lk_metric_options *options);

/* Flags of an (image, class) pair in the flags output. */
#define LK_METRIC_PRED_EMPTY 1u   /* the prediction has no element of the class */
#define LK_METRIC_TARGET_EMPTY 2u /* the target has none */

/* Computes metrics[i] into outs[i] for i < n_metrics, in one pass per
 * (image, class) (the surfaces and distances are shared by the metrics).
 *   pred, target  as described above; the same shape.
 *   n_classes     > 0: label maps with that many classes; 0: masks.
 *   spacing       NULL (1 on every axis) or one positive, finite value per
 *                 spatial axis.
 *   options       NULL for the defaults.
 *   metrics       n_metrics >= 1 metrics (repeats allowed).
 *   outs          n_metrics float64 tensors of shape (N, C').
 *   flags         NULL, or a uint8 tensor (N, C') that receives the
 *                 LK_METRIC_*_EMPTY bits of each pair.
 *   ctx           threads; NULL for the default context. */
LK_API lk_status lk_metrics_compute(const lk_tensor *pred, const lk_tensor *target, int n_classes,
                                    const double *spacing, const lk_metric_options *options,
                                    const lk_metric *metrics, size_t n_metrics,
                                    const lk_tensor *outs, const lk_tensor *flags,
                                    lk_context *ctx);

/* The weight of a surfel (LK_SURFACE_SURFELS) by the neighbour code of its
 * corner, in spacing units, as DeepMind's surface-distance tables:
 *   spatial_dims 2  weights[16], the marching-squares contour lengths; code
 *                   bit 8: element (i-1, j-1) of the corner (i, j),
 *                   4: (i-1, j), 2: (i, j-1), 1: (i, j);
 *   spatial_dims 3  weights[256], the marching-cubes surface areas; bit 128:
 *                   element (i-1, j-1, k-1) of the corner (i, j, k),
 *                   64: (i-1, j-1, k), 32: (i-1, j, k-1), ..., 1: (i, j, k).
 * spacing: NULL (1 on every axis) or spatial_dims positive, finite values.
 * src/metrics/surfels.c states the rule the areas follow. */
LK_API lk_status lk_surfel_weights(int spatial_dims, const double *spacing, double *weights);

/* ------------------------------------------------------------------------
 * Beta schedules of the smooth L1 losses
 * ------------------------------------------------------------------------
 *
 * dynamic_smooth_l1 and self_adjusting_smooth_l1 take beta as a parameter;
 * where it comes from is training state that the caller keeps between steps.
 * These helpers compute it as the papers' code does, and validate their
 * arguments like the losses.
 */

/* Dynamic R-CNN (mmdetection's DynamicRoIHead), each iteration: the k-th
 * smallest (k >= 1, 1-based; at most the number of rows) over the rows i of
 * (|targets[i, 0]| + |targets[i, 1]|) / 2, computed in the targets' dtype.
 * targets: float32 or float64 (n, K), n >= 1, K >= 2: the regression
 * targets (dx, dy, dw, dh, ...) of the positive boxes. The reference's k is
 * min(beta_topk * images, n) with beta_topk = 10; record each iteration's
 * statistic. */
LK_API lk_status lk_dynamic_beta_statistic(const lk_tensor *targets, int64_t k, double *statistic);

/* Dynamic R-CNN, every update_iter_interval (100) iterations: with m the
 * median of the n >= 1 recorded statistics (the mean of the two middle ones
 * for even n, as numpy.median), *new_beta = min(initial_beta, m), or
 * current_beta when m < 1e-15. Statistics must be finite and >= 0; the
 * caller then clears its record. */
LK_API lk_status lk_dynamic_beta_update(const double *history, size_t n, double initial_beta,
                                        double current_beta, double *new_beta);

/* RetinaMask's self-adjusting smooth L1 (its AdjustSmoothL1Loss): running
 * statistics of e = |input - target| per column j of (N, n_features)
 * regression values, in caller-owned storage. */
typedef struct lk_self_adjusting_state {
    int64_t n_features; /* columns (4 for box deltas) */
    double momentum;    /* weight of each batch in the running statistics (0.1) */
    double beta_max;    /* upper clip of beta and the initial running mean (1/9) */
    double *running_mean; /* n_features values, owned by the caller */
    double *running_var;  /* n_features values, owned by the caller */
} lk_self_adjusting_state;

/* Fills state over the caller's arrays: running_mean = beta_max, running_var
 * = 0. n_features >= 1, momentum in [0, 1], beta_max > 0 and finite. */
LK_API lk_status lk_self_adjusting_init(lk_self_adjusting_state *state, int64_t n_features,
                                        double beta_max, double momentum, double *running_mean,
                                        double *running_var);

/* One step's update from the batch, before its loss: for each column j,
 * running_mean_j = (1 - momentum) running_mean_j + momentum mean_i e_ij and
 * running_var_j likewise with the unbiased variance of e_.j (in double).
 * input and target: float32 or float64 (N, n_features), the same dtype,
 * finite. With N = 1 the variance is undefined and the state is left as it
 * is (RetinaMask skips the update when the batch variance is NaN). */
LK_API lk_status lk_self_adjusting_update(lk_self_adjusting_state *state, const lk_tensor *input,
                                          const lk_tensor *target);

/* The current beta of each column: beta[j] = clamp(running_mean_j -
 * running_var_j, 1e-3, beta_max) (n_features values; pass them as the
 * self_adjusting_smooth_l1 loss's beta). */
LK_API lk_status lk_self_adjusting_beta(const lk_self_adjusting_state *state, double *beta);

/* ------------------------------------------------------------------------
 * Weighted sums of losses
 * ------------------------------------------------------------------------
 *
 * A sum of registered losses, each with its parameters and a weight, written
 * as a spec:
 *
 *     "dice:smooth_nr=1 + 0.5*focal:gamma=2"
 *
 *   spec   = term { "+" term }
 *   term   = [ weight "*" ] name [ ":" params ]
 *   weight = a finite number (strtod's form; default 1)
 *   params = lk_params_parse's "key=value,..." (lists in brackets)
 *
 * Spaces around the pieces are allowed. A "+" inside brackets or in an
 * exponent ("smooth_nr=1e+5") does not split terms. The loss is
 * sum_k weight_k loss_k(inputs), and the gradient of each input the
 * weighted sum of the terms' gradients. Every term takes the same inputs:
 * the terms must have as many input slots, each with the same shape rule
 * and a common dtype (dice + cross_entropy: yes; dice +
 * binary_cross_entropy: no, the latter takes scores of any shape); an input
 * is differentiable when it is for every term. Every term must reduce to a
 * scalar (reduction mean or sum): the loss is a scalar.
 *
 * A single loss, "focal:gamma=2", is a sum of one term, so a tool (the CLI's
 * eval, say) can take any spec through this API. */

typedef struct lk_compound lk_compound;

/* Parses spec into *out (free with lk_compound_destroy). Failures
 * (LK_EPARAM, or LK_ENOTFOUND for an unknown loss) leave *out NULL and a
 * message naming the term, its position in the spec (0-based character
 * offset) and the cause: an unknown loss, a bad weight, a bad parameter,
 * an empty term (a dangling "+"), reduction=none, or terms whose inputs
 * differ. */
LK_API lk_status lk_compound_parse(const char *spec, lk_compound **out);
LK_API void lk_compound_destroy(lk_compound *compound);

/* The terms: loss, parameters and weight of term i (NULL / 0 when i is out
 * of range). */
LK_API size_t lk_compound_term_count(const lk_compound *compound);
LK_API const lk_loss_desc *lk_compound_term_loss(const lk_compound *compound, size_t i);
LK_API const lk_params *lk_compound_term_params(const lk_compound *compound, size_t i);
LK_API double lk_compound_term_weight(const lk_compound *compound, size_t i);

/* The input slots every term shares (the first term's names and docs, the
 * dtypes every term accepts, differentiable where every term is). */
LK_API size_t lk_compound_input_count(const lk_compound *compound);
LK_API const lk_input_info *lk_compound_input(const lk_compound *compound, size_t i);

/* The loss tensor: a scalar of input 0's dtype. Validates the inputs for
 * every term, as lk_loss_output_shape does, without reading tensor data. */
LK_API lk_status lk_compound_output_shape(const lk_compound *compound, const lk_tensor *inputs,
                                          size_t n_inputs, lk_tensor *out);

/* The weighted sum and its gradients, with lk_loss_compute's arguments and
 * rules (grads NULL, or data NULL, where not wanted). An error inside a term
 * names the term ("term 2 (focal) at position 7 of '...'"). Deterministic
 * for any thread count, as every term is. */
LK_API lk_status lk_compound_compute(const lk_compound *compound, const lk_tensor *inputs,
                                     size_t n_inputs, const lk_tensor *loss,
                                     const lk_tensor *grads, lk_context *ctx);

/* ------------------------------------------------------------------------
 * InverseForm's network weights
 * ------------------------------------------------------------------------
 *
 * The inverse_form loss runs a frozen network (the reference's InverseNet)
 * whose trained weights the user supplies: none ship with losskit. The file
 * format (docs/inverse-form.md; losskit.inverse_form writes it and converts
 * the reference's PyTorch checkpoint), all integers little-endian:
 *
 *   offset  bytes  field
 *   0       8      magic "LKINVFRM"
 *   8       4      version, uint32: 1
 *   12      4      dtype, uint32: 0 float32, 1 float64 (lk_dtype's codes)
 *   16      8      tile_size T, uint64 (224 in the reference)
 *   24      8      hidden1 H1, uint64 (1000)
 *   32      8      hidden2 H2, uint64 (32)
 *   40      8      outputs D, uint64 (4)
 *   48             w1 (H1, 2 T T), b1 (H1), w2 (H2, H1), b2 (H2), w3 (D, H2),
 *                  b3 (D): row-major, little-endian IEEE values of the dtype,
 *                  nothing after them.
 *
 * w1's row reads a tile pair: the prediction's T x T tile, then the
 * target's, each flattened row-major (torch.nn.Linear's (out, in) layout). */
typedef struct lk_inverse_form_weights {
    lk_dtype dtype;                         /* LK_F32 or LK_F64 */
    int64_t tile_size, hidden1, hidden2, outputs;
    lk_tensor layers[6]; /* w1, b1, w2, b2, w3, b3: inputs 2 to 7 of inverse_form */
} lk_inverse_form_weights;

/* Reads a weight file into *out (free with lk_inverse_form_weights_free).
 * Every header field is checked, and the file's size against it, before
 * anything is allocated; the values must be finite. Failures leave *out
 * NULL: LK_ESYSTEM (cannot open or read; the message has the OS's reason),
 * LK_EVALUE (a field, the size or a value is wrong; the message names it),
 * LK_ENOMEM, LK_EINVAL (NULL arguments). */
LK_API lk_status lk_inverse_form_weights_load(const char *path, lk_inverse_form_weights **out);
LK_API void lk_inverse_form_weights_free(lk_inverse_form_weights *weights);

#ifdef __cplusplus
}
#endif

#endif /* LOSSKIT_H */
