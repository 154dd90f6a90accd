"""conditional_boundary against the Conditional Boundary Loss of its authors'
code (dywu98/CBL-Conditional-Boundary-Loss, CBLocr_head.py: New_ER5OCRHead
.context_loss, .er_loss, .losses with weights 1, 0.2, 2; biou.py
mask_to_boundary for the boundary map) rewritten here in plain torch with
autograd: per-image loops over the boundary pixels and the 24 offsets with
F.cosine_similarity and F.mse_loss, per-class depthwise 5 x 5 ring
convolutions, the classifier as F.conv2d and F.cross_entropy, and the
reference's detaches. Value and gradients in float64, tightly."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F

import losskit
import losskit.torch as lkt

IGNORE = 255


# ------------------------------------------------------------ the reference, in plain torch

def reference_boundary(labels, dilation_ratio=0.02, radius=None, ignore=IGNORE):
    """multi_class_gt_to_boundary of one label map (H, W): per class, the mask
    minus its cv2.erode (3 x 3, `dilation` times) after a 1-pixel zero pad;
    the union; ignore at ignored pixels. The erosion is a min-pool whose
    window past the padded image is neutral, as cv2's default border."""
    h, w = labels.shape
    dilation = radius if radius else max(1, int(round(dilation_ratio * math.sqrt(h * h + w * w))))
    boundary = torch.zeros((h, w), dtype=torch.long)
    for c in labels.unique():
        if int(c) == ignore:
            continue
        mask = (labels == c).double()
        padded = F.pad(mask, (1, 1, 1, 1), value=0.0)[None, None]
        eroded = -F.max_pool2d(-padded, 2 * dilation + 1, stride=1, padding=dilation)[0, 0, 1:h + 1, 1:w + 1]
        boundary += (mask - eroded).long()
    boundary = boundary.clamp(max=1)
    boundary[labels == ignore] = ignore
    return boundary


def one_hot(labels, classes):
    return (labels.unsqueeze(-1) == torch.arange(classes)).permute(0, 3, 1, 2).long()


def reference_context(er, seg_label, gt_boundary, classes, quirks=True, ignore=IGNORE):
    """context_loss: er (B, D, H, W), seg_label and gt_boundary (B, 1, H, W)."""
    gt_b = gt_boundary.clone()
    gt_b[gt_b == ignore] = 0
    if quirks:  # the boundary map times the label: class 0's boundary is dropped
        label_copy = seg_label.clone()
        label_copy[label_copy == ignore] = 0
        gt_b = gt_b * label_copy
    else:
        gt_b = gt_b * (seg_label != ignore)
    label_one_hot = one_hot(seg_label.squeeze(1), classes)
    b, _, h, w = er.shape
    scale_num = b
    context = torch.tensor(0.0, dtype=er.dtype)
    for i in range(b):
        if (gt_b[i][0] > 0).sum() < 1:
            scale_num -= 1
            continue
        rows, cols = torch.where(gt_b[i][0])
        keep = (2 <= rows) & (rows <= h - 3) & (2 <= cols) & (cols <= w - 3)
        rows, cols = rows[keep], cols[keep]
        if not quirks and len(rows) == 0:
            scale_num -= 1
            continue
        feats, onehot = er[i].permute(1, 2, 0), label_one_hot[i].permute(1, 2, 0)
        per_image = torch.tensor(0.0, dtype=er.dtype)
        for dr in range(-2, 3):
            for dc in range(-2, 3):
                if dr == dc == 0:
                    continue
                similarity = F.cosine_similarity(feats[rows, cols], feats[rows + dr, cols + dc], dim=1)
                same = torch.sum(onehot[rows, cols] * onehot[rows + dr, cols + dc], dim=-1)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the mean of nothing: the reference's NaN
                    per_image = per_image + F.mse_loss(similarity, same.to(er.dtype))
        context = context + per_image / 24
    context = context / scale_num
    if torch.isnan(context):
        return torch.tensor(0.0, dtype=er.dtype)
    return context


