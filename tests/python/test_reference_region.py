"""The region losses (Dice family, Tversky family, generalized and Wasserstein
Dice, sensitivity-specificity, MCC) against the implementations users trust --
MONAI, kornia, segmentation_models_pytorch -- and against the papers' formulas
written here in plain torch with autograd, value and gradient, for each option
that changes the math. Where a library's convention differs from ours on
purpose, the test maps its options onto ours as the loss's documentation says."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losskit
import losskit.torch as lkt
from conftest import assert_close, check_against, labels_for, logits_like, soft_targets, value_and_grad
from references import smp_losses

warnings.filterwarnings("ignore", message=".*single channel.*")

REGION_LOSSES = [entry["name"] for entry in losskit.losses() if entry["stats"]]


# ------------------------------------------------------------ the formulas in plain torch

def activate(x, activation):
    if activation == "softmax":
        return torch.softmax(x, 1)
    if activation == "sigmoid":
        return torch.sigmoid(x)
    return x


def targets_of(target, classes, dtype, ignore_index=None):
    """(g, valid): the one-hot labels (one channel: the 0/1 mask) with ignored
    pixels zeroed, or the dense target; valid is (N, *spatial)."""
    if target.is_floating_point():
        return target.to(dtype), torch.ones((target.shape[0],) + target.shape[2:], dtype=torch.bool)
    labels = target.long()
    valid = labels != ignore_index if ignore_index is not None else torch.ones_like(labels, dtype=torch.bool)
    if classes == 1:
        g = ((labels == 1) & valid).unsqueeze(1)
    else:
        g = F.one_hot(torch.where(valid, labels, 0), classes).movedim(-1, 1) * valid.unsqueeze(1)
    return g.to(dtype), valid


def class_sums(p, g, valid, batch):
    """The sums of the statistics API, (N, C) per image or (1, C) for the batch."""
    mask = valid.unsqueeze(1).to(p.dtype).expand_as(p)
    p = torch.where(mask > 0, p, torch.zeros_like(p))
    dims = tuple(range(2, p.dim()))

    def total(values):
        per_image = values.sum(dims) if dims else values
        return per_image.sum(0, keepdim=True) if batch else per_image

    error = p - g
    return {"I": total(p * g), "P": total(p), "G": total(g), "PP": total(p * p), "GG": total(g * g),
            "EEG": total(error * error * g), "EE": total(error * error * mask), "N": total(mask)}


def reduce_terms(terms, present, reduction, weight=None, absent="keep", batch=False):
    """Our documented reduction of (groups, C_kept) terms."""
    if weight is not None:
        terms = terms * torch.as_tensor(weight, dtype=terms.dtype)
    if absent != "keep":
        terms = torch.where(present, terms, torch.zeros_like(terms))
    if reduction == "none":
        return terms[0] if batch else terms
    if reduction == "sum":
        return terms.sum()
    if absent == "skip":
        counted = present.sum(1)
        return torch.where(counted > 0, terms.sum(1) / counted.clamp_min(1), torch.zeros_like(terms[:, 0])).mean()
    return terms.mean()


def region_formula(kind, x, target, activation="softmax", include_background=True, squared_pred=False,
                   smooth_nr=1e-5, smooth_dr=1e-5, batch=False, weight=None, ignore_index=None,
                   absent_classes="keep", reduction="mean", alpha=0.5, beta=0.5, gamma=4 / 3,
                   gamma_convention="inverse", r=0.1, smooth=1.0, eps=0.0):
    """The per-class region losses, from their papers, with our options."""
    classes = x.shape[1]
    p = activate(x, activation)
    g, valid = targets_of(target, classes, x.dtype, ignore_index)
    s = class_sums(p, g, valid, batch)
    first = 1 if classes > 1 and not include_background else 0
    s = {k: v[:, first:] for k, v in s.items()}
    I, P, G, N = s["I"], s["P"], s["G"], s["N"]
    if kind in ("dice", "log_cosh_dice", "jaccard"):
        P2, G2 = (s["PP"], s["GG"]) if squared_pred else (P, G)
        if kind == "jaccard":
            terms = 1 - (I + smooth_nr) / (P2 + G2 - I + smooth_dr)
        else:
            terms = 1 - (2 * I + smooth_nr) / (P2 + G2 + smooth_dr)
            if kind == "log_cosh_dice":
                terms = torch.log(torch.cosh(terms))
    elif kind in ("tversky", "focal_tversky", "asymmetric_similarity"):
        if kind == "asymmetric_similarity":
            alpha, beta = 1 / (1 + beta ** 2), beta ** 2 / (1 + beta ** 2)
        fp, fn = P - I, G - I
        index = (I + smooth_nr) / (I + alpha * fp + beta * fn + smooth_dr)
        terms = 1 - index
        if kind == "focal_tversky":
            terms = terms.clamp_min(0) ** (1 / gamma if gamma_convention == "inverse" else gamma)
    elif kind == "sensitivity_specificity":
        terms = r * s["EEG"] / (G + smooth) + (1 - r) * (s["EE"] - s["EEG"]) / (N - G + smooth)
    elif kind == "mcc":
        tp, fp, fn = I + eps, P - I + eps, G - I + eps
        tn = N - P - G + I + eps
        mcc = (tp * tn - fp * fn + smooth_nr) / torch.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn) + smooth_dr)
        perfect = ((P - I) == 0) & ((G - I) == 0)
        terms = torch.where(perfect, torch.zeros_like(mcc), 1 - mcc)
    else:
        raise ValueError(kind)
    return reduce_terms(terms, G > 0, reduction, weight, absent_classes, batch)


def generalized_dice_formula(x, target, activation="softmax", include_background=True, weight_type="square",
                             smooth_nr=1e-5, smooth_dr=1e-5, batch=False, ignore_index=None, reduction="mean",
                             k=None):
    """Sudre et al.'s GDL with MONAI's weights for absent classes; Su et al.'s penalty if k."""
    classes = x.shape[1]
    p = activate(x, activation)
    g, valid = targets_of(target, classes, x.dtype, ignore_index)
    s = class_sums(p, g, valid, batch)
    first = 1 if classes > 1 and not include_background else 0
    I, P, G = (s[k][:, first:] for k in ("I", "P", "G"))
    with torch.no_grad():
        raw = {"square": 1 / G ** 2, "simple": 1 / G, "uniform": torch.ones_like(G)}[weight_type]
        finite = torch.where(torch.isinf(raw), torch.zeros_like(raw), raw)
        w = torch.where(torch.isinf(raw), finite.max(1, keepdim=True).values.expand_as(raw), raw)
    loss = 1 - (2 * (w * I).sum(1) + smooth_nr) / ((w * (P + G)).sum(1) + smooth_dr)
    if k is not None:
        loss = loss / (1 + k * (1 - loss))
    return {"mean": loss.mean(), "sum": loss.sum(), "none": loss[0] if batch else loss}[reduction]


