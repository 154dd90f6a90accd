"""The network of the ``inverse_form`` loss, and its weight files.

InverseForm (Borse et al., CVPR 2021) measures the transformation between a
predicted and a target edge map with a frozen network trained beforehand,
InverseNet: Linear(2 T T, H1) -> ReLU -> Linear(H1, H2) -> ReLU ->
Linear(H2, D), with T = 224, H1 = 1000, H2 = 32, D = 4 in the reference
(Qualcomm-AI-research/InverseForm, models/InverseForm.py).

**No weights ship with losskit, and none can be downloaded by it**: you supply
them. The authors released theirs as ``distance_measures_regressor.pth``;
convert it once:

    from losskit import inverse_form
    inverse_form.convert_checkpoint("distance_measures_regressor.pth", "inversenet.lkif")
    criterion = losskit.torch.InverseFormLoss("inversenet.lkif")
    criterion(edge_logits, edge_target).backward()

``load_weights`` reads a file through the C library
(``lk_inverse_form_weights_load``: every header field and the file's size are
checked before anything is allocated), ``save_weights`` writes one from six
arrays, ``from_state_dict`` picks the six arrays out of an InverseNet state
dict. The format is in docs/inverse-form.md: a 48-byte little-endian header
(magic ``LKINVFRM``, version 1, dtype, T, H1, H2, D) and the arrays w1 (H1,
2 T T), b1, w2 (H2, H1), b2, w3 (D, H2), b3, row-major, as torch.nn.Linear
holds them.
"""

from __future__ import annotations

import ctypes
import os
import struct
from typing import Any, Mapping, NamedTuple, Optional, Sequence, Union

import numpy as np

from . import LosskitError, _native, _raise_for

__all__ = ["InverseFormWeights", "LAYER_NAMES", "convert_checkpoint", "from_state_dict", "load_weights",
           "save_weights", "as_weights"]

LAYER_NAMES = ("w1", "b1", "w2", "b2", "w3", "b3")
MAGIC = b"LKINVFRM"
VERSION = 1
_HEADER = struct.Struct("<8sIIQQQQ")  # magic, version, dtype, T, H1, H2, D: 48 bytes
_DTYPE_CODES = {np.dtype(np.float32): _native.F32, np.dtype(np.float64): _native.F64}
# InverseNet's fc = Sequential(Linear, ReLU, Linear, ReLU, Linear): its Linear layers are fc.0, fc.2, fc.4
_REFERENCE_KEYS = ("fc.0.weight", "fc.0.bias", "fc.2.weight", "fc.2.bias", "fc.4.weight", "fc.4.bias")


