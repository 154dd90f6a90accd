/*
 * The weight file of the inverse_form loss's network (the format is in
 * include/losskit.h and docs/inverse-form.md): a 48-byte header whose every
 * field is checked, then the file's size against what the header asks for,
 * before anything is allocated; then the six arrays, read in one piece and
 * checked for NaN and infinity.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/tensor.h"
#include "losskit.h"

#define HEADER_BYTES 48
#define FORMAT_VERSION 1
#define LAYER_COUNT 6

static const char file_magic[8] = {'L', 'K', 'I', 'N', 'V', 'F', 'R', 'M'};
static const char *const layer_names[LAYER_COUNT] = {"w1", "b1", "w2", "b2", "w3", "b3"};

/* The header's sizes, in the order of the file. */
enum { SIZE_TILE, SIZE_HIDDEN1, SIZE_HIDDEN2, SIZE_OUTPUTS, SIZE_COUNT };
static const char *const size_names[SIZE_COUNT] = {"tile_size", "hidden1", "hidden2", "outputs"};
/* Largest accepted values: T <= 2^20 keeps 2 T T within 2^41; the layers'
 * widths within 2^31. Products are checked against LK_MAX_NUMEL anyway. */
static const uint64_t size_limits[SIZE_COUNT] = {(uint64_t)1 << 20, (uint64_t)1 << 31, (uint64_t)1 << 31,
                                                 (uint64_t)1 << 31};

typedef struct weight_header {
    lk_dtype dtype;
    uint64_t sizes[SIZE_COUNT];
} weight_header;

static uint64_t read_little_endian(const unsigned char *bytes, int count)
{
    uint64_t value = 0;
    for (int i = count - 1; i >= 0; i--) value = value << 8 | bytes[i];
    return value;
}

static lk_status parse_header(const char *path, const unsigned char *bytes, weight_header *header)
{
    if (memcmp(bytes, file_magic, sizeof file_magic) != 0)
        return lk_fail(LK_EVALUE, "'%s' is not an InverseForm weight file: it does not start with the magic "
                                  "\"LKINVFRM\"", path);
    uint64_t version = read_little_endian(bytes + 8, 4), dtype = read_little_endian(bytes + 12, 4);
    if (version != FORMAT_VERSION)
        return lk_fail(LK_EVALUE, "'%s': field 'version' = %llu; this losskit reads version %d", path,
                       (unsigned long long)version, FORMAT_VERSION);
    if (dtype != LK_F32 && dtype != LK_F64)
        return lk_fail(LK_EVALUE, "'%s': field 'dtype' = %llu; expected 0 (float32) or 1 (float64)", path,
                       (unsigned long long)dtype);
    header->dtype = (lk_dtype)dtype;
    for (int k = 0; k < SIZE_COUNT; k++) {
        uint64_t value = read_little_endian(bytes + 16 + 8 * k, 8);
        if (value < 1 || value > size_limits[k])
            return lk_fail(LK_EVALUE, "'%s': field '%s' = %llu; expected 1 to %llu", path, size_names[k],
                           (unsigned long long)value, (unsigned long long)size_limits[k]);
        header->sizes[k] = value;
    }
    return LK_OK;
}

/* The layers' shapes from the header: w1 (H1, 2 T T), b1 (H1), w2 (H2, H1),
 * b2 (H2), w3 (D, H2), b3 (D). */
static void layer_shapes(const weight_header *header, lk_tensor *layers)
{
    int64_t side = (int64_t)header->sizes[SIZE_TILE], hidden1 = (int64_t)header->sizes[SIZE_HIDDEN1];
    int64_t hidden2 = (int64_t)header->sizes[SIZE_HIDDEN2], outputs = (int64_t)header->sizes[SIZE_OUTPUTS];
    const int64_t rows[LAYER_COUNT] = {hidden1, hidden1, hidden2, hidden2, outputs, outputs};
    const int64_t cols[LAYER_COUNT] = {2 * side * side, 0, hidden1, 0, hidden2, 0};
    for (int k = 0; k < LAYER_COUNT; k++) {
        memset(&layers[k], 0, sizeof layers[k]);
        layers[k].dtype = header->dtype;
        layers[k].ndim = cols[k] ? 2 : 1;
        layers[k].shape[0] = rows[k];
        layers[k].shape[1] = cols[k];
    }
}

/* The total element count of the layers; fails above LK_MAX_NUMEL. */
static lk_status count_elements(const char *path, const lk_tensor *layers, int64_t *total)
{
    double count = 0;
    for (int k = 0; k < LAYER_COUNT; k++)
        count += (double)layers[k].shape[0] * (double)(layers[k].ndim == 2 ? layers[k].shape[1] : 1);
    if (count > (double)LK_MAX_NUMEL)
        return lk_fail(LK_EVALUE, "'%s': the header's sizes ask for %.17g values; at most %lld are supported",
                       path, count, (long long)LK_MAX_NUMEL);
    *total = (int64_t)count;
    return LK_OK;
}

static lk_status file_size(FILE *file, const char *path, int64_t *size)
{
    if (fseek(file, 0, SEEK_END) != 0)
        return lk_fail(LK_ESYSTEM, "cannot seek in '%s': %s", path, strerror(errno));
    long end = ftell(file);
    if (end < 0) return lk_fail(LK_ESYSTEM, "cannot tell the size of '%s': %s", path, strerror(errno));
    *size = (int64_t)end;
    return LK_OK;
}