def wasserstein_formula(x, labels, dist_matrix=None, weighting_mode="default", activation="softmax",
                        smooth_nr=1e-5, smooth_dr=1e-5, batch=False, ignore_index=None, reduction="mean"):
    """Fidon et al.'s generalized Wasserstein Dice with MONAI's two weightings."""
    classes = x.shape[1]
    m = 1 - torch.eye(classes, dtype=x.dtype) if dist_matrix is None else torch.as_tensor(dist_matrix, dtype=x.dtype)
    m = m / m.max()
    p = activate(x, activation)
    g, valid = targets_of(labels, classes, x.dtype, ignore_index)
    flat_p, flat_g = p.flatten(2), g.flatten(2)
    if batch:
        flat_p, flat_g = flat_p.movedim(0, 1).flatten(1)[None], flat_g.movedim(0, 1).flatten(1)[None]
    # W_i = sum_c M[y_i][c] p_ic, A_l = sum over pixels of class l of W_i
    distance = torch.einsum("nli,lc,nci->nli", flat_g, m, flat_p)
    volume, cost = flat_g.sum(2), distance.sum(2)
    if weighting_mode == "GDL":
        alpha = 1 / (volume + 1)
        tp = (alpha * (volume - cost)).sum(1)
        denominator = (alpha * (2 * volume - cost)).sum(1)
    else:
        alpha = torch.ones_like(volume)
        alpha[:, 0] = 0
        tp = (alpha * (volume - cost)).sum(1)
        denominator = 2 * tp + cost.sum(1)
    loss = 1 - (2 * tp + smooth_nr) / (denominator + smooth_dr)
    return {"mean": loss.mean(), "sum": loss.sum(), "none": loss[0] if batch else loss}[reduction]


def inputs_for(activation, shape, dtype, generator, target_kind, ignore_index=None, scale=3.0):
    """A prediction (logits, or probabilities for activation none) and a target."""
    logits = logits_like(shape, dtype, generator, scale)
    if activation == "none":
        logits = (torch.softmax(logits.double(), 1) if shape[1] > 1 else torch.sigmoid(logits.double())).to(dtype)
    if target_kind == "dense":
        return logits, soft_targets(shape, dtype, generator)
    if target_kind == "binary":  # one 0/1 mask per channel (multi-label)
        return logits, (torch.rand(shape, generator=generator) < 0.4).to(dtype)
    return logits, labels_for(shape, generator, ignore_index)


