/*
 * Connectionist Temporal Classification — torch.nn.functional.ctc_loss.
 *
 *   For item n with log-probabilities lp[t, k] (t < T_n = input_lengths[n])
 *   and labels l = targets[n, :L] (L = target_lengths[n]), the extended
 *   sequence l' = (blank, l_1, blank, l_2, ..., l_L, blank) has S' = 2L + 1
 *   states. With y_t(s) = exp(lp[t, l'_s]) (beta includes step t, as in
 *   PyTorch):
 *
 *     alpha_0(0) = y_0(0),  alpha_0(1) = y_0(1)
 *     alpha_t(s) = (alpha_{t-1}(s) + alpha_{t-1}(s-1) + [skip(s)] alpha_{t-1}(s-2)) y_t(s)
 *     beta_{T-1}(S'-1) = y_{T-1}(S'-1),  beta_{T-1}(S'-2) = y_{T-1}(S'-2)
 *     beta_t(s)  = (beta_{t+1}(s) + beta_{t+1}(s+1) + [skip(s+2)] beta_{t+1}(s+2)) y_t(s)
 *     skip(s) = l'_s != blank and l'_s != l'_{s-2}
 *
 *     p = alpha_{T-1}(S'-1) + alpha_{T-1}(S'-2),  loss_n = -log p
 *     gamma_t(s) = alpha_t(s) beta_t(s) / (y_t(s) p)
 *     d loss_n / d lp[t, k] = -sum_{s : l'_s = k} gamma_t(s)
 *
 *   The recursions run on probabilities held as mantissa x 2^exponent with a
 *   wide (double) exponent: nothing underflows, however long the sequence or
 *   peaked the distribution, and no exp or log is taken per state (see
 *   "wide-exponent arithmetic" below). That is what makes it several times
 *   faster than the log-space recursion PyTorch runs, at the same accuracy.
 *
 *   reduction mean: (1/N) sum_n loss_n / max(L_n, 1); sum: sum_n loss_n;
 *   none: loss_n, shape (N,).
 *
 * Reference: Graves, Fernandez, Gomez, Schmidhuber, "Connectionist Temporal
 * Classification: Labelling Unsegmented Sequence Data with Recurrent Neural
 * Networks", ICML 2006; the argument conventions are PyTorch's F.ctc_loss.
 *
 * Inputs: log_probs (T, N, C), the log-softmax of the network's scores (not
 * renormalized here); targets padded (N, S) or concatenated (sum L_n,);
 * input_lengths (N,) in [0, T]; target_lengths (N,) in [0, S].
 *
 * Conventions:
 *   - The gradient is the exact partial derivative of the loss with respect
 *     to log_probs, -gamma_t(k) (the occupation of class k at step t), which
 *     finite differences confirm. PyTorch's native backward returns
 *     exp(lp) - gamma instead: the same gradient once it passes through
 *     log_softmax (whose backward removes any per-step constant times the
 *     softmax), but not the partial derivative with respect to log_probs
 *     themselves. With log_probs = log_softmax(logits), the logits' gradients
 *     are identical.
 *   - An alignment that is impossible (T_n < L + the number of repeated
 *     neighbours in l) has loss +inf, and its gradient is 0 (PyTorch's is
 *     NaN); zero_infinity=true sets such losses to 0, as PyTorch does.
 *   - log_probs may hold -inf (probability 0); NaN and +inf are refused.
 *     Finite values below -700000 are read as -700000 (the argument
 *     reduction of exp is exact above it).
 *     Steps t >= T_n are not read by the loss and get gradient 0.
 *   - targets beyond L_n in a padded row are padding and are not read; the
 *     labels read must lie in [0, C) and differ from blank. Concatenated
 *     targets must hold exactly sum L_n labels.
 *   - Computed in float64 whatever the input dtype; items run in parallel and
 *     the batch sum is taken in item order, so the result does not depend on
 *     the thread count.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/hot.h"
#include "core/items.h"
#include "core/loss.h"
#include "core/scratch.h"
#include "core/vecmath.h"

#define LK_LN2 0.69314718055994530942

enum { P_BLANK, P_REDUCTION, P_ZERO_INFINITY, P_COUNT };
enum { IN_LOG_PROBS, IN_TARGETS, IN_INPUT_LENGTHS, IN_TARGET_LENGTHS, IN_COUNT };

/* Probabilities are held in a wide-exponent form: value = mantissa * 2^exponent,
 * the mantissa 0 or in [1, 2), the exponent an integral double (ZERO_EXPONENT
 * for 0). The recursions are then sums and products of probabilities, as in
 * Graves's linear-space algorithm, but nothing underflows however improbable a
 * state gets (a double's own exponent would at 2^-1074), and no exp or log is
 * taken per state: the log-space recursion's three transcendental functions
 * per state and step are what make it slow. Sums of positive terms and
 * products lose no accuracy: relative errors grow by a few ulp per step. */
