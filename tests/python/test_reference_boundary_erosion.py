"""The boundary losses against their references, on value and gradient:
hausdorff_erosion against kornia's HausdorffERLoss / HausdorffERLoss3D (torch's
autograd through kornia's code), boundary_dou against the authors'
BoundaryDoULoss written here in plain torch with autograd; edge cases (absent
class, one-pixel object, full image, 1-pixel-wide image, 3-D, ties) and bad
input."""

from __future__ import annotations

import kornia
import pytest
import torch
import torch.nn.functional as F

import losskit
import losskit.torch as lkt
from conftest import assert_close, check_against, labels_for, logits_like


# ------------------------------------------------------------ Hausdorff erosion (kornia)

def kornia_hd(volume: bool, exact_kernel: bool = True, **options):
    """kornia's HD-ER loss. kornia builds its kernel in float32, so in float64 its
    weights are 0.2 and 1/7 rounded to float32; exact_kernel gives it the exact
    float64 weights losskit uses (every other step is kornia's own code)."""
    module = (kornia.losses.HausdorffERLoss3D if volume else kornia.losses.HausdorffERLoss)(**options)
    if exact_kernel:
        cross = torch.tensor([[[0, 1, 0], [1, 1, 1], [0, 1, 0]]], dtype=torch.float64)
        if volume:
            centre = torch.tensor([[[0, 0, 0], [0, 1, 0], [0, 0, 0]]], dtype=torch.float64)
            module.kernel = (torch.stack([centre, cross, centre], 1) * (1 / 7))[None]
        else:
            module.kernel = (cross * 0.2)[None]
    return module


def probabilities(shape, generator, dtype=torch.float64, scale=3.0):
    return torch.softmax(logits_like(shape, torch.float64, generator, scale), 1).to(dtype)


HD_OPTIONS = [
    {},
    {"alpha": 1.0, "k": 3, "reduction": "sum"},
    {"alpha": 3.0, "k": 5},
    {"alpha": 0.5, "k": 1, "reduction": "sum"},
    {"alpha": 2.0, "k": 20},
]
HD_SHAPES = [(2, 3, 17, 13), (3, 2, 32, 32), (2, 3, 6, 7, 5), (1, 4, 9, 10, 11)]


@pytest.mark.parametrize("options", HD_OPTIONS)
@pytest.mark.parametrize("shape", HD_SHAPES)
def test_hausdorff_erosion_matches_kornia(options, shape, generator):
    x = probabilities(shape, generator)
    labels = labels_for(shape, generator).unsqueeze(1)
    check_against(lkt.HausdorffErosionLoss(**options), kornia_hd(len(shape) == 5, **options), x, labels,
                  what=f"hausdorff_erosion {options} {shape}")


@pytest.mark.parametrize("options", [{"k": 3}, {"alpha": 1.0, "k": 5}])
@pytest.mark.parametrize("shape", [(2, 3, 17, 13), (2, 3, 6, 7, 5)])
def test_hausdorff_erosion_none_weighed_like_kornia(options, shape, generator):
    """reduction none: kornia's map (C, N, 1, *spatial), ours (N, C, *spatial);
    each element depends on its neighbours' inputs, so the gradient of
    sum(w * map) is the library's (lk_loss_compute_upstream), checked against
    autograd through kornia."""
    x = probabilities(shape, generator)
    labels = labels_for(shape, generator).unsqueeze(1)
    ours_x = x.clone().requires_grad_(True)
    ours = lkt.HausdorffErosionLoss(reduction="none", **options)(ours_x, labels)
    ref_x = x.clone().requires_grad_(True)
    reference = kornia_hd(len(shape) == 5, reduction="none", **options)(ref_x, labels)
    reference = reference.squeeze(2).transpose(0, 1)
    assert ours.shape == x.shape
    assert_close(ours.detach(), reference.detach(), what=f"map {options} {shape}")
    weights = torch.rand(ours.shape, generator=generator, dtype=torch.float64) * 3 - 1
    (ours * weights).sum().backward()
    (reference * weights).sum().backward()
    assert_close(ours_x.grad, ref_x.grad, what=f"weighed gradient {options} {shape}")


