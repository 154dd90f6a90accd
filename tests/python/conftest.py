"""Shared helpers of the Python tests: input generation from the registry,
tolerances, and the reference comparisons."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import losskit

# Agreement asked of every reference comparison: ~1e-6 relative in float32,
# 1e-12 in float64 (relative to the largest magnitude compared).
TOLERANCE = {torch.float32: 2e-6, torch.float64: 1e-12}


def assert_close(ours: torch.Tensor, reference: torch.Tensor, what: str = "") -> None:
    ours = torch.as_tensor(ours)
    reference = torch.as_tensor(reference).to(ours.dtype)
    assert ours.shape == reference.shape, f"{what}: shape {tuple(ours.shape)} != {tuple(reference.shape)}"
    scale = max(float(reference.abs().max()) if reference.numel() else 0.0, 1e-30)
    tolerance = TOLERANCE[ours.dtype] * max(scale, 1.0 if ours.dim() == 0 else scale)
    difference = float((ours.double() - reference.double()).abs().max()) if ours.numel() else 0.0
    assert difference <= tolerance, f"{what}: max |ours - reference| = {difference:.3g} > {tolerance:.3g}"


def value_and_grad(fn, logits: torch.Tensor, *rest):
    """fn(logits, *rest) and d/d logits, on a fresh leaf."""
    leaf = logits.detach().clone().requires_grad_(True)
    value = fn(leaf, *rest)
    value.sum().backward()
    return value.detach(), leaf.grad.detach()


def check_against(ours_fn, reference_fn, logits, *rest, what=""):
    """Value and input gradient of ours_fn equal those of reference_fn."""
    ours, ours_grad = value_and_grad(ours_fn, logits, *rest)
    reference, reference_grad = value_and_grad(reference_fn, logits, *rest)
    assert_close(ours, reference, f"{what} value")
    assert_close(ours_grad, reference_grad, f"{what} gradient")


SHAPES = [(4, 3), (2, 3, 17), (2, 4, 9, 11), (2, 3, 5, 6, 7)]


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(1234)


def logits_like(shape, dtype, generator, scale=3.0):
    return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1).mul(scale).to(dtype)


def labels_for(shape, generator, ignore_index=None, fraction_ignored=0.2):
    labels = torch.randint(0, shape[1], (shape[0],) + tuple(shape[2:]), generator=generator)
    if ignore_index is not None:
        mask = torch.rand(labels.shape, generator=generator) < fraction_ignored
        labels[mask] = ignore_index
    return labels


def soft_targets(shape, dtype, generator):
    raw = torch.rand(shape, generator=generator, dtype=torch.float64)
    raw[torch.rand(shape, generator=generator) < 0.3] = 0
    raw[:, 0] += 1e-3
    return (raw / raw.sum(1, keepdim=True)).to(dtype)
