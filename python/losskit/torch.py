"""PyTorch modules over losskit: one ``torch.nn.Module`` per loss of the registry.

    import losskit.torch as lkt
    criterion = lkt.FocalLoss(gamma=2.0, alpha=[0.25], ignore_index=255)
    loss = criterion(logits, labels)          # logits (N, C, *spatial), labels (N, *spatial)
    loss.backward()                           # the gradient computed by the C library

Classes are generated from the registry: the name ``cross_entropy`` becomes
``CrossEntropyLoss``, and the constructor takes the registry's parameters, in
its order, as keywords (``weight``, ``ignore_index``, ``label_smoothing``,
``reduction``, ... as PyTorch spells them). ``help(lkt.FocalLoss)`` shows the
formula, the reference, the conventions and every parameter with its default
and valid range. ``lkt.loss("focal", gamma=2)`` builds one by name.

The forward pass computes the loss and its gradient together (one pass over
the data); backward scales the stored gradient by the incoming one. Tensors
must be on the CPU; predictions float32 or float64. The computation uses
``torch.get_num_threads()`` threads unless LOSSKIT_NUM_THREADS or
``losskit.set_num_threads`` says otherwise; results are bit-identical for any
thread count.
"""

from __future__ import annotations

import inspect
import os
from typing import Any, Dict, List, Optional

import numpy as np
import torch

import losskit
from losskit import Compound, Loss, LosskitError, _native

__all__ = ["CompoundLoss", "LossModule", "combine", "loss"]

_DTYPES = {
    torch.float32: _native.F32,
    torch.float64: _native.F64,
    torch.uint8: _native.U8,
    torch.int32: _native.I32,
    torch.int64: _native.I64,
}
_TORCH_DTYPES = {code: dtype for dtype, code in _DTYPES.items()}


# Read once, as the library's default context reads it once.
_THREADS_FROM_ENVIRONMENT = bool(os.environ.get("LOSSKIT_NUM_THREADS"))


def _threads() -> Optional[int]:
    explicit = losskit._default_threads()
    if explicit is not None:
        return explicit
    if _THREADS_FROM_ENVIRONMENT:
        return None  # the library's default context uses the variable
    return torch.get_num_threads()


def _prepare(tensor: Any, slot: Dict[str, Any], loss_name: str) -> torch.Tensor:
    """A detached, contiguous CPU view of an input, in a dtype the library reads."""
    if not isinstance(tensor, torch.Tensor):
        tensor = torch.as_tensor(tensor)
    if tensor.device.type != "cpu":
        raise LosskitError(
            f"loss '{loss_name}': input '{slot['name']}' is on {tensor.device}; losskit runs on the CPU",
            "LK_EINVAL",
        )
    if tensor.dtype == torch.bool:
        tensor = tensor.view(torch.uint8)
    elif tensor.dtype not in _DTYPES:
        raise LosskitError(
            f"loss '{loss_name}': input '{slot['name']}' has dtype {tensor.dtype}; losskit takes "
            + ", ".join(slot["dtypes"]),
            "LK_EDTYPE",
        )
    return tensor.detach().contiguous()


def _fill(slot: "_native.Tensor", tensor: torch.Tensor) -> None:
    losskit._fill(slot, tensor.data_ptr(), _DTYPES[tensor.dtype], tensor.shape)


def _run(runner: "Loss | Compound", tensors: List[torch.Tensor], wanted: List[bool],
         upstream: Optional[torch.Tensor] = None):
    """The loss tensor and one gradient per input (None where not wanted); with
    upstream (float64, the loss's shape), the gradients of sum(upstream * loss)."""
    inputs = (_native.Tensor * len(tensors))()
    for slot, tensor in zip(inputs, tensors):
        _fill(slot, tensor)
    shape, dtype = runner.output_shape(inputs, tuple((t.shape, t.dtype) for t in tensors))
    value = torch.empty(shape, dtype=_TORCH_DTYPES[dtype])
    loss = _native.Tensor()
    _fill(loss, value)
    grads = (_native.Tensor * len(tensors))()
    gradients: List[Optional[torch.Tensor]] = [None] * len(tensors)
    for k, tensor in enumerate(tensors):
        if wanted[k]:
            gradients[k] = torch.empty_like(tensor)
            _fill(grads[k], gradients[k])
    weights = None
    if upstream is not None:
        weights = _native.Tensor()
        _fill(weights, upstream)
    runner.compute_raw(inputs, loss, grads, _threads(), weights)
    return value, gradients


