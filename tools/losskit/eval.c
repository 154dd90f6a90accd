/*
 * losskit eval: the loss values and segmentation metrics of a prediction
 * file against a target file (.npy or NIfTI). The help text below is the
 * command's manual.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "eval.h"
#include "progress.h"

#define MAX_LOSSES 64

static void print_help(FILE *out)
{
    fprintf(out,
"usage: losskit eval --pred FILE --target FILE [--loss SPEC]... [--metrics LIST]\n"
"                    [--spacing S[,S,S]] [--pred-kind KIND] [--classes N]\n"
"                    [--channel-axis first|last] [--include-background]\n"
"                    [--percentile Q] [--nsd-tolerance T] [--surface S]\n"
"                    [--percentile-rule R] [--assd-rule A] [--json]\n"
"\n"
"Computes loss values and segmentation metrics of one predicted image against\n"
"its target label map, read from NumPy .npy or NIfTI (.nii, .nii.gz) files.\n"
"\n"
"Options:\n"
"  --pred FILE          the prediction: probabilities, logits, or a label map\n"
"  --target FILE        the target: a label map (integers, or whole-number floats)\n"
"  --loss SPEC          a loss, NAME or NAME:key=value,... as 'losskit list' shows\n"
"                       (e.g. dice, focal:gamma=2,alpha=[0.25]), or a weighted sum\n"
"                       of them, 'dice + 0.5*focal:gamma=2' (docs/compound.md);\n"
"                       repeat for more losses, one row each\n"
"  --metrics LIST       'all' or a comma list of: dice, iou, precision, recall,\n"
"                       hausdorff, hausdorff_percentile, assd, asd, nsd\n"
"                       (docs/metrics.md); per class, from class 1\n"
"  --spacing S[,S,S]    voxel spacing, one value per spatial axis or one for all;\n"
"                       default: the target's NIfTI header (pixdim), else the\n"
"                       prediction's, else 1 (.npy files carry none)\n"
"  --pred-kind KIND     auto (default), probabilities, logits or labels\n"
"  --classes N          number of classes of label maps (default: 1 + the largest\n"
"                       label in either file, at least 2)\n"
"  --channel-axis AXIS  where a prediction's class axis is: first (default for\n"
"                       .npy) or last (default for NIfTI)\n"
"  --include-background metrics for class 0 too\n"
"  --percentile Q       percentile of hausdorff_percentile, in [0, 100] (default 95)\n"
"  --nsd-tolerance T    distance tolerance of nsd, in spacing units (default 1)\n"
"  --surface S          voxels (default; MONAI, medpy: mask XOR its erosion) or\n"
"                       surfels (DeepMind surface-distance: corners of the\n"
"                       half-shifted grid, weighted by contour length / area)\n"
"  --percentile-rule R  per_direction (default; MONAI), pooled (medpy) or\n"
"                       area_weighted (DeepMind, with --surface surfels)\n"
"  --assd-rule A        concatenated (default; MONAI, medpy) or mean_of_means\n"
"                       (the mean of DeepMind's pair)\n"
"  --json               JSON instead of a table\n"
"  -h, --help           this help\n"
"\n");
    fputs(
"Inputs:\n"
"  One image per file, 1 to 3 spatial axes. A .npy array keeps NumPy's axes; a\n"
"  NIfTI volume is read as nibabel gives it, axes (x, y, z), scaled by\n"
"  scl_slope/scl_inter when set. The target is a label map of shape S. The\n"
"  prediction has shape S (a label map, or with --pred-kind probabilities or\n"
"  logits one channel of foreground scores), or shape (C, *S) (.npy) or (*S, C)\n"
"  (NIfTI) with C class channels.\n"
"  .npy: bool, int8-64, uint8-64, float16/32/64, either byte order, C or\n"
"  Fortran order. NIfTI-1/2: uint8-64, int8-64, float32, float64.\n"
"  --pred-kind auto: an integer array, or floats that are all whole numbers\n"
"  without a class axis, is a label map (made one-hot); floats all in [0, 1]\n"
"  are probabilities; anything else is logits.\n"
"  Losses run in float64 on a batch of one image. eval sets 'activation'\n"
"  to fit the prediction (none for probabilities and label maps; softmax, or\n"
"  sigmoid for one channel, for logits) and 'spacing' to the voxel spacing\n"
"  when known; SPEC's own values override both (shown as IMPLIED).\n"
"  Metrics compare the target with the prediction's labels: the label map,\n"
"  the argmax over classes, or with one channel p > 0.5 (probabilities) or\n"
"  x > 0 (logits).\n"
"\n"
"Output:\n"
"  A table, or with --json one object: pred, target, classes, spacing,\n"
"  losses (spec, implied, shape, value) and metrics (classes, one list per\n"
"  metric, flags: 1 = class absent from the prediction, 2 = from the\n"
"  target). JSON numbers have 17 digits; NaN and infinity are null.\n"
"  A progress bar is drawn on stderr when it is a terminal.\n"
"\n"
, out);
    fputs(
"Exit status:\n"
"  0  success\n"
"  1  a loss or metric failed (e.g. a target label out of range)\n"
"  2  usage error: unknown option, loss or parameter, bad value\n"
"  3  an input file is missing, unreadable, unsupported, or does not fit the\n"
"     other (shapes, spacing)\n"
"\n"
"Examples:\n"
"  losskit eval --pred probs.npy --target labels.npy --loss dice --loss focal:gamma=2\n"
"  losskit eval --pred probs.npy --target labels.npy --loss 'dice + 0.5*focal:gamma=2'\n"
"  losskit eval --pred seg.nii.gz --target gt.nii.gz --metrics all --json\n"
"  losskit eval --pred logits.npy --target gt.npy --pred-kind logits \\\n"
"               --loss cross_entropy --metrics dice,hausdorff_percentile --spacing 0.8,0.8,2\n",
          out);
}

typedef struct eval_options {
    const char *pred_path, *target_path;
    const char *loss_specs[MAX_LOSSES];
    size_t n_losses;
    eval_request request;
    eval_metrics metrics;
    int json;
} eval_options;

static int usage_error(const char *fmt, const char *value) LK_CLI_PRINTF(1, 0);
static int usage_error(const char *fmt, const char *value)
{
    fprintf(stderr, "losskit eval: ");
    fprintf(stderr, fmt, value);
    fprintf(stderr, "\nRun 'losskit eval --help' for the options.\n");
    return LK_EXIT_USAGE;
}

/* A finite number filling the whole text. */
static int parse_double(const char *text, double *value)
{
    char *end;
    errno = 0;
    *value = strtod(text, &end);
    return end != text && *end == '\0' && errno == 0 && isfinite(*value);
}

