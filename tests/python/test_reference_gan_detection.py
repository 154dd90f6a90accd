"""GAN losses and detection regression losses against their references:
PyTorch builtins where they coincide (MSE, L1, smooth L1), and the papers'
code written here in plain torch with autograd (BigGAN's hinge, WGAN-GP's
penalty, mmdetection's balanced_l1_loss, RetinaMask's AdjustSmoothL1Loss,
mmdetection's Dynamic R-CNN beta update), on value and gradient."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losskit
import losskit.torch as lkt
from conftest import assert_close, check_against, logits_like

DTYPES = [torch.float32, torch.float64]
GAN_SHAPES = [(64,), (64, 1), (6, 1, 30, 30), (2, 3, 4, 5, 6)]
REDUCTIONS = ["mean", "sum", "none"]


def reduce(loss, reduction):
    return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()


# ------------------------------------------------------------ LSGAN: CycleGAN's GANLoss('lsgan') = MSE

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", GAN_SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("mode,labels", [("discriminator_real", {}), ("discriminator_fake", {}),
                                         ("generator", {}), ("discriminator_fake", {"a": -1.0, "b": 1.0, "c": 0.0}),
                                         ("generator", {"a": -1.0, "b": 1.0, "c": 0.0}),
                                         ("discriminator_real", {"b": 0.9})])
def test_lsgan_is_mse_against_the_mode_target(dtype, shape, reduction, mode, labels, generator):
    target = {"discriminator_real": labels.get("b", 1.0), "discriminator_fake": labels.get("a", 0.0),
              "generator": labels.get("c", 1.0)}[mode]
    module = lkt.LsganLoss(mode=mode, reduction=reduction, **labels)
    output = logits_like(shape, dtype, generator)
    check_against(module, lambda d: F.mse_loss(d, torch.full_like(d, target), reduction=reduction), output,
                  what=f"lsgan {mode}")


# ------------------------------------------------------------ hinge: BigGAN-PyTorch's loss_hinge_dis / _gen

def biggan_hinge(d, mode):
    if mode == "discriminator_real":
        return F.relu(1.0 - d)
    if mode == "discriminator_fake":
        return F.relu(1.0 + d)
    return -d


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", GAN_SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("mode", ["discriminator_real", "discriminator_fake", "generator"])
def test_hinge_gan_matches_biggan(dtype, shape, reduction, mode, generator):
    module = lkt.HingeGanLoss(mode=mode, reduction=reduction)
    output = logits_like(shape, dtype, generator)
    check_against(module, lambda d: reduce(biggan_hinge(d, mode), reduction), output, what=f"hinge {mode}")


def test_hinge_discriminator_is_the_sum_of_its_two_means(generator):
    real, fake = logits_like((16, 1), torch.float64, generator), logits_like((16, 1), torch.float64, generator)
    ours = lkt.HingeGanLoss(mode="discriminator_real")(real) + lkt.HingeGanLoss(mode="discriminator_fake")(fake)
    assert torch.allclose(ours, torch.mean(F.relu(1.0 - real)) + torch.mean(F.relu(1.0 + fake)), rtol=1e-15)


def test_hinge_subgradient_at_the_hinge_is_zero():
    d = torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64, requires_grad=True)
    lkt.HingeGanLoss(mode="discriminator_real", reduction="sum")(d).backward()
    assert d.grad.tolist() == [0.0, -1.0, -1.0]


# ------------------------------------------------------------ WGAN-GP: Gulrajani et al. / CycleGAN's cal_gradient_penalty

def gradient_penalty(g, lambda_gp=10.0, reduction="mean"):
    norms = g.reshape(g.shape[0], -1).norm(2, dim=1)
    per_sample = (norms - 1) ** 2
    if reduction == "none":
        return lambda_gp * per_sample
    return lambda_gp * (per_sample.mean() if reduction == "mean" else per_sample.sum())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7,), (64, 1), (5, 3, 8, 8), (3, 2, 3, 4, 5), (2, 3, 64, 64)])
@pytest.mark.parametrize("options", [{}, {"lambda_gp": 1.0}, {"reduction": "sum"}, {"lambda_gp": 2.5, "reduction": "sum"},
                                     {"reduction": "none"}])
def test_wgan_gp_matches_the_penalty_formula(dtype, shape, options, generator):
    g = logits_like(shape, dtype, generator, scale=0.3)
    check_against(lkt.WganGpLoss(**options), lambda x: gradient_penalty(x, **options), g, what="wgan_gp")


def test_wgan_gp_per_sample_penalties_take_per_sample_weights(generator):
    """reduction=none: one penalty per row, and a weighted sum of them
    backpropagates each row's gradient times its weight."""
    g = logits_like((6, 3, 5, 5), torch.float64, generator, scale=0.3)
    weights = torch.rand(6, generator=generator, dtype=torch.float64)
    grads = []
    for fn in (lkt.WganGpLoss(reduction="none"), lambda x: gradient_penalty(x, reduction="none")):
        leaf = g.clone().requires_grad_(True)
        (fn(leaf) * weights).sum().backward()
        grads.append(leaf.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-12, atol=1e-15)


