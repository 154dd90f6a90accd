/*
 * Special functions for losses with likelihoods (the Student-t of the
 * Robust T-Loss): log Gamma and its derivative, digamma, for x > 0.
 * Re-entrant, unlike libm's lgamma (which sets the global signgam).
 */
#ifndef LK_CORE_SPECIAL_H
#define LK_CORE_SPECIAL_H

/* log Gamma(x), x > 0: within 1e-14 absolute below 10 (near its zeros at 1
 * and 2 too), a few ulp above. */
double lk_log_gamma(double x);

/* psi(x) = d log Gamma(x) / dx, x > 0: a few 1e-15 absolute, relative
 * a few ulp away from its zero near 1.4616. */
double lk_digamma(double x);

#endif