static int parse_spacing(const char *text, eval_request *request)
{
    char copy[256];
    if (strlen(text) >= sizeof copy) return usage_error("--spacing '%s' is too long", text);
    strcpy(copy, text);
    request->n_spacing = 0;
    for (char *item = strtok(copy, ","); item; item = strtok(NULL, ",")) {
        double value;
        if (request->n_spacing == LK_MAX_DIMS || !parse_double(item, &value) || value <= 0)
            return usage_error("--spacing '%s': expected one to three positive numbers, "
                               "separated by commas", text);
        request->spacing[request->n_spacing++] = value;
    }
    return request->n_spacing ? LK_EXIT_OK : usage_error("--spacing '%s' is empty", text);
}

static int parse_metrics(const char *text, eval_metrics *metrics)
{
    metrics->count = 0;
    if (strcmp(text, "all") == 0) {
        for (int code = 0; code < LK_METRIC_COUNT; code++) metrics->codes[metrics->count++] = (lk_metric)code;
        return LK_EXIT_OK;
    }
    char copy[256];
    if (strlen(text) >= sizeof copy) return usage_error("--metrics '%s' is too long", text);
    strcpy(copy, text);
    for (char *item = strtok(copy, ","); item; item = strtok(NULL, ",")) {
        int code = 0;
        while (code < LK_METRIC_COUNT && strcmp(lk_metric_name((lk_metric)code), item) != 0) code++;
        if (code == LK_METRIC_COUNT)
            return usage_error("--metrics: unknown metric '%s' (known: dice, iou, precision, "
                               "recall, hausdorff, hausdorff_percentile, assd, asd, nsd, or all)",
                               item);
        if (metrics->count == LK_METRIC_COUNT) return usage_error("--metrics '%s' repeats metrics", text);
        metrics->codes[metrics->count++] = (lk_metric)code;
    }
    return metrics->count ? LK_EXIT_OK : usage_error("--metrics '%s' names no metric", text);
}

