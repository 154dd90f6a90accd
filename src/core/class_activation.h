/*
 * Typed helpers: the activations of a block of pixels whose classes are rows
 * `row` apart (the (N, C, *spatial) layout), written class-major into
 * prob[c * stride + j]. Include inside a typed section (see core/typed.h);
 * like the section it is compiled once per element type, so it has no include
 * guard. Uses core/vecmath.h.
 */
#ifndef LK_REAL
#error "core/class_activation.h belongs inside a typed section (core/typed.h)"
#endif

/* max[j] = the largest score over the classes at pixel j (a NaN in class 0
 * stays; a later one is passed over, and exp(x - max) still carries it). */
static inline void LK_T(lk_block_class_max)(const lk_real *restrict x, int64_t row, int classes,
                                            int len, lk_real *restrict max)
{
    for (int j = 0; j < len; j++) max[j] = x[j];
    for (int c = 1; c < classes; c++) {
        const lk_real *restrict xc = x + c * row;
        for (int j = 0; j < len; j++) max[j] = xc[j] > max[j] ? xc[j] : max[j];
    }
}

/* p = softmax over the classes of x, with max-subtraction; max and sum are
 * [len] scratch. */
static inline void LK_T(lk_block_softmax)(const lk_real *restrict x, int64_t row, int classes, int len,
                                          lk_real *restrict prob, int64_t stride, lk_real *restrict max,
                                          lk_real *restrict sum)
{
    LK_T(lk_block_class_max)(x, row, classes, len, max);
    for (int j = 0; j < len; j++) sum[j] = 0;
    for (int c = 0; c < classes; c++) {
        const lk_real *restrict xc = x + c * row;
        lk_real *restrict pc = prob + c * stride;
        for (int j = 0; j < len; j++) {
            pc[j] = lk_exp_nonpositive(xc[j] - max[j]);
            sum[j] += pc[j];
        }
    }
    for (int j = 0; j < len; j++) sum[j] = 1 / sum[j];
    for (int c = 0; c < classes; c++) {
        lk_real *restrict pc = prob + c * stride;
        for (int j = 0; j < len; j++) pc[j] *= sum[j];
    }
}

static inline void LK_T(lk_block_sigmoid)(const lk_real *restrict x, int64_t row, int classes, int len,
                                          lk_real *restrict prob, int64_t stride)
{
    for (int c = 0; c < classes; c++) {
        const lk_real *restrict xc = x + c * row;
        lk_real *restrict pc = prob + c * stride;
        for (int j = 0; j < len; j++) pc[j] = lk_sigmoid(xc[j]);
    }
}
