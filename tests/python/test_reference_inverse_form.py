"""InverseForm against the same network in plain torch.

The reference is the authors' code (Qualcomm-AI-research/InverseForm),
InverseTransform2D.forward and InverseNet, rewritten here with layer sizes as
arguments: nn.Linear layers with random weights, F.interpolate (bilinear,
align_corners=False), tiles sliced and concatenated along the batch axis,
torch.cat((x1.view(-1, T*T), x2.view(-1, T*T)), 1), the mean of
((coeffs * coeffs).sum(1)) ** 0.5; autograd gives the gradient. The one
deliberate difference, the edge probability sigmoid(x) where the reference
takes log_softmax over one channel (identically 0), is tested as such.

Also: the weight files (round trip, every broken header, forged sizes), the
checkpoint converter on a state dict with the reference's key names saved by
torch.save, the module holding its weights, and the command-line tool's
answer (eval gives two inputs; inverse_form takes eight).
"""

from __future__ import annotations

import struct
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losskit
import losskit.torch as lkt
from conftest import assert_close
from losskit import inverse_form


class InverseNetReference(torch.nn.Module):
    """The reference's InverseNet (models/InverseForm.py) with its sizes as
    arguments; its state dict has the reference's key names (fc.0, fc.2, fc.4)."""

    def __init__(self, side=224, hidden1=1000, hidden2=32, outputs=4, dtype=torch.float64, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.side = side
        self.fc = torch.nn.Sequential(
            torch.nn.Linear(side * side * 2, hidden1),
            torch.nn.ReLU(True),
            torch.nn.Linear(hidden1, hidden2),
            torch.nn.ReLU(True),
            torch.nn.Linear(hidden2, outputs),
        ).to(dtype)
        for p in self.parameters():
            p.requires_grad = False

    def forward(self, x1, x2):
        area = self.side * self.side
        x = torch.cat((x1.reshape(-1, area), x2.reshape(-1, area)), dim=1)
        return x1, x2, self.fc(x)

    def layers(self):
        """w1, b1, w2, b2, w3, b3: inverse_form's inputs 2 to 7."""
        return [getattr(self.fc[k], part) for k in (0, 2, 4) for part in ("weight", "bias")]


def reference_inverse_form(inputs, targets, net, tile_rows=3, tile_cols=6, activation="sigmoid",
                           reduction="mean", log_softmax=False):
    """InverseTransform2D.forward with the grid and the activation as arguments:
    log_softmax=True is the reference exactly as written."""
    if log_softmax:
        inputs = F.log_softmax(inputs, dim=1)
    elif activation == "sigmoid":
        inputs = torch.sigmoid(inputs)
    side = net.side
    size = (tile_rows * side, tile_cols * side)
    inputs = F.interpolate(inputs, size=size, mode="bilinear", align_corners=False)
    targets = F.interpolate(targets, size=size, mode="bilinear", align_corners=False)
    tiled_inputs = torch.cat([inputs[:, :, side * i:side * (i + 1), side * j:side * (j + 1)]
                              for i in range(tile_rows) for j in range(tile_cols)], dim=0)
    tiled_targets = torch.cat([targets[:, :, side * i:side * (i + 1), side * j:side * (j + 1)]
                               for i in range(tile_rows) for j in range(tile_cols)], dim=0)
    _, _, distance_coeffs = net(tiled_inputs, tiled_targets)
    norms = ((distance_coeffs * distance_coeffs).sum(dim=1)) ** 0.5
    if reduction == "mean":
        return norms.mean()
    if reduction == "sum":
        return norms.sum()
    n, c = inputs.shape[:2]  # rows are (tile, n, c): reorder to (n, c, tile row, tile col)
    return norms.reshape(tile_rows, tile_cols, n, c).permute(2, 3, 0, 1)


def ours_and_reference(net, logits, target, **params):
    module = lkt.InverseFormLoss(net.layers(), **params)
    leaf = logits.detach().clone().requires_grad_(True)
    value = module(leaf, target)
    value.sum().backward()
    reference_leaf = logits.detach().clone().requires_grad_(True)
    reference = reference_inverse_form(reference_leaf, target, net, **params)
    reference.sum().backward()
    return (value.detach(), leaf.grad), (reference.detach(), reference_leaf.grad)


def edge_maps(shape, dtype, seed):
    generator = torch.Generator().manual_seed(seed)
    logits = (torch.rand(shape, generator=generator, dtype=torch.float64) * 8 - 4).to(dtype)
    target = (torch.rand(shape, generator=generator, dtype=torch.float64) < 0.3).to(dtype)
    return logits, target


# (N, C, H, W), T: inputs smaller than the resized grid (upsampling), larger
# (downsampling), exactly its size (no resize), non-square, two channels.
CASES = [
    ((2, 1, 5, 7), 4),
    ((1, 1, 40, 50), 4),
    ((1, 1, 12, 24), 4),
    ((2, 2, 13, 9), 5),
    ((1, 1, 9, 30), 8),
]


@pytest.mark.parametrize("shape,side", CASES)
@pytest.mark.parametrize("activation", ["sigmoid", "none"])
def test_value_and_gradient_match_the_reference(shape, side, activation):
    net = InverseNetReference(side, 16, 8, 4, seed=sum(shape) + side)
    logits, target = edge_maps(shape, torch.float64, seed=side)
    if activation == "none":
        logits = torch.sigmoid(logits)
    (value, grad), (reference, reference_grad) = ours_and_reference(net, logits, target, activation=activation)
    assert_close(value, reference, f"{shape} T={side} value")
    assert_close(grad, reference_grad, f"{shape} T={side} gradient")


@pytest.mark.parametrize("tile_rows,tile_cols", [(1, 1), (2, 3), (4, 1)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_grids_and_reductions(tile_rows, tile_cols, reduction):
    net = InverseNetReference(6, 20, 8, 4, seed=tile_rows * 10 + tile_cols)
    logits, target = edge_maps((2, 1, 11, 14), torch.float64, seed=3)
    (value, grad), (reference, reference_grad) = ours_and_reference(
        net, logits, target, tile_rows=tile_rows, tile_cols=tile_cols, reduction=reduction)
    assert_close(value, reference, f"{tile_rows}x{tile_cols} {reduction} value")
    assert_close(grad, reference_grad, f"{tile_rows}x{tile_cols} {reduction} gradient")


def test_weighted_tiles_match_autograd():
    """reduction none, then a weighted sum of the tiles: the bilinear resize
    mixes pixels across tile borders, so the library weighs the tiles
    (lk_loss_compute_upstream) and the gradient is that of the weighted sum."""
    net = InverseNetReference(5, 12, 6, 4, seed=9)
    logits, target = edge_maps((2, 2, 9, 13), torch.float64, seed=9)
    module = lkt.InverseFormLoss(net.layers(), tile_rows=2, tile_cols=3, reduction="none")
    leaf = logits.detach().clone().requires_grad_(True)
    value = module(leaf, target)
    weights = torch.rand(value.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3 - 1
    (value * weights).sum().backward()
    reference_leaf = logits.detach().clone().requires_grad_(True)
    reference = reference_inverse_form(reference_leaf, target, net, tile_rows=2, tile_cols=3, reduction="none")
    (reference * weights).sum().backward()
    assert_close(value.detach(), reference.detach(), "weighted tiles value")
    assert_close(leaf.grad, reference_leaf.grad, "weighted tiles gradient")


def test_other_output_sizes_small_inverse_net():
    """SmallInverseNet's shape (its D = 2), and any D."""
    for outputs in (2, 1, 7):
        net = InverseNetReference(4, 10, 6, outputs, seed=outputs)
        logits, target = edge_maps((1, 1, 10, 10), torch.float64, seed=outputs)
        (value, grad), (reference, reference_grad) = ours_and_reference(net, logits, target)
        assert_close(value, reference, f"D={outputs} value")
        assert_close(grad, reference_grad, f"D={outputs} gradient")


def test_float32_matches_the_reference_in_float32():
    net = InverseNetReference(8, 32, 8, 4, dtype=torch.float32, seed=5)
    logits, target = edge_maps((2, 1, 30, 20), torch.float32, seed=5)
    (value, grad), (reference, reference_grad) = ours_and_reference(net, logits, target)
    assert torch.allclose(value, reference, rtol=1e-5, atol=1e-6)
    assert torch.allclose(grad, reference_grad, rtol=1e-4, atol=1e-4 * float(reference_grad.abs().max()))


def test_reference_as_written_is_constant():
    """log_softmax over the one edge channel is 0 everywhere: the reference's
    term does not depend on the prediction (which is why losskit takes the
    edge probability)."""
    net = InverseNetReference(4, 12, 6, 4, seed=1)
    logits, target = edge_maps((2, 1, 9, 9), torch.float64, seed=2)
    leaf = logits.clone().requires_grad_(True)
    value = reference_inverse_form(leaf, target, net, log_softmax=True)
    value.backward()
    assert torch.count_nonzero(leaf.grad) == 0
    other = reference_inverse_form(logits * 5 + 1, target, net, log_softmax=True)
    assert torch.equal(value.detach(), other)
    zeros = reference_inverse_form(torch.zeros_like(logits), target, net, activation="none")
    assert torch.equal(value.detach(), zeros)  # losskit with activation=none on an all-zero map


def test_zero_output_tile_has_zero_gradient_where_the_reference_gives_nan():
    net = InverseNetReference(2, 6, 4, 4, seed=0)
    with torch.no_grad():  # o = 0 on every tile, the earlier layers alive
        net.fc[4].weight.zero_()
        net.fc[4].bias.zero_()
    logits, target = edge_maps((1, 1, 4, 4), torch.float64, seed=0)
    (value, grad), (reference, reference_grad) = ours_and_reference(net, logits, target)
    assert float(value) == 0 and float(reference) == 0
    assert torch.count_nonzero(grad) == 0
    assert torch.isnan(reference_grad).any()  # (sum o^2)^0.5 at 0: inf x 0


# ------------------------------------------------------------ the module

def test_module_holds_its_weights_and_takes_all_eight_inputs_without():
    net = InverseNetReference(4, 12, 6, 4, seed=9)
    logits, target = edge_maps((2, 1, 7, 8), torch.float64, seed=9)
    held = lkt.InverseFormLoss(net.layers(), tile_rows=2, tile_cols=2)
    bare = lkt.loss("inverse_form", tile_rows=2, tile_cols=2)
    assert isinstance(bare, lkt.InverseFormLoss) and held.tile_rows == 2
    assert torch.equal(held(logits, target), bare(logits, target, *net.layers()))
    assert "w1" not in held.state_dict()  # the user's file, not saved with every checkpoint
    with pytest.raises(TypeError, match="takes 2 inputs"):
        held(logits, target, *net.layers())
    with pytest.raises(losskit.LosskitError, match="must have the dtype of input 'input'"):
        held(logits.float(), target.float())
    assert held.float()(logits.float(), target.float()).dtype == torch.float32
    with pytest.raises(losskit.LosskitError, match=r"w2 \(H2, H1\)"):
        lkt.InverseFormLoss([np.zeros((3, 32)), np.zeros(3), np.zeros((2, 4)), np.zeros(2), np.zeros((4, 2)),
                             np.zeros(4)])


def test_module_errors_name_the_weight():
    layers = [t.clone() for t in InverseNetReference(4, 12, 6, 4, seed=9).layers()]
    logits, target = edge_maps((1, 1, 7, 8), torch.float64, seed=9)
    layers[0][3, 7] = float("nan")
    with pytest.raises(losskit.LosskitError, match=r"input 'w1'\[3, 7\] = nan"):
        lkt.loss("inverse_form")(logits, target, *layers)
    layers[0][3, 7] = 0
    layers[2] = layers[2][:, :5]
    with pytest.raises(losskit.LosskitError, match=r"input 'w2' must be \(H_out, 12\)"):
        lkt.loss("inverse_form")(logits, target, *layers)


# ------------------------------------------------------------ weight files

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weight_file_round_trip(tmp_path, dtype):
    net = InverseNetReference(5, 9, 4, 4, seed=3)
    path = tmp_path / "net.lkif"
    written = inverse_form.save_weights(path, net.layers(), dtype=dtype)
    loaded = inverse_form.load_weights(path)
    assert (loaded.tile_size, loaded.hidden1, loaded.hidden2, loaded.outputs) == (5, 9, 4, 4)
    assert loaded.dtype == np.dtype(dtype)
    for name, a, b, source in zip(inverse_form.LAYER_NAMES, loaded, written, net.layers()):
        assert np.array_equal(a, b), name
        assert np.array_equal(a, source.numpy().astype(dtype)), name
    assert path.stat().st_size == 48 + sum(a.size for a in loaded) * np.dtype(dtype).itemsize
    assert path.read_bytes()[:8] == b"LKINVFRM"


def header(magic=b"LKINVFRM", version=1, dtype=0, side=2, hidden1=3, hidden2=2, outputs=4):
    return struct.pack("<8sIIQQQQ", magic, version, dtype, side, hidden1, hidden2, outputs)


VALUES = 2 * 2 * 2 * 3 + 3 + 3 * 2 + 2 + 2 * 4 + 4


@pytest.mark.parametrize("content,message", [
    (header(magic=b"NOTMAGIC") + bytes(4 * VALUES), "magic"),
    (header(version=3) + bytes(4 * VALUES), "field 'version' = 3"),
    (header(dtype=4) + bytes(4 * VALUES), r"field 'dtype' = 4; expected 0 \(float32\) or 1 \(float64\)"),
    (header(hidden1=0) + bytes(4 * VALUES), "field 'hidden1' = 0"),
    (header(side=1 << 40) + bytes(4 * VALUES), "field 'tile_size' = 1099511627776"),
    (header(side=1 << 20, hidden1=1 << 31) + bytes(4 * VALUES), "values; at most"),
    (header(side=224, hidden1=1 << 30) + bytes(4 * VALUES), r"\(truncated\)"),
    (header() + bytes(4 * VALUES - 1), r"\(truncated\)"),
    (header() + bytes(4 * VALUES + 4), r"\(bytes after the arrays\)"),
    (header(dtype=1) + bytes(4 * VALUES), r"\(truncated\)"),
    (header()[:30], "fewer than the 48 of the header"),
    (header() + struct.pack("<f", float("inf")) + bytes(4 * VALUES - 4), r"w1\[0, 0\] = inf"),
])
def test_broken_weight_files_are_refused(tmp_path, content, message):
    path = tmp_path / "broken.lkif"
    path.write_bytes(content)
    with pytest.raises(losskit.LosskitError, match=message) as error:
        inverse_form.load_weights(path)
    assert error.value.status == "LK_EVALUE" and str(path) in str(error.value)


def test_missing_file_and_unwritable_weights(tmp_path):
    with pytest.raises(OSError, match="cannot open"):
        inverse_form.load_weights(tmp_path / "absent.lkif")
    layers = [t.clone() for t in InverseNetReference(2, 3, 2, 4).layers()]
    layers[3][1] = float("nan")
    with pytest.raises(losskit.LosskitError, match=r"b2\[1\] = nan"):
        inverse_form.save_weights(tmp_path / "nan.lkif", layers)


def test_convert_checkpoint_with_the_reference_key_names(tmp_path):
    net = InverseNetReference(4, 12, 6, 4, dtype=torch.float32, seed=11)
    plain, wrapped = tmp_path / "plain.pth", tmp_path / "wrapped.pth"
    torch.save(net.state_dict(), plain)
    assert sorted(net.state_dict()) == ["fc.0.bias", "fc.0.weight", "fc.2.bias", "fc.2.weight", "fc.4.bias",
                                        "fc.4.weight"]
    torch.save({"epoch": 3, "state_dict": {"module." + k: v for k, v in net.state_dict().items()}}, wrapped)
    logits, target = edge_maps((2, 1, 9, 13), torch.float32, seed=11)
    expected = reference_inverse_form(logits, target, net)
    for source in (plain, wrapped):
        out = tmp_path / (source.stem + ".lkif")
        written = inverse_form.convert_checkpoint(source, out)
        for array, tensor in zip(written, net.layers()):
            assert np.array_equal(array, tensor.numpy())
        value = lkt.InverseFormLoss(out)(logits, target)
        assert torch.allclose(value, expected, rtol=1e-5)
    bad = tmp_path / "bad.pth"
    torch.save({"encoder.weight": torch.zeros(2)}, bad)
    with pytest.raises(losskit.LosskitError, match="no InverseNet weights"):
        inverse_form.convert_checkpoint(bad, tmp_path / "bad.lkif")


def test_cli_eval_says_it_cannot_feed_the_network(tmp_path):
    scores = np.random.default_rng(0).random((1, 1, 6, 6))
    labels = (scores > 0.5).astype(np.uint8)[:, 0]
    np.save(tmp_path / "pred.npy", scores)
    np.save(tmp_path / "target.npy", labels)
    result = subprocess.run([sys.executable, "-m", "losskit", "eval", "--pred", str(tmp_path / "pred.npy"),
                             "--target", str(tmp_path / "target.npy"), "--loss", "inverse_form"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "inverse_form takes 8 inputs; eval gives a prediction and a target only" in result.stderr