def test_wgan_gp_trains_the_critic_through_double_backward(generator):
    """The penalty's gradient reaches the critic's weights through g's graph, as
    with the penalty written in torch."""
    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Tanh(), torch.nn.Flatten(),
                                 torch.nn.Linear(4 * 6 * 6, 1)).double()
    real, fake = torch.randn(5, 3, 8, 8, dtype=torch.float64), torch.randn(5, 3, 8, 8, dtype=torch.float64)
    alpha = torch.rand(5, 1, 1, 1, dtype=torch.float64)
    interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)

    def weight_grads(penalty_of):
        critic.zero_grad()
        out = critic(interpolates)
        (g,) = torch.autograd.grad(out, interpolates, torch.ones_like(out), create_graph=True)
        penalty_of(g).backward()
        return [None if p.grad is None else p.grad.clone() for p in critic.parameters()]

    ours, reference = weight_grads(lkt.WganGpLoss()), weight_grads(gradient_penalty)
    assert sum(g is not None for g in ours) == 3  # the last bias does not change the gradient
    for a, b in zip(ours, reference):
        assert (a is None and b is None) or torch.allclose(a, b, rtol=1e-10, atol=1e-14)


def test_wgan_gp_zero_gradient_row_takes_the_zero_subgradient():
    g = torch.zeros(3, 4, dtype=torch.float64)
    g[1] = torch.tensor([0.3, 0.4, 0.0, 0.0], dtype=torch.float64)
    leaf = g.clone().requires_grad_(True)
    value = lkt.WganGpLoss()(leaf)
    value.backward()
    assert value.item() == pytest.approx(10 * (1 + 0.25 + 1) / 3, rel=1e-15)
    assert torch.all(leaf.grad[0] == 0) and torch.all(leaf.grad[2] == 0)
    assert torch.allclose(leaf.grad[1], 10 / 3 * 2 * (0.5 - 1) * g[1] / 0.5, rtol=1e-15)


# ------------------------------------------------------------ cycle consistency: CycleGAN = lambda * L1Loss

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("lambda_cycle", [10.0, 5.0, 1.0])
def test_cycle_consistency_is_lambda_times_l1(dtype, reduction, lambda_cycle, generator):
    reconstruction = logits_like((2, 3, 16, 16), dtype, generator)
    original = logits_like((2, 3, 16, 16), dtype, generator)
    module = lkt.CycleConsistencyLoss(lambda_cycle=lambda_cycle, reduction=reduction)
    check_against(module, lambda x, y: lambda_cycle * F.l1_loss(x, y, reduction=reduction), reconstruction,
                  original, what="cycle")


