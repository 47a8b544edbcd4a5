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
    # the answer over the posterior first; the virtual cohort's Monte Carlo interval labelled as such
    row = payload["effects"][0]
    assert {"week", "outcome", "md", "ci_lb", "ci_ub", "param_median", "param_lb", "param_ub"} <= set(row)
    assert "Monte Carlo" in row["ci_is"] and row["param_lb"] <= row["param_median"] <= row["param_ub"]
    assert payload["headline"].startswith("the true between-arm MD over 40 posterior draws")
    assert payload["design"]["patients_per_arm"] == 20 and payload["disclaimer"]
    assert isinstance(payload["warnings"], list) and payload["not_informed_by_data"]


def test_simulate_central_is_one_labelled_parameter_set():
    result = runner.invoke(
        app,
        ["simulate", "--patients", "20", "--weeks", "12", "--visits", "0,12", "--infusions", "1", "--json",
         "--params", "central"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert "param_median" not in payload["effects"][0]
    headline = payload["headline"]
    assert headline.startswith("single parameter set") and "not a prediction" in headline


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
    from stemdm.sim.calibrate import targets

    assert len(record["targets"]) == len(targets()) == 8 and out.exists()
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


def _shipped_bytes() -> dict[str, bytes]:
    from stemdm.sim.parameters import shipped_parameter_file
    from stemdm.sim.posterior import posterior_file

    return {str(p): p.read_bytes() for p in (shipped_parameter_file(), posterior_file())}


NO_PARAMS_ENV = {"STEMDM_SIM_PARAMS": None}  # the runner restores it: a --params run leaks into no test


def test_calibrate_without_out_writes_to_the_users_data_folder_never_the_package():
    """Issue 18: a command never changes the package's own calibration."""
    from stemdm.paths import calibration_dir

    shipped = _shipped_bytes()
    result = runner.invoke(app, ["calibrate", "--patients", "10", "--max-evals", "2"], env=NO_PARAMS_ENV)
    assert result.exit_code == 0, result.output
    written = calibration_dir() / "parameters.json"
    assert written.is_file() and _shipped_bytes() == shipped
    assert f"Wrote {written}" in result.output and "--params" in result.output
    # and simulate uses it only when asked
    args = ["simulate", "--patients", "10", "--weeks", "4", "--visits", "0,4", "--infusions", "1", "--json"]
    own = json.loads(runner.invoke(app, [*args, "--params", str(written)], env=NO_PARAMS_ENV).output)
    assert own["parameter_file"] == str(written.resolve())
    assert own["parameters_version"] == json.loads(written.read_text())["version"]
    plain = json.loads(runner.invoke(app, args, env=NO_PARAMS_ENV).output)
    assert plain["parameter_file"] in shipped and plain["parameters_version"] != own["parameters_version"]
    by_env = json.loads(runner.invoke(app, args, env={"STEMDM_SIM_PARAMS": str(written)}).output)
    assert by_env["parameters_version"] == own["parameters_version"]


def test_a_bayesian_calibration_of_ones_own_brings_its_draws(tmp_path):
    """The parameter file `calibrate --bayes` writes names its posterior; predictions use those draws."""
    from stemdm.sim.parameters import shipped_parameter_file
    from stemdm.sim.posterior import install_central_draw, posterior_file

    record = json.loads(posterior_file().read_text())
    record["date"] = "2099-01-01T00:00:00"
    posterior, params = tmp_path / "mine.json", tmp_path / "mine.parameters.json"
    posterior.write_text(json.dumps(record))
    install_central_draw(record, shipped_parameter_file(), params, posterior)
    assert json.loads(params.read_text())["posterior_file"] == "mine.json"
    result = runner.invoke(
        app,
        ["simulate", "--patients", "10", "--weeks", "4", "--visits", "0,4", "--infusions", "1",
         "--trial-size", "10,10", "--posterior-draws", "2", "--params", str(params), "--json"],
        env=NO_PARAMS_ENV,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["prediction"]["posterior_file_date"].startswith("2099-01-01")


def test_a_bad_parameter_file_is_refused_naming_it(tmp_path):
    bad = tmp_path / "bad.json"
    for content, why in (
        (None, "no such parameter file"),
        ("{not json", "not a readable parameter file"),
        ('{"physiology": {}}', "not a stemdm parameter file"),
        ('{"physiology": {}, "therapy": {"nonsense": 1}, "placebo": {}}', "unknown or missing parameter"),
    ):
        if content is not None:
            bad.write_text(content)
        result = runner.invoke(app, ["simulate", "--params", str(bad)], env=NO_PARAMS_ENV)
        said = " ".join(result.output.split())  # rich wraps long lines
        assert result.exit_code == 2 and "--params" in said and why in said, result.output
        assert "Traceback" not in result.output
