/*
 * A typed helper of the drivers: validation of values that must lie in
 * [0, 1] (probabilities, targets). Include it inside a typed section (see
 * core/typed.h): like the section, it is compiled once per element type, so
 * it has no include guard.
 */
#ifndef LK_REAL
#error "core/unit_interval.h belongs inside a typed section (core/typed.h)"
#endif

/* Index c * row + j of the first value outside [0, 1] (NaN included) in
 * `classes` rows of len values, rows `row` apart; -1 if there is none. */
static inline int64_t LK_T(lk_first_outside_unit)(const lk_real *values, int classes, int64_t row,
                                                  int len)
{
    for (int c = 0; c < classes; c++) {
        const lk_real *x = values + c * row;
        int outside = 0;
        for (int j = 0; j < len; j++) outside |= !(x[j] >= 0 && x[j] <= 1);
        if (!outside) continue;
        for (int j = 0; j < len; j++)
            if (!(x[j] >= 0 && x[j] <= 1)) return c * row + j;
    }
    return -1;
}
