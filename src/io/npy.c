/*
 * NumPy .npy files (format versions 1.0, 2.0 and 3.0, as numpy.lib.format
 * describes them):
 *
 *   "\x93NUMPY" major minor  header_len (uint16 LE for 1.x, uint32 LE for 2.x
 *   and 3.x)  header: a Python dict literal, e.g.
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }  padding '\n'
 *   then the elements, C or Fortran order.
 *
 * Supported dtypes: bool, int8/16/32/64, uint8/16/32/64, float16/32/64 in
 * either byte order; C or Fortran order; 0 to 8 dimensions. Not supported,
 * each with its own message: complex, strings, objects, datetimes, structured
 * (record) dtypes, and headers above LKIO_NPY_MAX_HEADER bytes. The data must
 * fill the file exactly (NumPy itself ignores trailing bytes; a file with
 * more or fewer bytes than its header declares is reported).
 */
#define _POSIX_C_SOURCE 200809L /* fileno, fstat */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/io.h"

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* A cursor over the header text. */
typedef struct cursor {
    const char *at, *end;
    lkio_error *err;
} cursor;

static void skip_space(cursor *c)
{
    while (c->at < c->end && (*c->at == ' ' || *c->at == '\t' || *c->at == '\n' || *c->at == '\r'))
        c->at++;
}

static int peek(cursor *c)
{
    skip_space(c);
    return c->at < c->end ? (unsigned char)*c->at : -1;
}

static int expect(cursor *c, char token, const char *where)
{
    if (peek(c) != token) {
        if (c->at >= c->end)
            return lkio_fail(c->err, "header ends where '%c' was expected %s", token, where);
        return lkio_fail(c->err, "header has '%c' where '%c' was expected %s", *c->at, token, where);
    }
    c->at++;
    return 0;
}

/* A quoted string without escapes into buf. */
static int parse_string(cursor *c, char *buf, size_t size, const char *what)
{
    int quote = peek(c);
    if (quote != '\'' && quote != '"') {
        if (quote == '[')
            return lkio_fail(c->err, "%s is a list: structured (record) dtypes are not supported", what);
        return lkio_fail(c->err, "%s is not a quoted string", what);
    }
    const char *start = ++c->at;
    while (c->at < c->end && *c->at != quote) {
        if (*c->at == '\\') return lkio_fail(c->err, "%s holds an escape sequence", what);
        c->at++;
    }
    if (c->at >= c->end) return lkio_fail(c->err, "%s: unterminated string", what);
    size_t length = (size_t)(c->at - start);
    c->at++;
    if (length >= size) return lkio_fail(c->err, "%s is too long (%zu characters)", what, length);
    memcpy(buf, start, length);
    buf[length] = '\0';
    return 0;
}

static int parse_bool(cursor *c, int *value)
{
    skip_space(c);
    size_t left = (size_t)(c->end - c->at);
    if (left >= 4 && memcmp(c->at, "True", 4) == 0) {
        c->at += 4;
        *value = 1;
        return 0;
    }
    if (left >= 5 && memcmp(c->at, "False", 5) == 0) {
        c->at += 5;
        *value = 0;
        return 0;
    }
    return lkio_fail(c->err, "'fortran_order' is neither True nor False");
}

/* A non-negative decimal integer (Python 2's "3L" accepted). */
static int parse_dimension(cursor *c, int64_t *value)
{
    skip_space(c);
    if (c->at >= c->end || *c->at < '0' || *c->at > '9')
        return lkio_fail(c->err, "'shape' holds something other than a non-negative integer");
    int64_t number = 0;
    while (c->at < c->end && *c->at >= '0' && *c->at <= '9') {
        int digit = *c->at++ - '0';
        if (number > (INT64_MAX - digit) / 10)
            return lkio_fail(c->err, "'shape' holds a dimension above 2^63 - 1");
        number = number * 10 + digit;
    }
    if (c->at < c->end && *c->at == 'L') c->at++;
    *value = number;
    return 0;
}

