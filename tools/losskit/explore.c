/*
 * losskit explore: the loss-landscape explorer (the idea of Figure 3 of the
 * 2023 segmentation-loss survey, shared/seeds/002): an object and a
 * prediction of the same shape that slides off it, from full overlap to
 * none, with every selected loss and the norm of its gradient evaluated
 * along the way, for a large and a small object in the same image. Writes
 * CSV tables and SVG plots and prints whether each loss grows with the
 * error. The help text (print_help) documents the path and the verdict rule.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "losskit.h"
#include "options.h"
#include "progress.h"
#include "scene.h"
#include "selection.h"
#include "svg.h"

#define COMMAND "explore"
#define N_OBJECTS 2
#define TOLERANCE 1e-6 /* relative to the largest |loss| along the path */

typedef enum shape_kind { SHAPE_DISK, SHAPE_SQUARE, SHAPE_BALL } shape_kind;
static const char *const shape_names[] = {"disk", "square", "ball"};
static const char *const object_names[N_OBJECTS] = {"large", "small"};

typedef struct explore_options {
    shape_kind shape;
    int64_t size;              /* image side, pixels (0: the shape's default) */
    int64_t radius[N_OBJECTS]; /* 0: the shape's default */
    int64_t steps;
    double confidence;
    double scalar;
    int64_t threads;
    const char *out_dir;
} explore_options;

/* One object's path: the shifts of the prediction and what they do. */
typedef struct object_path {
    const char *name;
    int64_t radius, object_voxels;
    size_t count;
    int64_t *shift, *false_negatives, *false_positives;
    double *error;
} object_path;

/* The image, its object and the prediction's position. */
typedef struct geometry {
    shape_kind shape;
    int n_spatial;
    int64_t size, voxels, radius;
    int64_t center[3]; /* of the object; the prediction's is shifted along the last axis */
} geometry;

/* A loss's values along each object's path; skipped with a reason when it
 * cannot take the explorer's inputs. */
typedef struct loss_curves {
    double *value[N_OBJECTS], *grad_norm[N_OBJECTS], *normalized[N_OBJECTS];
    double *grad_normalized[N_OBJECTS];
    char skipped[512];
} loss_curves;

typedef struct verdict {
    int non_decreasing, rises;
    double largest_drop; /* as a fraction of the curve's range */
    double at_error;
} verdict;

