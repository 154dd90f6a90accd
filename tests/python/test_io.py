"""The command-line tool's file readers (src/io), through build/tests/c/io_dump,
which prints what they read as JSON: .npy against NumPy for every supported
dtype, both byte orders, C and Fortran order and every format version;
NIfTI against nibabel (dtypes, NIfTI-1 and -2, .nii and .nii.gz, scaling,
spacing); and bad files (truncated, wrong magic, absurd declared shapes,
unsupported dtypes), which must fail with a clear message and never crash
or allocate what the file cannot hold."""

from __future__ import annotations

import gzip
import io
import json
import os
import pathlib
import resource
import struct
import subprocess

import nibabel as nib
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("LOSSKIT_BUILD_DIR", ROOT / "build"))
IO_DUMP = BUILD / "tests" / "c" / "io_dump"

INTEGER_DTYPES = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"]
FLOAT_DTYPES = ["float16", "float32", "float64"]


# LOSSKIT_BUILD_DIR=build-asan runs these tests against the sanitizer build,
# whose shadow memory needs more address space than the limit below.
SANITIZED = (BUILD / "CMakeCache.txt").exists() and "LOSSKIT_SANITIZE:BOOL=ON" in (BUILD / "CMakeCache.txt").read_text()


def limit_memory():
    """Run the reader with 1 GiB of address space: an allocation sized by a
    forged header would fail, not pass unnoticed."""
    if not SANITIZED:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def dump(path: pathlib.Path):
    assert IO_DUMP.exists(), f"{IO_DUMP} is missing: build first (make build)"
    result = subprocess.run([str(IO_DUMP), str(path)], capture_output=True, text=True,
                            preexec_fn=limit_memory, timeout=60)
    assert result.returncode in (0, 3), f"io_dump crashed ({result.returncode}): {result.stderr}"
    if result.returncode == 3:
        return None, result.stderr.strip()
    return json.loads(result.stdout), ""


def read(path: pathlib.Path) -> dict:
    data, error = dump(path)
    assert data is not None, error
    return data


def read_error(path: pathlib.Path) -> str:
    data, error = dump(path)
    assert data is None, f"{path.name} was accepted: {data and data['shape']}"
    assert error.startswith(str(path)), error
    return error


def assert_same_array(data: dict, expected: np.ndarray) -> None:
    assert tuple(data["shape"]) == expected.shape
    kind = "float64" if expected.dtype.kind == "f" else "int64"
    assert data["dtype"] == kind
    values = np.array(data["values"], dtype=np.float64 if kind == "float64" else np.int64)
    want = np.ascontiguousarray(expected).reshape(-1).astype(values.dtype)
    np.testing.assert_array_equal(values, want)


