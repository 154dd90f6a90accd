"""losskit list --spec: a loss spec (one loss, or a weighted sum) read by the
library's lk_compound_parse, as every command reads its --loss."""

from __future__ import annotations

import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "losskit", *args], capture_output=True, text=True)


def test_spec_lists_each_term_with_every_parameter():
    result = run("list", "--spec", "dice:smooth_nr=1 + 0.5*focal:gamma=3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["WEIGHT", "LOSS", "PARAMETERS"]
    assert lines[1].split()[:2] == ["1", "dice"] and "smooth_nr=1" in lines[1] and "reduction=mean" in lines[1]
    assert lines[2].split()[:2] == ["0.5", "focal"] and "gamma=3" in lines[2]
    assert lines[3] == "inputs: input (gradient) target"


def test_spec_of_one_loss():
    result = run("list", "--spec", "tversky:alpha=0.3,beta=0.7")
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 3


def test_bad_spec_fails_with_the_position():
    result = run("list", "--spec", "dice + 2*focl")
    assert result.returncode == 1
    assert "term 2 at position 7" in result.stderr and "no loss named 'focl'" in result.stderr
    result = run("list", "--spec", "dice +")
    assert result.returncode == 1 and "empty term" in result.stderr
