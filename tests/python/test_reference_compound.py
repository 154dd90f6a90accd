"""The compound losses against MONAI (DiceCELoss, DiceFocalLoss: value and
gradient with matching arguments) and the weighted-sum spec against the sum
of its terms; the spec parser's errors."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch

import losskit
import losskit.torch as lkt
from conftest import assert_close, check_against, labels_for, logits_like, soft_targets, value_and_grad

warnings.filterwarnings("ignore", message=".*single channel.*")


def monai_target(target):
    """MONAI takes class indices as (N, 1, *spatial) with to_onehot_y=True."""
    return target.unsqueeze(1) if not target.is_floating_point() else target


# ------------------------------------------------------------ MONAI DiceCELoss

@pytest.mark.parametrize("shape", [(2, 3, 6, 7), (2, 4, 5, 4, 3)])
@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
@pytest.mark.parametrize("target_kind", ["labels", "dense"])
@pytest.mark.parametrize("options", [
    {},
    {"weighted": True, "lambda_dice": 0.3, "lambda_ce": 1.7},
    {"reduction": "sum", "label_smoothing": 0.1, "squared_pred": True},
    {"batch": True, "smooth_nr": 0.0, "smooth_dr": 1e-3},
])
def test_dice_ce_matches_monai(shape, include_background, activation, target_kind, options, generator):
    from monai.losses import DiceCELoss
    options = dict(options)
    logits = logits_like(shape, torch.float64, generator)
    target = labels_for(shape, generator) if target_kind == "labels" else soft_targets(shape, torch.float64, generator)
    if target_kind == "dense":  # MONAI's CE reads a float target as class probabilities
        target = target / target.sum(1, keepdim=True).clamp_min(1e-12)
    weight = None
    if options.pop("weighted", False):
        weight = torch.tensor([0.5, 2.0, 1.0, 1.5][: shape[1]], dtype=torch.float64)
    given = monai_target
    if options.get("squared_pred") and target_kind == "labels":
        # MONAI's one_hot is float32 and its squared_pred path sums the
        # target's squares in that dtype (1e-7 off): give it the float64
        # one-hot (its CE reads it as class probabilities: the same loss)
        def given(y):
            return torch.nn.functional.one_hot(y, shape[1]).movedim(-1, 1).double()
    reference = DiceCELoss(include_background=include_background,
                           to_onehot_y=target_kind == "labels" and given is monai_target,
                           softmax=activation == "softmax", sigmoid=activation == "sigmoid", weight=weight,
                           **options)
    ours = lkt.DiceCeLoss(include_background=include_background, activation=activation,
                          weight=None if weight is None else weight.tolist(), **options)
    check_against(ours, lambda x, y: reference(x, given(y)), logits, target,
                  what=f"dice_ce {activation} {target_kind} {options}")


@pytest.mark.parametrize("target_kind", ["labels", "dense"])
@pytest.mark.parametrize("weighted", [False, True])
def test_dice_ce_one_channel_is_dice_plus_bce(target_kind, weighted, generator):
    """One channel: MONAI's BCEWithLogitsLoss with pos_weight = weight."""
    from monai.losses import DiceCELoss
    shape = (3, 1, 5, 6)
    logits = logits_like(shape, torch.float64, generator)
    mask = (torch.rand((3, 5, 6), generator=generator) < 0.4).long()
    target = mask if target_kind == "labels" else mask.unsqueeze(1).double()
    weight = torch.tensor([2.5], dtype=torch.float64) if weighted else None
    reference = DiceCELoss(sigmoid=True, weight=weight, lambda_ce=0.7)
    ours = lkt.DiceCeLoss(activation="sigmoid", weight=None if weight is None else [2.5], lambda_ce=0.7)
    check_against(ours, lambda x, y: reference(x, monai_target(y).double()), logits, target,
                  what=f"dice_ce one channel {target_kind}")