# ------------------------------------------------------------ balanced L1: mmdetection's balanced_l1_loss

def mmdet_balanced_l1(pred, target, alpha=0.5, gamma=1.5, beta=1.0, reduction="mean", loss_weight=1.0):
    diff = torch.abs(pred - target)
    b = math.e ** (gamma / alpha) - 1
    loss = torch.where(diff < beta, alpha / b * (b * diff + 1) * torch.log(b * diff / beta + 1) - alpha * diff,
                       gamma * diff + gamma / b - alpha * beta)
    return loss_weight * reduce(loss, reduction)


BALANCED_OPTIONS = [{}, {"reduction": "sum"}, {"reduction": "none"}, {"alpha": 0.3, "gamma": 1.0},
                    {"beta": 0.5}, {"beta": 2.0, "alpha": 1.0, "gamma": 2.0, "loss_weight": 3.0}]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options", BALANCED_OPTIONS)
def test_balanced_l1_matches_mmdetection(dtype, options, generator):
    pred = logits_like((4096, 4), dtype, generator, scale=2.0)
    target = logits_like((4096, 4), dtype, generator, scale=2.0)
    check_against(lkt.BalancedL1Loss(**options), lambda p, t: mmdet_balanced_l1(p, t, **options), pred, target,
                  what="balanced_l1")


def test_balanced_l1_limits(generator):
    """Its outlier side has slope gamma (an L1 of slope gamma shifted), its
    inlier gradient is alpha ln(b x + 1) (beta = 1), and it is continuous at beta."""
    alpha, gamma = 0.5, 1.5
    b = math.exp(gamma / alpha) - 1
    x = torch.tensor([1.0 - 1e-12, 1.0, 2.0, 7.0, 0.3, -0.3], dtype=torch.float64, requires_grad=True)
    value = lkt.BalancedL1Loss(reduction="none")(x, torch.zeros_like(x))
    value.sum().backward()
    assert value[0].item() == pytest.approx(value[1].item(), abs=1e-11)
    far = x.detach()[2:4]
    assert torch.allclose(value[2:4], gamma * F.l1_loss(far, torch.zeros_like(far), reduction="none")
                          + gamma / b - alpha, rtol=1e-15)
    assert x.grad[2:4].tolist() == [gamma, gamma]
    assert x.grad[4].item() == pytest.approx(alpha * math.log(b * 0.3 + 1), rel=1e-14)
    assert x.grad[5].item() == pytest.approx(-alpha * math.log(b * 0.3 + 1), rel=1e-14)


def test_balanced_l1_rejects_overflowing_b():
    with pytest.raises(losskit.LosskitError, match="b = e"):
        lkt.BalancedL1Loss(alpha=1e-3, gamma=100)(torch.zeros(2, 4), torch.zeros(2, 4))


# ------------------------------------------------------------ Dynamic SmoothL1 at a fixed beta = F.smooth_l1_loss

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("beta", [1.0, 0.35, 1.0 / 9, 0.0, 4.0])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_dynamic_smooth_l1_at_a_fixed_beta_is_smooth_l1(dtype, beta, reduction, generator):
    pred, target = logits_like((4096, 4), dtype, generator), logits_like((4096, 4), dtype, generator)
    check_against(lkt.DynamicSmoothL1Loss(beta=beta, reduction=reduction),
                  lambda p, t: F.smooth_l1_loss(p, t, beta=beta, reduction=reduction), pred, target,
                  what=f"dynamic_smooth_l1 beta={beta}")


def test_dynamic_smooth_l1_loss_weight_scales(generator):
    pred, target = logits_like((64, 4), torch.float64, generator), logits_like((64, 4), torch.float64, generator)
    check_against(lkt.DynamicSmoothL1Loss(beta=0.5, loss_weight=2.5),
                  lambda p, t: 2.5 * F.smooth_l1_loss(p, t, beta=0.5), pred, target, what="loss_weight")