def sample_values(dtype: np.dtype, shape, rng) -> np.ndarray:
    """Random values with the dtype's extremes (and NaN, +-inf, subnormals
    for floats) in the first elements."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    if dtype.kind == "b":
        return (rng.random(shape) < 0.5).astype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        high = min(int(info.max), np.iinfo(np.int64).max)
        values = rng.integers(int(info.min), high, size=count, endpoint=True, dtype=np.int64)
        values[:3] = [info.min, high, 0][:3]
        return values.astype(dtype).reshape(shape)
    info = np.finfo(dtype)
    values = rng.normal(0, 100, size=count).astype(dtype)
    specials = [np.nan, np.inf, -np.inf, info.max, -info.tiny, info.smallest_subnormal, -0.0]
    specials = specials[:count]
    values[: len(specials)] = np.array(specials, dtype=dtype)
    return values.reshape(shape)


# ---------------------------------------------------------------- .npy


@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("dtype", ["bool"] + INTEGER_DTYPES + FLOAT_DTYPES)
def test_npy_every_dtype_and_byte_order(tmp_path, dtype, byteorder):
    rng = np.random.default_rng(1)
    values = sample_values(dtype, (3, 4, 5), rng).astype(np.dtype(dtype).newbyteorder(byteorder))
    path = tmp_path / "a.npy"
    np.save(path, values)
    data = read(path)
    assert_same_array(data, values)
    assert data["spacing"] is None
    big = np.dtype(dtype).itemsize > 1 and byteorder == ">"
    assert data["source_dtype"] == dtype + (" (big-endian)" if big else "")


@pytest.mark.parametrize("dtype", ["uint8", "int32", "float32", ">f8", "bool"])
@pytest.mark.parametrize("shape", [(2, 3), (4, 3, 5), (2, 1, 3, 2), (2, 3, 2, 2, 1, 2, 2, 3)])
def test_npy_fortran_order_becomes_c_order(tmp_path, dtype, shape):
    values = np.asfortranarray(sample_values(dtype, shape, np.random.default_rng(2)))
    path = tmp_path / "f.npy"
    np.save(path, values)
    assert b"'fortran_order': True" in path.read_bytes()[:128]
    assert_same_array(read(path), values)


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_npy_format_versions(tmp_path, version):
    values = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    path = tmp_path / "v.npy"
    with open(path, "wb") as handle:
        np.lib.format.write_array(handle, values, version=version)
    assert path.read_bytes()[6] == version[0]
    assert_same_array(read(path), values)


@pytest.mark.parametrize("shape", [(), (7,), (0,), (3, 0, 2), (1,) * 8])
def test_npy_shapes(tmp_path, shape):
    values = np.arange(int(np.prod(shape)), dtype=np.int16).reshape(shape)
    path = tmp_path / "s.npy"
    np.save(path, values)
    assert_same_array(read(path), values)


def npy_bytes(header: str, data: bytes = b"", version: int = 1) -> bytes:
    text = header.encode("latin1") + b"\n"
    length = struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + length + text + data


def write(tmp_path, name: str, content: bytes) -> pathlib.Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_npy_hand_written_headers(tmp_path):
    """Spacing, key order and quotes NumPy itself does not write but a Python
    dict literal allows; Python 2's long dimensions."""
    data = np.arange(6, dtype="<i4").tobytes()
    for header in ["{'shape': (2, 3), 'fortran_order': False, 'descr': '<i4'}",
                   '{"descr":"<i4","fortran_order":False,"shape":(2,3,)}',
                   "{'descr': '<i4', 'fortran_order': False, 'shape': (2L, 3L), }   "]:
        assert read(write(tmp_path, "h.npy", npy_bytes(header, data)))["values"] == list(range(6))


@pytest.mark.parametrize("array, message", [
    (np.zeros(3, np.complex64), "'<c8' (complex numbers) is not supported"),
    (np.array(["ab", "c"]), "(strings) is not supported"),
    (np.zeros(2, "datetime64[s]"), "(datetimes) is not supported"),
    (np.zeros(2, np.longdouble), "is not supported"),
    (np.zeros(2, [("a", "<f4"), ("b", "<i2")]), "structured (record) dtypes are not supported"),
    (np.array([1, None], dtype=object), "(Python objects) is not supported"),
])
def test_npy_unsupported_dtypes(tmp_path, array, message):
    path = tmp_path / "u.npy"
    np.save(path, array, allow_pickle=True)
    assert message in read_error(path)


def test_npy_uint64_above_int64(tmp_path):
    path = tmp_path / "big.npy"
    np.save(path, np.array([1, 2**63 + 5], dtype=np.uint64))
    assert "element 1 = 9223372036854775813 does not fit in int64" in read_error(path)


