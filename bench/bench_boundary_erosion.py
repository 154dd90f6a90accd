"""Forward + backward of the erosion-based boundary losses: losskit's
hausdorff_erosion against kornia's HausdorffERLoss / HausdorffERLoss3D, and
boundary_dou against the authors' BoundaryDoULoss in plain torch (eager, and
torch.compile'd), on the same inputs, at the same thread count, in one run.

    python bench/bench_boundary_erosion.py [--threads 1 2] [--shapes 8,4,128,128 2,4,64,96,96]
                                           [--losses hausdorff_erosion boundary_dou]
                                           [--no-compile] [--repeats 15]

Every implementation takes logits: kornia's loss gets torch.softmax(x, 1)
(it applies no activation), losskit's applies the softmax inside. The torch
reference of Boundary DoU is the one the tests check losskit against
(tests/python/test_reference_boundary_erosion.py). How each implementation
is timed, and what "ratio" and "GB/s" mean: see bench/timing.py.
"""

from __future__ import annotations

import os
import sys
import warnings

import torch

import losskit.torch as lkt
from timing import arguments, compare, label_inputs, others

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))


def kornia_hausdorff(volume):
    import kornia

    loss = (kornia.losses.HausdorffERLoss3D if volume else kornia.losses.HausdorffERLoss)()
    return lambda x, y: loss(torch.softmax(x, 1), y.unsqueeze(1))


def dou_torch(x, y):
    from test_reference_boundary_erosion import dou_reference

    return dou_reference(x, y)


# name: (losskit module, torch eager formula or None, {other implementations} for a volume flag)
LOSSES = {
    "hausdorff_erosion": (lambda: lkt.HausdorffErosionLoss(activation="softmax"), None,
                          lambda volume: {"kornia HausdorffERLoss": lambda: kornia_hausdorff(volume)}),
    "boundary_dou": (lambda: lkt.BoundaryDouLoss(), dou_torch, lambda volume: {}),
}


def main():
    args = arguments(__doc__, LOSSES)
    for shape_text, x, labels in label_inputs(args):
        for name in args.losses:
            make_ours, eager, libraries = LOSSES[name]
            implementations = others(eager, libraries(x.dim() == 5), not args.no_compile)
            compare(args, name, shape_text, make_ours, implementations, x, labels)


if __name__ == "__main__":
    main()
