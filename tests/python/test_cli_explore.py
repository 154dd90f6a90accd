"""losskit explore and losskit bench, run as users run them (a subprocess): the
explorer's CSV against the library's own values recomputed here from the
documented path, its SVG plots parsed as XML, its verdicts against the
documented rule, the bench table's arithmetic, the progress bar only on a
terminal, and bad options giving a clear message and exit status 2."""

from __future__ import annotations

import csv
import math
import os
import pty
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import losskit

SVG = "{http://www.w3.org/2000/svg}"
SMALL_CASE = ["--size", "32", "--large", "6", "--small", "2", "--steps", "8"]
LOSSES = ["cross_entropy", "dice", "focal:gamma=1", "binary_cross_entropy", "hausdorff_dt",
          "robust_t", "lovasz_hinge", "tversky:activation=sigmoid", "boundary_aware"]


def run(*args, check=True, **kwargs):
    result = subprocess.run([sys.executable, "-m", "losskit", *args], capture_output=True,
                            text=True, **kwargs)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def explored(tmp_path_factory):
    out = tmp_path_factory.mktemp("explore")
    args = [arg for name in LOSSES for arg in ("--loss", name)]
    result = run("explore", *args, *SMALL_CASE, "--out", str(out))
    return out, result.stdout


# ------------------------------------------------------------ the path, by hand

