#include "core/linalg.h"

#include <math.h>
#include <string.h>

#include "core/lanes.h"

int lk_cholesky(double *a, int n)
{
    for (int j = 0; j < n; j++) {
        double diagonal = a[j * n + j];
        for (int k = 0; k < j; k++) diagonal -= a[j * n + k] * a[j * n + k];
        if (!(diagonal > 0)) return -1;
        double root = sqrt(diagonal);
        a[j * n + j] = root;
        for (int i = j + 1; i < n; i++) {
            double value = a[i * n + j];
            for (int k = 0; k < j; k++) value -= a[i * n + k] * a[j * n + k];
            a[i * n + j] = value / root;
        }
        for (int k = j + 1; k < n; k++) a[j * n + k] = 0;
    }
    return 0;
}

double lk_cholesky_logdet(const double *factor, int n)
{
    double total = 0;
    for (int i = 0; i < n; i++) total += log(factor[i * n + i]);
    return 2 * total;
}

void lk_cholesky_inverse(const double *factor, int n, double *inverse)
{
    /* column by column: solve L y = e_j, then L^T x = y */
    for (int j = 0; j < n; j++) {
        for (int i = 0; i < n; i++) {
            double value = i == j ? 1 : 0;
            for (int k = 0; k < i; k++) value -= factor[i * n + k] * inverse[k * n + j];
            inverse[i * n + j] = value / factor[i * n + i];
        }
        for (int i = n - 1; i >= 0; i--) {
            double value = inverse[i * n + j];
            for (int k = i + 1; k < n; k++) value -= factor[k * n + i] * inverse[k * n + j];
            inverse[i * n + j] = value / factor[i * n + i];
        }
    }
}

void lk_matmul(const double *a, const double *b, double *c, int rows, int inner, int cols)
{
    memset(c, 0, (size_t)rows * (size_t)cols * sizeof *c);
    for (int i = 0; i < rows; i++)
        for (int k = 0; k < inner; k++) {
            double factor = a[i * inner + k];
            for (int j = 0; j < cols; j++) c[i * cols + j] += factor * b[k * cols + j];
        }
}


void lk_matmul_transposed(const double *a, const double *b, double *c, int rows, int inner, int cols)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) c[i * cols + j] = lk_dot_lanes(a + i * inner, b + j * inner, inner);
}
