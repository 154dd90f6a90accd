"""ctypes bindings of liblosskit: library loading and function prototypes.

The shared library is looked up, in order, at the path in the environment
variable LOSSKIT_LIBRARY, next to this file (where ``pip install`` puts it), and
in the build tree of a source checkout (``build/liblosskit.so``).
"""

from __future__ import annotations

import ctypes
import os
import pathlib

MAX_DIMS = 8

# lk_dtype
F32, F64, U8, I32, I64 = 0, 1, 2, 3, 4
DTYPE_NAMES = {F32: "float32", F64: "float64", U8: "uint8", I32: "int32", I64: "int64"}
DTYPE_CODES = {name: code for code, name in DTYPE_NAMES.items()}

# lk_status
OK, EINVAL, ESHAPE, EDTYPE, EVALUE, EPARAM, ENOMEM, ENOTFOUND, ESYSTEM = range(9)


class Tensor(ctypes.Structure):
    """struct lk_tensor."""

    _fields_ = [
        ("data", ctypes.c_void_p),
        ("dtype", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("shape", ctypes.c_int64 * MAX_DIMS),
    ]


def _candidates():
    override = os.environ.get("LOSSKIT_LIBRARY")
    if override:
        yield pathlib.Path(override)
        return
    here = pathlib.Path(__file__).resolve().parent
    yield here / "liblosskit.so"
    yield here / "liblosskit.dylib"
    checkout = here.parent.parent
    yield checkout / "build" / "liblosskit.so"


def _load():
    tried = []
    for path in _candidates():
        tried.append(str(path))
        if path.exists():
            return ctypes.CDLL(str(path)), path
    raise ImportError(
        "losskit: cannot find liblosskit (looked at: " + ", ".join(tried) + "). "
        "Install the package with 'pip install .' or set LOSSKIT_LIBRARY to the library's path."
    )


lib, library_path = _load()

_vp = ctypes.c_void_p
_cp = ctypes.c_char_p
_int = ctypes.c_int
_size = ctypes.c_size_t
_tensors = ctypes.POINTER(Tensor)


def _prototype(name, restype, *argtypes):
    function = getattr(lib, name)
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


lk_version = _prototype("lk_version", _cp)
lk_last_error = _prototype("lk_last_error", _cp)
lk_status_name = _prototype("lk_status_name", _cp, _int)
lk_registry_json = _prototype("lk_registry_json", _cp)
lk_loss_find = _prototype("lk_loss_find", _vp, _cp)
lk_params_create = _prototype("lk_params_create", _int, _vp, ctypes.POINTER(_vp))
lk_params_destroy = _prototype("lk_params_destroy", None, _vp)
lk_params_clone = _prototype("lk_params_clone", _vp, _vp)
lk_params_set = _prototype("lk_params_set", _int, _vp, _cp, _cp)
lk_params_parse = _prototype("lk_params_parse", _int, _vp, _cp)
lk_params_set_floats = _prototype(
    "lk_params_set_floats", _int, _vp, _cp, ctypes.POINTER(ctypes.c_double), _size
)
lk_params_get = _prototype("lk_params_get", _int, _vp, _cp, _cp, _size)
lk_loss_output_shape = _prototype(
    "lk_loss_output_shape", _int, _vp, _vp, _tensors, _size, ctypes.POINTER(Tensor)
)
lk_loss_compute = _prototype(
    "lk_loss_compute", _int, _vp, _vp, _tensors, _size, ctypes.POINTER(Tensor), _tensors, _vp
)
lk_loss_compute_upstream = _prototype(
    "lk_loss_compute_upstream", _int, _vp, _vp, _tensors, _size, ctypes.POINTER(Tensor), _tensors,
    ctypes.POINTER(Tensor), _vp
)
lk_context_create = _prototype("lk_context_create", _int, _int, ctypes.POINTER(_vp))
lk_context_destroy = _prototype("lk_context_destroy", None, _vp)
lk_context_threads = _prototype("lk_context_threads", _int, _vp)
lk_loss_has_stats = _prototype("lk_loss_has_stats", _int, _vp)
lk_loss_stats_shape = _prototype(
    "lk_loss_stats_shape", _int, _vp, _vp, _tensors, _size, ctypes.POINTER(Tensor)
)
lk_loss_stats = _prototype("lk_loss_stats", _int, _vp, _vp, _tensors, _size, ctypes.POINTER(Tensor), _vp)
lk_loss_finalize_shape = _prototype(
    "lk_loss_finalize_shape", _int, _vp, _vp, ctypes.POINTER(Tensor), ctypes.POINTER(Tensor)
)
lk_loss_finalize = _prototype(
    "lk_loss_finalize", _int, _vp, _vp, ctypes.POINTER(Tensor), ctypes.POINTER(Tensor), ctypes.POINTER(Tensor)
)
lk_loss_backward = _prototype(
    "lk_loss_backward", _int, _vp, _vp, _tensors, _size, ctypes.POINTER(Tensor), _tensors, _vp
)

_spacing = ctypes.POINTER(ctypes.c_double)
lk_edt = _prototype("lk_edt", _int, ctypes.POINTER(Tensor), _int, _spacing, ctypes.POINTER(Tensor), _vp)
lk_sdf = _prototype("lk_sdf", _int, ctypes.POINTER(Tensor), _int, _spacing, _int, ctypes.POINTER(Tensor), _vp)
lk_sdf_kind_name = _prototype("lk_sdf_kind_name", _cp, _int)

lk_metric_name = _prototype("lk_metric_name", _cp, _int)


class MetricOptions(ctypes.Structure):
    """struct lk_metric_options."""

    _fields_ = [
        ("include_background", ctypes.c_int),
        ("surface", ctypes.c_int),
        ("percentile", ctypes.c_double),
        ("percentile_rule", ctypes.c_int),
        ("assd_rule", ctypes.c_int),
        ("nsd_tolerance", ctypes.c_double),
        ("nsd_tolerances", _spacing),
        ("empty_overlap", ctypes.c_double),
    ]


lk_metric_options_default = _prototype("lk_metric_options_default", None, ctypes.POINTER(MetricOptions))
lk_metrics_compute = _prototype(
    "lk_metrics_compute", _int, ctypes.POINTER(Tensor), ctypes.POINTER(Tensor), _int, _spacing,
    ctypes.POINTER(MetricOptions), ctypes.POINTER(_int), _size, _tensors, ctypes.POINTER(Tensor), _vp
)

# the beta schedules of the smooth L1 losses
_double_p = ctypes.POINTER(ctypes.c_double)
lk_dynamic_beta_statistic = _prototype(
    "lk_dynamic_beta_statistic", _int, ctypes.POINTER(Tensor), ctypes.c_int64, _double_p
)
lk_dynamic_beta_update = _prototype(
    "lk_dynamic_beta_update", _int, _double_p, _size, ctypes.c_double, ctypes.c_double, _double_p
)


class SelfAdjustingState(ctypes.Structure):
    """struct lk_self_adjusting_state."""

    _fields_ = [
        ("n_features", ctypes.c_int64),
        ("momentum", ctypes.c_double),
        ("beta_max", ctypes.c_double),
        ("running_mean", ctypes.c_void_p),
        ("running_var", ctypes.c_void_p),
    ]


_state_p = ctypes.POINTER(SelfAdjustingState)
lk_self_adjusting_init = _prototype(
    "lk_self_adjusting_init", _int, _state_p, ctypes.c_int64, ctypes.c_double, ctypes.c_double, _vp, _vp
)
lk_self_adjusting_update = _prototype(
    "lk_self_adjusting_update", _int, _state_p, ctypes.POINTER(Tensor), ctypes.POINTER(Tensor)
)
lk_self_adjusting_beta = _prototype("lk_self_adjusting_beta", _int, _state_p, _double_p)


class InputInfo(ctypes.Structure):
    """struct lk_input_info."""

    _fields_ = [
        ("name", _cp),
        ("doc", _cp),
        ("dtypes", ctypes.c_uint),
        ("shape", _int),
        ("domain", _int),
        ("differentiable", _int),
    ]


lk_loss_name = _prototype("lk_loss_name", _cp, _vp)
lk_compound_parse = _prototype("lk_compound_parse", _int, _cp, ctypes.POINTER(_vp))
lk_compound_destroy = _prototype("lk_compound_destroy", None, _vp)
lk_compound_term_count = _prototype("lk_compound_term_count", _size, _vp)
lk_compound_term_loss = _prototype("lk_compound_term_loss", _vp, _vp, _size)
lk_compound_term_params = _prototype("lk_compound_term_params", _vp, _vp, _size)
lk_compound_term_weight = _prototype("lk_compound_term_weight", ctypes.c_double, _vp, _size)
lk_compound_input_count = _prototype("lk_compound_input_count", _size, _vp)
lk_compound_input = _prototype("lk_compound_input", ctypes.POINTER(InputInfo), _vp, _size)
lk_compound_output_shape = _prototype(
    "lk_compound_output_shape", _int, _vp, _tensors, _size, ctypes.POINTER(Tensor)
)
lk_compound_compute = _prototype(
    "lk_compound_compute", _int, _vp, _tensors, _size, ctypes.POINTER(Tensor), _tensors, _vp
)


class InverseFormWeights(ctypes.Structure):
    """struct lk_inverse_form_weights."""

    _fields_ = [
        ("dtype", ctypes.c_int),
        ("tile_size", ctypes.c_int64),
        ("hidden1", ctypes.c_int64),
        ("hidden2", ctypes.c_int64),
        ("outputs", ctypes.c_int64),
        ("layers", Tensor * 6),
    ]


_weights_p = ctypes.POINTER(InverseFormWeights)
lk_inverse_form_weights_load = _prototype(
    "lk_inverse_form_weights_load", _int, _cp, ctypes.POINTER(_weights_p)
)
lk_inverse_form_weights_free = _prototype("lk_inverse_form_weights_free", None, _weights_p)
