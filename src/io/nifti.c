/*
 * NIfTI-1 and NIfTI-2 volumes (.nii, .nii.gz) through Debian's libnifti2
 * (package libnifti2-dev), when the build found it (LKIO_HAVE_NIFTI).
 *
 * The header is read first and checked before any voxel is: dimensions
 * 1 to 7, each positive; a datatype losskit reads (uint8/16/32/64,
 * int8/16/32/64, float32/64); and a size the file can hold: for an
 * uncompressed file the data must end within it, for a gzip-compressed one
 * the declared size must be at most 1032 times the compressed size (deflate
 * compresses no better than 1032:1), so a forged header cannot make us
 * allocate absurd memory. libnifti then loads the voxels (swapping bytes to
 * the host's order).
 *
 * The voxels are stored with x fastest (Fortran order of (nx, ny, nz, ...));
 * they are returned in C order with axes (x, y, z, ...) as nibabel gives
 * them, and scaled by scl_slope and scl_inter (as nibabel's get_fdata) when
 * slope is neither 0 (no scaling, per the standard) nor 1 with intercept 0.
 * Spacing: pixdim[1..ndim], nibabel's header.get_zooms().
 */
#include <stdlib.h>
#include <string.h>

#include "io/io.h"

#ifdef LKIO_HAVE_NIFTI

#include <nifti2_io.h>

/* The largest expansion of deflate (RFC 1951): about 1032 to 1. */
#define DEFLATE_MAX_RATIO 1032

int lkio_nifti_available(void) { return 1; }

static int element_of(const nifti_image *image, lkio_element *element, lkio_error *err)
{
    static const struct {
        int datatype;
        lkio_scalar kind;
        int size;
    } supported[] = {
        {DT_UINT8, LKIO_UINT, 1},  {DT_INT8, LKIO_INT, 1},    {DT_UINT16, LKIO_UINT, 2},
        {DT_INT16, LKIO_INT, 2},   {DT_UINT32, LKIO_UINT, 4}, {DT_INT32, LKIO_INT, 4},
        {DT_UINT64, LKIO_UINT, 8}, {DT_INT64, LKIO_INT, 8},   {DT_FLOAT32, LKIO_FLOAT, 4},
        {DT_FLOAT64, LKIO_FLOAT, 8},
    };
    for (size_t i = 0; i < sizeof supported / sizeof supported[0]; i++)
        if (supported[i].datatype == image->datatype) {
            /* libnifti swaps the voxels to the host's byte order */
            *element = (lkio_element){supported[i].kind, supported[i].size,
                                      lkio_host_is_big_endian()};
            return 0;
        }
    return lkio_fail(err, "datatype %s (code %d) is not supported: losskit reads uint8-64, "
                          "int8-64, float32 and float64",
                     nifti_datatype_string(image->datatype), image->datatype);
}

/* Dimensions, and the voxel bytes against what the file can hold. */
static int check_header(const nifti_image *image, int element_size, int64_t *count,
                        lkio_error *err)
{
    int64_t ndim = image->dim[0];
    if (ndim < 1 || ndim > 7) return lkio_fail(err, "dim[0] = %lld is not in [1, 7]", (long long)ndim);
    uint64_t voxels = 1;
    for (int64_t axis = 1; axis <= ndim; axis++) {
        int64_t size = image->dim[axis];
        if (size < 1) return lkio_fail(err, "dim[%lld] = %lld is not positive", (long long)axis, (long long)size);
        if (voxels > (uint64_t)INT64_MAX / 8 / (uint64_t)size)
            return lkio_fail(err, "the dimensions declare more than 2^60 voxels");
        voxels *= (uint64_t)size;
    }
    uint64_t declared = voxels * (uint64_t)element_size;
    int64_t file_size = nifti_get_filesize(image->iname);
    if (file_size < 0) return lkio_fail(err, "cannot read the size of %s", image->iname);
    if (nifti_is_gzfile(image->iname)) {
        if (declared / DEFLATE_MAX_RATIO > (uint64_t)file_size)
            return lkio_fail(err, "the header declares %llu bytes of voxels, more than %d times "
                                  "the %lld compressed bytes of %s can hold",
                             (unsigned long long)declared, DEFLATE_MAX_RATIO,
                             (long long)file_size, image->iname);
    } else if (image->iname_offset < 0 ||
               declared > (uint64_t)file_size - (uint64_t)image->iname_offset ||
               (uint64_t)image->iname_offset > (uint64_t)file_size) {
        return lkio_fail(err, "truncated: the header declares %llu bytes of voxels from byte "
                              "%lld, %s has %lld bytes",
                         (unsigned long long)declared, (long long)image->iname_offset,
                         image->iname, (long long)file_size);
    }
    *count = (int64_t)voxels;
    return 0;
}