static void print_help(FILE *out)
{
    fputs(
"usage: losskit explore [--loss SPEC]... [--category C]... [--shape disk|square|ball]\n"
"                       [--size S] [--large R] [--small R] [--steps N]\n"
"                       [--confidence Q] [--scalar V] [--threads N] [--out DIR]\n"
"\n"
"The loss-landscape explorer. A large and a small object in the same image and a\n"
"prediction that slides off each of them, from full overlap to none; every\n"
"selected loss, and the norm of its gradient, is evaluated along the way. It\n"
"reproduces the idea of Figure 3 of the 2023 segmentation-loss survey: a loss\n"
"should grow as false positives and false negatives grow, and many do so for\n"
"the large object but not for the small one.\n"
"\n"
"The path. The image is S x S (S x S x S for a ball), one image, two classes\n"
"(background 0, object 1). The object of radius R is the set of pixels p with\n"
"|p - c| <= R (disk, ball: Euclidean distance; square: the largest coordinate\n"
"difference), centred at c = (S/2, S/2 - R - 1) (a ball: (S/2, S/2, S/2 - R - 1)),\n"
"integer division. The prediction is the same object translated by k pixels\n"
"along the last axis, for k = 0 .. 2R + 1, where the overlap becomes empty; a\n"
"translated copy has as many false positives as false negatives, so both grow\n"
"together. At most N positions are taken (k = round(i (2R + 1) / (N - 1)),\n"
"i = 0 .. N - 1), every k when 2R + 2 <= N. The error of a position is\n"
"FN / |object| = FP / |object|: 0 at full overlap, 1 with none.\n"
"\n"
"The inputs. The predicted probability of the object is Q inside the\n"
"prediction and 1 - Q outside. Each loss gets it in the form its input slots\n"
"and its 'activation' parameter ask for (the registry says which): logits\n"
"log p (softmax: two channels, background and object), log(p / (1 - p)) per\n"
"channel (sigmoid: the object channel only), or the probabilities (none);\n"
"losses without an activation parameter take logits. Targets are the label\n"
"map, or the one-hot target where a slot takes no labels; scalar inputs (the\n"
"robust T-loss's nu) are V. Computation is in float64. A loss whose inputs do\n"
"not fit (say a 2-D-only loss with --shape ball) is listed as skipped, with\n"
"the library's reason.\n"
"\n"
"The verdict. A loss is monotonic for an object when it never decreases along\n"
"the path: L(k+1) >= L(k) - 1e-6 max|L| for every pair of neighbouring\n"
"positions. 'yes': monotonic and rising; 'flat': monotonic but not rising\n"
"by more than the tolerance (a loss blind to this error); 'no': it decreases\n"
"somewhere, and the table gives the largest drop, as a fraction of the curve's\n"
"range, and the error where it happens. Reduction none is summed.\n"
"\n", out);
    fputs(
"Output, in DIR (created if needed):\n"
"  explore.csv            one row per loss, object and position: the shift, the\n"
"                         error, FN, FP, the raw loss, the loss normalised to\n"
"                         [0, 1] along its path, the gradient norm (Euclidean\n"
"                         norm of d loss / d prediction, as the loss takes it:\n"
"                         logits or probabilities) and that norm over its\n"
"                         largest value along the path\n"
"  verdict.csv            the verdict of each loss and object\n"
"  loss_large.svg, loss_small.svg\n"
"                         one curve per loss, normalised to [0, 1] (min to max\n"
"                         along the path) so that losses of different scales\n"
"                         compare (a flat curve at 0); the raw values are in\n"
"                         explore.csv\n"
"  gradient_large.svg, gradient_small.svg\n"
"                         the gradient norm over its largest value on the path\n"
"The verdict table is printed on stdout; a progress bar is drawn on stderr\n"
"when it is a terminal.\n"
"\n"
"Options:\n"
"  --loss SPEC        a loss, NAME or NAME:key=value,... (repeatable); default:\n"
"                     every loss of the categories pixel, region, boundary and\n"
"                     compound, with its default parameters\n"
"  --category C       every loss of category C (repeatable, adds to --loss)\n"
"  --shape SHAPE      disk (default), square or ball (3-D)\n"
"  --size S           the image side in pixels; default 128 (ball: 40)\n"
"  --large R          the large object's radius; default 24 (ball: 7)\n"
"  --small R          the small object's radius; default 3 (ball: 2)\n"
"                     (each object and its path must fit: S >= 4R + 4)\n"
"  --steps N          at most N positions per path, N >= 2; default 41\n"
"  --confidence Q     the predicted object probability inside the prediction,\n"
"                     in (0.5, 1); default 0.9\n"
"  --scalar V         the value of scalar inputs; default 1\n"
"  --threads N        threads of the library; default 0, all cores (or\n"
"                     LOSSKIT_NUM_THREADS)\n"
"  --out DIR          where the files go; default out/explore\n"
"  -h, --help         this help\n"
"\n"
"Exit status: 0 on success (skipped losses included), 1 when a file cannot be\n"
"written, 2 for a usage error.\n"
"\n"
"Example: losskit explore --loss dice --loss focal:gamma=1 --small 2 --out /tmp/x\n",
          out);
}

/* ------------------------------------------------------------------ options */

static int parse_shape(const char *text, shape_kind *shape)
{
    for (int s = 0; s < 3; s++)
        if (strcmp(text, shape_names[s]) == 0) {
            *shape = (shape_kind)s;
            return 1;
        }
    fprintf(stderr, "losskit " COMMAND ": --shape '%s': expected disk, square or ball\n", text);
    return 0;
}

