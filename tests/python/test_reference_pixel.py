"""The pixel-wise losses against the implementations users trust: PyTorch's
builtins, MONAI, kornia, and the papers' formulas in plain torch with autograd.
Value and gradient, float32 and float64, 0 to 3 spatial dims, every option that
changes the math. Where a reference's convention differs on purpose, the test
says how and compares accordingly."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losskit.torch as lkt
from conftest import (SHAPES, assert_close, check_against, labels_for, logits_like,
                      soft_targets, value_and_grad)

DTYPES = [torch.float32, torch.float64]


# ------------------------------------------------------------ cross-entropy

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted,smoothing,ignore_index",
                         [(False, 0.0, -100), (True, 0.0, -100), (False, 0.1, 1), (True, 0.2, -100), (True, 0.05, 2)])
def test_cross_entropy_matches_torch(shape, dtype, reduction, weighted, smoothing, ignore_index, generator):
    logits = logits_like(shape, dtype, generator)
    labels = labels_for(shape, generator, ignore_index if ignore_index >= 0 else -100)
    weight = (torch.rand(shape[1], generator=generator, dtype=torch.float64) + 0.5).to(dtype) if weighted else None
    ours = lkt.CrossEntropyLoss(weight=weight, ignore_index=ignore_index, label_smoothing=smoothing,
                                reduction=reduction)
    check_against(ours, lambda x, y: F.cross_entropy(x, y, weight=weight, ignore_index=ignore_index,
                                                     label_smoothing=smoothing, reduction=reduction),
                  logits, labels, what=f"cross_entropy {shape} {dtype}")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted,smoothing", [(False, 0.0), (True, 0.0), (True, 0.15)])
def test_cross_entropy_dense_targets_match_torch(shape, dtype, reduction, weighted, smoothing, generator):
    logits = logits_like(shape, dtype, generator)
    target = soft_targets(shape, dtype, generator)
    weight = (torch.rand(shape[1], generator=generator, dtype=torch.float64) + 0.5).to(dtype) if weighted else None
    ours = lkt.CrossEntropyLoss(weight=weight, label_smoothing=smoothing, reduction=reduction)
    check_against(ours, lambda x, t: F.cross_entropy(x, t, weight=weight, label_smoothing=smoothing,
                                                     reduction=reduction),
                  logits, target, what="cross_entropy dense")


@pytest.mark.parametrize("label_dtype", [torch.uint8, torch.int32])
def test_cross_entropy_label_dtypes_agree(label_dtype, generator):
    logits = logits_like((2, 5, 6, 7), torch.float64, generator)
    labels = labels_for((2, 5, 6, 7), generator)
    reference = lkt.CrossEntropyLoss(label_smoothing=0.1)(logits, labels)
    assert float(lkt.CrossEntropyLoss(label_smoothing=0.1)(logits, labels.to(label_dtype))) == float(reference)


def cross_entropy_formula(log_p, labels, weight, ignore_index, smoothing, reduction):
    """PyTorch's cross-entropy written out on log-probabilities (for probability inputs)."""
    classes = log_p.shape[1]
    weight = torch.ones(classes, dtype=log_p.dtype) if weight is None else weight
    valid = labels != ignore_index
    safe = torch.where(valid, labels, torch.zeros_like(labels))
    picked = log_p.gather(1, safe.unsqueeze(1)).squeeze(1)
    w_label = weight[safe] * valid
    shape = [1, classes] + [1] * (log_p.dim() - 2)
    smooth = -(log_p * weight.view(shape)).sum(1) * valid
    per_pixel = (1 - smoothing) * -(w_label * picked) + smoothing / classes * smooth
    if reduction == "none":
        return per_pixel
    if reduction == "sum":
        return per_pixel.sum()
    return per_pixel.sum() / w_label.sum()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_on_probabilities(dtype, reduction, smoothing, generator):
    shape = (2, 4, 5, 6)
    probabilities = torch.softmax(logits_like(shape, torch.float64, generator), 1).to(dtype)
    labels = labels_for(shape, generator, ignore_index=-100)
    weight = (torch.rand(4, generator=generator, dtype=torch.float64) + 0.5).to(dtype)
    ours = lkt.CrossEntropyLoss(weight=weight, label_smoothing=smoothing, reduction=reduction, activation="none")
    check_against(ours, lambda p, y: cross_entropy_formula(torch.log(p), y, weight, -100, smoothing, reduction),
                  probabilities, labels, what="cross_entropy(probabilities)")