static int parse_choice(const char *option, const char *text, const char *const *choices,
                        int count, int *out)
{
    for (int i = 0; i < count; i++)
        if (strcmp(text, choices[i]) == 0) {
            *out = i;
            return LK_EXIT_OK;
        }
    fprintf(stderr, "losskit eval: %s '%s': expected one of", option, text);
    for (int i = 0; i < count; i++) fprintf(stderr, " %s", choices[i]);
    fprintf(stderr, "\n");
    return LK_EXIT_USAGE;
}

static int parse_classes(const char *text, int *classes)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (end == text || *end || errno || value < 1 || value > 1 << 16)
        return usage_error("--classes '%s': expected an integer in [1, 65536]", text);
    *classes = (int)value;
    return LK_EXIT_OK;
}

static int parse_metric_number(const char *option, const char *text, double low, double high,
                               double *out)
{
    if (!parse_double(text, out) || *out < low || *out > high) {
        fprintf(stderr, "losskit eval: %s '%s': expected a number in [%g, %g]\n", option, text,
                low, high);
        return LK_EXIT_USAGE;
    }
    return LK_EXIT_OK;
}

/* One option with its value (text). */
static int apply_option(const char *name, const char *text, eval_options *options)
{
    static const char *const kinds[] = {"auto", "probabilities", "logits", "labels"};
    static const char *const axes[] = {"auto", "first", "last"};
    /* in the order of lk_surface, lk_percentile_rule and lk_assd_rule */
    static const char *const surfaces[] = {"voxels", "surfels"};
    static const char *const percentile_rules[] = {"per_direction", "pooled", "area_weighted"};
    static const char *const assd_rules[] = {"concatenated", "mean_of_means"};
    int choice = 0;
    int code = LK_EXIT_OK;
    if (strcmp(name, "--pred") == 0) {
        options->pred_path = text;
    } else if (strcmp(name, "--target") == 0) {
        options->target_path = text;
    } else if (strcmp(name, "--loss") == 0) {
        if (options->n_losses == MAX_LOSSES) return usage_error("more than %s --loss options", "64");
        options->loss_specs[options->n_losses++] = text;
    } else if (strcmp(name, "--metrics") == 0) {
        code = parse_metrics(text, &options->metrics);
    } else if (strcmp(name, "--spacing") == 0) {
        code = parse_spacing(text, &options->request);
    } else if (strcmp(name, "--pred-kind") == 0) {
        code = parse_choice(name, text, kinds, 4, &choice);
        options->request.kind = (pred_kind)choice;
    } else if (strcmp(name, "--channel-axis") == 0) {
        code = parse_choice(name, text, axes, 3, &choice);
        options->request.axis = (channel_axis)choice;
    } else if (strcmp(name, "--classes") == 0) {
        code = parse_classes(text, &options->request.classes);
    } else if (strcmp(name, "--percentile") == 0) {
        code = parse_metric_number(name, text, 0, 100, &options->metrics.options.percentile);
    } else if (strcmp(name, "--nsd-tolerance") == 0) {
        code = parse_metric_number(name, text, 0, INFINITY, &options->metrics.options.nsd_tolerance);
    } else if (strcmp(name, "--surface") == 0) {
        code = parse_choice(name, text, surfaces, 2, &choice);
        options->metrics.options.surface = (lk_surface)choice;
    } else if (strcmp(name, "--percentile-rule") == 0) {
        code = parse_choice(name, text, percentile_rules, 3, &choice);
        options->metrics.options.percentile_rule = (lk_percentile_rule)choice;
    } else if (strcmp(name, "--assd-rule") == 0) {
        code = parse_choice(name, text, assd_rules, 2, &choice);
        options->metrics.options.assd_rule = (lk_assd_rule)choice;
    } else {
        return usage_error("unexpected argument '%s'", name);
    }
    return code;
}