#define ZERO_EXPONENT (-1e300)
/* exp's argument reduction is exact above this; a log-probability below it
 * (a probability below e^-700000) is read as it. */
#define LOG_PROB_FLOOR (-7.0e5)

typedef struct ctc_job {
    const lk_call *call;
    int64_t steps, batch, classes;
    int64_t blank;
    int64_t max_states;       /* 2 max L + 1 */
    int64_t *target_offsets;  /* first label of item n in targets' flat data */
    double *item_losses;      /* -log p(l | x), or +inf when impossible */
    double *gradient_scales;  /* d (reported loss) / d loss_n */
} ctc_job;

/* A row of wide-exponent numbers. */
typedef struct wide_row {
    double *mantissa, *exponent;
} wide_row;

/* ------------------------------------------------------------ wide-exponent arithmetic */

/* 2^d for an integral d in [-1023, 1023]: 0 for d = -1023, which d is clamped to. */
static inline double power_of_two(double d)
{
    return lk_exp2_integer_f64(d > -1023.0 ? d : -1023.0);
}

/* exp(lp) in wide form. */
static inline void wide_exp(double lp, double *mantissa, double *exponent)
{
    double n, x = lp > LOG_PROB_FLOOR ? lp : LOG_PROB_FLOOR;
    double p = lk_exp_polynomial_f64(lk_exp_reduce_f64(x, &n)); /* in [sqrt(1/2), sqrt(2)] */
    int below_one = p < 1.0;
    *mantissa = lp == -INFINITY ? 0.0 : below_one ? 2.0 * p : p;
    *exponent = lp == -INFINITY ? ZERO_EXPONENT : below_one ? n - 1.0 : n;
}

/* (a + b + c) * y in wide form; every mantissa is 0 or in [1, 2), so the
 * largest term's is at least 1 and the product v lies in [1, 12) or is 0. */
