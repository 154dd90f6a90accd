"""losskit.metrics against the references:

- MONAI (compute_hausdorff_distance with and without percentile, directed=False;
  compute_average_surface_distance symmetric and not; compute_surface_dice;
  compute_dice, compute_iou), which computes distances and means in float32:
  compared at rtol 1e-6, the float32 rounding (losskit is float64);
- DeepMind surface-distance (compute_surface_distances, compute_robust_hausdorff,
  compute_average_surface_distance, compute_surface_dice_at_tolerance) on 2-D
  and 3-D surfels: rtol 1e-12 (the same distances bit for bit; sums in another
  order; test_metrics_surfels.py has the 3-D area table and more shapes);
- medpy's conventions (hd95 pooled, assd of the concatenation), written here
  with scipy as medpy writes them (medpy is not installed): exact for the
  percentile and the max, rtol 1e-12 for means (numpy sums pairwise).

On random label maps and on balls, 2-D and 3-D, isotropic and anisotropic, and
on the edge cases: empty prediction, empty target, both, one voxel, full image.
"""

from __future__ import annotations

import warnings
import zlib

import numpy as np
import pytest
import scipy.ndimage as ndi

import losskit
from losskit import metrics as M

torch = pytest.importorskip("torch")
monai_metrics = pytest.importorskip("monai.metrics")
surface_distance = pytest.importorskip("surface_distance")

MONAI_RTOL = 1e-6
# MONAI's torch.quantile runs in float32, its rank q (n - 1) too (q = 0.95 as
# float32 is 0.949999988): the interpolation weight moves by up to n 6e-8, the
# percentile by that times the gap between the two distances it falls between.
MONAI_PERCENTILE_RTOL = 1e-4


def one_hot(labels, classes):
    return torch.from_numpy(np.moveaxis(np.eye(classes, dtype=np.float32)[labels], -1, 1).copy())


def balls(shape, gen, count=3):
    """A label map of `count` overlapping balls (labels 1..count), and a
    prediction of the same balls moved and resized a little."""
    grid = np.indices(shape, dtype=np.float64)
    target, pred = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
    for label in range(1, count + 1):
        center = gen.uniform(0.25, 0.75, len(shape)) * np.array(shape)
        radius = gen.uniform(0.12, 0.3) * min(shape)
        shift = gen.normal(0, 1.5, len(shape))
        distance = np.sqrt(sum((g - c) ** 2 for g, c in zip(grid, center)))
        moved = np.sqrt(sum((g - c - s) ** 2 for g, c, s in zip(grid, center, shift)))
        target[distance <= radius] = label
        pred[moved <= radius * gen.uniform(0.85, 1.15)] = label
    return pred, target


def random_labels(shape, gen, classes=3):
    return gen.integers(0, classes, shape), gen.integers(0, classes, shape)


def target_present(target, classes):
    """(N, C - 1): whether each image's target has each class from 1."""
    return np.stack([[(t == c).any() for c in range(1, classes)] for t in target])


CASES = [
    ("random_2d", (2, 23, 19), None),
    ("random_2d_aniso", (2, 23, 19), (0.7, 1.9)),
    ("balls_2d", (2, 64, 56), None),
    ("balls_2d_aniso", (2, 64, 56), (1.3, 0.4)),
    ("random_3d", (2, 12, 14, 10), (1.0, 2.0, 0.5)),
    ("balls_3d", (1, 40, 36, 32), None),
    ("balls_3d_aniso", (2, 40, 36, 32), (0.8, 1.1, 2.5)),
]


