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
 * "axes 1 and later"), so the result is the double scipy.ndimage's
 * distance_transform_edt computes from the feature transform it finds, bit
 * for bit, ties included. Elements with f = +inf (no site on the line so far)
 * root no parabola.
 *
 * Layout: the axis-0 scan runs over whole rows (all other axes at once), so
 * it is contiguous and vectorized. Envelopes are built LK_DT_LANES lines at
 * a time (see "Speed" below). Along the last axis they read contiguous
 * lines; along a middle axis, LK_DT_LANES neighbouring lines are gathered
 * into a buffer, transformed, and scattered back row by row, so every
 * memory access moves whole cache lines. The last pass writes the output
 * (float64 or float32, distances or squared). Lines are independent: the
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

#define LK_DT_COLUMNS 2048   /* axis-0 scan: columns per task */
#define LK_DT_LANES 8        /* lines built together; middle axes: a cache line of doubles */
#define LK_DT_LINE_WORK 4096 /* last axis: about this many elements per task */
#define LK_DT_STACK_SLACK 2  /* the floor under each stack (see envelope_lane) */

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
    double *run;   /* [LK_DT_COLUMNS] axis-0 scan: distance so far, per column */
    double *lines; /* [LK_DT_LANES][longest] gathered strided lines */
    uint8_t *keep; /* [longest] which elements of a line are candidates */
    struct dt_root *candidate[LK_DT_LANES]; /* [longest] each lane's candidates */
    struct dt_root *stack[LK_DT_LANES];     /* [slack + longest + 1] each lane's envelope */
} dt_scratch;

static size_t dt_scratch_layout(const lk_grid *grid, void *base, dt_scratch *s)
{
    size_t longest = (size_t)longest_axis(grid);
    size_t root = 2 * sizeof(double);
    lk_scratch area = {base, 0};
    s->run = lk_scratch_take(&area, LK_DT_COLUMNS * sizeof(double));
    s->lines = lk_scratch_take(&area, LK_DT_LANES * longest * sizeof(double));
    s->keep = lk_scratch_take(&area, longest);
    for (int b = 0; b < LK_DT_LANES; b++) {
        s->candidate[b] = lk_scratch_take(&area, longest * root);
        s->stack[b] = lk_scratch_take(&area, (LK_DT_STACK_SLACK + longest + 1) * root);
    }
    return lk_scratch_size(&area);
}

size_t lk_distance_scratch_size(const lk_grid *grid)
{
    dt_scratch unused;
    return dt_scratch_layout(grid, NULL, &unused);
}

/* What the last pass writes, and where. */
typedef struct dt_target {
    void *data;     /* the final image */
    lk_dtype dtype; /* LK_F32 or LK_F64 */
    int root;       /* distances (else squared distances) */
} dt_target;

/* count elements of the final image from `first` on: squared distances, or
 * their roots, in the target's dtype. squared may be the target itself. */
LK_HOT static void finish_elements(const double *squared, int64_t count, const dt_target *target,
                                   int64_t first)
{
    if (target->dtype == LK_F32) {
        float *dst = (float *)target->data + first;
        if (target->root)
            for (int64_t i = 0; i < count; i++) dst[i] = (float)sqrt(squared[i]);
        else
            for (int64_t i = 0; i < count; i++) dst[i] = (float)squared[i];
    } else {
        double *dst = (double *)target->data + first;
        if (target->root)
            for (int64_t i = 0; i < count; i++) dst[i] = sqrt(squared[i]);
        else if (dst != squared)
            memcpy(dst, squared, (size_t)count * sizeof(double));
    }
}

/* ---------------------------------------------------------------- axis 0 */

/* Columns [first, first + count) of the (n0, columns) view: distance in
 * elements to the nearest site of the column, forward then backward, then
 * the squared term. */
LK_HOT static void scan_columns(const uint8_t *restrict site, int64_t n0, int64_t columns,
                                int64_t first, int64_t count, double spacing,
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
    }
}