class LossModule(torch.nn.Module):
    """Base of the generated loss modules; ``loss_name`` names the registry entry."""

    loss_name: str = ""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()
        runner = Loss(self.loss_name)
        names = runner.param_names
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} positional arguments")
        for name, value in zip(names, args):
            if name in kwargs:
                raise TypeError(f"{type(self).__name__} got multiple values for '{name}'")
            kwargs[name] = value
        object.__setattr__(self, "_runner", runner.set(**kwargs))

    @property
    def runner(self) -> Loss:
        """The underlying losskit.Loss (parameters live in the C library)."""
        return self.__dict__["_runner"]

    def _prepared(self, inputs) -> List[torch.Tensor]:
        runner = self.__dict__["_runner"]
        if len(inputs) != len(runner.input_names):
            names = ", ".join(runner.input_names)
            raise TypeError(f"{type(self).__name__} takes {len(runner.input_names)} inputs ({names}); got {len(inputs)}")
        return [_prepare(t, s, self.loss_name) for t, s in zip(inputs, runner.info["inputs"])]

    def forward(self, *inputs: Any) -> torch.Tensor:
        runner = self.__dict__["_runner"]
        prepared = self._prepared(inputs)
        if runner.info["stats"] and runner.get("reduction") == "none":
            # one value per term: weighing the terms needs the statistics path
            return _StatsFunction.apply(runner, prepared, _stats_of(runner, prepared), 0, *inputs)
        # Autograd sees the inputs as given (its graph edges); the library reads the
        # prepared (detached, contiguous) views.
        return _LossFunction.apply(runner, prepared, *inputs)

    # the statistics API (losses built on per-class sums) ------------------
    def stats(self, *inputs: Any) -> torch.Tensor:
        """The per-image, per-class sums of these images: float64 (N, C, K), no
        gradient. Gather every worker's along axis 0, in image order (for
        instance with torch.distributed.all_gather), and pass the result to
        ``loss_from_stats``."""
        self._require_stats()
        return _stats_of(self.__dict__["_runner"], self._prepared(inputs))

    def loss_from_stats(self, *inputs: Any, stats: torch.Tensor, first_image: int = 0) -> torch.Tensor:
        """The loss of the whole batch whose gathered stats are ``stats`` (N, C, K),
        differentiable with respect to the local ``inputs``, which are the images
        ``first_image`` to ``first_image + len(input) - 1`` of that batch. The
        value equals one call on the whole batch, bit for bit, and the gradient
        is the whole batch's loss's gradient with respect to the local inputs.
        (With DistributedDataParallel, which averages gradients over the
        workers, multiply the loss by the world size.)"""
        runner = self.__dict__["_runner"]
        self._require_stats()
        prepared = self._prepared(inputs)
        stats = torch.as_tensor(stats).detach().to(device="cpu", dtype=torch.float64).contiguous()
        rows = prepared[0].shape[0]
        if stats.dim() != 3 or not 0 <= first_image <= stats.shape[0] - rows:
            raise LosskitError(
                f"loss '{runner.name}': stats of shape {tuple(stats.shape)} have no rows "
                f"[{first_image}, {first_image + rows}) for the {rows} local images",
                "LK_ESHAPE",
            )
        return _StatsFunction.apply(runner, prepared, stats, int(first_image), *inputs)

    def _require_stats(self) -> None:
        if not self.__dict__["_runner"].info["stats"]:
            raise LosskitError(f"loss '{self.loss_name}' has no statistics API (it is not built on "
                               "per-class sums)", "LK_EINVAL")

    def extra_repr(self) -> str:
        return self.runner.spec()

    def __getattr__(self, name: str) -> Any:
        runner = self.__dict__.get("_runner")
        if runner is not None and name in runner.param_names:
            return runner.get(name)
        return super().__getattr__(name)

    def __setattr__(self, name: str, value: Any) -> None:
        runner = self.__dict__.get("_runner")
        if runner is not None and name in runner.param_names:
            runner.set(**{name: value})
        else:
            super().__setattr__(name, value)