def test_dice_ce_ignore_index_leaves_pixels_out_of_both_terms(generator):
    shape = (2, 3, 7, 5)
    logits = logits_like(shape, torch.float64, generator)
    target = labels_for(shape, generator, ignore_index=255)
    ours = lkt.DiceCeLoss(ignore_index=255, lambda_dice=0.5)
    reference = lkt.combine("0.5*dice:ignore_index=255 + cross_entropy:ignore_index=255")

    def by_hand(x, y):
        valid = y != 255
        ce = torch.nn.functional.cross_entropy(x, y, ignore_index=255)
        p = torch.softmax(x, 1) * valid.unsqueeze(1)
        g = torch.nn.functional.one_hot(torch.where(valid, y, 0), 3).movedim(-1, 1) * valid.unsqueeze(1)
        dims = (2, 3)
        dice = 1 - (2 * (p * g).sum(dims) + 1e-5) / (p.sum(dims) + g.sum(dims) + 1e-5)
        return 0.5 * dice.mean() + ce

    check_against(ours, by_hand, logits, target, what="dice_ce ignore_index")
    check_against(ours, reference, logits, target, what="dice_ce = its spec")


# ------------------------------------------------------------ MONAI DiceFocalLoss

DICE_FOCAL_OPTIONS = [
    {},
    {"gamma": 0.5, "alpha": 0.25, "lambda_focal": 2.0, "lambda_dice": 0.4},
    {"reduction": "sum", "weighted": True},
    {"batch": True, "squared_pred": True, "gamma": 0.0, "weighted": "scalar"},
]


def dice_focal_case(shape, include_background, target_kind, options, generator):
    """logits, target, MONAI's keywords, ours."""
    options = dict(options)
    logits = logits_like(shape, torch.float64, generator)
    if target_kind == "labels":
        target = labels_for(shape, generator)
    else:
        target = torch.nn.functional.one_hot(labels_for(shape, generator), shape[1]).movedim(-1, 1).double()
    weighted = options.pop("weighted", False)
    kept = shape[1] - (0 if include_background else 1)
    weight = [1.5] if weighted == "scalar" else [0.5 + 0.5 * c for c in range(kept)] if weighted else None
    alpha = options.pop("alpha", None)
    monai = dict(options, include_background=include_background, alpha=alpha,
                 weight=None if weight is None else (weight[0] if weighted == "scalar" else weight))
    ours = dict(options, include_background=include_background, weight=weight, alpha=-1.0 if alpha is None else alpha)
    return logits, target, monai, ours


