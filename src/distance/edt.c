/*
 * Exact Euclidean distance transform, separable, linear time.
 *
 * Squared distance to the nearest site, d^2(x) = min over sites y of
 * sum_k ((x_k - y_k) s_k)^2, is a minimum of separable terms, so it is found
 * one axis at a time (Saito & Toriwaki 1994; Felzenszwalb & Huttenlocher,
 * "Distance transforms of sampled functions", Theory of Computing 8, 2012):
 *
 *   axis 0:     f_0(x) = (distance along axis 0 to the nearest site of x's
 *               column, times s_0)^2, from a forward and a backward scan;
 *   axis k > 0: f_k(x) = min over i on x's line along axis k of
 *               f_{k-1}(i) + ((x_k - i) s_k)^2, the lower envelope of
 *               parabolas rooted at each i, found in O(n) per line.
 *
 * Exactness: the terms are added in axis order, each formed as
 * ((offset) * s_k)^2 in double, and the envelope's tests are scipy's (see
 * envelope_line), so the result is the double scipy.ndimage's
 * distance_transform_edt computes from the feature transform it finds, bit
 * for bit, ties included. Elements with f = +inf (no site on the line so far)
 * root no parabola.
 *
 * Layout: the axis-0 scan runs over whole rows (all other axes at once), so
 * it is contiguous and vectorized. Envelopes along the last axis read
 * contiguous lines; along a middle axis, LK_DT_BLOCK neighbouring lines are
 * gathered into a buffer, transformed, and scattered back row by row, so
 * every memory access moves whole cache lines. Lines are independent: the
 * result does not depend on how they are spread over threads.
 */
#include "distance/edt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/chunks.h"
#include "core/error.h"
#include "core/hot.h"
#include "core/scratch.h"

#define LK_DT_COLUMNS 2048 /* axis-0 scan: columns per task */
#define LK_DT_BLOCK 8      /* middle axes: lines gathered together (a cache line of doubles) */
#define LK_DT_LINE_WORK 4096 /* last axis: about this many elements per task */

void lk_grid_init(lk_grid *grid, int ndim, const int64_t *shape, const double *spacing)
{
    grid->ndim = ndim;
    grid->numel = 1;
    for (int k = 0; k < ndim; k++) {
        grid->shape[k] = shape[k];
        grid->spacing[k] = spacing ? spacing[k] : 1.0;
        grid->numel *= shape[k];
    }
}

/* Elements between neighbours along axis k. */
static int64_t axis_stride(const lk_grid *grid, int axis)
{
    int64_t stride = 1;
    for (int k = axis + 1; k < grid->ndim; k++) stride *= grid->shape[k];
    return stride;
}

static int64_t longest_axis(const lk_grid *grid)
{
    int64_t longest = 1;
    for (int k = 0; k < grid->ndim; k++)
        if (grid->shape[k] > longest) longest = grid->shape[k];
    return longest;
}

/* Per-worker buffers (see core/scratch.h). */
typedef struct dt_scratch {
    double *run;       /* [LK_DT_COLUMNS] axis-0 scan: distance so far, per column */
    double *lines;     /* [LK_DT_BLOCK][longest] gathered lines */
    double *results;   /* [LK_DT_BLOCK][longest] their envelopes */
    double *at;        /* [longest + 1] the envelope's parabolas: root positions */
    double *height;    /* [longest + 1] and values there */
} dt_scratch;

static size_t dt_scratch_layout(const lk_grid *grid, void *base, dt_scratch *s)
{
    size_t longest = (size_t)longest_axis(grid);
    lk_scratch area = {base, 0};
    s->run = lk_scratch_take(&area, LK_DT_COLUMNS * sizeof(double));
    s->lines = lk_scratch_take(&area, LK_DT_BLOCK * longest * sizeof(double));
    s->results = lk_scratch_take(&area, LK_DT_BLOCK * longest * sizeof(double));
    s->at = lk_scratch_take(&area, (longest + 1) * sizeof(double));
    s->height = lk_scratch_take(&area, (longest + 1) * sizeof(double));
    return lk_scratch_size(&area);
}

size_t lk_distance_scratch_size(const lk_grid *grid)
{
    dt_scratch unused;
    return dt_scratch_layout(grid, NULL, &unused);
}

/* ---------------------------------------------------------------- axis 0 */

/* Columns [first, first + count) of the (n0, columns) view: distance in
 * elements to the nearest site of the column, forward then backward, then
 * the squared term (or, for a 1-D grid, its root: the final distance). */
