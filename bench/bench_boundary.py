"""Forward + backward of the distance-map losses: losskit (exact EDT maps
computed inside, in C, on its threads) against the pipeline their reference
code runs (scipy's distance_transform_edt per image and class, then the
formula in torch), and MONAI's HausdorffDTLoss, on the same inputs, at the
same thread count, in one run.

    python bench/bench_boundary.py [--threads 1 2] [--shapes 8,4,128,128 2,4,64,96,96]
                                   [--losses boundary ...] [--repeats 5]

How each implementation is timed, and what "ratio" and "GB/s" mean: see
bench/timing.py. Labels are unions of balls (segmentation-like masks); the
maps depend on the labels, so every implementation recomputes them each step,
as in training. scipy is single-threaded whatever the thread count.
"""

from __future__ import annotations

import os
import sys
import warnings

import torch

import losskit.torch as lkt
from timing import arguments, compare

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))

import test_reference_boundary as ref  # noqa: E402  (the reference pipelines of the tests)


def monai_hausdorff():
    from monai.losses import HausdorffDTLoss

    loss = HausdorffDTLoss(softmax=True, to_onehot_y=True)
    return lambda x, y: loss(x, y.unsqueeze(1))


LOSSES = {
    "boundary": (lambda: lkt.BoundaryLoss(), {"scipy + torch": lambda: ref.boundary_reference}),
    "region_wise": (lambda: lkt.RegionWiseLoss(), {"scipy + torch": lambda: ref.region_wise_reference}),
    "distance_penalized_ce": (lambda: lkt.DistancePenalizedCeLoss(), {"scipy + torch": lambda: ref.dpce_reference}),
    "active_boundary": (lambda: lkt.ActiveBoundaryLoss(), {"abl.py in torch": lambda: ref.abl_reference}),
    "hausdorff_dt": (
        lambda: lkt.HausdorffDtLoss(activation="softmax"),
        {
            "scipy + torch": lambda: lambda x, y: ref.hd_reference(x, y, activation="softmax"),
            "MONAI": monai_hausdorff,
        },
    ),
}


def main():
    args = arguments(__doc__, LOSSES)
    generator = torch.Generator().manual_seed(0)
    for shape_text in args.shapes:
        shape = tuple(int(v) for v in shape_text.split(","))
        x = torch.randn(shape)
        labels = ref.blob_labels((shape[0],) + shape[2:], shape[1], generator, count=6)
        for name in args.losses:
            if name == "active_boundary" and len(shape) != 4:
                continue  # 2-D only, as its reference
            make_ours, libraries = LOSSES[name]
            compare(args, name, shape_text, make_ours, {label: make() for label, make in libraries.items()}, x, labels)


if __name__ == "__main__":
    main()
