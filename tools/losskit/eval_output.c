/*
 * What `losskit eval` prints: a table for people (values to 7 significant
 * digits) or JSON for programs (every value to 17, so it reads back to the
 * same double; NaN and infinities, which JSON lacks, are null, and the
 * metrics' flags say which class was empty).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "eval.h"

enum { TABLE_VALUES = 8 }; /* values of a reduction=none loss shown in the table */

static void print_shape(FILE *out, const lk_tensor *tensor, const char *open, const char *close)
{
    fputs(open, out);
    for (int axis = 0; axis < tensor->ndim; axis++)
        fprintf(out, "%s%lld", axis ? ", " : "", (long long)tensor->shape[axis]);
    fputs(tensor->ndim == 1 && open[0] == '(' ? ",)" : close, out);
}

static void print_number(FILE *out, double value)
{
    if (isfinite(value))
        fprintf(out, "%.17g", value);
    else
        fputs("null", out);
}

static void print_json_string(FILE *out, const char *text)
{
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(out, "\\%c", *c);
        else if (*c < 0x20)
            fprintf(out, "\\u%04x", *c);
        else
            fputc(*c, out);
    }
    fputc('"', out);
}

/* The class a metrics column stands for. */
static int column_class(const eval_metrics *metrics, int column)
{
    return column + (metrics->options.include_background ? 0 : 1);
}

static void print_table_inputs(FILE *out, const eval_report *report)
{
    const eval_data *data = report->data;
    fprintf(out, "pred     %s  %s ", report->pred->path, report->pred->array.source_dtype);
    print_shape(out, &report->pred->array.tensor, "(", ")");
    fprintf(out, ": %s (%s), %d class%s\n", eval_kind_name(data->kind),
            data->kind_given ? "--pred-kind" : "auto", data->classes, data->classes == 1 ? "" : "es");
    fprintf(out, "target   %s  %s ", report->target->path, report->target->array.source_dtype);
    print_shape(out, &report->target->array.tensor, "(", ")");
    fputs("\nspacing  ", out);
    for (int axis = 0; axis < data->spatial_dims; axis++)
        fprintf(out, "%s%g", axis ? " x " : "", data->has_spacing ? data->spacing[axis] : 1.0);
    fprintf(out, " (%s)\n", data->spacing_source);
}

static void print_table_losses(FILE *out, const eval_report *report)
{
    int width = (int)strlen("LOSS");
    for (size_t i = 0; i < report->n_losses; i++) {
        int length = (int)strlen(eval_loss_spec(report->losses[i]));
        if (length > width) width = length;
    }
    fprintf(out, "\n%-*s  %14s  %s\n", width, "LOSS", "VALUE", "IMPLIED");
    for (size_t i = 0; i < report->n_losses; i++) {
        const eval_result *result = &report->results[i];
        fprintf(out, "%-*s  ", width, eval_loss_spec(report->losses[i]));
        if (result->shape.ndim == 0) {
            fprintf(out, "%14.7g", result->values[0]);
        } else {
            print_shape(out, &result->shape, "shape (", ")");
            for (size_t k = 0; k < result->count && k < TABLE_VALUES; k++)
                fprintf(out, " %.7g", result->values[k]);
            if (result->count > TABLE_VALUES) fputs(" ...", out);
        }
        fprintf(out, "%s%s\n", result->implied[0] ? "  " : "", result->implied);
    }
}

static void print_table_metrics(FILE *out, const eval_metrics *metrics)
{
    int width = (int)strlen("METRIC");
    for (size_t m = 0; m < metrics->count; m++) {
        int length = (int)strlen(lk_metric_name(metrics->codes[m]));
        if (length > width) width = length;
    }
    fprintf(out, "\n%-*s", width, "METRIC");
    for (int column = 0; column < metrics->columns; column++) {
        char header[32];
        snprintf(header, sizeof header, "class %d", column_class(metrics, column));
        fprintf(out, "  %12s", header);
    }
    fputc('\n', out);
    for (size_t m = 0; m < metrics->count; m++) {
        fprintf(out, "%-*s", width, lk_metric_name(metrics->codes[m]));
        for (int column = 0; column < metrics->columns; column++)
            fprintf(out, "  %12.7g", metrics->values[m][column]);
        fputc('\n', out);
    }
    for (int column = 0; column < metrics->columns; column++) {
        unsigned flags = metrics->flags[column];
        if (flags)
            fprintf(out, "class %d: %s\n", column_class(metrics, column),
                    flags == (LK_METRIC_PRED_EMPTY | LK_METRIC_TARGET_EMPTY)
                        ? "absent from prediction and target"
                    : flags & LK_METRIC_PRED_EMPTY ? "absent from the prediction"
                                                   : "absent from the target");
    }
}

