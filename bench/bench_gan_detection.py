"""Forward + backward of the GAN losses and the detection regression losses:
losskit against the same computation in PyTorch (builtins where they exist,
else the formula; eager and torch.compile), on the same inputs, at the same
thread count, in one run. Sizes as in training: box deltas (16384, 4); a
discriminator's output (64, 1) and a PatchGAN map (64, 1, 30, 30); images
(16, 3, 256, 256) for the cycle loss and the critic's gradients of WGAN-GP.

    python bench/bench_gan_detection.py [--threads 1 2] [--losses lsgan wgan_gp ...]
                                        [--no-compile] [--repeats 15]

How each implementation is timed, and what "ratio" and "GB/s" mean: see
bench/timing.py.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F

import losskit.torch as lkt
from timing import arguments, compare, others

warnings.filterwarnings("ignore")

BOXES, DISCRIMINATOR, PATCHES, IMAGES = (16384, 4), (64, 1), (64, 1, 30, 30), (16, 3, 256, 256)


# ------------------------------------------------------------ the same losses in plain torch

def balanced_l1_torch(pred, target, alpha=0.5, gamma=1.5, beta=1.0):
    diff = torch.abs(pred - target)
    b = math.e ** (gamma / alpha) - 1
    return torch.where(diff < beta, alpha / b * (b * diff + 1) * torch.log(b * diff / beta + 1) - alpha * diff,
                       gamma * diff + gamma / b - alpha * beta).mean()


def self_adjusting_torch(pred, target, beta=torch.tensor([0.11, 0.09, 0.05, 0.07])):
    n = torch.abs(pred - target)
    return torch.where(n < beta, 0.5 * n ** 2 / beta, n - 0.5 * beta).mean()


def wgan_gp_torch(g):
    return 10 * ((g.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def one_input(module):
    """A loss of the discriminator's output alone, called like the two-input ones."""
    return lambda x, _: module(x)


# name: [(shape, losskit module, torch eager reference, has target)]
CASES = {
    "lsgan": [(shape, lambda: one_input(lkt.LsganLoss(mode="discriminator_real")),
               lambda x, _: F.mse_loss(x, torch.ones_like(x)), False) for shape in (DISCRIMINATOR, PATCHES)],
    "hinge_gan": [(shape, lambda: one_input(lkt.HingeGanLoss(mode="discriminator_fake")),
                   lambda x, _: F.relu(1 + x).mean(), False) for shape in (DISCRIMINATOR, PATCHES)],
    "wgan_gp": [(IMAGES, lambda: one_input(lkt.WganGpLoss()), lambda x, _: wgan_gp_torch(x), False)],
    "cycle_consistency": [(IMAGES, lambda: lkt.CycleConsistencyLoss(lambda_cycle=10),
                           lambda x, t: 10 * F.l1_loss(x, t), True)],
    "balanced_l1": [(BOXES, lambda: lkt.BalancedL1Loss(), balanced_l1_torch, True)],
    "dynamic_smooth_l1": [(BOXES, lambda: lkt.DynamicSmoothL1Loss(beta=0.35),
                           lambda x, t: F.smooth_l1_loss(x, t, beta=0.35), True)],
    "self_adjusting_smooth_l1": [(BOXES, lambda: lkt.SelfAdjustingSmoothL1Loss(beta=[0.11, 0.09, 0.05, 0.07]),
                                  self_adjusting_torch, True)],
}


def main():
    args = arguments(__doc__, CASES)
    for name in args.losses:
        for shape, make_ours, eager, has_target in CASES[name]:
            x = torch.randn(shape) * (0.05 if name == "wgan_gp" else 1)  # gradients of norm ~1
            target = torch.randn(shape) if has_target else torch.empty(0)
            shape_text = ",".join(str(v) for v in shape)
            compare(args, name, shape_text, make_ours, others(eager, {}, not args.no_compile), x, target)


if __name__ == "__main__":
    main()
