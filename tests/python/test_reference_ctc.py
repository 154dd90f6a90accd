"""CTC against torch.nn.functional.ctc_loss (value and gradient, every
reduction, padded and concatenated targets, blank other than 0, repeats,
empty targets, zero_infinity and impossible alignments, -inf log-probs,
float32) and against a brute-force sum over every alignment; errors name the
argument, the index and the value."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losskit
import losskit.torch as lkt


def random_case(generator, steps=15, batch=4, classes=6, longest=5, blank=0):
    logits = torch.randn(steps, batch, classes, generator=generator, dtype=torch.float64) * 2
    input_lengths = torch.randint(steps // 2, steps + 1, (batch,), generator=generator)
    target_lengths = torch.randint(0, longest + 1, (batch,), generator=generator)
    labels = (blank + 1 + torch.randint(0, classes - 1, (batch, longest), generator=generator)) % classes
    return logits, labels, input_lengths, target_lengths


def concatenate(labels, target_lengths):
    return torch.cat([labels[n, :int(length)] for n, length in enumerate(target_lengths)])


def ours_and_reference(logits, targets, input_lengths, target_lengths, **params):
    """(loss, d loss / d logits) through log_softmax, for losskit and for PyTorch."""
    results = []
    for fn in (lambda lp: lkt.CtcLoss(**params)(lp, targets, input_lengths, target_lengths),
               lambda lp: F.ctc_loss(lp, targets, input_lengths, target_lengths, **params)):
        x = logits.clone().requires_grad_()
        value = fn(torch.log_softmax(x, 2))
        value.sum().backward()
        results.append((value.detach(), x.grad))
    return results


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
@pytest.mark.parametrize("blank", [0, 3, 5])
def test_matches_pytorch_through_log_softmax(generator, reduction, layout, blank):
    logits, labels, input_lengths, target_lengths = random_case(generator, blank=blank)
    targets = labels if layout == "padded" else concatenate(labels, target_lengths)
    (value, grad), (ref_value, ref_grad) = ours_and_reference(
        logits, targets, input_lengths, target_lengths, blank=blank, reduction=reduction)
    torch.testing.assert_close(value, ref_value, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-8, atol=1e-10)


def test_gradient_is_the_partial_derivative_pytorch_adds_exp_lp_to(generator):
    """PyTorch's native backward returns exp(lp) - gamma for the steps each
    sequence reads; ours is -gamma, the partial derivative."""
    logits, labels, input_lengths, target_lengths = random_case(generator)
    log_probs = torch.log_softmax(logits, 2)
    x = log_probs.clone().requires_grad_()
    F.ctc_loss(x, labels, input_lengths, target_lengths, reduction="sum").backward()
    _, grads = losskit.Loss("ctc", reduction="sum")(log_probs.numpy(), labels.numpy(), input_lengths.numpy(),
                                                     target_lengths.numpy())
    read = (torch.arange(logits.shape[0])[:, None] < input_lengths[None, :]).double()[..., None]
    torch.testing.assert_close(torch.from_numpy(grads[0]), x.grad - log_probs.exp() * read, rtol=1e-9, atol=1e-12)


def brute_force_nll(log_probs, target, blank):
    """-log of the sum over every path of length T that collapses to target."""
    steps, classes = log_probs.shape
    total = []
    for path in itertools.product(range(classes), repeat=steps):
        collapsed = [k for i, k in enumerate(path) if k != blank and (i == 0 or k != path[i - 1])]
        if collapsed == list(target):
            total.append(sum(log_probs[t, k] for t, k in enumerate(path)))
    return -torch.logsumexp(torch.stack(total), 0) if total else torch.tensor(float("inf"), dtype=log_probs.dtype)


@pytest.mark.parametrize("target", [[1], [1, 1], [2, 1], [1, 2, 1], [2, 2, 2], []])
@pytest.mark.parametrize("blank", [0, 1])
def test_matches_a_sum_over_every_alignment(generator, target, blank):
    steps, classes = 6, 3
    target = [0 if k == blank else k for k in target]  # blank=1: its labels become 0
    log_probs = torch.randn(steps, 1, classes, generator=generator, dtype=torch.float64)
    log_probs = log_probs - 0.3  # not normalized: the loss does not normalize either
    x = log_probs.clone().requires_grad_()
    expected = brute_force_nll(x[:, 0], target, blank)
    expected.backward()
    expected = expected.detach()
    padded = torch.tensor([target + [0] * (3 - len(target))])
    value, grads = losskit.Loss("ctc", blank=blank, reduction="sum")(
        log_probs.numpy(), padded.numpy(), np.array([steps]), np.array([len(target)]))
    assert abs(float(value) - float(expected)) < 1e-12 * (1 + abs(float(expected)))
    torch.testing.assert_close(torch.from_numpy(grads[0]), x.grad, rtol=1e-10, atol=1e-13)


def test_impossible_alignments_and_zero_infinity():
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(4, 3, 5, generator=generator, dtype=torch.float64)
    log_probs = torch.log_softmax(logits, 2)
    # [1, 1, 1] needs 5 steps; [2, 3, 2, 3] and [1, 2, 3, 4] need 4
    targets = torch.tensor([[1, 1, 1, 0], [2, 3, 2, 3], [1, 2, 3, 4]])
    input_lengths, target_lengths = torch.tensor([4, 4, 4]), torch.tensor([3, 4, 4])
    for zero_infinity in (False, True):
        reference = F.ctc_loss(log_probs, targets, input_lengths, target_lengths, reduction="none",
                               zero_infinity=zero_infinity)
        value, grads = losskit.Loss("ctc", reduction="none", zero_infinity=zero_infinity)(
            log_probs.numpy(), targets.numpy(), input_lengths.numpy(), target_lengths.numpy())
        np.testing.assert_allclose(value, reference.numpy(), rtol=1e-12)
        assert np.all(grads[0][:, 0] == 0)  # PyTorch: NaN without zero_infinity, 0 with it
        assert np.all(np.isfinite(grads[0]))
    mean, _ = losskit.Loss("ctc")(log_probs.numpy(), targets.numpy(), input_lengths.numpy(), target_lengths.numpy())
    assert mean == np.inf


def test_empty_targets_short_inputs_and_zero_length_inputs(generator):
    log_probs = torch.log_softmax(torch.randn(5, 4, 4, generator=generator, dtype=torch.float64), 2)
    targets = torch.tensor([[1, 2], [3, 3], [1, 0], [2, 0]])
    input_lengths, target_lengths = torch.tensor([5, 3, 0, 0]), torch.tensor([0, 2, 0, 1])
    reference = F.ctc_loss(log_probs, targets, input_lengths, target_lengths, reduction="none")
    value, grads = losskit.Loss("ctc", reduction="none")(
        log_probs.numpy(), targets.numpy(), input_lengths.numpy(), target_lengths.numpy())
    np.testing.assert_allclose(value, reference.numpy(), rtol=1e-12)
    assert value[2] == 0 and value[3] == np.inf
    assert np.all(grads[0][3:, 1] == 0) and np.all(grads[0][:, 2:] == 0)


def test_minus_infinity_log_probs_are_probability_zero(generator):
    log_probs = torch.log_softmax(torch.randn(8, 2, 4, generator=generator, dtype=torch.float64), 2)
    log_probs[2, 0, 1] = -torch.inf
    log_probs[5, 1, 0] = -torch.inf
    targets, input_lengths, target_lengths = torch.tensor([[1, 2], [3, 1]]), torch.tensor([8, 8]), torch.tensor([2, 2])
    x = log_probs.clone().requires_grad_()
    reference = F.ctc_loss(x, targets, input_lengths, target_lengths, reduction="sum")
    reference.backward()
    value, grads = losskit.Loss("ctc", reduction="sum")(
        log_probs.numpy(), targets.numpy(), input_lengths.numpy(), target_lengths.numpy())
    assert abs(float(value) - float(reference)) < 1e-12 * float(reference)
    finite = torch.isfinite(log_probs)
    expected = torch.where(finite, x.grad - log_probs.exp(), torch.zeros(()))
    torch.testing.assert_close(torch.from_numpy(grads[0]), expected, rtol=1e-9, atol=1e-12)


def test_float32_matches_pytorch_float32(generator):
    logits, labels, input_lengths, target_lengths = random_case(generator, steps=40, batch=6, classes=12,
                                                                longest=12)
    (value, grad), (ref_value, ref_grad) = ours_and_reference(
        logits.float(), labels, input_lengths, target_lengths, reduction="mean")
    torch.testing.assert_close(value, ref_value, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-6)


def test_int32_lengths_and_tuples(generator):
    logits, labels, input_lengths, target_lengths = random_case(generator)
    log_probs = torch.log_softmax(logits, 2)
    a = lkt.CtcLoss()(log_probs, labels.int(), input_lengths.int(), target_lengths.int())
    b = lkt.CtcLoss()(log_probs, labels, tuple(input_lengths.tolist()), tuple(target_lengths.tolist()))
    assert torch.equal(a, b)


def test_reduction_none_backward_weighs_each_sequence(generator):
    logits, labels, input_lengths, target_lengths = random_case(generator)
    weights = torch.rand(logits.shape[1], generator=generator, dtype=torch.float64)
    grads = []
    for fn in (lkt.CtcLoss(reduction="none"), lambda *a: F.ctc_loss(*a, reduction="none")):
        x = logits.clone().requires_grad_()
        (fn(torch.log_softmax(x, 2), labels, input_lengths, target_lengths) * weights).sum().backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-8, atol=1e-12)


# ------------------------------------------------------------ errors


def error_of(log_probs, targets, input_lengths, target_lengths, **params):
    with pytest.raises(losskit.LosskitError) as caught:
        losskit.Loss("ctc", **params)(log_probs, targets, input_lengths, target_lengths)
    return caught.value


@pytest.fixture
def valid():
    log_probs = np.log(np.full((6, 2, 4), 0.25))
    return log_probs, np.array([[1, 2], [3, 0]]), np.array([6, 5]), np.array([2, 1])


@pytest.mark.parametrize("change,status,words", [
    (lambda a: a[2].__setitem__(1, 7), "LK_EVALUE", ["input_lengths", "[1]", "7", "[0, 6]"]),
    (lambda a: a[2].__setitem__(0, -1), "LK_EVALUE", ["input_lengths", "[0]", "-1"]),
    (lambda a: a[3].__setitem__(1, 3), "LK_EVALUE", ["target_lengths", "[1]", "3"]),
    (lambda a: a[1].__setitem__((0, 1), 4), "LK_EVALUE", ["targets", "[0, 1]", "4", "blank"]),
    (lambda a: a[1].__setitem__((0, 0), 0), "LK_EVALUE", ["targets", "[0, 0]", "= 0"]),
    (lambda a: a[0].__setitem__((3, 1, 2), np.nan), "LK_EVALUE", ["log_probs", "[3, 1, 2]", "nan"]),
    (lambda a: a[0].__setitem__((0, 0, 0), np.inf), "LK_EVALUE", ["log_probs", "[0, 0, 0]", "inf"]),
])
def test_bad_values_name_the_culprit(valid, change, status, words):
    arrays = [a.copy() for a in valid]
    change(arrays)
    error = error_of(*arrays)
    assert error.status == status
    for word in words:
        assert word in str(error), (word, str(error))


def test_padding_is_not_read(valid):
    log_probs, targets, input_lengths, target_lengths = valid
    targets = targets.copy()
    targets[1, 1] = -5  # beyond target_lengths[1] = 1
    losskit.Loss("ctc")(log_probs, targets, input_lengths, target_lengths)


def test_bad_shapes_and_parameters(valid):
    log_probs, targets, input_lengths, target_lengths = valid
    assert error_of(log_probs[0], targets, input_lengths, target_lengths).status == "LK_ESHAPE"
    error = error_of(log_probs, targets, input_lengths[:1], target_lengths)
    assert error.status == "LK_ESHAPE" and "input_lengths" in str(error) and "(2,)" in str(error)
    error = error_of(log_probs, targets[:1], input_lengths, target_lengths)
    assert error.status == "LK_ESHAPE" and "targets" in str(error)
    error = error_of(log_probs, np.array([1, 2, 3, 1]), input_lengths, target_lengths)
    assert error.status == "LK_ESHAPE" and "add up to 3" in str(error)
    error = error_of(log_probs, targets.astype(np.float32), input_lengths, target_lengths)
    assert error.status == "LK_EDTYPE" and "targets" in str(error)
    error = error_of(log_probs, targets, input_lengths, target_lengths, blank=4)
    assert error.status == "LK_EPARAM" and "blank" in str(error) and "4" in str(error)


@pytest.mark.parametrize("sharpness", [30.0, 300.0])
def test_confident_long_sequences_match_pytorch(generator, sharpness):
    """Peaked distributions over long sequences: probabilities of states far
    from the best alignment fall far below 1e-308 (where a plain linear-space
    recursion underflows); log-probabilities down to about -2000."""
    logits, labels, input_lengths, target_lengths = random_case(generator, steps=400, batch=3, classes=8,
                                                                longest=60)
    (value, grad), (ref_value, ref_grad) = ours_and_reference(
        logits * sharpness, labels, input_lengths, target_lengths, reduction="none")
    torch.testing.assert_close(value, ref_value, rtol=1e-11, atol=0)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-7, atol=1e-9)
