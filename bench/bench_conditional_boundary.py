"""Forward + backward of the Conditional Boundary Loss on feature maps:
losskit's conditional_boundary_map against the authors' loss (CBLocr_head.py:
context_loss + er_loss with weights 1, 0.2, 2) in plain torch, the one the
tests check losskit against (tests/python/test_reference_conditional_boundary.py),
on the same inputs, at the same thread count, in one run.

    python bench/bench_conditional_boundary.py [--threads 1 2] [--dims 64 512]
                                               [--shapes 2,64,128] [--classes 19] [--repeats 3]

Inputs: features (N, D, H, W) float32, labels of blobs (8 x 8 cells of K
classes, 5% ignored), predictions with 30% of the pixels wrong, a classifier
(K, D) and (K,), and the reference pipeline's boundary map (d = 3 here).
Both run the reference's gradient (detach=true); the gradient of the
features is wanted. The reference loops in Python over the images, the 24
offsets and the classes, so its time grows with what the batch holds, not
only with its size. How the implementations are timed, and what "ratio"
means: see bench/timing.py ("GB/s": the features read and their gradient
written, over losskit's time).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import torch

import losskit
import losskit.torch as lkt
from timing import TABLE_HEADER, best_times_of, print_rows

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))

from test_reference_conditional_boundary import blob_labels, boundary_of, predictions, reference_loss  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 512])
    parser.add_argument("--shapes", nargs="+", default=["2,64,128"], help="N,H,W")
    parser.add_argument("--classes", type=int, default=19)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    print(f"losskit {losskit.__version__}, torch {torch.__version__}, float32, fwd+bwd, best of {args.repeats}\n")
    print(TABLE_HEADER)
    for shape_text in args.shapes:
        batch, height, width = (int(v) for v in shape_text.split(","))
        labels = blob_labels(batch, height, width, args.classes, generator, ignored=0.05, cell=8)
        pred = predictions(labels, args.classes, generator)
        boundary = boundary_of(labels, radius=3)
        for dim in args.dims:
            features = torch.randn((batch, dim, height, width), generator=generator)
            weight = torch.randn((args.classes, dim), generator=generator) / dim ** 0.5
            bias = torch.randn((args.classes,), generator=generator)
            ours = lkt.ConditionalBoundaryMapLoss()

            def losskit_step(x, w, b):
                return ours(x, labels, pred, w, b, boundary)

            def reference_step(x, w, b):
                return reference_loss(x, labels, pred, w, b, boundary)

            for threads in args.threads:
                torch.set_num_threads(threads)
                times = best_times_of({"losskit": losskit_step, "torch eager (authors' loss)": reference_step},
                                      [features], [weight, bias], args.repeats)
                moved = 2 * features.numel() * features.element_size()
                print_rows("conditional_boundary", f"{batch},{dim},{height},{width} K={args.classes}", threads,
                           times, moved)


if __name__ == "__main__":
    main()