static int has_scaling(const nifti_image *image)
{
    return image->scl_slope != 0 && (image->scl_slope != 1 || image->scl_inter != 0);
}

/* Converts the loaded voxels into out: float64 or int64, C order (x, y, ...),
 * scaled when the header says so. */
static int convert_voxels(const nifti_image *image, lkio_element element, int64_t count,
                          lkio_array *out, lkio_error *err)
{
    int ndim = (int)image->dim[0];
    uint64_t *stored = malloc((size_t)count * 8), *c_order = malloc((size_t)count * 8);
    if (!stored || !c_order) {
        free(stored);
        free(c_order);
        return lkio_fail(err, "out of memory for %lld voxels", (long long)count);
    }
    out->tensor.ndim = ndim;
    for (int axis = 0; axis < ndim; axis++) out->tensor.shape[axis] = image->dim[axis + 1];
    int status = lkio_decode_elements(image->data, (size_t)count, element, stored, err);
    if (status == 0) lkio_fortran_to_c(stored, c_order, ndim, out->tensor.shape);
    free(stored);
    out->tensor.data = c_order;
    out->tensor.dtype = element.kind == LKIO_FLOAT ? LK_F64 : LK_I64;
    lkio_element_name((lkio_element){element.kind, element.size, 0}, out->source_dtype,
                      sizeof out->source_dtype);
    if (status != 0 || !has_scaling(image)) return status;
    double *scaled = (double *)c_order;
    for (int64_t i = 0; i < count; i++) {
        double value = out->tensor.dtype == LK_F64 ? scaled[i] : (double)((int64_t *)c_order)[i];
        scaled[i] = value * image->scl_slope + image->scl_inter;
    }
    out->tensor.dtype = LK_F64;
    return 0;
}

static int read_image(nifti_image *image, lkio_array *out, lkio_error *err)
{
    lkio_element element;
    int64_t count = 0;
    if (element_of(image, &element, err) != 0 || check_header(image, element.size, &count, err) != 0)
        return -1;
    if (nifti_image_load(image) != 0 || image->data == NULL)
        return lkio_fail(err, "cannot read its %lld voxels (truncated or corrupt data)",
                         (long long)count);
    if (convert_voxels(image, element, count, out, err) != 0) return -1;
    out->has_spacing = 1;
    for (int axis = 0; axis < out->tensor.ndim; axis++) out->spacing[axis] = image->pixdim[axis + 1];
    return 0;
}

int lkio_read_nifti(const char *path, lkio_array *out, lkio_error *err)
{
    memset(out, 0, sizeof *out);
    nifti_set_debug_level(0);
    nifti_image *image = nifti_image_read(path, 0);
    if (!image)
        return lkio_fail(err, "%s: not a readable NIfTI-1 or NIfTI-2 file (missing, wrong magic, "
                              "or a truncated header)",
                         path);
    int status = read_image(image, out, err);
    nifti_image_free(image);
    if (status != 0) {
        lkio_array_free(out);
        return lkio_fail_in(err, path);
    }
    return 0;
}

#else

int lkio_nifti_available(void) { return 0; }

int lkio_read_nifti(const char *path, lkio_array *out, lkio_error *err)
{
    memset(out, 0, sizeof *out);
    return lkio_fail(err, "%s: this losskit was built without NIfTI support (libnifti2 was not "
                          "found at build time; on Debian: apt-get install libnifti2-dev, then "
                          "rebuild)",
                     path);
}

#endif
