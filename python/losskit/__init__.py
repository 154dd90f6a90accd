"""losskit: deep-learning loss functions with exact analytic gradients, in C.

    import losskit
    losskit.losses()                                  # the registry
    value, grads = losskit.compute("focal", logits, labels, gamma=2.0)
    focal = losskit.Loss("focal", gamma=2.0)          # reusable: parameters parsed once
    value, (grad_logits, _) = focal(logits, labels)

Arrays are NumPy arrays (anything ``numpy.asarray`` takes); predictions are
float32 or float64, label maps uint8, int32 or int64 (bool masks are read as
uint8). Gradients are of the loss (of the sum of the loss tensor for
reduction="none") with respect to each input as given. PyTorch modules are in
``losskit.torch``.

Parameters are checked by the C library: a bad value raises LosskitError whose
message names the parameter, the value and the valid range.
"""

from __future__ import annotations

import ctypes
import json
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _native

__all__ = [
    "Compound",
    "DynamicBeta",
    "Loss",
    "SelfAdjustingBeta",
    "combine",
    "LosskitError",
    "UnknownLossError",
    "detection",
    "distance",
    "inverse_form",
    "metrics",
    "compute",
    "get_num_threads",
    "loss_info",
    "losses",
    "set_num_threads",
]

__version__ = _native.lk_version().decode()


class LosskitError(ValueError):
    """A call was refused; ``status`` is the C status name (e.g. "LK_ESHAPE")."""

    def __init__(self, message: str, status: str):
        super().__init__(message)
        self.status = status


class UnknownLossError(LosskitError, KeyError):
    """No loss of that name in the registry."""

    def __str__(self) -> str:
        return self.args[0]


def _raise_for(status: int) -> None:
    if status == _native.OK:
        return
    message = _native.lk_last_error().decode(errors="replace")
    name = _native.lk_status_name(status).decode()
    if status == _native.ENOMEM:
        raise MemoryError(message)
    if status == _native.ENOTFOUND:
        raise UnknownLossError(message, name)
    if status == _native.ESYSTEM:
        raise OSError(message)
    raise LosskitError(message, name)


# ---------------------------------------------------------------- registry

_REGISTRY: List[Dict[str, Any]] = json.loads(_native.lk_registry_json().decode())["losses"]
_BY_NAME: Dict[str, Dict[str, Any]] = {entry["name"]: entry for entry in _REGISTRY}


def losses() -> List[Dict[str, Any]]:
    """Every loss of the registry: name, category, summary, formula, reference,
    notes, inputs (name, dtypes, shape rule, differentiable), params (name,
    type, default, valid range, choices, doc) and example parameter sets."""
    return json.loads(json.dumps(_REGISTRY))


def loss_info(name: str) -> Dict[str, Any]:
    """The registry entry of one loss."""
    if name not in _BY_NAME:
        _native.lk_loss_find(name.encode())
        raise UnknownLossError(_native.lk_last_error().decode(), "LK_ENOTFOUND")
    return json.loads(json.dumps(_BY_NAME[name]))


# ---------------------------------------------------------------- threads

_contexts: Dict[int, int] = {}
_threads: Optional[int] = None


def set_num_threads(n: Optional[int]) -> None:
    """Threads for later calls; None restores the default (LOSSKIT_NUM_THREADS,
    else all cores; losskit.torch follows torch.get_num_threads())."""
    global _threads
    if n is not None:
        _context(int(n))  # validated by the library
    _threads = None if n is None else int(n)


def get_num_threads() -> int:
    """The thread count calls use by default."""
    if _threads is not None:
        return _threads
    return int(_native.lk_context_threads(None))


def _context(threads: Optional[int]) -> Optional[int]:
    """The C context for a thread count (created once per count); None: default."""
    if threads is None:
        return None
    context = _contexts.get(threads)
    if context is None:
        handle = ctypes.c_void_p()
        _raise_for(_native.lk_context_create(threads, ctypes.byref(handle)))
        context = _contexts[threads] = handle.value
    return context


def _default_threads() -> Optional[int]:
    return _threads


def _call_threads(threads: Optional[int]) -> Optional[int]:
    """A call's thread count: its own, else set_num_threads's (None: the library's default)."""
    return threads if threads is not None else _threads


# ---------------------------------------------------------------- parameters

