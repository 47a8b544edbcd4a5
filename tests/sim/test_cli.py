"""``stemdm simulate``: JSON contract and exit code 2 on bad input."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from stemdm.cli import app

runner = CliRunner()


def test_simulate_json():
    result = runner.invoke(
        app,
        ["simulate", "--patients", "20", "--weeks", "12", "--visits", "0,6,12", "--infusions", "2", "--json"],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert {"design", "arms", "effects"} <= set(payload)
    assert set(payload["effects"][0]) == {"week", "outcome", "md", "ci_lb", "ci_ub"}
    assert payload["design"]["patients_per_arm"] == 20 and payload["disclaimer"]


def test_simulate_bad_input_exits_2():
    for args in (
        ["--dose", "-1"],
        ["--pathway", "gene"],
        ["--source", "placenta"],
        ["--patients", "0"],
        ["--visits", "0,60", "--weeks", "48"],
        ["--visits", "zero"],
        ["--diabetes-type", "t3"],
        ["--diabetes-type", "t1", "--no-insulin-treated"],
    ):
        result = runner.invoke(app, ["simulate", *args])
        assert result.exit_code == 2, args
        assert "Traceback" not in result.output


def test_simulate_an_insulin_deficient_cohort():
    """Issue 10: C-peptide-negative (T1DM-like) cohorts, any spelling of the type."""
    result = runner.invoke(
        app,
        ["simulate", "--diabetes-type", "Type-1", "--hba1c", "8.5", "--hba1c-sd", "1.0", "--patients", "30",
         "--weeks", "4", "--visits", "0,4", "--infusions", "1", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["design"]["diabetes_type"] == "t1"
    cpep = payload["arms"]["placebo"]["cpep_fasting"][0]
    assert cpep["mean"] < 0.3


def test_calibrate_writes_a_parameter_file(tmp_path):
    out = tmp_path / "params.json"
    result = runner.invoke(
        app, ["calibrate", "--patients", "10", "--max-evals", "2", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert len(record["targets"]) == 7 and out.exists()
    saved = json.loads(out.read_text())
    assert saved["version"].startswith("1-calibrated") and saved["calibration"]["patients_per_arm"] == 10


def test_calibrate_refuses_bad_options_before_any_work(tmp_path):
    """Both methods check the same options first (the --bayes path did not check --seed)."""
    for args, option in (
        (["--bayes", "--seed", "-1"], "--seed"), (["--seed", "-1"], "--seed"),
        (["--bayes", "--design-runs", "5"], "--design-runs"), (["--max-evals", "0"], "--max-evals"),
        (["--bayes", "--patients", "3"], "--patients"),
        (["--bayes", "--out", str(tmp_path / "p.txt")], "--out"),
    ):  # fmt: skip
        result = runner.invoke(app, ["calibrate", *args])
        assert result.exit_code == 2 and option in result.output, (args, result.output)
