"""Segmentation metrics of hard segmentations: overlap (Dice, IoU, precision,
recall) and surface distances (Hausdorff, percentile Hausdorff, ASSD, ASD,
normalized surface Dice), per image and class, any number of spatial axes,
with a spacing per axis. NumPy in, NumPy out; the work runs in C on losskit's
threads, with the same result for any thread count.

Inputs are label maps ``(N, *spatial)`` with ``num_classes`` classes, or, with
``num_classes=None``, masks ``(N, C, *spatial)`` (MONAI's one-hot layout;
non-zero is in the class). Each metric comes back as an ``(N, C')`` float64
array: C' = C - 1 classes from class 1, or C with ``include_background``.

Conventions (docs/metrics.md has the table of which reproduces which library):

- ``surface``: ``"voxels"`` (MONAI, medpy: mask XOR binary erosion, the image
  edge counted as background) or ``"surfels"`` (DeepMind surface-distance,
  2-D or 3-D: corners of the half-voxel-shifted grid, weighted by contour
  length or surface area by neighbour code, see ``surfel_weights``);
- ``percentile_rule``: ``"per_direction"`` (MONAI: torch.quantile of each
  direction, then the max), ``"pooled"`` (medpy: np.percentile of both
  directions together), ``"area_weighted"`` (DeepMind: first crossing of the
  cumulative weight fraction, per direction, then the max);
- ``assd_rule``: ``"concatenated"`` (MONAI symmetric=True, medpy assd) or
  ``"mean_of_means"`` (the mean of DeepMind's pair, older medpy);
- ``nsd_tolerance``: one value, or one per reported class (MONAI's
  class_thresholds), in spacing units, distances ``<=`` it count.

Empty classes (MONAI's rules): when one of prediction and target is empty the
distances are +inf and NSD is 0; when both are, the surface metrics are NaN,
and Dice and IoU are ``empty_overlap`` (default NaN). ``return_flags=True`` adds
``"flags"``: bit 1 set where the prediction is empty, bit 2 where the target is.
"""

from __future__ import annotations

import ctypes
import math
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

from . import _native
from . import _as_array, _call_threads, _context, _fill_array, _raise_for, LosskitError

__all__ = [
    "compute", "dice", "iou", "precision", "recall", "hausdorff", "hausdorff_percentile", "assd",
    "asd", "nsd", "surfel_weights", "METRICS", "SURFACES", "PERCENTILE_RULES", "ASSD_RULES", "PRED_EMPTY", "TARGET_EMPTY",
]

METRICS = tuple(_native.lk_metric_name(code).decode() for code in range(9))
SURFACES = ("voxels", "surfels")
PERCENTILE_RULES = ("per_direction", "pooled", "area_weighted")
ASSD_RULES = ("concatenated", "mean_of_means")
PRED_EMPTY, TARGET_EMPTY = 1, 2

Spacing = Optional[Union[float, Sequence[float]]]


def _choice(name: str, value: str, choices: Sequence[str]) -> int:
    if value not in choices:
        raise LosskitError(f"{name} = {value!r}; expected one of {', '.join(choices)}", "LK_EINVAL")
    return choices.index(value)


def _doubles(values: Any, count: int, name: str, what: str):
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 1:
        array = np.full(count, array[0])
    if array.size != count:
        raise LosskitError(f"{name} has {array.size} values; expected one, or {count} ({what})", "LK_EINVAL")
    return (ctypes.c_double * count)(*array)


