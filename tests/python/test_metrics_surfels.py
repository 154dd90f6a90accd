"""DeepMind's surfels (surface="surfels") against the surface-distance package.

- The weight tables: losskit derives the 16 contour lengths and the 256 surface
  areas from a rule (src/metrics/surfels.c); here every code is compared with
  the package's create_table_neighbour_code_to_contour_length and
  create_table_neighbour_code_to_surface_area at several spacings. losskit
  sums planar pieces where DeepMind sums triangles: the areas agree to a few
  units in the last place (rtol 2e-15).
- The metrics in 3-D: HD, percentile HD (area-weighted, first crossing) at
  several percentiles, ASD both ways, ASSD as the mean of DeepMind's pair and
  as the area-weighted mean of both lists, NSD at several tolerances, on random
  masks of several shapes and densities, balls, one voxel, thin plates and
  lines, masks touching the image's edges, one mask inside the other, with
  isotropic and anisotropic spacing; rtol 1e-12 (the same distances, areas
  that differ in the last bits, sums in another order). Where a cumulative
  area fraction equals the percentile exactly (symmetric shapes), DeepMind's
  np.cumsum rounds the tie either way; losskit reads it in exact arithmetic,
  and the reference here does the same (robust_hausdorff_exact_ties), checking
  that it differs from DeepMind's only at such ties. Empty masks follow
  losskit's (MONAI's) rules, compared with DeepMind's where they agree.
- MONAI's compute_surface_dice(use_subvoxels=True), DeepMind's surfels in
  float32: rtol 1e-6.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import losskit
from losskit import metrics as M
from test_metrics import quiet  # noqa: F401 (autouse: gives DeepMind's np.Inf back under NumPy 2)

surface_distance = pytest.importorskip("surface_distance")
lookup_tables = pytest.importorskip("surface_distance.lookup_tables")

RTOL = 1e-12
PERCENTILES = (0.0, 50.0, 90.0, 95.0, 99.0, 100.0)
TOLERANCES = (0.0, 0.5, 1.0, 1.5, 2.5)
SPACINGS_3D = [(1.0, 1.0, 1.0), (0.8, 1.1, 2.5), (2.0, 0.5, 0.5), (1e-3, 1.0, 1e3), (0.3, 7.0, 1.7)]


# ------------------------------------------------------------------ tables


@pytest.mark.parametrize("spacing", SPACINGS_3D + [tuple(np.random.default_rng(7).uniform(0.1, 10, 3))])
def test_surface_areas_equal_deepmind_table(spacing):
    mine = M.surfel_weights(3, spacing)
    theirs = lookup_tables.create_table_neighbour_code_to_surface_area(spacing)
    assert mine.shape == (256,)
    assert mine[0] == mine[255] == theirs[0] == theirs[255] == 0
    assert (mine[1:255] > 0).all()
    np.testing.assert_allclose(mine, theirs, rtol=2e-15, atol=0)


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.7, 1.9), (3.0, 4.0), (1e-3, 1e3)])
def test_contour_lengths_equal_deepmind_table(spacing):
    mine = M.surfel_weights(2, spacing)
    theirs = lookup_tables.create_table_neighbour_code_to_contour_length(spacing)
    np.testing.assert_array_equal(mine, theirs)


def test_surface_areas_by_hand():
    """Unit cell: a cut corner is the triangle through three edge midpoints,
    sqrt(3) / 8; two corners along an edge a rectangle 1 x sqrt(2) / 2; a face
    a unit square; a corner and its three neighbours the regular hexagon,
    3 sqrt(3) / 4; three corners of a face a pentagon, half a unit square on
    the midplane plus a quadrilateral of 3 sqrt(3) / 8."""
    areas = M.surfel_weights(3)
    edge, face = 128 | 64, 128 | 64 | 32 | 16
    np.testing.assert_allclose(areas[[1, 2, 4, 8, 16, 32, 64, 128]], np.sqrt(3) / 8, rtol=1e-15)
    np.testing.assert_allclose(areas[edge], np.sqrt(2) / 2, rtol=1e-15)
    assert areas[face] == 1
    np.testing.assert_allclose(areas[128 | 64 | 32 | 8], 3 * np.sqrt(3) / 4, rtol=1e-15)
    np.testing.assert_allclose(areas[128 | 64 | 32], 0.5 + 3 * np.sqrt(3) / 8, rtol=1e-15)
    codes = np.arange(256)
    np.testing.assert_array_equal(areas, areas[255 - codes])  # a code and its complement
    # spacing (a, b, c): a face across axis 0 has area b c
    assert M.surfel_weights(3, (2.0, 3.0, 5.0))[face] == 15
    np.testing.assert_allclose(M.surfel_weights(3, (2.0, 2.0, 2.0)), 4 * areas, rtol=1e-15)


def test_surfel_weights_errors():
    with pytest.raises(losskit.LosskitError, match="spatial_dims = 4"):
        M.surfel_weights(4)
    with pytest.raises(losskit.LosskitError, match=r"spacing\[1\] = -1"):
        M.surfel_weights(3, (1.0, -1.0, 1.0))
    with pytest.raises(losskit.LosskitError, match="spacing has 2 values"):
        M.surfel_weights(3, (1.0, 1.0))


# ------------------------------------------------------------------ metrics


# A cumulative area fraction this close to q is a tie in exact arithmetic.
TIE = 1e-13


def robust_hausdorff_exact_ties(d, percent):
    """compute_robust_hausdorff with ties read in exact arithmetic: where a
    surfel's cumulative area fraction equals q (symmetric shapes), it reaches
    q. DeepMind's np.cumsum / np.sum round such a tie either way."""
    values = []
    for distances, areas in ((d["distances_gt_to_pred"], d["surfel_areas_gt"]),
                             (d["distances_pred_to_gt"], d["surfel_areas_pred"])):
        if len(distances) == 0:
            values.append(np.inf)
            continue
        fractions = np.cumsum(areas) / np.sum(areas)
        values.append(distances[min(np.searchsorted(fractions, percent / 100 - TIE), len(distances) - 1)])
    return max(values)