/* "()", "(3,)", "(3, 4)", "(3, 4,)": a tuple, as Python writes it. */
static int parse_shape(cursor *c, lkio_npy_header *out)
{
    if (expect(c, '(', "to open 'shape'") != 0) return -1;
    out->ndim = 0;
    int trailing_comma = 0;
    while (peek(c) != ')') {
        if (out->ndim == LK_MAX_DIMS)
            return lkio_fail(c->err, "'shape' has more than %d dimensions", LK_MAX_DIMS);
        if (parse_dimension(c, &out->shape[out->ndim]) != 0) return -1;
        out->ndim++;
        trailing_comma = peek(c) == ',';
        if (trailing_comma)
            c->at++;
        else if (peek(c) != ')')
            return expect(c, ',', "between the dimensions of 'shape'");
    }
    c->at++;
    if (out->ndim == 1 && !trailing_comma)
        return lkio_fail(c->err, "'shape' is (%lld), an integer, not a tuple (expected (%lld,))",
                         (long long)out->shape[0], (long long)out->shape[0]);
    return 0;
}

static const char supported_dtypes[] =
    "losskit reads bool, int8-64, uint8-64 and float16/32/64, either byte order";

/* descr: byte order '<', '>', '|' or '=', then kind and size ("<f4"). */
static int parse_descr(const char *descr, lkio_element *element, lkio_error *err)
{
    if (strchr("<>|=", descr[0]) == NULL || descr[0] == '\0')
        return lkio_fail(err, "'descr' '%s' does not start with a byte order (<, >, | or =)", descr);
    char kind = descr[1];
    char *end = NULL;
    errno = 0;
    long size = kind ? strtol(descr + 2, &end, 10) : 0;
    int well_formed = kind && descr[2] >= '0' && descr[2] <= '9' && *end == '\0' && errno == 0;
    element->big_endian = descr[0] == '>' || (descr[0] == '=' && lkio_host_is_big_endian());
    const char *unsupported = NULL;
    switch (kind) {
    case 'b':
    case '?':
        element->kind = LKIO_BOOL;
        if (well_formed && size == 1) break;
        unsupported = "bool of that size";
        break;
    case 'i':
    case 'u':
        element->kind = kind == 'i' ? LKIO_INT : LKIO_UINT;
        if (well_formed && (size == 1 || size == 2 || size == 4 || size == 8)) break;
        unsupported = "integers of that size";
        break;
    case 'f':
        element->kind = LKIO_FLOAT;
        if (well_formed && (size == 2 || size == 4 || size == 8)) break;
        unsupported = "floats of that size (long double?)";
        break;
    case 'c': unsupported = "complex numbers"; break;
    case 'U':
    case 'S':
    case 'a': unsupported = "strings"; break;
    case 'O': unsupported = "Python objects"; break;
    case 'M':
    case 'm': unsupported = "datetimes"; break;
    case 'V': unsupported = "raw or structured (void) data"; break;
    default: unsupported = "an unknown kind"; break;
    }
    if (unsupported)
        return lkio_fail(err, "dtype '%s' (%s) is not supported: %s", descr, unsupported,
                         supported_dtypes);
    element->size = (int)size;
    return 0;
}

