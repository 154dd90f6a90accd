"""The beta schedules of the smooth L1 losses: training state kept between steps.

``dynamic_smooth_l1`` and ``self_adjusting_smooth_l1`` take beta as a
parameter; these classes keep the state that gives it, as the papers' code
does, computed by the C library (``lk_dynamic_beta_*``,
``lk_self_adjusting_*`` in include/losskit.h):

    schedule = losskit.DynamicBeta()                       # Dynamic R-CNN
    loss = losskit.torch.DynamicSmoothL1Loss(beta=schedule.beta)
    for images, ... in data:
        ...                                                # targets of the positive boxes
        loss.beta = schedule.record(pos_bbox_targets, num_images=len(images))

    state = losskit.SelfAdjustingBeta(num_features=4)      # RetinaMask
    state.update(deltas, targets)                          # before each loss
    losskit.compute("self_adjusting_smooth_l1", deltas, targets, beta=state.beta)

(``losskit.torch.AdjustSmoothL1Loss`` is RetinaMask's module: the state in
buffers, updated on each call.) Arrays may be NumPy arrays or CPU tensors.
"""

from __future__ import annotations

import ctypes
from typing import Any, List

import numpy as np

from . import _native
from . import _fill_array, _raise_for

__all__ = ["DynamicBeta", "SelfAdjustingBeta"]


def _matrix(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    array = np.ascontiguousarray(value)
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    return array


def _tensor(array: np.ndarray) -> "_native.Tensor":
    tensor = _native.Tensor()
    _fill_array(tensor, array)
    return tensor


class DynamicBeta:
    """Dynamic R-CNN's beta schedule (mmdetection's DynamicRoIHead): each
    iteration ``record`` takes the regression targets of the positive boxes
    and keeps the k-th smallest mean(|dx|, |dy|), k = min(beta_topk x images,
    positives); every ``update_iter_interval`` records, beta becomes
    min(initial_beta, median of the records) (unchanged if that median is
    below 1e-15) and the record is cleared. ``beta`` is the current value."""

    def __init__(self, initial_beta: float = 1.0, beta_topk: int = 10, update_iter_interval: int = 100):
        if not initial_beta > 0 or beta_topk < 1 or update_iter_interval < 1:
            raise ValueError("initial_beta must be > 0, beta_topk and update_iter_interval >= 1")
        self.initial_beta = float(initial_beta)
        self.beta_topk = int(beta_topk)
        self.update_iter_interval = int(update_iter_interval)
        self.beta = float(initial_beta)
        self.history: List[float] = []

    @staticmethod
    def statistic(targets: Any, k: int) -> float:
        """The k-th smallest (|t[i, 0]| + |t[i, 1]|) / 2 over the rows of targets (n, K >= 2)."""
        array = _matrix(targets)
        out = ctypes.c_double()
        _raise_for(_native.lk_dynamic_beta_statistic(ctypes.byref(_tensor(array)), int(k), ctypes.byref(out)))
        return out.value

    @staticmethod
    def updated_beta(history: Any, initial_beta: float, current_beta: float) -> float:
        """min(initial_beta, median(history)), or current_beta if the median is below 1e-15."""
        values = np.ascontiguousarray(history, dtype=np.float64).ravel()
        out = ctypes.c_double()
        pointer = values.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        _raise_for(_native.lk_dynamic_beta_update(pointer, values.size, initial_beta, current_beta,
                                                  ctypes.byref(out)))
        return out.value

    def record(self, targets: Any, num_images: int) -> float:
        """Records this iteration's statistic from the positives' regression
        targets (n_pos, 4), updates beta every update_iter_interval records,
        and returns the current beta. With no positive box the library raises
        (the reference's torch.kthvalue fails there too)."""
        array = _matrix(targets)
        k = min(self.beta_topk * int(num_images), array.shape[0] if array.ndim else 0)
        self.history.append(self.statistic(array, k))
        if len(self.history) % self.update_iter_interval == 0:
            self.beta = self.updated_beta(self.history, self.initial_beta, self.beta)
            self.history = []
        return self.beta


class SelfAdjustingBeta:
    """RetinaMask's self-adjusting smooth L1 state: running mean and unbiased
    variance of |input - target| per column (``running_mean`` starts at beta,
    ``running_var`` at 0), updated with ``momentum`` by ``update``;
    ``beta`` = clamp(running_mean - running_var, 1e-3, beta) per column. The
    arrays are float64 and may be saved and restored as they are."""

    def __init__(self, num_features: int, momentum: float = 0.1, beta: float = 1.0 / 9):
        self.num_features = int(num_features)
        self.momentum = float(momentum)
        self.beta_max = float(beta)
        self.running_mean = np.empty(max(self.num_features, 1))
        self.running_var = np.empty(max(self.num_features, 1))
        state = _native.SelfAdjustingState()
        _raise_for(_native.lk_self_adjusting_init(ctypes.byref(state), self.num_features, self.beta_max,
                                                  self.momentum, self.running_mean.ctypes.data,
                                                  self.running_var.ctypes.data))

    def _state(self) -> "_native.SelfAdjustingState":
        return _native.SelfAdjustingState(self.num_features, self.momentum, self.beta_max,
                                          self.running_mean.ctypes.data, self.running_var.ctypes.data)

    def update(self, input: Any, target: Any) -> None:
        """One step's update from (N, num_features) regression values and targets."""
        update_state(self._state(), _matrix(input), _matrix(target))

    @property
    def beta(self) -> np.ndarray:
        """The current beta of each column."""
        return state_beta(self._state(), self.num_features)


def update_state(state: "_native.SelfAdjustingState", input: np.ndarray, target: np.ndarray) -> None:
    """lk_self_adjusting_update on C-contiguous arrays."""
    _raise_for(_native.lk_self_adjusting_update(ctypes.byref(state), ctypes.byref(_tensor(input)),
                                                ctypes.byref(_tensor(target))))


def state_beta(state: "_native.SelfAdjustingState", n_features: int) -> np.ndarray:
    """lk_self_adjusting_beta as an array."""
    beta = np.empty(n_features)
    _raise_for(_native.lk_self_adjusting_beta(ctypes.byref(state),
                                              beta.ctypes.data_as(ctypes.POINTER(ctypes.c_double))))
    return beta