class _LossFunction(torch.autograd.Function):
    """Forward computes the loss and its gradients in one library call; backward
    scales the stored gradients by the incoming gradient."""

    @staticmethod
    def forward(ctx, runner: Loss, prepared: List[torch.Tensor], *originals: torch.Tensor) -> torch.Tensor:
        wanted = ctx.needs_input_grad[2:]
        _refuse_missing_gradients(runner, wanted)
        value, gradients = _run(runner, prepared, wanted)
        ctx.slots = [k for k, g in enumerate(gradients) if g is not None]
        ctx.save_for_backward(*[g for g in gradients if g is not None])
        ctx.n_inputs = len(originals)
        ctx.item_axes = _item_axes(runner)
        # the losses whose "none" elements are coupled across inputs are weighed by
        # the library itself (one more call), unless the incoming gradient is uniform
        ctx.coupled = (runner, prepared, wanted) if runner.info.get("upstream") and value.dim() > 0 else None
        return value

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        result: List[Optional[torch.Tensor]] = [None] * (2 + ctx.n_inputs)
        if ctx.coupled is not None and not _is_uniform(grad_output):
            runner, prepared, wanted = ctx.coupled
            upstream = grad_output.detach().to(torch.float64).contiguous()
            _, gradients = _run(runner, prepared, wanted, upstream)
            for k, gradient in enumerate(gradients):
                result[2 + k] = gradient
            return _first_derivatives_only(result)
        with torch.no_grad():
            for k, gradient in zip(ctx.slots, ctx.saved_tensors):
                if grad_output.dim() == 0 or ctx.coupled is not None:  # uniform: scaled
                    scale = float(grad_output.reshape(-1)[0])
                    result[2 + k] = gradient if scale == 1.0 else gradient * scale
                elif ctx.item_axes is not None:  # one loss per batch item (N,): along its axis
                    shape = [1] * gradient.dim()
                    shape[ctx.item_axes[k]] = -1
                    result[2 + k] = gradient * grad_output.reshape(shape)
                elif grad_output.dim() == gradient.dim():  # one loss per element
                    result[2 + k] = gradient * grad_output
                else:  # one loss per pixel (N, *spatial): broadcast over the classes
                    result[2 + k] = gradient * grad_output.unsqueeze(1)
        return _first_derivatives_only(result)


def _item_axes(runner: Loss) -> Optional[List[int]]:
    """For a loss with one value per batch item (output "per_item"), the batch
    axis of each input: 1 in a (T, N, C) sequence, else 0; None otherwise."""
    if runner.info.get("output") != "per_item":
        return None
    return [1 if slot["shape"] == "sequence_scores" else 0 for slot in runner.info["inputs"]]


def _is_uniform(grad_output: torch.Tensor) -> bool:
    return grad_output.dim() == 0 or bool(torch.all(grad_output == grad_output.reshape(-1)[0]))


def _refuse_missing_gradients(runner: Loss, wanted) -> None:
    """Raises if autograd wants the gradient of an input the loss has none for."""
    for k, differentiable in enumerate(runner.differentiable):
        if wanted[k] and not differentiable:
            raise LosskitError(
                f"loss '{runner.name}' has no gradient for input '{runner.input_names[k]}'; "
                f"pass it detached (requires_grad=False)",
                "LK_EINVAL",
            )


def _first_derivatives_only(result: List[Optional[torch.Tensor]]):
    """The backward pass's result; under create_graph=True each gradient is
    wrapped so that a second derivative raises instead of being a silent 0."""
    if torch.is_grad_enabled():
        result = [None if r is None else _NoSecondDerivative.apply(r.detach().requires_grad_()) for r in result]
    return tuple(result)


