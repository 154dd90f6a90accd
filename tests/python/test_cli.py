"""The command-line tool (run as users run it, in a subprocess): losskit list in
its three formats, errors and exit codes, and the generated catalogue in docs/
being current."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import losskit

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "losskit", *args], capture_output=True, text=True)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_list_table_names_every_loss():
    out = run("list").stdout
    assert out.splitlines()[0].split() == ["NAME", "CATEGORY", "PARAMETERS", "(defaults)"]
    for entry in losskit.losses():
        assert entry["name"] in out and entry["reference"] in out
    assert "gamma=2 alpha=[] weight=[]" in out


def test_list_table_columns_line_up():
    """The CATEGORY column starts at the same place on every row, the longest
    name included."""
    lines = run("list").stdout.splitlines()
    column = lines[0].index("CATEGORY")
    rows = [line for line in lines[1:] if line[:1].strip()]
    assert len(rows) == len(losskit.losses())
    for row in rows:
        assert row[column - 1] == " " and row[column] != " ", row


def test_list_json_is_the_registry():
    data = json.loads(run("list", "--json").stdout)
    assert data["version"] == losskit.__version__
    assert data["losses"] == losskit.losses()


def test_list_category_filter():
    data = json.loads(run("list", "--json", "--category", "pixel").stdout)
    assert {entry["category"] for entry in data["losses"]} == {"pixel"}
    general = json.loads(run("list", "--json", "--category", "general").stdout)["losses"]
    assert {entry["category"] for entry in general} == {"general"}
    assert "nt_xent" in {entry["name"] for entry in general}
    assert "ctc" in {entry["name"] for entry in general}
    bad = run("list", "--category", "pixels", check=False)
    assert bad.returncode == 2 and "unknown category 'pixels'" in bad.stderr


def test_docs_catalogue_is_current():
    generated = run("list", "--markdown").stdout
    committed = (ROOT / "docs" / "losses.md").read_text()
    assert generated == committed, "docs/losses.md is stale: run 'make docs'"


def test_markdown_documents_every_parameter():
    out = run("list", "--markdown").stdout
    for entry in losskit.losses():
        assert f"### `{entry['name']}`" in out
        for param in entry["params"]:
            assert f"| `{param['name']}` |" in out


def test_usage_errors_and_help():
    assert "usage: losskit COMMAND" in run("--help").stdout
    assert "losskit list" in run("list", "--help").stdout
    assert run("--version").stdout.strip() == f"losskit {losskit.__version__}"
    for args, message in [((), "usage"), (("frobnicate",), "unknown command 'frobnicate'"),
                          (("list", "--xml"), "unexpected argument '--xml'")]:
        result = run(*args, check=False)
        assert result.returncode == 2 and message in result.stderr
