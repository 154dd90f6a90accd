/* The contrastive losses' kernels (general/similarity.h): the GEMM bit for
 * bit against the plain triple loop (the same chain of products per
 * element), on shapes with edge tiles and k blocks, row strides, transposed
 * operands, accumulation and 1 to 3 threads; the symmetrization; the row
 * normalization and its Jacobian against finite differences. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "general/similarity.h"

static double uniform(lk_rng *rng)
{
    return lk_rng_uniform(rng) * 2 - 1;
}

/* Element (i, j) of an operand. */
#define AT(matrix, i, j) ((matrix).transposed ? (j) * (matrix).ld + (i) : (i) * (matrix).ld + (j))

/* Element i of float (f32) or double data, as a double. */
static double read(const void *data, int f32, int64_t i)
{
    return f32 ? (double)((const float *)data)[i] : ((const double *)data)[i];
}

/* x rounded to the element type: float arithmetic done in double and
 * rounded once is float arithmetic (53 >= 2 * 24 + 2 bits). */
static double round_to(double x, int f32)
{
    return f32 ? (double)(float)x : x;
}

/* c = alpha a b (+ c) in the order the kernel promises: p increasing, then
 * alpha, in the element type. */
static void naive_gemm(int f32, lk_matrix a, lk_matrix b, void *c, int64_t ldc, int64_t m, int64_t k, int64_t n,
                       double alpha, int accumulate)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double total = 0;
            for (int64_t p = 0; p < k; p++)
                total = round_to(total + round_to(read(a.data, f32, AT(a, i, p)) * read(b.data, f32, AT(b, p, j)), f32), f32);
            double scaled = round_to(alpha * total, f32);
            double value = accumulate ? round_to(read(c, f32, i * ldc + j) + scaled, f32) : scaled;
            if (f32)
                ((float *)c)[i * ldc + j] = (float)value;
            else
                ((double *)c)[i * ldc + j] = value;
        }
}

static const int64_t gemm_shapes[][3] = {
    /* m, k, n */
    {1, 1, 1}, {4, 8, 16}, {37, 19, 45}, {64, 128, 64}, {3, 600, 5}, {130, 7, 33}, {70, 300, 20},
    /* several column blocks per row block: a short, deep product (a network layer) */
    {5, 700, 200}, {70, 40, 131},
};

/* An operand over data for an (rows x cols) matrix, with a gap after each row. */
static lk_matrix operand(const void *data, int64_t rows, int64_t cols, int transposed)
{
    lk_matrix matrix = {data, (transposed ? rows : cols) + 3, transposed};
    return matrix;
}

static void check_gemm(lk_context *ctx, int threads, int64_t m, int64_t k, int64_t n, int transpose_a,
                       int transpose_b, int accumulate, lk_rng *rng)
{
    size_t a_count = (size_t)((m + 3) * (k + 3)), b_count = (size_t)((k + 3) * (n + 3)), c_count = (size_t)(m * (n + 2));
    double *a = malloc(a_count * sizeof *a), *b = malloc(b_count * sizeof *b);
    double *c = malloc(c_count * sizeof *c), *expected = malloc(c_count * sizeof *c);
    float *af = malloc(a_count * sizeof *af), *bf = malloc(b_count * sizeof *bf);
    float *cf = malloc(c_count * sizeof *cf), *expected_f = malloc(c_count * sizeof *cf);
    for (size_t i = 0; i < a_count; i++) af[i] = (float)(a[i] = uniform(rng));
    for (size_t i = 0; i < b_count; i++) bf[i] = (float)(b[i] = uniform(rng));
    for (size_t i = 0; i < c_count; i++) {
        expected[i] = c[i] = (double)i;
        expected_f[i] = cf[i] = (float)i;
    }
    int64_t ldc = n + 2;
    lk_gemm_f64(ctx, operand(a, m, k, transpose_a), operand(b, k, n, transpose_b), c, ldc, m, k, n, 0.75, accumulate);
    naive_gemm(0, operand(a, m, k, transpose_a), operand(b, k, n, transpose_b), expected, ldc, m, k, n, 0.75, accumulate);
    lk_gemm_f32(ctx, operand(af, m, k, transpose_a), operand(bf, k, n, transpose_b), cf, ldc, m, k, n, 0.75f,
                accumulate);
    naive_gemm(1, operand(af, m, k, transpose_a), operand(bf, k, n, transpose_b), expected_f, ldc, m, k, n, 0.75,
               accumulate);
    CHECK_MSG(memcmp(c, expected, c_count * sizeof *c) == 0 && memcmp(cf, expected_f, c_count * sizeof *cf) == 0,
              "gemm (%lld, %lld, %lld) transposed %d%d accumulate=%d threads=%d differs", (long long)m, (long long)k,
              (long long)n, transpose_a, transpose_b, accumulate, threads);
    free(a), free(b), free(c), free(expected), free(af), free(bf), free(cf), free(expected_f);
}

