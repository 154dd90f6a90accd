"""Forward + backward of the region losses: losskit against the same formula
in PyTorch (eager, and torch.compile'd), MONAI, and for Lovász-softmax the
authors' algorithm in plain torch (smp's) and kornia, on the same inputs, at
the same thread count, in one run.

    python bench/bench_region.py [--threads 1 2] [--shapes 8,4,128,128 2,4,64,96,96]
                                 [--losses dice tversky jaccard ...] [--no-compile] [--repeats 15]

How each implementation is timed, and what "ratio" and "GB/s" mean: see
bench/timing.py. Lovász-softmax runs on the first shape only (the torch
reference sorts every class's pixels: on the 3-D shape it takes seconds).
"""

from __future__ import annotations

import os
import sys
import warnings

import torch
import torch.nn.functional as F

import losskit
import losskit.torch as lkt
from timing import arguments, compare, others

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))


# ------------------------------------------------------------ the same losses in plain torch

def class_sums(x, y):
    """Softmax probabilities, one-hot labels, and their per-image, per-class sums."""
    p = torch.softmax(x, 1)
    g = F.one_hot(y, x.shape[1]).movedim(-1, 1).to(x.dtype)
    dims = tuple(range(2, x.dim()))
    return (p * g).sum(dims), p.sum(dims), g.sum(dims)


def dice_torch(x, y, smooth=1e-5):
    intersection, predicted, actual = class_sums(x, y)
    return (1 - (2 * intersection + smooth) / (predicted + actual + smooth)).mean()


def jaccard_torch(x, y, smooth=1e-5):
    intersection, predicted, actual = class_sums(x, y)
    return (1 - (intersection + smooth) / (predicted + actual - intersection + smooth)).mean()


def tversky_torch(x, y, alpha=0.3, beta=0.7, smooth=1e-5):
    intersection, predicted, actual = class_sums(x, y)
    index = (intersection + smooth) / (intersection + alpha * (predicted - intersection)
                                       + beta * (actual - intersection) + smooth)
    return (1 - index).mean()


def monai(name):
    from monai.losses import DiceLoss, GeneralizedDiceLoss, TverskyLoss

    loss = {"dice": lambda: DiceLoss(softmax=True, to_onehot_y=True),
            "jaccard": lambda: DiceLoss(softmax=True, to_onehot_y=True, jaccard=True),
            "tversky": lambda: TverskyLoss(softmax=True, to_onehot_y=True, alpha=0.3, beta=0.7),
            "generalized_dice": lambda: GeneralizedDiceLoss(softmax=True, to_onehot_y=True)}[name]()
    return lambda x, y: loss(x, y.unsqueeze(1))


def smp_lovasz():
    from references import smp_losses

    return smp_losses().LovaszLoss("multiclass")


def kornia_lovasz():
    from kornia.losses import lovasz_softmax_loss

    return lambda x, y: lovasz_softmax_loss(x, y)


# name: (losskit module, torch eager formula or None, {other implementations})
LOSSES = {
    "dice": (lambda: lkt.DiceLoss(), dice_torch, {"MONAI DiceLoss": lambda: monai("dice")}),
    "jaccard": (lambda: lkt.JaccardLoss(smooth_nr=5e-6, smooth_dr=5e-6), jaccard_torch,
                {"MONAI DiceLoss(jaccard)": lambda: monai("jaccard")}),
    "tversky": (lambda: lkt.TverskyLoss(alpha=0.3, beta=0.7), tversky_torch,
                {"MONAI TverskyLoss": lambda: monai("tversky")}),
    "generalized_dice": (lambda: lkt.GeneralizedDiceLoss(), None,
                         {"MONAI GeneralizedDiceLoss": lambda: monai("generalized_dice")}),
    "lovasz_softmax": (lambda: lkt.LovaszSoftmaxLoss(), None,
                       {"torch reference (smp)": smp_lovasz, "kornia lovasz_softmax": kornia_lovasz}),
}


def main():
    args = arguments(__doc__, LOSSES)
    for index, shape_text in enumerate(args.shapes):
        shape = tuple(int(v) for v in shape_text.split(","))
        x = torch.randn(shape)
        labels = torch.randint(0, shape[1], (shape[0],) + shape[2:])
        for name in args.losses:
            if name == "lovasz_softmax" and index > 0:
                continue
            make_ours, eager, libraries = LOSSES[name]
            compare(args, name, shape_text, make_ours, others(eager, libraries, not args.no_compile), x, labels)


if __name__ == "__main__":
    main()