def _python_value(param: Dict[str, Any], text: str) -> Any:
    kind = param["type"]
    if kind == "float":
        return float(text)
    if kind == "int":
        return int(text)
    if kind == "bool":
        return text == "true"
    if kind == "float_list":
        values = [float(v) for v in text.strip("[]").split(",") if v]
        return values or None
    return text


def _to_floats(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(value, dtype=np.float64).ravel())


def _param_text(param: Dict[str, Any], value: Any) -> str:
    if value is None:
        return param["default"]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (np.integer, np.floating)):
        return repr(value.item())
    return str(value)


class _Runner:
    """What Loss and Compound share: calling them on arrays. Subclasses set
    name, input_names and differentiable, and define output_shape and
    compute_raw."""

    name: str
    input_names: Tuple[str, ...]
    differentiable: Tuple[bool, ...]

    def _inputs(self, arrays: Sequence[Any]):
        """The arrays as contiguous NumPy arrays, and the lk_tensor array over them."""
        names = self.input_names
        if len(arrays) != len(names):
            raise TypeError(f"loss '{self.name}' takes {len(names)} inputs ({', '.join(names)}); got {len(arrays)}")
        arrays = [_as_array(a, name) for a, name in zip(arrays, names)]
        inputs = (_native.Tensor * len(arrays))()
        for slot, array in zip(inputs, arrays):
            _fill_array(slot, array)
        return arrays, inputs

    def __call__(self, *arrays: Any, grad: bool = True, threads: Optional[int] = None, upstream: Any = None):
        """(value, grads). With ``upstream`` (an array shaped like the value), the
        gradients are those of sum(upstream * value): for the losses whose
        info["upstream"] is true (their reduction="none" elements are coupled
        across inputs, so weighing the gradients afterwards would be wrong)."""
        arrays, inputs = self._inputs(arrays)
        shape, dtype = self.output_shape(inputs, tuple((a.shape, a.dtype) for a in arrays))
        value = np.empty(shape, dtype=_native.DTYPE_NAMES[dtype])
        loss = _native.Tensor()
        _fill_array(loss, value)
        gradients: List[Optional[np.ndarray]] = [None] * len(arrays)
        grads = (_native.Tensor * len(arrays))()
        for k, (differentiable, array) in enumerate(zip(self.differentiable, arrays)):
            if grad and differentiable:
                gradients[k] = np.empty_like(array)
                _fill_array(grads[k], gradients[k])
        weights = None
        if upstream is not None:
            weights = _native.Tensor()
            upstream = np.require(upstream, dtype=np.float64, requirements="C")
            _fill_array(weights, upstream)
        self.compute_raw(inputs, loss, grads, _call_threads(threads), weights)
        return (value[()] if value.ndim == 0 else value), tuple(gradients)


