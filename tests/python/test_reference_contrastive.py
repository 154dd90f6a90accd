"""The contrastive losses against their references: InfoNCE against the
info-nce-pytorch package (and its formula in plain torch, for the options the
package lacks), SupCon against the authors' SupConLoss and NT-Xent against
SimCLR's objective, both written here in plain torch with autograd. Value and
the gradient of every embedding input, every option, float32 and float64,
and bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from info_nce import info_nce as info_nce_package

import losskit
import losskit.torch as lkt
from conftest import assert_close

DTYPES = [torch.float64, torch.float32]


def embeddings(shape, dtype, generator, scale=1.0):
    return (torch.randn(shape, generator=generator, dtype=torch.float64) * scale).to(dtype)


def values_and_grads(fn, inputs, differentiable):
    """fn(*inputs) and the gradient of its sum w.r.t. each differentiable input."""
    leaves = [t.detach().clone().requires_grad_(d) for t, d in zip(inputs, differentiable)]
    value = fn(*leaves)
    value.sum().backward()
    return value.detach(), [leaf.grad for leaf, d in zip(leaves, differentiable) if d]


def check_against(ours, reference, inputs, differentiable, what):
    value, grads = values_and_grads(ours, inputs, differentiable)
    expected, expected_grads = values_and_grads(reference, [t.double() if t.is_floating_point() else t
                                                            for t in inputs], differentiable)
    assert_close(value, expected.to(value.dtype), f"{what} value")
    for k, (grad, expected_grad) in enumerate(zip(grads, expected_grads)):
        assert_close(grad, expected_grad.to(grad.dtype), f"{what} gradient {k}")


# ------------------------------------------------------------ InfoNCE (info-nce-pytorch)

def info_nce_formula(query, positive, negatives=None, temperature=0.1, reduction="mean", negative_mode="unpaired",
                     normalize=True):
    """The package's formula, with normalization optional (the package always normalizes)."""
    if normalize:
        query, positive = F.normalize(query, dim=-1), F.normalize(positive, dim=-1)
        negatives = None if negatives is None else F.normalize(negatives, dim=-1)
    if negatives is None:
        logits, labels = query @ positive.T, torch.arange(len(query))
    else:
        positive_logit = (query * positive).sum(1, keepdim=True)
        if negative_mode == "unpaired":
            negative_logits = query @ negatives.T
        else:
            negative_logits = torch.einsum("nd,nmd->nm", query, negatives)
        logits, labels = torch.cat([positive_logit, negative_logits], 1), torch.zeros(len(query), dtype=torch.long)
    return F.cross_entropy(logits / temperature, labels, reduction=reduction)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("negative_mode", ["unpaired", "paired"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_info_nce_matches_the_package(dtype, negative_mode, reduction, temperature, generator):
    n, m, d = 37, 23, 19
    negatives_shape = (m, d) if negative_mode == "unpaired" else (n, m, d)
    inputs = [embeddings((n, d), dtype, generator), embeddings((n, d), dtype, generator),
              embeddings(negatives_shape, dtype, generator)]
    module = lkt.InfoNceLoss(temperature=temperature, reduction=reduction, negative_mode=negative_mode)

    def package(q, p, k):
        return info_nce_package(q, p, k, temperature=temperature, reduction=reduction, negative_mode=negative_mode)

    check_against(module, package, inputs, [True] * 3, f"info_nce {negative_mode} {reduction}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_info_nce_in_batch_matches_the_package_without_negatives(dtype, reduction, generator):
    n, d = 41, 16
    inputs = [embeddings((n, d), dtype, generator), embeddings((n, d), dtype, generator)]
    module = lkt.InfoNceInBatchLoss(temperature=0.2, reduction=reduction)
    check_against(module, lambda q, p: info_nce_package(q, p, None, temperature=0.2, reduction=reduction),
                  inputs, [True, True], f"info_nce_in_batch {reduction}")


@pytest.mark.parametrize("negative_mode", ["unpaired", "paired", None])
def test_info_nce_without_normalization(negative_mode, generator):
    n, m, d = 20, 9, 7
    inputs = [embeddings((n, d), torch.float64, generator, 0.4), embeddings((n, d), torch.float64, generator, 0.4)]
    if negative_mode is None:
        module = lkt.InfoNceInBatchLoss(temperature=0.3, normalize=False)
    else:
        inputs.append(embeddings((m, d) if negative_mode == "unpaired" else (n, m, d), torch.float64, generator, 0.4))
        module = lkt.InfoNceLoss(temperature=0.3, normalize=False, negative_mode=negative_mode)

    def formula(*args):
        return info_nce_formula(*args, temperature=0.3, negative_mode=negative_mode or "unpaired", normalize=False)

    check_against(module, formula, inputs, [True] * len(inputs), f"info_nce raw {negative_mode}")


def test_info_nce_errors(generator):
    q, p = embeddings((4, 3), torch.float32, generator), embeddings((4, 3), torch.float32, generator)
    with pytest.raises(losskit.LosskitError, match=r"'negative_keys' must be \(M, D\) with negative_mode=unpaired"):
        lkt.InfoNceLoss()(q, p, embeddings((4, 2, 3), torch.float32, generator))
    with pytest.raises(losskit.LosskitError, match=r"'negative_keys' must be \(M, 3\) or \(4, M, 3\)"):
        lkt.InfoNceLoss()(q, p, embeddings((5, 2), torch.float32, generator))
    with pytest.raises(losskit.LosskitError, match=r"'query' must be \(N, D\)"):
        lkt.InfoNceInBatchLoss()(q.reshape(2, 2, 3), p.reshape(2, 2, 3))
    bad = p.clone()
    bad[2, 1] = float("inf")
    with pytest.raises(losskit.LosskitError, match=r"input 'positive_key'\[2, 1\] = inf"):
        lkt.InfoNceInBatchLoss()(q, bad)


# ------------------------------------------------------------ NT-Xent (SimCLR)

def simclr_objective(view1, view2, temperature=0.1):
    """google-research/simclr objective.py add_contrastive_loss (hidden_norm=True):
    the two views' cross-entropies over [logits_ab, logits_aa] with the
    self-similarity masked by -1e9, their means added."""
    h1, h2 = F.normalize(view1, dim=-1), F.normalize(view2, dim=-1)
    n = len(h1)
    large = 1e9 * torch.eye(n, dtype=h1.dtype)
    logits_aa = h1 @ h1.T / temperature - large
    logits_bb = h2 @ h2.T / temperature - large
    logits_ab, logits_ba = h1 @ h2.T / temperature, h2 @ h1.T / temperature
    labels = torch.arange(n)
    loss_a = F.cross_entropy(torch.cat([logits_ab, logits_aa], 1), labels)
    loss_b = F.cross_entropy(torch.cat([logits_ba, logits_bb], 1), labels)
    return loss_a + loss_b


def nt_xent_formula(view1, view2, temperature=0.1, normalize=True, reduction="mean"):
    """The 2N anchors' cross-entropies, self-similarity left out."""
    z = torch.cat([view1, view2])
    z = F.normalize(z, dim=-1) if normalize else z
    n = len(view1)
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(logits, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]), reduction=reduction)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_nt_xent_is_half_of_simclr(dtype, temperature, generator):
    n, d = 33, 24
    inputs = [embeddings((n, d), dtype, generator), embeddings((n, d), dtype, generator)]
    module = lkt.NtXentLoss(temperature=temperature)
    check_against(lambda a, b: 2 * module(a, b), lambda a, b: simclr_objective(a, b, temperature), inputs,
                  [True, True], "2 nt_xent mean vs SimCLR")
    summed = lkt.NtXentLoss(temperature=temperature, reduction="sum")
    check_against(lambda a, b: summed(a, b) / n, lambda a, b: simclr_objective(a, b, temperature), inputs,
                  [True, True], "nt_xent sum / N vs SimCLR")


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nt_xent_per_anchor(normalize, reduction, generator):
    n, d = 17, 5
    inputs = [embeddings((n, d), torch.float64, generator, 0.5), embeddings((n, d), torch.float64, generator, 0.5)]
    module = lkt.NtXentLoss(temperature=0.3, normalize=normalize, reduction=reduction)
    check_against(module, lambda a, b: nt_xent_formula(a, b, 0.3, normalize, reduction), inputs, [True, True],
                  f"nt_xent normalize={normalize} {reduction}")


def weighed(fn, weights):
    """sum(weights * fn(...)): the anchors' losses weighed one by one."""
    return lambda *args: (fn(*args) * weights).sum()


@pytest.mark.parametrize("name", ["info_nce", "info_nce_in_batch", "nt_xent", "supervised_contrastive"])
def test_weighted_anchors_match_autograd(name, generator):
    """reduction none, then a weighted sum: each anchor's loss reads every
    embedding, so the binding has the library weigh the anchors
    (lk_loss_compute_upstream) and the gradient is that of the weighted sum."""
    n, m, d = 9, 5, 4
    if name == "info_nce":
        inputs = [embeddings(s, torch.float64, generator) for s in ((n, d), (n, d), (m, d))]
        ours, reference = lkt.InfoNceLoss(reduction="none"), lambda *a: info_nce_formula(*a, reduction="none")
    elif name == "info_nce_in_batch":
        inputs = [embeddings((n, d), torch.float64, generator) for _ in range(2)]
        ours, reference = lkt.InfoNceInBatchLoss(reduction="none"), lambda *a: info_nce_formula(*a, reduction="none")
    elif name == "nt_xent":
        inputs = [embeddings((n, d), torch.float64, generator) for _ in range(2)]
        ours, reference = lkt.NtXentLoss(reduction="none"), lambda *a: nt_xent_formula(*a, reduction="none")
    else:
        labels = torch.randint(0, 3, (n,), generator=generator)
        inputs = [unit_features((n, 2, d), torch.float64, generator)]
        module = lkt.SupervisedContrastiveLoss(reduction="none")
        ours = lambda f: module(f, labels)  # noqa: E731
        reference = lambda f: supcon_formula(f, labels, reduction="none")  # noqa: E731
    shape = ours(*inputs).shape
    weights = torch.rand(shape, generator=generator, dtype=torch.float64) * 3 - 1
    check_against(weighed(ours, weights), weighed(reference, weights), inputs, [True] * len(inputs),
                  f"{name} weighted anchors")
    # a uniform incoming gradient (the mean of the anchors) takes the stored gradient
    check_against(lambda *a: ours(*a).mean(), lambda *a: reference(*a).mean(), inputs, [True] * len(inputs),
                  f"{name} mean of the anchors")


# ------------------------------------------------------------ SupCon (HobbitLong/SupContrast)

def supcon_formula(features, labels=None, mask=None, temperature=0.07, contrast_mode="all", base_temperature=0.07,
                   reduction="mean"):
    """SupConLoss.forward of the authors' losses.py (the current version: an
    anchor without positives divides by 1), plus reduction sum / none over
    their loss.view(anchor_count, batch_size)."""
    batch, views = features.shape[:2]
    if labels is not None:
        mask = (labels.view(-1, 1) == labels.view(1, -1)).to(features.dtype)
    contrast = torch.cat(torch.unbind(features, dim=1), dim=0)
    anchor, anchor_count = (features[:, 0], 1) if contrast_mode == "one" else (contrast, views)
    logits = anchor @ contrast.T / temperature
    logits = logits - logits.max(dim=1, keepdim=True).values.detach()
    mask = mask.repeat(anchor_count, views)
    logits_mask = torch.ones_like(mask)
    logits_mask[torch.arange(batch * anchor_count), torch.arange(batch * anchor_count)] = 0
    mask = mask * logits_mask
    log_prob = logits - torch.log((torch.exp(logits) * logits_mask).sum(1, keepdim=True))
    positives = mask.sum(1)
    positives = torch.where(positives < 1e-6, torch.ones_like(positives), positives)
    loss = -(temperature / base_temperature) * (mask * log_prob).sum(1) / positives
    loss = loss.view(anchor_count, batch)
    return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[reduction]


def unit_features(shape, dtype, generator):
    return F.normalize(torch.randn(shape, generator=generator, dtype=torch.float64), dim=-1).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("contrast_mode", ["all", "one"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_supcon_matches_the_authors_with_labels(dtype, contrast_mode, reduction, generator):
    batch, views, d = 24, 2, 32
    features = unit_features((batch, views, d), dtype, generator)
    labels = torch.randint(0, 5, (batch,), generator=generator)
    labels[0] = 99  # a sample alone in its class: with one view it has no positive
    module = lkt.SupervisedContrastiveLoss(contrast_mode=contrast_mode, reduction=reduction)
    check_against(lambda f: module(f, labels),
                  lambda f: supcon_formula(f, labels, contrast_mode=contrast_mode, reduction=reduction),
                  [features], [True], f"supcon {contrast_mode} {reduction}")


@pytest.mark.parametrize("views", [1, 3])
@pytest.mark.parametrize("contrast_mode", ["all", "one"])
def test_supcon_with_a_mask_and_temperatures(views, contrast_mode, generator):
    batch, d = 15, 8
    features = unit_features((batch, views, d), torch.float64, generator)
    mask = (torch.rand((batch, batch), generator=generator, dtype=torch.float64) < 0.3).double()
    mask[3] = 0.0  # an anchor sample without positives
    mask[:, 5] *= 0.5  # soft, asymmetric weights
    module = lkt.SupervisedContrastiveLoss(temperature=0.5, base_temperature=0.2, contrast_mode=contrast_mode)
    check_against(lambda f: module(f, mask),
                  lambda f: supcon_formula(f, mask=mask, temperature=0.5, base_temperature=0.2,
                                           contrast_mode=contrast_mode),
                  [features], [True], f"supcon mask views={views} {contrast_mode}")


def test_supcon_normalize_option(generator):
    features = embeddings((10, 2, 6), torch.float64, generator, 3.0)
    labels = torch.randint(0, 3, (10,), generator=generator)
    module = lkt.SupervisedContrastiveLoss(normalize=True, temperature=0.2, base_temperature=0.2)
    check_against(lambda f: module(f, labels), lambda f: supcon_formula(F.normalize(f, dim=-1), labels, temperature=0.2,
                                                                        base_temperature=0.2),
                  [features], [True], "supcon normalize=true")


def test_supcon_simclr_mode_is_nt_xent(generator):
    """The authors' SimCLR mode (no labels: the identity mask) with T = T_base
    is NT-Xent's mean over the 2N anchors."""
    view1, view2 = embeddings((12, 5), torch.float64, generator), embeddings((12, 5), torch.float64, generator)
    supcon = lkt.SupervisedContrastiveLoss(temperature=0.3, base_temperature=0.3, normalize=True)
    ours = supcon(torch.stack([view1, view2], 1), torch.arange(12))
    assert_close(ours, lkt.NtXentLoss(temperature=0.3)(view1, view2), "SimCLR mode")


def test_supcon_errors(generator):
    features = unit_features((6, 2, 4), torch.float32, generator)
    with pytest.raises(losskit.LosskitError, match=r"input 'labels' must be \(6,\) \(one label per row"):
        lkt.SupervisedContrastiveLoss()(features, torch.zeros(5, dtype=torch.long))
    with pytest.raises(losskit.LosskitError, match=r"input 'labels' must be \(6, 6\) when it holds a mask"):
        lkt.SupervisedContrastiveLoss()(features, torch.ones((6, 5)))
    mask = torch.ones((6, 6))
    mask[2, 4] = 1.5
    with pytest.raises(losskit.LosskitError, match=r"labels\[2, 4\] = 1.5 is not a mask weight in \[0, 1\]"):
        lkt.SupervisedContrastiveLoss()(features, mask)
    with pytest.raises(losskit.LosskitError, match=r"input 'features' must be \(N, V, D\)"):
        lkt.SupervisedContrastiveLoss()(features[:, 0], torch.zeros(6, dtype=torch.long))
    assert lkt.SupervisedContrastiveLoss(reduction="none", contrast_mode="one")(
        features, torch.zeros(6, dtype=torch.long)).shape == (1, 6)


# ------------------------------------------------------------ normalization and threads

def test_normalization_of_a_zero_row_follows_f_normalize(generator):
    """A row of norm below 1e-12 is divided by 1e-12 (F.normalize's eps), with
    the Jacobian I / eps; a zero row's unit vector is 0."""
    query = embeddings((5, 4), torch.float64, generator)
    query[1] = 0.0
    query[3] = 1e-14
    positive = embeddings((5, 4), torch.float64, generator)
    module = lkt.InfoNceInBatchLoss(temperature=0.5)
    check_against(module, lambda q, p: info_nce_package(q, p, None, temperature=0.5), [query, positive],
                  [True, True], "zero rows")


@pytest.mark.parametrize("name", ["info_nce", "info_nce_in_batch", "nt_xent", "supervised_contrastive"])
def test_large_batches_are_bit_identical_for_any_thread_count(name, generator):
    """Several GEMM tasks and softmax tasks per call (the registry sweep's
    cases are small)."""
    n, d = 300, 70
    x = [embeddings((n, d), torch.float32, generator).numpy() for _ in range(2)]
    if name == "info_nce":
        inputs = x + [embeddings((130, d), torch.float32, generator).numpy()]
    elif name == "supervised_contrastive":
        inputs = [x[0].reshape(150, 2, d), torch.randint(0, 10, (150,), generator=generator).numpy()]
    else:
        inputs = x
    loss = losskit.Loss(name)
    results = [loss(*inputs, threads=threads) for threads in (1, 2, 3, 8)]
    for value, grads in results[1:]:
        assert value.tobytes() == results[0][0].tobytes()
        for gradient, first in zip(grads, results[0][1]):
            assert (gradient is None and first is None) or gradient.tobytes() == first.tobytes()
