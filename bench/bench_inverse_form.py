"""Forward + backward of InverseForm at the reference's size: losskit against
the authors' computation in PyTorch (InverseTransform2D with the edge
probability, InverseNet as nn.Linear layers; eager, and torch.compile unless
--no-compile), the same random weights, inputs and thread count, in one run.

    python bench/bench_inverse_form.py [--threads 1 2] [--shapes 2,1,512,1024]
                                       [--side 224] [--hidden 1000 32] [--no-compile] [--repeats 15]

N,C,H,W: edge logits and a target edge map, resized to 672 x 1344 and cut
into 3 x 6 tiles of T x T = 224 x 224: N C 18 rows of 2 T T = 100352 values
into the network's first layer, whose weight (1000 x 100352 float32, 400 MB)
dominates. Timing as bench/timing.py: implementations take turns, each keeps
its best time; "ratio" is the other's time over losskit's (above 1: losskit
is faster); "GFLOP/s" counts the multiply-adds of the network's layers that
losskit performs (forward, and the backward to the prediction's half of the
input) over losskit's time.
"""

from __future__ import annotations

import argparse
import warnings

import torch
import torch.nn.functional as F

import losskit
import losskit.torch as lkt
from timing import best_times

warnings.filterwarnings("ignore")


def inverse_form_torch(layers, side, tile_rows=3, tile_cols=6):
    """The reference's InverseTransform2D.forward (sigmoid in place of its
    log_softmax over one channel, as losskit) with InverseNet's layers."""
    w1, b1, w2, b2, w3, b3 = layers
    area = side * side

    def loss(logits, target):
        size = (tile_rows * side, tile_cols * side)
        inputs = F.interpolate(torch.sigmoid(logits), size=size, mode="bilinear", align_corners=False)
        targets = F.interpolate(target, size=size, mode="bilinear", align_corners=False)
        tiles = [(slice(side * i, side * (i + 1)), slice(side * j, side * (j + 1)))
                 for i in range(tile_rows) for j in range(tile_cols)]
        x1 = torch.cat([inputs[:, :, r, c] for r, c in tiles], dim=0).reshape(-1, area)
        x2 = torch.cat([targets[:, :, r, c] for r, c in tiles], dim=0).reshape(-1, area)
        h = F.relu(F.linear(torch.cat((x1, x2), dim=1), w1, b1))
        coeffs = F.linear(F.relu(F.linear(h, w2, b2)), w3, b3)
        return ((coeffs * coeffs).sum(dim=1) ** 0.5).mean()

    return loss


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--shapes", nargs="+", default=["2,1,512,1024"])
    parser.add_argument("--side", type=int, default=224)
    parser.add_argument("--hidden", type=int, nargs=2, default=[1000, 32])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    args = parser.parse_args()
    torch.manual_seed(0)
    side, (hidden1, hidden2) = args.side, args.hidden
    pair = 2 * side * side
    layers = [torch.randn(hidden1, pair) / pair ** 0.5, torch.randn(hidden1) * 0.01,
              torch.randn(hidden2, hidden1) / hidden1 ** 0.5, torch.randn(hidden2) * 0.01,
              torch.randn(4, hidden2) / hidden2 ** 0.5, torch.randn(4) * 0.01]
    print(f"losskit {losskit.__version__}, torch {torch.__version__}, float32, fwd+bwd, best of {args.repeats}; "
          f"T = {side}, H1 = {hidden1}, H2 = {hidden2}, D = 4, 3 x 6 tiles\n")
    print("| N,C,H,W | threads | implementation | ms | ratio | losskit GFLOP/s |\n|---|---|---|---|---|---|")
    eager = inverse_form_torch(layers, side)
    implementations = {"losskit": lkt.InverseFormLoss(layers), "torch eager": eager}
    if not args.no_compile:
        implementations["torch.compile"] = torch.compile(eager)
    for shape_text in args.shapes:
        shape = tuple(int(v) for v in shape_text.split(","))
        logits = torch.randn(shape) * 2
        target = (torch.rand(shape) < 0.1).float()
        tiles = shape[0] * shape[1] * 18
        multiply_adds = tiles * (hidden1 * pair + hidden1 * side * side + 2 * (hidden2 * hidden1 + 4 * hidden2))
        for threads in args.threads:
            torch.set_num_threads(threads)
            times = best_times(implementations, logits, target, args.repeats)
            ours = times.pop("losskit")
            print(f"| {shape_text} | {threads} | losskit | {ours * 1e3:.1f} | 1.00 | "
                  f"{2 * multiply_adds / ours / 1e9:.1f} |", flush=True)
            for label, other in times.items():
                print(f"| {shape_text} | {threads} | {label} | {other * 1e3:.1f} | {other / ours:.2f} | |", flush=True)


if __name__ == "__main__":
    main()