def mmdet_dynamic_roi_head(iterations, initial_beta=1.0, beta_topk=10, update_iter_interval=100):
    """DynamicRoIHead's beta bookkeeping: (targets of the positives, images) per
    iteration; returns beta after each iteration."""
    beta, history, betas = initial_beta, [], []
    for targets, num_imgs in iterations:
        cur_target = targets[:, :2].abs().mean(dim=1)
        k = min(beta_topk * num_imgs, len(targets))
        history.append(torch.kthvalue(cur_target, k)[0].item())
        if len(history) % update_iter_interval == 0:
            median = np.median(history)
            beta = beta if median < 1e-15 else min(initial_beta, median)
            history = []
        betas.append(beta)
    return betas


@pytest.mark.parametrize("dtype", DTYPES)
def test_dynamic_beta_follows_the_dynamic_roi_head(dtype, generator):
    iterations = []
    for step in range(23):
        positives = int(torch.randint(1, 60, (1,), generator=generator))
        scale = 0.02 if step < 10 else 3.0  # the schedule moves from small errors to large (capped) ones
        targets = (torch.randn(positives, 4, generator=generator, dtype=torch.float64) * scale).to(dtype)
        iterations.append((targets, int(torch.randint(1, 4, (1,), generator=generator))))
    schedule = losskit.DynamicBeta(initial_beta=1.0, beta_topk=10, update_iter_interval=5)
    ours = [schedule.record(t, n) for t, n in iterations]
    reference = mmdet_dynamic_roi_head(iterations, update_iter_interval=5)
    assert ours == reference
    assert len(set(ours)) > 2 and max(ours) == 1.0


def test_dynamic_beta_keeps_beta_for_a_zero_median():
    schedule = losskit.DynamicBeta(initial_beta=1.0, update_iter_interval=2)
    schedule.beta = 0.4
    assert schedule.record(np.zeros((5, 4)), 1) == 0.4
    assert schedule.record(np.zeros((5, 4)), 1) == 0.4
    assert schedule.updated_beta([0.1, 0.3, 0.2, 0.9], 1.0, 0.4) == np.median([0.1, 0.3, 0.2, 0.9])
    with pytest.raises(losskit.LosskitError, match=r"shape\[0\] = 0"):  # no positive box
        schedule.record(np.zeros((0, 4)), 1)


# ------------------------------------------------------------ RetinaMask's AdjustSmoothL1Loss

class RetinaMaskAdjustSmoothL1(torch.nn.Module):
    """AdjustSmoothL1Loss of RetinaMask's maskrcnn-benchmark fork (with the
    NaN-variance guard of its later revision), in float64 buffers."""

    def __init__(self, num_features, momentum=0.1, beta=1.0 / 9):
        super().__init__()
        self.num_features, self.momentum, self.beta = num_features, momentum, beta
        self.register_buffer("running_mean", torch.empty(num_features, dtype=torch.float64).fill_(beta))
        self.register_buffer("running_var", torch.zeros(num_features, dtype=torch.float64))

    def forward(self, inputs, target, size_average=True):
        n = torch.abs(inputs - target)
        with torch.no_grad():
            if n.shape[0] > 1 and torch.isnan(n.var(dim=0)).sum().item() == 0:  # (one row: var is NaN)
                self.running_mean *= 1 - self.momentum
                self.running_mean += self.momentum * n.double().mean(dim=0)
                self.running_var *= 1 - self.momentum
                self.running_var += self.momentum * n.double().var(dim=0)
        beta = (self.running_mean - self.running_var).clamp(max=self.beta, min=1e-3)
        beta = beta.view(-1, self.num_features).to(n.dtype)
        loss = torch.where(n < beta.expand_as(n), 0.5 * n ** 2 / beta, n - 0.5 * beta)
        return loss.mean() if size_average else loss.sum()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size_average", [True, False])
