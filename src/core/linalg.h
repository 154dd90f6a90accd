/*
 * Small dense linear algebra in double, for losses built on covariance
 * matrices (RMI): symmetric positive definite matrices through their Cholesky
 * factor. Matrices are row-major n x n; n is small (RMI: radius^2 <= 100).
 */
#ifndef LK_CORE_LINALG_H
#define LK_CORE_LINALG_H

/* Replaces the lower triangle of a with L, a = L L^T (the upper triangle is
 * zeroed). Returns 0, or -1 if a is not positive definite. */
int lk_cholesky(double *a, int n);

/* log det(a) = 2 sum log L_ii, from a's Cholesky factor L. */
double lk_cholesky_logdet(const double *factor, int n);

/* inverse = a^-1 from a's Cholesky factor (inverse may not alias factor). */
void lk_cholesky_inverse(const double *factor, int n, double *inverse);

/* c = a b (a: rows x inner, b: inner x cols); c = a b^T (b: cols x inner).
 * c may not alias a or b. */
void lk_matmul(const double *a, const double *b, double *c, int rows, int inner, int cols);
void lk_matmul_transposed(const double *a, const double *b, double *c, int rows, int inner, int cols);

#endif
