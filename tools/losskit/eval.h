/*
 * losskit eval, in three parts: eval.c (options, help, the run),
 * eval_data.c (the files turned into a prediction and a target the losses
 * and metrics take), eval_output.c (table and JSON). eval_loss.c turns a
 * --loss SPEC into a computation.
 */
#ifndef LK_CLI_EVAL_H
#define LK_CLI_EVAL_H

#include <stddef.h>
#include <stdio.h>

#include "eval_loss.h"
#include "io/io.h"
#include "losskit.h"

typedef enum pred_kind { KIND_AUTO, KIND_PROBABILITIES, KIND_LOGITS, KIND_LABELS } pred_kind;
typedef enum channel_axis { AXIS_AUTO, AXIS_FIRST, AXIS_LAST } channel_axis;

/* What the options ask about the inputs. */
typedef struct eval_request {
    pred_kind kind;          /* KIND_AUTO: decided from the prediction's values */
    int classes;             /* 0: from the files */
    channel_axis axis;       /* AXIS_AUTO: first for .npy, last for NIfTI */
    int n_spacing;           /* values given with --spacing (0: none) */
    double spacing[LK_MAX_DIMS];
} eval_request;

typedef struct eval_file {
    const char *path;
    int nifti;
    lkio_array array;
} eval_file;

/* One image, ready for the losses and the metrics. */
typedef struct eval_data {
    pred_kind kind;              /* never KIND_AUTO once prepared */
    int kind_given;              /* 1: from --pred-kind */
    int classes;                 /* C: the prediction's channels, or the label count */
    int spatial_dims;
    lk_tensor scores;            /* (1, C, *spatial) float64 */
    lk_tensor labels;            /* (1, *spatial) int64: the target */
    lk_tensor pred_labels;       /* (1, *spatial) int64: argmax of the prediction */
    lk_tensor one_hot;           /* (1, C, *spatial) float64, data NULL if not formed */
    char one_hot_problem[192];
    int has_spacing;
    double spacing[LK_MAX_DIMS];
    const char *spacing_source;  /* "--spacing", "target header", "pred header", "none" */
} eval_data;

/* Checks and converts the files; prints why not and returns an exit code. */
int eval_data_prepare(const eval_file *pred, const eval_file *target, const eval_request *request,
                      eval_data *out);
void eval_data_free(eval_data *data);
const char *eval_kind_name(pred_kind kind);

/* The metrics of the run: codes, options, and the (1, C') results. */
typedef struct eval_metrics {
    lk_metric codes[LK_METRIC_COUNT];
    size_t count;
    lk_metric_options options;
    int columns;                        /* C' */
    double *values[LK_METRIC_COUNT];    /* each (1, C') */
    unsigned char *flags;               /* (1, C') LK_METRIC_*_EMPTY bits */
} eval_metrics;

typedef struct eval_report {
    const eval_file *pred, *target;
    const eval_data *data;
    eval_loss *const *losses;
    const eval_result *results;
    size_t n_losses;
    const eval_metrics *metrics;        /* count 0: none asked */
} eval_report;

void eval_print_table(FILE *out, const eval_report *report);
void eval_print_json(FILE *out, const eval_report *report);

#endif