class Loss(_Runner):
    """A loss of the registry with its parameters set; call it on arrays.

    ``Loss("focal", gamma=2.0, alpha=[0.25])(logits, labels)`` returns
    ``(value, grads)``: the loss (a NumPy scalar, or an array for
    reduction="none") and one gradient array per input (None for inputs
    without gradient, or when ``grad=False``).
    """

    def __init__(self, name: str, **params: Any):
        self.info = loss_info(name)
        self.name = name
        self._param_info = {p["name"]: p for p in self.info["params"]}
        self.param_names = tuple(self._param_info)
        self.input_names = tuple(slot["name"] for slot in self.info["inputs"])
        self.differentiable = tuple(bool(slot["differentiable"]) for slot in self.info["inputs"])
        self._output_shapes: Dict[Any, Tuple[Tuple[int, ...], int]] = {}
        self._desc = _native.lk_loss_find(name.encode())
        handle = ctypes.c_void_p()
        _raise_for(_native.lk_params_create(self._desc, ctypes.byref(handle)))
        self._params = handle.value
        self.set(**params)

    def __del__(self):
        params = getattr(self, "_params", None)
        if params:
            _native.lk_params_destroy(params)
            self._params = None

    # parameters ---------------------------------------------------------
    def set(self, **params: Any) -> "Loss":
        """Sets parameters (validated by the library); returns self."""
        self._output_shapes.clear()
        for key, value in params.items():
            param = self._param_info.get(key)
            if param is None:  # the library words the error: it lists the known names
                _raise_for(_native.lk_params_set(self._params, key.encode(), b"0"))
            elif param["type"] == "float_list" and value is not None and not isinstance(value, str):
                floats = _to_floats(value)
                pointer = floats.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
                _raise_for(_native.lk_params_set_floats(self._params, key.encode(), pointer, floats.size))
            else:
                text = _param_text(param, value)
                _raise_for(_native.lk_params_set(self._params, key.encode(), text.encode()))
        return self

    def set_spec(self, spec: str) -> "Loss":
        """Sets parameters from a spec, "gamma=2,alpha=[0.25]" (all or nothing)."""
        self._output_shapes.clear()
        _raise_for(_native.lk_params_parse(self._params, spec.encode()))
        return self

    @classmethod
    def from_spec(cls, text: str) -> "Any":
        """A loss from the command line's form, "focal" or "focal:gamma=2,alpha=[0.25]";
        a weighted sum, "dice + 0.5*focal:gamma=2", gives a Compound (see combine)."""
        if _is_sum(text):
            return combine(text)
        name, _, spec = text.partition(":")
        return cls(name.strip()).set_spec(spec)

    def get(self, key: str) -> Any:
        """A parameter's current value."""
        size = _native.lk_params_get(self._params, key.encode(), None, 0)
        if size < 0:
            raise KeyError(f"loss '{self.name}' has no parameter '{key}'")
        buffer = ctypes.create_string_buffer(size + 1)
        _native.lk_params_get(self._params, key.encode(), buffer, size + 1)
        return _python_value(self._param_info[key], buffer.value.decode())

    @property
    def params(self) -> Dict[str, Any]:
        """Every parameter's current value."""
        return {name: self.get(name) for name in self._param_info}

    def spec(self) -> str:
        """The parameters as a spec string, "gamma=2,alpha=[0.25]" (only those
        that differ from their defaults)."""
        parts = []
        for name, param in self._param_info.items():
            size = _native.lk_params_get(self._params, name.encode(), None, 0)
            buffer = ctypes.create_string_buffer(size + 1)
            _native.lk_params_get(self._params, name.encode(), buffer, size + 1)
            text = buffer.value.decode()
            if _python_value(param, text) != _python_value(param, param["default"]):
                parts.append(f"{name}={text}")
        return ",".join(parts)

    def __repr__(self) -> str:
        return f"Loss({self.name!r}{', ' if self.spec() else ''}{self.spec()})"

    def __reduce__(self):
        return (_restore_loss, (self.name, self.spec()))

    # computing ----------------------------------------------------------
    def compute_raw(self, inputs, loss: "_native.Tensor", grads, threads: Optional[int],
                    upstream: "Optional[_native.Tensor]" = None) -> None:
        """Runs the C compute on filled lk_tensor arrays (used by the bindings);
        with an upstream tensor, lk_loss_compute_upstream."""
        if upstream is None:
            status = _native.lk_loss_compute(
                self._desc, self._params, inputs, len(inputs), ctypes.byref(loss), grads, _context(threads)
            )
        else:
            status = _native.lk_loss_compute_upstream(
                self._desc, self._params, inputs, len(inputs), ctypes.byref(loss), grads,
                ctypes.byref(upstream), _context(threads)
            )
        _raise_for(status)

    def output_shape(self, inputs, key: Any = None) -> Tuple[Tuple[int, ...], int]:
        """(shape, dtype code) of the loss tensor for filled lk_tensor inputs,
        remembered under key (the inputs' shapes and dtypes) until a parameter
        changes."""
        known = self._output_shapes.get(key) if key is not None else None
        if known is not None:
            return known
        out = _native.Tensor()
        _raise_for(_native.lk_loss_output_shape(self._desc, self._params, inputs, len(inputs), ctypes.byref(out)))
        result = (tuple(out.shape[i] for i in range(out.ndim)), out.dtype)
        if key is not None and len(self._output_shapes) < 64:
            self._output_shapes[key] = result
        return result

    # the statistics API (losses built on per-class sums) ------------------
    @property
    def has_stats(self) -> bool:
        """Whether the loss runs in the three steps stats / finalize / backward."""
        return bool(_native.lk_loss_has_stats(self._desc))

    def stats(self, *arrays: Any, threads: Optional[int] = None) -> np.ndarray:
        """The per-image, per-class sums of the inputs: float64 (N, C, K).

        Gather the stats of all workers along axis 0, in image order, then
        ``finalize`` them; see include/losskit.h for the columns."""
        arrays, inputs = self._inputs(arrays)
        shape = _native.Tensor()
        _raise_for(_native.lk_loss_stats_shape(self._desc, self._params, inputs, len(inputs), ctypes.byref(shape)))
        stats = np.empty(tuple(shape.shape[i] for i in range(shape.ndim)), dtype=np.float64)
        _fill_array(shape, stats)
        _raise_for(_native.lk_loss_stats(self._desc, self._params, inputs, len(inputs), ctypes.byref(shape),
                                         _context(_call_threads(threads))))
        return stats

    def finalize(self, stats: Any, grad: bool = True, dtype: Any = np.float64):
        """The loss from the whole batch's stats, and d loss / d stats (None when
        ``grad=False``): ``(value, dloss_dstats)``. The value has the loss's shape
        for the batch (a scalar for mean and sum), in ``dtype``."""
        stats = np.ascontiguousarray(stats, dtype=np.float64)
        stats_tensor = _native.Tensor()
        _fill_array(stats_tensor, stats)
        out = _native.Tensor()
        _raise_for(_native.lk_loss_finalize_shape(self._desc, self._params, ctypes.byref(stats_tensor),
                                                  ctypes.byref(out)))
        value = np.empty(tuple(out.shape[i] for i in range(out.ndim)), dtype=dtype)
        loss = _native.Tensor()
        _fill_array(loss, value)
        dloss_dstats = np.empty_like(stats) if grad else None
        ds_tensor = _native.Tensor()
        if grad:
            _fill_array(ds_tensor, dloss_dstats)
        _raise_for(_native.lk_loss_finalize(self._desc, self._params, ctypes.byref(stats_tensor),
                                            ctypes.byref(loss), ctypes.byref(ds_tensor) if grad else None))
        return (value[()] if value.ndim == 0 else value), dloss_dstats

    def backward(self, *arrays: Any, dloss_dstats: Any, threads: Optional[int] = None):
        """The gradient of each input (None for inputs without one) from these
        images' rows of d loss / d stats."""
        arrays, inputs = self._inputs(arrays)
        ds = np.ascontiguousarray(dloss_dstats, dtype=np.float64)
        ds_tensor = _native.Tensor()
        _fill_array(ds_tensor, ds)
        gradients: List[Optional[np.ndarray]] = [None] * len(arrays)
        grads = (_native.Tensor * len(arrays))()
        gradients[0] = np.empty_like(arrays[0])
        _fill_array(grads[0], gradients[0])
        _raise_for(_native.lk_loss_backward(self._desc, self._params, inputs, len(inputs), ctypes.byref(ds_tensor),
                                            grads, _context(_call_threads(threads))))
        return tuple(gradients)