static int takes_value(const char *name)
{
    static const char *const names[] = {"--pred", "--target", "--loss", "--metrics", "--spacing",
                                        "--pred-kind", "--channel-axis", "--classes",
                                        "--percentile", "--nsd-tolerance", "--surface",
                                        "--percentile-rule", "--assd-rule"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0) return 1;
    return 0;
}

/* Parses argv; LK_EXIT_OK with *help set for --help. */
static int parse_options(int argc, char **argv, eval_options *options, int *help)
{
    memset(options, 0, sizeof *options);
    lk_metric_options_default(&options->metrics.options);
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        char name[32];
        const char *equals = strchr(arg, '=');
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            *help = 1;
            return LK_EXIT_OK;
        }
        if (strcmp(arg, "--json") == 0) {
            options->json = 1;
            continue;
        }
        if (strcmp(arg, "--include-background") == 0) {
            options->metrics.options.include_background = 1;
            continue;
        }
        size_t length = equals && strncmp(arg, "--", 2) == 0 ? (size_t)(equals - arg) : strlen(arg);
        if (length >= sizeof name) return usage_error("unexpected argument '%s'", arg);
        memcpy(name, arg, length);
        name[length] = '\0';
        if (!takes_value(name)) return usage_error("unexpected argument '%s'", arg);
        const char *text = equals && arg[length] == '=' ? equals + 1 : NULL;
        if (!text && i + 1 == argc) return usage_error("%s needs a value", name);
        int code = apply_option(name, text ? text : argv[++i], options);
        if (code != LK_EXIT_OK) return code;
    }
    if (!options->pred_path || !options->target_path)
        return usage_error("%s is required", !options->pred_path ? "--pred" : "--target");
    if (options->n_losses == 0 && options->metrics.count == 0)
        return usage_error("nothing to compute: give --loss SPEC, --metrics LIST, or %s", "both");
    return LK_EXIT_OK;
}

static int ends_with(const char *text, const char *suffix)
{
    size_t length = strlen(text), suffix_length = strlen(suffix);
    return length >= suffix_length && strcmp(text + length - suffix_length, suffix) == 0;
}

static int read_file(const char *path, eval_file *file)
{
    lkio_error err;
    file->path = path;
    file->nifti = ends_with(path, ".nii") || ends_with(path, ".nii.gz");
    if (lkio_read(path, &file->array, &err) != 0) {
        fprintf(stderr, "losskit eval: %s\n", err.message);
        return LK_EXIT_INPUT;
    }
    return LK_EXIT_OK;
}

static void free_metrics(eval_metrics *metrics)
{
    for (size_t m = 0; m < metrics->count; m++) free(metrics->values[m]);
    free(metrics->flags);
}