LK_HOT static void scan_columns(const uint8_t *restrict site, int64_t n0, int64_t columns,
                                int64_t first, int64_t count, double spacing, int root,
                                double *restrict out, double *restrict run)
{
    for (int64_t j = 0; j < count; j++) run[j] = INFINITY;
    for (int64_t i = 0; i < n0; i++) {
        const uint8_t *restrict row_site = site + i * columns + first;
        double *restrict row = out + i * columns + first;
        for (int64_t j = 0; j < count; j++) {
            double next = row_site[j] ? 0.0 : run[j] + 1.0;
            run[j] = next;
            row[j] = next;
        }
    }
    for (int64_t j = 0; j < count; j++) run[j] = INFINITY;
    for (int64_t i = n0 - 1; i >= 0; i--) {
        double *restrict row = out + i * columns + first;
        for (int64_t j = 0; j < count; j++) {
            double from_after = run[j] + 1.0;
            double steps = row[j] < from_after ? row[j] : from_after;
            run[j] = steps;
            double term = steps * spacing;
            row[j] = term * term;
        }
        if (root)
            for (int64_t j = 0; j < count; j++) row[j] = sqrt(row[j]);
    }
}

/* ------------------------------------------------------- axes 1 and later */

/* The lower envelope of the parabolas f[i] + ((x - i) s)^2 over a line of n
 * values, evaluated at every x into dst[x * dst_stride].
 *
 * The tests are those of Maurer et al.'s algorithm as scipy.ndimage runs it
 * (ni_morphology.c, _VoronoiFT), written on the values f: a parabola is
 * dropped when the two around it hide it (a strict test: where three meet
 * at one point the middle one stays), and each x walks forward along the
 * envelope while the next parabola is strictly lower there. Where two
 * nearest sites are at the same true distance but their sums round apart,
 * the same site wins as in scipy, so the results stay bit-equal to it. */
/* Whether the parabola `top` of the envelope is hidden by its neighbour
 * before it and a new one at `position` (scipy's test; see above). */
static inline int hidden_between(const double *at, const double *height, int64_t top,
                                 double position, double value, double spacing)
{
    double a = (at[top] - at[top - 1]) * spacing, b = (position - at[top]) * spacing;
    double c = a + b;
    return c * height[top] - b * height[top - 1] - a * value - a * b * c > 0.0;
}

static inline double parabola(const double *at, const double *height, int64_t k, double x,
                              double spacing)
{
    double term = (at[k] - x) * spacing;
    return height[k] + term * term;
}

/* at and height hold n + 1 entries: the envelope's parabolas (root
 * positions, values there) and a sentinel that ends the walk. */
static void envelope_line(const double *restrict f, int64_t n, double spacing, int root,
                          double *restrict at, double *restrict height, double *restrict dst,
                          int64_t dst_stride)
{
    int64_t top = -1;
    /* A parabola above both neighbours' at its own root by more than s^2 is
     * strictly above one of them everywhere (they cross it once, on the far
     * side); the margin, relative 2^-30, keeps rounding from mattering. */
    double hidden = spacing * spacing * (1 + 0x1p-30);
    for (int64_t q = 0; q < n; q++) {
        double fq = f[q];
        if (fq == INFINITY) continue;
        if (q > 0 && q < n - 1) {
            double margin = hidden + fq * 0x1p-30;
            if (fq - f[q - 1] > margin && fq - f[q + 1] > margin) continue;
        }
        double position = (double)q;
        while (top >= 1 && hidden_between(at, height, top, position, fq, spacing)) top--;
        top++;
        at[top] = position;
        height[top] = fq;
    }
    if (top < 0) {
        for (int64_t x = 0; x < n; x++) dst[x * dst_stride] = INFINITY;
        return;
    }
    at[top + 1] = 0;
    height[top + 1] = INFINITY; /* never lower: the walk stops at top */
    int64_t k = 0;
    for (int64_t x = 0; x < n; x++) {
        double position = (double)x;
        double value = parabola(at, height, k, position, spacing);
        for (;;) {
            double next = parabola(at, height, k + 1, position, spacing);
            if (!(next < value)) break;
            value = next;
            k++;
        }
        dst[x * dst_stride] = root ? sqrt(value) : value;
    }
}

/* Contiguous lines (the last axis, or one followed by axes of length 1):
 * each is copied, then transformed in place. */
static void envelope_contiguous(const lk_grid *grid, int axis, int64_t first_line, int64_t count,
                                int root, double *out, const dt_scratch *s)
{
    int64_t n = grid->shape[axis];
    for (int64_t line = first_line; line < first_line + count; line++) {
        double *values = out + line * n;
        memcpy(s->lines, values, (size_t)n * sizeof(double));
        envelope_line(s->lines, n, grid->spacing[axis], root, s->at, s->height, values, 1);
    }
}

/* Up to LK_DT_BLOCK neighbouring lines along a middle axis: lines j0 ..
 * j0 + width - 1 of the slab `outer`. */
static void envelope_strided(const lk_grid *grid, int axis, int64_t outer, int64_t j0,
                             int64_t width, int root, double *out, const dt_scratch *s)
{
    int64_t n = grid->shape[axis], stride = axis_stride(grid, axis);
    double *base = out + outer * n * stride + j0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t b = 0; b < width; b++) s->lines[b * n + i] = base[i * stride + b];
    for (int64_t b = 0; b < width; b++)
        envelope_line(s->lines + b * n, n, grid->spacing[axis], root, s->at, s->height,
                      s->results + b * n, 1);
    for (int64_t i = 0; i < n; i++)
        for (int64_t b = 0; b < width; b++) base[i * stride + b] = s->results[b * n + i];
}