/* ------------------------------------------------------- axes 1 and later */

/* The lower envelope of the parabolas f[i] + ((x - i) s)^2 over a line of n
 * values, evaluated at every x, in three steps:
 *
 *   candidates  the elements that may root a parabola of the envelope, in
 *               order: not +inf, and not hidden by both neighbours (below);
 *   build       the envelope, a stack of parabolas: each candidate pops the
 *               top while the parabola before the top and the candidate
 *               hide it, then is pushed;
 *   walk        each x walks forward along the envelope while the next
 *               parabola is strictly lower there.
 *
 * The tests of build and walk are those of Maurer et al.'s algorithm as
 * scipy.ndimage runs it (ni_morphology.c, _VoronoiFT), written on the
 * values f: a parabola is dropped when the two around it hide it (a strict
 * test: where three meet at one point the middle one stays), and the walk
 * moves on only to a strictly lower parabola. Where two nearest sites are at
 * the same true distance but their sums round apart, the same site wins as
 * in scipy, so the results stay bit-equal to it.
 *
 * Speed: the build's pops depend on the data and mispredict about once per
 * candidate; a branch-free step on one line instead waits on its own chain
 * (stack load, the test's products, the new top). So LK_DT_LANES lines are
 * built in lock-step, one branch-free step of each per round: their chains
 * are independent and overlap. The candidates are selected branch-free too,
 * which takes the +inf and pruning branches out of the build. The walk
 * stays branchy: its branch is mostly predicted, and the same lock-step
 * for it measured 15-25% slower. Runs of sites, the bulk of segmentation
 * masks, are left out of the build and jumped over by the walk. */

/* A parabola: its root's position on the line, and its value there. */
typedef struct dt_root {
    double at, height;
} dt_root;

/* Whether the parabola `middle` is hidden by the one before it and a new
 * one `next` (scipy's test; see above). */
static inline int hidden_between(dt_root before, dt_root middle, dt_root next, double spacing)
{
    double a = (middle.at - before.at) * spacing, b = (next.at - middle.at) * spacing;
    double c = a + b;
    return c * middle.height - b * before.height - a * next.height - a * b * c > 0.0;
}

static inline double parabola(dt_root root, double x, double spacing)
{
    double term = (root.at - x) * spacing;
    return root.height + term * term;
}

/* Whether f[q] (finite), between f[q - 1] and f[q + 1], is hidden by both:
 * a parabola above both neighbours' at its own root by more than s^2 is
 * strictly above one of them everywhere (they cross it once, on the far
 * side); the margin, relative 2^-30, keeps rounding from mattering. */
static inline int above_both(double before, double fq, double after, double hidden)
{
    double margin = hidden + fq * 0x1p-30;
    return (fq - before > margin) & (fq - after > margin);
}

/* Whether f[q] roots no parabola the walk needs: +inf, hidden by both
 * neighbours, or a 0 between two 0s. A 0 is never popped (the test's sum
 * is then a sum of non-positive products), so a run of 0s from p to r
 * leaves p and r on the stack whatever lies between; the parabolas in
 * between are the lowest only at their own roots, where the walk keeps
 * the 0 it finds in the line (walk_envelope). Sites of the earlier axes
 * come in long runs of 0s, which cost the build nothing this way. */
static inline int needless(double before, double fq, double after, double hidden)
{
    int zero_run = (fq == 0) & (before == 0) & (after == 0);
    return (fq == INFINITY) | zero_run | above_both(before, fq, after, hidden);
}

/* The candidates of a line of n values (n slots); returns their count.
 * First which to keep, a vectorized loop into keep[n]; then each element
 * is stored at the next slot, which moves on when it is kept (no branch). */
