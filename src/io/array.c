/*
 * What the readers share: element decoding (any byte order, independent of
 * the host's), Fortran-to-C reordering, and the dispatch by file extension.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io.h"

int lkio_fail(lkio_error *err, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, args);
    va_end(args);
    return -1;
}

int lkio_fail_in(lkio_error *err, const char *path)
{
    char message[sizeof err->message];
    memcpy(message, err->message, sizeof message);
    return lkio_fail(err, "%s: %s", path, message);
}

void lkio_array_free(lkio_array *array)
{
    free(array->tensor.data);
    memset(array, 0, sizeof *array);
}

int64_t lkio_array_count(const lkio_array *array)
{
    int64_t count = 1;
    for (int axis = 0; axis < array->tensor.ndim; axis++) count *= array->tensor.shape[axis];
    return count;
}

void lkio_element_name(lkio_element element, char *buf, size_t size)
{
    static const char *const kinds[] = {"bool", "int", "uint", "float"};
    if (element.kind == LKIO_BOOL)
        snprintf(buf, size, "bool");
    else
        snprintf(buf, size, "%s%d%s", kinds[element.kind], element.size * 8,
                 element.size > 1 && element.big_endian ? " (big-endian)" : "");
}

/* The element's bytes as an unsigned integer, whatever the host's order. */
static uint64_t load_bits(const unsigned char *src, int size, int big_endian)
{
    uint64_t bits = 0;
    for (int i = 0; i < size; i++) {
        unsigned shift = (unsigned)(8 * (big_endian ? size - 1 - i : i));
        bits |= (uint64_t)src[i] << shift;
    }
    return bits;
}

/* IEEE 754 binary16 to double (subnormals, infinities and NaN included). */
static double half_to_double(uint64_t bits)
{
    int sign = (bits >> 15) & 1;
    int exponent = (int)((bits >> 10) & 0x1f);
    double mantissa = (double)(bits & 0x3ff);
    double magnitude;
    if (exponent == 0)
        magnitude = ldexp(mantissa, -24);
    else if (exponent == 31)
        magnitude = mantissa == 0 ? INFINITY : NAN;
    else
        magnitude = ldexp(1024 + mantissa, exponent - 25);
    return sign ? -magnitude : magnitude;
}

static double float_from_bits(uint64_t bits, int size)
{
    if (size == 2) return half_to_double(bits);
    if (size == 4) {
        uint32_t narrow = (uint32_t)bits;
        float value;
        memcpy(&value, &narrow, sizeof value);
        return value;
    }
    double value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static int64_t signed_from_bits(uint64_t bits, int size)
{
    unsigned width = (unsigned)(8 * size);
    if (width < 64 && (bits >> (width - 1)) & 1) bits |= ~(uint64_t)0 << width;
    int64_t value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

int lkio_host_is_big_endian(void)
{
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 0;
}

/* The common cases (float32, float64, uint8 in the host's byte order) as
 * plain loops the compiler vectorizes; 0 if element is not one of them. */
static int decode_native(const unsigned char *src, size_t count, lkio_element element, void *dst)
{
    if (element.size > 1 && element.big_endian != lkio_host_is_big_endian()) return 0;
    if (element.kind == LKIO_FLOAT && element.size == 4) {
        for (size_t i = 0; i < count; i++) {
            float value;
            memcpy(&value, src + 4 * i, sizeof value);
            ((double *)dst)[i] = value;
        }
        return 1;
    }
    if (element.kind == LKIO_FLOAT && element.size == 8) {
        memcpy(dst, src, count * 8);
        return 1;
    }
    if (element.kind == LKIO_UINT && element.size == 1) {
        for (size_t i = 0; i < count; i++) ((int64_t *)dst)[i] = src[i];
        return 1;
    }
    return 0;
}

int lkio_decode_elements(const unsigned char *src, size_t count, lkio_element element,
                         void *dst, lkio_error *err)
{
    if (decode_native(src, count, element, dst)) return 0;
    size_t size = (size_t)element.size;
    for (size_t i = 0; i < count; i++) {
        uint64_t bits = load_bits(src + i * size, element.size, element.big_endian);
        switch (element.kind) {
        case LKIO_FLOAT:
            ((double *)dst)[i] = float_from_bits(bits, element.size);
            break;
        case LKIO_INT:
            ((int64_t *)dst)[i] = signed_from_bits(bits, element.size);
            break;
        case LKIO_BOOL:
            ((int64_t *)dst)[i] = bits != 0;
            break;
        case LKIO_UINT:
            if (bits > (uint64_t)INT64_MAX)
                return lkio_fail(err, "element %zu = %llu does not fit in int64", i,
                                 (unsigned long long)bits);
            ((int64_t *)dst)[i] = (int64_t)bits;
            break;
        }
    }
    return 0;
}

void lkio_fortran_to_c(const uint64_t *src, uint64_t *dst, int ndim, const int64_t *shape)
{
    int64_t fortran_stride[LK_MAX_DIMS], index[LK_MAX_DIMS] = {0}, count = 1;
    for (int axis = 0; axis < ndim; axis++) {
        fortran_stride[axis] = count;
        count *= shape[axis];
    }
    int64_t offset = 0; /* of index in src */
    for (int64_t i = 0; i < count; i++) {
        dst[i] = src[offset];
        for (int axis = ndim - 1; axis >= 0; axis--) { /* C order: last axis fastest */
            offset += fortran_stride[axis];
            if (++index[axis] < shape[axis]) break;
            offset -= fortran_stride[axis] * shape[axis];
            index[axis] = 0;
        }
    }
}

static int ends_with(const char *text, const char *suffix)
{
    size_t length = strlen(text), suffix_length = strlen(suffix);
    return length >= suffix_length && strcmp(text + length - suffix_length, suffix) == 0;
}

int lkio_read(const char *path, lkio_array *out, lkio_error *err)
{
    memset(out, 0, sizeof *out);
    if (ends_with(path, ".npy")) return lkio_read_npy(path, out, err);
    if (ends_with(path, ".nii") || ends_with(path, ".nii.gz")) return lkio_read_nifti(path, out, err);
    return lkio_fail(err, "%s: unknown file type; losskit reads .npy, .nii and .nii.gz", path);
}