def compute(pred: Any, target: Any, num_classes: Optional[int] = None, spacing: Spacing = None, *,
            metrics: Sequence[str] = ("dice", "hausdorff", "hausdorff_percentile", "assd", "nsd"),
            include_background: bool = False, surface: str = "voxels", percentile: float = 95.0,
            percentile_rule: str = "per_direction", assd_rule: str = "concatenated",
            nsd_tolerance: Union[float, Sequence[float]] = 1.0, empty_overlap: float = math.nan,
            return_flags: bool = False, threads: Optional[int] = None) -> Dict[str, np.ndarray]:
    """The metrics named in ``metrics`` (see METRICS) of every image and class:
    a dict of (N, C') float64 arrays, plus ``"flags"`` (uint8) with
    ``return_flags``."""
    pred_array, target_array = _as_array(pred, "pred"), _as_array(target, "target")
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    codes = [_choice("metric", name, METRICS) for name in names]
    if not codes:
        raise LosskitError("metrics is empty; name at least one of " + ", ".join(METRICS), "LK_EINVAL")
    masks = num_classes is None
    batch_axes = 2 if masks else 1
    if pred_array.ndim < batch_axes + 1:
        raise LosskitError(
            f"pred has shape {pred_array.shape}; expected {'(N, C, *spatial)' if masks else '(N, *spatial)'}",
            "LK_ESHAPE")
    classes = pred_array.shape[1] if masks else int(num_classes)
    columns = classes - (0 if include_background else 1)
    options = _native.MetricOptions()
    _native.lk_metric_options_default(ctypes.byref(options))
    options.include_background = int(bool(include_background))
    options.surface = _choice("surface", surface, SURFACES)
    options.percentile = float(percentile)
    options.percentile_rule = _choice("percentile_rule", percentile_rule, PERCENTILE_RULES)
    options.assd_rule = _choice("assd_rule", assd_rule, ASSD_RULES)
    tolerances = np.asarray(nsd_tolerance, dtype=np.float64).reshape(-1)
    if tolerances.size == 1:
        options.nsd_tolerance = float(tolerances[0])
    elif columns > 0:
        options.nsd_tolerances = _doubles(tolerances, columns, "nsd_tolerance", "one per reported class")
    options.empty_overlap = float(empty_overlap)
    spatial_dims = pred_array.ndim - batch_axes
    spacing_values = None if spacing is None else _doubles(spacing, spatial_dims, "spacing", "one per spatial axis")
    shape = (pred_array.shape[0], max(columns, 1))
    outs = [np.empty(shape, np.float64) for _ in codes]
    flags = np.empty(shape, np.uint8) if return_flags else None
    pred_tensor, target_tensor, flags_tensor = _native.Tensor(), _native.Tensor(), _native.Tensor()
    _fill_array(pred_tensor, pred_array)
    _fill_array(target_tensor, target_array)
    out_tensors = (_native.Tensor * len(outs))()
    for tensor, out in zip(out_tensors, outs):
        _fill_array(tensor, out)
    if flags is not None:
        _fill_array(flags_tensor, flags)
    metric_codes = (ctypes.c_int * len(codes))(*codes)
    context = _context(_call_threads(threads))
    _raise_for(_native.lk_metrics_compute(
        ctypes.byref(pred_tensor), ctypes.byref(target_tensor), 0 if masks else int(num_classes),
        spacing_values, ctypes.byref(options), metric_codes, len(codes), out_tensors,
        ctypes.byref(flags_tensor) if flags is not None else None, context))
    result = dict(zip(names, outs))
    if flags is not None:
        result["flags"] = flags
    return result


def _one(metric: str):
    def function(pred: Any, target: Any, num_classes: Optional[int] = None, spacing: Spacing = None,
                 **options: Any) -> np.ndarray:
        return compute(pred, target, num_classes, spacing, metrics=(metric,), **options)[metric]

    function.__name__ = metric
    function.__qualname__ = metric
    function.__doc__ = f"``compute(..., metrics=('{metric}',))['{metric}']``: an (N, C') array."
    return function


dice = _one("dice")
iou = _one("iou")
precision = _one("precision")
recall = _one("recall")
hausdorff = _one("hausdorff")
hausdorff_percentile = _one("hausdorff_percentile")
assd = _one("assd")
asd = _one("asd")
nsd = _one("nsd")


def surfel_weights(spatial_dims: int, spacing: Spacing = None) -> np.ndarray:
    """The weight of a ``surface="surfels"`` element by the neighbour code of
    its corner, as DeepMind's surface-distance tables: 2 spatial axes, the 16
    marching-squares contour lengths (create_table_neighbour_code_to_contour_length);
    3, the 256 marching-cubes surface areas
    (create_table_neighbour_code_to_surface_area); in spacing units. Code bit
    ``2 ** (2 ** d - 1 - o)`` is the element at offsets ``o`` (binary, axis 0
    most significant; 0: before the corner, 1: after) in the corner's 2x2
    (2x2x2) cell. src/metrics/surfels.c states the rule behind the areas."""
    if spatial_dims not in (2, 3):
        raise LosskitError(f"spatial_dims = {spatial_dims!r}; DeepMind's surfels have 2 or 3", "LK_EINVAL")
    dims = int(spatial_dims)
    spacing_values = None if spacing is None else _doubles(spacing, dims, "spacing", "one per spatial axis")
    weights = (ctypes.c_double * (1 << (1 << dims)))()
    _raise_for(_native.lk_surfel_weights(dims, spacing_values, weights))
    return np.array(weights[:], dtype=np.float64)