def masks(size, radius, shift, shape="disk"):
    """The target and the prediction as the help text defines them."""
    n_spatial = 3 if shape == "ball" else 2
    grid = np.indices((size,) * n_spatial)
    center = [size // 2] * n_spatial
    center[-1] = size // 2 - radius - 1

    def inside(offset):
        deltas = [grid[d] - center[d] - (offset if d == n_spatial - 1 else 0) for d in range(n_spatial)]
        if shape == "square":
            return np.max(np.abs(deltas), axis=0) <= radius
        return sum(d * d for d in deltas) <= radius * radius

    return inside(0), inside(shift)


def loss_inputs(spec, target, predicted, confidence=0.9):
    """The inputs the explorer gives the loss, built from the registry's slots."""
    name, _, params = spec.partition(":")
    loss = losskit.Loss.from_spec(spec)
    entry = next(e for e in losskit.losses() if e["name"] == name)
    p = np.where(predicted, confidence, 1 - confidence)[None]              # (1, *spatial)
    probs = np.stack([1 - p, p], axis=1)                                   # (1, 2, *spatial)
    activation = loss.params.get("activation")
    slot = entry["inputs"][0]
    if activation == "none":
        prediction = probs
    elif activation == "sigmoid" or (activation is None and slot["shape"] == "any"):
        prediction = np.log(p / (1 - p))[:, None]
    else:
        prediction = np.log(probs)
    if activation == "sigmoid" or slot["shape"] == "any":
        prediction = prediction[:, -1:]                                    # the object channel
    labels = target[None].astype(np.int64)
    inputs = [prediction]
    for slot in entry["inputs"][1:]:
        if slot["shape"] == "scalar":
            inputs.append(np.array(1.0))
        elif slot["shape"] == "class_target" and "int64" in slot["dtypes"]:
            inputs.append(labels)
        else:
            one_hot = np.stack([1 - labels, labels], axis=1).astype(np.float64)
            inputs.append(one_hot[:, -prediction.shape[1]:])
    return loss, inputs


def test_csv_rows_are_the_library_values(explored):
    out, _ = explored
    rows = read_csv(out / "explore.csv")
    assert {row["loss"] for row in rows} == set(LOSSES)
    for row in rows[::5]:
        target, predicted = masks(32, int(row["radius"]), int(row["shift"]))
        loss, inputs = loss_inputs(row["loss"], target, predicted)
        value, grads = loss(*inputs)
        assert float(row["value"]) == pytest.approx(float(np.sum(value)), rel=1e-12, abs=1e-300)
        assert float(row["grad_norm"]) == pytest.approx(float(np.linalg.norm(grads[0])), rel=1e-12)


def test_path_is_the_documented_one(explored):
    out, _ = explored
    rows = [row for row in read_csv(out / "explore.csv") if row["loss"] == "dice"]
    for obj, radius in (("large", 6), ("small", 2)):
        path = [row for row in rows if row["object"] == obj]
        last = 2 * radius + 1
        count = min(last + 1, 8)
        expected = [round(k * last / (count - 1)) if last + 1 > 8 else k for k in range(count)]
        assert [int(row["shift"]) for row in path] == expected
        for row in path:
            target, predicted = masks(32, radius, int(row["shift"]))
            fn, fp = int((target & ~predicted).sum()), int((predicted & ~target).sum())
            assert (int(row["false_negatives"]), int(row["false_positives"])) == (fn, fp)
            assert fn == fp and int(row["object_pixels"]) == int(target.sum())
            assert float(row["error"]) == pytest.approx(fn / target.sum(), rel=1e-15)
        assert float(path[0]["error"]) == 0 and float(path[-1]["error"]) == 1


def test_normalised_columns(explored):
    out, _ = explored
    rows = read_csv(out / "explore.csv")
    for spec in LOSSES:
        for obj in ("large", "small"):
            path = [row for row in rows if row["loss"] == spec and row["object"] == obj]
            values = np.array([float(row["value"]) for row in path])
            norms = np.array([float(row["grad_norm"]) for row in path])
            normalized = np.array([float(row["normalized"]) for row in path])
            span = values.max() - values.min()
            flat = span <= 1e-6 * np.abs(values).max()                     # drawn as 0
            assert normalized == pytest.approx(0 * values if flat else (values - values.min()) / span)
            assert [float(row["grad_normalized"]) for row in path] == pytest.approx(norms / norms.max())


def documented_verdict(values):
    """The rule of `losskit explore --help`."""
    tolerance = 1e-6 * max(abs(v) for v in values)
    drops = [a - b for a, b in zip(values, values[1:])]
    if any(drop > tolerance for drop in drops):
        return "no"
    return "yes" if values[-1] - values[0] > tolerance else "flat"


def test_verdicts_follow_the_rule(explored):
    out, stdout = explored
    rows = read_csv(out / "explore.csv")
    verdicts = read_csv(out / "verdict.csv")
    assert len(verdicts) == 2 * len(LOSSES)
    for verdict in verdicts:
        values = [float(row["value"]) for row in rows
                  if row["loss"] == verdict["loss"] and row["object"] == verdict["object"]]
        assert verdict["verdict"] == documented_verdict(values), verdict
        line = next(line for line in stdout.splitlines() if line.startswith(verdict["loss"] + " "))
        assert verdict["verdict"] in line
    # Predictable by hand: mean cross-entropy over the image is a constant plus
    # (log 0.9 - log 0.1) * (FN + FP) / pixels, which grows with every shift.
    assert {v["verdict"] for v in verdicts if v["loss"] == "cross_entropy"} == {"yes"}
    # boundary_aware with 2 channels has 2 distance bins, round(min(d, 5) / 5):
    # in a disk of radius 2 no pixel is 2.5 from the background, so every
    # pixel is in bin 0 and the loss, the mean of -log p_0, only counts the
    # predicted pixels, the same at every shift.
    by_object = {v["object"]: v["verdict"] for v in verdicts if v["loss"] == "boundary_aware"}
    assert by_object == {"large": "yes", "small": "flat"}


def test_table_lists_every_loss(explored):
    _, stdout = explored
    assert "large (r=6)" in stdout and "small (r=2)" in stdout
    for spec in LOSSES:
        assert any(line.startswith(spec + " ") for line in stdout.splitlines()), spec


def test_svg_plots_are_well_formed(explored):
    out, _ = explored
    for kind in ("loss", "gradient"):
        for obj in ("large", "small"):
            root = ET.parse(out / f"{kind}_{obj}.svg").getroot()
            assert root.tag == SVG + "svg"
            texts = [t.text for t in root.iter(SVG + "text")]
            assert set(LOSSES) <= set(texts)                               # the legend
            assert any("error: fraction of the object missed" in t for t in texts)
            assert "0" in texts and "1" in texts                           # tick labels
            lines = list(root.iter(SVG + "polyline"))
            assert len(lines) == len(LOSSES)
            assert len({(l.get("stroke"), l.get("stroke-dasharray")) for l in lines}) == len(LOSSES)
            for line in lines:
                points = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
                assert all(70 <= x <= 630 and 50 <= y <= 450 for x, y in points)


def test_default_run_covers_the_segmentation_losses(tmp_path):
    result = run("explore", *SMALL_CASE, "--out", str(tmp_path))
    verdicts = read_csv(tmp_path / "verdict.csv")
    segmentation = [e["name"] for e in losskit.losses()
                    if e["category"] in ("pixel", "region", "boundary", "compound")]
    assert sorted({v["loss"] for v in verdicts}) == sorted(segmentation)
    for name in segmentation:
        assert name in result.stdout
    assert result.stderr == ""                                             # no bar in a pipe


def test_ball_and_skipped_losses(tmp_path):
    result = run("explore", "--shape", "ball", "--size", "16", "--large", "3", "--small", "1",
                 "--loss", "dice", "--loss", "rmi", "--out", str(tmp_path))
    assert "rmi" in result.stdout and "skipped:" in result.stdout
    skipped = [v for v in read_csv(tmp_path / "verdict.csv") if v["loss"] == "rmi"]
    assert {v["verdict"] for v in skipped} == {"skipped"} and all(v["reason"] for v in skipped)
    rows = read_csv(tmp_path / "explore.csv")
    assert {row["loss"] for row in rows} == {"dice"}
    row = next(r for r in rows if r["object"] == "large" and r["shift"] == "2")
    target, predicted = masks(16, 3, 2, "ball")
    loss, inputs = loss_inputs("dice", target, predicted)
    assert float(row["value"]) == pytest.approx(float(loss(*inputs)[0]), rel=1e-12)


def test_square_path_error_is_linear(tmp_path):
    run("explore", "--shape", "square", "--size", "24", "--large", "3", "--small", "1",
        "--loss", "dice", "--out", str(tmp_path))
    for row in read_csv(tmp_path / "explore.csv"):
        side = 2 * int(row["radius"]) + 1
        assert float(row["error"]) == pytest.approx(int(row["shift"]) / side)


def test_progress_bar_only_on_a_terminal(tmp_path):
    leader, follower = pty.openpty()
    try:
        result = subprocess.run([sys.executable, "-m", "losskit", "explore", "--loss", "dice",
                                 *SMALL_CASE, "--out", str(tmp_path)],
                                stdout=subprocess.PIPE, stderr=follower, text=True)
        os.close(follower)
        follower = None
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        if follower is not None:
            os.close(follower)
        os.close(leader)
    assert result.returncode == 0
    assert b"explore [" in drawn and b"\r" in drawn and b"14/14" in drawn  # 8 + 6 positions


def test_help_texts():
    text = run("explore", "--help").stdout
    for words in ("usage: losskit explore", "The path.", "The verdict.", "L(k+1) >= L(k) - 1e-6 max|L|",
                  "normalised to [0, 1]", "--shape", "--steps", "--confidence", "Exit status"):
        assert words in text
    text = run("bench", "--help").stdout
    for words in ("usage: losskit bench", "memcpy", "GB/S", "--threads", "--shape", "8x4x128x128"):
        assert words in text
    listing = run("--help").stdout
    assert "explore" in listing and "bench" in listing


@pytest.mark.parametrize("args, message", [
    (("explore", "--shape", "hexagon"), "--shape 'hexagon': expected disk, square or ball"),
    (("explore", "--size", "20"), "--size must be at least 4R + 4 = 100"),
    (("explore", "--steps", "1"), "--steps '1': expected an integer in [2, 10000]"),
    (("explore", "--confidence", "1.5"), "--confidence '1.5': expected a number in (0.5, 1)"),
    (("explore", "--loss", "nosuch"), "--loss 'nosuch'"),
    (("explore", "--loss", "dice:gamma=2"), "gamma"),
    (("explore", "--category", "pixels"), "unknown category 'pixels'"),
    (("explore", "--out"), "--out needs a value"),
    (("explore", "--frobnicate"), "unexpected argument '--frobnicate'"),
    (("bench", "--shape", "2x1x8"), "C >= 2"),
    (("bench", "--shape", "8x4x"), "--shape '8x4x'"),
    (("bench", "--dtype", "float16"), "--dtype 'float16': expected float32 or float64"),
    (("bench", "--threads", "-1"), "--threads '-1'"),
    (("bench", "--min-time", "0"), "--min-time '0'"),
])
def test_bad_options(args, message):
    result = run(*args, check=False)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and result.stdout == ""


def test_unwritable_output_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run("explore", "--loss", "dice", *SMALL_CASE, "--out", str(blocker / "sub"), check=False)
    assert result.returncode == 1 and "cannot create" in result.stderr


def test_bench_table():
    result = run("bench", "--loss", "dice", "--loss", "cross_entropy", "--loss", "boundary_aware",
                 "--shape", "2x3x40x40", "--threads", "1", "--min-time", "0.01", "--dtype", "float64")
    lines = result.stdout.splitlines()
    copy = lines[0]
    assert copy.startswith("copy bandwidth: memcpy of") and "1 thread:" in copy
    copy_rate = float(copy.split("ms, ")[1].split(" GB/s")[0])
    assert lines[2].split() == ["LOSS", "SHAPE", "MS", "GB/S", "COPY"]
    rows = {line.split()[0]: line.split() for line in lines[3:]}
    pixels = 2 * 40 * 40
    moved = {"dice": 2 * (3 * pixels * 8) + pixels * 8,                     # logits, gradient, labels
             "cross_entropy": 2 * (3 * pixels * 8) + pixels * 8}
    for name, nbytes in moved.items():
        _, shape, ms, rate, fraction = rows[name]
        assert shape == "2x3x40x40"
        assert float(rate) == pytest.approx(nbytes / (float(ms) * 1e-3) / 1e9, rel=0.02, abs=0.01)
        assert float(fraction) == pytest.approx(float(rate) / copy_rate, rel=0.02, abs=0.002)
    # boundary_aware's target is an object mask (domain binary): label != 0,
    # over C = 3 distance bins.
    assert rows["boundary_aware"][1] == "2x3x40x40"


def test_bench_skips_what_does_not_fit():
    result = run("bench", "--loss", "rmi", "--loss", "dice", "--shape", "1x2x8x8x8",
                 "--min-time", "0.001")
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[3:]}
    assert "skipped:" in rows["rmi"] and "2-D images" in rows["rmi"]
    assert rows["dice"].split()[1] == "1x2x8x8x8"