def _stats_of(runner: Loss, prepared: List[torch.Tensor]) -> torch.Tensor:
    return torch.from_numpy(runner.stats(*[t.numpy() for t in prepared], threads=_threads()))


class _StatsFunction(torch.autograd.Function):
    """A region loss from the whole batch's stats: forward finalizes them;
    backward weighs the local images' rows of d loss / d stats by the incoming
    gradient (each term's derivative lies in the rows of the sums it reads)
    and runs the library's backward pass over the local inputs."""

    @staticmethod
    def forward(ctx, runner: Loss, prepared: List[torch.Tensor], stats: torch.Tensor, first_image: int,
                *originals: torch.Tensor) -> torch.Tensor:
        _refuse_missing_gradients(runner, ctx.needs_input_grad[4:])
        wanted = ctx.needs_input_grad[4]
        value_dtype = np.float32 if prepared[0].dtype == torch.float32 else np.float64
        value, ds = runner.finalize(stats.numpy(), grad=wanted, dtype=value_dtype)
        rows = prepared[0].shape[0]
        ctx.runner, ctx.prepared, ctx.n_inputs = runner, prepared, len(originals)
        ctx.ds = None if ds is None else ds[first_image:first_image + rows]
        return torch.from_numpy(np.array(value, dtype=value_dtype))

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        result: List[Optional[torch.Tensor]] = [None] * (4 + ctx.n_inputs)
        if ctx.ds is not None:
            ds = _weigh_terms(ctx.runner, ctx.ds, grad_output.detach().double().numpy())
            grads = ctx.runner.backward(*[t.numpy() for t in ctx.prepared], dloss_dstats=ds, threads=_threads())
            result[4] = torch.from_numpy(grads[0])
        return _first_derivatives_only(result)


def _weigh_terms(runner: Loss, ds: np.ndarray, upstream: np.ndarray) -> np.ndarray:
    """d (sum_t upstream_t loss_t) / d stats from d (sum_t loss_t) / d stats: the
    rows a term reads, scaled by its upstream gradient (the rule of
    lk_loss_finalize in include/losskit.h)."""
    if upstream.ndim == 0:
        return ds * upstream
    if runner.info["stats"] == "per_group":  # (N,): one term per image
        return ds * upstream[:, None, None]
    classes = ds.shape[1]
    weights = np.zeros(upstream.shape[:-1] + (classes,))  # (N, C), or (C,) with batch=true
    weights[..., classes - upstream.shape[-1]:] = upstream  # the kept classes are the last ones
    return ds * weights[..., None]


class _NoSecondDerivative(torch.autograd.Function):
    """Passes a gradient through; differentiating it again raises."""

    @staticmethod
    def forward(ctx, gradient: torch.Tensor) -> torch.Tensor:
        return gradient.view_as(gradient)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        raise RuntimeError(
            "losskit computes first derivatives only: the gradient of a losskit loss cannot be "
            "differentiated again (create_graph=True / double backward)"
        )


def _default_value(param: Dict[str, Any]) -> Any:
    return losskit._python_value(param, param["default"])


def _docstring(entry: Dict[str, Any]) -> str:
    lines = [
        entry["summary"] + ".",
        "",
        "    " + entry["formula"],
        "",
        "Reference: " + entry["reference"],
        "",
        "Conventions: " + entry["notes"],
        "",
        "Args:",
    ]
    for param in entry["params"]:
        valid = param.get("range") or " | ".join(param.get("choices", [])) or param["type"]
        lines.append(f"    {param['name']} ({param['type']}, default {param['default']}, valid {valid}): {param['doc']}")
    lines += ["", "Inputs of forward:"]
    for slot in entry["inputs"]:
        grad = "differentiable" if slot["differentiable"] else "no gradient"
        lines.append(f"    {slot['name']} ({', '.join(slot['dtypes'])}; {grad}): {slot['doc']}")
    return "\n".join(lines)


def _class_name(loss_name: str) -> str:
    return "".join(part.capitalize() for part in loss_name.split("_")) + "Loss"


