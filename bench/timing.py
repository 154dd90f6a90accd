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

import time


def best_times(functions, x, target, repeats):
    """Best seconds of fn(x, target).backward() on a leaf, for each function.
    Rounds go through all functions in turn, so that a burst of load from the
    machine's neighbours hits every implementation alike."""
    leaf = x.detach().clone().requires_grad_(True)

    def step(fn):
        leaf.grad = None
        fn(leaf, target).backward()

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