SHAPES = [(2, 3, 9, 10), (3, 4, 11), (2, 3, 4, 5, 6)]


# ------------------------------------------------------------ MONAI

def monai_kwargs(activation, target):
    labels = not target.is_floating_point()
    return {"softmax": activation == "softmax", "sigmoid": activation == "sigmoid", "to_onehot_y": labels}


def monai_target(target):
    return target.unsqueeze(1) if not target.is_floating_point() else target


def as_ours(reference, ours_shape):
    """MONAI's reduction none keeps broadcast axes: (N, C, 1, 1) -> ours (N, C)."""
    return reference.reshape(ours_shape) if reference.dim() else reference


OPTIONS = list(itertools.product([True, False], [False, True], ["softmax", "sigmoid", "none"]))


@pytest.mark.parametrize("include_background,batch,activation", OPTIONS)
@pytest.mark.parametrize("squared_pred", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("target_kind", ["labels", "ignored", "dense"])
def test_dice_matches_monai(include_background, batch, activation, squared_pred, reduction, target_kind, generator):
    from monai.losses import DiceLoss

    dtype = torch.float64
    ignore = 255 if target_kind == "ignored" else None
    x, target = inputs_for(activation, SHAPES[0], dtype, generator, "dense" if target_kind == "dense" else "labels",
                           ignore)
    ours = lkt.DiceLoss(include_background=include_background, activation=activation, squared_pred=squared_pred,
                        batch=batch, reduction=reduction, ignore_index=255 if ignore else -100)
    given = target
    if squared_pred and not target.is_floating_point():
        # MONAI's one_hot is float32, and its squared_pred path takes the norm
        # of the target in that dtype (1e-7 off): give it the one-hot in ours
        given = targets_of(target, x.shape[1], dtype, ignore)[0]
    monai = DiceLoss(include_background=include_background, squared_pred=squared_pred, batch=batch,
                     reduction=reduction, ignore_index=ignore, **monai_kwargs(activation, given))
    shape = ours(x, target).shape
    check_against(ours, lambda a, t: as_ours(monai(a, monai_target(given)), shape), x, target,
                  what=f"dice {activation} {target_kind}")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("include_background", [True, False])
def test_dice_weights_and_shapes_match_monai(shape, dtype, include_background, generator):
    from monai.losses import DiceLoss

    x, labels = inputs_for("softmax", shape, dtype, generator, "labels")
    kept = shape[1] - (0 if include_background else 1)
    weight = (torch.rand(kept, generator=generator, dtype=torch.float64) + 0.5).to(dtype)
    ours = lkt.DiceLoss(include_background=include_background, weight=weight)
    monai = DiceLoss(include_background=include_background, softmax=True, to_onehot_y=True, weight=weight)
    check_against(ours, lambda a, t: monai(a, t.unsqueeze(1)), x, labels, what=f"dice weights {shape} {dtype}")


@pytest.mark.parametrize("batch,squared_pred", [(False, False), (True, False), (False, True)])
def test_jaccard_matches_monai(batch, squared_pred, generator):
    from monai.losses import DiceLoss

    x, labels = inputs_for("softmax", SHAPES[0], torch.float64, generator, "labels")
    # MONAI's jaccard: (2 I + a) / (2 U + b), ours (I + a/2) / (U + b/2)
    ours = lkt.JaccardLoss(batch=batch, squared_pred=squared_pred, smooth_nr=5e-6, smooth_dr=5e-6)
    monai = DiceLoss(softmax=True, jaccard=True, batch=batch, squared_pred=squared_pred)
    one_hot = targets_of(labels, 3, torch.float64)[0]  # MONAI's own one-hot is float32 (see dice)
    check_against(ours, lambda a, t: monai(a, one_hot), x, labels, what="jaccard")


@pytest.mark.parametrize("include_background,batch,activation", OPTIONS)
@pytest.mark.parametrize("alpha,beta", [(0.5, 0.5), (0.3, 0.7), (1.0, 0.2)])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_tversky_matches_monai(include_background, batch, activation, alpha, beta, reduction, generator):
    from monai.losses import TverskyLoss

    x, labels = inputs_for(activation, SHAPES[1], torch.float64, generator, "labels", ignore_index=255)
    ours = lkt.TverskyLoss(include_background=include_background, activation=activation, alpha=alpha, beta=beta,
                           batch=batch, reduction=reduction, ignore_index=255)
    monai = TverskyLoss(include_background=include_background, alpha=alpha, beta=beta, batch=batch,
                        reduction=reduction, ignore_index=255, **monai_kwargs(activation, labels))
    shape = ours(x, labels).shape
    check_against(ours, lambda a, t: as_ours(monai(a, t.unsqueeze(1)), shape), x, labels, what="tversky")


@pytest.mark.parametrize("include_background,batch,activation", OPTIONS)
@pytest.mark.parametrize("weight_type", ["square", "simple", "uniform"])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_generalized_dice_matches_monai(include_background, batch, activation, weight_type, reduction, generator):
    from monai.losses import GeneralizedDiceLoss

    # MONAI computes the class weights in float32 (ground_o.float()) even for
    # float64 input: compare at float32's precision, and at float64's with the
    # formula below.
    x, labels = inputs_for(activation, SHAPES[0], torch.float32, generator, "labels")
    labels[0][labels[0] == 2] = 0  # class 2 absent from image 0: the max-weight rule
    ours = lkt.GeneralizedDiceLoss(include_background=include_background, activation=activation,
                                   weight_type=weight_type, batch=batch, reduction=reduction)
    monai = GeneralizedDiceLoss(include_background=include_background, w_type=weight_type, batch=batch,
                                reduction=reduction, **monai_kwargs(activation, labels))
    shape = ours(x, labels).shape
    check_against(ours, lambda a, t: as_ours(monai(a, t.unsqueeze(1)), shape), x, labels, what="gdl")
    x = x.double()
    check_against(ours, lambda a, t: generalized_dice_formula(
        a, t, activation, include_background, weight_type, batch=batch, reduction=reduction), x, labels,
        what="gdl formula")


@pytest.mark.parametrize("weighting_mode", ["default", "GDL"])
@pytest.mark.parametrize("matrix", [None, [[0, 1, 2], [1, 0, 1], [2, 1, 0]], [[0, 0.2, 1], [0.4, 0, 0.6], [1, 0.5, 0]]])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_generalized_wasserstein_dice_matches_monai(weighting_mode, matrix, reduction, dtype, generator):
    from monai.losses import GeneralizedWassersteinDiceLoss

    x, labels = inputs_for("softmax", SHAPES[0], dtype, generator, "labels")
    m = np.array(matrix if matrix is not None else 1 - np.eye(3), dtype=np.float64)
    ours = lkt.GeneralizedWassersteinDiceLoss(dist_matrix=None if matrix is None else m,
                                              weighting_mode=weighting_mode, reduction=reduction)
    monai = GeneralizedWassersteinDiceLoss(dist_matrix=torch.as_tensor(m, dtype=dtype), weighting_mode=weighting_mode,
                                           reduction=reduction)
    # MONAI's GDL-mode weights 1 / (n_l + 1) are float32 whatever the input's
    # dtype: it is the reference in float32, the formula in float64
    reference = monai if dtype == torch.float32 or weighting_mode == "default" else (
        lambda a, t: wasserstein_formula(a, t, m, weighting_mode, reduction=reduction))
    check_against(ours, reference, x, labels, what=f"gwdl {weighting_mode}")


@pytest.mark.parametrize("include_background,batch,activation", OPTIONS)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_mcc_matches_monai(include_background, batch, activation, reduction, generator):
    from monai.losses import MCCLoss

    x, labels = inputs_for(activation, SHAPES[0], torch.float64, generator, "labels")
    ours = lkt.MccLoss(include_background=include_background, activation=activation, batch=batch, reduction=reduction)
    monai = MCCLoss(include_background=include_background, batch=batch, reduction=reduction,
                    **monai_kwargs(activation, labels))
    shape = ours(x, labels).shape
    check_against(ours, lambda a, t: as_ours(monai(a, t.unsqueeze(1)), shape), x, labels, what="mcc")


# ------------------------------------------------------------ segmentation_models_pytorch

def with_absent_class(labels, classes):
    """Labels in which class `classes - 1` appears nowhere (smp zeroes its loss)."""
    return torch.where(labels == classes - 1, torch.zeros_like(labels), labels)


@pytest.mark.parametrize("smooth", [0.0, 0.5])
@pytest.mark.parametrize("ignore_index", [None, 1])
@pytest.mark.parametrize("absent", [False, True])
def test_dice_and_jaccard_match_smp_multiclass(smooth, ignore_index, absent, generator):
    smp = smp_losses()
    x, labels = inputs_for("softmax", (3, 4, 8, 9), torch.float64, generator, "labels")
    labels = with_absent_class(labels, 4) if absent else labels
    ignore = {} if ignore_index is None else {"ignore_index": ignore_index}
    # smp: batch sums, smooth s on the intersection and the half-denominator,
    # classes absent from the batch's target give 0
    dice = lkt.DiceLoss(batch=True, smooth_nr=2 * smooth, smooth_dr=2 * smooth, absent_classes="zero", **ignore)
    check_against(dice, smp.DiceLoss("multiclass", smooth=smooth, ignore_index=ignore_index), x, labels,
                  what="smp dice")
    jaccard = lkt.JaccardLoss(batch=True, smooth_nr=smooth, smooth_dr=smooth, absent_classes="zero", **ignore)
    check_against(jaccard, smp.JaccardLoss("multiclass", smooth=smooth, ignore_index=ignore_index), x, labels,
                  what="smp jaccard")
    tversky = lkt.TverskyLoss(batch=True, alpha=0.3, beta=0.7, smooth_nr=smooth, smooth_dr=smooth,
                              absent_classes="zero", **ignore)
    check_against(tversky, smp.TverskyLoss("multiclass", alpha=0.3, beta=0.7, smooth=smooth,
                                           ignore_index=ignore_index), x, labels, what="smp tversky")


@pytest.mark.parametrize("mode", ["binary", "multilabel"])
@pytest.mark.parametrize("smooth", [0.0, 1.0])
def test_dice_and_jaccard_match_smp_sigmoid_modes(mode, smooth, generator):
    smp = smp_losses()
    shape = (3, 1, 7, 8) if mode == "binary" else (3, 3, 7, 8)
    x, mask = inputs_for("sigmoid", shape, torch.float64, generator, "binary")
    target = mask.squeeze(1).long() if mode == "binary" else mask  # a label mask, or one mask per channel
    dice = lkt.DiceLoss(activation="sigmoid", batch=True, smooth_nr=2 * smooth, smooth_dr=2 * smooth,
                        absent_classes="zero")
    check_against(dice, lambda a, t: smp.DiceLoss(mode, smooth=smooth)(a, mask), x, target, what="smp dice")
    jaccard = lkt.JaccardLoss(activation="sigmoid", batch=True, smooth_nr=smooth, smooth_dr=smooth,
                              absent_classes="zero")
    check_against(jaccard, lambda a, t: smp.JaccardLoss(mode, smooth=smooth)(a, mask), x, target, what="smp jac")


@pytest.mark.parametrize("gamma", [0.75, 2.0])
def test_focal_tversky_matches_smp_binary(gamma, generator):
    # smp raises the class mean to gamma: with one channel, the class's term.
    smp = smp_losses()
    x, mask = inputs_for("sigmoid", (4, 1, 9, 9), torch.float64, generator, "binary")
    ours = lkt.FocalTverskyLoss(activation="sigmoid", batch=True, alpha=0.3, beta=0.7, gamma=gamma,
                                gamma_convention="exponent", smooth_nr=1.0, smooth_dr=1.0)
    check_against(ours, lambda a, t: smp.TverskyLoss("binary", alpha=0.3, beta=0.7, gamma=gamma, smooth=1.0)(a, mask),
                  x, mask.squeeze(1).long(), what="smp focal tversky")


def test_mcc_matches_smp(generator):
    # smp: one binary problem over the whole batch, eps on each count, no smoothing
    smp = smp_losses()
    x, mask = inputs_for("none", (4, 1, 8, 8), torch.float64, generator, "binary")
    ours = lkt.MccLoss(activation="none", batch=True, smooth_nr=0.0, smooth_dr=0.0, eps=1e-5)
    check_against(ours, lambda a, t: smp.MCCLoss()(a, mask), x, mask, what="smp mcc")


# ------------------------------------------------------------ kornia

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("ignored", [False, True])
@pytest.mark.parametrize("shape", [(3, 4, 10, 12), (3, 4, 64, 64)])  # kornia has a CPU path from 2^15 elements
def test_dice_and_tversky_match_kornia(dtype, ignored, shape, generator):
    from kornia.losses import dice_loss, tversky_loss

    x, labels = inputs_for("softmax", shape, dtype, generator, "labels", -100 if ignored else None)
    labels[1][labels[1] == 3] = 0  # class 3 absent from image 1: kornia leaves it out of the mean
    eps = 1e-8
    ours = lkt.DiceLoss(absent_classes="skip", smooth_nr=0.0, smooth_dr=eps)
    check_against(ours, lambda a, t: dice_loss(a, t, average="macro", eps=eps), x, labels, what="kornia macro")
    micro = lkt.GeneralizedDiceLoss(weight_type="uniform", smooth_nr=0.0, smooth_dr=eps)
    check_against(micro, lambda a, t: dice_loss(a, t, average="micro", eps=eps), x, labels, what="kornia micro")
    for alpha, beta in [(0.5, 0.5), (0.3, 0.7)]:
        tversky = lkt.TverskyLoss(alpha=alpha, beta=beta, absent_classes="skip", smooth_nr=0.0, smooth_dr=eps)
        check_against(tversky, lambda a, t: tversky_loss(a, t, alpha, beta, eps), x, labels, what="kornia tversky")


# ------------------------------------------------------------ the formulas

FORMULA_KINDS = ["dice", "jaccard", "log_cosh_dice", "tversky", "focal_tversky", "asymmetric_similarity",
                 "sensitivity_specificity", "mcc"]
CLASS_NAMES = {"mcc": "MccLoss"}

FORMULA_CASES = [
    {},
    {"include_background": False, "batch": True},
    {"activation": "sigmoid", "reduction": "sum", "weight": [2.0, 0.5, 1.0]},
    {"activation": "none", "reduction": "none", "absent_classes": "skip"},
    {"batch": True, "reduction": "none", "absent_classes": "zero", "ignore_index": 0},
    {"include_background": False, "absent_classes": "skip", "weight": [3.0, 0.5]},
]
EXTRA = {
    "dice": [{"squared_pred": True}],
    "jaccard": [{"squared_pred": True, "batch": True}],
    "log_cosh_dice": [{"squared_pred": True}],
    "tversky": [{"alpha": 0.1, "beta": 0.9}],
    "focal_tversky": [{"gamma": 3.0}, {"gamma": 0.75, "gamma_convention": "exponent", "alpha": 0.7, "beta": 0.3}],
    "asymmetric_similarity": [{"beta": 2.0}],
    "sensitivity_specificity": [{"r": 0.5, "smooth": 1e-3}],
    "mcc": [{"eps": 1e-3, "smooth_nr": 1e-2}],
}


def formula_defaults(kind):
    """Our defaults that differ from region_formula's."""
    if kind == "focal_tversky":
        return {"alpha": 0.3, "beta": 0.7, "smooth_nr": 1.0, "smooth_dr": 1.0}
    if kind == "asymmetric_similarity":
        return {"beta": 1.5}
    if kind == "mcc":
        return {"smooth_nr": 0.0}
    return {}


@pytest.mark.parametrize("kind", FORMULA_KINDS)
@pytest.mark.parametrize("target_kind", ["labels", "dense"])
@pytest.mark.parametrize("shape", SHAPES)
def test_region_losses_match_their_formulas(kind, target_kind, shape, generator):
    cls = getattr(lkt, CLASS_NAMES.get(kind, "".join(p.capitalize() for p in kind.split("_")) + "Loss"))
    for options in FORMULA_CASES + EXTRA[kind]:
        if target_kind == "dense" and "ignore_index" in options:
            continue
        for dtype in (torch.float64, torch.float32):
            activation = options.get("activation", "softmax")
            x, target = inputs_for(activation, shape, dtype, generator, target_kind, options.get("ignore_index"))
            if target_kind == "labels":
                target[0][target[0] == 1] = 2  # class 1 absent from image 0
            settings = {**formula_defaults(kind), **options}
            kept = shape[1] - (0 if settings.get("include_background", True) else 1)
            if len(settings.get("weight", [])) not in (0, kept):  # one weight for every class
                settings["weight"] = settings["weight"][:1]
            ours = cls(**settings)
            check_against(ours, lambda a, t: region_formula(kind, a, t, **settings), x, target,
                          what=f"{kind} {settings} {dtype}")


@pytest.mark.parametrize("options", [{}, {"include_background": False, "batch": True, "weight_type": "simple"},
                                     {"activation": "sigmoid", "reduction": "none", "ignore_index": 1},
                                     {"activation": "none", "weight_type": "uniform", "reduction": "sum"}])
@pytest.mark.parametrize("k", [None, 2.5, 0.0])
def test_generalized_dice_and_penalty_match_their_formulas(options, k, generator):
    x, labels = inputs_for(options.get("activation", "softmax"), SHAPES[0], torch.float64, generator, "labels",
                           options.get("ignore_index"))
    labels[1][labels[1] == 0] = 1  # class 0 absent from image 1
    ours = lkt.GeneralizedDiceLoss(**options) if k is None else lkt.PenaltyGeneralizedDiceLoss(k=k, **options)
    check_against(ours, lambda a, t: generalized_dice_formula(a, t, **options, k=k), x, labels, what=f"gdl k={k}")


@pytest.mark.parametrize("options", [{"batch": True}, {"ignore_index": 2, "reduction": "none"},
                                     {"activation": "none", "weighting_mode": "GDL", "batch": True,
                                      "reduction": "none"}])
def test_generalized_wasserstein_dice_options_match_the_formula(options, generator):
    matrix = [[0, 1, 3], [1, 0, 2], [3, 2, 0]]
    x, labels = inputs_for(options.get("activation", "softmax"), SHAPES[2], torch.float64, generator, "labels",
                           options.get("ignore_index"))
    ours = lkt.GeneralizedWassersteinDiceLoss(dist_matrix=matrix, **options)
    check_against(ours, lambda a, t: wasserstein_formula(a, t, matrix, **options), x, labels, what="gwdl")


# ------------------------------------------------------------ edge cases

@pytest.mark.parametrize("name", REGION_LOSSES)
def test_every_pixel_ignored_gives_a_finite_loss_and_no_gradient(name, generator):
    x = logits_like((2, 3, 5, 4), torch.float64, generator).requires_grad_(True)
    labels = torch.full((2, 5, 4), 7)
    loss = lkt.loss(name, ignore_index=7)(x, labels)
    loss.backward()
    assert torch.isfinite(loss) and not x.grad.any()


def test_empty_class_gives_the_documented_value():
    # class 2 is in neither the prediction nor the target: its Dice is
    # smooth_nr / smooth_dr, its Jaccard too, and with MONAI's defaults its loss 0
    p = torch.tensor([[[0.7, 0.2, 0.1, 0.5], [0.3, 0.8, 0.9, 0.5], [0.0, 0.0, 0.0, 0.0]]], dtype=torch.float64)
    labels = torch.tensor([[0, 1, 1, 0]])
    terms = lkt.DiceLoss(activation="none", reduction="none")(p, labels)
    assert float(terms[0, 2]) == 0.0
    terms = lkt.DiceLoss(activation="none", reduction="none", smooth_nr=1.0, smooth_dr=4.0)(p, labels)
    assert float(terms[0, 2]) == 0.75
    terms = lkt.JaccardLoss(activation="none", reduction="none", smooth_nr=1e-5, smooth_dr=1e-5)(p, labels)
    assert float(terms[0, 2]) == 0.0
    with pytest.raises(losskit.LosskitError, match="class 2 in image 0"):
        lkt.DiceLoss(activation="none", smooth_nr=0.0, smooth_dr=0.0)(p, labels)


@pytest.mark.parametrize("name", ["dice", "jaccard", "tversky", "mcc", "generalized_dice"])
def test_one_pixel_objects(name, generator):
    # one pixel of class 1 and one of class 2 in a 9 x 9 image of background
    x = logits_like((1, 3, 9, 9), torch.float64, generator)
    labels = torch.zeros((1, 9, 9), dtype=torch.long)
    labels[0, 4, 4], labels[0, 0, 8] = 1, 2
    loss = lkt.loss(name)
    if name == "generalized_dice":
        reference = lambda a, t: generalized_dice_formula(a, t)  # noqa: E731
    else:
        reference = lambda a, t: region_formula(name, a, t, **({"smooth_nr": 0.0} if name == "mcc" else {}))  # noqa: E731
    check_against(loss, reference, x, labels, what=f"{name} one-pixel objects")
    # predicted exactly, they are perfect
    exact = F.one_hot(labels, 3).movedim(-1, 1).double()
    assert abs(float(lkt.loss(name, activation="none", smooth_nr=0.0, smooth_dr=1e-12)(exact, labels))) < 1e-9


# ------------------------------------------------------------ the statistics API in Python

@pytest.mark.parametrize("name", REGION_LOSSES)
@pytest.mark.parametrize("batch", [False, True])
def test_split_batch_in_python_is_bit_identical(name, batch, generator):
    entry = losskit.loss_info(name)
    params = {"batch": batch} if any(p["name"] == "batch" for p in entry["params"]) else {}
    module = lkt.loss(name, **params)
    x, labels = inputs_for("softmax", (5, 3, 17, 13), torch.float32, generator, "labels")
    whole = x.clone().requires_grad_(True)
    expected = module(whole, labels)
    expected.backward()
    cuts = [0, 2, 3, 5]
    stats = torch.cat([module.stats(x[a:b], labels[a:b]) for a, b in zip(cuts, cuts[1:])])
    for a, b in zip(cuts, cuts[1:]):
        part = x[a:b].clone().requires_grad_(True)
        loss = module.loss_from_stats(part, labels[a:b], stats=stats, first_image=a)
        loss.backward()
        assert torch.equal(loss, expected)
        assert torch.equal(part.grad, whole.grad[a:b])
    # the same three steps on NumPy arrays
    runner = losskit.Loss(name, **params)
    value, ds = runner.finalize(np.concatenate([runner.stats(x[a:b].numpy(), labels[a:b].numpy())
                                                for a, b in zip(cuts, cuts[1:])]), dtype=np.float32)
    grads = [runner.backward(x[a:b].numpy(), labels[a:b].numpy(), dloss_dstats=ds[a:b])[0]
             for a, b in zip(cuts, cuts[1:])]
    assert value == expected.item() and np.array_equal(np.concatenate(grads), whole.grad.numpy())


def test_statistics_api_errors(generator):
    x, labels = inputs_for("softmax", (2, 3, 4, 4), torch.float64, generator, "labels")
    with pytest.raises(losskit.LosskitError, match="no statistics API"):
        lkt.FocalLoss().stats(x, labels)
    with pytest.raises(losskit.LosskitError, match="no statistics API"):
        losskit.Loss("cross_entropy").stats(x.numpy(), labels.numpy())
    dice = lkt.DiceLoss()
    stats = dice.stats(x, labels)
    assert stats.shape == (2, 3, 8) and stats.dtype == torch.float64
    assert lkt.GeneralizedWassersteinDiceLoss().stats(x, labels).shape == (2, 3, 8 + 3)
    with pytest.raises(losskit.LosskitError, match="no rows"):
        dice.loss_from_stats(x, labels, stats=stats, first_image=1)
    with pytest.raises(losskit.LosskitError, match=r"stats must have shape \(N, 3, 8\)"):
        losskit.Loss("dice").finalize(np.zeros((2, 3, 9)))
    with pytest.raises(losskit.LosskitError, match="statistics must be finite"):
        losskit.Loss("dice").finalize(np.full((2, 3, 8), np.nan))
    # a target that asks for a gradient is refused on the statistics path too
    # (reduction none, loss_from_stats), as on the plain one
    soft = torch.softmax(logits_like((2, 3, 4, 4), torch.float64, generator), 1).requires_grad_(True)
    for call in (lambda: lkt.DiceLoss()(x, soft), lambda: lkt.DiceLoss(reduction="none")(x, soft),
                 lambda: dice.loss_from_stats(x, soft, stats=dice.stats(x, soft.detach()))):
        with pytest.raises(losskit.LosskitError, match="no gradient for input 'target'"):
            call()


# ------------------------------------------------------------ bad input

@pytest.mark.parametrize("params,message", [
    ({"dist_matrix": [[0, 1], [1, 0]]}, "has 4 values; input 'input' has 3 classes, so it needs 9"),
    ({"dist_matrix": [[0, 1, 1], [1, 1, 1], [1, 1, 0]]}, r"\[1\]\[1\] = 1; the distance of a class to itself"),
    ({"dist_matrix": np.zeros((3, 3))}, "all zeros"),
])
def test_wasserstein_distance_matrix_errors(params, message, generator):
    x, labels = inputs_for("softmax", (2, 3, 4, 4), torch.float64, generator, "labels")
    with pytest.raises(losskit.LosskitError, match=message):
        lkt.GeneralizedWassersteinDiceLoss(**params)(x, labels)


@pytest.mark.parametrize("name,params,message", [
    ("generalized_wasserstein_dice", {"dist_matrix": [0, -1, 1, 0]}, "dist_matrix"),
    ("dice", {"weight": [1.0, 2.0], "include_background": True}, "'weight' has 2 values; give 1 or one per class kept"),
    ("tversky", {"weight": [1.0, 2.0, 3.0], "include_background": False}, "class 0 left out by include_background"),
    ("tversky", {"alpha": -0.5}, "alpha"),
    ("focal_tversky", {"gamma": 0.0}, "gamma"),
    ("sensitivity_specificity", {"r": 1.5}, "'r'"),
    ("dice", {"absent_classes": "drop"}, "absent_classes"),
    ("mcc", {"activation": "relu"}, "activation"),
])
def test_bad_parameters_name_the_culprit(name, params, message, generator):
    x, labels = inputs_for("softmax", (2, 3, 4, 4), torch.float64, generator, "labels")
    with pytest.raises(losskit.LosskitError, match=message):
        lkt.loss(name, **params)(x, labels)


def test_one_channel_softmax_is_refused(generator):
    x = logits_like((2, 1, 4, 4), torch.float64, generator)
    with pytest.raises(losskit.LosskitError, match="activation=softmax needs 2 or more classes"):
        lkt.DiceLoss()(x, torch.zeros((2, 4, 4), dtype=torch.long))
