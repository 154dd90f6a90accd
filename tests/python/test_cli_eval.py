"""`losskit eval` run as users run it (a subprocess): its loss values equal the
library's own through the Python package on the same float64 arrays, its
metrics equal losskit.metrics, for .npy and NIfTI inputs, probabilities,
logits, label maps and one-channel predictions; its errors are clear and
have the documented exit codes; the help is complete; the progress bar
appears on a terminal only; the sample case of `make run` evaluates."""

from __future__ import annotations

import json
import os
import pathlib
import pty
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest

import losskit
import losskit.metrics

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The installed tool; LOSSKIT_CLI=build-asan/tools/losskit/losskit runs these
# tests against a sanitizer build.
CLI = [os.environ["LOSSKIT_CLI"]] if os.environ.get("LOSSKIT_CLI") else [sys.executable, "-m", "losskit"]
ALL_METRICS = list(losskit.metrics.METRICS)


def run(*args, check=True):
    result = subprocess.run([*CLI, "eval", *map(str, args)],
                            capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
    return result


def run_json(*args) -> dict:
    return json.loads(run(*args, "--json").stdout)


def two_objects(shape=(14, 12, 10)) -> np.ndarray:
    labels = np.zeros(shape, np.uint8)
    labels[2:7, 2:7, 2:6] = 1
    labels[8:13, 5:11, 4:9] = 2
    return labels


def noisy_logits(labels: np.ndarray, classes: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (classes, *labels.shape))
    logits += 3.0 * (np.arange(classes).reshape(-1, *[1] * labels.ndim) == labels)
    return logits


def softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=0))
    return exp / exp.sum(axis=0)


def library_value(spec: str, implied: str, scores: np.ndarray, target: np.ndarray):
    """The loss as the Python package computes it: implied parameters first,
    then the spec's, on a batch of one image in float64."""
    name, _, params = spec.partition(":")
    loss = losskit.Loss(name)
    if implied:
        loss.set_spec(implied)
    if params:
        loss.set_spec(params)
    value, _ = loss(scores[None].astype(np.float64), target[None], grad=False)
    return np.asarray(value, dtype=np.float64)