static int parse_option(int argc, char **argv, int *i, explore_options *options,
                        lk_cli_selection *selection)
{
    const char *option = argv[*i];
    const char *value = lk_cli_option_value(COMMAND, argc, argv, i);
    if (!value) return 0;
    if (strcmp(option, "--loss") == 0) return lk_cli_selection_add_spec(selection, COMMAND, value);
    if (strcmp(option, "--category") == 0)
        return lk_cli_selection_add_category(selection, COMMAND, value);
    if (strcmp(option, "--shape") == 0) return parse_shape(value, &options->shape);
    if (strcmp(option, "--size") == 0)
        return lk_cli_parse_int(COMMAND, option, value, 8, 4096, &options->size);
    if (strcmp(option, "--large") == 0)
        return lk_cli_parse_int(COMMAND, option, value, 1, 1000, &options->radius[0]);
    if (strcmp(option, "--small") == 0)
        return lk_cli_parse_int(COMMAND, option, value, 1, 1000, &options->radius[1]);
    if (strcmp(option, "--steps") == 0)
        return lk_cli_parse_int(COMMAND, option, value, 2, 10000, &options->steps);
    if (strcmp(option, "--confidence") == 0)
        return lk_cli_parse_real(COMMAND, option, value, 0.5, 1.0, &options->confidence);
    if (strcmp(option, "--scalar") == 0)
        return lk_cli_parse_real(COMMAND, option, value, -1e300, 1e300, &options->scalar);
    if (strcmp(option, "--threads") == 0)
        return lk_cli_parse_int(COMMAND, option, value, 0, 1024, &options->threads);
    if (strcmp(option, "--out") == 0) {
        options->out_dir = value;
        return 1;
    }
    return 0;
}

