"""Segmentation metrics: losskit.metrics against MONAI's metric functions and
DeepMind's surface-distance, on one 128^3 label map of 3 overlapping balls
(the target) and the same balls moved and resized (the prediction), 3
foreground classes, spacing (1, 1, 1) and (0.8, 1.0, 2.5).

    python bench/bench_metrics.py [--threads 1 2] [--repeats 3]

Rows: each surface metric alone (MONAI computes the surfaces and distances
once per call), and all of Dice, HD, HD95, ASSD and NSD together (MONAI: five
calls; losskit: one, sharing the surfaces), with MONAI's voxel surfaces. Then
DeepMind's 3-D surfels (surface="surfels"): "all, surfels" is HD, the
area-weighted HD95, ASSD (the mean of DeepMind's pair) and NSD at 1, against
DeepMind's compute_surface_distances and its four functions per class; "nsd,
surfels" against MONAI's compute_surface_dice(use_subvoxels=True). MONAI runs
with torch threads set to the same count; DeepMind (NumPy, SciPy) on one
thread. Each implementation keeps its best time of the rounds; "ratio" is its
time over losskit's (above 1: losskit is faster). Results are checked against
MONAI and DeepMind before timing.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from monai.metrics import (compute_average_surface_distance, compute_dice, compute_hausdorff_distance,
                           compute_surface_dice)

import surface_distance
from losskit import metrics as M

warnings.filterwarnings("ignore")
np.Inf = np.inf  # DeepMind's surface_distance still names np.Inf, gone in NumPy 2


def balls(shape, gen, count=3):
    grid = np.indices(shape, dtype=np.float32)
    target, pred = np.zeros(shape, np.uint8), np.zeros(shape, np.uint8)
    for label in range(1, count + 1):
        center = gen.uniform(0.3, 0.7, 3) * np.array(shape)
        radius = gen.uniform(0.15, 0.25) * min(shape)
        shift = gen.normal(0, 2.0, 3)
        target[((grid - center.reshape(3, 1, 1, 1)) ** 2).sum(0) <= radius**2] = label
        moved = grid - (center + shift).reshape(3, 1, 1, 1)
        pred[(moved**2).sum(0) <= (radius * gen.uniform(0.9, 1.1)) ** 2] = label
    return pred[None], target[None]


def best_time(fn, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pred, target = balls((128, 128, 128), np.random.default_rng(0))
    P = torch.from_numpy(np.moveaxis(np.eye(4, dtype=np.float32)[pred], -1, 1).copy())
    G = torch.from_numpy(np.moveaxis(np.eye(4, dtype=np.float32)[target], -1, 1).copy())
    print("| metrics | spacing | threads | implementation | ms | ratio |\n|---|---|---|---|---|---|")
    for spacing in ((1.0, 1.0, 1.0), (0.8, 1.0, 2.5)):
        monai = {
            "hd": lambda: compute_hausdorff_distance(P, G, spacing=spacing),
            "hd95": lambda: compute_hausdorff_distance(P, G, percentile=95, spacing=spacing),
            "assd": lambda: compute_average_surface_distance(P, G, symmetric=True, spacing=spacing),
            "nsd": lambda: compute_surface_dice(P, G, [1.0] * 3, spacing=spacing),
        }
        surface_calls = list(monai.values())
        monai["all"] = lambda: [f() for f in surface_calls] + [compute_dice(P, G, include_background=False)]
        names = {"hd": ("hausdorff",), "hd95": ("hausdorff_percentile",), "assd": ("assd",), "nsd": ("nsd",),
                 "all": ("dice", "hausdorff", "hausdorff_percentile", "assd", "nsd")}

        check = M.compute(pred, target, 4, spacing, metrics=names["all"])
        np.testing.assert_allclose(check["hausdorff_percentile"], monai["hd95"]().numpy(), rtol=1e-4)
        np.testing.assert_allclose(check["assd"], monai["assd"]().numpy(), rtol=1e-5)
        for threads in args.threads:
            torch.set_num_threads(threads)
            for key, metric_names in names.items():
                ours = best_time(lambda: M.compute(pred, target, 4, spacing, metrics=metric_names, threads=threads),
                                 args.repeats)
                theirs = best_time(monai[key], args.repeats)
                label = f"{key} (x3 classes)"
                print(f"| {label} | {spacing} | {threads} | losskit | {ours * 1e3:.1f} | 1.00 |")
                print(f"| {label} | {spacing} | {threads} | MONAI | {theirs * 1e3:.1f} | {theirs / ours:.2f} |",
                      flush=True)
        surfels(pred, target, P, G, spacing, args)


SURFEL_METRICS = ("hausdorff", "hausdorff_percentile", "assd", "nsd")
SURFEL_OPTIONS = dict(surface="surfels", percentile_rule="area_weighted", assd_rule="mean_of_means")


def deepmind(pred, target, spacing):
    """HD, HD95, the mean of the ASD pair and NSD at 1 of each class, as (1, 3) arrays."""
    values = {name: np.zeros((1, 3)) for name in SURFEL_METRICS}
    for label in (1, 2, 3):
        d = surface_distance.compute_surface_distances(target[0] == label, pred[0] == label, spacing)
        values["hausdorff"][0, label - 1] = surface_distance.compute_robust_hausdorff(d, 100)
        values["hausdorff_percentile"][0, label - 1] = surface_distance.compute_robust_hausdorff(d, 95)
        values["assd"][0, label - 1] = np.mean(surface_distance.compute_average_surface_distance(d))
        values["nsd"][0, label - 1] = surface_distance.compute_surface_dice_at_tolerance(d, 1.0)
    return values


def surfels(pred, target, P, G, spacing, args):
    """The surfel rows: losskit against DeepMind (all four) and MONAI's
    use_subvoxels (NSD), after checking the values."""
    theirs_all = deepmind(pred, target, spacing)
    mine = M.compute(pred, target, 4, spacing, metrics=SURFEL_METRICS, **SURFEL_OPTIONS)
    for name in SURFEL_METRICS:
        np.testing.assert_allclose(mine[name], theirs_all[name], rtol=1e-12, err_msg=name)

    def monai_nsd():
        return compute_surface_dice(P, G, [1.0] * 3, spacing=spacing, use_subvoxels=True)

    np.testing.assert_allclose(mine["nsd"], monai_nsd().numpy(), rtol=1e-6)
    deepmind_time = best_time(lambda: deepmind(pred, target, spacing), 1)
    for threads in args.threads:
        torch.set_num_threads(threads)
        rows = (("all, surfels (x3 classes)", SURFEL_METRICS, "DeepMind", deepmind_time),
                ("nsd, surfels (x3 classes)", ("nsd",), "MONAI subvoxels", best_time(monai_nsd, args.repeats)))
        for label, metric_names, name, theirs in rows:
            ours = best_time(lambda: M.compute(pred, target, 4, spacing, metrics=metric_names, threads=threads,
                                               **SURFEL_OPTIONS), args.repeats)
            print(f"| {label} | {spacing} | {threads} | losskit | {ours * 1e3:.1f} | 1.00 |")
            print(f"| {label} | {spacing} | {threads} | {name} | {theirs * 1e3:.1f} | {theirs / ours:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