@pytest.mark.parametrize("shape", [(2, 3, 6, 7), (2, 4, 3, 5, 4)])
@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
@pytest.mark.parametrize("target_kind", ["labels", "dense"])
@pytest.mark.parametrize("options", DICE_FOCAL_OPTIONS)
def test_dice_focal_matches_monai(shape, include_background, activation, target_kind, options, generator):
    """MONAI's DiceFocalLoss itself. Its FocalLoss computes in float32
    (input.float()), so the agreement is float32's; the float64 test below
    checks the same formula tightly."""
    from monai.losses import DiceFocalLoss
    logits, target, monai, ours = dice_focal_case(shape, include_background, target_kind, options, generator)
    reference = DiceFocalLoss(to_onehot_y=target_kind == "labels", softmax=activation == "softmax",
                              sigmoid=activation == "sigmoid", **monai)
    module = lkt.DiceFocalLoss(activation=activation, **ours)
    value, grad = value_and_grad(module, logits, target)
    ref_value, ref_grad = value_and_grad(lambda x, y: reference(x, monai_target(y)), logits, target)
    torch.testing.assert_close(value, ref_value, rtol=2e-6, atol=1e-7)
    torch.testing.assert_close(grad, ref_grad, rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize("shape", [(2, 3, 6, 7), (2, 4, 3, 5, 4)])
@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
@pytest.mark.parametrize("options", DICE_FOCAL_OPTIONS)
def test_dice_focal_is_monais_formula_in_float64(shape, include_background, activation, options, generator):
    """MONAI's DiceLoss plus MONAI's sigmoid_focal_loss with FocalLoss's
    channel selection, weights and reductions, all in float64."""
    from monai.losses import DiceLoss
    from monai.losses.focal_loss import sigmoid_focal_loss
    logits, target, monai, ours = dice_focal_case(shape, include_background, "labels", options, generator)
    onehot = torch.nn.functional.one_hot(target, shape[1]).movedim(-1, 1).double()
    dice = DiceLoss(include_background=include_background, softmax=activation == "softmax",
                    sigmoid=activation == "sigmoid", squared_pred=monai.get("squared_pred", False),
                    batch=monai.get("batch", False), weight=monai["weight"], reduction=monai.get("reduction", "mean"))
    first = 0 if include_background else 1

    def reference(x, y):
        focal = sigmoid_focal_loss(x[:, first:], onehot[:, first:], monai.get("gamma", 2.0), monai["alpha"])
        if monai["weight"] is not None:
            focal = focal * torch.as_tensor(monai["weight"], dtype=x.dtype).view([1, -1] + [1] * (x.dim() - 2))
        if monai.get("reduction", "mean") == "sum":
            focal = focal.mean(tuple(range(2, x.dim()))).sum()
        else:
            focal = focal.mean()
        return monai.get("lambda_dice", 1.0) * dice(x, onehot) + monai.get("lambda_focal", 1.0) * focal

    check_against(lkt.DiceFocalLoss(activation=activation, **ours), reference, logits, target,
                  what=f"dice_focal {activation} {options}")


def test_dice_focal_one_channel(generator):
    from monai.losses import DiceFocalLoss
    shape = (3, 1, 5, 6)
    logits = logits_like(shape, torch.float64, generator)
    mask = (torch.rand((3, 5, 6), generator=generator) < 0.4).long()
    reference = DiceFocalLoss(sigmoid=True, gamma=1.5, weight=2.0)
    ours = lkt.DiceFocalLoss(activation="sigmoid", gamma=1.5, weight=[2.0])
    value, grad = value_and_grad(ours, logits, mask)
    ref_value, ref_grad = value_and_grad(lambda x, y: reference(x, y.unsqueeze(1).double()), logits, mask)
    torch.testing.assert_close(value, ref_value, rtol=2e-6, atol=1e-7)  # MONAI's focal: float32
    torch.testing.assert_close(grad, ref_grad, rtol=2e-5, atol=1e-7)


def test_dice_compounds_in_float32(generator):
    from monai.losses import DiceCELoss, DiceFocalLoss
    shape = (2, 3, 8, 8)
    logits = logits_like(shape, torch.float32, generator)
    target = labels_for(shape, generator)
    for ours, reference in [(lkt.DiceCeLoss(), DiceCELoss(softmax=True, to_onehot_y=True)),
                            (lkt.DiceFocalLoss(), DiceFocalLoss(softmax=True, to_onehot_y=True))]:
        value, grad = value_and_grad(ours, logits, target)
        ref_value, ref_grad = value_and_grad(lambda x, y: reference(x, y.unsqueeze(1)), logits, target)
        assert value.dtype == torch.float32
        torch.testing.assert_close(value, ref_value, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------ the weighted-sum spec

SPECS = [
    ("dice:smooth_nr=1 + 0.5*focal:gamma=2", [(1.0, "dice", "smooth_nr=1"), (0.5, "focal", "gamma=2")]),
    ("2*cross_entropy:weight=[1,2,0.5],label_smoothing=0.1 + 0.25 * tversky:alpha=0.3,beta=0.7",
     [(2.0, "cross_entropy", "weight=[1,2,0.5],label_smoothing=0.1"), (0.25, "tversky", "alpha=0.3,beta=0.7")]),
    ("jaccard:smooth_nr=1e+1,smooth_dr=1e+1 + lovasz_softmax + 1e-1*focal:alpha=[0.25]",
     [(1.0, "jaccard", "smooth_nr=1e+1,smooth_dr=1e+1"), (1.0, "lovasz_softmax", ""), (0.1, "focal", "alpha=[0.25]")]),
]


@pytest.mark.parametrize("spec,terms", SPECS)
def test_spec_is_the_weighted_sum_of_its_terms(spec, terms, generator):
    shape = (2, 3, 6, 5)
    logits = logits_like(shape, torch.float64, generator)
    target = labels_for(shape, generator)
    modules = [(w, lkt.loss(name).runner.set_spec(params) and lkt.loss(name)) for w, name, params in terms]
    modules = []
    for weight, name, params in terms:
        module = lkt.loss(name)
        module.runner.set_spec(params)
        modules.append((weight, module))
    check_against(lkt.combine(spec), lambda x, y: sum(w * m(x, y) for w, m in modules), logits, target, what=spec)
    compound = losskit.combine(spec)
    assert [(w, n) for w, n, _ in compound.terms] == [(w, n) for w, n, _ in terms]
    value, (grad, no_grad) = compound(logits.numpy(), target.numpy())
    assert no_grad is None and grad.shape == shape and np.ndim(value) == 0


def test_spec_gradcheck_and_pickling(generator):
    shape = (2, 3, 4, 3)
    logits = logits_like(shape, torch.float64, generator).requires_grad_(True)
    target = labels_for(shape, generator)
    module = lkt.CompoundLoss("dice:batch=true + 0.3*focal:gamma=1.5 + 2*cross_entropy:reduction=sum")
    assert torch.autograd.gradcheck(lambda x: module(x, target), (logits,))
    again = pickle.loads(pickle.dumps(module))
    assert again(logits, target).item() == module(logits, target).item()
    assert pickle.loads(pickle.dumps(losskit.combine("dice + focal"))).spec == "dice + focal"


def test_from_spec_builds_a_sum_only_for_sums():
    assert isinstance(losskit.Loss.from_spec("dice:smooth_nr=1e+2"), losskit.Loss)
    assert isinstance(losskit.Loss.from_spec("focal:alpha=[0.25]"), losskit.Loss)
    assert isinstance(losskit.Loss.from_spec("dice + focal"), losskit.Compound)
    assert isinstance(losskit.Loss.from_spec("0.5*focal"), losskit.Compound)


@pytest.mark.parametrize("spec,status,pieces", [
    ("dice + 0.5*focl", "LK_ENOTFOUND", ["term 2 at position 7", "no loss named 'focl'"]),
    ("dice + abc*focal", "LK_EPARAM", ["term 2 at position 7", "bad weight 'abc'"]),
    ("nan*dice", "LK_EPARAM", ["term 1 at position 0", "bad weight 'nan'"]),
    ("dice + focal:gamma=-2", "LK_EPARAM", ["term 2 at position 7", "gamma"]),
    ("dice + focal:gamma", "LK_EPARAM", ["term 2", "key=value"]),
    ("dice:smooth_nr=1 +", "LK_EPARAM", ["term 2 at position 18", "empty term"]),
    ("dice + + focal", "LK_EPARAM", ["term 2", "empty term"]),
    ("dice + focal:reduction=none", "LK_EPARAM", ["term 2", "reduction=none"]),
    ("dice + sigmoid_focal", "LK_EPARAM", ["term 2", "must take the same inputs"]),
])
def test_spec_errors(spec, status, pieces):
    with pytest.raises(losskit.LosskitError) as error:
        losskit.combine(spec)
    assert error.value.status == status
    for piece in pieces:
        assert piece in str(error.value), (piece, str(error.value))
    with pytest.raises(losskit.LosskitError):
        lkt.combine(spec)


def test_compute_errors_name_the_term(generator):
    shape = (2, 3, 4, 4)
    logits = logits_like(shape, torch.float64, generator)
    target = labels_for(shape, generator)
    target[1, 2, 3] = 9
    with pytest.raises(losskit.LosskitError, match=r"term 2 \(focal\) at position 22 .*target\[1, 2, 3\] = 9"):
        lkt.combine("dice:ignore_index=9 + focal")(logits, target)


# ------------------------------------------------------------ Unified focal (Yeung et al.)

def unified_focal_reference(probs, onehot, variant, weight, delta, gamma, smooth, valid=None, batch=False):
    """The authors' code (github.com/mlyg/unified-focal-loss, loss_functions.py)
    in torch, channels first, class 0 the background and every other class a
    foreground as their channel 1, without their clipping of p."""
    if valid is not None:
        mask = valid.unsqueeze(1).to(probs.dtype)
        probs_for_sums, onehot = probs * mask, onehot * mask
    else:
        mask, probs_for_sums = torch.ones_like(probs[:, :1]), probs
    axis = tuple(range(2, probs.dim()))
    sums = (lambda v: v.sum(axis).sum(0, keepdim=True)) if batch else (lambda v: v.sum(axis))
    tp = sums(onehot * probs_for_sums)
    fn = sums(onehot * (1 - probs_for_sums) * mask)
    fp = sums((1 - onehot) * probs_for_sums * mask)
    tversky = (tp + smooth) / (tp + delta * fn + (1 - delta) * fp + smooth)
    back_dice = 1 - tversky[:, 0]
    if variant == "symmetric":
        back_dice = back_dice * torch.pow(1 - tversky[:, 0], -gamma)
    fore_dice = (1 - tversky[:, 1:]) * torch.pow(1 - tversky[:, 1:], -gamma)
    ftl = torch.cat([back_dice.unsqueeze(1), fore_dice], 1).mean()
    cross_entropy = -onehot * torch.log(probs)
    back_ce = (1 - delta) * torch.pow(1 - probs[:, 0], gamma) * cross_entropy[:, 0]
    fore_ce = delta * cross_entropy[:, 1:]
    if variant == "symmetric":
        fore_ce = fore_ce * torch.pow(1 - probs[:, 1:], gamma)
    per_pixel = back_ce + fore_ce.sum(1)
    if valid is not None:
        fl = (per_pixel * valid).sum() / valid.sum()
    else:
        fl = per_pixel.mean()
    return weight * ftl + (1 - weight) * fl


@pytest.mark.parametrize("shape", [(3, 2, 7, 6), (2, 4, 5, 6), (2, 3, 4, 3, 5)])
@pytest.mark.parametrize("variant", ["asymmetric", "symmetric"])
@pytest.mark.parametrize("options", [
    {},
    {"lambda_ftl": 0.2, "delta": 0.7, "gamma": 0.75},
    {"lambda_ftl": 0.9, "delta": 0.3, "gamma": 0.0, "smooth": 1.0, "batch": True},
])
@pytest.mark.parametrize("target_kind", ["labels", "dense", "ignored"])
def test_unified_focal_matches_the_authors_code(shape, variant, options, target_kind, generator):
    logits = logits_like(shape, torch.float64, generator, scale=2.0)
    ignore = 255 if target_kind == "ignored" else None
    labels = labels_for(shape, generator, ignore_index=ignore)
    valid = labels != 255 if ignore else None
    onehot = torch.nn.functional.one_hot(torch.where(labels == 255, 0, labels), shape[1]).movedim(-1, 1).double()
    target = onehot if target_kind == "dense" else labels
    settings = {"lambda_ftl": 0.5, "delta": 0.6, "gamma": 0.5, "smooth": 1e-7, "batch": False, **options}
    ours = lkt.UnifiedFocalLoss(variant=variant, ignore_index=255 if ignore else -100, **settings)

    def reference(x, y):
        return unified_focal_reference(torch.softmax(x, 1), onehot, variant, settings["lambda_ftl"], settings["delta"],
                                       settings["gamma"], settings["smooth"], valid, settings["batch"])

    check_against(ours, reference, logits, target, what=f"unified_focal {variant} {options} {target_kind}")


def test_unified_focal_binary_equals_the_authors_two_channel_code(generator):
    """The authors' functions as written (two channels, clipping at 1e-7),
    on probabilities well inside the clipping range."""
    shape = (2, 2, 8, 8)
    logits = logits_like(shape, torch.float64, generator, scale=2.0)
    labels = labels_for(shape, generator)
    onehot = torch.nn.functional.one_hot(labels, 2).movedim(-1, 1).double()

    def asym_unified_focal(x, y, weight=0.5, delta=0.6, gamma=0.5):
        p = torch.softmax(x, 1).clamp(1e-7, 1 - 1e-7)
        tp, fn, fp = [v.sum((2, 3)) for v in (onehot * p, onehot * (1 - p), (1 - onehot) * p)]
        dice_class = (tp + 1e-7) / (tp + delta * fn + (1 - delta) * fp + 1e-7)
        back_dice = 1 - dice_class[:, 0]
        fore_dice = (1 - dice_class[:, 1]) * torch.pow(1 - dice_class[:, 1], -gamma)
        ftl = torch.stack([back_dice, fore_dice], -1).mean()
        cross_entropy = -onehot * torch.log(p)
        back_ce = (1 - delta) * torch.pow(1 - p[:, 0], gamma) * cross_entropy[:, 0]
        fore_ce = delta * cross_entropy[:, 1]
        fl = torch.stack([back_ce, fore_ce], -1).sum(-1).mean()
        return weight * ftl + (1 - weight) * fl

    check_against(lkt.UnifiedFocalLoss(), asym_unified_focal, logits, labels, what="unified focal, binary")


# ------------------------------------------------------------ SegLossBias (ce_region_size)

def region_size_reference(x, labels, penalty, weight_size, ignore_index=255, class_weight=None, smooth=1e-10):
    """The reference code (github.com/by-liu/SegLossBias, CrossEntropyWithL1 /
    CrossEntropyWithKL, multiclass mode, the nnU-Net version's proportions) in torch."""
    ce = torch.nn.functional.cross_entropy(x, labels, weight=class_weight, ignore_index=ignore_index)
    valid = (labels >= 0) & (labels != ignore_index)
    onehot = torch.nn.functional.one_hot(torch.where(valid, labels, 0), x.shape[1]).movedim(-1, 1).to(x.dtype)
    mask = valid.unsqueeze(1).to(x.dtype)
    axis = tuple(range(2, x.dim()))
    cardinality = valid.sum(tuple(range(1, valid.dim()))).unsqueeze(1).to(x.dtype)
    truth = ((onehot * mask).sum(axis) + smooth) / (cardinality + smooth)
    predicted = ((torch.softmax(x, 1) * mask).sum(axis) + smooth) / (cardinality + smooth)
    if penalty == "l1":
        regularizer = (predicted - truth).abs().mean()
    else:
        regularizer = (truth * torch.log(truth / predicted)).sum(1).mean()
    return ce + weight_size * regularizer


@pytest.mark.parametrize("shape", [(3, 4, 7, 6), (2, 3, 4, 3, 5), (4, 2, 9)])
@pytest.mark.parametrize("penalty", ["l1", "kl"])
@pytest.mark.parametrize("options", [{}, {"lambda_size": 3.0, "weighted": True}, {"lambda_size": 0.3, "smooth": 1e-3}])
def test_ce_region_size_matches_the_reference_code(shape, penalty, options, generator):
    options = dict(options)
    logits = logits_like(shape, torch.float64, generator)
    labels = labels_for(shape, generator, ignore_index=255)
    class_weight = torch.linspace(0.5, 2, shape[1], dtype=torch.float64) if options.pop("weighted", False) else None
    ours = lkt.CeRegionSizeLoss(penalty=penalty, weight=None if class_weight is None else class_weight.tolist(),
                                **options)
    check_against(ours, lambda x, y: region_size_reference(x, y, penalty, options.get("lambda_size", 1.0), 255,
                                                           class_weight, options.get("smooth", 1e-10)),
                  logits, labels, what=f"ce_region_size {penalty} {options}")


@pytest.mark.parametrize("penalty", ["l1", "kl"])
def test_ce_region_size_two_channels_is_the_binary_mode(penalty, generator):
    """The reference's binary mode on one logit x is ours on [0, x]."""
    x = logits_like((3, 1, 6, 5), torch.float64, generator)
    mask = (torch.rand((3, 6, 5), generator=generator) < 0.3).long()

    def binary_reference(logit, y):
        ce = torch.nn.functional.binary_cross_entropy_with_logits(logit, y.unsqueeze(1).double())
        truth = (y.sum((1, 2)).double() + 1e-10) / (30 + 1e-10)
        predicted = (torch.sigmoid(logit)[:, 0].sum((1, 2)) + 1e-10) / (30 + 1e-10)
        if penalty == "l1":
            return ce + (predicted - truth).abs().mean()
        kl = truth * torch.log(truth / predicted) + (1 - truth) * torch.log((1 - truth) / (1 - predicted))
        return ce + kl.mean()

    ours = lkt.CeRegionSizeLoss(penalty=penalty)
    value, grad = value_and_grad(lambda logit, y: ours(torch.cat([torch.zeros_like(logit), logit], 1), y), x, mask)
    ref_value, ref_grad = value_and_grad(binary_reference, x, mask)
    # an identity of the formulas, not of the arithmetic: a few ulps apart
    torch.testing.assert_close(value, ref_value, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-10, atol=1e-13)


# ------------------------------------------------------------ Combo (Taghanaki et al.)

def combo_reference(p, t, alpha, beta, smooth, batch):
    """The paper's formula: alpha L_wbce - (1 - alpha) DSC, the Dice
    coefficient of each channel over the batch (or each image), averaged."""
    wbce = -(beta * t * torch.log(p) + (1 - beta) * (1 - t) * torch.log(1 - p)).mean()
    axis = tuple(range(2, p.dim()))
    if batch:
        axis = (0,) + axis
    dsc = ((2 * (p * t).sum(axis) + smooth) / (p.sum(axis) + t.sum(axis) + smooth)).mean()
    return alpha * wbce - (1 - alpha) * dsc


@pytest.mark.parametrize("shape", [(3, 1, 7, 6), (2, 3, 5, 4), (2, 2, 3, 4, 3)])
@pytest.mark.parametrize("options", [{}, {"alpha": 0.3, "beta": 0.8}, {"alpha": 0.7, "beta": 0.1, "smooth": 0.01,
                                                                       "batch": False}])
@pytest.mark.parametrize("activation", ["sigmoid", "none"])
def test_combo_matches_the_paper(shape, options, activation, generator):
    settings = {"alpha": 0.5, "beta": 0.5, "smooth": 1.0, "batch": True, **options}
    x = logits_like(shape, torch.float64, generator)
    if activation == "none":
        x = torch.sigmoid(x)
    if shape[1] == 1:
        labels = (torch.rand((shape[0],) + shape[2:], generator=generator) < 0.4).long()
        t = labels.unsqueeze(1).double()
    else:
        labels = labels_for(shape, generator)
        t = torch.nn.functional.one_hot(labels, shape[1]).movedim(-1, 1).double()
    ours = lkt.ComboLoss(activation=activation, **options)

    def reference(z, y):
        p = torch.sigmoid(z) if activation == "sigmoid" else z
        return combo_reference(p, t, settings["alpha"], settings["beta"], settings["smooth"], settings["batch"])

    check_against(ours, reference, x, labels, what=f"combo {activation} {options}")
    check_against(ours, reference, x, t, what=f"combo dense {activation} {options}")


# ------------------------------------------------------------ Exponential logarithmic (Wong et al.)

def exp_log_reference(x, labels, settings, activation="softmax", ignore_index=None):
    p = torch.softmax(x, 1) if activation == "softmax" else x
    classes = x.shape[1]
    valid = labels != ignore_index if ignore_index is not None else torch.ones_like(labels, dtype=torch.bool)
    safe = torch.where(valid, labels, 0)
    g = torch.nn.functional.one_hot(safe, classes).movedim(-1, 1).to(x.dtype) * valid.unsqueeze(1)
    mask = valid.unsqueeze(1).to(x.dtype)
    axis = tuple(range(2, x.dim()))
    if settings["batch"]:
        axis = (0,) + axis
    dice = (2 * (p * g * mask).sum(axis) + settings["smooth"]) / ((p * mask).sum(axis) + g.sum(axis)
                                                                  + settings["smooth"])
    if not settings["include_background"]:
        dice = dice[..., 1:]
    l_dice = torch.pow(-torch.log(dice), settings["gamma_dice"]).mean()
    weight = torch.as_tensor(settings["weight"] or [1.0] * classes, dtype=x.dtype)
    log_p_y = torch.log(torch.gather(p, 1, safe.unsqueeze(1))).squeeze(1)
    per_pixel = weight[safe] * torch.pow(-log_p_y, settings["gamma_cross"])
    l_cross = per_pixel[valid].sum() / valid.sum()
    return settings["w_dice"] * l_dice + settings["w_cross"] * l_cross


@pytest.mark.parametrize("shape", [(3, 3, 7, 6), (2, 4, 3, 4, 3), (5, 2, 9)])
@pytest.mark.parametrize("options", [
    {},
    {"gamma_dice": 1.0, "gamma_cross": 1.0, "w_dice": 0.5, "w_cross": 0.5},
    {"gamma_dice": 2.0, "gamma_cross": 0.5, "weighted": True, "batch": True},
    {"include_background": False, "ignored": True, "smooth": 0.5},
])
@pytest.mark.parametrize("activation", ["softmax", "none"])
def test_exp_log_matches_the_paper(shape, options, activation, generator):
    options = dict(options)
    ignored = options.pop("ignored", False)
    weighted = options.pop("weighted", False)
    settings = {"w_dice": 0.8, "w_cross": 0.2, "gamma_dice": 0.3, "gamma_cross": 0.3, "smooth": 1.0,
                "batch": False, "include_background": True, "weight": None, **options}
    if weighted:
        settings["weight"] = options["weight"] = [0.5 + c for c in range(shape[1])]
    x = logits_like(shape, torch.float64, generator)
    if activation == "none":
        x = torch.softmax(x, 1)
    labels = labels_for(shape, generator, ignore_index=255 if ignored else None)
    ours = lkt.ExpLogLoss(activation=activation, ignore_index=255 if ignored else -100, **options)
    check_against(ours, lambda z, y: exp_log_reference(z, y, settings, activation, 255 if ignored else None),
                  x, labels, what=f"exp_log {activation} {options}")


def test_exp_log_dense_one_hot_equals_labels(generator):
    shape = (2, 3, 6, 5)
    x = logits_like(shape, torch.float64, generator)
    labels = labels_for(shape, generator)
    onehot = torch.nn.functional.one_hot(labels, 3).movedim(-1, 1).double()
    ours = lkt.ExpLogLoss(weight=[0.5, 2.0, 1.0], gamma_cross=0.7)
    check_against(ours, lambda z, y: ours(z, labels), x, onehot, what="exp_log dense = labels")