def test_npy_truncated_and_trailing_data(tmp_path):
    path = tmp_path / "t.npy"
    np.save(path, np.ones((10, 10), np.float32))
    whole = path.read_bytes()
    cut = write(tmp_path, "cut.npy", whole[:-1])
    assert "truncated: shape (10, 10) of float32 needs 400 bytes of data, the file has 399" in read_error(cut)
    long = write(tmp_path, "long.npy", whole + b"\0")
    assert "needs 400 bytes of data, the file has 401 (trailing bytes)" in read_error(long)
    for size in (0, 5, 9, 30):
        assert ("truncated" in read_error(write(tmp_path, "h.npy", whole[:size]))
                or "not a .npy file" in read_error(write(tmp_path, "h.npy", whole[:size])))


def test_npy_absurd_shapes_fail_before_allocating(tmp_path):
    """Shapes of petabytes or past 2^63 elements in a tiny file: the size
    check fires first (the reader runs under a 1 GiB address-space limit)."""
    for shape in ["(1099511627776, 1048576)", "(9223372036854775807, 9223372036854775807)",
                  "(4294967296, 4294967296, 4294967296)", "(100000000,)"]:
        path = write(tmp_path, "huge.npy",
                      npy_bytes(f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}", b"\0" * 64))
        error = read_error(path)
        assert "needs" in error or "more than 2^60 elements" in error, error


@pytest.mark.parametrize("content, message", [
    (b"PK\x03\x04 not numpy at all", "not a .npy file: it does not start with \\x93NUMPY"),
    (b"\x93NUMPY\x04\x00\x10\x00", "unsupported .npy format version 4.0"),
    (npy_bytes("{'descr': '<f4', 'fortran_order': False}"), "header lacks the key 'shape'"),
    (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}"), "unknown header key 'extra'"),
    (npy_bytes("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}"), "appears twice"),
    (npy_bytes("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}"), "neither True nor False"),
    (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3)}"), "an integer, not a tuple"),
    (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}"), "non-negative integer"),
    (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1)}"), "more than 8 dimensions"),
    (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}"), "above 2^63 - 1"),
    (npy_bytes("{'descr': 'f4', 'fortran_order': False, 'shape': (1,)}"), "does not start with a byte order"),
    (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x"), "text after its dictionary"),
    (npy_bytes("{'descr': '<f\u00e94', 'fortran_order': False, 'shape': (1,)}"), "not printable ASCII"),
    (b"\x93NUMPY\x02\x00\x00\x00\x00\x01", "header of 16777216 bytes; losskit reads headers up to 1048576"),
    (b"\x93NUMPY\x01\x00\xff\xff{'descr'", "truncated: the header ends at byte 65545"),
])
def test_npy_bad_headers(tmp_path, content, message):
    assert message in read_error(write(tmp_path, "bad.npy", content))


def test_unknown_extension_and_missing_file(tmp_path):
    assert "unknown file type" in read_error(write(tmp_path, "a.png", b"x"))
    assert "No such file" in read_error(tmp_path / "missing.npy")
    directory = tmp_path / "dir.npy"
    directory.mkdir()
    read_error(directory)


# ---------------------------------------------------------------- NIfTI


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("dtype", INTEGER_DTYPES + ["float32", "float64"])
def test_nifti_round_trip_against_nibabel(tmp_path, dtype, suffix):
    values = sample_values(dtype, (5, 4, 3), np.random.default_rng(3))
    values = np.nan_to_num(values, nan=0.5, posinf=7.0, neginf=-7.0)
    image = nib.Nifti1Image(values, np.diag([0.7, 1.25, 3.0, 1.0]), dtype=values.dtype)
    path = tmp_path / f"v{suffix}"
    nib.save(image, path)
    loaded = nib.load(path)
    expected = np.asanyarray(loaded.dataobj)
    data = read(path)
    assert_same_array(data, expected)
    assert data["spacing"] == pytest.approx([float(z) for z in loaded.header.get_zooms()], rel=0, abs=0)


