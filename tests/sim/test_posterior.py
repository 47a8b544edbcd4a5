"""Bayesian calibration (issue 10, part 1): priors map the unit cube onto their supports, the emulator
recovers a quadratic exactly, the MCMC recovers a posterior known in closed form, and the shipped posterior
file is consistent with its own summary (no parameter silently on a bound: edges are reported)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stemdm.sim.posterior import PRIORS, Emulator, load_draws, posterior_file, sample_posterior

#: the trials whose numbers enter the likelihood (each is left out once in the validation)
FITTED_TRIALS = {"Zang2022", "LIRA_hUCMSC2016", "Bhansali2017"}


def test_priors_map_the_unit_cube_onto_their_support_monotonically():
    u = np.linspace(0, 1, 101)
    for prior in PRIORS:
        values = prior.from_unit(u)
        assert values[0] >= prior.lower - 1e-9 and values[-1] <= prior.upper + 1e-9
        assert np.all(np.diff(values) >= 0) and prior.source


def test_emulator_is_exact_for_a_quadratic_and_reports_its_error():
    rng = np.random.default_rng(1)
    u = rng.uniform(size=(60, 3))
    y = np.column_stack([1 + 2 * u[:, 0] - u[:, 1] * u[:, 2] + 0.5 * u[:, 2] ** 2, np.sin(6 * u[:, 0])])
    emulator = Emulator.fit(u, y)
    assert emulator.loo_sd[0] < 1e-10 and emulator.r2[0] > 0.999999
    assert emulator.loo_sd[1] > 0.01  # a sine is not a quadratic: the error is seen, not hidden
    assert np.allclose(emulator(u[:5])[:, 0], y[:5, 0])


def test_mcmc_recovers_a_closed_form_posterior():
    """One target equal to u_1 (the others free): with a flat prior on [0, 1] the posterior of u_1 is a normal
    N(0.4, 0.05) truncated to [0, 1] (practically untruncated); u_2..u_d stay uniform."""
    d = len(PRIORS)
    coef = np.zeros((1 + d + d * (d + 1) // 2, 1))
    coef[0, 0], coef[1, 0] = 0.5, 0.5  # the emulator works on z = 2u - 1: 0.5 + 0.5 z = u_1
    emulator = Emulator(coef, np.zeros(1), np.ones(1))
    chain = sample_posterior(emulator, np.array([0.4]), np.array([0.05]), np.array([True]), seed=3,
                             steps=4000, burn=1000)  # fmt: skip
    assert chain[:, 0].mean() == pytest.approx(0.4, abs=0.005)
    assert chain[:, 0].std() == pytest.approx(0.05, rel=0.08)
    # a free coordinate keeps its uniform prior: mean 1/2, SD 1/sqrt(12) (MCMC draws are autocorrelated, so
    # moments, not a KS test of independent draws)
    assert chain[:, 1].mean() == pytest.approx(0.5, abs=0.03)
    assert chain[:, 1].std() == pytest.approx(1 / np.sqrt(12), rel=0.08)


def test_shipped_posterior_is_consistent_with_its_record():
    record = json.loads(posterior_file().read_text())
    names, values, _ = load_draws()
    assert names == [f"{p.block}.{p.name}" for p in PRIORS] and values.shape[1] == len(PRIORS)
    for j, (prior, summary) in enumerate(zip(PRIORS, record["parameters"], strict=True)):
        assert prior.lower - 1e-9 <= values[:, j].min() and values[:, j].max() <= prior.upper + 1e-9
        # the kept draws are a sample of the chain the summary describes
        assert np.median(values[:, j]) == pytest.approx(summary["post_50"], rel=0.25, abs=0.02 * prior.upper)
        assert summary["verdict"] and summary["source"]
        if summary["edge_share"] > 0.1:
            assert "edge of the prior's support" in summary["verdict"]
    held_out = [t for t in record["targets"] if not t["in_likelihood"]]
    assert held_out and all("posterior_predictive" in t for t in held_out)


def test_shipped_record_has_leave_one_trial_out_validation():
    record = json.loads(posterior_file().read_text())
    loto = record["leave_one_trial_out"]
    assert {row["left_out"] for row in loto["rows"]} == FITTED_TRIALS
    assert loto["covered"] == sum(row["covered"] for row in loto["rows"])
    assert loto["total"] == len(loto["rows"])
    for row in loto["rows"]:
        lo, mid, hi = row["posterior_predictive"]
        assert lo <= mid <= hi and row["covered"] == (lo <= row["target"] <= hi)


def test_calibration_pipeline_end_to_end_small():
    """A small run of the whole pipeline (design runs, emulator, MCMC, leave one trial out): every parameter
    summarised and profiled, every fitted trial left out once, every held-out source checked (bounded: 50
    design runs of 10 patients per arm, one more than the quadratic emulator's 45 coefficients)."""
    from stemdm.sim.posterior import calibrate_bayes

    record = calibrate_bayes(n_design=50, patients=10, steps=300, draws=50)
    assert len(record["parameters"]) == len(PRIORS) == len(record["profile_likelihood"])
    assert len(record["draws"]["values"]) == 50
    assert {row["left_out"] for row in record["leave_one_trial_out"]["rows"]} == FITTED_TRIALS
    held = {row["trial"] for row in record["held_out"]["rows"]}
    assert held == {"Cai2016", "Zang2023_SCTM", "Bhansali2014", "pooled reviews"}
    assert not any(row["in_likelihood"] for row in record["held_out"]["rows"])


def test_profile_likelihood_matches_a_closed_form():
    """Target = u_1 observed 0.4 with SE 0.05 (the other parameters free): the profile deviance of u_1 is
    ((u - 0.4) / 0.05)^2, so its 95 % interval is 0.4 +- 1.96 x 0.05 on the unit scale (to the grid's
    resolution), and every other parameter's profile is flat: its interval spans the whole support."""
    from stemdm.sim.posterior import profile_likelihood

    d = len(PRIORS)
    coef = np.zeros((1 + d + d * (d + 1) // 2, 1))
    coef[0, 0], coef[1, 0] = 0.5, 0.5
    emulator = Emulator(coef, np.zeros(1), np.ones(1))
    profiles = profile_likelihood(emulator, np.array([0.4]), np.array([0.05]), np.array([True]), points=199)
    first = PRIORS[0]
    low, high = first.to_unit(np.array(profiles[0]["interval_95"]))
    step = 0.99 / 198
    assert low == pytest.approx(0.4 - 1.96 * 0.05, abs=step)
    assert high == pytest.approx(0.4 + 1.96 * 0.05, abs=step)
    assert not profiles[0]["reaches_lower_edge"] and not profiles[0]["reaches_upper_edge"]
    for profile in profiles[1:]:
        assert profile["reaches_lower_edge"] and profile["reaches_upper_edge"]


def test_default_parameters_are_a_central_posterior_draw_not_on_a_bound():
    """Issue 10: version 1 ran every simulation with the MSC sensitivity effect on its bound (1.0) and the
    signal half-life at 399.7 of 400 days. The default parameter set is now the posterior draw nearest the
    median, and none of its calibrated values sits at an edge of its prior's support."""
    from stemdm.sim.parameters import default_parameters

    params = default_parameters()
    assert params.version.startswith("2-posterior-central")
    for prior in PRIORS:
        value = getattr(getattr(params, prior.block), prior.name)
        assert 0.02 < prior.to_unit(np.array([value]))[0] < 0.98, prior.name