@pytest.mark.parametrize("shape", [(2, 3, 17, 13), (2, 3, 6, 7, 5)])
def test_hausdorff_erosion_against_kornia_float32_kernel(shape, generator):
    """Plain kornia (float32-rounded kernel weights, 1.5e-8 relative off): the
    results move by about that much, not more."""
    x = probabilities(shape, generator)
    labels = labels_for(shape, generator).unsqueeze(1)
    ours, ours_grad = _value_and_grad(lkt.HausdorffErosionLoss(), x, labels)
    reference, reference_grad = _value_and_grad(kornia_hd(len(shape) == 5, exact_kernel=False), x, labels)
    assert abs(float(ours - reference)) <= 1e-6 * abs(float(reference))
    assert float((ours_grad - reference_grad).abs().max()) <= 1e-6 * float(reference_grad.abs().max())


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_hausdorff_erosion_activations_are_kornia_on_activated_input(activation, generator):
    shape = (2, 3, 15, 16)
    x = logits_like(shape, torch.float64, generator)
    labels = labels_for(shape, generator)
    act = (lambda a: torch.softmax(a, 1)) if activation == "softmax" else torch.sigmoid
    reference = kornia_hd(False, k=4)
    check_against(lkt.HausdorffErosionLoss(k=4, activation=activation),
                  lambda a, t: reference(act(a), t.unsqueeze(1)), x, labels, what=activation)


def test_hausdorff_erosion_float32_matches_kornia(generator):
    """In float32 kornia's kernel weights are ours (0.2f, 1/7f)."""
    for shape in [(2, 3, 17, 13), (2, 3, 6, 7, 5)]:
        x = probabilities(shape, generator, torch.float32)
        labels = labels_for(shape, generator).unsqueeze(1)
        ours, ours_grad = _value_and_grad(lkt.HausdorffErosionLoss(), x, labels)
        reference, reference_grad = _value_and_grad(kornia_hd(len(shape) == 5, exact_kernel=False), x, labels)
        assert abs(float(ours - reference)) <= 1e-5 * abs(float(reference))
        assert float((ours_grad - reference_grad).abs().max()) <= 1e-5 * float(reference_grad.abs().max())


def _value_and_grad(fn, x, *rest):
    leaf = x.detach().clone().requires_grad_(True)
    value = fn(leaf, *rest)
    (grad,) = torch.autograd.grad(value, leaf)
    return value.detach(), grad


