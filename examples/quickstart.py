"""losskit from Python: every registered loss on one small segmentation batch,
through the PyTorch modules, next to PyTorch where it has the same loss."""

import torch
import torch.nn.functional as F

import losskit
import losskit.torch as lkt

torch.manual_seed(0)
logits = torch.randn(2, 4, 32, 32, requires_grad=True)
# labels made of regions (blocks of 4 classes, shifted per image), as a segmentation has
rows, cols = torch.arange(32)[:, None], torch.arange(32)[None, :]
labels = torch.stack([(rows // 8 + cols // 11 + shift) % 4 for shift in (0, 1)])
masks = F.one_hot(labels, 4).permute(0, 3, 1, 2).float()


sequence_targets = torch.tensor([[1, 2, 3, 1], [3, 3, 2, 0]])
sequence_lengths = {"input_lengths": torch.tensor([32, 30]), "target_lengths": torch.tensor([4, 3])}


def sequence_log_probs():
    return torch.log_softmax(logits.mean(2), 1).permute(2, 0, 1)  # (T=32, N=2, C=4)


# InverseForm's frozen network, as nn.Linear holds it: w1 (H1, 2 T T), b1, w2, b2,
# w3 (4, H2), b3. Real use loads the authors' trained weights (none ship with
# losskit; docs/inverse-form.md); a small random one here, T = 8, H1 = 16, H2 = 8.
inverse_net = [torch.randn(16, 128) / 128 ** 0.5, torch.full((16,), 0.1), torch.randn(8, 16) / 4,
               torch.full((8,), 0.1), torch.randn(4, 8) / 8 ** 0.5, torch.zeros(4)]


def pixel_embeddings(maps):
    """(N, C, H, W) -> one C-dimensional embedding per pixel of a 2 x 2 grid: (N H W / 4, C)."""
    return maps[:, :, ::2, ::2].permute(0, 2, 3, 1).reshape(-1, maps.shape[1])


def inputs_for(entry):
    """The batch as this loss takes it, read off its catalogue entry: the logits
    (their softmax where the loss takes probabilities by default, as kornia's
    Hausdorff loss does), then labels (a 0/1 object mask where the loss wants
    one) or one-hot masks, then a learnable scalar where the loss has one
    (Robust T's nu, started at 1 as its authors do). The contrastive losses
    take the logits of every other pixel as embeddings: InfoNCE against their
    one-hot target (the positive) and the one-hot of the next class (the
    negatives), NT-Xent and SupCon with a second view of the same pixels.
    InverseForm reads each channel as an edge map, and its network's layers.
    The conditional boundary losses take the logits as features, the labels as
    both target and prediction, and an identity classifier."""
    activation = next((p["default"] for p in entry["params"] if p["name"] == "activation"), None)
    layers = iter(inverse_net)
    by_shape = {
        "scores": lambda: torch.softmax(logits, 1) if activation == "none" else logits,
        "any": lambda: logits,
        "class_target": lambda: (labels > 0).long() if spec["domain"] == "binary" else labels,
        "like_first": lambda: pixel_embeddings(masks) if entry["inputs"][0]["shape"] == "embeddings" else masks,
        "scalar": lambda: torch.ones((), requires_grad=True),
        # CTC: each image's column means as a sequence of 32 steps over the 4 classes
        "sequence_scores": lambda: sequence_log_probs(),
        "label_sequences": lambda: sequence_targets,
        "per_item": lambda: sequence_lengths[spec["domain"]],
        "embeddings": lambda: pixel_embeddings(logits),
        "keys": lambda: pixel_embeddings(F.one_hot((labels + 1) % 4, 4).permute(0, 3, 1, 2).float()),
        "views": lambda: torch.stack([pixel_embeddings(logits), pixel_embeddings(logits.roll(1, 1))], 1),
        "row_target": lambda: labels[:, ::2, ::2].reshape(-1),
        "tile_pair_weight": lambda: next(layers),
        "layer_weight": lambda: next(layers),
        "layer_bias": lambda: next(layers),
        # the conditional boundary losses read the logits as 4-channel features, classified
        # by a 1 x 1 convolution (4 classes) that starts as the identity
        "classifier_weight": lambda: torch.eye(4, requires_grad=True),
        "classifier_bias": lambda: torch.zeros(4, requires_grad=True),
    }
    made = []
    for spec in entry["inputs"]:
        if spec["shape"] not in by_shape:
            raise ValueError(f"{entry['name']}: this example makes no input of shape kind {spec['shape']!r}")
        made.append(by_shape[spec["shape"]]())
    return made


print(f"losskit {losskit.__version__}: {len(losskit.losses())} losses; batch (2, 4, 32, 32)\n")
print(f"{'loss':<28} {'value':>12} {'|grad|':>10}   reference")
references = {
    "cross_entropy": lambda: F.cross_entropy(logits, labels),
    "binary_cross_entropy": lambda: F.binary_cross_entropy_with_logits(logits, masks),
    "ctc": lambda: F.ctc_loss(sequence_log_probs(), sequence_targets, *sequence_lengths.values()),
}
for entry in losskit.losses():
    module = lkt.loss(entry["name"])
    value = module(*inputs_for(entry))
    (grad,) = torch.autograd.grad(value, logits)
    reference = references.get(entry["name"])
    note = f"torch: {reference().item():.6f}" if reference else entry["summary"][:48]
    print(f"{entry['name']:<28} {value.item():>12.6f} {grad.norm().item():>10.6f}   {note}")
