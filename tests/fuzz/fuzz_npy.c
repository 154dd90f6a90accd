/*
 * libFuzzer target for the .npy reader of the CLI (src/io/npy.c): the input
 * is a whole file. Whatever the bytes, parsing and decoding must return
 * cleanly (ASan/UBSan watch the memory), and what they accept must be
 * consistent: at most LK_MAX_DIMS axes, the data inside the input, and an
 * array of exactly the elements the bytes after the header hold.
 *
 * Built and run for a few seconds by tests/fuzz/run_fuzz.sh (ctest
 * fuzz_npy_header).
 */
#include <stdint.h>
#include <stdlib.h>

#include "io/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lkio_npy_header header;
    lkio_error err;
    if (lkio_npy_parse_header(data, size, &header, &err) != 0) return 0;
    if (header.ndim < 0 || header.ndim > LK_MAX_DIMS || header.data_offset > size) abort();
    lkio_array array;
    if (lkio_npy_decode(data, size, &array, &err) != 0) return 0;
    int64_t count = lkio_array_count(&array);
    if ((uint64_t)count * (uint64_t)header.element.size != size - header.data_offset) abort();
    lkio_array_free(&array);
    return 0;
}