/* Reverses the bytes of each element on big-endian hosts (the file is
 * little-endian). */
static void to_host_order(unsigned char *data, int64_t count, size_t element)
{
    const uint16_t probe = 1;
    unsigned char first;
    memcpy(&first, &probe, 1);
    if (first == 1) return;
    for (int64_t i = 0; i < count; i++) {
        unsigned char *e = data + (size_t)i * element;
        for (size_t lo = 0, hi = element - 1; lo < hi; lo++, hi--) {
            unsigned char byte = e[lo];
            e[lo] = e[hi];
            e[hi] = byte;
        }
    }
}

static lk_status check_finite(const char *path, const lk_tensor *layers)
{
    for (int k = 0; k < LAYER_COUNT; k++) {
        int64_t bad = lk_find_nonfinite(&layers[k]);
        if (bad < 0) continue;
        char where[LK_INDEX_TEXT];
        return lk_fail(LK_EVALUE, "'%s': %s%s = %g: the weights must be finite", path, layer_names[k],
                       lk_format_index(&layers[k], bad, where, sizeof where), lk_read_real(&layers[k], bad));
    }
    return LK_OK;
}

/* Reads the header and the arrays of an open file into weights. */
static lk_status read_weights(FILE *file, const char *path, lk_inverse_form_weights *weights)
{
    unsigned char bytes[HEADER_BYTES];
    int64_t size = 0, elements = 0;
    lk_status status = file_size(file, path, &size);
    if (status != LK_OK) return status;
    if (size < HEADER_BYTES)
        return lk_fail(LK_EVALUE, "'%s' has %lld bytes, fewer than the %d of the header", path, (long long)size,
                       HEADER_BYTES);
    if (fseek(file, 0, SEEK_SET) != 0 || fread(bytes, 1, HEADER_BYTES, file) != HEADER_BYTES)
        return lk_fail(LK_ESYSTEM, "cannot read the header of '%s': %s", path, strerror(errno));
    weight_header header = {LK_F32, {0}};
    status = parse_header(path, bytes, &header);
    if (status == LK_OK) layer_shapes(&header, weights->layers);
    if (status == LK_OK) status = count_elements(path, weights->layers, &elements);
    if (status != LK_OK) return status;
    size_t element = lk_dtype_size(header.dtype);
    if ((size - HEADER_BYTES) / (int64_t)element != elements || (size - HEADER_BYTES) % (int64_t)element != 0)
        return lk_fail(LK_EVALUE, "'%s' has %lld bytes; its header (T = %llu, H1 = %llu, H2 = %llu, D = %llu, %s) "
                                  "asks for %lld (%s)", path, (long long)size,
                       (unsigned long long)header.sizes[SIZE_TILE], (unsigned long long)header.sizes[SIZE_HIDDEN1],
                       (unsigned long long)header.sizes[SIZE_HIDDEN2], (unsigned long long)header.sizes[SIZE_OUTPUTS],
                       lk_dtype_name(header.dtype), (long long)(HEADER_BYTES + elements * (int64_t)element),
                       size - HEADER_BYTES < elements * (int64_t)element ? "truncated" : "bytes after the arrays");
    unsigned char *data = malloc((size_t)elements * element);
    if (!data) return lk_fail(LK_ENOMEM, "out of memory for the %lld weights of '%s'", (long long)elements, path);
    if (fread(data, element, (size_t)elements, file) != (size_t)elements) {
        free(data);
        return lk_fail(LK_ESYSTEM, "cannot read the weights of '%s': %s", path, strerror(errno));
    }
    to_host_order(data, elements, element);
    unsigned char *at = data;
    for (int k = 0; k < LAYER_COUNT; k++) {
        weights->layers[k].data = at;
        at += (size_t)(weights->layers[k].shape[0] * (weights->layers[k].ndim == 2 ? weights->layers[k].shape[1] : 1)) *
              element;
    }
    weights->dtype = header.dtype;
    weights->tile_size = (int64_t)header.sizes[SIZE_TILE];
    weights->hidden1 = (int64_t)header.sizes[SIZE_HIDDEN1];
    weights->hidden2 = (int64_t)header.sizes[SIZE_HIDDEN2];
    weights->outputs = (int64_t)header.sizes[SIZE_OUTPUTS];
    status = check_finite(path, weights->layers);
    if (status != LK_OK) free(data);
    return status;
}

lk_status lk_inverse_form_weights_load(const char *path, lk_inverse_form_weights **out)
{
    if (!out) return lk_fail(LK_EINVAL, "out is NULL");
    *out = NULL;
    if (!path) return lk_fail(LK_EINVAL, "path is NULL");
    lk_inverse_form_weights *weights = calloc(1, sizeof *weights);
    if (!weights) return lk_fail(LK_ENOMEM, "out of memory");
    FILE *file = fopen(path, "rb");
    if (!file) {
        free(weights);
        return lk_fail(LK_ESYSTEM, "cannot open '%s': %s", path, strerror(errno));
    }
    lk_status status = read_weights(file, path, weights);
    fclose(file);
    if (status != LK_OK) {
        free(weights);
        return status;
    }
    *out = weights;
    return LK_OK;
}

void lk_inverse_form_weights_free(lk_inverse_form_weights *weights)
{
    if (!weights) return;
    free(weights->layers[0].data); /* the one block of all six arrays */
    free(weights);
}
