"""The command line: readable table, JSON, plots, exit code 2 with a message on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stemdm.cli import app
from stemdm.meta.datasets import load_dataset

runner = CliRunner()


@pytest.fixture
def bcg_csv(tmp_path: Path) -> Path:
    path = tmp_path / "bcg.csv"
    load_dataset("bcg").to_csv(path, index=False)
    return path


def test_table_output_back_transforms_ratios(bcg_csv):
    result = runner.invoke(app, ["meta", str(bcg_csv), "--measure", "RR", "--test", "knha"])
    assert result.exit_code == 0, result.output
    assert "0.489 [0.330, 0.726]" in result.output
    assert "Not medical advice" in result.output


def test_json_output_is_to_dict(bcg_csv):
    result = runner.invoke(app, ["meta", str(bcg_csv), "--measure", "RR", "--test", "knha", "--json"])
    assert result.exit_code == 0, result.output
    values = json.loads(result.stdout)
    assert values["k"] == 13
    assert values["estimate"] == pytest.approx(-0.7145323, rel=1e-6)  # metafor README: -0.7145
    assert values["tau2"] == pytest.approx(0.3132, abs=5e-5)


def test_subgroups_moderators_and_plots(bcg_csv, tmp_path):
    forest, funnel = tmp_path / "f.svg", tmp_path / "fun.pdf"
    result = runner.invoke(app, ["meta", str(bcg_csv), "--measure", "RR", "--by", "alloc",
                                 "--forest", str(forest), "--funnel", str(funnel)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Test for subgroup differences" in result.output
    assert forest.read_text().startswith("<?xml") and funnel.read_bytes().startswith(b"%PDF")
    result = runner.invoke(app, ["meta", str(bcg_csv), "--measure", "RR", "--mods", "ablat", "--json"])
    assert json.loads(result.stdout)["coef_names"] == ["intrcpt", "ablat"]


def test_bad_input_exits_2_naming_study_and_field(tmp_path):
    data = load_dataset("bcg")
    data.loc[2, "ai"] = data.loc[2, "n1i"] + 5
    path = tmp_path / "bad.csv"
    data.to_csv(path, index=False)
    result = runner.invoke(app, ["meta", str(path), "--measure", "RR"])
    assert result.exit_code == 2
    assert data.loc[2, "study"] in result.output and "'ai'" in result.output
    assert "Traceback" not in result.output


def test_missing_file_and_unknown_measure(bcg_csv):
    assert runner.invoke(app, ["meta", "nope.csv"]).exit_code == 2
    result = runner.invoke(app, ["meta", str(bcg_csv), "--measure", "XYZ"])
    assert result.exit_code == 2 and "--measure: 'XYZ' is not one of MD" in result.output


def test_python_dash_m_and_console_script(bcg_csv):
    command = [sys.executable, "-m", "stemdm", "meta", str(bcg_csv), "--measure", "OR", "--method", "MH"]
    completed = subprocess.run([*command, "--json"], capture_output=True, text=True, check=True)
    assert json.loads(completed.stdout)["pooling"] == "MH"


def test_demo_writes_plots_and_summary(tmp_path):
    """Issue 18: the diabetes review comes first, the BCG worked example only after it and when asked; the
    last line says where the report is and how to open the workbench."""
    result = runner.invoke(app, ["demo", "--out", str(tmp_path), "--with-bcg"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert (
        said.index("The systematic review") < said.index("in-silico trial") < said.index("BCG vaccine trials")
    )
    last = result.output.strip().splitlines()[-1]
    assert "report.html" in " ".join(result.output.split()[-30:]) and "stemdm serve" in said, last
    assert (tmp_path / "report.html").is_file() and (tmp_path / "sim_trial.json").is_file()
    summary = json.loads((tmp_path / "bcg_summary.json").read_text())
    assert summary["overall"]["k"] == 13
    for name in ("bcg_forest.png", "bcg_forest_by_alloc.png", "bcg_funnel.png", "bcg_baujat.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
    evidence = json.loads((tmp_path / "evidence_coverage.json").read_text())
    assert evidence["counts"]["trials"] == 23 and len(evidence["caveats"]) == 10
    assert any(c["trial_id"] == "Zang2022" and c["review_months"] == 12 for c in evidence["coverage"])


def test_excel_input_through_the_cli(tmp_path):
    path = tmp_path / "bcg.xlsx"
    load_dataset("bcg").to_excel(path, index=False)
    result = runner.invoke(app, ["meta", str(path), "--measure", "RR", "--json"])
    assert result.exit_code == 0, result.output


def test_level_and_continuity_options(bcg_csv):
    args = [
        "meta",
        str(bcg_csv),
        "--measure",
        "OR",
        "--level",
        "90",
        "--add",
        "0.25",
        "--to",
        "all",
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["level"] == 90
    bad = runner.invoke(app, ["meta", str(bcg_csv), "--measure", "OR", "--to", "sometimes"])
    assert bad.exit_code == 2 and "--to: 'sometimes' is not one of" in bad.output


def test_unwritable_plot_path_is_a_clear_error(bcg_csv, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = runner.invoke(app, ["meta", str(bcg_csv), "--measure", "RR", "--forest", str(blocker / "f.png")])
    assert result.exit_code == 2 and "Traceback" not in result.output
