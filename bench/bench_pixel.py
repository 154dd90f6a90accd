"""Forward + backward of the pixel-wise losses: losskit against the same
computation in PyTorch (eager and torch.compile) and MONAI / kornia where they
have the loss, on the same inputs, at the same thread count, in one run.

    python bench/bench_pixel.py [--threads 1 2] [--shapes 8,4,128,128 2,4,64,96,96]
                                [--losses cross_entropy focal ...] [--no-compile] [--repeats 15]

How each implementation is timed, and what "ratio" and "GB/s" mean: see
bench/timing.py.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

import losskit
import losskit.torch as lkt
from timing import arguments, compare, others

warnings.filterwarnings("ignore")


# ------------------------------------------------------------ the same losses in plain torch

def focal_torch(x, y, gamma=2.0):
    log_p = torch.log_softmax(x, 1).gather(1, y.unsqueeze(1)).squeeze(1)
    return (-(1 - log_p.exp()) ** gamma * log_p).mean()


def sigmoid_focal_torch(x, t, alpha=0.25, gamma=2.0):
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    return ((alpha * t + (1 - alpha) * (1 - t)) * ce * (1 - p_t) ** gamma).mean()


def topk_torch(x, y, k=10.0):
    per_pixel = F.cross_entropy(x, y, reduction="none").flatten()
    return per_pixel.topk(max(1, int(per_pixel.numel() * k / 100)), sorted=False).values.mean()


def weighted_ce_torch(x, y):
    counts = torch.bincount(y.flatten(), minlength=x.shape[1]).double()
    weight = (counts.sum() / (counts.clamp(min=1) * (counts > 0).sum())).to(x.dtype)
    return F.cross_entropy(x, y, weight=weight, reduction="sum") / y.numel()


def monai_focal():
    from monai.losses import FocalLoss
    loss = FocalLoss(to_onehot_y=True, use_softmax=True, gamma=2.0)
    return lambda x, y: loss(x, y.unsqueeze(1))


def kornia_focal():
    from kornia.losses import focal_loss
    return lambda x, y: focal_loss(x, y, alpha=None, gamma=2.0, reduction="mean")


def kornia_sigmoid_focal():
    from kornia.losses import binary_focal_loss_with_logits
    return lambda x, t: binary_focal_loss_with_logits(x, t, alpha=0.25, gamma=2.0, reduction="mean")


# name: (losskit module, target kind, torch eager reference, other libraries)
LOSSES = {
    "cross_entropy": (lambda: lkt.CrossEntropyLoss(), "labels", lambda x, y: F.cross_entropy(x, y), {}),
    "focal": (lambda: lkt.FocalLoss(gamma=2.0), "labels", focal_torch,
              {"MONAI FocalLoss": monai_focal, "kornia focal_loss": kornia_focal}),
    "binary_cross_entropy": (lambda: lkt.BinaryCrossEntropyLoss(), "masks",
                             lambda x, t: F.binary_cross_entropy_with_logits(x, t), {}),
    "sigmoid_focal": (lambda: lkt.SigmoidFocalLoss(), "masks", sigmoid_focal_torch,
                      {"kornia binary_focal": kornia_sigmoid_focal}),
    "topk_cross_entropy": (lambda: lkt.TopkCrossEntropyLoss(k=10), "labels", topk_torch, {}),
    "weighted_cross_entropy": (lambda: lkt.WeightedCrossEntropyLoss(weighting="inverse_frequency"), "labels",
                               weighted_ce_torch, {}),
}


def main():
    args = arguments(__doc__, LOSSES)
    for shape_text in args.shapes:
        shape = tuple(int(v) for v in shape_text.split(","))
        x = torch.randn(shape)
        labels = torch.randint(0, shape[1], (shape[0],) + shape[2:])
        masks = (torch.rand(shape) < 0.3).float()
        for name in args.losses:
            make_ours, kind, eager, libraries = LOSSES[name]
            target = labels if kind == "labels" else masks
            compare(args, name, shape_text, make_ours, others(eager, libraries, not args.no_compile), x, target)


if __name__ == "__main__":
    main()