/* ------------------------------------------------------------- the passes */

/* One pass's work, cut into tasks. */
typedef struct dt_pass {
    const lk_grid *grid;
    int axis;
    int root;              /* the last pass writes distances */
    const uint8_t *site;   /* axis 0 */
    double *out;
    int64_t tasks;
    int64_t blocks_per_slab; /* middle axes: blocks of LK_DT_BLOCK lines per slab */
    int64_t lines_per_task;  /* last axis */
} dt_pass;

static void dt_pass_init(dt_pass *pass, const lk_grid *grid, int axis, const uint8_t *site,
                         lk_distance_output output, double *out)
{
    memset(pass, 0, sizeof *pass);
    pass->grid = grid;
    pass->axis = axis;
    pass->root = output == LK_DISTANCE_ROOT && axis == grid->ndim - 1;
    pass->site = site;
    pass->out = out;
    int64_t n = grid->shape[axis], stride = axis_stride(grid, axis);
    if (axis == 0) {
        pass->tasks = (stride + LK_DT_COLUMNS - 1) / LK_DT_COLUMNS;
    } else if (stride == 1) {
        pass->lines_per_task = n >= LK_DT_LINE_WORK ? 1 : LK_DT_LINE_WORK / n;
        int64_t lines = grid->numel / n;
        pass->tasks = (lines + pass->lines_per_task - 1) / pass->lines_per_task;
    } else {
        pass->blocks_per_slab = (stride + LK_DT_BLOCK - 1) / LK_DT_BLOCK;
        pass->tasks = grid->numel / (n * stride) * pass->blocks_per_slab;
    }
}

static void dt_pass_task(const dt_pass *pass, int64_t task, const dt_scratch *s)
{
    const lk_grid *grid = pass->grid;
    int64_t n = grid->shape[pass->axis], stride = axis_stride(grid, pass->axis);
    if (pass->axis == 0) {
        int64_t first = task * LK_DT_COLUMNS;
        int64_t count = stride - first < LK_DT_COLUMNS ? stride - first : LK_DT_COLUMNS;
        scan_columns(pass->site, n, stride, first, count, grid->spacing[0], grid->ndim == 1,
                     pass->out, s->run);
    } else if (stride == 1) {
        int64_t lines = grid->numel / n, first = task * pass->lines_per_task;
        int64_t count = lines - first < pass->lines_per_task ? lines - first : pass->lines_per_task;
        envelope_contiguous(grid, pass->axis, first, count, pass->root, pass->out, s);
    } else {
        int64_t outer = task / pass->blocks_per_slab;
        int64_t j0 = task % pass->blocks_per_slab * LK_DT_BLOCK;
        int64_t width = stride - j0 < LK_DT_BLOCK ? stride - j0 : LK_DT_BLOCK;
        envelope_strided(grid, pass->axis, outer, j0, width, pass->root, pass->out, s);
    }
}

void lk_distance_serial(const lk_grid *grid, const uint8_t *site, lk_distance_output output,
                        double *out, void *scratch)
{
    if (grid->numel == 0) return;
    dt_scratch s;
    dt_scratch_layout(grid, scratch, &s);
    for (int axis = 0; axis < grid->ndim; axis++) {
        dt_pass pass;
        dt_pass_init(&pass, grid, axis, site, output, out);
        for (int64_t task = 0; task < pass.tasks; task++) dt_pass_task(&pass, task, &s);
    }
}

typedef struct dt_parallel_job {
    dt_pass pass;
    char *scratch; /* one area per worker */
    size_t scratch_size;
} dt_parallel_job;

static void dt_parallel_task(void *arg, int64_t task, int worker)
{
    dt_parallel_job *job = arg;
    dt_scratch s;
    dt_scratch_layout(job->pass.grid, job->scratch + (size_t)worker * job->scratch_size, &s);
    dt_pass_task(&job->pass, task, &s);
}

lk_status lk_distance_parallel(lk_context *ctx, const lk_grid *grid, const uint8_t *site,
                               lk_distance_output output, double *out)
{
    if (grid->numel == 0) return LK_OK;
    dt_parallel_job job;
    job.scratch_size = lk_distance_scratch_size(grid);
    int workers = lk_context_threads(ctx);
    job.scratch = aligned_alloc(LK_SCRATCH_ALIGN, (size_t)workers * job.scratch_size);
    if (!job.scratch) return lk_fail(LK_ENOMEM, "out of memory for distance transform scratch");
    for (int axis = 0; axis < grid->ndim; axis++) {
        dt_pass_init(&job.pass, grid, axis, site, output, out);
        lk_parallel_for_items(ctx, job.pass.tasks, grid->numel, dt_parallel_task, &job);
    }
    free(job.scratch);
    return LK_OK;
}