LK_HOT static int64_t line_candidates(const double *restrict f, int64_t n, double spacing,
                                      uint8_t *restrict keep, dt_root *restrict candidate)
{
    double hidden = spacing * spacing * (1 + 0x1p-30);
    keep[0] = (uint8_t)(f[0] != INFINITY);
    for (int64_t q = 1; q < n - 1; q++) keep[q] = (uint8_t)!needless(f[q - 1], f[q], f[q + 1], hidden);
    keep[n - 1] = (uint8_t)(f[n - 1] != INFINITY);
    int64_t count = 0;
    for (int64_t q = 0; q < n; q++) {
        candidate[count] = (dt_root){(double)q, f[q]};
        count += keep[q];
    }
    return count;
}

/* One line's envelope under construction: a stack of parabolas. Below it
 * lie LK_DT_STACK_SLACK parabolas rooted at -inf, for which the hidden
 * test is never true (it gives NaN or -inf), so that the build needs no
 * check for a stack of fewer than two. */
typedef struct envelope_lane {
    const dt_root *candidate; /* the line's candidates */
    int64_t count, taken;     /* how many, and how many pushed so far */
    dt_root *stack;
    int64_t top; /* the last parabola on the stack; -1: none */
} envelope_lane;

static void lane_start(envelope_lane *lane, const dt_root *candidate, int64_t count,
                       dt_root *stack_area)
{
    for (int k = 0; k < LK_DT_STACK_SLACK; k++) stack_area[k] = (dt_root){-INFINITY, 0};
    lane->candidate = candidate;
    lane->count = count;
    lane->taken = 0;
    lane->stack = stack_area + LK_DT_STACK_SLACK;
    lane->top = -1;
}

/* One step of the build: pop the top if hidden, else push the next
 * candidate. Branch-free: the candidate is always written above the top,
 * where it is either the pushed entry or nothing. */
static inline void lane_step(envelope_lane *lane, double spacing)
{
    int64_t top = lane->top, taken = lane->taken;
    dt_root next = lane->candidate[taken];
    int pop = hidden_between(lane->stack[top - 1], lane->stack[top], next, spacing);
    lane->stack[top + 1] = next;
    lane->top = top + 1 - 2 * pop;
    lane->taken = taken + 1 - pop;
}

/* The envelopes of `width` lanes, built in lock-step: a lane with r
 * candidates left has at least r steps left, so every lane can take as
 * many steps as the fewest candidates left, without a check per step;
 * finished lanes leave the round. */
static void build_envelopes(envelope_lane *lanes, int width, double spacing)
{
    envelope_lane *busy[LK_DT_LANES];
    int busy_count = 0;
    for (int b = 0; b < width; b++)
        if (lanes[b].count > 0) busy[busy_count++] = &lanes[b];
    while (busy_count > 0) {
        int64_t steps = INT64_MAX;
        for (int b = 0; b < busy_count; b++) {
            int64_t left = busy[b]->count - busy[b]->taken;
            if (left < steps) steps = left;
        }
        for (int64_t step = 0; step < steps; step++)
            for (int b = 0; b < busy_count; b++) lane_step(busy[b], spacing);
        int kept = 0;
        for (int b = 0; b < busy_count; b++)
            if (busy[b]->taken < busy[b]->count) busy[kept++] = busy[b];
        busy_count = kept;
    }
}

/* The squared distances of a lane's line into line[0 .. n - 1], which
 * holds the values its candidates came from: where it holds 0 (a site,
 * which may have been left out of the candidates) it keeps it, and runs of
 * sites are jumped over. */
static void walk_envelope(const envelope_lane *lane, int64_t n, double spacing,
                          double *restrict line)
{
    dt_root *stack = lane->stack;
    int64_t top = lane->top;
    if (top < 0) {
        for (int64_t x = 0; x < n; x++) line[x] = INFINITY;
        return;
    }
    stack[top + 1] = (dt_root){0, INFINITY}; /* never lower: the walk stops at top */
    int64_t k = 0;
    for (int64_t x = 0; x < n; x++) {
        double position = (double)x;
        double value = parabola(stack[k], position, spacing);
        for (;;) {
            double next = parabola(stack[k + 1], position, spacing);
            if (!(next < value)) break;
            value = next;
            k++;
        }
        if (line[x] != 0) {
            line[x] = value;
        } else if (x + 1 < n && line[x + 1] == 0 && stack[k].at == position &&
                   stack[k + 1].height == 0) {
            /* the first site of a run: its last is the next parabola (those
             * between root none, see needless), the sites between keep their 0 */
            k++;
            x = (int64_t)stack[k].at - 1;
        }
    }
}