def test_cross_entropy_every_pixel_ignored_is_zero(generator):
    logits = logits_like((2, 3, 4), torch.float64, generator)
    labels = torch.full((2, 4), -100)
    value, grad = value_and_grad(lkt.CrossEntropyLoss(), logits, labels)
    assert float(value) == 0.0 and not grad.any()  # PyTorch returns NaN here


# ------------------------------------------------------------ binary cross-entropy

@pytest.mark.parametrize("shape", SHAPES + [(7,)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted,pos_weighted", [(False, False), (True, False), (False, True), (True, True)])
def test_binary_cross_entropy_matches_torch(shape, dtype, reduction, weighted, pos_weighted, generator):
    logits = logits_like(shape, dtype, generator, scale=6)
    target = torch.rand(shape, generator=generator, dtype=torch.float64).to(dtype)
    classes = shape[1] if len(shape) > 1 else 1
    broadcast = [classes] + [1] * (len(shape) - 2)  # PyTorch broadcasts from the last axis
    weight = (torch.rand(classes, generator=generator, dtype=torch.float64) + 0.5).to(dtype) if weighted else None
    pos_weight = (torch.rand(classes, generator=generator, dtype=torch.float64) * 3).to(dtype) if pos_weighted else None
    ours = lkt.BinaryCrossEntropyLoss(weight=weight, pos_weight=pos_weight, reduction=reduction)
    reference = lambda x, t: F.binary_cross_entropy_with_logits(  # noqa: E731
        x, t, weight=None if weight is None else weight.view(broadcast),
        pos_weight=None if pos_weight is None else pos_weight.view(broadcast), reduction=reduction)
    check_against(ours, reference, logits, target, what="binary_cross_entropy")


def test_binary_cross_entropy_integer_masks(generator):
    logits = logits_like((2, 3, 8, 8), torch.float64, generator)
    mask = torch.rand((2, 3, 8, 8), generator=generator) < 0.4
    for target in (mask, mask.to(torch.uint8), mask.to(torch.int32), mask.to(torch.int64)):
        check_against(lkt.BinaryCrossEntropyLoss(), lambda x, t: F.binary_cross_entropy_with_logits(x, mask.double()),
                      logits, target, what=f"integer mask {target.dtype}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_on_probabilities(dtype, reduction, generator):
    shape = (3, 4, 10)
    probabilities = (0.02 + 0.96 * torch.rand(shape, generator=generator, dtype=torch.float64)).to(dtype)
    target = torch.rand(shape, generator=generator, dtype=torch.float64).to(dtype)
    check_against(lkt.BinaryCrossEntropyLoss(activation="none", reduction=reduction),
                  lambda p, t: F.binary_cross_entropy(p, t, reduction=reduction), probabilities, target,
                  what="binary_cross_entropy(probabilities)")


# ------------------------------------------------------------ focal (softmax)

# MONAI's FocalLoss casts its inputs to float32 (input.float()), so it is a
# float32 reference; float64 is checked against kornia and the formula below.
MONAI_DTYPES = [torch.float32]


@pytest.mark.parametrize("shape", SHAPES[1:])
@pytest.mark.parametrize("dtype", MONAI_DTYPES)
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 3.5])
@pytest.mark.parametrize("alpha", [None, 0.25, "per-class"])
def test_focal_matches_monai(shape, dtype, gamma, alpha, generator):
    from monai.losses import FocalLoss
    logits = logits_like(shape, dtype, generator)
    labels = labels_for(shape, generator)
    alpha_value = [0.2, 0.5, 0.3, 0.7][: shape[1]] if alpha == "per-class" else alpha
    weight = [1.0, 2.0, 0.5, 1.5][: shape[1]]
    ours = lkt.FocalLoss(gamma=gamma, alpha=alpha_value if not isinstance(alpha_value, float) else [alpha_value],
                         weight=weight, reduction="none")
    monai = FocalLoss(to_onehot_y=True, use_softmax=True, gamma=gamma, alpha=alpha_value, weight=weight,
                      reduction="none")
    # MONAI's map has a class axis (B, C, *spatial) holding the target class's term: sum it.
    reference = lambda x, y: monai(x, y.unsqueeze(1)).sum(1)  # noqa: E731
    check_against(ours, reference, logits, labels, what="focal vs MONAI (none)")
    # MONAI's mean divides by B x C x spatial; ours by B x spatial.
    mean_ours, _ = value_and_grad(lkt.FocalLoss(gamma=gamma, weight=weight,
                                                alpha=ours.alpha), logits, labels)
    monai_mean = FocalLoss(to_onehot_y=True, use_softmax=True, gamma=gamma, alpha=alpha_value, weight=weight)
    assert_close(mean_ours / shape[1], monai_mean(logits, labels.unsqueeze(1)), "focal mean / C vs MONAI mean")


@pytest.mark.parametrize("dtype", MONAI_DTYPES)
@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0])
def test_focal_dense_targets_match_monai(dtype, gamma, generator):
    from monai.losses import FocalLoss
    shape = (2, 3, 6, 5)
    logits = logits_like(shape, dtype, generator)
    target = soft_targets(shape, dtype, generator)
    alpha = [0.3, 0.6, 0.9]
    monai = FocalLoss(use_softmax=True, gamma=gamma, alpha=alpha, reduction="none")
    check_against(lkt.FocalLoss(gamma=gamma, alpha=alpha, reduction="none"),
                  lambda x, t: monai(x, t).sum(1), logits, target, what="focal dense vs MONAI")