static void test_gemm_matches_the_triple_loop(void)
{
    lk_context *contexts[3];
    for (int t = 0; t < 3; t++) CHECK_OK(lk_context_create(t + 1, &contexts[t]));
    lk_rng rng = {11};
    for (size_t s = 0; s < sizeof gemm_shapes / sizeof gemm_shapes[0]; s++)
        for (int layout = 0; layout < 4; layout++)
            for (int accumulate = 0; accumulate < 2; accumulate++)
                for (int t = 0; t < 3; t++)
                    check_gemm(contexts[t], t + 1, gemm_shapes[s][0], gemm_shapes[s][1], gemm_shapes[s][2],
                               layout & 1, layout >> 1, accumulate, &rng);
    for (int t = 0; t < 3; t++) lk_context_destroy(contexts[t]);
}

/* The Gram matrix a a^T: the same bits as the full product. */
static void test_gram_is_the_full_product(void)
{
    lk_context *ctx;
    CHECK_OK(lk_context_create(3, &ctx));
    lk_rng rng = {17};
    static const int64_t shapes[][2] = {{1, 3}, {5, 2}, {37, 19}, {150, 300}, {130, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t n = shapes[s][0], k = shapes[s][1], lda = k + 1, ldc = n + 5;
        float *a = malloc((size_t)(n * lda) * sizeof *a), *c = malloc((size_t)(n * ldc) * sizeof *c);
        float *expected = malloc((size_t)(n * ldc) * sizeof *c);
        for (int64_t i = 0; i < n * lda; i++) a[i] = (float)uniform(&rng);
        for (int64_t i = 0; i < n * ldc; i++) c[i] = expected[i] = -1;
        lk_gram_f32(ctx, a, lda, c, ldc, n, k, 1.5f);
        naive_gemm(1, lk_plain(a, lda), lk_transposed(a, lda), expected, ldc, n, k, n, 1.5, 0);
        CHECK_MSG(memcmp(c, expected, (size_t)(n * ldc) * sizeof *c) == 0, "gram (%lld, %lld) differs",
                  (long long)n, (long long)k);
        free(a), free(c), free(expected);
    }
    lk_context_destroy(ctx);
}

static void test_symmetrize(void)
{
    double g[3 * 3];
    for (int i = 0; i < 9; i++) g[i] = i * i;
    lk_symmetrize_f64(g, 3);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) CHECK(g[i * 3 + j] == (i * 3 + j) * (i * 3 + j) + (j * 3 + i) * (j * 3 + i));
    enum { N = 37 }; /* several blocks, a partial one */
    float *big = malloc(N * N * sizeof *big), *copy = malloc(N * N * sizeof *copy);
    lk_rng rng = {3};
    for (int i = 0; i < N * N; i++) copy[i] = big[i] = (float)uniform(&rng);
    lk_symmetrize_f32(big, N);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) CHECK(big[i * N + j] == copy[i * N + j] + copy[j * N + i]);
    free(big);
    free(copy);
}

/* loss(x) = sum_ij w_ij u_ij with u the normalized rows of x: its gradient
 * through lk_normalize_rows_backward against central differences. */
static double weighted_units(const double *x, const double *w, int64_t rows, int64_t dim)
{
    double *unit = malloc((size_t)(rows * dim) * sizeof *unit), norms[8], total = 0;
    lk_normalize_rows_f64(NULL, x, rows, dim, unit, norms);
    for (int64_t i = 0; i < rows * dim; i++) total += w[i] * unit[i];
    free(unit);
    return total;
}

static void test_normalization_jacobian(void)
{
    enum { ROWS = 4, DIM = 6 };
    lk_rng rng = {5};
    double x[ROWS * DIM], w[ROWS * DIM], unit[ROWS * DIM], grad[ROWS * DIM], norms[ROWS];
    for (int i = 0; i < ROWS * DIM; i++) {
        x[i] = uniform(&rng) * 3;
        w[i] = uniform(&rng);
    }
    for (int j = 0; j < DIM; j++) x[2 * DIM + j] = 1e-15 * (j + 1); /* a row below eps: divided by eps */
    lk_normalize_rows_f64(NULL, x, ROWS, DIM, unit, norms);
    for (int j = 0; j < DIM; j++) CHECK(unit[2 * DIM + j] == x[2 * DIM + j] / LK_NORMALIZE_EPS);
    memcpy(grad, w, sizeof grad);
    lk_normalize_rows_backward_f64(NULL, unit, norms, ROWS, DIM, grad);
    for (int i = 0; i < ROWS * DIM; i++) {
        if (i / DIM == 2) {
            CHECK(grad[i] == w[i] / LK_NORMALIZE_EPS);
            continue;
        }
        double saved = x[i], h = 1e-6;
        x[i] = saved + h;
        double plus = weighted_units(x, w, ROWS, DIM);
        x[i] = saved - h;
        double minus = weighted_units(x, w, ROWS, DIM);
        x[i] = saved;
        CHECK_CLOSE(grad[i], (plus - minus) / (2 * h), 1e-7, 1e-8);
    }
}

int main(int argc, char **argv)
{
    static const lk_test tests[] = {
        {"gemm_matches_the_triple_loop", test_gemm_matches_the_triple_loop},
        {"gram_is_the_full_product", test_gram_is_the_full_product},
        {"symmetrize", test_symmetrize},
        {"normalization_jacobian", test_normalization_jacobian},
    };
    return lk_test_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