static int compute_metrics(const eval_data *data, eval_metrics *metrics)
{
    int n_classes = data->classes < 2 ? 2 : data->classes;
    metrics->columns = n_classes - (metrics->options.include_background ? 0 : 1);
    lk_tensor outs[LK_METRIC_COUNT], flags = {NULL, LK_U8, 2, {1, metrics->columns}};
    metrics->flags = malloc((size_t)metrics->columns);
    flags.data = metrics->flags;
    int allocated = metrics->flags != NULL;
    for (size_t m = 0; m < metrics->count; m++) {
        metrics->values[m] = malloc((size_t)metrics->columns * sizeof(double));
        outs[m] = (lk_tensor){metrics->values[m], LK_F64, 2, {1, metrics->columns}};
        allocated = allocated && metrics->values[m];
    }
    if (!allocated) {
        fprintf(stderr, "losskit eval: out of memory\n");
        return LK_EXIT_FAILURE;
    }
    lk_status status = lk_metrics_compute(&data->pred_labels, &data->labels, n_classes,
                                          data->has_spacing ? data->spacing : NULL,
                                          &metrics->options, metrics->codes, metrics->count, outs,
                                          &flags, NULL);
    if (status != LK_OK) {
        fprintf(stderr, "losskit eval: metrics: %s: %s\n", lk_status_name(status), lk_last_error());
        return LK_EXIT_FAILURE;
    }
    return LK_EXIT_OK;
}

/* Runs every loss, then the metrics, with a progress bar (a step counts
 * when it starts, so the bar names what is running). */
static int compute_all(eval_loss *const *losses, size_t n_losses, const eval_data *data,
                       eval_result *results, eval_metrics *metrics, lk_cli_progress *progress)
{
    eval_inputs inputs = {&data->scores,        data->kind != KIND_LOGITS, &data->labels,
                          data->one_hot.data ? &data->one_hot : NULL, data->one_hot_problem,
                          data->has_spacing ? data->spacing : NULL};
    for (size_t i = 0; i < n_losses; i++) {
        lk_cli_progress_step(progress, eval_loss_spec(losses[i]));
        int code = eval_loss_run(losses[i], &inputs, &results[i]);
        if (code != LK_EXIT_OK) return code;
    }
    if (metrics->count == 0) return LK_EXIT_OK;
    lk_cli_progress_step(progress, "metrics");
    return compute_metrics(data, metrics);
}

static int run(eval_options *options, eval_loss **losses)
{
    eval_file pred = {0}, target = {0};
    eval_data data = {0};
    eval_result results[MAX_LOSSES] = {{0}};
    lk_cli_progress progress;
    lk_cli_progress_start(&progress, "eval", 2 + options->n_losses + (options->metrics.count ? 1 : 0));
    lk_cli_progress_step(&progress, options->pred_path);
    int code = read_file(options->pred_path, &pred);
    if (code == LK_EXIT_OK) {
        lk_cli_progress_step(&progress, options->target_path);
        code = read_file(options->target_path, &target);
    }
    if (code == LK_EXIT_OK) code = eval_data_prepare(&pred, &target, &options->request, &data);
    if (code == LK_EXIT_OK)
        code = compute_all(losses, options->n_losses, &data, results, &options->metrics, &progress);
    lk_cli_progress_end(&progress);
    if (code == LK_EXIT_OK) {
        eval_report report = {&pred, &target, &data, losses, results, options->n_losses,
                              &options->metrics};
        if (options->json)
            eval_print_json(stdout, &report);
        else
            eval_print_table(stdout, &report);
    }
    for (size_t i = 0; i < options->n_losses; i++) eval_result_free(&results[i]);
    free_metrics(&options->metrics);
    eval_data_free(&data);
    lkio_array_free(&pred.array);
    lkio_array_free(&target.array);
    return code;
}

int lk_cli_eval(int argc, char **argv)
{
    eval_options options;
    eval_loss *losses[MAX_LOSSES] = {NULL};
    int help = 0;
    int code = parse_options(argc, argv, &options, &help);
    if (help) {
        print_help(stdout);
        return LK_EXIT_OK;
    }
    for (size_t i = 0; code == LK_EXIT_OK && i < options.n_losses; i++)
        code = eval_loss_parse(options.loss_specs[i], &losses[i]);
    if (code == LK_EXIT_OK) code = run(&options, losses);
    for (size_t i = 0; i < options.n_losses; i++) eval_loss_free(losses[i]);
    return code;
}