@pytest.mark.parametrize("shape", SHAPES[1:])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gamma,alpha", [(2.0, 0.25), (0.0, None), (1.5, 0.6)])
def test_focal_matches_kornia_with_ignore_index(shape, dtype, gamma, alpha, generator):
    from kornia.losses import focal_loss
    logits = logits_like(shape, dtype, generator)
    labels = labels_for(shape, generator, ignore_index=-100)
    weight = torch.tensor([0.5, 1.0, 2.0, 1.5][: shape[1]], dtype=dtype)
    ours = lkt.FocalLoss(gamma=gamma, alpha=None if alpha is None else [alpha], weight=weight, reduction="none")
    reference = lambda x, y: focal_loss(x, y, alpha=alpha, gamma=gamma, reduction="none",  # noqa: E731
                                        weight=weight, ignore_index=-100).sum(1)
    check_against(ours, reference, logits, labels, what="focal vs kornia (none, ignore_index)")


def focal_formula(probabilities, labels, gamma, factor):
    """-factor[y] (1 - p_y)^gamma log p_y per pixel (Lin et al., eq. 5)."""
    p = probabilities.gather(1, labels.unsqueeze(1)).squeeze(1)
    return -factor[labels] * (1 - p) ** gamma * torch.log(p)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gamma", [0.0, 0.7, 2.0])
def test_focal_on_probabilities(dtype, gamma, generator):
    shape = (2, 3, 7, 4)
    probabilities = torch.softmax(logits_like(shape, torch.float64, generator), 1).to(dtype)
    labels = labels_for(shape, generator)
    factor = torch.tensor([0.75, 0.25, 0.25], dtype=dtype)
    check_against(lkt.FocalLoss(gamma=gamma, alpha=[0.25], activation="none", reduction="none"),
                  lambda p, y: focal_formula(p, y, gamma, factor), probabilities, labels,
                  what="focal(probabilities)")


def test_focal_saturated_probabilities_have_finite_gradients():
    logits = torch.tensor([[60.0, -60.0, 0.0]], dtype=torch.float64).view(1, 3)
    for gamma in (0.25, 0.5, 2.0):
        value, grad = value_and_grad(lkt.FocalLoss(gamma=gamma), logits, torch.tensor([0]))
        assert torch.isfinite(value) and torch.isfinite(grad).all()