static int is_value_option(const char *arg)
{
    static const char *const names[] = {"--loss", "--category", "--shape", "--size",
                                        "--large", "--small", "--steps", "--confidence",
                                        "--scalar", "--threads", "--out"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (strcmp(arg, names[k]) == 0) return 1;
    return 0;
}

static void apply_defaults(explore_options *options)
{
    int ball = options->shape == SHAPE_BALL;
    if (!options->size) options->size = ball ? 40 : 128;
    if (!options->radius[0]) options->radius[0] = ball ? 7 : 24;
    if (!options->radius[1]) options->radius[1] = ball ? 2 : 3;
}

/* ----------------------------------------------------------------- geometry */

static geometry make_geometry(const explore_options *options, int64_t radius)
{
    geometry geo;
    memset(&geo, 0, sizeof geo);
    geo.shape = options->shape;
    geo.n_spatial = options->shape == SHAPE_BALL ? 3 : 2;
    geo.size = options->size;
    geo.radius = radius;
    geo.voxels = 1;
    for (int d = 0; d < geo.n_spatial; d++) {
        geo.voxels *= geo.size;
        geo.center[d] = geo.size / 2;
    }
    geo.center[geo.n_spatial - 1] = geo.size / 2 - radius - 1;
    return geo;
}

static int64_t last_shift(const geometry *geo) { return 2 * geo->radius + 1; }

/* The object and every position of the prediction stay one pixel inside. */
static int fits(const geometry *geo)
{
    int64_t r = geo->radius, x = geo->center[geo->n_spatial - 1];
    return geo->center[0] - r >= 1 && geo->center[0] + r <= geo->size - 2 && x - r >= 1 &&
           x + last_shift(geo) + r <= geo->size - 2;
}

static int inside(const geometry *geo, const int64_t *point, int64_t shift)
{
    int64_t squared = 0, largest = 0;
    for (int d = 0; d < geo->n_spatial; d++) {
        int64_t offset = point[d] - geo->center[d] - (d == geo->n_spatial - 1 ? shift : 0);
        squared += offset * offset;
        if (llabs(offset) > largest) largest = llabs(offset);
    }
    return geo->shape == SHAPE_SQUARE ? largest <= geo->radius
                                      : squared <= geo->radius * geo->radius;
}

static void point_of(const geometry *geo, int64_t index, int64_t *point)
{
    for (int d = geo->n_spatial - 1; d >= 0; d--) {
        point[d] = index % geo->size;
        index /= geo->size;
    }
}

/* Fills the scene's label map and probabilities (background, object) for
 * the prediction shifted by shift; counts FN and FP. */
static void draw_position(const geometry *geo, int64_t shift, double confidence, double *probs,
                          int64_t *labels, int64_t *false_negatives, int64_t *false_positives)
{
    *false_negatives = *false_positives = 0;
    for (int64_t i = 0; i < geo->voxels; i++) {
        int64_t point[3];
        point_of(geo, i, point);
        int target = inside(geo, point, 0), predicted = inside(geo, point, shift);
        labels[i] = target;
        probs[geo->voxels + i] = predicted ? confidence : 1.0 - confidence;
        probs[i] = 1.0 - probs[geo->voxels + i];
        *false_negatives += target && !predicted;
        *false_positives += predicted && !target;
    }
}

static int64_t count_object(const geometry *geo)
{
    int64_t count = 0;
    for (int64_t i = 0; i < geo->voxels; i++) {
        int64_t point[3];
        point_of(geo, i, point);
        count += inside(geo, point, 0);
    }
    return count;
}

static void free_path(object_path *path)
{
    free(path->shift);
    free(path->false_negatives);
    free(path->false_positives);
    free(path->error);
}

static int make_path(const geometry *geo, int64_t steps, const char *name, object_path *path)
{
    int64_t last = last_shift(geo);
    memset(path, 0, sizeof *path);
    path->name = name;
    path->radius = geo->radius;
    path->object_voxels = count_object(geo);
    path->count = (size_t)(last + 1 <= steps ? last + 1 : steps);
    path->shift = calloc(path->count, sizeof *path->shift);
    path->false_negatives = calloc(path->count, sizeof *path->false_negatives);
    path->false_positives = calloc(path->count, sizeof *path->false_positives);
    path->error = calloc(path->count, sizeof *path->error);
    if (!path->shift || !path->false_negatives || !path->false_positives || !path->error) {
        free_path(path);
        return 0;
    }
    for (size_t k = 0; k < path->count; k++)
        path->shift[k] = last + 1 <= steps
                             ? (int64_t)k
                             : (int64_t)llround((double)k * (double)last / (double)(path->count - 1));
    return 1;
}

/* ------------------------------------------------------------ evaluation */

typedef struct scene_buffers {
    double *probs;
    int64_t *labels;
} scene_buffers;

static lk_cli_scene make_scene(const geometry *geo, const scene_buffers *buffers, double scalar)
{
    lk_cli_scene scene;
    memset(&scene, 0, sizeof scene);
    scene.ndim = 2 + geo->n_spatial;
    scene.shape[0] = 1;
    scene.shape[1] = 2;
    for (int d = 0; d < geo->n_spatial; d++) scene.shape[2 + d] = geo->size;
    scene.probs = buffers->probs;
    scene.labels = buffers->labels;
    scene.binary = 1;
    scene.scalar = scalar;
    scene.dtype = LK_F64;
    return scene;
}

/* One loss at one position: its value and gradient norm; 0 with the reason
 * when it cannot run. */
static int evaluate(const lk_cli_loss *loss, const lk_cli_scene *scene, lk_context *ctx,
                    double *value, double *grad_norm, char *why, size_t why_size)
{
    lk_cli_inputs inputs;
    if (!lk_cli_inputs_build(loss, scene, &inputs, why, why_size)) return 0;
    int ok = lk_cli_inputs_compute(loss, &inputs, ctx) == LK_OK;
    if (ok) {
        *value = lk_cli_tensor_sum(&inputs.loss);
        *grad_norm = inputs.grads[0].data ? lk_cli_tensor_norm(&inputs.grads[0]) : NAN;
    } else {
        snprintf(why, why_size, "%s", lk_last_error());
    }
    lk_cli_inputs_free(&inputs);
    return ok;
}

/* (v - min) / (max - min) along the path; 0 everywhere for a curve flat
 * within the verdict's tolerance (so that its rounding noise is not drawn
 * as a full-height curve). With zero_based, v / max instead (gradient
 * norms). */
static void normalize(const double *values, size_t count, int zero_based, double *out)
{
    double low = values[0], high = values[0], largest = 0.0;
    for (size_t k = 0; k < count; k++) {
        if (values[k] < low) low = values[k];
        if (values[k] > high) high = values[k];
        if (fabs(values[k]) > largest) largest = fabs(values[k]);
    }
    if (zero_based) low = 0.0;
    int flat = high - low <= (zero_based ? 0.0 : TOLERANCE * largest);
    for (size_t k = 0; k < count; k++) out[k] = flat ? 0.0 : (values[k] - low) / (high - low);
}

static int allocate_curves(loss_curves *curves, const object_path *paths)
{
    memset(curves, 0, sizeof *curves);
    for (int o = 0; o < N_OBJECTS; o++) {
        size_t count = paths[o].count;
        curves->value[o] = calloc(count, sizeof(double));
        curves->grad_norm[o] = calloc(count, sizeof(double));
        curves->normalized[o] = calloc(count, sizeof(double));
        curves->grad_normalized[o] = calloc(count, sizeof(double));
        if (!curves->value[o] || !curves->grad_norm[o] || !curves->normalized[o] ||
            !curves->grad_normalized[o])
            return 0;
    }
    return 1;
}

static void free_curves(loss_curves *curves)
{
    for (int o = 0; o < N_OBJECTS; o++) {
        free(curves->value[o]);
        free(curves->grad_norm[o]);
        free(curves->normalized[o]);
        free(curves->grad_normalized[o]);
    }
}

static verdict judge(const double *values, const double *errors, size_t count)
{
    double largest = 0.0, low = values[0], high = values[0];
    for (size_t k = 0; k < count; k++) {
        if (fabs(values[k]) > largest) largest = fabs(values[k]);
        if (values[k] < low) low = values[k];
        if (values[k] > high) high = values[k];
    }
    double tolerance = TOLERANCE * largest;
    verdict result = {1, values[count - 1] - values[0] > tolerance, 0.0, NAN};
    for (size_t k = 1; k < count; k++) {
        double drop = values[k - 1] - values[k];
        if (drop <= tolerance) continue;
        result.non_decreasing = 0;
        if (drop / (high - low) > result.largest_drop) {
            result.largest_drop = drop / (high - low);
            result.at_error = errors[k];
        }
    }
    return result;
}

static const char *verdict_word(const verdict *v)
{
    if (!v->non_decreasing) return "no";
    return v->rises ? "yes" : "flat";
}

/* --------------------------------------------------------------- output */

static void csv_field(FILE *out, const char *text)
{
    if (!strpbrk(text, ",\"\n")) {
        fputs(text, out);
        return;
    }
    fputc('"', out);
    for (; *text; text++) {
        if (*text == '"') fputc('"', out);
        fputc(*text, out);
    }
    fputc('"', out);
}

static FILE *open_output(const char *dir, const char *name, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", dir, name);
    FILE *out = fopen(path, "w");
    if (!out) fprintf(stderr, "losskit " COMMAND ": cannot write %s: %s\n", path, strerror(errno));
    return out;
}

static int close_output(FILE *out, const char *path)
{
    if (fclose(out) == 0) return 1;
    fprintf(stderr, "losskit " COMMAND ": cannot write %s: %s\n", path, strerror(errno));
    return 0;
}

static int write_values_csv(const char *dir, const lk_cli_selection *selection,
                            const loss_curves *curves, const object_path *paths, shape_kind shape)
{
    char path[4096];
    FILE *out = open_output(dir, "explore.csv", path, sizeof path);
    if (!out) return 0;
    fprintf(out, "loss,object,shape,radius,position,shift,error,false_negatives,"
                 "false_positives,object_pixels,value,normalized,grad_norm,grad_normalized\n");
    for (size_t l = 0; l < selection->count; l++) {
        if (curves[l].skipped[0]) continue;
        for (int o = 0; o < N_OBJECTS; o++)
            for (size_t k = 0; k < paths[o].count; k++) {
                csv_field(out, selection->losses[l].label);
                fprintf(out, ",%s,%s,%lld,%zu,%lld,%.17g,%lld,%lld,%lld,%.17g,%.17g,%.17g,%.17g\n",
                        paths[o].name, shape_names[shape], (long long)paths[o].radius, k,
                        (long long)paths[o].shift[k], paths[o].error[k],
                        (long long)paths[o].false_negatives[k],
                        (long long)paths[o].false_positives[k], (long long)paths[o].object_voxels,
                        curves[l].value[o][k], curves[l].normalized[o][k],
                        curves[l].grad_norm[o][k], curves[l].grad_normalized[o][k]);
            }
    }
    return close_output(out, path);
}

static int write_verdict_csv(const char *dir, const lk_cli_selection *selection,
                             const loss_curves *curves, const object_path *paths)
{
    char path[4096];
    FILE *out = open_output(dir, "verdict.csv", path, sizeof path);
    if (!out) return 0;
    fprintf(out, "loss,object,radius,verdict,largest_drop,at_error,reason\n");
    for (size_t l = 0; l < selection->count; l++)
        for (int o = 0; o < N_OBJECTS; o++) {
            csv_field(out, selection->losses[l].label);
            fprintf(out, ",%s,%lld,", paths[o].name, (long long)paths[o].radius);
            if (curves[l].skipped[0]) {
                fprintf(out, "skipped,,,");
                csv_field(out, curves[l].skipped);
                fputc('\n', out);
                continue;
            }
            verdict v = judge(curves[l].value[o], paths[o].error, paths[o].count);
            fprintf(out, "%s,%.6g,", verdict_word(&v), v.largest_drop);
            if (!v.non_decreasing) fprintf(out, "%.6g", v.at_error);
            fprintf(out, ",\n");
        }
    return close_output(out, path);
}

static int write_plots(const char *dir, const lk_cli_selection *selection,
                       const loss_curves *curves, const object_path *paths,
                       const explore_options *options, int gradient)
{
    lk_cli_curve *lines = calloc(selection->count + 1, sizeof *lines);
    if (!lines) return 0;
    int ok = 1;
    for (int o = 0; ok && o < N_OBJECTS; o++) {
        size_t n_lines = 0;
        for (size_t l = 0; l < selection->count; l++) {
            if (curves[l].skipped[0]) continue;
            lines[n_lines].label = selection->losses[l].label;
            lines[n_lines].x = paths[o].error;
            lines[n_lines].y = gradient ? curves[l].grad_normalized[o] : curves[l].normalized[o];
            lines[n_lines++].count = paths[o].count;
        }
        char title[256], name[64], path[4096];
        snprintf(title, sizeof title, "%s %s, radius %lld, in a %lld^%d image: %s", paths[o].name,
                 shape_names[options->shape], (long long)paths[o].radius,
                 (long long)options->size, options->shape == SHAPE_BALL ? 3 : 2,
                 gradient ? "gradient norm" : "loss");
        snprintf(name, sizeof name, "%s_%s.svg", gradient ? "gradient" : "loss", paths[o].name);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        lk_cli_plot plot = {title,
                            "error: fraction of the object missed (= fraction overshot)",
                            gradient ? "gradient norm / its largest value on the path"
                                     : "loss, normalised to [0, 1] per curve",
                            0.0, 1.0, 0.0, 1.0};
        ok = lk_cli_svg_write(path, &plot, lines, n_lines);
    }
    free(lines);
    return ok;
}

static void print_verdicts(const lk_cli_selection *selection, const loss_curves *curves,
                           const object_path *paths)
{
    int width = 4;
    for (size_t l = 0; l < selection->count; l++)
        if ((int)strlen(selection->losses[l].label) > width)
            width = (int)strlen(selection->losses[l].label);
    printf("Monotonic in the error (non-decreasing along the path, tolerance 1e-6 max|loss|):\n\n");
    char heads[N_OBJECTS][64];
    for (int o = 0; o < N_OBJECTS; o++)
        snprintf(heads[o], sizeof heads[o], "%s (r=%lld)", paths[o].name,
                 (long long)paths[o].radius);
    printf("%-*s  %-34s %s\n", width, "LOSS", heads[0], heads[1]);
    for (size_t l = 0; l < selection->count; l++) {
        if (curves[l].skipped[0]) continue;
        printf("%-*s ", width, selection->losses[l].label);
        for (int o = 0; o < N_OBJECTS; o++) {
            verdict v = judge(curves[l].value[o], paths[o].error, paths[o].count);
            char cell[64];
            if (v.non_decreasing)
                snprintf(cell, sizeof cell, "%s", verdict_word(&v));
            else
                snprintf(cell, sizeof cell, "no (drops %.3g%% at error %.3f)",
                         100.0 * v.largest_drop, v.at_error);
            printf(o + 1 < N_OBJECTS ? " %-34s" : " %s\n", cell);
        }
    }
    for (size_t l = 0; l < selection->count; l++)
        if (curves[l].skipped[0])
            printf("%-*s  skipped: %s\n", width, selection->losses[l].label, curves[l].skipped);
}

/* Creates dir and its parents. */
static int make_directory(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *slash = path + 1;; slash++) {
        if (*slash != '/' && *slash != '\0') continue;
        char saved = *slash;
        *slash = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "losskit " COMMAND ": cannot create %s: %s\n", path, strerror(errno));
            return 0;
        }
        *slash = saved;
        if (!saved) return 1;
    }
}