def make(case, gen):
    name, shape, spacing = case
    if name.startswith("random"):
        pred, target = random_labels(shape, gen)
    else:
        pairs = [balls(shape[1:], gen) for _ in range(shape[0])]
        pred, target = np.stack([p for p, _ in pairs]), np.stack([t for _, t in pairs])
    return pred, target, spacing


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    # DeepMind's surface_distance returns np.Inf for an empty surface, a name
    # NumPy 2 removed: give it back so that the reference runs.
    monkeypatch.setattr(np, "Inf", np.inf, raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_against_monai(case):
    gen = np.random.default_rng(zlib.crc32(case[0].encode()))
    pred, target, spacing = make(case, gen)
    P, G = one_hot(pred, 4), one_hot(target, 4)
    tolerances = [1.5, 2.0, 0.5]
    got = M.compute(pred, target, 4, spacing, metrics=M.METRICS, nsd_tolerance=tolerances)
    want = {
        "hausdorff": monai_metrics.compute_hausdorff_distance(P, G, spacing=spacing),
        "hausdorff_percentile": monai_metrics.compute_hausdorff_distance(P, G, percentile=95, spacing=spacing),
        "asd": monai_metrics.compute_average_surface_distance(P, G, spacing=spacing),
        "assd": monai_metrics.compute_average_surface_distance(P, G, symmetric=True, spacing=spacing),
        "nsd": monai_metrics.compute_surface_dice(P, G, tolerances, spacing=spacing),
    }
    # Dice and IoU as MONAI's ignore_empty=False (1 for two empty sets; its
    # default ignore_empty=True gives NaN wherever the target is empty)
    overlap = M.compute(pred, target, 4, metrics=("dice", "iou"), empty_overlap=1.0)
    for name, function in (("dice", monai_metrics.compute_dice), ("iou", monai_metrics.compute_iou)):
        np.testing.assert_allclose(overlap[name], function(P, G, include_background=False, ignore_empty=False).numpy(),
                                   rtol=MONAI_RTOL, err_msg=name)
        ignoring = function(P, G, include_background=False).numpy()
        target_empty = ~target_present(target, 4)
        assert np.isnan(ignoring[target_empty]).all()
        np.testing.assert_allclose(got[name][~target_empty], ignoring[~target_empty], rtol=MONAI_RTOL, err_msg=name)
    flags = M.compute(pred, target, 4, metrics=("dice",), return_flags=True)["flags"]
    one_empty = (flags == M.PRED_EMPTY) | (flags == M.TARGET_EMPTY)
    for name, value in want.items():
        value = value.numpy()
        if name == "hausdorff_percentile":
            # MONAI's percentile of all-inf distances is NaN (inf - inf); losskit's is inf
            assert np.isnan(value[one_empty]).all() and np.isinf(got[name][one_empty]).all()
            value = np.where(one_empty, np.inf, value)
        rtol = MONAI_PERCENTILE_RTOL if name == "hausdorff_percentile" else MONAI_RTOL
        np.testing.assert_allclose(got[name], value, rtol=rtol, atol=1e-7, err_msg=name)
    # the per-direction percentile at 100 is the Hausdorff distance
    hd100 = M.hausdorff_percentile(pred, target, 4, spacing, percentile=100)
    np.testing.assert_array_equal(hd100, got["hausdorff"])
    # masks in MONAI's one-hot layout give the same bits as label maps
    masks = M.compute(P.numpy(), G.numpy(), None, spacing, metrics=M.METRICS, nsd_tolerance=tolerances)
    for name in M.METRICS:
        np.testing.assert_array_equal(masks[name], got[name], err_msg=name)


def deepmind(gt, pred, spacing):
    distances = surface_distance.compute_surface_distances(gt, pred, spacing)
    gt_to_pred, pred_to_gt = surface_distance.compute_average_surface_distance(distances)
    return {
        "hausdorff": surface_distance.compute_robust_hausdorff(distances, 100),
        "hausdorff_percentile": surface_distance.compute_robust_hausdorff(distances, 95),
        "asd": pred_to_gt,
        "asd_reverse": gt_to_pred,
        "assd": (gt_to_pred + pred_to_gt) / 2,
        "nsd": surface_distance.compute_surface_dice_at_tolerance(distances, 1.5),
    }


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_surfels_against_deepmind(case):
    gen = np.random.default_rng(zlib.crc32(case[0].encode()) + 1)
    pred, target, spacing = make(case, gen)
    spacing_mm = spacing or (1.0,) * (pred.ndim - 1)
    options = dict(surface="surfels", percentile_rule="area_weighted", assd_rule="mean_of_means", nsd_tolerance=1.5)
    got = M.compute(pred, target, 4, spacing, metrics=M.METRICS, **options)
    reverse = M.asd(target, pred, 4, spacing, **options)
    worst = 0.0
    for n in range(pred.shape[0]):
        for label in range(1, 4):
            if not (pred[n] == label).any() or not (target[n] == label).any():
                continue  # MONAI's rules, not DeepMind's: see test_empty_against_deepmind
            want = deepmind(target[n] == label, pred[n] == label, spacing_mm)
            for name, value in want.items():
                mine = reverse[n, label - 1] if name == "asd_reverse" else got[name][n, label - 1]
                np.testing.assert_allclose(mine, value, rtol=1e-12, err_msg=f"{name} image {n} class {label}")
                worst = max(worst, abs(mine - value) / max(abs(value), 1e-300))
    assert worst < 1e-12


def medpy_distances(a, b, spacing):
    """medpy.metric.binary.__surface_distances: borders by erosion with the
    connectivity-1 structure, the image edge counted as background."""
    structure = ndi.generate_binary_structure(a.ndim, 1)
    a_border = a ^ ndi.binary_erosion(a, structure=structure, iterations=1)
    b_border = b ^ ndi.binary_erosion(b, structure=structure, iterations=1)
    return ndi.distance_transform_edt(~b_border, sampling=spacing)[a_border]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_pooled_percentile_and_assd_as_medpy(case):
    gen = np.random.default_rng(zlib.crc32(case[0].encode()) + 2)
    pred, target, spacing = make(case, gen)
    got = M.compute(pred, target, 4, spacing, metrics=("hausdorff_percentile", "assd", "hausdorff"),
                    percentile_rule="pooled")
    by_means = M.assd(pred, target, 4, spacing, assd_rule="mean_of_means")
    for n in range(pred.shape[0]):
        for label in range(1, 4):
            p, t = pred[n] == label, target[n] == label
            if not p.any() or not t.any():
                continue  # medpy raises for an empty mask
            forward, backward = medpy_distances(p, t, spacing), medpy_distances(t, p, spacing)
            both = np.hstack((forward, backward))
            assert got["hausdorff_percentile"][n, label - 1] == np.percentile(both, 95)
            assert got["hausdorff"][n, label - 1] == both.max()
            np.testing.assert_allclose(got["assd"][n, label - 1], both.mean(), rtol=1e-12)
            np.testing.assert_allclose(by_means[n, label - 1], np.mean((forward.mean(), backward.mean())), rtol=1e-12)


def edge_cases():
    shape = (9, 11)
    empty = np.zeros(shape, np.uint8)
    square = empty.copy()
    square[2:6, 3:8] = 1
    voxel = empty.copy()
    voxel[4, 5] = 1
    full = np.ones(shape, np.uint8)
    return {
        "empty_pred": (empty, square),
        "empty_target": (square, empty),
        "both_empty": (empty, empty),
        "one_voxel": (voxel, square),
        "one_voxel_each": (voxel, np.roll(voxel, 2, axis=1)),
        "full_image": (full, square),
        "full_both": (full, full),
        "corner_voxel": (np.pad(np.ones((1, 1), np.uint8), ((0, 8), (0, 10))), square),
    }


@pytest.mark.parametrize("name", list(edge_cases()))
@pytest.mark.parametrize("spacing", [None, (0.6, 1.7)])
def test_edge_cases_against_monai(name, spacing):
    pred, target = edge_cases()[name]
    P = torch.from_numpy(pred[None, None].astype(np.float32))
    G = torch.from_numpy(target[None, None].astype(np.float32))
    got = M.compute(pred[None, None], target[None, None], None, spacing, metrics=M.METRICS,
                    include_background=True, return_flags=True)
    want = {
        "hausdorff": monai_metrics.compute_hausdorff_distance(P, G, include_background=True, spacing=spacing),
        "hausdorff_percentile": monai_metrics.compute_hausdorff_distance(
            P, G, include_background=True, percentile=95, spacing=spacing),
        "asd": monai_metrics.compute_average_surface_distance(P, G, include_background=True, spacing=spacing),
        "assd": monai_metrics.compute_average_surface_distance(
            P, G, include_background=True, symmetric=True, spacing=spacing),
        "nsd": monai_metrics.compute_surface_dice(P, G, [1.0], include_background=True, spacing=spacing),
        "dice": monai_metrics.compute_dice(P, G, include_background=True, ignore_empty=False),
        "iou": monai_metrics.compute_iou(P, G, include_background=True, ignore_empty=False),
    }
    pred_empty, target_empty = not pred.any(), not target.any()
    assert got["flags"][0, 0] == (M.PRED_EMPTY * pred_empty | M.TARGET_EMPTY * target_empty)
    for metric, value in want.items():
        value = value.numpy()
        if metric == "hausdorff_percentile" and pred_empty != target_empty:
            # MONAI: torch.quantile of all-inf distances interpolates inf - inf = NaN
            assert np.isnan(value).all() and np.isinf(got[metric]).all()
            continue
        if metric in ("dice", "iou") and pred_empty and target_empty:
            # both empty: empty_overlap (NaN by default); MONAI ignore_empty=False says 1
            assert np.isnan(got[metric]).all() and (value == 1).all()
            assert M.compute(pred[None, None], target[None, None], None, metrics=(metric,), include_background=True,
                             empty_overlap=1.0)[metric][0, 0] == 1
            continue
        rtol = MONAI_PERCENTILE_RTOL if metric == "hausdorff_percentile" else MONAI_RTOL
        np.testing.assert_allclose(got[metric], value, rtol=rtol, atol=1e-7, err_msg=metric)


def test_empty_against_deepmind():
    """DeepMind: one mask empty gives inf distances and an NSD of 0, as losskit;
    both empty gives an inf robust Hausdorff, where losskit (MONAI) gives NaN."""
    cases = edge_cases()
    for name in ("empty_pred", "empty_target"):
        pred, target = cases[name]
        got = M.compute(pred[None], target[None], 2, metrics=("hausdorff", "hausdorff_percentile", "nsd"),
                        surface="surfels", percentile_rule="area_weighted")
        distances = surface_distance.compute_surface_distances(target > 0, pred > 0, (1.0, 1.0))
        assert got["hausdorff"][0, 0] == surface_distance.compute_robust_hausdorff(distances, 100) == np.inf
        assert got["hausdorff_percentile"][0, 0] == np.inf
        assert got["nsd"][0, 0] == surface_distance.compute_surface_dice_at_tolerance(distances, 1.0) == 0
    pred, target = cases["both_empty"]
    distances = surface_distance.compute_surface_distances(target > 0, pred > 0, (1.0, 1.0))
    assert surface_distance.compute_robust_hausdorff(distances, 100) == np.inf
    assert np.isnan(M.hausdorff(pred[None], target[None], 2, surface="surfels")).all()


def test_dtypes_threads_and_flags():
    gen = np.random.default_rng(3)
    pred, target = balls((40, 44, 36), gen)
    pred, target = pred[None], target[None]
    base = M.compute(pred, target, 4, (1.0, 0.5, 2.0), metrics=M.METRICS, threads=1)
    for dtype in (np.uint8, np.int32, np.int64):
        for threads in (1, 2):
            other = M.compute(pred.astype(dtype), target.astype(dtype), 4, (1.0, 0.5, 2.0), metrics=M.METRICS,
                              threads=threads)
            for name in M.METRICS:
                np.testing.assert_array_equal(other[name], base[name], err_msg=f"{name} {dtype} {threads}")
    bools = M.dice(one_hot(pred, 4).numpy() > 0, one_hot(target, 4).numpy() > 0)
    np.testing.assert_array_equal(bools, base["dice"])
    flags = M.compute(np.zeros((2, 5, 5), np.uint8), np.eye(5, dtype=np.uint8)[None].repeat(2, 0), 2,
                      metrics=("dice",), return_flags=True)["flags"]
    assert (flags == M.PRED_EMPTY).all() and flags.dtype == np.uint8


def test_errors():
    pred = np.zeros((1, 6, 6), np.uint8)
    with pytest.raises(losskit.LosskitError, match="metric = 'hd95'"):
        M.compute(pred, pred, 2, metrics=("hd95",))
    with pytest.raises(losskit.LosskitError, match="spacing has 3 values"):
        M.compute(pred, pred, 2, (1.0, 1.0, 1.0))
    with pytest.raises(losskit.LosskitError, match="surfels"):
        M.hausdorff(np.zeros((1, 3, 3, 3, 3), np.uint8), np.zeros((1, 3, 3, 3, 3), np.uint8), 2, surface="surfels")
    with pytest.raises(losskit.LosskitError, match=r"pred\[0, 2, 3\] = 5"):
        bad = pred.copy()
        bad[0, 2, 3] = 5
        M.compute(bad, pred, 2)
    with pytest.raises(losskit.LosskitError, match="options.percentile = 120"):
        M.hausdorff_percentile(pred, pred, 2, percentile=120)
    with pytest.raises(losskit.LosskitError, match="nsd_tolerance has 2 values"):
        M.nsd(pred, pred, 4, nsd_tolerance=[1.0, 2.0])
    with pytest.raises(losskit.LosskitError, match="percentile_rule = 'linear'"):
        M.compute(pred, pred, 2, percentile_rule="linear")