def reference_er(er, seg_label, pred_label, weight, bias, gt_boundary, classes, detach=True, ignore=IGNORE):
    """er_loss: the NCE and CN terms. pred_label (B, H, W) is seg_logit's argmax."""
    shown = [int(c) for c in seg_label.unique() if int(c) != ignore]
    pred_one_hot = one_hot(pred_label, classes)
    gt_b = gt_boundary.clone()
    gt_b[gt_b == ignore] = 0
    edge_mask = gt_b.squeeze(1)
    label_one_hot = one_hot(seg_label.squeeze(1), classes)
    dim = er.shape[1]
    ring = torch.ones((5, 5), dtype=er.dtype)
    ring[2, 2] = 0
    feature_ring = ring.expand(dim, 1, 5, 5)
    count_ring = ring.view(1, 1, 5, 5)
    conv_weight = weight if not detach else weight.detach()
    conv_bias = bias if not detach else bias.detach()
    nce_total = torch.tensor(0.0, dtype=er.dtype)
    cn_total = torch.tensor(0.0, dtype=er.dtype)
    counted = len(shown)
    for k in shown:
        class_mask, pred_mask = label_one_hot[:, k], pred_one_hot[:, k]
        correct = class_mask * pred_mask
        neighbour_sum = F.conv2d(er * class_mask.unsqueeze(1), feature_ring, padding=2, groups=dim)
        correct_sum = F.conv2d(er * correct.unsqueeze(1), feature_ring, padding=2, groups=dim)
        neighbours = F.conv2d(class_mask.unsqueeze(1).to(er.dtype), count_ring, padding=2)
        correct_neighbours = F.conv2d(correct.unsqueeze(1).to(er.dtype), count_ring, padding=2)
        all_mask = (neighbours.squeeze(1) >= 1) * (edge_mask.bool() * class_mask.bool())
        correct_mask = (correct_neighbours.squeeze(1) >= 1) * (edge_mask.bool() * class_mask.bool() * pred_mask.bool())
        if all_mask.sum() < 1 or correct_mask.sum() < 1:
            counted -= 1
            continue
        average = neighbour_sum / (neighbours + 1e-5)
        correct_average = correct_sum / (correct_neighbours + 1e-5)
        origin = er.permute(0, 2, 3, 1)[correct_mask].permute(1, 0).unsqueeze(0).unsqueeze(-1)
        picked = average.permute(0, 2, 3, 1)[all_mask].permute(1, 0).unsqueeze(0).unsqueeze(-1)
        correct_picked = correct_average.permute(0, 2, 3, 1)[correct_mask].permute(1, 0).unsqueeze(0).unsqueeze(-1)
        w4 = conv_weight[:, :, None, None]
        logits = F.conv2d(picked, w4, conv_bias)
        nce = F.cross_entropy(logits, torch.full((1, logits.shape[2], 1), k))
        correct_logits = F.conv2d(correct_picked, w4, conv_bias)
        nce = nce + F.cross_entropy(correct_logits, torch.full((1, correct_logits.shape[2], 1), k))
        target = correct_picked.detach() if detach else correct_picked
        nce_total = nce_total + nce
        cn_total = cn_total + F.mse_loss(origin, target)
    if counted == 0:
        return nce_total, cn_total
    return nce_total / counted, cn_total / counted


def reference_loss(features, labels, pred, weight, bias, boundary, detach=True, quirks=True,
                   weights=(1.0, 0.2, 2.0)):
    classes = weight.shape[0]
    seg_label, gt_boundary = labels.unsqueeze(1), boundary.unsqueeze(1)
    context = reference_context(features, seg_label, gt_boundary, classes, quirks)
    nce, cn = reference_er(features, seg_label, pred, weight, bias, gt_boundary, classes, detach)
    return weights[0] * context + weights[1] * nce + weights[2] * cn


# ------------------------------------------------------------ inputs