def _edge_case_labels(kind, shape):
    """Labels of the named edge case for (N, C, *spatial) = shape."""
    spatial = shape[2:]
    labels = torch.zeros((shape[0],) + spatial, dtype=torch.int64)
    if kind == "absent_class":  # class 2 appears nowhere
        labels = torch.randint(0, 2, labels.shape, generator=torch.Generator().manual_seed(5))
    elif kind == "one_pixel_object":
        labels[(slice(None),) + tuple(s // 2 for s in spatial)] = 1
    elif kind == "full_image":
        labels[:] = 1
    return labels


EDGE_SHAPES = {
    "absent_class": (2, 3, 12, 11),
    "one_pixel_object": (2, 3, 9, 9),
    "full_image": (2, 3, 8, 10),
    "one_pixel_wide_image": (2, 3, 1, 23),
    "one_pixel_tall_image": (2, 3, 19, 1),
    "volume": (2, 3, 5, 6, 7),
    "one_pixel_object_volume": (1, 3, 5, 5, 5),
}


@pytest.mark.parametrize("case", list(EDGE_SHAPES))
@pytest.mark.parametrize("options", [{}, {"alpha": 1.0, "k": 3, "reduction": "sum"}])
def test_hausdorff_erosion_edge_cases(case, options, generator):
    shape = EDGE_SHAPES[case]
    labels = _edge_case_labels(case.replace("_volume", ""), shape)
    if case in ("one_pixel_wide_image", "one_pixel_tall_image", "volume"):
        labels = labels_for(shape, generator)
    x = probabilities(shape, generator, scale=6.0)
    check_against(lkt.HausdorffErosionLoss(**options), kornia_hd(len(shape) == 5, **options), x,
                  labels.unsqueeze(1), what=case)


def test_hausdorff_erosion_ties_share_the_gradient_as_torch_amax(generator):
    """A prediction symmetric about a one-pixel object: the erosions' maxima are
    reached at several pixels at once, and torch splits their gradient evenly."""
    shape = (1, 2, 9, 9)
    labels = _edge_case_labels("one_pixel_object", shape)
    ramp = torch.arange(9, dtype=torch.float64)
    distance = (ramp[:, None] - 4).abs() + (ramp[None, :] - 4).abs()
    foreground = torch.exp(-distance / 2.5)
    x = torch.stack([1 - foreground, foreground])[None]
    module = kornia_hd(False, k=4)
    check_against(lkt.HausdorffErosionLoss(k=4), module, x, labels.unsqueeze(1), what="ties")
    # the ties are real: some erosion's maximum is shared by 4 pixels
    bound = (x[0, 1] - (labels[0] == 1).double()) ** 2
    dilation = F.conv2d(bound[None, None], module.kernel, padding=1)[0, 0]
    erosion = (dilation - 0.5).clamp_min(0)
    assert int((erosion == erosion.max()).sum()) > 1


def test_hausdorff_erosion_one_channel_is_a_mask(generator):
    shape = (2, 1, 14, 12)
    x = logits_like(shape, torch.float64, generator)
    mask = (torch.rand((2, 14, 12), generator=generator) < 0.4).long()
    reference = kornia_hd(False, k=3)
    # kornia's forward wants labels in [0, C): its erosion of one channel against the mask itself
    check_against(lkt.HausdorffErosionLoss(k=3, activation="sigmoid"),
                  lambda a, t: reference.perform_erosion(torch.sigmoid(a), t.unsqueeze(1)).mean(), x, mask,
                  what="mask")


def test_hausdorff_erosion_refuses_bad_input(generator):
    loss = lkt.HausdorffErosionLoss()
    x1 = probabilities((2, 3, 17), generator)
    with pytest.raises(losskit.LosskitError, match=r"2-D images \(N, C, H, W\) or 3-D volumes.*got 3 dimensions"):
        loss(x1, labels_for((2, 3, 17), generator))
    x = probabilities((2, 3, 5, 5), generator)
    labels = labels_for((2, 3, 5, 5), generator)
    bad = x.clone()
    bad[1, 2, 3, 4] = 1.5
    with pytest.raises(losskit.LosskitError, match=r"input\[1, 2, 3, 4\] = 1.5"):
        loss(bad, labels)
    bad[1, 2, 3, 4] = float("nan")
    with pytest.raises(losskit.LosskitError, match=r"'input'\[1, 2, 3, 4\] = nan: logits must be finite"):
        lkt.HausdorffErosionLoss(activation="softmax")(bad, labels)
    labels[0, 1, 1] = 3
    with pytest.raises(losskit.LosskitError, match=r"target\[0, 1, 1\] = 3"):
        loss(x, labels)
    with pytest.raises(losskit.LosskitError, match="activation=softmax needs 2 or more classes"):
        lkt.HausdorffErosionLoss(activation="softmax")(x[:, :1], torch.zeros((2, 5, 5), dtype=torch.int64))
    with pytest.raises(losskit.LosskitError, match="'k'"):
        lkt.HausdorffErosionLoss(k=0)


# ------------------------------------------------------------ Boundary DoU (the authors' formula)

def dou_reference(x, labels, alpha_max=0.8, smooth=1e-5, activation="softmax"):
    """The authors' BoundaryDoULoss (TransUNet/utils.py) in float64, with the
    3-D stencil where the input is a volume; one channel: a 0/1 mask."""
    classes, volume = x.shape[1], x.dim() == 5
    if activation == "softmax":
        p = torch.softmax(x, 1)
    else:
        p = torch.sigmoid(x) if activation == "sigmoid" else x
    if classes == 1:
        g = labels.unsqueeze(1).to(x.dtype)
    else:
        g = F.one_hot(labels, classes).movedim(-1, 1).to(x.dtype)
    cross = torch.tensor([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=x.dtype)
    if volume:
        centre = torch.zeros(3, 3, dtype=x.dtype)
        centre[1, 1] = 1
        kernel, conv = torch.stack([centre, cross, centre])[None, None], F.conv3d
    else:
        kernel, conv = cross[None, None], F.conv2d
    interior = float(kernel.sum())
    loss = 0
    for i in range(classes):
        target = g[:, i:i + 1]
        with torch.no_grad():
            y = conv(target, kernel, padding=1) * target
            y[y == interior] = 0
            # the authors' counts are int64, so their alpha is float32; ours is float64
            boundary, area = torch.count_nonzero(y).double(), torch.count_nonzero(target).double()
            alpha = 2 * (1 - (boundary + smooth) / (area + smooth)) - 1
            alpha = min(float(alpha), alpha_max)
        score = p[:, i:i + 1]
        intersect, y_sum, z_sum = (score * target).sum(), (target * target).sum(), (score * score).sum()
        loss = loss + (z_sum + y_sum - 2 * intersect + smooth) / (z_sum + y_sum - (1 + alpha) * intersect + smooth)
    return loss / classes


DOU_OPTIONS = [
    {},
    {"alpha_max": 1.0},
    {"alpha_max": 0.3, "smooth": 1e-3},
    {"activation": "sigmoid"},
    {"activation": "none"},
]


def _dou_input(shape, options, generator):
    if options.get("activation") == "none":
        return probabilities(shape, generator)
    return logits_like(shape, torch.float64, generator)


def _blob_labels(shape, generator, noise_fraction=0.05):
    """Labels with objects of several sizes (so that alpha varies by class):
    class 1 a large block, class 2 thin lines, 0 elsewhere, then noise."""
    spatial = shape[2:]
    labels = torch.zeros((shape[0],) + spatial, dtype=torch.int64)
    block = tuple(slice(s // 4, s // 4 + max(1, s // 2)) for s in spatial)
    labels[(slice(None),) + block] = 1
    labels[(slice(None),) + (slice(None),) * (len(spatial) - 1) + (slice(1, 2),)] = 2 % shape[1]
    noise = torch.rand(labels.shape, generator=generator) < noise_fraction
    labels[noise] = torch.randint(0, shape[1], (int(noise.sum()),), generator=generator)
    return labels


@pytest.mark.parametrize("options", DOU_OPTIONS)
@pytest.mark.parametrize("shape", [(2, 3, 17, 13), (3, 4, 32, 32), (2, 3, 6, 7, 5)])
def test_boundary_dou_matches_the_authors_formula(options, shape, generator):
    x = _dou_input(shape, options, generator)
    for labels in (labels_for(shape, generator), _blob_labels(shape, generator)):
        check_against(lkt.BoundaryDouLoss(**options), lambda a, t: dou_reference(a, t, **options), x, labels,
                      what=f"boundary_dou {options} {shape}")


def test_boundary_dou_alpha_spans_the_truncation(generator):
    """Noiseless blob labels give one class with alpha above 0.8 (a large block)
    and one below (thin lines): both branches of the truncation are taken."""
    shape = (1, 3, 128, 128)
    labels = _blob_labels(shape, generator, noise_fraction=0)
    alphas = []
    for i in range(3):
        target = (labels == i).double()[:, None]
        y = F.conv2d(target, torch.tensor([[[[0.0, 1, 0], [1, 1, 1], [0, 1, 0]]]], dtype=torch.float64), padding=1) * target
        boundary, area = int(((y != 0) & (y != 5)).sum()), int(target.sum())
        alphas.append(1 - 2 * (boundary + 1e-5) / (area + 1e-5))
    assert max(alphas) > 0.8 > min(alphas)
    x = logits_like(shape, torch.float64, generator)
    check_against(lkt.BoundaryDouLoss(), dou_reference, x, labels, what="truncation")


@pytest.mark.parametrize("case", list(EDGE_SHAPES))
def test_boundary_dou_edge_cases(case, generator):
    shape = EDGE_SHAPES[case]
    labels = _edge_case_labels(case.replace("_volume", ""), shape)
    if case in ("one_pixel_wide_image", "one_pixel_tall_image", "volume"):
        labels = labels_for(shape, generator)
    x = logits_like(shape, torch.float64, generator)
    check_against(lkt.BoundaryDouLoss(), dou_reference, x, labels, what=case)


def test_boundary_dou_absent_class_adds_one_and_no_gradient(generator):
    shape = (2, 3, 12, 11)
    labels = _edge_case_labels("absent_class", shape)
    x = logits_like(shape, torch.float64, generator)
    p = torch.softmax(x, 1)
    present = dou_reference(p[:, :2], labels, activation="none") * 2
    assert_close(lkt.BoundaryDouLoss(activation="none")(p, labels), (present + 1) / 3, "absent class")
    leaf = p.clone().requires_grad_(True)
    lkt.BoundaryDouLoss(activation="none")(leaf, labels).backward()
    assert float(leaf.grad[:, 2].abs().max()) == 0.0


def test_boundary_dou_one_channel_is_a_mask(generator):
    shape = (2, 1, 14, 12)
    x = logits_like(shape, torch.float64, generator)
    mask = (torch.rand((2, 14, 12), generator=generator) < 0.4).long()
    check_against(lkt.BoundaryDouLoss(activation="sigmoid"),
                  lambda a, t: dou_reference(a, t, activation="sigmoid"), x, mask, what="mask")


def test_boundary_dou_float32(generator):
    shape = (2, 3, 17, 13)
    x = logits_like(shape, torch.float32, generator)
    labels = labels_for(shape, generator)
    check_against(lkt.BoundaryDouLoss(), lambda a, t: dou_reference(a.double(), t).float(), x, labels,
                  what="float32")


def test_boundary_dou_refuses_bad_input(generator):
    loss = lkt.BoundaryDouLoss()
    with pytest.raises(losskit.LosskitError, match=r"2-D images \(N, C, H, W\) or 3-D volumes.*got 3 dimensions"):
        loss(logits_like((2, 3, 17), torch.float64, generator), labels_for((2, 3, 17), generator))
    x = logits_like((2, 3, 5, 5), torch.float64, generator)
    labels = labels_for((2, 3, 5, 5), generator)
    x[0, 1, 2, 3] = float("inf")
    with pytest.raises(losskit.LosskitError, match=r"'input'\[0, 1, 2, 3\] = inf: logits must be finite"):
        loss(x, labels)
    with pytest.raises(losskit.LosskitError, match=r"input\[0, 0, 0, 0\] = -?[0-9.]+"):
        lkt.BoundaryDouLoss(activation="none")(logits_like((2, 3, 5, 5), torch.float64, generator) - 5, labels)
    with pytest.raises(losskit.LosskitError, match="'smooth'"):
        lkt.BoundaryDouLoss(smooth=0.0)
    with pytest.raises(losskit.LosskitError, match="'alpha_max'"):
        lkt.BoundaryDouLoss(alpha_max=1.5)