/* ------------------------------------------------------------------ run */

typedef struct explorer {
    explore_options options;
    lk_cli_selection selection;
    geometry geo[N_OBJECTS];
    object_path paths[N_OBJECTS];
    loss_curves *curves;
    scene_buffers buffers;
    lk_context *ctx;
} explorer;

/* Every loss at every position of object o. Positions outermost: each
 * image is drawn once. */
static int run_object(explorer *ex, int o, lk_cli_progress *progress)
{
    object_path *path = &ex->paths[o];
    lk_cli_scene scene = make_scene(&ex->geo[o], &ex->buffers, ex->options.scalar);
    for (size_t k = 0; k < path->count; k++) {
        draw_position(&ex->geo[o], path->shift[k], ex->options.confidence, ex->buffers.probs,
                      ex->buffers.labels, &path->false_negatives[k], &path->false_positives[k]);
        path->error[k] = (double)path->false_negatives[k] / (double)path->object_voxels;
        for (size_t l = 0; l < ex->selection.count; l++) {
            loss_curves *curves = &ex->curves[l];
            if (curves->skipped[0]) continue;
            if (!evaluate(&ex->selection.losses[l], &scene, ex->ctx, &curves->value[o][k],
                          &curves->grad_norm[o][k], curves->skipped, sizeof curves->skipped) &&
                !curves->skipped[0])
                snprintf(curves->skipped, sizeof curves->skipped, "failed without a message");
        }
        lk_cli_progress_step(progress, path->name);
    }
    for (size_t l = 0; l < ex->selection.count; l++) {
        normalize(ex->curves[l].value[o], path->count, 0, ex->curves[l].normalized[o]);
        normalize(ex->curves[l].grad_norm[o], path->count, 1, ex->curves[l].grad_normalized[o]);
    }
    return 1;
}

