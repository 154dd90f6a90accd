"""The distance-map losses against their reference formulas, written here in
plain torch with autograd, with the distance maps computed by scipy exactly as
the reference code computes them (they are constants of the ground truth):

- boundary: LIVIAETS/boundary-loss (one_hot2dist, SurfaceLoss);
- region_wise: jmlipman/RegionWiseLoss (the RRW map), and precomputed maps;
- distance_penalized_ce: JunMa11/SegLoss (compute_edts_forPenalizedLoss),
  with the weighting the paper describes;
- hausdorff_dt: MONAI's HausdorffDTLoss itself (value and gradient).

Value and gradient of every option that changes the math; edge cases: an
absent class, a class filling the image, one-pixel objects, 3-D anisotropic.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F

import losskit
import losskit.torch as lkt
from conftest import assert_close, check_against, logits_like


def blob_labels(shape, classes, generator, count=4):
    """Labels (N, *spatial) made of a few balls of random classes on class 0."""
    gen = np.random.default_rng(int(torch.randint(0, 2**31, (1,), generator=generator)))
    spatial = shape
    labels = np.zeros((spatial[0],) + tuple(spatial[1:]), np.int64)
    grid = np.indices(spatial[1:], dtype=float)
    for n in range(spatial[0]):
        for _ in range(count):
            centre = gen.uniform(0, max(spatial[1:]), len(spatial) - 1)
            radius = gen.uniform(1, max(spatial[1:]) / 3)
            inside = ((grid - centre.reshape((-1,) + (1,) * (len(spatial) - 1))) ** 2).sum(0) < radius**2
            labels[n][inside] = gen.integers(1, classes)
    return torch.from_numpy(labels)


def one_hot(labels, classes):
    return F.one_hot(labels, classes).movedim(-1, 1).numpy().astype(bool)


def per_image_class(fn, labels, classes, sampling=None):
    """fn(mask, sampling) for every (image, class), stacked (N, C, *spatial)."""
    masks = one_hot(labels, classes)
    return torch.from_numpy(np.stack([np.stack([fn(masks[n, c], sampling) for c in range(classes)])
                                      for n in range(masks.shape[0])]))


def edt(mask, sampling):
    return ndi.distance_transform_edt(mask, sampling=sampling)


# ------------------------------------------------------------------ boundary loss

def one_hot2dist(mask, sampling):
    """LIVIAETS/boundary-loss utils.one_hot2dist, one class."""
    if not mask.any():
        return np.zeros(mask.shape)
    neg = ~mask
    return edt(neg, sampling) * neg - (edt(mask, sampling) - 1) * mask


def boundary_reference(x, labels, include_background=False, spacing=None, activation="softmax", reduction="mean"):
    classes = x.shape[1]
    phi = per_image_class(one_hot2dist, labels, classes, spacing).to(x.dtype)
    p = torch.softmax(x, 1) if activation == "softmax" else x
    kept = slice(0 if include_background else 1, None)
    product = p[:, kept] * phi[:, kept]
    if reduction == "mean":
        return product.mean()
    if reduction == "sum":
        return product.sum()
    return product.sum(1)


@pytest.mark.parametrize("shape", [(2, 3, 24, 20), (2, 2, 9, 10, 11), (3, 4, 40)], ids=str)
@pytest.mark.parametrize(
    "options",
    [{}, {"include_background": True}, {"reduction": "sum"}, {"reduction": "none"}, {"spacing": "aniso"}],
    ids=str,
)
def test_boundary_matches_reference(shape, options, generator):
    options = dict(options)
    if options.get("spacing") == "aniso":
        options["spacing"] = [0.5, 2.0, 1.25][: len(shape) - 2]
    x = logits_like(shape, torch.float64, generator)
    labels = blob_labels((shape[0],) + shape[2:], shape[1], generator)
    module = lkt.BoundaryLoss(**options)
    check_against(module, lambda x, y: boundary_reference(x, y, **options), x, labels, what=str(options))


def test_boundary_on_probabilities_and_float32(generator):
    x = logits_like((2, 3, 16, 16), torch.float64, generator)
    p = torch.softmax(x, 1)
    labels = blob_labels((2, 16, 16), 3, generator)
    check_against(lkt.BoundaryLoss(activation="none"), lambda p, y: boundary_reference(p, y, activation="none"), p, labels)
    single = lkt.BoundaryLoss()(x.float(), labels)
    assert_close(single, boundary_reference(x, labels).float(), "float32")


def test_boundary_edge_cases(generator):
    x = logits_like((3, 3, 12, 12), torch.float64, generator)
    labels = torch.zeros((3, 12, 12), dtype=torch.int64)
    labels[1, 5, 6] = 2          # a one-pixel object
    labels[2] = 1                # class 1 fills image 2: no boundary, phi = 0
    check_against(lkt.BoundaryLoss(include_background=True),
                  lambda x, y: boundary_reference_filled(x, y), x, labels)


def boundary_reference_filled(x, labels):
    """The reference, with losskit's rule for a class filling the image (phi = 0:
    the reference would measure to a pixel outside the image)."""
    classes = x.shape[1]

    def dist(mask, sampling):
        return np.zeros(mask.shape) if mask.all() else one_hot2dist(mask, sampling)

    phi = per_image_class(dist, labels, classes).to(x.dtype)
    return (torch.softmax(x, 1) * phi).mean()


def test_boundary_errors():
    x = torch.zeros((2, 1, 5, 5), dtype=torch.float64)
    with pytest.raises(losskit.LosskitError, match="include_background=false leaves none"):
        losskit.compute("boundary", x.numpy(), np.zeros((2, 5, 5), np.int64))
    x = torch.zeros((2, 3, 5, 5), dtype=torch.float64)
    with pytest.raises(losskit.LosskitError, match="'spacing' has 3 values"):
        losskit.compute("boundary", x.numpy(), np.zeros((2, 5, 5), np.int64), spacing=[1, 2, 3])
    with pytest.raises(losskit.LosskitError, match="at least one spatial axis"):
        losskit.compute("boundary", np.zeros((2, 3)), np.zeros((2,), np.int64))
    with pytest.raises(losskit.LosskitError, match=r"target\[1, 2, 3\] = 3"):
        labels = np.zeros((2, 5, 5), np.int64)
        labels[1, 2, 3] = 3
        losskit.compute("boundary", x.numpy(), labels)


# ------------------------------------------------------------------ region-wise (RRW)

def rrw_map(mask, sampling):
    """jmlipman/RegionWiseLoss RWLoss's rectified map for one image and class
    (with losskit's -1 for a class filling the image)."""
    if mask.all():
        return -np.ones(mask.shape)
    d = edt(mask, sampling)
    z = -d / np.max(d + 1e-15)
    z[z == 0] = 1
    return z


def signed_map(mask, sampling):
    if not mask.any() or mask.all():
        return np.zeros(mask.shape)
    return np.where(mask, -edt(mask, sampling), edt(~mask, sampling))


def normalized_map(mask, sampling):
    if not mask.any() or mask.all():
        return np.zeros(mask.shape)
    pos, neg = edt(mask, sampling), edt(~mask, sampling)
    sdf = neg / neg.max() - pos / pos.max()
    border = mask & ~ndi.binary_erosion(mask, ndi.generate_binary_structure(mask.ndim, 1), border_value=1)
    sdf[border] = 0
    return sdf


MAPS = {"rectified": rrw_map, "boundary_loss": one_hot2dist, "signed": signed_map, "normalized": normalized_map}


def region_wise_reference(x, target, map="rectified", spacing=None, activation="softmax", reduction="mean"):
    if target.dtype.is_floating_point:
        z = target
    else:
        z = per_image_class(MAPS[map], target, x.shape[1], spacing).to(x.dtype)
    p = torch.softmax(x, 1) if activation == "softmax" else x
    product = p * z
    return {"mean": product.mean(), "sum": product.sum(), "none": product.sum(1)}[reduction]


@pytest.mark.parametrize("shape", [(2, 3, 20, 22), (2, 3, 8, 9, 10)], ids=str)
@pytest.mark.parametrize(
    "options",
    [{}, {"map": "boundary_loss"}, {"map": "signed", "reduction": "sum"}, {"map": "normalized"},
     {"reduction": "none", "spacing": [2.0]}, {"spacing": "aniso"}],
    ids=str,
)
def test_region_wise_matches_reference(shape, options, generator):
    options = dict(options)
    if options.get("spacing") == "aniso":
        options["spacing"] = [0.7, 1.9, 1.1][: len(shape) - 2]
    reference_options = dict(options)
    if options.get("spacing") is not None and len(options["spacing"]) == 1:
        reference_options["spacing"] = options["spacing"] * (len(shape) - 2)
    x = logits_like(shape, torch.float64, generator)
    labels = blob_labels((shape[0],) + shape[2:], shape[1], generator)
    labels[0][labels[0] == 2] = 1  # class 2 absent from image 0: RRW puts +1 on it
    check_against(lkt.RegionWiseLoss(**options), lambda x, y: region_wise_reference(x, y, **reference_options),
                  x, labels, what=str(options))


def test_region_wise_with_given_maps_and_filled_class(generator):
    x = logits_like((2, 3, 10, 12), torch.float64, generator)
    maps = torch.randn((2, 3, 10, 12), generator=generator, dtype=torch.float64) * 3
    check_against(lkt.RegionWiseLoss(), region_wise_reference, x, maps)
    check_against(lkt.RegionWiseLoss(activation="none"),
                  lambda p, z: region_wise_reference(p, z, activation="none"), torch.softmax(x, 1), maps)
    labels = torch.zeros((2, 10, 12), dtype=torch.int64)
    labels[1, 4, 4] = 2  # image 0: class 0 fills it (-1); image 1: a one-pixel object
    check_against(lkt.RegionWiseLoss(), region_wise_reference, x, labels)
    maps[1, 2, 3, 4] = float("inf")
    with pytest.raises(losskit.LosskitError, match=r"target\[1, 2, 3, 4\] = inf"):
        losskit.compute("region_wise", x.numpy(), maps.numpy())


# ------------------------------------------------------------------ distance-penalized CE

def edts_for_penalized_loss(gt, sampling=None):
    """JunMa11/SegLoss compute_edts_forPenalizedLoss (binary; one image)."""
    posmask = gt.astype(bool)
    negmask = ~posmask
    pos_edt = edt(posmask, sampling)
    pos_edt = (np.max(pos_edt) - pos_edt) * posmask
    neg_edt = edt(negmask, sampling)
    neg_edt = (np.max(neg_edt) - neg_edt) * negmask
    return pos_edt / np.max(pos_edt) + neg_edt / np.max(neg_edt)


def class_penalty(mask, sampling):
    """The penalty of one class's pixels, as the binary reference computes it
    for its object (1 where every pixel of the class is on its border; 0 for a
    class that fills the image)."""
    if not mask.any() or mask.all():
        return np.zeros(mask.shape)
    d = edt(mask, sampling)
    pos = (np.max(d) - d) * mask
    return pos / np.max(pos) if np.max(pos) > 0 else mask.astype(float)


def dpce_reference(x, labels, spacing=None, ignore_index=-100, activation="softmax", reduction="mean"):
    valid = labels != ignore_index
    safe = torch.where(valid, labels, 0)
    penalty = per_image_class(class_penalty, torch.where(valid, labels, x.shape[1]), x.shape[1] + 1, spacing)
    weight = penalty[:, : x.shape[1]].gather(1, safe.unsqueeze(1)).squeeze(1).to(x.dtype) + 1.0
    logp = torch.log_softmax(x, 1) if activation == "softmax" else torch.log(x)
    loss = -(weight * logp.gather(1, safe.unsqueeze(1)).squeeze(1)) * valid
    return {"mean": loss.sum() / valid.sum(), "sum": loss.sum(), "none": loss}[reduction]


def test_dpce_weights_equal_the_binary_reference(generator):
    labels = blob_labels((3, 30, 26), 2, generator)
    x = logits_like((3, 2, 30, 26), torch.float64, generator)
    for n in range(3):
        want = edts_for_penalized_loss(labels[n].numpy() > 0.5) + 1.0
        got = per_image_class(class_penalty, labels[n : n + 1], 2)[0]
        got = got.gather(0, labels[n].unsqueeze(0))[0].numpy() + 1.0
        np.testing.assert_array_equal(got, want)
    logp = torch.log_softmax(x, 1)
    weights = torch.from_numpy(np.stack([edts_for_penalized_loss(labels[n].numpy() > 0.5) + 1.0 for n in range(3)]))
    paper = -(weights * logp.gather(1, labels.unsqueeze(1)).squeeze(1)).mean()
    assert_close(lkt.DistancePenalizedCeLoss()(x, labels), paper, "binary DPCE")


@pytest.mark.parametrize("shape", [(2, 3, 22, 19), (2, 4, 7, 8, 9)], ids=str)
@pytest.mark.parametrize(
    "options",
    [{}, {"reduction": "sum"}, {"reduction": "none"}, {"ignore_index": 255}, {"spacing": "aniso"}],
    ids=str,
)
def test_dpce_matches_reference(shape, options, generator):
    options = dict(options)
    if options.get("spacing") == "aniso":
        options["spacing"] = [1.7, 0.6, 1.0][: len(shape) - 2]
    x = logits_like(shape, torch.float64, generator)
    labels = blob_labels((shape[0],) + shape[2:], shape[1], generator)
    if "ignore_index" in options:
        labels[:, :2] = 255
    check_against(lkt.DistancePenalizedCeLoss(**options), lambda x, y: dpce_reference(x, y, **options),
                  x, labels, what=str(options))


def test_dpce_probabilities_and_edge_cases(generator):
    x = logits_like((2, 3, 9, 9), torch.float64, generator)
    labels = torch.zeros((2, 9, 9), dtype=torch.int64)
    labels[1, :, 4] = 2  # a one-pixel-wide line: every pixel on its border (D = 1)
    check_against(lkt.DistancePenalizedCeLoss(), dpce_reference, x, labels)
    p = torch.softmax(x, 1)
    check_against(lkt.DistancePenalizedCeLoss(activation="none"),
                  lambda p, y: dpce_reference(p, y, activation="none"), p, labels)


# ------------------------------------------------------------------ Hausdorff DT loss

def hd_field(mask, sampling):
    """MONAI HausdorffDTLoss.distance_field for one image and channel, in float64."""
    if not mask.any() or mask.all():
        return np.zeros(mask.shape)
    return edt(mask, sampling) + edt(~mask, sampling)


def hd_reference(x, target, alpha=2.0, include_background=False, activation="none", batch=False,
                 spacing=None, reduction="mean"):
    p = {"none": x, "sigmoid": torch.sigmoid(x), "softmax": torch.softmax(x, 1)}[activation]
    g = F.one_hot(target, x.shape[1]).movedim(-1, 1).to(x.dtype) if not target.dtype.is_floating_point else target

    def fields(values):
        masks = (values.detach() > 0.5).numpy()
        return torch.from_numpy(np.stack([np.stack([hd_field(masks[n, c], spacing) for c in range(masks.shape[1])])
                                          for n in range(masks.shape[0])])).to(x.dtype)

    running = (p - g) ** 2 * (fields(p) ** alpha + fields(g) ** alpha)
    running = running[:, (0 if include_background else 1):]
    dims = tuple(range(2, x.dim()))
    f = running.mean(dim=(0,) + dims) if batch else running.mean(dim=dims)
    return {"mean": f.mean, "sum": f.sum, "none": lambda: f}[reduction]()


@pytest.mark.parametrize("shape", [(2, 3, 20, 18), (2, 3, 7, 8, 9)], ids=str)
@pytest.mark.parametrize(
    "options",
    [{"activation": "softmax"}, {"activation": "sigmoid", "include_background": True},
     {"activation": "softmax", "alpha": 1.5, "reduction": "sum"}, {"activation": "softmax", "batch": True},
     {"activation": "softmax", "spacing": "aniso"}],
    ids=str,
)
def test_hausdorff_dt_matches_formula(shape, options, generator):
    options = dict(options)
    if options.get("spacing") == "aniso":
        options["spacing"] = [0.8, 2.2, 1.3][: len(shape) - 2]
    x = logits_like(shape, torch.float64, generator)
    labels = blob_labels((shape[0],) + shape[2:], shape[1], generator)
    check_against(lkt.HausdorffDtLoss(**options), lambda x, y: hd_reference(x, y, **options), x, labels,
                  what=str(options))


@pytest.mark.parametrize("options", [{}, {"include_background": True}, {"batch": True}, {"reduction": "sum"},
                                     {"alpha": 1.0}], ids=str)
def test_hausdorff_dt_matches_monai(options, generator):
    from monai.losses import HausdorffDTLoss

    x = logits_like((2, 3, 24, 20), torch.float64, generator)
    labels = blob_labels((2, 24, 20), 3, generator)
    one_hot_target = F.one_hot(labels, 3).movedim(-1, 1).double()
    p = torch.softmax(x, 1)
    ours, ours_grad = value_and_grad_of(lkt.HausdorffDtLoss(**options), p, one_hot_target)
    monai, monai_grad = value_and_grad_of(HausdorffDTLoss(**options), p, one_hot_target)
    # MONAI rounds its distance fields to float32: agreement to float32 precision
    torch.testing.assert_close(ours, monai, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(ours_grad, monai_grad, rtol=1e-6, atol=1e-9)
    ours_softmax = lkt.HausdorffDtLoss(activation="softmax", **options)(x, labels)
    monai_softmax = HausdorffDTLoss(softmax=True, to_onehot_y=True, **options)(x, labels.unsqueeze(1))
    torch.testing.assert_close(ours_softmax, monai_softmax, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("shape", [(2, 3, 14, 12), (2, 4, 5, 6, 7)], ids=str)
@pytest.mark.parametrize(
    "options",
    [{"activation": "softmax"}, {"activation": "sigmoid", "include_background": True},
     {"activation": "softmax", "batch": True}, {"activation": "softmax", "spacing": [1.5, 0.7, 1.1]}],
    ids=str,
)
def test_hausdorff_dt_none_weighed_like_autograd(shape, options, generator):
    """reduction none: the terms f, and the gradient of sum(w * f) for weights w
    of either sign. Through a softmax every term of an image depends on all of
    its classes, so the binding weighs the terms in the library
    (lk_loss_compute_upstream), not afterwards."""
    options = dict(options, reduction="none")
    if "spacing" in options:
        options["spacing"] = options["spacing"][: len(shape) - 2]
    x = logits_like(shape, torch.float64, generator)
    labels = blob_labels((shape[0],) + shape[2:], shape[1], generator)
    ours_x = x.clone().requires_grad_(True)
    ours = lkt.HausdorffDtLoss(**options)(ours_x, labels)
    ref_x = x.clone().requires_grad_(True)
    reference = hd_reference(ref_x, labels, **options)
    assert ours.shape == reference.shape
    assert_close(ours.detach(), reference.detach(), what=str(options))
    weights = torch.rand(ours.shape, generator=generator, dtype=torch.float64) * 3 - 1
    (ours * weights).sum().backward()
    (reference * weights).sum().backward()
    assert_close(ours_x.grad, ref_x.grad, what=f"weighed gradient {options}")
    # a uniform incoming gradient takes the stored gradient, scaled
    ours_x.grad = None
    ref_x.grad = None
    (lkt.HausdorffDtLoss(**options)(ours_x, labels) * 2.5).sum().backward()
    (hd_reference(ref_x, labels, **options) * 2.5).sum().backward()
    assert_close(ours_x.grad, ref_x.grad, what=f"uniform gradient {options}")


@pytest.mark.parametrize("options", [{}, {"include_background": True}, {"batch": True}], ids=str)
def test_hausdorff_dt_none_matches_monai(options, generator):
    from monai.losses import HausdorffDTLoss

    x = logits_like((2, 3, 16, 18), torch.float64, generator)
    labels = blob_labels((2, 16, 18), 3, generator)
    ours = lkt.HausdorffDtLoss(activation="softmax", reduction="none", **options)(x, labels)
    monai = HausdorffDTLoss(softmax=True, to_onehot_y=True, reduction="none", **options)(x, labels.unsqueeze(1))
    # MONAI keeps singleton axes: (N, C, 1, 1), or (1, C, 1, 1) with batch
    torch.testing.assert_close(ours, monai.reshape(ours.shape), rtol=1e-6, atol=1e-9)


def test_hausdorff_dt_upstream_errors(generator):
    x = torch.softmax(logits_like((2, 3, 8, 8), torch.float64, generator), 1).numpy()
    labels = blob_labels((2, 8, 8), 3, generator).numpy()
    loss = losskit.Loss("hausdorff_dt", reduction="none")
    value, (grad, _) = loss(x, labels, upstream=np.ones((2, 2)))
    assert value.shape == (2, 2)
    with pytest.raises(losskit.LosskitError, match=r"upstream must have the shape of output 'loss', \(2, 2\)"):
        loss(x, labels, upstream=np.ones((2, 3)))
    with pytest.raises(losskit.LosskitError, match=r"upstream\[1, 0\] = nan"):
        loss(x, labels, upstream=np.array([[1.0, 1.0], [np.nan, 1.0]]))
    with pytest.raises(losskit.LosskitError, match="does not take an upstream"):
        losskit.Loss("dice", reduction="none")(x, labels, upstream=np.ones((2, 3)))


def value_and_grad_of(fn, x, *rest):
    leaf = x.detach().clone().requires_grad_(True)
    value = fn(leaf, *rest)
    value.backward()
    return value.detach(), leaf.grad


def test_hausdorff_dt_edge_cases(generator):
    x = logits_like((3, 2, 10, 10), torch.float64, generator)
    labels = torch.zeros((3, 10, 10), dtype=torch.int64)
    labels[1, 3, 3] = 1      # one pixel
    labels[2] = 1            # full: no field
    check_against(lkt.HausdorffDtLoss(activation="softmax", include_background=True),
                  lambda x, y: hd_reference(x, y, activation="softmax", include_background=True), x, labels)
    with pytest.raises(losskit.LosskitError, match=r"input\[0, 1, 2, 3\] = 1.5"):
        p = torch.softmax(x, 1).numpy().copy()
        p[0, 1, 2, 3] = 1.5
        losskit.compute("hausdorff_dt", p, labels.numpy())


# ------------------------------------------------------------------ boundary-aware (Hayder et al.)

def boundary_aware_reference(x, mask, truncation=5.0, spacing=None, activation="softmax", reduction="mean"):
    bins_count = x.shape[1]
    depth = np.stack([edt(m.numpy().astype(bool), spacing) for m in mask])
    bins = torch.from_numpy(np.rint((bins_count - 1) * np.minimum(depth, truncation) / truncation).astype(np.int64))
    if activation == "softmax":
        return F.cross_entropy(x, bins, reduction=reduction)
    return F.nll_loss(torch.log(x), bins, reduction=reduction)


@pytest.mark.parametrize("shape", [(2, 6, 30, 28), (2, 4, 9, 10, 11)], ids=str)
@pytest.mark.parametrize("options", [{}, {"truncation": 2.5}, {"reduction": "sum", "spacing": [0.5]},
                                     {"reduction": "none"}], ids=str)
def test_boundary_aware_matches_reference(shape, options, generator):
    x = logits_like(shape, torch.float64, generator)
    mask = (blob_labels((shape[0],) + shape[2:], 2, generator, count=3) > 0).long()
    reference_options = dict(options)
    if "spacing" in options:
        reference_options["spacing"] = options["spacing"] * (len(shape) - 2)
    check_against(lkt.BoundaryAwareLoss(**options), lambda x, y: boundary_aware_reference(x, y, **reference_options),
                  x, mask, what=str(options))
    p = torch.softmax(x, 1)
    check_against(lkt.BoundaryAwareLoss(activation="none"),
                  lambda p, y: boundary_aware_reference(p, y, activation="none"), p, mask)


def test_boundary_aware_rejects_labels_other_than_0_and_1(generator):
    x = logits_like((1, 6, 5, 5), torch.float64, generator)
    mask = torch.zeros((1, 5, 5), dtype=torch.int64)
    mask[0, 2, 1] = 2
    with pytest.raises(losskit.LosskitError, match=r"target\[0, 2, 1\] = 2"):
        lkt.BoundaryAwareLoss()(x, mask)


# ------------------------------------------------------------------ Active Boundary Loss

def abl_kl_div(a, b):
    """abl.py kl_div(a, b): softmax(b) (log_softmax(b) - log_softmax(a)), per class."""
    return F.softmax(b, dim=1) * (F.log_softmax(b, dim=1) - F.log_softmax(a, dim=1))


def abl_reference(logits, target, label_smoothing=0.2, max_n_ratio=0.01, max_clip_dist=20.0,
                  detach_neighbours=True, ignore_index=255):
    """wangchi95/active-boundary-loss ABL.forward on the CPU in float64, with
    losskit's rules where the reference has none (no boundary: 0; an image
    without ground-truth boundary adds no pixel)."""
    _, _, h, w = logits.shape
    # logits2boundary
    eps = 1e-5
    max_n = (h * w) * max_n_ratio
    kl_ud = abl_kl_div(logits[:, :, 1:, :], logits[:, :, :-1, :]).sum(1, keepdim=True)
    kl_lr = abl_kl_div(logits[:, :, :, 1:], logits[:, :, :, :-1]).sum(1, keepdim=True)
    kl_ud = F.pad(kl_ud, [0, 0, 0, 1, 0, 0, 0, 0], mode="constant", value=0)
    kl_lr = F.pad(kl_lr, [0, 1, 0, 0, 0, 0, 0, 0], mode="constant", value=0)
    kl_combine = (kl_lr + kl_ud).detach()
    while True:
        kl_bin = (kl_combine > eps).to(logits.dtype)
        if kl_bin.sum() > max_n:
            eps *= 1.2
        else:
            break
    pred_boundary = F.conv2d(kl_bin, torch.ones((1, 1, 3, 3), dtype=logits.dtype), padding=1).squeeze(1) > 0
    if pred_boundary.sum() < 1:
        return (logits * 0).sum()
    # gt2boundary
    gt_ud = F.pad(target[:, 1:, :] - target[:, :-1, :], [0, 0, 0, 1, 0, 0], mode="constant", value=0) != 0
    gt_lr = F.pad(target[:, :, 1:] - target[:, :, :-1], [0, 1, 0, 0, 0, 0], mode="constant", value=0) != 0
    gt_boundary = (gt_lr | gt_ud | (target == ignore_index)).numpy()
    # get_dist_maps: one_hot2dist of the non-boundary mask, negated, clamped at 0
    dist = np.zeros(gt_boundary.shape)
    for i in range(len(gt_boundary)):
        posmask = ~gt_boundary[i]
        if gt_boundary[i].any():
            negmask = ~posmask
            dist[i] = edt(negmask, None) * negmask - (edt(posmask, None) - 1) * posmask
    depth = torch.from_numpy(np.maximum(-dist, 0))
    keep_images = torch.from_numpy(gt_boundary.reshape(len(gt_boundary), -1).any(1))
    pred_boundary &= keep_images[:, None, None]
    # get_direction_gt_predkl
    n, x, y = torch.nonzero(pred_boundary).T
    padded_depth = F.pad(depth, (1, 1, 1, 1, 0, 0), mode="constant", value=1e5)
    lg = logits.permute(0, 2, 3, 1)
    lg_d = F.pad(lg, (0, 0, 1, 1, 1, 1, 0, 0), mode="constant").clone()  # then edges replicated, as abl.py
    lg_d[:, 0, :, :] = lg_d[:, 1, :, :]
    lg_d[:, -1, :, :] = lg_d[:, -2, :, :]
    lg_d[:, :, 0, :] = lg_d[:, :, 1, :]
    lg_d[:, :, -1, :] = lg_d[:, :, -2, :]
    x_range = [1, -1, 0, 0, -1, 1, -1, 1, 0]
    y_range = [0, 0, -1, 1, 1, 1, -1, -1, 0]
    centre = lg[(n, x, y)]
    dists, kls = [], []
    for dx, dy in zip(x_range, y_range):
        dists.append(padded_depth[(n, x + dx + 1, y + dy + 1)])
        if dx != 0 or dy != 0:
            neighbour = lg_d[(n, x + dx + 1, y + dy + 1)]
            if detach_neighbours:
                neighbour = neighbour.detach()
            kls.append(abl_kl_div(centre, neighbour).sum(1))
    direction = torch.argmin(torch.stack(dists), dim=0)
    weight = depth[(n, x, y)]
    keep = direction != 8
    if keep.sum() == 0:
        return (logits * 0).sum()
    z = torch.stack(kls).T[keep]
    direction = direction[keep]
    # LabelSmoothSoftmaxCEV1 (or plain CE)
    if label_smoothing == 0:
        loss = F.cross_entropy(z, direction, reduction="none")
    else:
        one_hot = torch.full_like(z, label_smoothing / z.shape[1]).scatter_(1, direction.unsqueeze(1), 1 - label_smoothing)
        loss = -(F.log_softmax(z, 1) * one_hot).sum(1)
    return (loss * (torch.clamp(weight[keep], max=max_clip_dist) / max_clip_dist)).mean()


@pytest.mark.parametrize(
    "options",
    [{}, {"detach_neighbours": False}, {"label_smoothing": 0.0}, {"max_n_ratio": 0.2, "max_clip_dist": 3.0},
     {"ignore_index": 1, "detach_neighbours": False}],
    ids=str,
)
@pytest.mark.parametrize("shape", [(2, 3, 24, 21), (1, 4, 33, 30)], ids=str)
def test_active_boundary_matches_reference(shape, options, generator):
    x = logits_like(shape, torch.float64, generator)
    labels = blob_labels((shape[0],) + shape[2:], shape[1], generator)
    if options.get("ignore_index") == 1:
        labels[:, :, :3] = 1
    else:
        labels[0, :2, :2] = 255  # ignored pixels count as ground-truth boundary
    check_against(lkt.ActiveBoundaryLoss(**options), lambda x, y: abl_reference(x, y, **options), x, labels,
                  what=str(options))


def test_active_boundary_without_boundary(generator):
    x = torch.zeros((2, 3, 10, 12), dtype=torch.float64)  # uniform prediction: no predicted boundary
    labels = blob_labels((2, 10, 12), 3, generator)
    value, grad = value_and_grad_of(lkt.ActiveBoundaryLoss(), x, labels)
    assert value == 0 and torch.all(grad == 0)
    x = logits_like((2, 3, 10, 12), torch.float64, generator)
    flat = torch.ones((2, 10, 12), dtype=torch.int64)  # no ground-truth boundary anywhere
    value, grad = value_and_grad_of(lkt.ActiveBoundaryLoss(), x, flat)
    assert value == 0 and torch.all(grad == 0)
    with pytest.raises(losskit.LosskitError, match="2-D logits"):
        lkt.ActiveBoundaryLoss()(torch.zeros((2, 3, 4, 4, 4), dtype=torch.float64), torch.zeros((2, 4, 4, 4), dtype=torch.int64))