def test_adjust_smooth_l1_follows_retinamask_over_steps(dtype, size_average, generator):
    ours = lkt.AdjustSmoothL1Loss(4, reduction="mean" if size_average else "sum")
    reference = RetinaMaskAdjustSmoothL1(4)
    for step in range(12):
        rows = 1 if step == 3 else 500  # a batch of one row leaves the statistics alone
        scale = 0.02 * (step % 4 + 1)
        pred = (torch.randn(rows, 4, generator=generator, dtype=torch.float64) * scale).to(dtype)
        target = (torch.randn(rows, 4, generator=generator, dtype=torch.float64) * scale).to(dtype)
        check_against(ours, lambda p, t: reference(p, t, size_average), pred, target, what=f"step {step}")
        # each module ran once on this batch: their states agree
        tolerance = 1e-6 if dtype == torch.float32 else 1e-13
        assert torch.allclose(ours.running_mean, reference.running_mean, rtol=tolerance, atol=1e-15)
        assert torch.allclose(ours.running_var, reference.running_var, rtol=tolerance, atol=1e-15)
    assert min(ours.current_beta()) < 1.0 / 9  # the statistics moved beta off its clip


def test_self_adjusting_smooth_l1_with_per_column_beta_matches_the_formula(generator):
    beta = torch.tensor([0.5, 0.05, 2.0, 1e-3], dtype=torch.float64)
    pred, target = logits_like((256, 4), torch.float64, generator), logits_like((256, 4), torch.float64, generator)

    def formula(p, t):
        n = (p - t).abs()
        return torch.where(n < beta, 0.5 * n ** 2 / beta, n - 0.5 * beta).sum()

    check_against(lkt.SelfAdjustingSmoothL1Loss(beta=beta.tolist(), reduction="sum"), formula, pred, target,
                  what="per-column beta")


def test_self_adjusting_beta_numpy_state_matches_the_module(generator):
    state, module = losskit.SelfAdjustingBeta(4), lkt.AdjustSmoothL1Loss(4)
    for _ in range(3):
        pred, target = torch.randn(100, 4, generator=generator), torch.randn(100, 4, generator=generator) * 0.1
        state.update(pred, target)
        module(pred, target)
    assert np.array_equal(state.beta, np.array(module.current_beta()))
    assert np.array_equal(state.running_mean, module.running_mean.numpy())
    with pytest.raises(losskit.LosskitError, match=r"\(N, 4\)"):
        state.update(np.zeros((3, 5)), np.zeros((3, 5)))
    module.float()  # buffers made float32 by the user come back as float64 for the library
    module(torch.randn(10, 4), torch.randn(10, 4))
    assert module.running_mean.dtype == torch.float64


# ------------------------------------------------------------ bad input

def test_regression_targets_must_be_finite_and_shaped_like_input():
    pred = torch.zeros(3, 4)
    with pytest.raises(losskit.LosskitError, match=r"target'\[1, 2\] = nan"):
        target = torch.zeros(3, 4)
        target[1, 2] = float("nan")
        lkt.BalancedL1Loss()(pred, target)
    with pytest.raises(losskit.LosskitError, match="shaped like input"):
        lkt.DynamicSmoothL1Loss()(pred, torch.zeros(3, 5))
    with pytest.raises(losskit.LosskitError, match="'beta' has 3 values"):
        lkt.SelfAdjustingSmoothL1Loss(beta=[1, 2, 3])(pred, pred.clone())
    with pytest.raises(losskit.LosskitError, match="'beta' is empty"):
        lkt.SelfAdjustingSmoothL1Loss(beta=[])(pred, pred.clone())
    with pytest.raises(losskit.LosskitError, match=r"input 'input'\[2\] = inf"):
        lkt.HingeGanLoss(mode="discriminator_real")(torch.tensor([0.0, 3.0, float("inf")]))
    with pytest.raises(losskit.LosskitError, match="mode"):
        lkt.LsganLoss(mode="real")
