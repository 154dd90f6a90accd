"""What the loss benchmarks share: timing a training step of several
implementations in turns, and the table they print.

Every implementation is timed the way a training step uses it: the loss of a
leaf tensor, then .backward(). Implementations take turns, round after round,
and each keeps its best time (on a shared machine the median wanders with the
neighbours' load; the best is what the code can do). "ratio" is the other
implementation's time over losskit's (above 1: losskit is faster); "GB/s" is
the bytes losskit must move over its time.
"""

from __future__ import annotations

import argparse
import time

import torch

import losskit


def best_times(functions, x, target, repeats):
    """Best seconds of fn(x, target).backward() on a leaf, for each function."""
    return best_times_of(functions, [x], [target], repeats)


def best_times_of(functions, leaves, others, repeats):
    """Best seconds of fn(*leaves, *others).backward(), the leaves' gradients
    wanted, for each function. Rounds go through all functions in turn, so
    that a burst of load from the machine's neighbours hits every
    implementation alike."""
    leaves = [t.detach().clone().requires_grad_(True) for t in leaves]

    def step(fn):
        for leaf in leaves:
            leaf.grad = None
        fn(*leaves, *others).backward()

    for fn in functions.values():
        for _ in range(3):
            step(fn)
    best = {name: float("inf") for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            step(fn)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def bytes_moved(x, target):
    """The input read, the gradient written, the target read."""
    return 2 * x.numel() * x.element_size() + target.numel() * target.element_size()


TABLE_HEADER = "| loss | shape | threads | implementation | ms | ratio | losskit GB/s |\n|---|---|---|---|---|---|---|"


def print_rows(name, shape_text, threads, times, moved):
    """One table row for losskit (times["losskit"]) and one per other implementation."""
    ours = times.pop("losskit")
    print(f"| {name} | {shape_text} | {threads} | losskit | {ours * 1e3:.3f} | 1.00 | {moved / ours / 1e9:.1f} |",
          flush=True)
    for label, other in times.items():
        print(f"| {name} | {shape_text} | {threads} | {label} | {other * 1e3:.3f} | {other / ours:.2f} | |", flush=True)


def arguments(description, losses, shapes=("8,4,128,128", "2,4,64,96,96"), header=TABLE_HEADER):
    """The benchmarks' command line: threads, shapes, losses, repeats, --no-compile;
    prints the run's description and the table's header."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--shapes", nargs="+", default=list(shapes))
    parser.add_argument("--losses", nargs="+", default=list(losses))
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"losskit {losskit.__version__}, torch {torch.__version__}, float32, fwd+bwd, best of {args.repeats}\n")
    print(header)
    return args


def others(eager, libraries, compile_eager):
    """What losskit is compared with: the formula in torch (eager, and compiled
    unless told not to) if there is one, and each library's version."""
    found = {}
    if eager is not None:
        found["torch eager"] = eager
        if compile_eager:
            found["torch.compile"] = torch.compile(eager)
    for label, factory in libraries.items():
        found[label] = factory()
    return found


def label_inputs(args):
    """(shape text, logits, class labels) for each of the command line's shapes."""
    for shape_text in args.shapes:
        shape = tuple(int(v) for v in shape_text.split(","))
        yield shape_text, torch.randn(shape), torch.randint(0, shape[1], (shape[0],) + shape[2:])


def compare(args, name, shape_text, make_ours, implementations, x, target):
    """One table row per implementation and thread count."""
    for threads in args.threads:
        torch.set_num_threads(threads)
        times = best_times({"losskit": make_ours(), **implementations}, x, target, args.repeats)
        print_rows(name, shape_text, threads, times, bytes_moved(x, target))
