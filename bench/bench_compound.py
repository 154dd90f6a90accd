"""Forward + backward of the compound losses: losskit against the same
composition in PyTorch (eager, and torch.compile'd) and MONAI's DiceCELoss /
DiceFocalLoss, on the same inputs, at the same thread count, in one run. The
weighted-sum spec ("dice + 0.5*focal:gamma=2") is also timed against the sum
of the two losskit modules taken separately in torch, which is what the spec
saves: one autograd node, one gradient buffer.

    python bench/bench_compound.py [--threads 1 2] [--shapes 8,4,128,128 2,4,64,96,96]
                                   [--losses dice_ce dice_focal ...] [--no-compile] [--repeats 15]

How each implementation is timed, and what "ratio" and "GB/s" mean: see
bench/timing.py.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

import losskit.torch as lkt
from timing import arguments, compare, label_inputs, others

warnings.filterwarnings("ignore")


# ------------------------------------------------------------ the compositions in plain torch

def one_hot(x, y):
    return F.one_hot(y, x.shape[1]).movedim(-1, 1).to(x.dtype)


def dice_of(p, g, smooth_nr=1e-5, smooth_dr=1e-5, dims=None):
    dims = dims if dims is not None else tuple(range(2, p.dim()))
    return (1 - (2 * (p * g).sum(dims) + smooth_nr) / (p.sum(dims) + g.sum(dims) + smooth_dr)).mean()


def dice_ce_torch(x, y):
    return dice_of(torch.softmax(x, 1), one_hot(x, y)) + F.cross_entropy(x, y)


def dice_focal_torch(x, y, gamma=2.0):
    g = one_hot(x, y)
    bce = F.binary_cross_entropy_with_logits(x, g, reduction="none")
    p_t = torch.sigmoid(x) * g + (1 - torch.sigmoid(x)) * (1 - g)
    return dice_of(torch.softmax(x, 1), g) + ((1 - p_t) ** gamma * bce).mean()


def unified_focal_torch(x, y, weight=0.5, delta=0.6, gamma=0.5, smooth=1e-7):
    p, g = torch.softmax(x, 1), one_hot(x, y)
    dims = tuple(range(2, x.dim()))
    tp, fn, fp = (g * p).sum(dims), (g * (1 - p)).sum(dims), ((1 - g) * p).sum(dims)
    index = (tp + smooth) / (tp + delta * fn + (1 - delta) * fp + smooth)
    ftl = torch.cat([1 - index[:, :1], (1 - index[:, 1:]) ** (1 - gamma)], 1).mean()
    log_p = torch.log_softmax(x, 1)
    back = (1 - delta) * (1 - p[:, 0]) ** gamma * -(g[:, 0] * log_p[:, 0])
    fore = delta * -(g[:, 1:] * log_p[:, 1:]).sum(1)
    return weight * ftl + (1 - weight) * (back + fore).mean()


def ce_region_size_torch(x, y, weight=1.0):
    dims = tuple(range(2, x.dim()))
    pixels = float(torch.tensor(x.shape[2:]).prod())
    truth = (one_hot(x, y).sum(dims) + 1e-10) / (pixels + 1e-10)
    predicted = (torch.softmax(x, 1).sum(dims) + 1e-10) / (pixels + 1e-10)
    return F.cross_entropy(x, y) + weight * (predicted - truth).abs().mean()


def combo_torch(x, y, alpha=0.5, beta=0.5):
    g, p = one_hot(x, y), torch.sigmoid(x)
    log_p, log_q = F.logsigmoid(x), F.logsigmoid(-x)
    wbce = -(beta * g * log_p + (1 - beta) * (1 - g) * log_q).mean()
    dims = (0,) + tuple(range(2, x.dim()))
    dsc = ((2 * (p * g).sum(dims) + 1) / (p.sum(dims) + g.sum(dims) + 1)).mean()
    return alpha * wbce - (1 - alpha) * dsc


def exp_log_torch(x, y, gamma=0.3):
    p, g = torch.softmax(x, 1), one_hot(x, y)
    dims = tuple(range(2, x.dim()))
    dice = (2 * (p * g).sum(dims) + 1) / (p.sum(dims) + g.sum(dims) + 1)
    log_p_y = torch.gather(torch.log_softmax(x, 1), 1, y.unsqueeze(1))
    return 0.8 * ((-torch.log(dice)) ** gamma).mean() + 0.2 * (-log_p_y).clamp_min(0).pow(gamma).mean()


def spec_torch(x, y, gamma=2.0):
    log_p = torch.log_softmax(x, 1)
    log_p_y = torch.gather(log_p, 1, y.unsqueeze(1))
    focal = (-(1 - log_p_y.exp()) ** gamma * log_p_y).mean()
    return dice_of(log_p.exp(), one_hot(x, y)) + 0.5 * focal


def monai(name):
    from monai.losses import DiceCELoss, DiceFocalLoss

    loss = {"dice_ce": lambda: DiceCELoss(softmax=True, to_onehot_y=True),
            "dice_focal": lambda: DiceFocalLoss(softmax=True, to_onehot_y=True)}[name]()
    return lambda x, y: loss(x, y.unsqueeze(1))


def separate_modules():
    dice, focal = lkt.DiceLoss(), lkt.FocalLoss(gamma=2.0)
    return lambda x, y: dice(x, y) + 0.5 * focal(x, y)


SPEC = "dice + 0.5*focal:gamma=2"

# name: (losskit module, torch eager composition, {other implementations})
LOSSES = {
    "dice_ce": (lambda: lkt.DiceCeLoss(), dice_ce_torch, {"MONAI DiceCELoss": lambda: monai("dice_ce")}),
    "dice_focal": (lambda: lkt.DiceFocalLoss(), dice_focal_torch,
                   {"MONAI DiceFocalLoss": lambda: monai("dice_focal")}),
    "unified_focal": (lambda: lkt.UnifiedFocalLoss(), unified_focal_torch, {}),
    "ce_region_size": (lambda: lkt.CeRegionSizeLoss(), ce_region_size_torch, {}),
    "combo": (lambda: lkt.ComboLoss(), combo_torch, {}),
    "exp_log": (lambda: lkt.ExpLogLoss(), exp_log_torch, {}),
    "spec": (lambda: lkt.combine(SPEC), spec_torch, {"losskit dice + 0.5 * losskit focal": separate_modules}),
}


def main():
    args = arguments(__doc__, LOSSES)
    for shape_text, x, labels in label_inputs(args):
        for name in args.losses:
            make_ours, eager, libraries = LOSSES[name]
            label = f"`{SPEC}`" if name == "spec" else name
            compare(args, label, shape_text, make_ours, others(eager, libraries, not args.no_compile), x, labels)


if __name__ == "__main__":
    main()
