"""RMI and the Robust T-Loss against their authors' algorithms, written here in
plain torch with autograd (neither has a library implementation): value and
gradient of every differentiable input, every option, and bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import losskit
import losskit.torch as lkt
from conftest import assert_close, check_against, labels_for, logits_like


# ------------------------------------------------------------ RMI (Zhao et al., ZJULearning/RMI)

def rmi_formula(x, labels, radius=3, pool="max", pool_stride=3, weight_lambda=0.5, covariance_eps=5e-4,
                ignore_index=255):
    """RMILoss.forward_sigmoid of the authors' code, with the exact log-det."""
    n, c = x.shape[:2]
    valid = labels != ignore_index
    mask = valid.unsqueeze(1).to(x.dtype)
    one_hot = F.one_hot(torch.where(valid, labels, 0), c).movedim(-1, 1).to(x.dtype) * mask
    bce = F.binary_cross_entropy_with_logits(x, one_hot, weight=mask.expand_as(x), reduction="sum") / (valid.sum() + 1)
    probs = torch.sigmoid(x) * mask + 1e-6
    if pool != "none":
        pooling = F.max_pool2d if pool == "max" else F.avg_pool2d
        one_hot = pooling(one_hot, pool_stride, pool_stride, pool_stride // 2)
        probs = pooling(probs, pool_stride, pool_stride, pool_stride // 2)
    height, width = probs.shape[2] - radius + 1, probs.shape[3] - radius + 1
    d = radius * radius

    def points(map_):
        windows = [map_[:, :, y:y + height, x:x + width] for y in range(radius) for x in range(radius)]
        vectors = torch.stack(windows, dim=2).reshape(n, c, d, -1).double()
        return vectors - vectors.mean(dim=3, keepdim=True)

    la, pr = points(one_hot), points(probs)
    eye = torch.eye(d, dtype=torch.float64)
    pr_inv = torch.inverse(pr @ pr.transpose(2, 3) + covariance_eps * eye)
    la_pr = la @ pr.transpose(2, 3)
    posterior = la @ la.transpose(2, 3) - la_pr @ pr_inv @ la_pr.transpose(2, 3) + covariance_eps * eye
    bound = torch.log(torch.diagonal(torch.linalg.cholesky(posterior), dim1=-2, dim2=-1)).sum(-1)  # 1/2 log det
    rmi = (bound.mean(0) / d).sum()
    return (weight_lambda * bce + (1 - weight_lambda) * rmi).to(x.dtype)


RMI_OPTIONS = [
    {},
    {"pool": "avg"},
    {"pool": "none", "radius": 2},
    {"pool": "max", "pool_stride": 2, "radius": 4},
    {"weight_lambda": 0.0, "covariance_eps": 1e-3},
    {"weight_lambda": 1.0},
    {"ignore_index": 1},
    {"radius": 1, "pool": "avg", "pool_stride": 4},
]


@pytest.mark.parametrize("options", RMI_OPTIONS)
@pytest.mark.parametrize("shape", [(2, 3, 20, 17), (3, 1, 16, 16), (1, 5, 31, 12)])
def test_rmi_matches_the_authors_algorithm(options, shape, generator):
    x = logits_like(shape, torch.float64, generator)
    labels = labels_for((shape[0], max(shape[1], 2)) + shape[2:], generator, options.get("ignore_index", 255))
    labels = labels.clamp(max=shape[1] - 1) if shape[1] > 1 else torch.where(labels == 255, labels, labels.clamp(max=0))
    check_against(lkt.RmiLoss(**options), lambda a, t: rmi_formula(a, t, **options), x, labels,
                  what=f"rmi {options} {shape}")


def test_rmi_float32_matches_float64(generator):
    x = logits_like((2, 3, 20, 17), torch.float32, generator)
    labels = labels_for((2, 3, 20, 17), generator, 255)
    check_against(lkt.RmiLoss(), lambda a, t: rmi_formula(a.double(), t).float(), x, labels, what="rmi float32")


def test_rmi_refuses_what_it_cannot_compute(generator):
    with pytest.raises(losskit.LosskitError, match=r"must be 2-D images \(N, C, H, W\); got 3 dimensions"):
        lkt.RmiLoss()(logits_like((2, 3, 40), torch.float64, generator), torch.zeros((2, 40), dtype=torch.long))
    with pytest.raises(losskit.LosskitError, match="images of 6 x 7 pool to 2 x 3, smaller than the 3 x 3 window"):
        lkt.RmiLoss()(logits_like((2, 3, 6, 7), torch.float64, generator), torch.zeros((2, 6, 7), dtype=torch.long))
    with pytest.raises(losskit.LosskitError, match="radius"):
        lkt.RmiLoss(radius=11)
    labels = torch.zeros((1, 12, 12), dtype=torch.long)
    labels[0, 3, 3] = 7
    with pytest.raises(losskit.LosskitError, match=r"target\[0, 3, 3\] = 7"):
        lkt.RmiLoss()(logits_like((1, 3, 12, 12), torch.float64, generator), labels)


def test_rmi_reports_a_covariance_that_is_not_positive_definite(generator):
    """Predictions constant down each column make the 3 x 3 neighbourhoods
    linearly dependent; with a negligible covariance_eps the Cholesky factor
    fails, and the error names the first such image and class. A NaN in the
    input is reported as such instead."""
    x = logits_like((2, 3, 1, 12), torch.float64, generator).expand(2, 3, 12, 12).contiguous()
    labels = labels_for((2, 3, 12, 12), generator)
    with pytest.raises(losskit.LosskitError, match="covariance of image 0, class 0 is not positive definite"):
        lkt.RmiLoss(covariance_eps=1e-30)(x, labels)
    x[1, 2, 4, 5] = float("nan")
    with pytest.raises(losskit.LosskitError, match=r"'input'\[1, 2, 4, 5\] = nan: inputs must be finite"):
        lkt.RmiLoss(covariance_eps=1e-30)(x, labels)


# ------------------------------------------------------------ Robust T-Loss (Gonzalez-Jimenez et al.)

def t_loss_formula(x, target, nu, log_precision=1.0, epsilon=1e-8, reduction="mean"):
    """TLoss.forward of the authors' code, for any image shape (D = elements per image)."""
    n = x.shape[0]
    d = x[0].numel()
    delta = (x - target.to(x.dtype)).reshape(n, -1)
    spread = torch.exp(nu) + epsilon
    first = -torch.lgamma((spread + d) / 2)
    second = torch.lgamma(spread / 2)
    third = -0.5 * d * (log_precision + epsilon)
    fourth = d / 2 * math.log(math.pi)
    fifth = d / 2 * (nu + epsilon)
    numerator = (delta ** 2 * math.exp(log_precision + epsilon)).sum(1)
    sixth = (spread + d) / 2 * torch.log(1 + numerator / spread)
    losses = first + second + third + fourth + fifth + sixth
    return losses.mean() if reduction == "mean" else losses.sum()


@pytest.mark.parametrize("shape", [(4, 16, 16), (2, 3, 8, 9), (5, 7), (2, 1, 3, 4, 5)])
@pytest.mark.parametrize("options", [{}, {"reduction": "sum"}, {"log_precision": 0.0, "epsilon": 0.0},
                                     {"log_precision": -2.5, "epsilon": 1e-3}])
@pytest.mark.parametrize("nu_value", [1.0, -3.0, 4.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_robust_t_matches_the_authors_formula(shape, options, nu_value, dtype, generator):
    x = torch.sigmoid(logits_like(shape, torch.float64, generator)).to(dtype)
    target = (torch.rand(shape, generator=generator) < 0.4).to(dtype)
    nu = torch.tensor(nu_value, dtype=dtype)
    ours_x, ours_nu = x.clone().requires_grad_(True), nu.clone().requires_grad_(True)
    value = lkt.RobustTLoss(**options)(ours_x, target, ours_nu)
    value.backward()
    ref_x, ref_nu = x.double().requires_grad_(True), nu.double().requires_grad_(True)
    expected = t_loss_formula(ref_x, target.double(), ref_nu, **options)
    expected.backward()
    assert_close(value.detach(), expected.detach(), "t-loss value")
    assert_close(ours_x.grad, ref_x.grad, "t-loss d/d input")
    assert_close(ours_nu.grad, ref_nu.grad, "t-loss d/d nu")


def test_robust_t_takes_integer_masks_and_nu_of_shape_1(generator):
    x = torch.sigmoid(logits_like((3, 10, 10), torch.float64, generator))
    mask = torch.rand((3, 10, 10), generator=generator) < 0.3
    nu = torch.ones(1, dtype=torch.float64, requires_grad=True)
    value = lkt.RobustTLoss()(x, mask.to(torch.uint8), nu)
    value.backward()
    assert nu.grad.shape == (1,)
    assert value.item() == float(lkt.RobustTLoss()(x, mask.double(), torch.tensor(1.0, dtype=torch.float64)))
    assert_close(value.detach(), t_loss_formula(x, mask.double(), torch.tensor(1.0, dtype=torch.float64)), "integer mask")


def test_robust_t_trains_nu_as_a_parameter(generator):
    # the authors keep nu in their module as an nn.Parameter: here the caller
    # does, and an optimizer step moves it as it would theirs
    x = torch.sigmoid(logits_like((4, 12, 12), torch.float64, generator))
    target = (torch.rand((4, 12, 12), generator=generator) < 0.4).double()
    ours, theirs = torch.nn.Parameter(torch.tensor(1.0, dtype=torch.float64)), torch.nn.Parameter(torch.tensor(1.0, dtype=torch.float64))
    step_ours, step_theirs = torch.optim.SGD([ours], lr=1e-3), torch.optim.SGD([theirs], lr=1e-3)
    for _ in range(5):
        step_ours.zero_grad()
        lkt.RobustTLoss()(x, target, ours).backward()
        step_ours.step()
        step_theirs.zero_grad()
        t_loss_formula(x, target, theirs).backward()
        step_theirs.step()
    assert abs(ours.item() - theirs.item()) < 1e-12 and ours.item() != 1.0


@pytest.mark.parametrize("change,message", [
    (lambda x, t, nu: (x, t, torch.ones(2, dtype=torch.float64)), r"input 'nu' must be a scalar, shape \(\) or \(1,\)"),
    (lambda x, t, nu: (x, t.index_fill(0, torch.tensor([1]), 1.5), nu), r"target\[1, 0, 0\] = 1.5 is not a target in \[0, 1\]"),
    (lambda x, t, nu: (x.index_fill(0, torch.tensor([0]), float("nan")), t, nu), r"input 'input'\[0, 0, 0\] = nan: inputs must be finite"),
    (lambda x, t, nu: (x, t, torch.tensor(float("inf"), dtype=torch.float64)), "nu must be finite"),
    (lambda x, t, nu: (x, t, nu.float()), "must have the dtype of input 'input'"),
])
def test_robust_t_bad_input(change, message, generator):
    x = torch.sigmoid(logits_like((2, 4, 4), torch.float64, generator))
    target = (torch.rand((2, 4, 4), generator=generator) < 0.4).double()
    with pytest.raises(losskit.LosskitError, match=message):
        lkt.RobustTLoss()(*change(x, target, torch.tensor(1.0, dtype=torch.float64)))