# ------------------------------------------------------------ sigmoid focal

def torchvision_sigmoid_focal(inputs, targets, alpha, gamma, pos_weight=None, weight=None):
    """torchvision.ops.sigmoid_focal_loss (reduction none), plus per-class weights."""
    p = torch.sigmoid(inputs)
    ce = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none", pos_weight=pos_weight)
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss if weight is None else loss * weight


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha,gamma", [(0.25, 2.0), (-1.0, 0.0), (0.75, 0.5), (0.5, 3.0)])
@pytest.mark.parametrize("soft", [False, True])
def test_sigmoid_focal_matches_torchvision(shape, dtype, alpha, gamma, soft, generator):
    logits = logits_like(shape, dtype, generator, scale=5)
    target = torch.rand(shape, generator=generator, dtype=torch.float64)
    target = (target if soft else (target < 0.3).double()).to(dtype)
    ours = lkt.SigmoidFocalLoss(alpha=alpha, gamma=gamma, reduction="none")
    check_against(ours, lambda x, t: torchvision_sigmoid_focal(x, t, alpha, gamma), logits, target,
                  what="sigmoid_focal vs torchvision")
    mean, _ = value_and_grad(lkt.SigmoidFocalLoss(alpha=alpha, gamma=gamma), logits, target)
    assert_close(mean, torchvision_sigmoid_focal(logits, target, alpha, gamma).mean(), "sigmoid_focal mean")


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_focal_matches_kornia_on_hard_targets(dtype, generator):
    from kornia.losses import binary_focal_loss_with_logits
    shape = (2, 3, 9, 8)
    logits = logits_like(shape, dtype, generator, scale=5)
    target = (torch.rand(shape, generator=generator) < 0.35).to(dtype)
    pos_weight = torch.tensor([1.0, 2.5, 0.5], dtype=dtype)
    weight = torch.tensor([2.0, 1.0, 0.5], dtype=dtype)
    ours = lkt.SigmoidFocalLoss(alpha=0.25, gamma=2.0, pos_weight=pos_weight, weight=weight, reduction="none")
    reference = lambda x, t: binary_focal_loss_with_logits(  # noqa: E731
        x, t, alpha=0.25, gamma=2.0, reduction="none", pos_weight=pos_weight, weight=weight)
    check_against(ours, reference, logits, target, what="sigmoid_focal vs kornia")


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_focal_on_probabilities(dtype, generator):
    shape = (3, 2, 11)
    probabilities = (0.02 + 0.96 * torch.rand(shape, generator=generator, dtype=torch.float64)).to(dtype)
    target = torch.rand(shape, generator=generator, dtype=torch.float64).to(dtype)

    def formula(p, t, alpha=0.25, gamma=2.0):
        ce = F.binary_cross_entropy(p, t, reduction="none")
        p_t = p * t + (1 - p) * (1 - t)
        return (alpha * t + (1 - alpha) * (1 - t)) * ce * (1 - p_t) ** gamma

    check_against(lkt.SigmoidFocalLoss(activation="none", reduction="none"), formula, probabilities, target,
                  what="sigmoid_focal(probabilities)")


# ------------------------------------------------------------ TopK

def topk_formula(logits, labels, k, weight=None, ignore_index=-100, reduction="mean"):
    """The k% largest pixel cross-entropies over the pixels not ignored (nnU-Net's
    TopKLoss selects with torch.topk)."""
    per_pixel = F.cross_entropy(logits, labels, weight=weight, ignore_index=ignore_index, reduction="none")
    valid = per_pixel[(labels != ignore_index)]
    count = max(1, int(np.floor(valid.numel() * k / 100)))
    top = valid.topk(count).values
    return top.mean() if reduction == "mean" else top.sum()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [10.0, 33.0, 100.0, 0.5])
