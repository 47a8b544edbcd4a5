"""Predictions with their uncertainty (issue 10, part 2): what a trial of a given size would observe, over
posterior draws, with the trial's sampling error and (where the evidence has it) between-trial
heterogeneity."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from stemdm.cli import app
from stemdm.sim.predict import predictive, published_tau
from stemdm.sim.trial import TrialDesign

DESIGN = TrialDesign(patients_per_arm=30, weeks=12, visits=[0, 12], seed=5)


@pytest.fixture(scope="module")
def small_and_large():
    return predictive(DESIGN, (20, 20), 4), predictive(DESIGN, (2000, 2000), 4)


def test_predictive_interval_holds_the_parameter_interval_and_shrinks_with_trial_size(small_and_large):
    small, large = small_and_large
    rows_small = {r["outcome"]: r for r in small["effects"]}
    rows_large = {r["outcome"]: r for r in large["effects"]}
    for outcome, row in rows_small.items():
        assert row["pred_lb"] <= row["param_lb"] and row["param_ub"] <= row["pred_ub"], outcome
        width_small = row["pred_ub"] - row["pred_lb"]
        width_large = rows_large[outcome]["pred_ub"] - rows_large[outcome]["pred_lb"]
        tau, _ = published_tau(outcome)
        note = small["heterogeneity"][outcome]
        if "left out" in note or "not an outcome" in note or tau == 0:
            assert width_large < width_small, outcome  # sampling error shrinks with the trial's size
        elif tau is not None:  # heterogeneity does not shrink: a large trial still varies between settings
            assert width_large > 0.5 * width_small, outcome
    # heterogeneity from the published review's I² (13 trials), not from a k = 2 posterior equal to its prior
    assert "from Kashbour M et al." in small["heterogeneity"]["hba1c"]
    assert "I² = 56 %" in small["heterogeneity"]["hba1c"] and "I² = 81 %" in small["heterogeneity"]["fbg"]
    assert "model discrepancy SD" in small["heterogeneity"]["hba1c"]
    low, high = small["responders"]["difference_pred"]
    assert -1 <= low <= high <= 1


def test_cli_trial_size_adds_predictive_columns():
    runner = CliRunner()
    args = ["simulate", "--patients", "20", "--weeks", "12", "--visits", "0,12", "--json"]
    result = runner.invoke(app, [*args, "--trial-size", "45,46", "--posterior-draws", "3"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    row = payload["effects"][0]
    assert {"md", "ci_lb", "ci_ub", "pred_lb", "pred_ub", "param_lb", "param_ub"} <= set(row)
    assert payload["prediction"]["posterior_draws"] == 3 and "difference_pred" in payload["responders"]
    bad = runner.invoke(app, [*args, "--trial-size", "45"])
    assert bad.exit_code == 2 and "N_THERAPY,N_PLACEBO" in bad.output


def test_batched_posterior_draws_equal_one_by_one():
    """The default answer simulates all posterior draws at once (per-patient parameter arrays): the same
    numbers as simulating each draw alone."""
    import numpy as np

    from stemdm.sim.calibrate import zang_design
    from stemdm.sim.parameters import default_parameters
    from stemdm.sim.posterior import load_draws, params_for_draw
    from stemdm.sim.predict import batched_paired_runs, paired_run, replace_design

    base = default_parameters()
    names, values, _ = load_draws()
    design = replace_design(zang_design(30, 2), 30)
    picks = values[[1, 9, 33]]
    batched = batched_paired_runs(design, base, names, picks)
    for j, draw in enumerate(picks):
        alone = paired_run(design, params_for_draw(base, names, draw))
        for arm in ("therapy", "placebo"):
            for endpoint, v in alone.arms[arm].values.items():
                np.testing.assert_allclose(batched[j].arms[arm].values[endpoint], v, rtol=1e-9, atol=1e-9)