def test_nifti2_four_dimensions_and_big_endian(tmp_path):
    values = np.random.default_rng(4).normal(size=(6, 5, 4, 3)).astype(np.float32)
    image = nib.Nifti2Image(values, np.diag([0.5, 0.5, 2.0, 1.0]))
    image.header.set_zooms((0.5, 0.5, 2.0, 1.5))
    path = tmp_path / "v2.nii.gz"
    nib.save(image, path)
    data = read(path)
    assert_same_array(data, np.asanyarray(nib.load(path).dataobj))
    assert data["spacing"] == [0.5, 0.5, 2.0, 1.5]

    header = nib.Nifti1Header(endianness=">")
    header.set_data_dtype(np.int16)
    big = nib.Nifti1Image(np.arange(60, dtype=np.int16).reshape(3, 4, 5), np.eye(4), header)
    big_path = tmp_path / "big.nii"
    nib.save(big, big_path)
    assert nib.load(big_path).header.endianness == ">"
    assert_same_array(read(big_path), np.asanyarray(nib.load(big_path).dataobj))


def test_nifti_scaling_as_get_fdata(tmp_path):
    values = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    path = tmp_path / "scaled.nii"
    nib.save(nib.Nifti1Image(values, np.eye(4), dtype=np.int16), path)
    content = bytearray(path.read_bytes())
    content[112:120] = struct.pack("<2f", 0.5, -3.0)  # scl_slope, scl_inter (nibabel resets them on save)
    path.write_bytes(bytes(content))
    loaded = nib.load(path)
    assert (loaded.dataobj.slope, loaded.dataobj.inter) == (0.5, -3.0)
    assert_same_array(read(path), loaded.get_fdata())


def nifti_file(tmp_path, name="n.nii", shape=(4, 4, 4), dtype=np.uint8) -> pathlib.Path:
    path = tmp_path / name
    nib.save(nib.Nifti1Image(np.ones(shape, dtype), np.eye(4)), path)
    return path


def test_nifti_bad_files(tmp_path):
    whole = nifti_file(tmp_path).read_bytes()
    assert "not a readable NIfTI" in read_error(write(tmp_path, "magic.nii", b"\0" * 348 + whole[348:]))
    assert "not a readable NIfTI" in read_error(write(tmp_path, "short.nii", whole[:200]))
    error = read_error(write(tmp_path, "cut.nii", whole[:-10]))
    assert "truncated: the header declares 64 bytes of voxels from byte 352" in error
    noise = tmp_path / "noise.nii"
    nib.save(nib.Nifti1Image(np.random.default_rng(5).random((16, 16, 16)), np.eye(4)), noise)
    gz = write(tmp_path, "cut.nii.gz", gzip.compress(noise.read_bytes())[:-2000])
    assert "cannot read its 4096 voxels" in read_error(gz)
    complex_path = tmp_path / "c.nii"
    nib.save(nib.Nifti1Image(np.ones((2, 2, 2), np.complex64), np.eye(4)), complex_path)
    assert "datatype COMPLEX64 (code 32) is not supported" in read_error(complex_path)


@pytest.mark.parametrize("compressed", [False, True])
def test_nifti_absurd_dimensions_fail_before_allocating(tmp_path, compressed):
    """A header declaring 2^31 x 2^31 x 2^15 voxels in a file of a few
    hundred bytes: rejected by the size check (1 GiB address-space limit)."""
    header = nib.Nifti1Header()
    header.set_data_dtype(np.float32)
    header.set_data_shape((4, 4, 4))
    buffer = io.BytesIO()
    buffer.write(header.binaryblock + b"\0" * 4 + b"\0" * 256)
    content = bytearray(buffer.getvalue())
    content[40:56] = struct.pack("<8h", 3, 32767, 32767, 32767, 1, 1, 1, 1)
    content = bytes(content)
    path = write(tmp_path, "huge.nii.gz" if compressed else "huge.nii",
                 gzip.compress(content) if compressed else content)
    error = read_error(path)
    assert ("truncated: the header declares" in error or "compressed bytes" in error), error
