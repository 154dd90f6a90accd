"""Forward + backward of the contrastive losses: losskit against the same
computation in PyTorch (eager, and torch.compile unless --no-compile) and the
info-nce-pytorch package, on the same embeddings, at the same thread count,
in one run. The gradient of every embedding input is computed.

    python bench/bench_contrastive.py [--threads 1 2] [--shapes 512,128 2048,128]
                                      [--losses info_nce nt_xent ...] [--no-compile] [--repeats 15]

N,D: N embeddings of D features per input (InfoNCE: N queries, N positives
and N shared negatives, or 16 paired negatives per query; NT-Xent: two views
of N samples, a 2N x 2N similarity; SupCon: N samples of 2 views, 10 classes).
Timing as bench/timing.py (best_times_of): implementations take turns, each keeps its best
time; "ratio" is the other's time over losskit's (above 1: losskit is
faster); "GFLOP/s" counts the multiply-adds of the similarity GEMMs
(forward and backward) over losskit's time.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

import losskit
import losskit.torch as lkt
from timing import arguments, best_times_of

warnings.filterwarnings("ignore")


# ------------------------------------------------------------ the same losses in plain torch

def info_nce_torch(query, positive, negatives, temperature=0.1, paired=False):
    query, positive, negatives = (F.normalize(t, dim=-1) for t in (query, positive, negatives))
    positive_logit = (query * positive).sum(1, keepdim=True)
    if paired:
        negative_logits = (query.unsqueeze(1) @ negatives.transpose(-2, -1)).squeeze(1)
    else:
        negative_logits = query @ negatives.T
    logits = torch.cat([positive_logit, negative_logits], 1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(query), dtype=torch.long))


def info_nce_in_batch_torch(query, positive, temperature=0.1):
    query, positive = F.normalize(query, dim=-1), F.normalize(positive, dim=-1)
    return F.cross_entropy(query @ positive.T / temperature, torch.arange(len(query)))


def nt_xent_torch(view1, view2, temperature=0.1):
    z = F.normalize(torch.cat([view1, view2]), dim=-1)
    n = len(view1)
    logits = (z @ z.T / temperature).fill_diagonal_(float("-inf"))
    return F.cross_entropy(logits, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]))


def supcon_torch(features, labels, temperature=0.07, base_temperature=0.07):
    """The authors' SupConLoss (contrast_mode all)."""
    batch, views = features.shape[:2]
    mask = (labels.view(-1, 1) == labels.view(1, -1)).float()
    contrast = torch.cat(torch.unbind(features, dim=1), dim=0)
    logits = contrast @ contrast.T / temperature
    logits = logits - logits.max(dim=1, keepdim=True).values.detach()
    mask = mask.repeat(views, views)
    logits_mask = 1 - torch.eye(batch * views)
    mask = mask * logits_mask
    log_prob = logits - torch.log((torch.exp(logits) * logits_mask).sum(1, keepdim=True))
    positives = mask.sum(1)
    positives = torch.where(positives < 1e-6, torch.ones_like(positives), positives)
    return (-(temperature / base_temperature) * (mask * log_prob).sum(1) / positives).mean()


def info_nce_package(paired):
    from info_nce import info_nce
    mode = "paired" if paired else "unpaired"
    return lambda q, p, k: info_nce(q, p, k, temperature=0.1, negative_mode=mode)


# ------------------------------------------------------------ inputs

def inputs_of(name, n, d):
    """(leaves, extra inputs, GEMM multiply-adds of fwd+bwd)."""
    def rows(*shape):
        return torch.randn(shape)

    if name == "info_nce":
        return [rows(n, d), rows(n, d), rows(n, d)], [], 3 * n * n * d
    if name == "info_nce_paired":
        return [rows(n, d), rows(n, d), rows(n, 16, d)], [], 3 * n * 16 * d
    if name == "info_nce_in_batch":
        return [rows(n, d), rows(n, d)], [], 3 * n * n * d
    if name == "nt_xent":
        return [rows(n, d), rows(n, d)], [], 2 * (2 * n) ** 2 * d
    features = F.normalize(rows(n, 2, d), dim=-1)  # SupCon reads normalized features
    return [features], [torch.randint(0, 10, (n,))], 2 * (2 * n) ** 2 * d


# name: (losskit module, torch eager formula, other libraries)
LOSSES = {
    "info_nce": (lambda: lkt.InfoNceLoss(), info_nce_torch, {"info-nce-pytorch": lambda: info_nce_package(False)}),
    "info_nce_paired": (lambda: lkt.InfoNceLoss(negative_mode="paired"),
                        lambda q, p, k: info_nce_torch(q, p, k, paired=True),
                        {"info-nce-pytorch": lambda: info_nce_package(True)}),
    "info_nce_in_batch": (lambda: lkt.InfoNceInBatchLoss(), info_nce_in_batch_torch, {}),
    "nt_xent": (lambda: lkt.NtXentLoss(), nt_xent_torch, {}),
    "supervised_contrastive": (lambda: lkt.SupervisedContrastiveLoss(), supcon_torch, {}),
}


def main():
    args = arguments(__doc__, LOSSES, shapes=["512,128", "2048,128"],
                     header="| loss | N,D | threads | implementation | ms | ratio | losskit GFLOP/s |\n"
                            "|---|---|---|---|---|---|---|")
    for size in args.shapes:
        n, d = (int(v) for v in size.split(","))
        for name in args.losses:
            make_ours, eager, libraries = LOSSES[name]
            leaves, extra, multiply_adds = inputs_of(name, n, d)
            implementations = {"losskit": make_ours(), "torch eager": eager}
            if not args.no_compile:
                implementations["torch.compile"] = torch.compile(eager)
            implementations.update({label: factory() for label, factory in libraries.items()})
            for threads in args.threads:
                torch.set_num_threads(threads)
                times = best_times_of(implementations, leaves, extra, args.repeats)
                ours = times.pop("losskit")
                print(f"| {name} | {size} | {threads} | losskit | {ours * 1e3:.3f} | 1.00 | "
                      f"{2 * multiply_adds / ours / 1e9:.1f} |", flush=True)
                for label, other in times.items():
                    print(f"| {name} | {size} | {threads} | {label} | {other * 1e3:.3f} | {other / ours:.2f} | |",
                          flush=True)


if __name__ == "__main__":
    main()
