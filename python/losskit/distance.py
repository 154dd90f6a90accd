"""Exact Euclidean distance transforms and signed distance maps.

``edt(mask, sampling)`` is ``scipy.ndimage.distance_transform_edt(mask,
sampling=sampling)``, bit for bit, in linear time on losskit's threads; ``sdf``
gives the signed maps of the boundary-based losses. The leading ``batch_dims``
axes index independent images (a batch, or batch and class); the others are
spatial (any number, each with its own spacing).

Conventions (``kind`` of ``sdf``), with d_in the distance from an object
element to the nearest background element and d_out from a background element
to the nearest object element:

- ``"signed"``: -d_in inside, +d_out outside;
- ``"boundary_loss"``: -(d_in - 1) inside, +d_out outside (Kervadec et al.'s
  reference code: the object's border pixels are 0);
- ``"normalized"``: -d_in / max d_in inside, d_out / max d_out outside, 0 on
  the object's inner border (the maps of SDF-regression papers, in [-1, 1]);
- ``"unsigned"``: d_in inside, d_out outside (the Hausdorff DT loss's field).

An image with an empty or full mask has no boundary: its signed map is 0. Its
``edt`` is 0 (empty) or +inf (full: no background to measure to; scipy
measures to a phantom element outside the image instead).
"""

from __future__ import annotations

import ctypes
from typing import Any, Optional, Sequence, Union

import numpy as np

from . import _native
from . import _as_array, _call_threads, _context, _fill_array, _raise_for, LosskitError

__all__ = ["edt", "sdf", "SDF_KINDS"]

SDF_KINDS = tuple(_native.lk_sdf_kind_name(kind).decode() for kind in range(4))

Sampling = Optional[Union[float, Sequence[float]]]


def _spacing(sampling: Sampling, spatial_dims: int):
    if sampling is None:
        return None
    values = np.asarray(sampling, dtype=np.float64).reshape(-1)
    if values.size == 1:
        values = np.full(spatial_dims, values[0])
    if values.size != spatial_dims:
        raise LosskitError(
            f"sampling has {values.size} values; the mask has {spatial_dims} spatial axes "
            "(give one value per spatial axis, or one for all)",
            "LK_EINVAL",
        )
    return (ctypes.c_double * spatial_dims)(*values)


def _transform(function, extra, mask: Any, sampling: Sampling, batch_dims: int, dtype: Any,
               threads: Optional[int]) -> np.ndarray:
    array = _as_array(mask, "mask")
    out_dtype = np.dtype(dtype)
    if out_dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise LosskitError(f"dtype {out_dtype}: distances are float32 or float64", "LK_EDTYPE")
    out = np.empty(array.shape, dtype=out_dtype)
    if array.size == 0:
        return out
    spatial_dims = array.ndim - int(batch_dims)
    spacing = _spacing(sampling, spatial_dims) if spatial_dims > 0 else None
    mask_tensor, out_tensor = _native.Tensor(), _native.Tensor()
    _fill_array(mask_tensor, array)
    _fill_array(out_tensor, out)
    context = _context(_call_threads(threads))
    _raise_for(function(ctypes.byref(mask_tensor), int(batch_dims), spacing, *extra,
                        ctypes.byref(out_tensor), context))
    return out


def edt(mask: Any, sampling: Sampling = None, *, batch_dims: int = 0, dtype: Any = np.float64,
        threads: Optional[int] = None) -> np.ndarray:
    """Distance from every non-zero element to the nearest zero element of its
    image (0 on zeros), with ``sampling`` the spacing of the spatial axes (one
    value, or one per axis)."""
    return _transform(_native.lk_edt, (), mask, sampling, batch_dims, dtype, threads)


def sdf(mask: Any, sampling: Sampling = None, *, kind: str = "signed", batch_dims: int = 0,
        dtype: Any = np.float64, threads: Optional[int] = None) -> np.ndarray:
    """The signed distance map of the non-zero elements (the object) of each
    image; ``kind`` is one of SDF_KINDS (see the module's doc)."""
    if kind not in SDF_KINDS:
        raise LosskitError(f"kind = {kind!r}; expected one of {', '.join(SDF_KINDS)}", "LK_EINVAL")
    return _transform(_native.lk_sdf, (SDF_KINDS.index(kind),), mask, sampling, batch_dims, dtype, threads)
