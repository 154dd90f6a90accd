"""The worked examples `make run` shows: they run, and every loss in the
registry appears in the Python one's table with a finite value and gradient
(a loss whose inputs the example cannot build fails here, not in front of a
user)."""

from __future__ import annotations

import math
import pathlib
import subprocess
import sys

import losskit

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_python_quickstart_runs_every_loss():
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1:3] for line in result.stdout.splitlines()[3:] if line.strip()}
    for entry in losskit.losses():
        value, grad_norm = rows[entry["name"]]
        assert math.isfinite(float(value)) and math.isfinite(float(grad_norm)), entry["name"]
        assert float(grad_norm) > 0, entry["name"]
