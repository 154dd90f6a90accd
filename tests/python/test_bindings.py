"""The Python package: registry access, the NumPy and PyTorch entry points,
parameters and their errors, threads, pickling, and a sweep over the registry
that runs torch.autograd.gradcheck on every loss through the module."""

from __future__ import annotations

import copy
import inspect
import io
import pickle

import numpy as np
import pytest
import torch

import losskit
import losskit.torch as lkt
from conftest import labels_for, logits_like, soft_targets


# ------------------------------------------------------------ inputs from the registry

def make_inputs(entry, loss, shape, dtype, generator, target_kind="labels"):
    """Valid inputs for any registry loss, one per slot (the Python twin of tests/c/cases.c)."""
    slots = entry["inputs"]
    if slots[0]["shape"] == "sequence_scores":
        return sequence_inputs(entry, loss, shape, dtype, generator, target_kind)
    if slots[0]["shape"] in ("embeddings", "views"):
        shape = embedding_shape(slots[0]["shape"], shape)
    probabilities = loss.get("activation") == "none" if "activation" in loss.params else False
    softmax = any(p["name"] == "activation" and "softmax" in p.get("choices", []) for p in entry["params"])
    if not probabilities:
        scores = logits_like(shape, dtype, generator)
    elif softmax:
        scores = torch.softmax(logits_like(shape, torch.float64, generator), 1).to(dtype)
    else:
        scores = (0.05 + 0.9 * torch.rand(shape, generator=generator, dtype=torch.float64)).to(dtype)
    inputs = [scores]
    layer_rows = 0  # the first dim of the last weight input (a dense network's layers)
    for slot in slots[1:]:
        if slot["shape"] in ("tile_pair_weight", "layer_weight", "layer_bias"):
            layer = network_layer(slot["shape"], layer_rows, dtype, generator)
            layer_rows = layer.shape[0] if layer.dim() == 2 else layer_rows
            inputs.append(layer)
        elif slot["shape"] == "keys":  # negatives: (M, D), or (N, 3, D) when paired
            paired = "negative_mode" in loss.params and loss.get("negative_mode") == "paired"
            keys = (shape[0], 3, shape[-1]) if paired else (shape[0] // 2 + 2, shape[-1])
            inputs.append((torch.rand(keys, generator=generator, dtype=torch.float64) * 4 - 2).to(dtype))
        elif slot["shape"] == "row_target":  # labels (N,), or a mask (N, N) of weights in [0, 1]
            if target_kind == "dense" and dtype_name(dtype) in slot["dtypes"]:
                inputs.append(torch.rand((shape[0], shape[0]), generator=generator, dtype=torch.float64).to(dtype))
            else:
                inputs.append(torch.randint(0, 3, (shape[0],), generator=generator))
        elif slot["shape"] in ("classifier_weight", "classifier_bias"):  # (K, D) or (K,), K = D = shape[1]
            size = (shape[1], shape[1]) if slot["shape"] == "classifier_weight" else (shape[1],)
            inputs.append((torch.rand(size, generator=generator, dtype=torch.float64) * 2 - 1).to(dtype))
        elif slot["shape"] == "scalar":  # a parameter-like input (the T-loss's nu)
            inputs.append((torch.rand((), generator=generator, dtype=torch.float64) * 3 - 1).to(dtype))
        elif slot["shape"] == "class_target" and slot["domain"] == "binary":  # an object mask
            inputs.append(labels_for(shape[:1] + (2,) + shape[2:], generator))
        elif slot["shape"] == "class_target":
            if target_kind == "dense" and dtype_name(dtype) in slot["dtypes"]:
                inputs.append(soft_targets(shape, dtype, generator))
            else:
                ignore = loss.get("ignore_index") if "ignore_index" in loss.params else None
                inputs.append(labels_for(shape, generator, ignore))
        elif slot["domain"] == "binary":  # a 0/1 mask
            inputs.append((torch.rand(shape, generator=generator) < 0.5).to(dtype))
        else:
            inputs.append(torch.rand(shape, generator=generator, dtype=torch.float64).to(dtype))
    return inputs


def network_layer(rule, rows, dtype, generator):
    """A layer of a small dense network, as tests/c/cases.c makes it: the first
    reads two 4 x 4 tiles into 12 units, each later one halves the width;
    values uniform in [-1, 1]."""
    shape = {"tile_pair_weight": (12, 2 * 4 * 4), "layer_weight": ((rows + 1) // 2, rows),
             "layer_bias": (rows,)}[rule]
    return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1).to(dtype)


def sequence_inputs(entry, loss, shape, dtype, generator, target_kind):
    """Inputs of a loss over label sequences (CTC): log-probs (T, N, C) from the
    last three dims of shape (T at least 6), lengths that always admit an
    alignment, and targets padded ("labels") or concatenated ("dense")."""
    steps, batch, classes = (max(shape[-3], 6), *shape[-2:]) if len(shape) >= 3 else (6, *shape)
    classes = max(classes, 2)
    blank = loss.get("blank")
    log_probs = torch.log_softmax(logits_like((steps, batch, classes), torch.float64, generator), 2).to(dtype)
    input_lengths = torch.randint(1, steps + 1, (batch,), generator=generator)
    target_lengths = torch.stack([torch.randint(0, int(n) // 2 + 1, (), generator=generator) for n in input_lengths])
    labels = (blank + 1 + torch.randint(0, classes - 1, (batch, steps // 2), generator=generator)) % classes
    if target_kind == "dense" and int(target_lengths.sum()) > 0:
        targets = torch.cat([labels[n, :int(length)] for n, length in enumerate(target_lengths)])
    else:
        targets = labels
    return [log_probs, targets, input_lengths, target_lengths]


def embedding_shape(rule, shape):
    """The embeddings made of a sweep shape (N, C, *spatial), as tests/c/cases.c
    makes them: N C rows (at most 300; 150 samples of ndim - 1 views) of D =
    the spatial size (C without spatial axes; at most 64)."""
    rows = shape[0] * shape[1]
    dim = min(int(np.prod(shape[2:])) if len(shape) > 2 else shape[1], 64)
    if rule == "embeddings":
        return (min(rows, 300), dim)
    return (min(rows, 150), len(shape) - 1, dim)


def dtype_name(dtype):
    return str(dtype).replace("torch.", "")


def sweep_cases():
    for entry in losskit.losses():
        for spec in entry["examples"]:
            yield pytest.param(entry["name"], spec, id=f"{entry['name']}[{spec}]")


# Finite-difference steps: 1e-6, except where rounding is amplified. RMI's loss
# is a log-det of covariances regularized by alpha = 5e-4; with ignored pixels
# (constant points) and tiny images (6 points) their condition is poor and the
# loss carries ~1e-13 relative noise: a step of 1e-6 turns that into 3e-7
# errors, 1e-5 into 1e-8; at 1e-4 the central difference agrees with the
# analytic gradient to 1e-9 (truncation is smaller still).
GRADCHECK_STEP = {"rmi": 1e-4}
# NT-Xent with reduction=sum and SupCon (T = 0.07 on unnormalized features)
# reach losses of ~1e2 here: their ~1e-14 rounding over a step of 1e-6 is
# ~1e-8, gradcheck's atol. A step of 1e-5 (truncation ~1e-10 at these
# curvatures) agrees with the analytic gradient with a margin.
# InverseForm with reduction=sum or none adds 108 tiles' norms to ~70: the
# same rounding over a step of 1e-6 reaches ~1e-8; 1e-5 keeps it 10x below.
for _name in ("nt_xent", "supervised_contrastive", "inverse_form"):
    GRADCHECK_STEP[_name] = 1e-5
# RMI on the tiny images of the other losses pools down to 2 points in 4
# dimensions: a degenerate covariance whose curvature defeats finite
# differences at any step. It is checked on a 12 x 13 image (the C sweep also
# probes it on the small ones, accepting one-sided differences at kinks).
GRADCHECK_SHAPES = {"rmi": [(1, 3, 12, 13)]}
# The boundary losses take 2-D images and 3-D volumes only.
for _name in ("hausdorff_erosion", "boundary_dou"):
    GRADCHECK_SHAPES[_name] = [(2, 3, 4, 3), (1, 3, 3, 4, 3)]
# The conditional boundary losses take 2-D feature maps; 7 x 6 has pixels 2 from the edge.
for _name in ("conditional_boundary", "conditional_boundary_map"):
    GRADCHECK_SHAPES[_name] = [(2, 3, 4, 3), (2, 3, 7, 6)]


@pytest.mark.parametrize("name,spec", list(sweep_cases()))
def test_gradcheck_through_the_module(name, spec, generator):
    entry = losskit.loss_info(name)
    module = lkt.loss(name)
    module.runner.set_spec(spec)
    differentiable = [slot["differentiable"] for slot in entry["inputs"]]
    checked = 0
    for shape in GRADCHECK_SHAPES.get(name, [(3, 3), (2, 3, 4, 3)]):
        for kind in ("labels", "dense"):
            inputs = make_inputs(entry, module.runner, shape, torch.float64, generator, kind)
            if not takes_shape(module.runner, inputs):
                continue  # a shape the loss does not take (the distance-map losses need a spatial axis)
            checked += 1
            leaves = [t.requires_grad_(True) for t, d in zip(inputs, differentiable) if d]

            def loss_of(*args):
                given = iter(args)
                return module(*[next(given) if d else t for t, d in zip(inputs, differentiable)])

            assert torch.autograd.gradcheck(loss_of, tuple(leaves), eps=GRADCHECK_STEP.get(name, 1e-6), atol=1e-8,
                                            rtol=1e-6)
    assert checked > 0


def test_coupled_outputs_take_an_upstream_gradient():
    """Losses whose reduction-none elements each read many inputs (per anchor,
    per class term) must weigh their gradient in the library: the torch
    binding only scales their stored gradient, or calls
    lk_loss_compute_upstream."""
    coupled = [entry for entry in losskit.losses() if entry["output"] in ("per_anchor", "per_class")]
    assert len(coupled) >= 5
    for entry in coupled:
        assert entry["upstream"], entry["name"]


def takes_shape(loss, inputs):
    """Whether the loss accepts inputs of these shapes (LK_ESHAPE: it does not)."""
    try:
        _, tensors = loss._inputs([t.detach().numpy() for t in inputs])
        loss.output_shape(tensors)
    except losskit.LosskitError as error:
        if error.status == "LK_ESHAPE":
            return False
        raise
    return True


@pytest.mark.parametrize("name,spec", list(sweep_cases()))
def test_numpy_and_torch_give_the_same_bits(name, spec, generator):
    entry = losskit.loss_info(name)
    loss = losskit.Loss(name).set_spec(spec)
    inputs = make_inputs(entry, loss, (2, 3, 12, 13), torch.float32, generator)
    value, grads = loss(*[t.numpy() for t in inputs])
    module = lkt.loss(name)
    module.runner.set_spec(spec)
    leaves = [t.clone().requires_grad_(slot["differentiable"]) for t, slot in zip(inputs, entry["inputs"])]
    out = module(*leaves)
    out.sum().backward()
    assert np.array_equal(np.asarray(value), out.detach().numpy())
    for leaf, gradient, slot in zip(leaves, grads, entry["inputs"]):
        if slot["differentiable"]:
            assert np.array_equal(gradient, leaf.grad.numpy())
        else:
            assert gradient is None


@pytest.mark.parametrize("name", [entry["name"] for entry in losskit.losses()])
def test_thread_count_does_not_change_bits(name, generator):
    entry = losskit.loss_info(name)
    loss = losskit.Loss(name)
    inputs = [t.numpy() for t in make_inputs(entry, loss, (3, 4, 90, 77), torch.float32, generator)]
    results = [loss(*inputs, threads=threads) for threads in (1, 2, 5)]
    for value, grads in results[1:]:
        assert np.array_equal(value, results[0][0])
        for gradient, first in zip(grads, results[0][1]):
            assert (gradient is None and first is None) or np.array_equal(gradient, first)


# ------------------------------------------------------------ registry and classes

def test_registry_lists_the_losses():
    names = [entry["name"] for entry in losskit.losses()]
    assert names[:6] == ["cross_entropy", "weighted_cross_entropy", "topk_cross_entropy", "focal",
                         "binary_cross_entropy", "sigmoid_focal"]
    info = losskit.loss_info("focal")
    gamma = next(p for p in info["params"] if p["name"] == "gamma")
    assert gamma == {"name": "gamma", "type": "float", "default": "2", "min": 0, "max": None, "range": "[0, inf)",
                     "doc": gamma["doc"]}
    with pytest.raises(losskit.UnknownLossError, match="known: cross_entropy"):
        losskit.loss_info("dice_typo")
    assert losskit.__version__ == "0.1.0"


def test_parameter_names_are_python_keywords():
    import keyword

    for entry in losskit.losses():
        for param in entry["params"]:
            name = param["name"]
            assert name.isidentifier() and not keyword.iskeyword(name), f"{entry['name']}: '{name}'"


def test_generated_classes_follow_the_registry():
    for entry in losskit.losses():
        cls = getattr(lkt, "".join(p.capitalize() for p in entry["name"].split("_")) + "Loss")
        assert issubclass(cls, torch.nn.Module) and cls.loss_name == entry["name"]
        signature = inspect.signature(cls)
        # a module holding part of its inputs (InverseFormLoss's network) takes them first
        leading = list(getattr(cls, "leading_arguments", ()))
        assert list(signature.parameters) == leading + [p["name"] for p in entry["params"]]
        assert entry["formula"] in cls.__doc__ and entry["reference"] in cls.__doc__
    signature = inspect.signature(lkt.CrossEntropyLoss)
    assert signature.parameters["ignore_index"].default == -100
    assert signature.parameters["label_smoothing"].default == 0.0
    assert signature.parameters["reduction"].default == "mean"
    assert signature.parameters["weight"].default is None


def test_pytorch_keywords_and_positional_weight():
    weight = torch.tensor([1.0, 2.0, 3.0])
    module = lkt.CrossEntropyLoss(weight, ignore_index=255, label_smoothing=0.1, reduction="sum")
    assert module.weight == [1.0, 2.0, 3.0]
    assert module.ignore_index == 255 and module.label_smoothing == 0.1 and module.reduction == "sum"
    assert "ignore_index=255" in repr(module)
    with pytest.raises(TypeError, match="multiple values"):
        lkt.CrossEntropyLoss(weight, weight=weight)


def test_parameters_are_checked_by_the_library():
    with pytest.raises(losskit.LosskitError, match=r"'gamma' = -1 is outside its valid range \[0, inf\)") as error:
        lkt.FocalLoss(gamma=-1)
    assert error.value.status == "LK_EPARAM"
    with pytest.raises(losskit.LosskitError, match="expects one of mean\\|sum\\|none"):
        lkt.FocalLoss(reduction="avg")
    with pytest.raises(losskit.LosskitError, match="has no parameter 'gama'"):
        lkt.FocalLoss(gama=2)
    module = lkt.FocalLoss()
    module.gamma = 3.5
    assert module.gamma == 3.5
    with pytest.raises(losskit.LosskitError):
        module.gamma = -2
    assert module.gamma == 3.5


def test_errors_name_the_culprit(generator):
    module = lkt.CrossEntropyLoss()
    logits = logits_like((2, 3, 4, 4), torch.float32, generator)
    labels = labels_for((2, 3, 4, 4), generator)
    labels[1, 2, 3] = 7
    with pytest.raises(losskit.LosskitError, match=r"target\[1, 2, 3\] = 7 is not a class index in \[0, 3\)"):
        module(logits, labels)
    with pytest.raises(losskit.LosskitError, match=r"input 'target' must be \(2, 4, 4\) or \(2, 1, 4, 4\)"):
        module(logits, labels[:, :3])
    with pytest.raises(losskit.LosskitError, match="dtype torch.float16"):
        module(logits.half(), labels)
    with pytest.raises(losskit.LosskitError, match="no gradient for input 'target'"):
        lkt.CrossEntropyLoss()(logits, soft_targets((2, 3, 4, 4), torch.float32, generator).requires_grad_(True))
    bad = logits.clone()
    bad[0, 1, 2, 2] = float("nan")
    with pytest.raises(losskit.LosskitError, match=r"input 'input'\[0, 1, 2, 2\] = nan"):
        lkt.CrossEntropyLoss()(bad, labels.clamp(0, 2))
    with pytest.raises(TypeError, match="takes 2 inputs"):
        module(logits)


def test_non_contiguous_and_bool_inputs(generator):
    logits = logits_like((2, 5, 6, 3), torch.float64, generator).transpose(2, 3)  # (2, 5, 3, 6), strided
    mask = torch.rand((2, 5, 3, 6), generator=generator) < 0.5
    leaf = logits.clone().requires_grad_(True)
    value = lkt.BinaryCrossEntropyLoss()(leaf.transpose(2, 3).transpose(2, 3), mask)
    value.backward()
    reference = torch.nn.functional.binary_cross_entropy_with_logits(logits, mask.double())
    assert torch.allclose(value, reference, rtol=1e-12)
    assert leaf.grad.shape == logits.shape


def test_reduction_none_backward_uses_the_incoming_gradient(generator):
    logits = logits_like((2, 3, 4, 5), torch.float64, generator).requires_grad_(True)
    labels = labels_for((2, 3, 4, 5), generator)
    weights = torch.rand((2, 4, 5), generator=generator, dtype=torch.float64)
    (lkt.FocalLoss(reduction="none")(logits, labels) * weights).sum().backward()
    ours = logits.grad.clone()
    logits.grad = None
    lp = torch.log_softmax(logits, 1).gather(1, labels.unsqueeze(1)).squeeze(1)
    ((-(1 - lp.exp()) ** 2 * lp) * weights).sum().backward()
    assert torch.allclose(ours, logits.grad, rtol=1e-12, atol=1e-15)
    scaled = logits.detach().clone().requires_grad_(True)
    (3.0 * lkt.FocalLoss()(scaled, labels)).backward()
    unit = logits.detach().clone().requires_grad_(True)
    lkt.FocalLoss()(unit, labels).backward()
    assert torch.allclose(scaled.grad, 3 * unit.grad, rtol=1e-15)


def test_double_backward_is_refused(generator):
    logits = logits_like((2, 3), torch.float64, generator).requires_grad_(True)
    value = lkt.CrossEntropyLoss()(logits, torch.tensor([0, 2]))
    (grad,) = torch.autograd.grad(value, logits, create_graph=True)
    assert torch.equal(grad.detach(), torch.autograd.grad(lkt.CrossEntropyLoss()(logits, torch.tensor([0, 2])), logits)[0])
    with pytest.raises(RuntimeError, match="first derivatives only"):  # not a silent zero
        (grad ** 2).sum().backward()


def test_threads_setting():
    assert losskit.get_num_threads() >= 1
    losskit.set_num_threads(2)
    assert losskit.get_num_threads() == 2
    with pytest.raises(losskit.LosskitError, match="n_threads"):
        losskit.set_num_threads(-3)
    losskit.set_num_threads(None)


def test_loss_objects_pickle_copy_and_save(generator):
    loss = losskit.Loss("focal", gamma=1.5, alpha=[0.25], reduction="sum")
    restored = pickle.loads(pickle.dumps(loss))
    assert restored.params == loss.params and repr(restored) == "Loss('focal', gamma=1.5,alpha=[0.25],reduction=sum)"
    module = lkt.TopkCrossEntropyLoss(k=25, ignore_index=3)
    clone = copy.deepcopy(module)
    buffer = io.BytesIO()
    torch.save(module, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert clone.k == 25 and loaded.k == 25 and loaded.ignore_index == 3
    assert losskit.Loss.from_spec("focal:gamma=3,reduction=none").params["gamma"] == 3.0


def test_numpy_entry_point(generator):
    logits = logits_like((4, 3), torch.float64, generator).numpy()
    labels = np.array([0, 2, 1, 1])
    value, (grad, no_grad) = losskit.compute("cross_entropy", logits, labels)
    assert isinstance(value, np.float64) and grad.shape == (4, 3) and no_grad is None
    value_only, grads = losskit.compute("cross_entropy", logits, labels, grad=False)
    assert value_only == value and grads == (None, None)
    with pytest.raises(losskit.LosskitError, match="dtype int16"):
        losskit.compute("cross_entropy", logits, labels.astype(np.int16))
    with pytest.raises(TypeError, match="takes 2 inputs"):
        losskit.compute("cross_entropy", logits)