static int parse_dictionary(cursor *c, lkio_npy_header *out)
{
    int have_descr = 0, have_order = 0, have_shape = 0;
    if (expect(c, '{', "to open the header dictionary") != 0) return -1;
    while (peek(c) != '}') {
        char key[32], descr[64];
        if (parse_string(c, key, sizeof key, "a header key") != 0) return -1;
        if (expect(c, ':', "after a header key") != 0) return -1;
        int *seen;
        if (strcmp(key, "descr") == 0) {
            seen = &have_descr;
            if (parse_string(c, descr, sizeof descr, "'descr'") != 0 ||
                parse_descr(descr, &out->element, c->err) != 0)
                return -1;
        } else if (strcmp(key, "fortran_order") == 0) {
            seen = &have_order;
            if (parse_bool(c, &out->fortran_order) != 0) return -1;
        } else if (strcmp(key, "shape") == 0) {
            seen = &have_shape;
            if (parse_shape(c, out) != 0) return -1;
        } else {
            return lkio_fail(c->err, "unknown header key '%s' (expected descr, fortran_order, shape)",
                             key);
        }
        if (*seen) return lkio_fail(c->err, "header key '%s' appears twice", key);
        *seen = 1;
        if (peek(c) == ',')
            c->at++;
        else if (peek(c) != '}')
            return expect(c, ',', "between header entries");
    }
    c->at++;
    if (peek(c) != -1) return lkio_fail(c->err, "header has text after its dictionary");
    if (!have_descr || !have_order || !have_shape)
        return lkio_fail(c->err, "header lacks the key '%s'",
                         !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    return 0;
}

/* The bytes of magic string, version and header, read from the file's
 * first bytes (at least 12, or the whole file). */
static int prefix_length(const unsigned char *bytes, size_t size, size_t *length, lkio_error *err)
{
    if (size < 8 || memcmp(bytes, npy_magic, sizeof npy_magic) != 0)
        return lkio_fail(err, "not a .npy file: it does not start with \\x93NUMPY");
    int major = bytes[6], minor = bytes[7];
    if (major < 1 || major > 3)
        return lkio_fail(err, "unsupported .npy format version %d.%d (1.0, 2.0 and 3.0 are read)",
                         major, minor);
    size_t length_bytes = major == 1 ? 2 : 4;
    if (size < 8 + length_bytes) return lkio_fail(err, "truncated: the file ends inside its header");
    size_t header_length = bytes[8] | (size_t)bytes[9] << 8;
    if (major > 1) header_length |= (size_t)bytes[10] << 16 | (size_t)bytes[11] << 24;
    if (header_length > LKIO_NPY_MAX_HEADER)
        return lkio_fail(err, "header of %zu bytes; losskit reads headers up to %zu bytes",
                         header_length, LKIO_NPY_MAX_HEADER);
    *length = 8 + length_bytes + header_length;
    return 0;
}

int lkio_npy_parse_header(const unsigned char *bytes, size_t size, lkio_npy_header *out,
                          lkio_error *err)
{
    memset(out, 0, sizeof *out);
    size_t length;
    if (prefix_length(bytes, size, &length, err) != 0) return -1;
    if (size < length)
        return lkio_fail(err, "truncated: the header ends at byte %zu, the file has %zu bytes",
                         length, size);
    size_t start = bytes[6] == 1 ? 10 : 12;
    out->data_offset = length;
    cursor c = {(const char *)bytes + start, (const char *)bytes + length, err};
    for (const char *p = c.at; p < c.end; p++)
        if ((unsigned char)*p >= 0x80 || *p == '\0')
            return lkio_fail(err, "header holds a byte that is not printable ASCII at offset %zu",
                             start + (size_t)(p - c.at));
    return parse_dictionary(&c, out);
}

/* "(3, 4)" */
static void format_shape(const int64_t *shape, int ndim, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "(");
    for (int axis = 0; axis < ndim && used < size; axis++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", axis ? ", " : "",
                                 (long long)shape[axis]);
    if (used < size) snprintf(buf + used, size - used, ndim == 1 ? ",)" : ")");
}

/* The element count and byte size the header declares, checked against the
 * bytes the file holds after its header: nothing is allocated for a shape
 * the file cannot hold. */
static int check_data_size(const lkio_npy_header *header, uint64_t data_bytes, int64_t *count,
                           lkio_error *err)
{
    char shape[256], dtype[32];
    format_shape(header->shape, header->ndim, shape, sizeof shape);
    lkio_element_name(header->element, dtype, sizeof dtype);
    uint64_t elements = 1;
    for (int axis = 0; axis < header->ndim; axis++) {
        uint64_t dimension = (uint64_t)header->shape[axis];
        if (dimension != 0 && elements > (uint64_t)INT64_MAX / 8 / dimension)
            return lkio_fail(err, "shape %s of %s declares more than 2^60 elements; the file has "
                                  "%llu bytes of data",
                             shape, dtype, (unsigned long long)data_bytes);
        elements *= dimension;
    }
    uint64_t declared = elements * (uint64_t)header->element.size;
    if (declared > data_bytes)
        return lkio_fail(err, "truncated: shape %s of %s needs %llu bytes of data, the file has %llu",
                         shape, dtype, (unsigned long long)declared, (unsigned long long)data_bytes);
    if (declared < data_bytes)
        return lkio_fail(err, "shape %s of %s needs %llu bytes of data, the file has %llu (trailing "
                              "bytes)",
                         shape, dtype, (unsigned long long)declared, (unsigned long long)data_bytes);
    *count = (int64_t)elements;
    return 0;
}

/* Allocates out's tensor for header's shape: float64 or int64. */
static int allocate_array(const lkio_npy_header *header, int64_t count, lkio_array *out,
                          lkio_error *err)
{
    memset(out, 0, sizeof *out);
    out->tensor.dtype = header->element.kind == LKIO_FLOAT ? LK_F64 : LK_I64;
    out->tensor.ndim = header->ndim;
    memcpy(out->tensor.shape, header->shape, sizeof header->shape);
    out->tensor.data = malloc(count > 0 ? (size_t)count * 8 : 1);
    if (!out->tensor.data)
        return lkio_fail(err, "out of memory for %lld elements", (long long)count);
    lkio_element_name(header->element, out->source_dtype, sizeof out->source_dtype);
    return 0;
}