class InverseFormWeights(NamedTuple):
    """The six arrays of the network, as torch.nn.Linear holds them: w1 (H1,
    2 T T), b1 (H1,), w2 (H2, H1), b2 (H2,), w3 (D, H2), b3 (D,); one dtype,
    float32 or float64. They are inverse_form's inputs 2 to 7."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    w3: np.ndarray
    b3: np.ndarray

    @property
    def tile_size(self) -> int:
        """T: w1 reads two T x T tiles."""
        return int(round((self.w1.shape[1] / 2) ** 0.5))

    @property
    def hidden1(self) -> int:
        return int(self.w1.shape[0])

    @property
    def hidden2(self) -> int:
        return int(self.w2.shape[0])

    @property
    def outputs(self) -> int:
        return int(self.w3.shape[0])

    @property
    def dtype(self) -> np.dtype:
        return self.w1.dtype


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, on any device
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def as_weights(*layers: Any, dtype: Any = None) -> InverseFormWeights:
    """Checks six arrays (NumPy, torch tensors, lists) and returns them as
    InverseFormWeights, C-contiguous, of one float dtype (``dtype``, or the
    first array's when it is float32 or float64, else float32). A single
    argument may be InverseFormWeights, a sequence of six arrays, a path to a
    weight file or an InverseNet state dict."""
    if len(layers) == 1:
        only = layers[0]
        if isinstance(only, (str, os.PathLike)):
            only = load_weights(only)
        elif isinstance(only, Mapping):
            only = from_state_dict(only)
        layers = tuple(only)
    if len(layers) != 6:
        raise LosskitError(f"the network has 6 arrays ({', '.join(LAYER_NAMES)}); got {len(layers)}", "LK_EINVAL")
    arrays = [_numpy(layer) for layer in layers]
    if dtype is None:
        dtype = arrays[0].dtype if arrays[0].dtype in _DTYPE_CODES else np.float32
    dtype = np.dtype(dtype)
    if dtype not in _DTYPE_CODES:
        raise LosskitError(f"weights are float32 or float64; got {dtype}", "LK_EDTYPE")
    weights = InverseFormWeights(*[np.ascontiguousarray(a, dtype=dtype) for a in arrays])
    _check_shapes(weights)
    return weights


def _check_shapes(weights: InverseFormWeights) -> None:
    """The checks of the loss's shape rules, before a file is written."""
    w1, b1, w2, b2, w3, b3 = weights
    shapes = ", ".join(f"{name} {tuple(a.shape)}" for name, a in zip(LAYER_NAMES, weights))
    side = int(round((w1.shape[1] / 2) ** 0.5)) if w1.ndim == 2 else 0
    valid = (w1.ndim == 2 and side >= 1 and 2 * side * side == w1.shape[1] and b1.shape == (w1.shape[0],)
             and w2.ndim == 2 and w2.shape[1] == w1.shape[0] and b2.shape == (w2.shape[0],)
             and w3.ndim == 2 and w3.shape[1] == w2.shape[0] and b3.shape == (w3.shape[0],))
    if not valid:
        raise LosskitError("the network's arrays must be w1 (H1, 2 T T), b1 (H1,), w2 (H2, H1), b2 (H2,), "
                           f"w3 (D, H2), b3 (D,); got {shapes}", "LK_ESHAPE")
    for name, array in zip(LAYER_NAMES, weights):
        if array.size and not np.isfinite(array).all():
            index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
            raise LosskitError(f"{name}{list(index)} = {array[index]}: the weights must be finite", "LK_EVALUE")


def load_weights(path: Union[str, os.PathLike]) -> InverseFormWeights:
    """Reads a weight file (see the module's doc) into six NumPy arrays."""
    pointer = ctypes.POINTER(_native.InverseFormWeights)()
    _raise_for(_native.lk_inverse_form_weights_load(os.fsencode(path), ctypes.byref(pointer)))
    try:
        loaded = pointer.contents
        element = ctypes.c_float if loaded.dtype == _native.F32 else ctypes.c_double
        arrays = []
        for layer in loaded.layers:
            shape = tuple(layer.shape[:layer.ndim])
            count = int(np.prod(shape))
            buffer = (element * count).from_address(layer.data)
            arrays.append(np.frombuffer(buffer, dtype=element).reshape(shape).copy())
    finally:
        _native.lk_inverse_form_weights_free(pointer)
    return InverseFormWeights(*arrays)


def save_weights(path: Union[str, os.PathLike], *layers: Any, dtype: Any = None) -> InverseFormWeights:
    """Writes the network's six arrays (or InverseFormWeights, or a state
    dict) to a weight file, in ``dtype`` (default: theirs, float32 if they
    are neither float32 nor float64). Returns the arrays as written."""
    weights = as_weights(*layers, dtype=dtype)
    header = _HEADER.pack(MAGIC, VERSION, _DTYPE_CODES[weights.dtype], weights.tile_size, weights.hidden1,
                          weights.hidden2, weights.outputs)
    little = weights.dtype.newbyteorder("<")
    with open(path, "wb") as file:
        file.write(header)
        for array in weights:
            file.write(memoryview(np.ascontiguousarray(array, dtype=little)).cast("B"))
    return weights


def from_state_dict(state_dict: Mapping[str, Any]) -> InverseFormWeights:
    """The six arrays of an InverseNet state dict: the keys fc.0.weight,
    fc.0.bias, fc.2.weight, fc.2.bias, fc.4.weight, fc.4.bias, with any prefix
    ("module.", "model.", "inversenet.", ...), possibly inside a checkpoint's
    "state_dict" / "model_state_dict" / "model" entry."""
    found = _find_state_dict(state_dict)
    if found is None:
        keys = ", ".join(list(map(str, state_dict))[:12])
        raise LosskitError(f"no InverseNet weights (keys ending in {_REFERENCE_KEYS[0]}, ..., "
                           f"{_REFERENCE_KEYS[-1]}) among the keys: {keys}", "LK_EINVAL")
    layers = []
    for suffix in _REFERENCE_KEYS:
        matches = [key for key in found if isinstance(key, str) and (key == suffix or key.endswith("." + suffix))]
        if len(matches) != 1:
            raise LosskitError(f"the state dict has {len(matches)} keys ending in '{suffix}' "
                               f"({', '.join(matches)}); expected one", "LK_EINVAL")
        layers.append(found[matches[0]])
    return as_weights(*layers)


def _find_state_dict(obj: Any) -> Optional[Mapping[str, Any]]:
    if not isinstance(obj, Mapping):
        return None
    if any(isinstance(key, str) and (key == _REFERENCE_KEYS[0] or key.endswith("." + _REFERENCE_KEYS[0]))
           for key in obj):
        return obj
    for wrapper in ("state_dict", "model_state_dict", "model", "net", "inversenet"):
        inner = _find_state_dict(obj.get(wrapper))
        if inner is not None:
            return inner
    return None


def convert_checkpoint(pth_path: Union[str, os.PathLike], out_path: Union[str, os.PathLike],
                       dtype: Any = np.float32) -> InverseFormWeights:
    """Converts the reference's PyTorch checkpoint (InverseNet's state dict,
    e.g. distance_measures_regressor.pth, loaded with weights_only=True) into
    a losskit weight file. Needs torch. Returns the arrays written."""
    import torch

    checkpoint = torch.load(os.fspath(pth_path), map_location="cpu", weights_only=True)
    return save_weights(out_path, from_state_dict(checkpoint), dtype=dtype)
