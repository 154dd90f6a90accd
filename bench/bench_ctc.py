"""Forward + backward of CTC: losskit's CtcLoss against torch.nn.functional.ctc_loss
on the same log-probabilities, padded targets and lengths, at the same thread
count, in one run.

    python bench/bench_ctc.py [--threads 1 2] [--shapes 200,16,30,50 ...] [--repeats 15]
                              [--dtypes float32 float64]

A shape is T,N,C,S: T steps, N sequences, C classes (blank 0), S labels per
target; every sequence uses all T steps and S labels. The leaf is the
log-probability tensor (what a model's log_softmax hands to the loss), so the
gradient both compute is d loss / d log_probs. How the timing works and what
"ratio" and "GB/s" mean: see bench/timing.py.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

import losskit
import losskit.torch as lkt
from timing import TABLE_HEADER, best_times, print_rows


def sequences(shape_text, dtype):
    steps, batch, classes, labels = (int(v) for v in shape_text.split(","))
    log_probs = torch.log_softmax(torch.randn(steps, batch, classes, dtype=dtype), 2)
    targets = torch.randint(1, classes, (batch, labels))
    input_lengths = torch.full((batch,), steps, dtype=torch.long)
    target_lengths = torch.full((batch,), labels, dtype=torch.long)
    return log_probs, (targets, input_lengths, target_lengths)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--shapes", nargs="+", default=["200,16,30,50", "500,32,80,100", "100,8,1000,20"])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"losskit {losskit.__version__}, torch {torch.__version__}, fwd+bwd, best of {args.repeats}\n")
    print(TABLE_HEADER)
    ours = lkt.CtcLoss()
    implementations = {
        "losskit": lambda lp, rest: ours(lp, *rest),
        "F.ctc_loss": lambda lp, rest: F.ctc_loss(lp, *rest),
    }
    for dtype_name in args.dtypes:
        for shape_text in args.shapes:
            log_probs, rest = sequences(shape_text, getattr(torch, dtype_name))
            moved = 2 * log_probs.numel() * log_probs.element_size() + sum(t.numel() * 8 for t in rest)
            for threads in args.threads:
                torch.set_num_threads(threads)
                times = best_times(dict(implementations), log_probs, rest, args.repeats)
                print_rows("ctc", f"{shape_text} {dtype_name}", threads, times, moved)


if __name__ == "__main__":
    main()
