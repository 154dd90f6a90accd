/*
 * Both functions shift x up to SHIFT with the recurrences
 * Gamma(x + 1) = x Gamma(x), psi(x + 1) = psi(x) + 1 / x, then use the
 * asymptotic (Stirling) series; through the terms below, the next one is
 * under 5e-17 at x = SHIFT. A smaller shift keeps the rounding of the
 * series' value (about 13 at x = 10) small against results near 0.
 */
#include "core/special.h"

#include <math.h>

#define SHIFT 10.0

double lk_log_gamma(double x)
{
    double product = 1;
    for (; x < SHIFT; x += 1) product *= x;
    double inverse = 1 / x, inverse2 = inverse * inverse;
    /* sum_k B_2k / (2k (2k - 1) x^(2k - 1)), k = 1..8 */
    double series =
        inverse * (1.0 / 12 + inverse2 * (-1.0 / 360 + inverse2 * (1.0 / 1260 + inverse2 * (-1.0 / 1680 +
        inverse2 * (1.0 / 1188 + inverse2 * (-691.0 / 360360 + inverse2 * (1.0 / 156 +
        inverse2 * (-3617.0 / 122400))))))));
    double stirling = (x - 0.5) * log(x) - x + 0.91893853320467274178 /* log(2 pi) / 2 */ + series;
    return stirling - log(product);
}

double lk_digamma(double x)
{
    double shift = 0;
    for (; x < SHIFT; x += 1) shift -= 1 / x;
    double inverse2 = 1 / (x * x);
    /* log x - 1/(2x) - sum_k B_2k / (2k x^2k), k = 1..7 */
    double series =
        inverse2 * (-1.0 / 12 + inverse2 * (1.0 / 120 + inverse2 * (-1.0 / 252 + inverse2 * (1.0 / 240 +
        inverse2 * (-1.0 / 132 + inverse2 * (691.0 / 32760 + inverse2 * (-1.0 / 12)))))));
    return shift + log(x) - 0.5 / x + series;
}