/* Starts lane b on the line f of n values. */
static void lane_on_line(envelope_lane *lane, int b, const double *f, int64_t n, double spacing,
                         const dt_scratch *s)
{
    int64_t count = line_candidates(f, n, spacing, s->keep, s->candidate[b]);
    lane_start(lane, s->candidate[b], count, s->stack[b]);
}

/* Contiguous lines first .. first + count - 1 (the last axis, or one
 * followed by axes of length 1), LK_DT_LANES at a time: each is read into
 * its candidates, then overwritten by its envelope; in the last pass
 * (last != NULL) each then goes to the target. */
static void envelope_contiguous(const lk_grid *grid, int axis, int64_t first, int64_t count,
                                const dt_target *last, double *out, const dt_scratch *s)
{
    int64_t n = grid->shape[axis], end = first + count;
    double spacing = grid->spacing[axis];
    envelope_lane lanes[LK_DT_LANES];
    for (int64_t group = first; group < end; group += LK_DT_LANES) {
        int width = end - group < LK_DT_LANES ? (int)(end - group) : LK_DT_LANES;
        for (int b = 0; b < width; b++)
            lane_on_line(&lanes[b], b, out + (group + b) * n, n, spacing, s);
        build_envelopes(lanes, width, spacing);
        for (int b = 0; b < width; b++) {
            double *line = out + (group + b) * n;
            walk_envelope(&lanes[b], n, spacing, line);
            if (last) finish_elements(line, n, last, (group + b) * n);
        }
    }
}

/* Up to LK_DT_LANES neighbouring lines along a middle axis, lines j0 ..
 * j0 + width - 1 of the slab `outer`: gathered row by row, built together,
 * scattered back row by row, so every memory access moves whole cache lines. */
static void envelope_strided(const lk_grid *grid, int axis, int64_t outer, int64_t j0, int width,
                             double *out, const dt_scratch *s)
{
    int64_t n = grid->shape[axis], stride = axis_stride(grid, axis);
    double spacing = grid->spacing[axis];
    double *base = out + outer * n * stride + j0;
    for (int64_t i = 0; i < n; i++)
        for (int b = 0; b < width; b++) s->lines[b * n + i] = base[i * stride + b];
    envelope_lane lanes[LK_DT_LANES];
    for (int b = 0; b < width; b++) lane_on_line(&lanes[b], b, s->lines + b * n, n, spacing, s);
    build_envelopes(lanes, width, spacing);
    for (int b = 0; b < width; b++) walk_envelope(&lanes[b], n, spacing, s->lines + b * n);
    for (int64_t i = 0; i < n; i++)
        for (int b = 0; b < width; b++) base[i * stride + b] = s->lines[b * n + i];
}

/* ------------------------------------------------------------- the passes */

/* One pass's work, cut into tasks. */
typedef struct dt_pass {
    const lk_grid *grid;
    int axis;
    const dt_target *last; /* the last pass: where it writes; else NULL */
    const uint8_t *site;   /* axis 0 */
    double *out;           /* the working image, squared distances so far */
    int64_t tasks;
    int64_t blocks_per_slab; /* middle axes: blocks of LK_DT_LANES lines per slab */
    int64_t lines_per_task;  /* last axis */
} dt_pass;

