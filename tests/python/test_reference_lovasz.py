"""The Lovász losses against kornia, segmentation_models_pytorch and Berman et
al.'s algorithm written here in plain torch with autograd (a stable sort, so
that ties take the same subgradient as ours): value and gradient, every option,
ties, absent classes, ignored pixels, and bad input."""

from __future__ import annotations

import pytest
import torch

import losskit
import losskit.torch as lkt
from conftest import check_against, labels_for, logits_like
from references import smp_losses


# ------------------------------------------------------------ the algorithm in plain torch

def lovasz_grad(foreground_sorted):
    """The Lovász gradient of the Jaccard loss at sorted foreground flags."""
    total = foreground_sorted.sum()
    intersection = total - foreground_sorted.cumsum(0)
    union = total + (1 - foreground_sorted).cumsum(0)
    jaccard = 1 - intersection / union
    if len(jaccard) > 1:
        jaccard = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])
    return jaccard


def lovasz_term(errors, foreground, hinge=False):
    errors_sorted, order = torch.sort(errors, descending=True, stable=True)
    values = torch.relu(errors_sorted) if hinge else errors_sorted
    return torch.dot(values, lovasz_grad(foreground[order]))


def lovasz_softmax_formula(x, labels, classes="present", class_list=None, per_image=False, weight=None,
                           ignore_index=-100, activation="softmax"):
    p = torch.softmax(x, 1) if activation == "softmax" else x
    groups = [(p[n:n + 1], labels[n:n + 1]) for n in range(p.shape[0])] if per_image else [(p, labels)]
    losses = []
    for probs, target in groups:
        probs = probs.movedim(1, -1).reshape(-1, p.shape[1])
        target = target.reshape(-1)
        valid = target != ignore_index
        probs, target = probs[valid], target[valid]
        terms = []
        for c in class_list if class_list else range(p.shape[1]):
            foreground = (target == c).to(p.dtype)
            if classes == "present" and foreground.sum() == 0:
                continue
            w = 1.0 if weight is None else weight[c]
            # |f - p| on the probabilities' domain: 1 - p on the foreground, p
            # elsewhere, with their derivatives -1 and +1 also at p = 0 or 1
            # (where abs's derivative would be 0)
            errors = torch.where(foreground > 0, 1 - probs[:, c], probs[:, c])
            terms.append(w * lovasz_term(errors, foreground))
        losses.append(torch.stack(terms).mean() if terms else p.sum() * 0)
    return torch.stack(losses).mean()


def lovasz_hinge_formula(x, target, per_image=False, ignore_index=None):
    groups = [(x[n], target[n]) for n in range(x.shape[0])] if per_image else [(x, target)]
    losses = []
    for logits, mask in groups:
        logits, mask = logits.reshape(-1), mask.reshape(-1)
        if ignore_index is not None:
            keep = mask != ignore_index
            logits, mask = logits[keep], mask[keep]
        foreground = mask.to(x.dtype)
        errors = 1 - logits * (2 * foreground - 1)
        losses.append(lovasz_term(errors, foreground, hinge=True) if len(errors) else logits.sum() * 0)
    return torch.stack(losses).mean()


def with_absent_class(labels, absent):
    return torch.where(labels == absent, torch.zeros_like(labels), labels)


def check_float32(ours, reference, x, target, what):
    """kornia's and smp's float32 Lovász form J_k - J_{k-1} in float32: that
    cancellation leaves ~1e-8 absolute in every gradient component (ours is
    formed in float64). The value is compared at float32's relative precision,
    the gradient at 1e-7 absolute (its components are 1e-4 to 1e-2)."""
    leaf, other = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    value, expected = ours(leaf, target), reference(other, target)
    value.backward()
    expected.backward()
    assert abs(value.item() - expected.item()) <= 2e-6 * max(1.0, abs(expected.item())), what
    assert float((leaf.grad - other.grad).abs().max()) <= 1e-7, what


def check(ours, reference, x, target, what):
    if x.dtype == torch.float32:
        check_float32(ours, reference, x, target, what)
    else:
        check_against(ours, reference, x, target, what=what)


# ------------------------------------------------------------ Lovász-softmax