static int prepare(explorer *ex)
{
    for (int o = 0; o < N_OBJECTS; o++) {
        ex->geo[o] = make_geometry(&ex->options, ex->options.radius[o]);
        if (!fits(&ex->geo[o])) {
            fprintf(stderr,
                    "losskit " COMMAND ": the %s object (radius %lld) and its path do not fit "
                    "in a %lld-pixel image: --size must be at least 4R + 4 = %lld\n",
                    object_names[o], (long long)ex->options.radius[o], (long long)ex->options.size,
                    (long long)(4 * ex->options.radius[o] + 4));
            return LK_EXIT_USAGE;
        }
    }
    for (int o = 0; o < N_OBJECTS; o++)
        if (!make_path(&ex->geo[o], ex->options.steps, object_names[o], &ex->paths[o])) {
            fprintf(stderr, "losskit " COMMAND ": out of memory\n");
            return LK_EXIT_FAILURE;
        }
    ex->curves = calloc(ex->selection.count, sizeof *ex->curves);
    ex->buffers.probs = calloc((size_t)(2 * ex->geo[0].voxels), sizeof(double));
    ex->buffers.labels = calloc((size_t)ex->geo[0].voxels, sizeof(int64_t));
    int allocated = ex->curves && ex->buffers.probs && ex->buffers.labels;
    for (size_t l = 0; allocated && l < ex->selection.count; l++)
        allocated = allocate_curves(&ex->curves[l], ex->paths);
    if (!allocated) {
        fprintf(stderr, "losskit " COMMAND ": out of memory (a %lld^%d image)\n",
                (long long)ex->options.size, ex->geo[0].n_spatial);
        return LK_EXIT_FAILURE;
    }
    if (lk_context_create((int)ex->options.threads, &ex->ctx) != LK_OK) {
        fprintf(stderr, "losskit " COMMAND ": %s\n", lk_last_error());
        return LK_EXIT_FAILURE;
    }
    return LK_EXIT_OK;
}

