/*
 * Array files for the command-line tool: NumPy .npy and NIfTI-1/NIfTI-2
 * (.nii, .nii.gz).
 *
 * This is a small internal library linked into `losskit`, not part of
 * liblosskit's public API: users of the library hold their arrays in memory
 * already, and keeping file formats out of liblosskit keeps it free of
 * dependencies (NIfTI goes through Debian's libnifti2, found at build time;
 * without it the tool says NIfTI support was not built).
 *
 * Every reader returns one C-ordered array, converted to float64 (files of
 * floating-point numbers) or int64 (integers and booleans), with the source
 * dtype kept for messages. Files are checked against their size before any
 * large allocation: a header declaring more data than the file can hold is
 * an error, not a multi-gigabyte malloc.
 *
 * Axis order: a .npy array keeps NumPy's axes (Fortran-ordered files are
 * transposed into C order); a NIfTI volume is read as nibabel's
 * `img.get_fdata()` gives it, axes (x, y, z, t, ...), with its scaling
 * (scl_slope, scl_inter) applied when the header sets one.
 */
#ifndef LK_IO_H
#define LK_IO_H

#include <stddef.h>
#include <stdint.h>

#include "losskit.h"

/* Why a read failed: a sentence naming the file and the offending field. */
typedef struct lkio_error {
    char message[512];
} lkio_error;

typedef struct lkio_array {
    lk_tensor tensor;                /* LK_F64 or LK_I64, C order; data owned */
    char source_dtype[32];           /* as stored: "float32", "uint8 (big-endian)" */
    int has_spacing;                 /* 1 when the file carries voxel sizes */
    double spacing[LK_MAX_DIMS];     /* per axis of tensor, when has_spacing */
} lkio_array;

void lkio_array_free(lkio_array *array);
/* Number of elements of the tensor. */
int64_t lkio_array_count(const lkio_array *array);

/* Reads path by its extension: .npy, .nii or .nii.gz. 0 on success, -1 with
 * err filled otherwise (out is then empty). */
int lkio_read(const char *path, lkio_array *out, lkio_error *err);
int lkio_read_npy(const char *path, lkio_array *out, lkio_error *err);
int lkio_read_nifti(const char *path, lkio_array *out, lkio_error *err);

/* 1 when the tool was built with libnifti2. */
int lkio_nifti_available(void);

/* ---- The .npy format, exposed for the tests and the fuzz target ------- */

typedef enum lkio_scalar { LKIO_BOOL, LKIO_INT, LKIO_UINT, LKIO_FLOAT } lkio_scalar;

/* One stored element: its kind, size in bytes and byte order. */
typedef struct lkio_element {
    lkio_scalar kind;
    int size;       /* 1, 2, 4 or 8 */
    int big_endian; /* byte order of multi-byte elements */
} lkio_element;

typedef struct lkio_npy_header {
    lkio_element element;
    int fortran_order;
    int ndim;
    int64_t shape[LK_MAX_DIMS];
    size_t data_offset; /* bytes from the start of the file to the data */
} lkio_npy_header;

/* The largest header accepted (NumPy's own default limit is 10000 bytes). */
#define LKIO_NPY_MAX_HEADER ((size_t)1 << 20)

/* Parses the magic string, version, and the header dictionary at the start
 * of a .npy file: bytes holds the first size bytes of the file. On a prefix
 * too short for the header it says so (truncated). */
int lkio_npy_parse_header(const unsigned char *bytes, size_t size, lkio_npy_header *out,
                          lkio_error *err);

/* Decodes a whole .npy file held in memory (header, size check, data). */
int lkio_npy_decode(const unsigned char *bytes, size_t size, lkio_array *out, lkio_error *err);

/* Converts count stored elements at src into dst (double for LKIO_FLOAT,
 * int64_t otherwise). Fails on a uint64 above INT64_MAX. */
int lkio_decode_elements(const unsigned char *src, size_t count, lkio_element element,
                         void *dst, lkio_error *err);

/* 1 on a big-endian host. */
int lkio_host_is_big_endian(void);

/* "float32", "int16", ...; with " (big-endian)" for a multi-byte big-endian
 * element. */
void lkio_element_name(lkio_element element, char *buf, size_t size);

/* Turns an array stored in Fortran order (first axis fastest) with the given
 * shape into C order: 8-byte elements, src and dst of count elements. */
void lkio_fortran_to_c(const uint64_t *src, uint64_t *dst, int ndim, const int64_t *shape);

#if defined(__GNUC__)
#define LKIO_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define LKIO_PRINTF(fmt_index, first_arg)
#endif

/* err = "fmt..." (printf-style). Returns -1. */
int lkio_fail(lkio_error *err, const char *fmt, ...) LKIO_PRINTF(2, 3);
/* Prefixes err's message with "path: ". Returns -1. */
int lkio_fail_in(lkio_error *err, const char *path);

#endif