@pytest.mark.parametrize("weighted,ignored,reduction", [(False, False, "mean"), (True, True, "mean"), (False, True, "sum")])
def test_topk_matches_formula(shape, dtype, k, weighted, ignored, reduction, generator):
    logits = logits_like(shape, dtype, generator)
    labels = labels_for(shape, generator, -100 if ignored else None)
    weight = (torch.rand(shape[1], generator=generator, dtype=torch.float64) + 0.5).to(dtype) if weighted else None
    ours = lkt.TopkCrossEntropyLoss(k=k, weight=weight, reduction=reduction)
    check_against(ours, lambda x, y: topk_formula(x, y, k, weight, reduction=reduction), logits, labels,
                  what="topk_cross_entropy")


def test_topk_matches_nnunet_selection_without_ignored_pixels(generator):
    shape = (2, 3, 16, 16)
    logits = logits_like(shape, torch.float64, generator)
    labels = labels_for(shape, generator)

    def nnunet_topk(x, y, k=10):  # nnU-Net: int(numel * k / 100) of all voxels
        res = F.cross_entropy(x, y, reduction="none").view(-1)
        return res.topk(int(res.numel() * k / 100), sorted=False).values.mean()

    check_against(lkt.TopkCrossEntropyLoss(), nnunet_topk, logits, labels, what="topk vs nnU-Net")


def test_topk_ties_go_to_lowest_indices():
    logits = torch.zeros(1, 2, 10, dtype=torch.float64)  # every pixel has the same loss
    labels = torch.zeros(1, 10, dtype=torch.int64)
    _, grad = value_and_grad(lkt.TopkCrossEntropyLoss(k=30), logits, labels)
    selected = grad[0, 0] != 0
    assert selected.tolist() == [True] * 3 + [False] * 7


# ------------------------------------------------------------ weighted CE

def weighted_ce_formula(logits, labels, weight, ignore_index=-100):
    per_pixel = F.cross_entropy(logits, labels, weight=weight, ignore_index=ignore_index, reduction="none")
    return per_pixel.sum() / (labels != ignore_index).sum()


def frequency_weights(labels, classes, kind, ignore_index=-100):
    counts = torch.bincount(labels[labels != ignore_index].flatten(), minlength=classes).double()
    present = counts > 0
    frequency = counts / counts.sum()
    weight = torch.zeros(classes, dtype=torch.float64)
    if kind == "inverse_frequency":
        weight[present] = 1.0 / (present.sum() * frequency[present])
    else:
        weight[present] = float(np.median(frequency[present].numpy())) / frequency[present]
    return weight


@pytest.mark.parametrize("shape", SHAPES[1:])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighting", ["given", "inverse_frequency", "median_frequency"])
def test_weighted_cross_entropy_matches_formula(shape, dtype, weighting, generator):
    logits = logits_like(shape, dtype, generator)
    labels = labels_for(shape, generator, ignore_index=-100)
    labels[labels == 0] = 1  # an absent class
    if weighting == "given":
        weight = torch.rand(shape[1], generator=generator, dtype=torch.float64) + 0.5
        ours = lkt.WeightedCrossEntropyLoss(weight=weight.to(dtype))
    else:
        weight = frequency_weights(labels, shape[1], weighting)
        ours = lkt.WeightedCrossEntropyLoss(weighting=weighting)
    check_against(ours, lambda x, y: weighted_ce_formula(x, y, weight.to(dtype)), logits, labels,
                  what=f"weighted_cross_entropy {weighting}")


def test_weighted_cross_entropy_inverse_frequency_balances_classes(generator):
    """With inverse frequency weights the mean is the average of per-class mean CEs."""
    shape = (1, 3, 50)
    logits = logits_like(shape, torch.float64, generator)
    labels = torch.tensor([[0] * 40 + [1] * 9 + [2] * 1])
    value = lkt.WeightedCrossEntropyLoss(weighting="inverse_frequency")(logits, labels)
    per_pixel = F.cross_entropy(logits, labels, reduction="none")[0]
    per_class = [per_pixel[labels[0] == c].mean() for c in range(3)]
    assert_close(value, sum(per_class) / 3, "balanced mean")