def has_tie(d, percent):
    return any(np.isclose(np.cumsum(a) / np.sum(a), percent / 100, rtol=0, atol=TIE).any()
               for a in (d["surfel_areas_gt"], d["surfel_areas_pred"]) if len(a))


def deepmind(gt, pred, spacing):
    """DeepMind's metrics of one pair, keyed like losskit's, with the
    percentile HD at each of PERCENTILES and NSD at each of TOLERANCES."""
    d = surface_distance.compute_surface_distances(gt, pred, spacing)
    gt_to_pred, pred_to_gt = surface_distance.compute_average_surface_distance(d)
    a_gt, a_pred = d["surfel_areas_gt"], d["surfel_areas_pred"]
    both = (np.sum(d["distances_gt_to_pred"] * a_gt) + np.sum(d["distances_pred_to_gt"] * a_pred)) / (
        np.sum(a_gt) + np.sum(a_pred))
    out = {
        "hausdorff": surface_distance.compute_robust_hausdorff(d, 100),
        "asd": pred_to_gt,
        "asd_reverse": gt_to_pred,
        "assd_mean_of_means": (gt_to_pred + pred_to_gt) / 2,
        "assd_concatenated": both,
    }
    for q in PERCENTILES:
        theirs, exact = surface_distance.compute_robust_hausdorff(d, q), robust_hausdorff_exact_ties(d, q)
        if theirs != exact:  # only where DeepMind's rounding decided a tie
            assert has_tie(d, q), (q, theirs, exact)
        out[f"hd{q}"] = exact
    for tau in TOLERANCES:
        out[f"nsd{tau}"] = surface_distance.compute_surface_dice_at_tolerance(d, tau)
    return out


def losskit_metrics(pred, target, spacing):
    """The same keys from losskit, for (N, *spatial) masks of one class."""
    pred, target = pred.astype(np.uint8), target.astype(np.uint8)
    common = dict(surface="surfels", percentile_rule="area_weighted")
    got = M.compute(pred, target, 2, spacing, metrics=("hausdorff", "asd"), **common)
    out = {"hausdorff": got["hausdorff"], "asd": got["asd"],
           "asd_reverse": M.asd(target, pred, 2, spacing, **common)}
    for rule in ("mean_of_means", "concatenated"):
        out[f"assd_{rule}"] = M.assd(pred, target, 2, spacing, assd_rule=rule, **common)
    for q in PERCENTILES:
        out[f"hd{q}"] = M.hausdorff_percentile(pred, target, 2, spacing, percentile=q, **common)
    for tau in TOLERANCES:
        out[f"nsd{tau}"] = M.nsd(pred, target, 2, spacing, nsd_tolerance=tau, **common)
    return {name: value[:, 0] for name, value in out.items()}


def assert_matches_deepmind(preds, targets, spacing):
    got = losskit_metrics(preds, targets, spacing)
    for n, (pred, target) in enumerate(zip(preds, targets)):
        want = deepmind(target.astype(bool), pred.astype(bool), spacing)
        for name, value in want.items():
            np.testing.assert_allclose(got[name][n], value, rtol=RTOL, atol=0, err_msg=f"{name} image {n}")


def random_masks(shape, density, gen, count=2):
    return gen.random((count,) + shape) < density, gen.random((count,) + shape) < density


