/*
 * Prints what the CLI's readers (src/io) make of a file, as JSON, for the
 * Python tests to compare with NumPy and nibabel (tests/python/test_io.py):
 *
 *   io_dump FILE   ->  {"dtype": "float64", "source_dtype": "float32",
 *                       "shape": [2, 3], "spacing": [1, 1] or null,
 *                       "values": [...]}      exit 0
 *                  ->  the reader's message on stderr, exit 3
 *
 * Values have 17 significant digits; NaN and infinities are written as
 * Python's json module reads them (NaN, Infinity, -Infinity).
 */
#include <math.h>
#include <stdio.h>

#include "io/io.h"

static void print_double(double value)
{
    if (isnan(value))
        fputs("NaN", stdout);
    else if (isinf(value))
        fputs(value > 0 ? "Infinity" : "-Infinity", stdout);
    else
        printf("%.17g", value);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: io_dump FILE\n");
        return 2;
    }
    lkio_array array;
    lkio_error err;
    if (lkio_read(argv[1], &array, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 3;
    }
    printf("{\"dtype\": \"%s\", \"source_dtype\": \"%s\", \"shape\": [",
           array.tensor.dtype == LK_F64 ? "float64" : "int64", array.source_dtype);
    for (int axis = 0; axis < array.tensor.ndim; axis++)
        printf("%s%lld", axis ? ", " : "", (long long)array.tensor.shape[axis]);
    fputs("], \"spacing\": ", stdout);
    if (array.has_spacing) {
        putchar('[');
        for (int axis = 0; axis < array.tensor.ndim; axis++) {
            if (axis) fputs(", ", stdout);
            print_double(array.spacing[axis]);
        }
        putchar(']');
    } else {
        fputs("null", stdout);
    }
    fputs(", \"values\": [", stdout);
    int64_t count = lkio_array_count(&array);
    for (int64_t i = 0; i < count; i++) {
        if (i) fputs(", ", stdout);
        if (array.tensor.dtype == LK_F64)
            print_double(((const double *)array.tensor.data)[i]);
        else
            printf("%lld", (long long)((const int64_t *)array.tensor.data)[i]);
    }
    puts("]}");
    lkio_array_free(&array);
    return 0;
}
