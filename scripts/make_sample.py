"""Writes the sample case `make run` evaluates with `losskit eval`: a 3-D
volume (48 x 40 x 24 voxels of 0.8 x 0.8 x 2 mm) with two objects, a ball
(label 1) and a box (label 2), and a prediction of it as a segmentation
network might give it: class probabilities that miss the ball's edge by a
voxel and the box's by a little noise. Deterministic (fixed seed).

    python scripts/make_sample.py DIR

DIR gets target.nii.gz and pred.nii.gz (x, y, z[, class] as NIfTI stores
them, the spacing in the header), and target.npy and pred.npy (the same
arrays, the prediction channels-first: (3, 48, 40, 24))."""

from __future__ import annotations

import pathlib
import sys

import nibabel as nib
import numpy as np
from scipy import ndimage

SHAPE = (48, 40, 24)
SPACING = (0.8, 0.8, 2.0)


def target_labels() -> np.ndarray:
    x, y, z = np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij")
    labels = np.zeros(SHAPE, np.uint8)
    ball = ((x - 14) * SPACING[0]) ** 2 + ((y - 20) * SPACING[1]) ** 2 + ((z - 12) * SPACING[2]) ** 2
    labels[ball <= 9.0 ** 2] = 1
    labels[28:42, 10:30, 6:18] = 2
    return labels


def predicted_probabilities(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Softmax of smoothed, noisy scores; the ball predicted one voxel off in x."""
    seen = labels.copy()
    seen[labels == 1] = 0
    seen[np.roll(labels == 1, 1, axis=0)] = 1
    scores = np.stack([4.0 * (seen == c) for c in range(3)]) + rng.normal(0, 1.5, (3, *SHAPE))
    scores = np.stack([ndimage.gaussian_filter(channel, 1.0) for channel in scores])
    scores -= scores.max(axis=0)
    probabilities = np.exp(scores)
    return (probabilities / probabilities.sum(axis=0)).astype(np.float32)


def main() -> None:
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "sample")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(6)
    labels = target_labels()
    probabilities = predicted_probabilities(labels, rng)
    affine = np.diag([*SPACING, 1.0])
    nib.save(nib.Nifti1Image(labels, affine), out / "target.nii.gz")
    nib.save(nib.Nifti1Image(np.moveaxis(probabilities, 0, -1), affine), out / "pred.nii.gz")
    np.save(out / "target.npy", labels)
    np.save(out / "pred.npy", probabilities)
    print(f"sample case in {out}: target {labels.shape} (labels 0, 1, 2), "
          f"pred {probabilities.shape} probabilities, spacing {SPACING}")


if __name__ == "__main__":
    main()