void eval_print_table(FILE *out, const eval_report *report)
{
    print_table_inputs(out, report);
    if (report->n_losses) print_table_losses(out, report);
    if (report->metrics->count) print_table_metrics(out, report->metrics);
}

static void print_json_file(FILE *out, const eval_file *file, const char *kind, int kind_given)
{
    fputs("{\"path\": ", out);
    print_json_string(out, file->path);
    fprintf(out, ", \"format\": \"%s\", \"dtype\": ", file->nifti ? "nifti" : "npy");
    print_json_string(out, file->array.source_dtype);
    fputs(", \"shape\": ", out);
    print_shape(out, &file->array.tensor, "[", "]");
    if (kind) fprintf(out, ", \"kind\": \"%s\", \"kind_source\": \"%s\"", kind, kind_given ? "--pred-kind" : "auto");
    fputc('}', out);
}

static void print_json_losses(FILE *out, const eval_report *report)
{
    fputs(",\n \"losses\": [", out);
    for (size_t i = 0; i < report->n_losses; i++) {
        const eval_result *result = &report->results[i];
        fputs(i ? ",\n   {\"spec\": " : "\n   {\"spec\": ", out);
        print_json_string(out, eval_loss_spec(report->losses[i]));
        fputs(", \"implied\": ", out);
        print_json_string(out, result->implied);
        fputs(", \"shape\": ", out);
        print_shape(out, &result->shape, "[", "]");
        fputs(", \"value\": ", out);
        if (result->shape.ndim == 0) {
            print_number(out, result->values[0]);
        } else {
            fputc('[', out);
            for (size_t k = 0; k < result->count; k++) {
                if (k) fputs(", ", out);
                print_number(out, result->values[k]);
            }
            fputc(']', out);
        }
        fputc('}', out);
    }
    fputs("]", out);
}

static void print_json_metrics(FILE *out, const eval_metrics *metrics)
{
    fputs(",\n \"metrics\": {\"classes\": [", out);
    for (int column = 0; column < metrics->columns; column++)
        fprintf(out, "%s%d", column ? ", " : "", column_class(metrics, column));
    fputs("]", out);
    for (size_t m = 0; m < metrics->count; m++) {
        fprintf(out, ",\n   \"%s\": [", lk_metric_name(metrics->codes[m]));
        for (int column = 0; column < metrics->columns; column++) {
            if (column) fputs(", ", out);
            print_number(out, metrics->values[m][column]);
        }
        fputc(']', out);
    }
    fputs(",\n   \"flags\": [", out);
    for (int column = 0; column < metrics->columns; column++)
        fprintf(out, "%s%u", column ? ", " : "", (unsigned)metrics->flags[column]);
    fputs("]}", out);
}

void eval_print_json(FILE *out, const eval_report *report)
{
    const eval_data *data = report->data;
    fprintf(out, "{\"version\": \"%s\",\n \"pred\": ", lk_version());
    print_json_file(out, report->pred, eval_kind_name(data->kind), data->kind_given);
    fputs(",\n \"target\": ", out);
    print_json_file(out, report->target, NULL, 0);
    fprintf(out, ",\n \"classes\": %d, \"spacing\": [", data->classes);
    for (int axis = 0; axis < data->spatial_dims; axis++) {
        if (axis) fputs(", ", out);
        print_number(out, data->has_spacing ? data->spacing[axis] : 1.0);
    }
    fprintf(out, "], \"spacing_source\": \"%s\"", data->spacing_source);
    if (report->n_losses) print_json_losses(out, report);
    if (report->metrics->count) print_json_metrics(out, report->metrics);
    fputs("}\n", out);
}