/* Fortran-ordered data, decoded in place, becomes C-ordered. */
static int to_c_order(const lkio_npy_header *header, int64_t count, lkio_array *out,
                      lkio_error *err)
{
    if (!header->fortran_order || header->ndim < 2) return 0;
    uint64_t *c_order = malloc(count > 0 ? (size_t)count * 8 : 1);
    if (!c_order) return lkio_fail(err, "out of memory for %lld elements", (long long)count);
    lkio_fortran_to_c(out->tensor.data, c_order, header->ndim, header->shape);
    free(out->tensor.data);
    out->tensor.data = c_order;
    return 0;
}

int lkio_npy_decode(const unsigned char *bytes, size_t size, lkio_array *out, lkio_error *err)
{
    lkio_npy_header header;
    int64_t count;
    memset(out, 0, sizeof *out);
    if (lkio_npy_parse_header(bytes, size, &header, err) != 0 ||
        check_data_size(&header, size - header.data_offset, &count, err) != 0 ||
        allocate_array(&header, count, out, err) != 0)
        return -1;
    if (lkio_decode_elements(bytes + header.data_offset, (size_t)count, header.element,
                             out->tensor.data, err) != 0 ||
        to_c_order(&header, count, out, err) != 0) {
        lkio_array_free(out);
        return -1;
    }
    return 0;
}

/* Reads the magic string, the version and the header, and parses them. */
static int read_header(FILE *file, lkio_npy_header *header, lkio_error *err)
{
    unsigned char start[12];
    size_t got = fread(start, 1, sizeof start, file), length;
    if (prefix_length(start, got, &length, err) != 0) return -1;
    unsigned char *prefix = malloc(length);
    if (!prefix) return lkio_fail(err, "out of memory for a header of %zu bytes", length);
    size_t kept = got < length ? got : length;
    memcpy(prefix, start, kept);
    size_t have = kept + (kept < length ? fread(prefix + kept, 1, length - kept, file) : 0);
    int status = lkio_npy_parse_header(prefix, have, header, err);
    free(prefix);
    return status;
}

/* Streams count elements from file into out, converting as they come. */
static int read_elements(FILE *file, const lkio_npy_header *header, int64_t count,
                         lkio_array *out, lkio_error *err)
{
    enum { CHUNK_ELEMENTS = 1 << 14 };
    unsigned char chunk[CHUNK_ELEMENTS * 8];
    size_t element_size = (size_t)header->element.size;
    for (int64_t done = 0; done < count;) {
        size_t want = (size_t)(count - done < CHUNK_ELEMENTS ? count - done : CHUNK_ELEMENTS);
        if (fread(chunk, element_size, want, file) != want)
            return lkio_fail(err, "read error after %lld of %lld elements", (long long)done,
                             (long long)count);
        if (lkio_decode_elements(chunk, want, header->element, (char *)out->tensor.data + done * 8,
                                 err) != 0)
            return -1;
        done += (int64_t)want;
    }
    return 0;
}

static int read_npy_file(FILE *file, lkio_array *out, lkio_error *err)
{
    struct stat info;
    lkio_npy_header header;
    int64_t count;
    if (fstat(fileno(file), &info) != 0 || !S_ISREG(info.st_mode))
        return lkio_fail(err, "not a regular file");
    if (read_header(file, &header, err) != 0) return -1;
    if (fseek(file, (long)header.data_offset, SEEK_SET) != 0)
        return lkio_fail(err, "cannot seek to the data at byte %zu", header.data_offset);
    uint64_t data_bytes = (uint64_t)info.st_size - header.data_offset;
    if (check_data_size(&header, data_bytes, &count, err) != 0 ||
        allocate_array(&header, count, out, err) != 0)
        return -1;
    if (read_elements(file, &header, count, out, err) != 0 ||
        to_c_order(&header, count, out, err) != 0) {
        lkio_array_free(out);
        return -1;
    }
    return 0;
}

int lkio_read_npy(const char *path, lkio_array *out, lkio_error *err)
{
    memset(out, 0, sizeof *out);
    FILE *file = fopen(path, "rb");
    if (!file) return lkio_fail(err, "%s: %s", path, strerror(errno));
    int status = read_npy_file(file, out, err);
    fclose(file);
    return status == 0 ? 0 : lkio_fail_in(err, path);
}
