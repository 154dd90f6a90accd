"""Per-call overhead of the Python bindings: one loss on a tiny input (4 x 3),
where the computation itself is negligible, next to PyTorch's own call on the
same input, in one run (best of many; microseconds per call)."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

import losskit
import losskit.torch as lkt
from losskit import _native


def best_microseconds(fn, rounds=30, calls=100):
    for _ in range(calls):
        fn()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def main():
    torch.set_num_threads(1)
    x = torch.randn(4, 3)
    y = torch.randint(0, 3, (4,))
    leaf = x.clone().requires_grad_(True)
    module = lkt.CrossEntropyLoss()
    loss = losskit.Loss("cross_entropy")
    x_np, y_np = x.numpy(), y.numpy()

    # the C call alone, on prepared lk_tensor structs
    inputs = (_native.Tensor * 2)()
    losskit._fill(inputs[0], x.data_ptr(), _native.F32, x.shape)
    losskit._fill(inputs[1], y.data_ptr(), _native.I64, y.shape)
    grad = torch.empty_like(x)
    grads = (_native.Tensor * 2)()
    losskit._fill(grads[0], grad.data_ptr(), _native.F32, grad.shape)
    value = torch.empty(())
    out = _native.Tensor()
    losskit._fill(out, value.data_ptr(), _native.F32, ())

    def module_step():
        leaf.grad = None
        module(leaf, y).backward()

    def torch_step():
        leaf.grad = None
        F.cross_entropy(leaf, y).backward()

    rows = [
        ("C library call through ctypes", lambda: loss.compute_raw(inputs, out, grads, 1)),
        ("losskit.Loss on NumPy arrays (value + gradient)", lambda: loss(x_np, y_np)),
        ("losskit.torch module, forward", lambda: module(x, y)),
        ("losskit.torch module, forward + backward", module_step),
        ("torch F.cross_entropy, forward", lambda: F.cross_entropy(x, y)),
        ("torch F.cross_entropy, forward + backward", torch_step),
    ]
    print("| call (cross_entropy, 4 x 3 float32, 1 thread) | microseconds |")
    print("|---|---|")
    for name, fn in rows:
        print(f"| {name} | {best_microseconds(fn):.1f} |")


if __name__ == "__main__":
    main()