def json_numbers(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def assert_losses_match(report: dict, scores: np.ndarray, labels: np.ndarray, one_hot=None):
    for row in report["losses"]:
        info = losskit.loss_info(row["spec"].partition(":")[0])
        target = one_hot if info["inputs"][1]["shape"] == "like_first" else labels.astype(np.int64)
        expected = library_value(row["spec"], row["implied"], scores, target)
        assert list(expected.shape) == row["shape"], row["spec"]
        got = np.asarray(row["value"], dtype=np.float64).reshape(expected.shape)
        assert np.array_equal(got, expected), (row["spec"], got, expected)


def assert_metrics_match(report: dict, pred_labels, labels, classes, spacing, **options):
    expected = losskit.metrics.compute(pred_labels[None], labels[None], max(classes, 2), spacing,
                                       metrics=ALL_METRICS, return_flags=True, **options)
    metrics = report["metrics"]
    for name in ALL_METRICS:
        want = expected[name][0]
        want = np.where(np.isfinite(want), want, np.nan)  # JSON: null for NaN and infinity
        np.testing.assert_array_equal(json_numbers(metrics[name]), want, err_msg=name)
    assert metrics["flags"] == expected["flags"][0].tolist()


LOSSES = ["dice", "focal:gamma=2", "cross_entropy:label_smoothing=0.1", "generalized_dice",
          "tversky:alpha=0.3,beta=0.7", "binary_cross_entropy", "dice:reduction=none",
          "boundary", "hausdorff_dt", "lovasz_softmax"]


def test_probabilities_npy_losses_and_metrics(tmp_path):
    labels = two_objects()
    probabilities = softmax(noisy_logits(labels, 3)).astype(np.float32)
    np.save(tmp_path / "pred.npy", probabilities)
    np.save(tmp_path / "target.npy", labels)
    args = ["--pred", tmp_path / "pred.npy", "--target", tmp_path / "target.npy", "--metrics", "all"]
    for spec in LOSSES:
        args += ["--loss", spec]
    report = run_json(*args)
    assert report["pred"]["kind"] == "probabilities" and report["pred"]["kind_source"] == "auto"
    assert report["pred"]["dtype"] == "float32" and report["pred"]["shape"] == [3, 14, 12, 10]
    assert report["classes"] == 3 and report["spacing_source"] == "none"
    assert [row["spec"] for row in report["losses"]] == LOSSES
    assert {row["implied"] for row in report["losses"]} == {"activation=none"}
    one_hot = (np.arange(3).reshape(3, 1, 1, 1) == labels).astype(np.float64)
    assert_losses_match(report, probabilities.astype(np.float64), labels, one_hot)
    assert_metrics_match(report, probabilities.argmax(axis=0), labels, 3, None)
    assert report["metrics"]["classes"] == [1, 2]


def test_weighted_sum_spec_is_the_library_compound(tmp_path):
    """A spec with '+' or '*' is a weighted sum: eval's value is the Python
    package's losskit.combine on the same arrays, with activation=none
    implied for each term; 1e+1 inside a term is a number, not a sum."""
    labels = two_objects()
    probabilities = softmax(noisy_logits(labels, 3))
    np.save(tmp_path / "pred.npy", probabilities)
    np.save(tmp_path / "target.npy", labels)
    cases = {
        "dice + 0.5*focal:gamma=2": "dice:activation=none + 0.5*focal:gamma=2,activation=none",
        "2*tversky:alpha=0.3,beta=0.7 + cross_entropy":
            "2*tversky:alpha=0.3,beta=0.7,activation=none + cross_entropy:activation=none",
    }
    specs = [*cases, "dice:smooth_nr=1e+1"]
    report = run_json("--pred", tmp_path / "pred.npy", "--target", tmp_path / "target.npy",
                      *[arg for spec in specs for arg in ("--loss", spec)])
    rows = {row["spec"]: row for row in report["losses"]}
    for spec, explicit in cases.items():
        expected, _ = losskit.combine(explicit)(probabilities[None], labels[None].astype(np.int64), grad=False)
        assert rows[spec]["value"] == pytest.approx(float(expected), rel=1e-14), spec
    single = rows["dice:smooth_nr=1e+1"]
    assert single["value"] == library_value("dice:smooth_nr=1e+1", single["implied"], probabilities, labels)
    bad = run("--pred", tmp_path / "pred.npy", "--target", tmp_path / "target.npy", "--loss", "dice + focl",
              check=False)
    assert bad.returncode == 2 and "term 2 at position 7: no loss named 'focl'" in bad.stderr


def test_logits_with_spacing_and_metric_options(tmp_path):
    labels = two_objects()
    logits = noisy_logits(labels, 3, seed=1)
    np.save(tmp_path / "pred.npy", logits)
    np.save(tmp_path / "target.npy", labels.astype(np.int32))
    spacing = [0.7, 1.1, 2.5]
    report = run_json("--pred", tmp_path / "pred.npy", "--target", tmp_path / "target.npy",
                      "--loss", "dice", "--loss", "boundary", "--loss", "lovasz_hinge", "--metrics", "all", "--spacing", "0.7,1.1,2.5",
                      "--include-background", "--percentile", "90", "--nsd-tolerance", "2")
    assert report["pred"]["kind"] == "logits" and report["spacing"] == spacing
    assert report["spacing_source"] == "--spacing"
    implied = {row["spec"]: row["implied"] for row in report["losses"]}
    assert implied == {"dice": "activation=softmax", "boundary": "activation=softmax,spacing=[0.7,1.1,2.5]",
                       "lovasz_hinge": ""}
    one_hot = (np.arange(3).reshape(3, 1, 1, 1) == labels).astype(np.float64)
    assert_losses_match(report, logits, labels, one_hot)
    assert_metrics_match(report, logits.argmax(axis=0), labels, 3, spacing, include_background=True,
                         percentile=90.0, nsd_tolerance=2.0)
    assert report["metrics"]["classes"] == [0, 1, 2]


@pytest.mark.parametrize("spatial", [(9, 8), (7, 6, 8)], ids=["2-D", "3-D"])
def test_deepmind_conventions(tmp_path, spatial):
    """--surface surfels with the area-weighted percentile and the mean of the
    two means: DeepMind's conventions, equal to losskit.metrics.compute with
    the same options."""
    gen = np.random.default_rng(len(spatial))
    labels = (gen.random(spatial) < 0.4).astype(np.int32) + (gen.random(spatial) < 0.2)
    pred = np.where(gen.random(spatial) < 0.15, gen.integers(0, 3, spatial), labels).astype(np.int32)
    np.save(tmp_path / "pred.npy", pred)
    np.save(tmp_path / "target.npy", labels)
    spacing = [0.8, 1.3, 2.0][: len(spatial)]
    report = run_json("--pred", tmp_path / "pred.npy", "--target", tmp_path / "target.npy", "--metrics", "all",
                      "--classes", "3", "--spacing", ",".join(map(str, spacing)), "--surface", "surfels",
                      "--percentile-rule", "area_weighted", "--assd-rule", "mean_of_means")
    assert_metrics_match(report, pred, labels, 3, spacing, surface="surfels", percentile_rule="area_weighted",
                         assd_rule="mean_of_means")
    voxels = run_json("--pred", tmp_path / "pred.npy", "--target", tmp_path / "target.npy", "--metrics", "all",
                      "--classes", "3", "--spacing", ",".join(map(str, spacing)))
    assert voxels["metrics"]["hausdorff_percentile"] != report["metrics"]["hausdorff_percentile"]
    bad = run("--pred", tmp_path / "pred.npy", "--target", tmp_path / "target.npy", "--surface", "mesh", check=False)
    assert bad.returncode == 2 and "--surface 'mesh': expected one of voxels surfels" in bad.stderr


def test_two_dimensional_logits(tmp_path):
    """2-D images: the losses that take only 2-D logits (RMI, ABL) too."""
    labels = two_objects((24, 20, 10))[..., 4]
    assert set(np.unique(labels)) == {0, 1, 2}
    logits = noisy_logits(labels, 3, seed=4).astype(np.float32)
    np.save(tmp_path / "pred.npy", logits)
    np.save(tmp_path / "target.npy", labels)
    report = run_json("--pred", tmp_path / "pred.npy", "--target", tmp_path / "target.npy",
                      "--loss", "rmi", "--loss", "active_boundary", "--loss", "focal", "--metrics", "all",
                      "--spacing", "0.5")
    assert report["spacing"] == [0.5, 0.5]
    assert_losses_match(report, logits.astype(np.float64), labels)
    assert_metrics_match(report, logits.argmax(axis=0), labels, 3, [0.5, 0.5])


def test_label_map_prediction_is_one_hot(tmp_path):
    labels = two_objects()
    predicted = np.roll(labels, 1, axis=0).astype(np.int16)
    np.save(tmp_path / "pred.npy", predicted)
    np.save(tmp_path / "target.npy", labels.astype(np.float32))  # whole-number floats are labels
    report = run_json("--pred", tmp_path / "pred.npy", "--target", tmp_path / "target.npy",
                      "--loss", "dice", "--loss", "cross_entropy", "--metrics", "dice,hausdorff",
                      "--classes", "4")
    assert report["pred"]["kind"] == "labels" and report["classes"] == 4
    one_hot = (np.arange(4).reshape(4, 1, 1, 1) == predicted).astype(np.float64)
    assert_losses_match(report, one_hot, labels)
    expected = losskit.metrics.compute(predicted[None].astype(np.int64), labels[None], 4, metrics=["dice", "hausdorff"],
                                       return_flags=True)
    assert json_numbers(report["metrics"]["dice"])[:2].tolist() == expected["dice"][0][:2].tolist()
    assert report["metrics"]["dice"][2] is None  # class 3: absent from both, NaN
    assert report["metrics"]["flags"] == [0, 0, 3]


def test_integer_one_hot_prediction(tmp_path):
    labels = two_objects()
    one_hot = (np.arange(3).reshape(3, 1, 1, 1) == np.roll(labels, 1, axis=1)).astype(np.uint8)
    np.save(tmp_path / "pred.npy", one_hot)
    np.save(tmp_path / "target.npy", labels)
    report = run_json("--pred", tmp_path / "pred.npy", "--target", tmp_path / "target.npy",
                      "--loss", "dice", "--metrics", "all")
    assert report["pred"]["kind"] == "probabilities" and report["classes"] == 3
    assert_losses_match(report, one_hot.astype(np.float64), labels)
    assert_metrics_match(report, one_hot.argmax(axis=0), labels, 3, None)


def test_one_channel_prediction(tmp_path):
    labels = (two_objects() > 0).astype(np.uint8)
    foreground = softmax(noisy_logits(labels, 2, seed=2))[1]
    np.save(tmp_path / "pred.npy", foreground)
    np.save(tmp_path / "target.npy", labels)
    report = run_json("--pred", tmp_path / "pred.npy", "--target", tmp_path / "target.npy",
                      "--loss", "dice", "--loss", "binary_cross_entropy", "--metrics", "all")
    assert report["pred"]["kind"] == "probabilities" and report["classes"] == 1
    assert_losses_match(report, foreground[None], labels, labels[None].astype(np.float64))
    assert_metrics_match(report, (foreground > 0.5).astype(np.int64), labels, 2, None)

    logits = np.log(foreground / (1 - foreground))
    np.save(tmp_path / "logit.npy", logits)
    report = run_json("--pred", tmp_path / "logit.npy", "--target", tmp_path / "target.npy",
                      "--pred-kind", "logits", "--loss", "dice", "--metrics", "dice")
    assert report["losses"][0]["implied"] == "activation=sigmoid"
    assert_losses_match(report, logits[None], labels)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti_channels_last_and_header_spacing(tmp_path, suffix):
    labels = two_objects()
    probabilities = softmax(noisy_logits(labels, 3, seed=3)).astype(np.float32)
    affine = np.diag([0.8, 0.9, 2.0, 1.0])
    nib.save(nib.Nifti1Image(np.moveaxis(probabilities, 0, -1), affine), tmp_path / f"pred{suffix}")
    nib.save(nib.Nifti1Image(labels, affine), tmp_path / f"target{suffix}")
    report = run_json("--pred", tmp_path / f"pred{suffix}", "--target", tmp_path / f"target{suffix}",
                      "--loss", "dice", "--loss", "boundary", "--metrics", "all")
    spacing = [float(np.float32(v)) for v in (0.8, 0.9, 2.0)]
    assert report["spacing"] == spacing and report["spacing_source"] == "target header"
    assert report["pred"]["format"] == "nifti" and report["pred"]["shape"] == [14, 12, 10, 3]
    assert_losses_match(report, probabilities.astype(np.float64), labels)
    assert_metrics_match(report, probabilities.argmax(axis=0), labels, 3, spacing)

    table = run("--pred", tmp_path / f"pred{suffix}", "--target", tmp_path / f"target{suffix}",
                "--loss", "dice", "--metrics", "dice").stdout
    assert "spacing  0.8 x 0.9 x 2 (target header)" in table
    dice_row = next(line for line in table.splitlines() if line.startswith("dice "))
    assert float(dice_row.split()[1]) == pytest.approx(report["losses"][0]["value"], rel=1e-6)


def test_table_layout(tmp_path):
    labels = two_objects()
    np.save(tmp_path / "pred.npy", softmax(noisy_logits(labels, 3)))
    np.save(tmp_path / "target.npy", labels)
    out = run("--pred", tmp_path / "pred.npy", "--target", tmp_path / "target.npy", "--loss", "dice",
              "--loss", "focal:gamma=2", "--loss", "dice:reduction=none", "--metrics", "dice,nsd").stdout
    lines = out.splitlines()
    assert lines[0].startswith("pred ") and "probabilities (auto), 3 classes" in lines[0]
    assert lines[1].startswith("target ") and "uint8 (14, 12, 10)" in lines[1]
    assert lines[4].split() == ["LOSS", "VALUE", "IMPLIED"]
    assert lines[7].startswith("dice:reduction=none  shape (1, 3) ")
    assert lines[9].split() == ["METRIC", "class", "1", "class", "2"]
    assert all(line == line.rstrip() for line in lines)


def test_progress_bar_only_on_a_terminal(tmp_path):
    labels = two_objects()
    np.save(tmp_path / "pred.npy", softmax(noisy_logits(labels, 3)))
    np.save(tmp_path / "target.npy", labels)
    args = [*CLI, "eval", "--pred", str(tmp_path / "pred.npy"),
            "--target", str(tmp_path / "target.npy"), "--loss", "dice", "--metrics", "dice"]
    assert subprocess.run(args, capture_output=True, text=True).stderr == ""
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(args, stdout=subprocess.PIPE, stderr=terminal, text=True)
        os.close(terminal)
        terminal = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        if terminal >= 0:
            os.close(terminal)
        os.close(controller)
    assert result.returncode == 0
    assert b"[" in drawn and b"#" in drawn and b"metrics" in drawn, drawn
    assert "LOSS" in result.stdout and "[#" not in result.stdout


def write_case(tmp_path, pred, target, pred_name="pred.npy", target_name="target.npy"):
    for name, array in ((pred_name, pred), (target_name, target)):
        if name.endswith(".npy"):
            np.save(tmp_path / name, array)
        else:
            nib.save(nib.Nifti1Image(array, np.eye(4)), tmp_path / name)
    return ["--pred", tmp_path / pred_name, "--target", tmp_path / target_name]


@pytest.mark.parametrize("pred, target, extra, code, message", [
    (np.zeros((3, 5, 5)), np.zeros((4, 5), np.uint8), [], 3,
     "must have the target's shape (a label map or one channel of scores) or one more axis"),
    (np.zeros((3, 4, 5)), np.zeros((4, 5, 6), np.uint8), [], 3, "has shape (3, 4, 5), target"),
    (np.zeros((2, 4, 5)), np.full((4, 5), 0.5), [], 3, "holds 0.5 at flat index 0, not a label"),
    (np.zeros((2, 2, 2, 2, 2)), np.zeros((2, 2, 2, 2), np.uint8), [], 3, "1 to 3 spatial axes"),
    (np.full((2, 4, 5), 0.5), np.zeros((4, 5), np.uint8), ["--loss", "rmi"], 1,
     "rmi takes logits (it has no activation parameter)"),
    (np.full((2, 4, 5), 0.5), np.full((4, 5), 7, np.uint8), ["--loss", "dice"], 1,
     "LK_EVALUE"),
    (np.full((2, 4, 5), 0.5), np.zeros((4, 5), np.uint8), ["--loss", "robust_t"], 1,
     "robust_t takes 3 inputs"),
    (np.full((2, 4, 5), 0.5), np.zeros((4, 5), np.uint8), ["--classes", "3", "--metrics", "dice"], 3,
     "has 2 channels, --classes says 3"),
    (np.full((4, 5), 3), np.zeros((4, 5), np.uint8), ["--classes", "2", "--metrics", "dice"], 3,
     "label 3 at flat index 0 is not in [0, 2)"),
    (np.full((2, 4, 5), 0.5), np.zeros((4, 5), np.uint8), ["--pred-kind", "labels", "--metrics", "dice"], 3,
     "--pred-kind labels takes a label map"),
    (np.full((2, 4, 5), 0.5), np.zeros((4, 5), np.uint8), ["--spacing", "1,2,3", "--metrics", "dice"], 2,
     "--spacing has 3 values; the images have 2 spatial axes"),
])
def test_errors_are_clear_with_exit_codes(tmp_path, pred, target, extra, code, message):
    args = write_case(tmp_path, pred, target)
    result = run(*args, *(extra or ["--loss", "dice"]), check=False)
    assert result.returncode == code, result.stderr
    assert message in result.stderr and result.stderr.startswith("losskit eval: ")
    assert result.stdout == ""


def test_mismatched_nifti_spacing_and_bad_files(tmp_path):
    labels = two_objects()
    nib.save(nib.Nifti1Image(labels, np.diag([1, 1, 2, 1])), tmp_path / "target.nii.gz")
    nib.save(nib.Nifti1Image(labels, np.diag([1, 1, 3, 1])), tmp_path / "pred.nii.gz")
    result = run("--pred", tmp_path / "pred.nii.gz", "--target", tmp_path / "target.nii.gz", "--metrics",
                 "dice", check=False)
    assert result.returncode == 3 and "voxel spacings of pred" in result.stderr
    assert run("--pred", tmp_path / "pred.nii.gz", "--target", tmp_path / "target.nii.gz", "--metrics",
               "dice", "--spacing", "1").returncode == 0

    (tmp_path / "trunc.npy").write_bytes(b"\x93NUMPY\x01\x00")
    for name, message in [("missing.npy", "No such file or directory"), ("trunc.npy", "truncated"),
                          ("target.nii.gz.txt", "unknown file type")]:
        result = run("--pred", tmp_path / name, "--target", tmp_path / "target.nii.gz", "--loss", "dice",
                     check=False)
        assert result.returncode == 3 and message in result.stderr, result.stderr


@pytest.mark.parametrize("args, message", [
    ([], "--pred is required"),
    (["--pred", "a.npy"], "--target is required"),
    (["--pred", "a.npy", "--target", "b.npy"], "nothing to compute"),
    (["--pred", "a.npy", "--target", "b.npy", "--loss", "dcie"], "no loss named 'dcie'"),
    (["--pred", "a.npy", "--target", "b.npy", "--loss", "focal:gamma=-1"], "gamma"),
    (["--pred", "a.npy", "--target", "b.npy", "--loss", ":x"], "expected NAME or NAME:key=value"),
    (["--pred", "a.npy", "--target", "b.npy", "--metrics", "dice,hd"], "unknown metric 'hd'"),
    (["--pred", "a.npy", "--target", "b.npy", "--metrics", "dice", "--spacing", "1,-2"], "--spacing '1,-2'"),
    (["--pred", "a.npy", "--target", "b.npy", "--metrics", "dice", "--pred-kind", "odds"], "expected one of"),
    (["--pred", "a.npy", "--target", "b.npy", "--metrics", "dice", "--percentile", "101"], "in [0, 100]"),
    (["--pred", "a.npy", "--target", "b.npy", "--metrics", "dice", "--classes", "0"], "--classes '0'"),
    (["--pred", "a.npy", "--target", "b.npy", "--metrics", "dice", "--frobnicate"], "unexpected argument"),
    (["--pred"], "--pred needs a value"),
])
def test_usage_errors(args, message):
    result = run(*args, check=False)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_option_equals_form(tmp_path):
    args = write_case(tmp_path, softmax(noisy_logits(two_objects(), 3)), two_objects())
    a = run(*args, "--loss", "dice", "--json").stdout
    b = run(f"--pred={args[1]}", f"--target={args[3]}", "--loss=dice", "--json").stdout
    assert a == b


def test_help_is_complete():
    text = run("--help").stdout
    for section in ["usage: losskit eval", "Options:", "Inputs:", "Output:", "Exit status:", "Examples:"]:
        assert section in text
    for option in ["--pred", "--target", "--loss", "--metrics", "--spacing", "--pred-kind", "--classes",
                   "--channel-axis", "--include-background", "--percentile", "--nsd-tolerance", "--surface",
                   "--percentile-rule", "--assd-rule", "--json"]:
        assert f"  {option}" in text, option
    for code in "0123":
        assert f"  {code}  " in text
    assert "eval" in subprocess.run([*CLI, "--help"], capture_output=True, text=True).stdout


def test_sample_case_of_make_run(tmp_path):
    generated = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_sample.py"), str(tmp_path)],
                               capture_output=True, text=True)
    assert generated.returncode == 0, generated.stderr
    nifti = run_json("--pred", tmp_path / "pred.nii.gz", "--target", tmp_path / "target.nii.gz",
                     "--loss", "dice", "--metrics", "all")
    numpy = run_json("--pred", tmp_path / "pred.npy", "--target", tmp_path / "target.npy",
                     "--spacing", ",".join(str(v) for v in nifti["spacing"]), "--loss", "dice", "--metrics", "all")
    assert nifti["losses"] == numpy["losses"]
    assert nifti["metrics"] == numpy["metrics"]
    assert all(0.9 < value < 1 for value in nifti["metrics"]["dice"])
    assert nifti["metrics"]["flags"] == [0, 0]