def _is_sum(text: str) -> bool:
    """Whether a spec has a weight or several terms: a '*', or a '+' outside
    brackets that is not an exponent's sign (as the C parser splits terms)."""
    bare = re.sub(r"\[[^\]]*\]", "", text)
    bare = re.sub(r"(?<=[0-9.][eE])\+(?=[0-9])", "", bare)
    return "+" in bare or "*" in bare


_SHAPE_RULES = ("scores", "class_target", "like_first", "any", "scalar")


class Compound(_Runner):
    """A weighted sum of registry losses, from a spec (include/losskit.h,
    "Weighted sums of losses"):

        dice_focal = losskit.combine("dice:smooth_nr=1 + 0.5*focal:gamma=2")
        value, (grad_logits, _) = dice_focal(logits, labels)

    The loss is sum_k weight_k loss_k(inputs), the gradients the terms'
    gradients summed with the same weights. Every term takes the same inputs
    and reduces to a scalar. A bad spec raises LosskitError naming the term,
    its position in the spec and the cause.
    """

    def __init__(self, spec: str):
        handle = ctypes.c_void_p()
        _raise_for(_native.lk_compound_parse(spec.encode(), ctypes.byref(handle)))
        self._handle = handle.value
        self.spec = spec
        self.name = spec
        slots = [_native.lk_compound_input(self._handle, i).contents
                 for i in range(_native.lk_compound_input_count(self._handle))]
        self.input_names = tuple(slot.name.decode() for slot in slots)
        self.differentiable = tuple(bool(slot.differentiable) for slot in slots)
        self.info = {
            "name": spec,
            "inputs": [{"name": slot.name.decode(), "doc": slot.doc.decode(),
                        "dtypes": [n for c, n in _native.DTYPE_NAMES.items() if slot.dtypes & (1 << c)],
                        "shape": _SHAPE_RULES[slot.shape], "differentiable": bool(slot.differentiable)}
                       for slot in slots],
            "stats": None,
        }

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle:
            _native.lk_compound_destroy(handle)
            self._handle = None

    @property
    def terms(self) -> List[Tuple[float, str, Dict[str, Any]]]:
        """(weight, loss name, parameters) of each term."""
        result = []
        for k in range(_native.lk_compound_term_count(self._handle)):
            name = _native.lk_loss_name(_native.lk_compound_term_loss(self._handle, k)).decode()
            params = _native.lk_compound_term_params(self._handle, k)
            values = {}
            for param in _BY_NAME[name]["params"]:
                size = _native.lk_params_get(params, param["name"].encode(), None, 0)
                buffer = ctypes.create_string_buffer(size + 1)
                _native.lk_params_get(params, param["name"].encode(), buffer, size + 1)
                values[param["name"]] = _python_value(param, buffer.value.decode())
            result.append((_native.lk_compound_term_weight(self._handle, k), name, values))
        return result

    def output_shape(self, inputs, key: Any = None) -> Tuple[Tuple[int, ...], int]:
        """((), dtype code): the sum is a scalar of input 0's dtype; validates the inputs."""
        out = _native.Tensor()
        _raise_for(_native.lk_compound_output_shape(self._handle, inputs, len(inputs), ctypes.byref(out)))
        return (), out.dtype

    def compute_raw(self, inputs, loss: "_native.Tensor", grads, threads: Optional[int],
                    upstream: "Optional[_native.Tensor]" = None) -> None:
        """Runs the C compute on filled lk_tensor arrays (used by the bindings)."""
        if upstream is not None:
            raise LosskitError("a compound loss is a scalar: it takes no upstream tensor", "LK_EINVAL")
        _raise_for(_native.lk_compound_compute(self._handle, inputs, len(inputs), ctypes.byref(loss), grads,
                                               _context(threads)))

    def __repr__(self) -> str:
        return f"Compound({self.spec!r})"

    def __reduce__(self):
        return (Compound, (self.spec,))


