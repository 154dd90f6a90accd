"""losskit from Python: every registered loss on one small segmentation batch,
through the PyTorch modules, next to PyTorch where it has the same loss."""

import torch
import torch.nn.functional as F

import losskit
import losskit.torch as lkt

torch.manual_seed(0)
logits = torch.randn(2, 4, 32, 32, requires_grad=True)
labels = torch.randint(0, 4, (2, 32, 32))
masks = F.one_hot(labels, 4).permute(0, 3, 1, 2).float()

print(f"losskit {losskit.__version__}: {len(losskit.losses())} losses; batch (2, 4, 32, 32)\n")
print(f"{'loss':<24} {'value':>10} {'|grad|':>10}   reference")
references = {
    "cross_entropy": lambda: F.cross_entropy(logits, labels),
    "binary_cross_entropy": lambda: F.binary_cross_entropy_with_logits(logits, masks),
}
for entry in losskit.losses():
    module = lkt.loss(entry["name"])
    target = masks if entry["inputs"][1]["shape"] == "like_first" else labels
    value = module(logits, target)
    (grad,) = torch.autograd.grad(value, logits)
    reference = references.get(entry["name"])
    note = f"torch: {reference().item():.6f}" if reference else entry["summary"][:48]
    print(f"{entry['name']:<24} {value.item():>10.6f} {grad.norm().item():>10.6f}   {note}")