def _make_class(entry: Dict[str, Any]) -> type:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        LossModule.__init__(self, *args, **kwargs)

    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    parameters += [
        inspect.Parameter(p["name"], inspect.Parameter.POSITIONAL_OR_KEYWORD, default=_default_value(p))
        for p in entry["params"]
    ]
    __init__.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    name = _class_name(entry["name"])
    __init__.__qualname__ = f"{name}.__init__"
    return type(name, (LossModule,), {"loss_name": entry["name"], "__doc__": _docstring(entry),
                                      "__init__": __init__, "__module__": __name__})


_CLASSES: Dict[str, type] = {}
for _entry in losskit.losses():
    _cls = _make_class(_entry)
    _CLASSES[_entry["name"]] = _cls
    globals()[_cls.__name__] = _cls
    __all__.append(_cls.__name__)
del _entry, _cls


def loss(name: str, **params: Any) -> LossModule:
    """The module of the registry loss `name`, e.g. ``loss("focal", gamma=2)``."""
    if name not in _CLASSES:
        losskit.loss_info(name)  # raises UnknownLossError listing the known names
    return _CLASSES[name](**params)


class InverseFormLoss(LossModule):
    """InverseForm (Borse et al., CVPR 2021) with its network's weights held by
    the module:

        criterion = lkt.InverseFormLoss("inversenet.lkif")      # or six arrays, or a state dict
        loss = criterion(edge_logits, edge_target)             # (N, 1, H, W) each
        loss.backward()

    ``weights``: a weight file (losskit.inverse_form; no weights ship with
    losskit: convert the authors' checkpoint with
    ``losskit.inverse_form.convert_checkpoint``), InverseFormWeights, six
    arrays (w1, b1, w2, b2, w3, b3), or an InverseNet state dict. They become
    the buffers w1 ... b3, not saved in the module's state_dict (they are the
    user's file, and 400 MB in the reference); ``.double()`` or ``.to()``
    converts them with the module, and they must have the input's dtype. With
    ``weights=None`` the module takes the eight inputs of the registry loss
    (input, target, w1, b1, w2, b2, w3, b3). The other arguments are the
    registry's parameters.

    """

    loss_name = "inverse_form"
    leading_arguments = ("weights",)

    def __init__(self, weights: Any = None, *args: Any, **kwargs: Any):
        LossModule.__init__(self, *args, **kwargs)
        object.__setattr__(self, "_holds_weights", weights is not None)
        if weights is not None:
            for name, array in zip(losskit.inverse_form.LAYER_NAMES, losskit.inverse_form.as_weights(weights)):
                self.register_buffer(name, torch.from_numpy(array), persistent=False)

    def forward(self, *inputs: Any) -> torch.Tensor:
        if self.__dict__["_holds_weights"]:
            if len(inputs) != 2:
                raise TypeError(f"InverseFormLoss with weights takes 2 inputs (input, target); got {len(inputs)}")
            inputs = inputs + tuple(getattr(self, name) for name in losskit.inverse_form.LAYER_NAMES)
        return LossModule.forward(self, *inputs)


def _inverse_form_signature() -> None:
    entry = losskit.loss_info("inverse_form")
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                  inspect.Parameter("weights", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)]
    parameters += [inspect.Parameter(p["name"], inspect.Parameter.POSITIONAL_OR_KEYWORD, default=_default_value(p))
                   for p in entry["params"]]
    InverseFormLoss.__init__.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    InverseFormLoss.__doc__ = InverseFormLoss.__doc__ + "\n" + _docstring(entry)


_inverse_form_signature()
_CLASSES["inverse_form"] = InverseFormLoss