static int explore(explorer *ex)
{
    int status = prepare(ex);
    if (status != LK_EXIT_OK) return status;
    if (!make_directory(ex->options.out_dir)) return LK_EXIT_FAILURE;
    lk_cli_progress progress;
    lk_cli_progress_start(&progress, "explore", ex->paths[0].count + ex->paths[1].count);
    for (int o = 0; o < N_OBJECTS; o++) run_object(ex, o, &progress);
    lk_cli_progress_end(&progress);
    const char *dir = ex->options.out_dir;
    int ok = write_values_csv(dir, &ex->selection, ex->curves, ex->paths, ex->options.shape) &&
             write_verdict_csv(dir, &ex->selection, ex->curves, ex->paths) &&
             write_plots(dir, &ex->selection, ex->curves, ex->paths, &ex->options, 0) &&
             write_plots(dir, &ex->selection, ex->curves, ex->paths, &ex->options, 1);
    if (!ok) return LK_EXIT_FAILURE;
    print_verdicts(&ex->selection, ex->curves, ex->paths);
    printf("\nWrote %s/explore.csv, verdict.csv, loss_{large,small}.svg, "
           "gradient_{large,small}.svg\n", dir);
    return LK_EXIT_OK;
}

static void release(explorer *ex)
{
    if (ex->curves)
        for (size_t l = 0; l < ex->selection.count; l++) free_curves(&ex->curves[l]);
    free(ex->curves);
    for (int o = 0; o < N_OBJECTS; o++) free_path(&ex->paths[o]);
    free(ex->buffers.probs);
    free(ex->buffers.labels);
    lk_context_destroy(ex->ctx);
    lk_cli_selection_free(&ex->selection);
}