def blobs(shape, gen, count=2):
    """Smoothed noise thresholded: irregular objects with holes and handles."""
    import scipy.ndimage as ndi

    def one():
        field = ndi.gaussian_filter(gen.normal(size=shape), 1.5)
        return field > 0.05

    return np.stack([one() for _ in range(count)]), np.stack([one() for _ in range(count)])


def balls(shape, gen, count=2):
    grid = np.indices(shape, dtype=np.float64)
    preds, targets = [], []
    for _ in range(count):
        center = gen.uniform(0.3, 0.7, 3) * np.array(shape)
        radius = gen.uniform(0.2, 0.35) * min(shape)
        shift = gen.normal(0, 1.2, 3)
        targets.append(sum((g - c) ** 2 for g, c in zip(grid, center)) <= radius**2)
        preds.append(sum((g - c - s) ** 2 for g, c, s in zip(grid, center, shift)) <= (radius * 0.9) ** 2)
    return np.stack(preds), np.stack(targets)


RANDOM_CASES = [
    ("sparse", (13, 11, 9), 0.05),
    ("half", (9, 12, 10), 0.5),
    ("dense", (10, 9, 12), 0.9),
    ("flat", (3, 17, 15), 0.3),
    ("long", (25, 4, 5), 0.4),
]


@pytest.mark.parametrize("spacing", SPACINGS_3D[:3] + SPACINGS_3D[4:], ids=str)
@pytest.mark.parametrize("case", RANDOM_CASES, ids=lambda c: c[0])
def test_random_masks(case, spacing):
    name, shape, density = case
    gen = np.random.default_rng(zlib.crc32(name.encode()))
    preds, targets = random_masks(shape, density, gen)
    assert_matches_deepmind(preds, targets, spacing)


@pytest.mark.parametrize("spacing", SPACINGS_3D, ids=str)
def test_blobs_and_balls(spacing):
    gen = np.random.default_rng(11)
    assert_matches_deepmind(*blobs((20, 18, 16), gen), spacing)
    assert_matches_deepmind(*balls((24, 22, 20), gen), spacing)


def shapes():
    """Named (pred, target) pairs of one 9 x 10 x 11 image each."""
    shape = (9, 10, 11)
    empty = np.zeros(shape, bool)

    def box(*slices):
        mask = empty.copy()
        mask[slices] = True
        return mask

    cube = box(slice(2, 6), slice(3, 8), slice(1, 9))
    return {
        "one_voxel": (box(4, 5, 6), cube),
        "one_voxel_each": (box(4, 5, 6), box(1, 8, 2)),
        "one_voxel_same": (box(4, 5, 6), box(4, 5, 6)),
        "plate_axis0": (box(4, slice(1, 9), slice(2, 10)), cube),
        "plate_axis2": (box(slice(0, 9), slice(0, 10), 3), box(slice(0, 9), slice(0, 10), 7)),
        "line_axis1": (box(3, slice(0, 10), 5), box(6, slice(2, 7), 5)),
        "line_and_plate": (box(slice(1, 8), 4, 4), box(4, slice(0, 10), slice(0, 11))),
        "diagonal_line": (np.eye(9, 10, dtype=bool)[:, :, None] & box(slice(None), slice(None), 5), cube),
        "full_image": (~empty, cube),
        "touching_edges": (box(slice(0, 9), slice(0, 4), slice(0, 11)), box(slice(0, 5), slice(0, 10), slice(6, 11))),
        "corner_voxels": (box(0, 0, 0), box(8, 9, 10)),
        "nested": (box(slice(3, 6), slice(4, 7), slice(3, 8)), cube),
        "checkerboard": (np.indices(shape).sum(0) % 2 == 0, cube),
    }


@pytest.mark.parametrize("spacing", SPACINGS_3D, ids=str)
@pytest.mark.parametrize("name", list(shapes()))
def test_shapes(name, spacing):
    pred, target = shapes()[name]
    assert_matches_deepmind(pred[None], target[None], spacing)


def test_ties_rounded_the_other_way_by_deepmind():
    """Two parallel plates 4 apart: exactly half of each surface's area is
    nearer than the rest, so the median is a tie. In exact arithmetic the
    first crossing is the near half's distance, which losskit gives; at this
    spacing DeepMind's cumulative sum falls an ulp short of 0.5 and it reports
    the far half's."""
    pred, target = shapes()["plate_axis2"]
    spacing = (1.0, 1.0, 1.0)
    d = surface_distance.compute_surface_distances(target, pred, spacing)
    assert has_tie(d, 50.0)
    assert surface_distance.compute_robust_hausdorff(d, 50.0) == 4.0
    got = M.hausdorff_percentile(pred[None].astype(np.uint8), target[None].astype(np.uint8), 2, spacing,
                                 percentile=50.0, surface="surfels", percentile_rule="area_weighted")
    assert got[0, 0] == robust_hausdorff_exact_ties(d, 50.0) == 3.0