static void dt_pass_init(dt_pass *pass, const lk_grid *grid, int axis, const uint8_t *site,
                         const dt_target *target, double *out)
{
    memset(pass, 0, sizeof *pass);
    pass->grid = grid;
    pass->axis = axis;
    pass->last = axis == grid->ndim - 1 ? target : NULL;
    pass->site = site;
    pass->out = out;
    int64_t n = grid->shape[axis], stride = axis_stride(grid, axis);
    if (axis == 0) {
        pass->tasks = (stride + LK_DT_COLUMNS - 1) / LK_DT_COLUMNS;
    } else if (stride == 1) {
        int64_t groups = (LK_DT_LINE_WORK / LK_DT_LANES + n - 1) / n;
        pass->lines_per_task = groups * LK_DT_LANES;
        int64_t lines = grid->numel / n;
        pass->tasks = (lines + pass->lines_per_task - 1) / pass->lines_per_task;
    } else {
        pass->blocks_per_slab = (stride + LK_DT_LANES - 1) / LK_DT_LANES;
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
        scan_columns(pass->site, n, stride, first, count, grid->spacing[0], pass->out, s->run);
        if (pass->last) finish_elements(pass->out, n, pass->last, 0); /* 1-D: one column */
    } else if (stride == 1) {
        int64_t lines = grid->numel / n, first = task * pass->lines_per_task;
        int64_t count = lines - first < pass->lines_per_task ? lines - first : pass->lines_per_task;
        envelope_contiguous(grid, pass->axis, first, count, pass->last, pass->out, s);
    } else {
        int64_t outer = task / pass->blocks_per_slab;
        int64_t j0 = task % pass->blocks_per_slab * LK_DT_LANES;
        int width = stride - j0 < LK_DT_LANES ? (int)(stride - j0) : LK_DT_LANES;
        envelope_strided(grid, pass->axis, outer, j0, width, pass->out, s);
    }
}

static dt_target target_of(lk_distance_output output, lk_dtype dtype, void *final)
{
    dt_target target = {final, dtype, output == LK_DISTANCE_ROOT};
    return target;
}

void lk_distance_serial_into(const lk_grid *grid, const uint8_t *site, lk_distance_output output,
                             double *work, lk_dtype dtype, void *final, void *scratch)
{
    if (grid->numel == 0) return;
    dt_scratch s;
    dt_scratch_layout(grid, scratch, &s);
    dt_target target = target_of(output, dtype, final);
    for (int axis = 0; axis < grid->ndim; axis++) {
        dt_pass pass;
        dt_pass_init(&pass, grid, axis, site, &target, work);
        for (int64_t task = 0; task < pass.tasks; task++) dt_pass_task(&pass, task, &s);
    }
}

void lk_distance_serial(const lk_grid *grid, const uint8_t *site, lk_distance_output output,
                        double *out, void *scratch)
{
    lk_distance_serial_into(grid, site, output, out, LK_F64, out, scratch);
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

lk_status lk_distance_parallel_into(lk_context *ctx, const lk_grid *grid, const uint8_t *site,
                                    lk_distance_output output, double *work, lk_dtype dtype,
                                    void *final)
{
    if (grid->numel == 0) return LK_OK;
    dt_parallel_job job;
    job.scratch_size = lk_distance_scratch_size(grid);
    int workers = lk_context_threads(ctx);
    job.scratch = aligned_alloc(LK_SCRATCH_ALIGN, (size_t)workers * job.scratch_size);
    if (!job.scratch) return lk_fail(LK_ENOMEM, "out of memory for distance transform scratch");
    dt_target target = target_of(output, dtype, final);
    for (int axis = 0; axis < grid->ndim; axis++) {
        dt_pass_init(&job.pass, grid, axis, site, &target, work);
        lk_parallel_for_items(ctx, job.pass.tasks, grid->numel, dt_parallel_task, &job);
    }
    free(job.scratch);
    return LK_OK;
}

lk_status lk_distance_parallel(lk_context *ctx, const lk_grid *grid, const uint8_t *site,
                               lk_distance_output output, double *out)
{
    return lk_distance_parallel_into(ctx, grid, site, output, out, LK_F64, out);
}