def blob_labels(batch, height, width, classes, generator, ignored=0.1, cell=3):
    """Piecewise-constant labels (nearest-upsampled noise), some pixels ignored."""
    coarse = torch.randint(0, classes, (batch, 1, -(-height // cell), -(-width // cell)), generator=generator)
    labels = F.interpolate(coarse.double(), scale_factor=cell, mode="nearest").long()[:, 0, :height, :width]
    labels[torch.rand(labels.shape, generator=generator) < ignored] = IGNORE
    return labels


def predictions(labels, classes, generator, wrong=0.3):
    pred = labels.clone()
    flip = (torch.rand(labels.shape, generator=generator) < wrong) | (labels == IGNORE)
    pred[flip] = torch.randint(0, classes, (int(flip.sum()),), generator=generator)
    return pred


def make_case(batch, dim, height, width, classes, seed, ignored=0.1, used_classes=None):
    generator = torch.Generator().manual_seed(seed)
    labels = blob_labels(batch, height, width, used_classes or classes, generator, ignored)
    pred = predictions(labels, classes, generator)
    features = torch.randn((batch, dim, height, width), generator=generator, dtype=torch.float64)
    weight = torch.randn((classes, dim), generator=generator, dtype=torch.float64)
    bias = torch.randn((classes,), generator=generator, dtype=torch.float64)
    return features, labels, pred, weight, bias


def boundary_of(labels, **kwargs):
    return torch.stack([reference_boundary(image, **kwargs) for image in labels])


def ours_and_reference(case, boundary, detach, quirks=True, params=None, weights=(1.0, 0.2, 2.0), use_map=True):
    features, labels, pred, weight, bias = case
    params = dict(params or {})
    name = "conditional_boundary_map" if use_map else "conditional_boundary"
    module = lkt.loss(name, detach=detach, reference_quirks=quirks, context_weight=weights[0],
                      nce_weight=weights[1], cn_weight=weights[2], **params)
    leaves = [t.clone().requires_grad_(True) for t in (features, weight, bias)]
    extra = (boundary,) if use_map else ()
    value = module(leaves[0], labels, pred, leaves[1], leaves[2], *extra)
    value.backward()
    ref_leaves = [t.clone().requires_grad_(True) for t in (features, weight, bias)]
    expected = reference_loss(ref_leaves[0], labels, pred, ref_leaves[1], ref_leaves[2], boundary, detach, quirks,
                              weights)
    grads = [torch.zeros_like(t) for t in ref_leaves]
    if expected.requires_grad:
        grads = [g if g is not None else torch.zeros_like(t)
                 for g, t in zip(torch.autograd.grad(expected, ref_leaves, allow_unused=True), ref_leaves)]
    return value.detach(), [leaf.grad for leaf in leaves], expected.detach(), grads


def assert_matches(case, boundary, detach, **kwargs):
    value, grads, expected, expected_grads = ours_and_reference(case, boundary, detach, **kwargs)
    torch.testing.assert_close(value, expected, rtol=1e-11, atol=1e-13)
    for ours, theirs in zip(grads, expected_grads):
        torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-12)
    return value


SHAPES = [  # batch, D, H, W, K
    (2, 5, 9, 11, 4),
    (1, 8, 16, 12, 6),
    (3, 4, 7, 7, 3),
    (2, 3, 12, 20, 5),
]


# ------------------------------------------------------------ the tests

@pytest.mark.parametrize("detach", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_the_reference_with_a_boundary_map(shape, detach):
    batch, dim, height, width, classes = shape
    case = make_case(batch, dim, height, width, classes, seed=sum(shape) + detach)
    value = assert_matches(case, boundary_of(case[1]), detach)
    assert value > 0


@pytest.mark.parametrize("detach", [True, False])
@pytest.mark.parametrize("radius", [None, 1, 2])
def test_boundary_from_the_labels_is_the_reference_pipelines(radius, detach):
    case = make_case(2, 6, 24, 30, 4, seed=7 + (radius or 0))
    boundary = boundary_of(case[1], radius=radius)
    params = {"boundary_radius": radius} if radius else {}
    value, grads, expected, expected_grads = ours_and_reference(case, boundary, detach, params=params,
                                                                use_map=False)
    torch.testing.assert_close(value, expected, rtol=1e-11, atol=1e-13)
    for ours, theirs in zip(grads, expected_grads):
        torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-12)
    # and bit for bit what the map variant computes with the reference's map
    features, labels, pred, weight, bias = case
    from_labels = losskit.Loss("conditional_boundary", detach=detach, **params)
    with_map = losskit.Loss("conditional_boundary_map", detach=detach)
    arrays = [t.numpy() for t in case]
    assert from_labels(*arrays)[0] == with_map(*arrays, boundary.numpy())[0]


def test_boundary_width_follows_the_diagonal():
    """d = max(1, round(ratio x diagonal)): 4 at 100 x 150 with the default 0.02, 9 with 0.05."""
    case = make_case(1, 3, 100, 150, 3, seed=3)
    for ratio in (0.02, 0.05):
        boundary = boundary_of(case[1], dilation_ratio=ratio)
        value, _, expected, _ = ours_and_reference(case, boundary, True, use_map=False,
                                                   params={"boundary_dilation_ratio": ratio})
        torch.testing.assert_close(value, expected, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("detach", [True, False])
def test_quirks_off_uses_class_zero_and_skips_edge_only_images(detach):
    case = make_case(2, 4, 10, 9, 3, seed=11)
    assert_matches(case, boundary_of(case[1]), detach, quirks=False)


def test_weights_are_parameters():
    case = make_case(2, 4, 10, 9, 3, seed=12)
    assert_matches(case, boundary_of(case[1]), False, weights=(0.3, 1.5, 0.0))


@pytest.mark.parametrize("detach", [True, False])
def test_absent_classes_and_one_pixel_objects(detach):
    features, labels, pred, weight, bias = make_case(2, 5, 12, 12, 7, seed=21, used_classes=3)
    labels[0, 5, 6] = 5  # a one-pixel object: no same-class neighbour
    labels[1, 0, 0] = 6  # a one-pixel object in the corner
    pred[0, 5, 6] = 5
    case = (features, labels, pred, weight, bias)
    assert_matches(case, boundary_of(labels), detach)


def test_boundary_only_near_the_edge_zeroes_the_context_term():
    """The reference's NaN: image 1's boundary lies within 2 pixels of its edge,
    so its context mean is NaN and the whole batch's context term is 0."""
    features, labels, pred, weight, bias = make_case(2, 4, 9, 9, 3, seed=5)
    boundary = boundary_of(labels)
    boundary[1] = 0
    boundary[1, 0, :] = 1
    boundary[1][labels[1] == IGNORE] = IGNORE
    labels[1, 0, :] = 2
    case = (features, labels, pred, weight, bias)
    for detach in (True, False):
        assert_matches(case, boundary, detach)
    context_only = dict(weights=(1.0, 0.0, 0.0))
    value, grads, _, _ = ours_and_reference(case, boundary, True, **context_only)
    assert value == 0 and all(torch.count_nonzero(g) == 0 for g in grads)
    value, _, expected, _ = ours_and_reference(case, boundary, True, quirks=False, **context_only)
    assert value > 0
    torch.testing.assert_close(value, expected, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("what", ["all_ignored", "no_boundary", "all_wrong", "single_class"])
def test_empty_cases(what):
    features, labels, pred, weight, bias = make_case(2, 4, 8, 9, 3, seed=9)
    boundary = boundary_of(labels)
    if what == "all_ignored":
        labels[:] = IGNORE
        boundary = boundary_of(labels)
    elif what == "no_boundary":
        boundary = torch.zeros_like(boundary)
    elif what == "all_wrong":  # no correctly predicted pixel: no class counted in NCE and CN
        pred = (labels + 1) % 3
        pred[labels == IGNORE] = 0
    else:  # one class everywhere, boundary only at the edge (the reference's rule)
        labels[:] = 1
        boundary = boundary_of(labels)
    case = (features, labels, pred, weight, bias)
    value = assert_matches(case, boundary, False)
    if what in ("all_ignored", "no_boundary"):
        assert value == 0
    elif what == "all_wrong":  # only the context term remains
        _, _, expected, _ = ours_and_reference(case, boundary, False, weights=(1.0, 0.0, 0.0))
        torch.testing.assert_close(value, expected, rtol=1e-11, atol=1e-13)
    else:  # the edge band only: no context term (the reference's NaN), NCE and CN remain
        context, grads, _, _ = ours_and_reference(case, boundary, False, weights=(1.0, 0.0, 0.0))
        assert context == 0 and all(torch.count_nonzero(g) == 0 for g in grads) and value > 0


def test_float32_agrees_with_float64():
    case = make_case(2, 6, 11, 13, 4, seed=31)
    boundary = boundary_of(case[1])
    module = lkt.ConditionalBoundaryMapLoss(detach=False)
    ours64 = module(case[0], case[1], case[2], case[3], case[4], boundary)
    ours32 = module(case[0].float(), case[1], case[2], case[3].float(), case[4].float(), boundary)
    torch.testing.assert_close(ours32.double(), ours64, rtol=1e-5, atol=1e-6)


def test_classifier_as_a_conv_module():
    """conv_seg (a 1 x 1 nn.Conv2d) passes as weight.flatten(1) and bias."""
    case = make_case(1, 6, 10, 10, 4, seed=41)
    conv = torch.nn.Conv2d(6, 4, 1).double()
    features = case[0].clone().requires_grad_(True)
    value = lkt.ConditionalBoundaryLoss(detach=False)(features, case[1], case[2], conv.weight.flatten(1), conv.bias)
    value.backward()
    assert conv.weight.grad.shape == (4, 6, 1, 1) and torch.count_nonzero(conv.weight.grad) > 0
    conv.zero_grad()
    lkt.ConditionalBoundaryLoss()(features, case[1], case[2], conv.weight.flatten(1), conv.bias).backward()
    assert torch.count_nonzero(conv.weight.grad) == 0  # detached, as the reference's conv_seg


def test_bad_inputs_name_the_culprit():
    features, labels, pred, weight, bias = make_case(1, 4, 8, 8, 3, seed=1)
    module = lkt.ConditionalBoundaryLoss()
    bad = labels.clone()
    bad[0, 2, 3] = 3
    with pytest.raises(losskit.LosskitError, match=r"target\[0, 2, 3\] = 3 is not a class index in \[0, 3\)"):
        module(features, bad, pred, weight, bias)
    bad_pred = pred.clone()
    bad_pred[0, 1, 1] = -2
    with pytest.raises(losskit.LosskitError, match=r"prediction\[0, 1, 1\] = -2"):
        module(features, labels, bad_pred, weight, bias)
    with pytest.raises(losskit.LosskitError, match=r"input 'weight' must be \(K, 4\)"):
        module(features, labels, pred, weight[:, :3], bias)
    with pytest.raises(losskit.LosskitError, match=r"input 'bias' must be \(3,\)"):
        module(features, labels, pred, weight, bias[:2])
    with pytest.raises(losskit.LosskitError, match="2-D feature maps"):
        module(features[..., None], labels[..., None], pred[..., None], weight, bias)
    nan_weight = weight.clone()
    nan_weight[1, 2] = float("nan")
    with pytest.raises(losskit.LosskitError, match=r"input 'weight'\[1, 2\] = nan"):
        module(features, labels, pred, nan_weight, bias)
    boundary = boundary_of(labels)
    boundary[0, 4, 4] = 2
    with pytest.raises(losskit.LosskitError, match=r"input 'boundary'\[0, 4, 4\] = 2 is not 0, 1 or ignore_index"):
        lkt.ConditionalBoundaryMapLoss()(features, labels, pred, weight, bias, boundary)


@pytest.mark.parametrize("detach", [True, False])
def test_zero_and_tiny_feature_vectors(detach):
    """Norms below F.cosine_similarity's eps (1e-8) are clamped, and the clamp
    is a constant to autograd, as in torch."""
    case = make_case(2, 5, 9, 11, 4, seed=3)
    case[0][0, :, 4, 4] = 0
    case[0][1, :, 3, 5] = 1e-10
    assert_matches(case, boundary_of(case[1]), detach)