SHAPES = [(3, 4, 9, 11), (2, 3, 17), (2, 3, 4, 5, 6), (5, 3)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("options", [
    {},
    {"per_image": True},
    {"classes": "all"},
    {"classes": "all", "per_image": True, "weight": "per-class"},
    {"class_list": [2, 0]},
    {"class_list": [1], "classes": "all", "per_image": True},
    {"ignore_index": 255},
    {"ignore_index": 1, "per_image": True},
    {"activation": "none", "classes": "all"},
])
def test_lovasz_softmax_matches_the_algorithm(shape, options, generator):
    options = dict(options)
    if options.get("weight") == "per-class":
        options["weight"] = (torch.rand(shape[1], generator=generator, dtype=torch.float64) + 0.5).tolist()
    x = logits_like(shape, torch.float64, generator)
    if options.get("activation") == "none":
        x = torch.softmax(x, 1)
    labels = with_absent_class(labels_for(shape, generator, options.get("ignore_index")), 2)
    ours = lkt.LovaszSoftmaxLoss(**options)
    check_against(ours, lambda a, t: lovasz_softmax_formula(a, t, **options), x, labels, what=f"lovasz {options}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_lovasz_softmax_matches_kornia(dtype, weighted, generator):
    from kornia.losses import lovasz_softmax_loss

    x = logits_like((3, 4, 10, 12), dtype, generator)
    labels = with_absent_class(labels_for((3, 4, 10, 12), generator), 3)  # kornia averages every class
    weight = (torch.rand(4, generator=generator, dtype=torch.float64) + 0.5).to(dtype) if weighted else None
    ours = lkt.LovaszSoftmaxLoss(per_image=True, classes="all", weight=weight)
    check(ours, lambda a, t: lovasz_softmax_loss(a, t, weight=weight), x, labels, what="kornia lovasz")


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("ignore_index", [None, 255])
def test_lovasz_softmax_matches_smp(per_image, ignore_index, generator):
    smp = smp_losses()  # float32 only: its Lovász gradient is cast to float
    x = logits_like((3, 4, 9, 11), torch.float32, generator)
    labels = with_absent_class(labels_for((3, 4, 9, 11), generator, ignore_index), 2)
    ours = lkt.LovaszSoftmaxLoss(per_image=per_image, **({} if ignore_index is None else {"ignore_index": 255}))
    check_float32(ours, smp.LovaszLoss("multiclass", per_image=per_image, ignore_index=ignore_index), x, labels,
                  "smp lovasz")


@pytest.mark.parametrize("per_image", [False, True])
def test_lovasz_softmax_float32_matches_the_algorithm_in_float64(per_image, generator):
    x = logits_like((3, 4, 9, 11), torch.float32, generator)
    labels = labels_for((3, 4, 9, 11), generator)
    check_float32(lkt.LovaszSoftmaxLoss(per_image=per_image),
                  lambda a, t: lovasz_softmax_formula(a.double(), t, per_image=per_image).float(), x, labels,
                  "float32")


def test_lovasz_softmax_ties_take_the_pixel_order(generator):
    # probabilities on a coarse grid: many equal errors
    shape = (2, 3, 8, 8)
    x = torch.softmax(logits_like(shape, torch.float64, generator), 1)
    x = (x * 4).round() / 4
    x[:, 0] = 1 - x[:, 1:].sum(1).clamp(max=1)
    labels = labels_for(shape, generator)
    for options in [{}, {"per_image": True, "classes": "all"}]:
        check_against(lkt.LovaszSoftmaxLoss(activation="none", **options),
                      lambda a, t: lovasz_softmax_formula(a, t, activation="none", **options), x, labels,
                      what="ties")


def test_lovasz_softmax_groups_without_classes_add_zero(generator):
    x = logits_like((3, 3, 4, 4), torch.float64, generator).requires_grad_(True)
    labels = labels_for((3, 3, 4, 4), generator)
    labels[1] = 7  # image 1 entirely ignored: no class present
    loss = lkt.LovaszSoftmaxLoss(per_image=True, ignore_index=7)(x, labels)
    loss.backward()
    expected = lovasz_softmax_formula(x.detach(), labels, per_image=True, ignore_index=7)
    assert abs(loss.item() - expected.item()) < 1e-12
    assert not x.grad[1].any()
    all_ignored = lkt.LovaszSoftmaxLoss(ignore_index=7)(x, torch.full_like(labels, 7))
    assert all_ignored.item() == 0.0


@pytest.mark.parametrize("params,message", [
    ({"class_list": [3]}, r"'class_list'\[0\] = 3 is not a class index in \[0, 3\)"),
    ({"class_list": [0.5]}, "is not a class index"),
    ({"class_list": [1, 1]}, "names class 1 twice"),
    ({"weight": [1.0, 2.0]}, "'weight' has 2 values"),
])
def test_lovasz_softmax_bad_parameters(params, message, generator):
    x = logits_like((2, 3, 4, 4), torch.float64, generator)
    with pytest.raises(losskit.LosskitError, match=message):
        lkt.LovaszSoftmaxLoss(**params)(x, labels_for((2, 3, 4, 4), generator))


def test_lovasz_softmax_one_channel_is_refused(generator):
    with pytest.raises(losskit.LosskitError, match="for one channel use lovasz_hinge"):
        lkt.LovaszSoftmaxLoss()(logits_like((2, 1, 4), torch.float64, generator), torch.zeros((2, 4), dtype=torch.long))


# ------------------------------------------------------------ Lovász hinge

@pytest.mark.parametrize("shape", [(3, 1, 9, 11), (4, 13), (2, 1, 3, 4, 5), (6,)])
@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("target_dtype", [torch.float64, torch.uint8, torch.int64])
def test_lovasz_hinge_matches_the_algorithm(shape, per_image, target_dtype, generator):
    x = logits_like(shape, torch.float64, generator)
    mask = (torch.rand(shape, generator=generator) < 0.4).to(target_dtype)
    check_against(lkt.LovaszHingeLoss(per_image=per_image),
                  lambda a, t: lovasz_hinge_formula(a, t, per_image), x, mask, what="hinge")


def test_lovasz_hinge_ignore_index_and_ties(generator):
    x = torch.randint(-2, 3, (3, 1, 8, 8), generator=generator).double()  # integer logits: many ties
    mask = (torch.rand((3, 1, 8, 8), generator=generator) < 0.5).long()
    mask[0, 0, :2] = 255
    for per_image in (False, True):
        check_against(lkt.LovaszHingeLoss(per_image=per_image, ignore_index=255),
                      lambda a, t: lovasz_hinge_formula(a, t, per_image, ignore_index=255), x, mask,
                      what="hinge ignore ties")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lovasz_hinge_matches_kornia(dtype, generator):
    from kornia.losses import lovasz_hinge_loss

    x = logits_like((4, 1, 10, 12), dtype, generator)
    mask = (torch.rand((4, 1, 10, 12), generator=generator) < 0.4).to(dtype)
    check(lkt.LovaszHingeLoss(per_image=True), lambda a, t: lovasz_hinge_loss(a, t.squeeze(1)), x, mask,
          what="kornia hinge")


@pytest.mark.parametrize("per_image", [False, True])
def test_lovasz_hinge_matches_smp(per_image, generator):
    smp = smp_losses()
    x = logits_like((4, 1, 10, 12), torch.float32, generator)
    mask = (torch.rand((4, 1, 10, 12), generator=generator) < 0.4).float()
    check_float32(lkt.LovaszHingeLoss(per_image=per_image), smp.LovaszLoss("binary", per_image=per_image), x, mask,
                  "smp hinge")


def test_lovasz_hinge_bad_input(generator):
    x = logits_like((2, 1, 4, 4), torch.float64, generator)
    soft = torch.full((2, 1, 4, 4), 0.5, dtype=torch.float64)
    with pytest.raises(losskit.LosskitError, match=r"target\[0, 0, 0, 0\] = 0.5: the target of 'lovasz_hinge' must be 0 or 1"):
        lkt.LovaszHingeLoss()(x, soft)
    labels = torch.zeros((2, 1, 4, 4), dtype=torch.long)
    labels[1, 0, 2, 2] = 2
    with pytest.raises(losskit.LosskitError, match=r"\[1, 0, 2, 2\] = 2.*\(or ignore_index\)"):
        lkt.LovaszHingeLoss()(x, labels)
    x[0, 0, 1, 1] = float("inf")
    with pytest.raises(losskit.LosskitError, match=r"input\[0, 0, 1, 1\] = inf: inputs must be finite"):
        lkt.LovaszHingeLoss()(x, torch.zeros_like(labels))