static inline void wide_sum3_times(double am, double ae, double bm, double be, double cm, double ce,
                                   double ym, double ye, double *mantissa, double *exponent)
{
    double top = ae > be ? ae : be;
    top = top > ce ? top : ce;
    double v = (am * power_of_two(ae - top) + bm * power_of_two(be - top) + cm * power_of_two(ce - top)) * ym;
    double octaves = (v >= 2.0 ? 1.0 : 0.0) + (v >= 4.0 ? 1.0 : 0.0) + (v >= 8.0 ? 1.0 : 0.0);
    double normalized = lk_from_bits_f64((lk_bits_f64(v) & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull);
    *mantissa = v > 0 ? normalized : 0.0;
    *exponent = v > 0 ? top + ye + octaves : ZERO_EXPONENT;
}

/* ------------------------------------------------------------ the recursions */

/* Rows of alpha carry two zero pads in front (row[s + 2] = alpha_t(s)), rows
 * of beta two behind (row[s] = beta_t(s)), so that the recursions read their
 * neighbours without bounds tests. */
#define PADS 2

/* alpha_t(s) = (alpha_{t-1}(s) + alpha_{t-1}(s-1) + [skip(s)] alpha_{t-1}(s-2)) y_t(s).
 * (Raw restrict parameters, not rows: GCC honours restrict on parameters, and
 * without it the loop does not vectorize for the aliasing tests it needs.) */
LK_HOT static void alpha_step(const double *restrict pm, const double *restrict pe,
                              const double *restrict ym, const double *restrict ye,
                              const double *restrict skip, int64_t states, double *restrict om,
                              double *restrict oe)
{
    for (int64_t s = 0; s < states; s++) {
        double two_back_mantissa = pm[s], two_back_exponent = pe[s]; /* loaded always: no masked loads */
        double cm = skip[s] != 0 ? two_back_mantissa : 0.0;
        double ce = skip[s] != 0 ? two_back_exponent : ZERO_EXPONENT;
        wide_sum3_times(pm[s + 2], pe[s + 2], pm[s + 1], pe[s + 1], cm, ce, ym[s], ye[s], &om[s + PADS],
                        &oe[s + PADS]);
    }
}

/* beta_t(s) = (beta_{t+1}(s) + beta_{t+1}(s+1) + [skip(s+2)] beta_{t+1}(s+2)) y_t(s) */
LK_HOT static void beta_step(const double *restrict nm, const double *restrict ne,
                             const double *restrict ym, const double *restrict ye,
                             const double *restrict skip, int64_t states, double *restrict om,
                             double *restrict oe)
{
    for (int64_t s = 0; s < states; s++) {
        double two_ahead_mantissa = nm[s + 2], two_ahead_exponent = ne[s + 2];
        double cm = skip[s + 2] != 0 ? two_ahead_mantissa : 0.0;
        double ce = skip[s + 2] != 0 ? two_ahead_exponent : ZERO_EXPONENT;
        wide_sum3_times(nm[s], ne[s], nm[s + 1], ne[s + 1], cm, ce, ym[s], ye[s], &om[s], &oe[s]);
    }
}

/* gamma_t(s) = alpha_t(s) beta_t(s) / (y_t(s) p): the probability that an
 * alignment is in state s at step t (beta includes y_t, hence the division). */
LK_HOT static void state_occupation(const double *restrict am, const double *restrict ae,
                                    const double *restrict bm, const double *restrict be,
                                    const double *restrict ym, const double *restrict ye,
                                    double p_mantissa, double p_exponent, int64_t states,
                                    double *restrict occupation)
{
    for (int64_t s = 0; s < states; s++) {
        double denominator = ym[s] * p_mantissa; /* 0 only where y = 0, and then alpha = 0 */
        double ratio = am[s] * bm[s] / (denominator > 0 ? denominator : 1.0);
        double octaves = ae[s] + be[s] - ye[s] - p_exponent;
        occupation[s] = ratio * power_of_two(octaves < 1023.0 ? octaves : 1023.0);
    }
}

/* ------------------------------------------------------------ one item */

typedef struct item_memory {
    wide_row y;              /* (T_n, S'): exp(lp[t, l'_s]) */
    wide_row alpha;          /* (T_n, S' + PADS), padded in front */
    wide_row beta[2];        /* two rows of S' + PADS, padded behind */
    double *occupation;      /* S' */
    double *class_gradient;  /* C */
    int64_t *labels;         /* S': l' */
    double *skip;            /* S' + PADS: 1 where skip(s), else 0 (doubles: the SIMD loops'
                                mask width) */
} item_memory;

static double *take_doubles(lk_scratch *s, size_t count)
{
    return lk_scratch_take(s, count * sizeof(double));
}

/* Lays the item's buffers out on memory (NULL: measuring only) and returns
 * the bytes they take (core/scratch.h). */
static size_t item_memory_layout(const ctc_job *job, void *memory, item_memory *m)
{
    size_t states = (size_t)job->max_states, steps = (size_t)job->steps;
    lk_scratch s = {memory, 0};
    m->y.mantissa = take_doubles(&s, steps * states);
    m->y.exponent = take_doubles(&s, steps * states);
    m->alpha.mantissa = take_doubles(&s, steps * (states + PADS));
    m->alpha.exponent = take_doubles(&s, steps * (states + PADS));
    for (int k = 0; k < 2; k++) {
        m->beta[k].mantissa = take_doubles(&s, states + PADS);
        m->beta[k].exponent = take_doubles(&s, states + PADS);
    }
    m->occupation = take_doubles(&s, states);
    m->class_gradient = take_doubles(&s, (size_t)job->classes);
    m->labels = lk_scratch_take(&s, states * sizeof(int64_t));
    m->skip = take_doubles(&s, states + PADS);
    return lk_scratch_size(&s);
}

/* Row t of a (rows, stride) table, from column `first`. */
static wide_row row_of(wide_row table, int64_t t, int64_t stride, int64_t first)
{
    wide_row row = {table.mantissa + t * stride + first, table.exponent + t * stride + first};
    return row;
}

static void set_zero(wide_row row, int64_t from, int64_t to)
{
    for (int64_t s = from; s < to; s++) {
        row.mantissa[s] = 0.0;
        row.exponent[s] = ZERO_EXPONENT;
    }
}

static int64_t read_count(const lk_tensor *t, int64_t n)
{
    return lk_read_label(t, n);
}

/* l' and the skip flags of item n; returns S'. skip has S' + 2 entries (the
 * two past the end are 0, for beta_step). */
static int64_t extend_labels(const ctc_job *job, int64_t n, item_memory *m)
{
    const lk_tensor *targets = &job->call->inputs[IN_TARGETS];
    int64_t length = read_count(&job->call->inputs[IN_TARGET_LENGTHS], n);
    int64_t states = 2 * length + 1;
    for (int64_t s = 0; s < states; s++)
        m->labels[s] = s % 2 == 0 ? job->blank : lk_read_label(targets, job->target_offsets[n] + s / 2);
    for (int64_t s = 0; s < states + PADS; s++)
        m->skip[s] = s < states && s >= 2 && m->labels[s] != job->blank && m->labels[s] != m->labels[s - 2]
                         ? 1.0 : 0.0;
    return states;
}

/* Whether some alignment exists: each label needs a step, and a repeated
 * label needs a blank step between the two. */
static int alignment_exists(const item_memory *m, int64_t states, int64_t steps)
{
    int64_t needed = (states - 1) / 2;
    for (int64_t s = 3; s < states; s += 2) needed += m->labels[s] == m->labels[s - 2];
    return steps >= needed;
}

/* exp of each value, in wide form. */
LK_HOT static void wide_exp_array(const double *restrict values, int64_t count, double *restrict mantissa,
                                  double *restrict exponent)
{
    for (int64_t i = 0; i < count; i++) wide_exp(values[i], &mantissa[i], &exponent[i]);
}

/* y_t(s) = exp(lp[t, l'_s]) for the item's steps. The blank's and the L
 * labels' log-probabilities of each step (a (T, L + 1) table: the blank fills
 * every other state of l', so this halves the exponentials) are gathered into
 * alpha's mantissas, exponentiated in one SIMD loop into alpha's exponents
 * (both tables are free until the forward pass and hold 2 L + 3 doubles per
 * step), then spread over the states. */
static void gather_probabilities(const ctc_job *job, int64_t n, int64_t steps, int64_t states,
                                 item_memory *m)
{
    const lk_tensor *lp = &job->call->inputs[IN_LOG_PROBS];
    int64_t width = (states + 1) / 2, count = steps * width; /* L + 1 */
    double *gathered = m->alpha.mantissa;
    double *compact_mantissa = m->alpha.exponent, *compact_exponent = m->alpha.exponent + count;
    for (int64_t t = 0; t < steps; t++) {
        int64_t row = (t * job->batch + n) * job->classes;
        double *out = gathered + t * width;
        for (int64_t i = 0; i < width; i++) {
            int64_t k = m->labels[i == 0 ? 0 : 2 * i - 1];
            out[i] = lp->dtype == LK_F32 ? (double)((const float *)lp->data)[row + k]
                                         : ((const double *)lp->data)[row + k];
        }
    }
    wide_exp_array(gathered, count, compact_mantissa, compact_exponent);
    for (int64_t t = 0; t < steps; t++) {
        wide_row y = row_of(m->y, t, states, 0);
        const double *mantissa = compact_mantissa + t * width, *exponent = compact_exponent + t * width;
        for (int64_t s = 0; s < states; s++) {
            int64_t i = s % 2 == 0 ? 0 : (s + 1) / 2;
            y.mantissa[s] = mantissa[i];
            y.exponent[s] = exponent[i];
        }
    }
}

/* alpha for every step; p(l | x) = alpha_{T-1}(S'-1) + alpha_{T-1}(S'-2). */
static void forward_pass(int64_t steps, int64_t states, item_memory *m, double *p_mantissa,
                         double *p_exponent)
{
    int64_t stride = states + PADS;
    wide_row first = row_of(m->alpha, 0, stride, 0), y0 = row_of(m->y, 0, states, 0);
    set_zero(first, 0, stride);
    for (int64_t s = 0; s < states && s < 2; s++) {
        first.mantissa[s + PADS] = y0.mantissa[s];
        first.exponent[s + PADS] = y0.exponent[s];
    }
    for (int64_t t = 1; t < steps; t++) {
        wide_row out = row_of(m->alpha, t, stride, 0);
        set_zero(out, 0, PADS);
        wide_row prev = row_of(m->alpha, t - 1, stride, 0), y = row_of(m->y, t, states, 0);
        alpha_step(prev.mantissa, prev.exponent, y.mantissa, y.exponent, m->skip, states, out.mantissa,
                   out.exponent);
    }
    wide_row last = row_of(m->alpha, steps - 1, stride, PADS);
    int64_t before = states > 1 ? states - 2 : states - 1;
    double other_mantissa = states > 1 ? last.mantissa[before] : 0.0;
    double other_exponent = states > 1 ? last.exponent[before] : ZERO_EXPONENT;
    wide_sum3_times(last.mantissa[states - 1], last.exponent[states - 1], other_mantissa, other_exponent, 0.0,
                    ZERO_EXPONENT, 1.0, 0.0, p_mantissa, p_exponent);
}

static void write_gradient_row(const lk_tensor *grad, int64_t offset, const double *values,
                               int64_t count, double scale)
{
    if (grad->dtype == LK_F32) {
        float *out = (float *)grad->data + offset;
        for (int64_t k = 0; k < count; k++) out[k] = (float)(scale * values[k]);
    } else {
        double *out = (double *)grad->data + offset;
        for (int64_t k = 0; k < count; k++) out[k] = scale * values[k];
    }
}

/* beta step by step from the end, and at each step the gradient row
 * scale * d loss / d lp[t, :] = -scale * sum_{s : l'_s = k} gamma_t(s),
 * written into the item's rows of grad. */
static void backward_pass(const ctc_job *job, int64_t n, int64_t steps, int64_t states,
                          double p_mantissa, double p_exponent, double scale, item_memory *m)
{
    wide_row beta = m->beta[0], next = m->beta[1];
    for (int64_t t = steps - 1; t >= 0; t--) {
        wide_row y = row_of(m->y, t, states, 0);
        set_zero(beta, states, states + PADS);
        if (t == steps - 1) {
            set_zero(beta, 0, states);
            for (int64_t s = states >= 2 ? states - 2 : 0; s < states; s++) {
                beta.mantissa[s] = y.mantissa[s];
                beta.exponent[s] = y.exponent[s];
            }
        } else {
            beta_step(next.mantissa, next.exponent, y.mantissa, y.exponent, m->skip, states, beta.mantissa,
                      beta.exponent);
        }
        wide_row alpha = row_of(m->alpha, t, states + PADS, PADS);
        state_occupation(alpha.mantissa, alpha.exponent, beta.mantissa, beta.exponent, y.mantissa, y.exponent,
                         p_mantissa, p_exponent, states, m->occupation);
        memset(m->class_gradient, 0, (size_t)job->classes * sizeof(double));
        for (int64_t s = 0; s < states; s++) m->class_gradient[m->labels[s]] -= m->occupation[s];
        write_gradient_row(&job->call->grads[IN_LOG_PROBS], (t * job->batch + n) * job->classes,
                           m->class_gradient, job->classes, scale);
        wide_row swap = beta;
        beta = next;
        next = swap;
    }
}

static void zero_gradient_rows(const ctc_job *job, int64_t n, int64_t from_step)
{
    const lk_tensor *grad = &job->call->grads[IN_LOG_PROBS];
    size_t width = (size_t)job->classes * lk_dtype_size(grad->dtype);
    for (int64_t t = from_step; t < job->steps; t++)
        memset((char *)grad->data + (size_t)((t * job->batch + n) * job->classes) *
                                        lk_dtype_size(grad->dtype),
               0, width);
}

static lk_status ctc_item(void *arg, int64_t n, lk_context *ctx, void *memory)
{
    (void)ctx;
    ctc_job *job = arg;
    const lk_call *call = job->call;
    item_memory m;
    item_memory_layout(job, memory, &m);
    int64_t steps = read_count(&call->inputs[IN_INPUT_LENGTHS], n);
    int64_t states = extend_labels(job, n, &m);
    double p_mantissa = 0.0, p_exponent = ZERO_EXPONENT;
    if (steps == 0) {
        p_mantissa = states == 1 ? 1.0 : 0.0; /* the empty alignment of the empty target */
        p_exponent = states == 1 ? 0.0 : ZERO_EXPONENT;
    } else if (alignment_exists(&m, states, steps)) {
        gather_probabilities(job, n, steps, states, &m);
        forward_pass(steps, states, &m, &p_mantissa, &p_exponent);
    }
    int possible = p_mantissa > 0;
    job->item_losses[n] = possible ? -(log(p_mantissa) + p_exponent * LK_LN2) : INFINITY;
    if (!call->grads[IN_LOG_PROBS].data) return LK_OK;
    if (possible && steps > 0)
        backward_pass(job, n, steps, states, p_mantissa, p_exponent, job->gradient_scales[n], &m);
    zero_gradient_rows(job, n, possible ? steps : 0);
    return LK_OK;
}

/* ------------------------------------------------------------ validation */

static lk_status check_lengths(const lk_call *call, int64_t steps, int64_t padded_length,
                               int64_t *total_length, int64_t *max_length)
{
    const lk_tensor *input_lengths = &call->inputs[IN_INPUT_LENGTHS];
    const lk_tensor *target_lengths = &call->inputs[IN_TARGET_LENGTHS];
    *total_length = 0;
    *max_length = 0;
    for (int64_t n = 0; n < call->batch; n++) {
        int64_t length = read_count(input_lengths, n);
        if (length < 0 || length > steps)
            return lk_fail(LK_EVALUE, "input 'input_lengths'[%lld] = %lld is outside [0, %lld] (T of "
                           "input 'log_probs')", (long long)n, (long long)length, (long long)steps);
        int64_t target_length = read_count(target_lengths, n);
        if (target_length < 0 || (padded_length >= 0 && target_length > padded_length))
            return lk_fail(LK_EVALUE, "input 'target_lengths'[%lld] = %lld is outside [0, %lld]%s",
                           (long long)n, (long long)target_length,
                           (long long)(padded_length >= 0 ? padded_length : INT64_MAX),
                           padded_length >= 0 ? " (S of the padded targets)" : "");
        *total_length += target_length;
        if (target_length > *max_length) *max_length = target_length;
    }
    return LK_OK;
}

static lk_status check_labels_read(const ctc_job *job)
{
    const lk_call *call = job->call;
    const lk_tensor *targets = &call->inputs[IN_TARGETS];
    for (int64_t n = 0; n < job->batch; n++) {
        int64_t length = read_count(&call->inputs[IN_TARGET_LENGTHS], n);
        for (int64_t i = 0; i < length; i++) {
            int64_t flat = job->target_offsets[n] + i;
            int64_t label = lk_read_label(targets, flat);
            if (label < 0 || label >= job->classes || label == job->blank) {
                char where[LK_INDEX_TEXT];
                return lk_fail(LK_EVALUE, "input 'targets'%s = %lld: labels must lie in [0, %lld) "
                               "and differ from blank = %lld",
                               lk_format_index(targets, flat, where, sizeof where), (long long)label,
                               (long long)job->classes, (long long)job->blank);
            }
        }
    }
    return LK_OK;
}

/* NaN or +inf anywhere in log_probs is refused; -inf is probability 0. */
static lk_status check_log_probs(const lk_call *call)
{
    const lk_tensor *lp = &call->inputs[IN_LOG_PROBS];
    int64_t count = lk_numel(lp);
    for (int64_t i = 0; i < count; i++) {
        double value = lk_read_real(lp, i);
        if (isnan(value) || value == INFINITY) {
            char where[LK_INDEX_TEXT];
            return lk_fail(LK_EVALUE, "input 'log_probs'%s = %g: log-probabilities must be finite "
                           "or -inf", lk_format_index(lp, i, where, sizeof where), value);
        }
    }
    return LK_OK;
}

static lk_status ctc_check(const lk_call *call)
{
    int64_t blank = lk_param_int(call->params, P_BLANK);
    if (blank >= call->classes)
        return lk_fail(LK_EPARAM, "loss 'ctc': parameter 'blank' = %lld must be below the %lld "
                       "classes of input 'log_probs'", (long long)blank, (long long)call->classes);
    return LK_OK;
}

/* Offsets of each item's labels in the targets' flat data. */
static lk_status locate_targets(ctc_job *job)
{
    const lk_call *call = job->call;
    const lk_tensor *targets = &call->inputs[IN_TARGETS];
    int padded = targets->ndim == 2;
    int64_t total, longest;
    lk_status status = check_lengths(call, job->steps, padded ? targets->shape[1] : -1, &total, &longest);
    if (status != LK_OK) return status;
    if (!padded && total != targets->shape[0])
        return lk_fail(LK_ESHAPE, "input 'targets' holds %lld concatenated labels; the target "
                       "lengths add up to %lld", (long long)targets->shape[0], (long long)total);
    int64_t offset = 0;
    for (int64_t n = 0; n < job->batch; n++) {
        job->target_offsets[n] = padded ? n * targets->shape[1] : offset;
        offset += read_count(&call->inputs[IN_TARGET_LENGTHS], n);
    }
    job->max_states = 2 * longest + 1;
    return LK_OK;
}

/* The work memory of one item (alpha for every step and state) must be
 * addressable: T x S' is refused before any size_t product could wrap. */
static lk_status check_work_size(const ctc_job *job)
{
    double bytes = 4.0 * 8.0 * (double)job->steps * (double)(job->max_states + PADS);
    if (bytes < 0x1p46) return LK_OK;
    return lk_fail(LK_ENOMEM, "loss 'ctc': T = %lld steps and targets of %lld labels need %.3g GiB of "
                   "work memory per sequence", (long long)job->steps, (long long)(job->max_states - 1) / 2,
                   bytes / 0x1p30);
}

/* ------------------------------------------------------------ compute */

static void set_gradient_scales(ctc_job *job)
{
    const lk_call *call = job->call;
    for (int64_t n = 0; n < job->batch; n++) {
        int64_t length = read_count(&call->inputs[IN_TARGET_LENGTHS], n);
        double scale = 1.0;
        if (call->reduction == LK_REDUCTION_MEAN) scale = 1.0 / ((double)job->batch * (double)(length > 1 ? length : 1));
        job->gradient_scales[n] = scale;
    }
}

/* zero_infinity, the reduction and the loss tensor, in item order. */
static void store_losses(const ctc_job *job)
{
    const lk_call *call = job->call;
    int zero_infinity = lk_param_bool(call->params, P_ZERO_INFINITY);
    double total = 0;
    for (int64_t n = 0; n < job->batch; n++) {
        double loss = job->item_losses[n];
        if (isinf(loss) && zero_infinity) loss = 0;
        if (call->reduction == LK_REDUCTION_NONE) {
            if (call->loss->dtype == LK_F32)
                ((float *)call->loss->data)[n] = (float)loss;
            else
                ((double *)call->loss->data)[n] = loss;
        }
        total += call->reduction == LK_REDUCTION_MEAN ? loss * job->gradient_scales[n] : loss;
    }
    if (call->reduction != LK_REDUCTION_NONE) lk_store_reduced_loss(call, total, 1.0);
}

static lk_status ctc_compute(const lk_call *call)
{
    ctc_job job = {0};
    job.call = call;
    job.steps = call->spatial;
    job.batch = call->batch;
    job.classes = call->classes;
    job.blank = lk_param_int(call->params, P_BLANK);
    job.target_offsets = malloc((size_t)job.batch * sizeof *job.target_offsets);
    job.item_losses = malloc((size_t)job.batch * sizeof *job.item_losses);
    job.gradient_scales = malloc((size_t)job.batch * sizeof *job.gradient_scales);
    lk_status status = LK_OK;
    if (!job.target_offsets || !job.item_losses || !job.gradient_scales)
        status = lk_fail(LK_ENOMEM, "loss 'ctc': out of memory for %lld items", (long long)job.batch);
    if (status == LK_OK) status = check_log_probs(call);
    if (status == LK_OK) status = locate_targets(&job);
    if (status == LK_OK) status = check_labels_read(&job);
    if (status == LK_OK) status = check_work_size(&job);
    if (status == LK_OK) {
        item_memory measured;
        set_gradient_scales(&job);
        status = lk_run_items(call->ctx, job.batch, job.steps * job.max_states,
                              item_memory_layout(&job, NULL, &measured),
                              ctc_item, &job, "the CTC forward-backward pass");
    }
    if (status == LK_OK) store_losses(&job);
    free(job.target_offsets);
    free(job.item_losses);
    free(job.gradient_scales);
    return status;
}

static const lk_input_info ctc_inputs[IN_COUNT] = {
    [IN_LOG_PROBS] = {"log_probs", "log-probabilities (T, N, C): time, batch, classes "
                      "(log_softmax over C)", LK_DTYPES_FLOAT, LK_SHAPE_SEQUENCE_SCORES,
                      LK_DOMAIN_LOG_PROBS, 1},
    [IN_TARGETS] = {"targets", "label sequences: padded (N, S) or concatenated (sum of "
                    "target_lengths,)", LK_DTYPES_LABEL, LK_SHAPE_LABEL_SEQUENCES,
                    LK_DOMAIN_LABEL_SEQUENCES, 0},
    [IN_INPUT_LENGTHS] = {"input_lengths", "steps of each sequence (N,), in [0, T]",
                          LK_DTYPE_BIT(LK_I32) | LK_DTYPE_BIT(LK_I64), LK_SHAPE_PER_ITEM,
                          LK_DOMAIN_INPUT_LENGTHS, 0},
    [IN_TARGET_LENGTHS] = {"target_lengths", "labels of each sequence (N,)",
                           LK_DTYPE_BIT(LK_I32) | LK_DTYPE_BIT(LK_I64), LK_SHAPE_PER_ITEM,
                           LK_DOMAIN_TARGET_LENGTHS, 0},
};

static const lk_param_info ctc_params[P_COUNT] = {
    [P_BLANK] = {"blank", LK_PARAM_INT, "0", 0, INT32_MAX, 0, NULL, "the class index of the blank label"},
    [P_REDUCTION] = {"reduction", LK_PARAM_CHOICE, "mean", 0, 0, 0, "mean|sum|none",
                     "mean: each sequence's loss divided by its target length (at least 1), then "
                     "the mean over the batch; sum: the sum; none: one value per sequence"},
    [P_ZERO_INFINITY] = {"zero_infinity", LK_PARAM_BOOL, "false", 0, 0, 0, NULL,
                         "losses of impossible alignments (+inf) and their gradients become 0"},
};

static const char *const ctc_examples[] = {
    "",
    "reduction=sum",
    "reduction=none",
    "blank=2",
    "zero_infinity=true,reduction=none",
    NULL,
};

const lk_loss_desc lk_loss_ctc = {
    .name = "ctc",
    .category = LK_CATEGORY_GENERAL,
    .summary = "Connectionist Temporal Classification (torch.nn.functional.ctc_loss)",
    .formula = "loss_n = -log sum over alignments a of l_n of prod_t p_t(a_t) (alpha-beta "
               "recursions); mean: (1/N) sum_n loss_n / max(L_n, 1)",
    .reference = "Graves et al., Connectionist Temporal Classification, ICML 2006",
    .notes = "PyTorch's argument conventions (blank, reduction, zero_infinity, padded or "
             "concatenated targets). The gradient is the exact partial derivative -gamma_t(k); "
             "PyTorch's native backward returns exp(lp) - gamma, equal after log_softmax. "
             "Impossible alignments: loss +inf with gradient 0 (or 0 with zero_infinity). "
             "-inf log-probabilities are allowed; NaN and +inf are refused.",
    LK_DESC_INPUTS(ctc_inputs),
    LK_DESC_PARAMS(ctc_params),
    .examples = ctc_examples,
    .output = LK_OUTPUT_PER_ITEM,
    .check = ctc_check,
    .compute = ctc_compute,
};