def combine(spec: str) -> Compound:
    """A weighted sum of losses from a spec, "dice:smooth_nr=1 + 0.5*focal:gamma=2"."""
    return Compound(spec)


def _restore_loss(name: str, spec: str) -> Loss:
    return Loss(name).set_spec(spec)


def _fill_array(tensor: "_native.Tensor", array: np.ndarray) -> None:
    """Points an lk_tensor at a C-contiguous NumPy array of a losskit dtype."""
    _fill(tensor, array.__array_interface__["data"][0], _NUMPY_CODES[array.dtype], array.shape)


def _fill(tensor: "_native.Tensor", pointer: int, dtype: int, shape: Sequence[int]) -> None:
    ndim = len(shape)
    if ndim > _native.MAX_DIMS:
        raise LosskitError(f"tensors have at most {_native.MAX_DIMS} dimensions; got {ndim}", "LK_ESHAPE")
    tensor.data = pointer
    tensor.dtype = dtype
    tensor.ndim = ndim
    tensor.shape[:ndim] = shape


_NUMPY_CODES = {np.dtype(name): code for name, code in _native.DTYPE_CODES.items()}
_BOOL = np.dtype(np.bool_)


def _as_array(value: Any, name: str) -> np.ndarray:
    array = np.asarray(value)
    if not array.flags.c_contiguous:  # (np.ascontiguousarray would also turn a 0-d array into 1-d)
        array = np.ascontiguousarray(array)
    if array.dtype == _BOOL:
        array = array.view(np.uint8)
    if array.dtype not in _NUMPY_CODES:
        raise LosskitError(
            f"input '{name}' has dtype {array.dtype}; losskit takes float32, float64, uint8, int32 or int64",
            "LK_EDTYPE",
        )
    return array


def compute(name: str, *arrays: Any, grad: bool = True, threads: Optional[int] = None, **params: Any):
    """``Loss(name, **params)(*arrays)``: the loss and the gradient of each input."""
    return Loss(name, **params)(*arrays, grad=grad, threads=threads)



# The subpackages that need the helpers above: losskit.distance (exact EDT,
# signed maps), losskit.metrics (segmentation metrics), losskit.detection
# (the beta schedules of the smooth L1 losses) and losskit.inverse_form (the
# weight files of the inverse_form loss's network), usable after a plain
# `import losskit`.
from . import detection, distance, inverse_form, metrics  # noqa: E402
from .detection import DynamicBeta, SelfAdjustingBeta  # noqa: E402
