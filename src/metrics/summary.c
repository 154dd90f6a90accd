/*
 * The metrics of one (image, class) pair, from its counts |P & G|, |P|, |G|
 * and its two lists of surface distances (see include/losskit.h for the
 * formulas and docs/metrics.md for the references each rule reproduces).
 *
 * Percentiles, as the references compute them, from the lists sorted by
 * (distance, weight):
 *   linear          (torch.quantile; np.percentile's default 'linear')
 *                   rank = q (n - 1), t = rank - floor(rank), between the
 *                   sorted values a and b at floor(rank) and the next:
 *                   a + (b - a) t when t < 0.5, else b - (b - a)(1 - t);
 *   first crossing  (DeepMind, np.searchsorted on the cumulative weight
 *                   fraction) the first value whose running weight sum is
 *                   >= q times the total, ties up to rounding included (see
 *                   first_crossing); the last if none.
 * Sums run in list order (the elements' order in the image), so a metric's
 * value does not depend on the others asked for; the references sum in
 * other orders (numpy pairwise, torch in float32): the last bits differ.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "metrics/metrics.h"

int lk_metric_sorts(lk_metric metric)
{
    return metric == LK_METRIC_HAUSDORFF_PERCENTILE;
}

static double ratio_or(int64_t numerator, int64_t denominator, double if_empty)
{
    return denominator == 0 ? if_empty : (double)numerator / (double)denominator;
}

static int by_distance_then_weight(const void *a, const void *b)
{
    const lk_surface_point *p = a, *q = b;
    if (p->distance != q->distance) return p->distance < q->distance ? -1 : 1;
    if (p->weight != q->weight) return p->weight < q->weight ? -1 : 1;
    return 0;
}

static void sort_points(lk_surface_point *points, int64_t count)
{
    qsort(points, (size_t)count, sizeof *points, by_distance_then_weight);
}

static double linear_percentile(const lk_surface_point *sorted, int64_t count, double fraction)
{
    double rank = fraction * (double)(count - 1), below = floor(rank), t = rank - below;
    int64_t lower = (int64_t)below, upper = lower + 1 < count ? lower + 1 : count - 1;
    double a = sorted[lower].distance, b = sorted[upper].distance, difference = b - a;
    return t >= 0.5 ? b - difference * (1 - t) : a + difference * t;
}

/* Neumaier's compensated sum: within about one rounding of the exact sum of
 * positive terms, however many. */
typedef struct compensated_sum {
    double sum, correction;
} compensated_sum;

static void add_compensated(compensated_sum *s, double x)
{
    double t = s->sum + x;
    s->correction += fabs(s->sum) >= fabs(x) ? (s->sum - t) + x : (x - t) + s->sum;
    s->sum = t;
}

static double compensated_value(const compensated_sum *s)
{
    return s->sum + s->correction;
}

/* A running weight within CROSSING_TIE (relative to the total) of q times
 * the total reaches q: a cumulative weight that equals q of the total in
 * exact arithmetic (symmetric surfaces, plates, boxes: half of the surfels
 * nearer than the rest) counts as reaching it whatever the rounding, as it
 * does in DeepMind's np.cumsum when its sums happen to be exact. */
#define CROSSING_TIE (32 * DBL_EPSILON)

static double first_crossing(const lk_surface_point *sorted, int64_t count, double fraction)
{
    compensated_sum total = {0, 0}, running = {0, 0};
    for (int64_t i = 0; i < count; i++) add_compensated(&total, sorted[i].weight);
    double target = fraction * compensated_value(&total), slack = CROSSING_TIE * compensated_value(&total);
    for (int64_t i = 0; i < count; i++) {
        add_compensated(&running, sorted[i].weight);
        if (compensated_value(&running) >= target - slack) return sorted[i].distance;
    }
    return sorted[count - 1].distance;
}

static double percentile(lk_surface_pair *pair, const lk_metric_options *options)
{
    double fraction = options->percentile / 100;
    if (options->percentile_rule == LK_PERCENTILE_POOLED) {
        int64_t count = pair->n_pred + pair->n_target;
        sort_points(pair->pred, count); /* the two lists are contiguous */
        return linear_percentile(pair->pred, count, fraction);
    }
    sort_points(pair->pred, pair->n_pred);
    sort_points(pair->target, pair->n_target);
    double (*pick)(const lk_surface_point *, int64_t, double) =
        options->percentile_rule == LK_PERCENTILE_AREA_WEIGHTED ? first_crossing : linear_percentile;
    return fmax(pick(pair->pred, pair->n_pred, fraction), pick(pair->target, pair->n_target, fraction));
}

typedef struct weighted_sums {
    double distance; /* sum of w d */
    double weight;   /* sum of w */
    double within;   /* sum of w where d <= tolerance */
    double largest;  /* max d */
} weighted_sums;

static void add_points(const lk_surface_point *points, int64_t count, double tolerance,
                       weighted_sums *sums)
{
    for (int64_t i = 0; i < count; i++) {
        double d = points[i].distance, w = points[i].weight;
        sums->distance += w * d;
        sums->weight += w;
        if (d <= tolerance) sums->within += w;
        if (d > sums->largest) sums->largest = d;
    }
}

/* HD, ASD, ASSD, NSD of two non-empty surfaces. */
static double surface_sum_metric(lk_metric metric, const lk_surface_pair *pair,
                                 const lk_metric_options *options, double tolerance)
{
    weighted_sums pred = {0, 0, 0, 0}, target = {0, 0, 0, 0}, both;
    add_points(pair->pred, pair->n_pred, tolerance, &pred);
    both = pred; /* the concatenation, summed in one run */
    add_points(pair->target, pair->n_target, tolerance, &both);
    if (metric == LK_METRIC_HAUSDORFF) return both.largest;
    if (metric == LK_METRIC_ASD) return pred.distance / pred.weight;
    if (metric == LK_METRIC_NSD) return both.within / both.weight;
    if (options->assd_rule == LK_ASSD_CONCATENATED) return both.distance / both.weight;
    add_points(pair->target, pair->n_target, tolerance, &target);
    return (pred.distance / pred.weight + target.distance / target.weight) / 2;
}

double lk_pair_metric(lk_metric metric, const lk_pair_counts *counts, lk_surface_pair *pair,
                      const lk_metric_options *options, double tolerance)
{
    int64_t both = counts->both, pred = counts->pred, target = counts->target;
    switch (metric) {
    case LK_METRIC_DICE: return ratio_or(2 * both, pred + target, options->empty_overlap);
    case LK_METRIC_IOU: return ratio_or(both, pred + target - both, options->empty_overlap);
    case LK_METRIC_PRECISION: return ratio_or(both, pred, NAN);
    case LK_METRIC_RECALL: return ratio_or(both, target, NAN);
    case LK_METRIC_HAUSDORFF:
    case LK_METRIC_HAUSDORFF_PERCENTILE:
    case LK_METRIC_ASSD:
    case LK_METRIC_ASD:
    case LK_METRIC_NSD:
        if (pred == 0 && target == 0) return NAN;
        if (pred == 0 || target == 0) return metric == LK_METRIC_NSD ? 0 : INFINITY;
        if (metric == LK_METRIC_HAUSDORFF_PERCENTILE) return percentile(pair, options);
        return surface_sum_metric(metric, pair, options, tolerance);
    }
    return NAN; /* not an lk_metric: lk_metrics_compute rejects those */
}