class AdjustSmoothL1Loss(torch.nn.Module):
    """RetinaMask's self-adjusting smooth L1 loss (its AdjustSmoothL1Loss):
    each call first updates the running mean and unbiased variance of
    |input - target| per column (buffers ``running_mean``, starting at beta,
    and ``running_var``, at 0, float64) with ``momentum``, without gradient,
    then computes ``self_adjusting_smooth_l1`` with beta_j =
    clamp(running_mean_j - running_var_j, 1e-3, beta). input and target:
    (N, num_features). A batch of one row leaves the statistics as they are
    (RetinaMask skips the update when the batch variance is NaN).

    Args:
        num_features: columns (4 for box deltas).
        momentum: weight of each batch in the running statistics (0.1).
        beta: the initial running mean and the upper clip of beta (1/9).
        reduction, loss_weight: as ``SelfAdjustingSmoothL1Loss``.
    """

    def __init__(self, num_features: int, momentum: float = 0.1, beta: float = 1.0 / 9,
                 reduction: str = "mean", loss_weight: float = 1.0):
        super().__init__()
        self.num_features, self.momentum, self.beta = int(num_features), float(momentum), float(beta)
        self.register_buffer("running_mean", torch.empty(max(self.num_features, 1), dtype=torch.float64))
        self.register_buffer("running_var", torch.empty(max(self.num_features, 1), dtype=torch.float64))
        self._init_state()
        self.loss = loss("self_adjusting_smooth_l1", reduction=reduction, loss_weight=loss_weight)

    def _state(self):
        # the C state reads float64 arrays: buffers that .float() or .to() changed come back
        for name in ("running_mean", "running_var"):
            buffer = getattr(self, name)
            if buffer.dtype != torch.float64 or buffer.device.type != "cpu" or not buffer.is_contiguous():
                setattr(self, name, buffer.detach().to(device="cpu", dtype=torch.float64).contiguous())
        return _native.SelfAdjustingState(self.num_features, self.momentum, self.beta,
                                          self.running_mean.data_ptr(), self.running_var.data_ptr())

    def _init_state(self) -> None:
        state = _native.SelfAdjustingState()
        losskit._raise_for(_native.lk_self_adjusting_init(
            state, self.num_features, self.beta, self.momentum,
            self.running_mean.data_ptr(), self.running_var.data_ptr()))

    def current_beta(self) -> List[float]:
        """beta of each column from the running statistics."""
        return losskit.detection.state_beta(self._state(), self.num_features).tolist()

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            values = _prepare(input, {"name": "input", "dtypes": ["float32", "float64"]}, "self_adjusting_smooth_l1")
            targets = _prepare(target, {"name": "target", "dtypes": ["float32", "float64"]}, "self_adjusting_smooth_l1")
            losskit.detection.update_state(self._state(), values.numpy(), targets.numpy())
        self.loss.beta = self.current_beta()
        return self.loss(input, target)

    def extra_repr(self) -> str:
        return f"num_features={self.num_features}, momentum={self.momentum}, beta={self.beta}"


__all__.append("AdjustSmoothL1Loss")


class CompoundLoss(torch.nn.Module):
    """A weighted sum of registry losses from a spec, as a module:

        criterion = lkt.CompoundLoss("dice:smooth_nr=1 + 0.5*focal:gamma=2")
        criterion(logits, labels).backward()

    The value is sum_k weight_k loss_k, a scalar; the gradient, computed by
    the C library with the value, is the terms' gradients summed with the
    same weights. ``lkt.combine(spec)`` is the same. See losskit.Compound.
    """

    def __init__(self, spec: str):
        super().__init__()
        object.__setattr__(self, "_runner", Compound(spec))

    @property
    def runner(self) -> Compound:
        return self.__dict__["_runner"]

    @property
    def spec(self) -> str:
        return self.runner.spec

    def forward(self, *inputs: Any) -> torch.Tensor:
        runner = self.runner
        if len(inputs) != len(runner.input_names):
            raise TypeError(f"CompoundLoss('{runner.spec}') takes {len(runner.input_names)} inputs "
                            f"({', '.join(runner.input_names)}); got {len(inputs)}")
        prepared = [_prepare(t, slot, runner.spec) for t, slot in zip(inputs, runner.info["inputs"])]
        return _LossFunction.apply(runner, prepared, *inputs)

    def extra_repr(self) -> str:
        return repr(self.runner.spec)

    def __reduce__(self):
        return (CompoundLoss, (self.runner.spec,))


def combine(spec: str) -> CompoundLoss:
    """The module of a weighted sum of losses, e.g. ``combine("dice + 0.5*focal:gamma=2")``."""
    return CompoundLoss(spec)