def test_batch_of_labels_and_threads():
    """Label maps with several classes and images, on 1 and 2 threads, give
    DeepMind's values for each (image, class) and the same bits."""
    gen = np.random.default_rng(5)
    preds, targets = gen.integers(0, 4, (3, 12, 10, 11)), gen.integers(0, 4, (3, 12, 10, 11))
    spacing = (0.8, 1.1, 2.5)
    options = dict(surface="surfels", percentile_rule="area_weighted", assd_rule="mean_of_means", nsd_tolerance=1.5)
    one = M.compute(preds, targets, 4, spacing, metrics=M.METRICS, threads=1, **options)
    two = M.compute(preds, targets, 4, spacing, metrics=M.METRICS, threads=2, **options)
    for name in M.METRICS:
        np.testing.assert_array_equal(one[name], two[name], err_msg=name)
    for n in range(3):
        for label in range(1, 4):
            want = deepmind(targets[n] == label, preds[n] == label, spacing)
            np.testing.assert_allclose(one["hausdorff"][n, label - 1], want["hausdorff"], rtol=RTOL)
            np.testing.assert_allclose(one["hausdorff_percentile"][n, label - 1], want["hd95.0"], rtol=RTOL)
            np.testing.assert_allclose(one["assd"][n, label - 1], want["assd_mean_of_means"], rtol=RTOL)
            np.testing.assert_allclose(one["nsd"][n, label - 1], want["nsd1.5"], rtol=RTOL)


def test_empty_masks():
    """One mask empty: every distance is inf and NSD 0 in both; DeepMind's
    pred-to-target mean of an empty prediction is NaN (0 / 0), losskit's inf.
    Both empty: DeepMind's robust Hausdorff is inf, losskit's NaN (MONAI)."""
    cube = np.zeros((1, 6, 7, 8), bool)
    cube[0, 1:4, 2:5, 3:7] = True
    empty = np.zeros_like(cube)
    for pred, target in ((empty, cube), (cube, empty)):
        got = losskit_metrics(pred, target, (0.8, 1.1, 2.5))
        want = deepmind(target[0], pred[0], (0.8, 1.1, 2.5))
        for name in ("hausdorff", "hd95.0", "hd0.0"):
            assert got[name][0] == want[name] == np.inf, name
        for tau in TOLERANCES:
            assert got[f"nsd{tau}"][0] == want[f"nsd{tau}"] == 0
        assert got["asd"][0] == np.inf and got["asd_reverse"][0] == np.inf
    got = losskit_metrics(empty, empty, None)
    assert surface_distance.compute_robust_hausdorff(
        surface_distance.compute_surface_distances(empty[0], empty[0], (1.0, 1.0, 1.0)), 100) == np.inf
    for name, value in got.items():
        assert np.isnan(value).all(), name
    flags = M.compute(empty.astype(np.uint8), cube.astype(np.uint8), 2, metrics=("hausdorff",), surface="surfels",
                      return_flags=True)["flags"]
    assert flags[0, 0] == M.PRED_EMPTY


def test_surfels_need_two_or_three_axes():
    for shape in ((1, 5), (1, 2, 3, 2, 3)):
        mask = np.ones(shape, np.uint8)
        with pytest.raises(losskit.LosskitError, match=f"{len(shape) - 1} spatial axes"):
            M.hausdorff(mask, mask, 2, surface="surfels")


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.8, 1.0, 2.5)], ids=str)
def test_nsd_against_monai_subvoxels(spacing):
    """MONAI's compute_surface_dice(use_subvoxels=True) follows DeepMind's
    surfels; it computes in float32 (rtol 1e-6)."""
    torch = pytest.importorskip("torch")
    monai_metrics = pytest.importorskip("monai.metrics")
    gen = np.random.default_rng(9)
    # class 1 a ball, class 2 scattered voxels
    balls_pred, balls_target = balls((26, 24, 22), gen, count=1)
    label_pred, label_target = balls_pred.astype(np.int64), balls_target.astype(np.int64)
    noise_pred, noise_target = random_masks((26, 24, 22), 0.02, gen, count=1)
    label_pred[noise_pred], label_target[noise_target] = 2, 2

    def one_hot(labels):
        return torch.from_numpy(np.moveaxis(np.eye(3, dtype=np.float32)[labels], -1, 1).copy())

    tolerances = [1.0, 1.5]
    want = monai_metrics.compute_surface_dice(one_hot(label_pred), one_hot(label_target), tolerances, spacing=spacing,
                                              use_subvoxels=True).numpy()
    got = M.nsd(label_pred, label_target, 3, spacing, nsd_tolerance=tolerances, surface="surfels")
    assert ((got > 0.05) & (got < 0.95)).all()
    np.testing.assert_allclose(got, want, rtol=1e-6)
