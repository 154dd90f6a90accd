"""losskit.distance against scipy.ndimage.distance_transform_edt (bit for bit)
and the signed maps against their reference definitions written here with
scipy: boundary-loss (Kervadec et al., one_hot2dist), SegWithDistMap's
normalized SDF (compute_sdf, with skimage's inner boundaries), MONAI's
Hausdorff DT field, and the plain signed map."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given, settings, strategies as st

import losskit
from losskit import distance

SHAPES = [
    (1,), (2,), (17,), (1, 1), (1, 23), (23, 1), (7, 9), (64, 48), (1, 1, 1), (9, 1, 1), (1, 9, 1),
    (1, 1, 9), (1, 12, 13), (6, 7, 8), (16, 20, 24), (3, 4, 5, 6), (2, 1, 3, 1, 4),
]


def random_mask(shape, gen, background):
    mask = gen.random(shape) >= background
    if mask.all():
        mask.flat[gen.integers(mask.size)] = False
    return mask


def spacings(ndim, gen):
    return [None, (2.0,) * ndim, tuple(gen.uniform(0.2, 4.0, ndim)), tuple(float(v) for v in gen.integers(1, 4, ndim))]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("background", [0.01, 0.3, 0.9])
def test_edt_equals_scipy_bit_for_bit(shape, background):
    gen = np.random.default_rng(abs(hash((shape, background))) % 2**32)
    mask = random_mask(shape, gen, background)
    for sampling in spacings(len(shape), gen):
        want = ndi.distance_transform_edt(mask, sampling=sampling)
        got = distance.edt(mask, sampling)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, want, err_msg=f"sampling={sampling}")


@pytest.mark.parametrize(
    "name, mask",
    [
        ("empty", np.zeros((9, 11), bool)),
        ("one_voxel_3d", np.pad(np.ones((1, 1, 1), bool), 4, constant_values=False) == False),  # noqa: E712
        ("one_background_voxel", np.pad(np.zeros((1, 1), bool), 5, constant_values=True)),
        ("thin_line", np.eye(31, dtype=bool) == False),  # noqa: E712
        ("row_vector", np.r_[np.ones(40, bool), False, np.ones(3, bool)][None, :]),
        ("column_3d", (np.arange(30) % 7 != 3).reshape(30, 1, 1)),
        ("stripes", np.tile(np.arange(50) % 9 != 0, (20, 1))),
    ],
)
def test_edt_edge_cases(name, mask):
    for sampling in (None, (0.5,) * mask.ndim, tuple(np.linspace(0.3, 2.7, mask.ndim))):
        np.testing.assert_array_equal(distance.edt(mask, sampling), ndi.distance_transform_edt(mask, sampling=sampling))


def test_full_mask_is_infinite_where_scipy_measures_to_a_phantom():
    mask = np.ones((3, 4), bool)
    assert np.all(np.isinf(distance.edt(mask)))
    # scipy reports the distance to an element outside the image, (-1, 0):
    np.testing.assert_array_equal(ndi.distance_transform_edt(mask)[0], [1, np.sqrt(2), np.sqrt(5), np.sqrt(10)])


@settings(max_examples=60, deadline=None)
@given(
    shape=st.lists(st.integers(1, 9), min_size=1, max_size=4),
    seed=st.integers(0, 2**31),
    background=st.floats(0.0, 1.0),
    anisotropic=st.booleans(),
)
def test_edt_equals_scipy_on_generated_masks(shape, seed, background, anisotropic):
    gen = np.random.default_rng(seed)
    mask = random_mask(tuple(shape), gen, background)
    sampling = tuple(gen.uniform(0.1, 5.0, len(shape))) if anisotropic else None
    np.testing.assert_array_equal(distance.edt(mask, sampling), ndi.distance_transform_edt(mask, sampling=sampling))


def test_realistic_volumes_equal_scipy_on_every_thread_count():
    gen = np.random.default_rng(3)
    grid = np.indices((48, 64, 56)).astype(float)
    volume = np.zeros((48, 64, 56), bool)
    for _ in range(6):  # a few overlapping balls
        centre, radius = gen.uniform(0, 48, 3), gen.uniform(4, 15)
        volume |= ((grid - centre[:, None, None, None]) ** 2).sum(0) < radius**2
    sampling = (2.5, 0.8, 0.8)
    want = ndi.distance_transform_edt(volume, sampling=sampling)
    for threads in (1, 2, 3):
        np.testing.assert_array_equal(distance.edt(volume, sampling, threads=threads), want)
    inverse = ndi.distance_transform_edt(~volume, sampling=sampling)
    np.testing.assert_array_equal(distance.edt(~volume, sampling, threads=2), inverse)


def test_batch_dims_is_a_loop_over_images():
    gen = np.random.default_rng(5)
    masks = gen.random((3, 2, 20, 30)) > 0.1
    masks[1, 0] = False  # an empty image in the batch
    masks[2, 1] = True   # a full one
    sampling = (1.0, 3.0)
    got = distance.edt(masks, sampling, batch_dims=2, threads=2)
    for i in range(3):
        for j in range(2):
            if masks[i, j].all():
                assert np.all(np.isinf(got[i, j]))
            else:
                np.testing.assert_array_equal(got[i, j], ndi.distance_transform_edt(masks[i, j], sampling=sampling))


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int32, np.int64, np.float32, np.float64])
def test_mask_dtypes_and_float32_output(dtype):
    gen = np.random.default_rng(9)
    values = (gen.random((25, 31)) > 0.2) * gen.integers(1, 5, (25, 31))
    mask = values.astype(dtype)
    want = ndi.distance_transform_edt(mask)
    np.testing.assert_array_equal(distance.edt(mask), want)
    single = distance.edt(mask, dtype=np.float32)
    assert single.dtype == np.float32
    np.testing.assert_array_equal(single, want.astype(np.float32))


def runs_mask(shape, gen, background):
    """Background (the sites) in runs along the last axis, of random lengths:
    what the transform sees after its first axis on segmentation masks."""
    flat = np.ones(int(np.prod(shape)), bool)
    position = 0
    while position < flat.size:
        length = int(gen.geometric(0.15))
        if gen.random() < background:
            flat[position:position + length] = False
        position += length
    if flat.all():
        flat[gen.integers(flat.size)] = False
    return flat.reshape(shape)


# Lines are transformed 8 at a time (in lock-step), and whole-line runs of
# sites are jumped over; these shapes leave ragged groups of lines along
# every axis (counts not multiples of 8), and lines longer than one task.
GROUP_SHAPES = [(13, 37), (37, 13), (3, 300), (300, 5), (9, 10, 11), (17, 3, 130), (5, 6, 7, 9)]


@pytest.mark.parametrize("shape", GROUP_SHAPES, ids=str)
@pytest.mark.parametrize("make", [random_mask, runs_mask], ids=["noise", "runs"])
@pytest.mark.parametrize("background", [0.02, 0.5, 0.95])
def test_ragged_groups_of_lines_equal_scipy_on_one_and_two_threads(shape, make, background):
    gen = np.random.default_rng(abs(hash((shape, make is runs_mask, background))) % 2**32)
    mask = make(shape, gen, background)
    for sampling in (None, tuple(gen.uniform(0.3, 3.0, len(shape)))):
        want = ndi.distance_transform_edt(mask, sampling=sampling)
        for threads in (1, 2):
            np.testing.assert_array_equal(distance.edt(mask, sampling, threads=threads), want,
                                          err_msg=f"sampling={sampling} threads={threads}")


@pytest.mark.parametrize("shape", [(1,), (700,), (1, 9), (40, 70), (1, 1, 5), (20, 30, 40), (3, 4, 5, 6)], ids=str)
def test_float32_output_is_the_float64_rounded_in_every_rank(shape):
    # the last pass writes float32 itself; it must round the same doubles
    gen = np.random.default_rng(len(shape) * 1000 + shape[-1])
    mask = random_mask(shape, gen, 0.1)
    sampling = tuple(gen.uniform(0.5, 2.0, len(shape)))
    want = ndi.distance_transform_edt(mask, sampling=sampling).astype(np.float32)
    for threads in (1, 2):
        got = distance.edt(mask, sampling, dtype=np.float32, threads=threads)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want, err_msg=f"threads={threads}")
    batch = np.stack([mask, random_mask(shape, gen, 0.5)])
    got = distance.edt(batch, sampling, batch_dims=1, dtype=np.float32, threads=2)
    for image in range(2):
        np.testing.assert_array_equal(
            got[image], ndi.distance_transform_edt(batch[image], sampling=sampling).astype(np.float32))


# ------------------------------------------------------------------ signed maps

def boundary_loss_reference(mask, sampling):
    """LIVIAETS/boundary-loss utils.one_hot2dist for one class."""
    pos = mask.astype(bool)
    if not pos.any():
        return np.zeros(mask.shape)
    neg = ~pos
    return ndi.distance_transform_edt(neg, sampling=sampling) * neg - (ndi.distance_transform_edt(pos, sampling=sampling) - 1) * pos


def inner_boundary(pos):
    """skimage.segmentation.find_boundaries(pos, mode='inner', connectivity=1)."""
    cross = ndi.generate_binary_structure(pos.ndim, 1)
    return pos & ~ndi.binary_erosion(pos, cross, border_value=1)


def normalized_reference(mask, sampling):
    """JunMa11/SegWithDistMap compute_sdf for one image."""
    pos = mask.astype(bool)
    neg = ~pos
    posdis = ndi.distance_transform_edt(pos, sampling=sampling)
    negdis = ndi.distance_transform_edt(neg, sampling=sampling)
    sdf = (negdis - negdis.min()) / (negdis.max() - negdis.min()) - (posdis - posdis.min()) / (posdis.max() - posdis.min())
    sdf[inner_boundary(pos)] = 0
    return sdf


def unsigned_reference(mask, sampling):
    """MONAI HausdorffDTLoss.distance_field: EDT(fg) + EDT(bg)."""
    fg = mask.astype(bool)
    return ndi.distance_transform_edt(fg, sampling=sampling) + ndi.distance_transform_edt(~fg, sampling=sampling)


def signed_reference(mask, sampling):
    fg = mask.astype(bool)
    return np.where(fg, -ndi.distance_transform_edt(fg, sampling=sampling), ndi.distance_transform_edt(~fg, sampling=sampling))


REFERENCES = {
    "boundary_loss": boundary_loss_reference,
    "normalized": normalized_reference,
    "unsigned": unsigned_reference,
    "signed": signed_reference,
}


@pytest.mark.parametrize("kind", list(REFERENCES))
@pytest.mark.parametrize("shape", [(1, 9), (9, 1), (24, 33), (5, 1, 7), (12, 14, 16)], ids=str)
def test_sdf_equals_its_reference(kind, shape):
    gen = np.random.default_rng(abs(hash((kind, shape))) % 2**32)
    for background in (0.3, 0.8):
        mask = random_mask(shape, gen, background)
        if not mask.any() or mask.all():
            continue
        for sampling in (None, tuple(gen.uniform(0.5, 2.0, len(shape)))):
            got = distance.sdf(mask, sampling, kind=kind)
            np.testing.assert_array_equal(got, REFERENCES[kind](mask, sampling))


@pytest.mark.parametrize("kind", list(REFERENCES))
def test_sdf_of_empty_and_full_masks_is_zero(kind):
    for mask in (np.zeros((6, 7), bool), np.ones((6, 7), bool), np.ones((1,), bool)):
        np.testing.assert_array_equal(distance.sdf(mask, kind=kind), 0)
    # the boundary-loss reference agrees on the empty mask (it has no rule for a full one)
    np.testing.assert_array_equal(boundary_loss_reference(np.zeros((6, 7)), None), 0)


def test_sdf_batch_and_threads():
    gen = np.random.default_rng(12)
    masks = gen.random((4, 3, 40, 50)) > 0.5
    for kind in REFERENCES:
        one = distance.sdf(masks, (1.5, 0.5), kind=kind, batch_dims=2, threads=1)
        np.testing.assert_array_equal(distance.sdf(masks, (1.5, 0.5), kind=kind, batch_dims=2, threads=3), one)
        np.testing.assert_array_equal(one[2, 1], REFERENCES[kind](masks[2, 1], (1.5, 0.5)))


def test_errors_name_the_argument():
    mask = np.ones((4, 5))
    mask[1, 2] = 0
    with pytest.raises(losskit.LosskitError, match="sampling has 3 values"):
        distance.edt(mask, (1, 2, 3))
    with pytest.raises(losskit.LosskitError, match=r"spacing\[1\] = -2"):
        distance.edt(mask, (1, -2))
    with pytest.raises(losskit.LosskitError, match="batch_dims = 2"):
        distance.edt(mask, batch_dims=2)
    with pytest.raises(losskit.LosskitError, match="kind = 'sign'"):
        distance.sdf(mask, kind="sign")
    with pytest.raises(losskit.LosskitError, match="float32 or float64"):
        distance.edt(mask, dtype=np.int32)
    with pytest.raises(losskit.LosskitError, match="dtype complex128"):
        distance.edt(mask.astype(complex))
    mask[3, 4] = np.nan
    with pytest.raises(losskit.LosskitError, match=r"mask\[3, 4\] = nan") as error:
        distance.sdf(mask)
    assert error.value.status == "LK_EVALUE"


def test_empty_arrays_give_empty_results():
    assert distance.edt(np.zeros((0, 5))).shape == (0, 5)


def test_a_plain_import_exposes_the_subpackages():
    import importlib

    package = importlib.import_module("losskit")
    assert package.distance.edt is distance.edt and callable(package.metrics.compute)
