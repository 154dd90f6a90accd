"""Exact Euclidean distance transforms: losskit.distance.edt against
scipy.ndimage.distance_transform_edt and the `edt` package (seung-lab), on the
same masks, at the same thread count, in one run.

    python bench/bench_distance.py [--threads 1 2] [--repeats 7]

Masks: uniform noise with 1% background (the worst case for the envelope's
branches: every line is short and random) and unions of discs / balls (what
segmentation masks look like), in 2-D 1024^2 and 3-D 128^3, isotropic and
anisotropic. Implementations take turns, round after round, and each keeps its
best time. "ratio" is the other's time over losskit's float64 time (above 1:
losskit is faster). scipy is single-threaded and returns float64; edt
returns float32 (losskit's float32 output is timed too). Every result is
checked against scipy's first: losskit's bit for bit.
"""

from __future__ import annotations

import argparse
import time

import edt as edt_package
import numpy as np
import scipy.ndimage as ndi

import losskit
from losskit import distance


def noise(shape, gen):
    return gen.random(shape) >= 0.01


def balls(shape, gen, count=12):
    grid = np.indices(shape, dtype=np.float32)
    mask = np.zeros(shape, bool)
    size = min(shape)
    for _ in range(count):
        centre = gen.uniform(0, size, len(shape)).astype(np.float32)
        radius = gen.uniform(size / 16, size / 5)
        offset = grid - centre.reshape((-1,) + (1,) * len(shape))
        mask |= (offset**2).sum(0) < radius**2
    return mask


CASES = [
    ("noise 1024^2", lambda g: noise((1024, 1024), g), None),
    ("discs 1024^2", lambda g: balls((1024, 1024), g), None),
    ("noise 128^3", lambda g: noise((128, 128, 128), g), None),
    ("balls 128^3", lambda g: balls((128, 128, 128), g), None),
    ("balls 128^3, spacing (2.5, 0.8, 0.8)", lambda g: balls((128, 128, 128), g), (2.5, 0.8, 0.8)),
]


def best_times(functions, repeats):
    for fn in functions.values():
        fn()
    best = {name: float("inf") for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    gen = np.random.default_rng(0)
    print(f"losskit {losskit.__version__}, scipy {ndi.__name__.split('.')[0]} "
          f"{__import__('scipy').__version__}, edt {getattr(edt_package, '__version__', '?')}; best of {args.repeats}\n")
    print("| mask | threads | implementation | ms | ratio |\n|---|---|---|---|---|")
    for label, make, sampling in CASES:
        mask = make(gen)
        want = ndi.distance_transform_edt(mask, sampling=sampling)
        assert np.array_equal(distance.edt(mask, sampling), want), label
        anisotropy = sampling if sampling is not None else (1.0,) * mask.ndim
        assert np.allclose(edt_package.edt(mask, anisotropy=anisotropy), want, rtol=1e-5, atol=1e-4), label
        for threads in args.threads:
            functions = {
                "losskit float64": lambda: distance.edt(mask, sampling, threads=threads),
                "losskit float32": lambda: distance.edt(mask, sampling, dtype=np.float32, threads=threads),
                "edt (float32)": lambda: edt_package.edt(mask, anisotropy=anisotropy, parallel=threads),
                "scipy (1 thread)": lambda: ndi.distance_transform_edt(mask, sampling=sampling),
            }
            if threads > 1:
                del functions["scipy (1 thread)"]
            times = best_times(functions, args.repeats)
            ours = times["losskit float64"]
            for name, seconds in times.items():
                print(f"| {label} | {threads} | {name} | {seconds * 1e3:.2f} | {seconds / ours:.2f} |", flush=True)


if __name__ == "__main__":
    main()