int lk_cli_explore(int argc, char **argv)
{
    explorer ex;
    memset(&ex, 0, sizeof ex);
    ex.options.steps = 41;
    ex.options.confidence = 0.9;
    ex.options.scalar = 1.0;
    ex.options.out_dir = "out/explore";
    int status = LK_EXIT_OK;
    for (int i = 0; i < argc && status == LK_EXIT_OK; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            print_help(stdout);
            lk_cli_selection_free(&ex.selection);
            return LK_EXIT_OK;
        }
        if (!is_value_option(argv[i])) {
            fprintf(stderr, "losskit " COMMAND ": unexpected argument '%s' (see --help)\n",
                    argv[i]);
            status = LK_EXIT_USAGE;
        } else if (!parse_option(argc, argv, &i, &ex.options, &ex.selection)) {
            status = LK_EXIT_USAGE;
        }
    }
    unsigned segmentation = LK_CLI_CATEGORY_BIT(LK_CATEGORY_PIXEL) |
                            LK_CLI_CATEGORY_BIT(LK_CATEGORY_REGION) |
                            LK_CLI_CATEGORY_BIT(LK_CATEGORY_BOUNDARY) |
                            LK_CLI_CATEGORY_BIT(LK_CATEGORY_COMPOUND);
    if (status == LK_EXIT_OK && !lk_cli_selection_finish(&ex.selection, COMMAND, segmentation))
        status = LK_EXIT_FAILURE;
    if (status == LK_EXIT_OK && ex.selection.count == 0) {
        fprintf(stderr, "losskit " COMMAND ": no loss selected\n");
        status = LK_EXIT_USAGE;
    }
    if (status == LK_EXIT_OK) {
        apply_defaults(&ex.options);
        status = explore(&ex);
    }
    release(&ex);
    return status;
}
