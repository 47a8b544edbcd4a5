"""After the fit (issue 9, part 4), against metafor 4 (tests/fixtures/metafor_extras.json, made by
tools/make_metafor_extras.R): SE of tau^2 for every estimator, the profile-likelihood CI of tau^2, BLUPs,
predictions at new moderator values, and user weights. Tolerance 1e-8 relative (the fixtures' fits converge
to 1e-12; the largest difference seen is 3e-10)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stemdm import meta
from stemdm.meta.errors import MetaInputError

FIXTURES = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "metafor_extras.json").read_text())
CASES = {case["id"]: case for case in FIXTURES["cases"]}
RTOL = 1e-8


def fitted(case: dict) -> meta.MetaResult:
    args = case["args"]
    options = {"measure": "GEN", "method": args["method"], "test": args.get("test", "z")}
    if args.get("mods"):
        options["mods"] = [args["mods"]] if isinstance(args["mods"], str) else args["mods"]
    if case["kind"] == "weights":
        options["weights"] = args["weights"]
    return meta.fit(pd.DataFrame(case["data"]), **options)


def close(got, expected) -> None:
    np.testing.assert_allclose(
        np.atleast_1d(np.asarray(got, float)), np.atleast_1d(expected), rtol=RTOL, atol=1e-12
    )


def ids(kind: str) -> list[str]:
    return [key for key, case in CASES.items() if case["kind"] == kind]


@pytest.mark.parametrize("case_id", ids("se_tau2"))
def test_se_of_tau2_equals_metafor(case_id):
    case = CASES[case_id]
    result = fitted(case)
    close(result.tau2, case["expected"]["tau2"])
    close(result.to_dict()["se_tau2"], case["expected"]["se_tau2"])


@pytest.mark.parametrize("case_id", ids("profile_ci"))
def test_profile_likelihood_ci_equals_metafor(case_id):
    case = CASES[case_id]
    ci = meta.tau2_profile_ci(fitted(case), case["args"]["level"])
    close(ci["tau2_ci_lb"], case["expected"]["tau2_ci_lb"])
    close(ci["tau2_ci_ub"], case["expected"]["tau2_ci_ub"])


@pytest.mark.parametrize("case_id", ids("blup"))
def test_blups_equal_metafor(case_id):
    case = CASES[case_id]
    table = meta.blup(fitted(case))
    for key in ("pred", "se", "pi_lb", "pi_ub"):
        close(table[key], case["expected"][key])


@pytest.mark.parametrize("case_id", ids("predict"))
def test_predictions_at_new_moderator_values_equal_metafor(case_id):
    case = CASES[case_id]
    table = meta.predict(fitted(case), case["args"]["newmods"])
    for key in ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        close(table[key], case["expected"][key])


@pytest.mark.parametrize("case_id", ids("weights"))
def test_user_weights_equal_metafor(case_id):
    case = CASES[case_id]
    result = fitted(case)
    expected = case["expected"]
    coef = result.coef if result.coef is not None else result.estimate
    se = result.coef_se if result.coef_se is not None else result.se
    close(coef, expected["estimate"])
    close(se, expected["se"])
    close(result.tau2, expected["tau2"])
    close(result.weights, expected["weights"])
    assert any("user weights" in note for note in result.notes)


def test_fe_has_no_se_of_tau2_and_pl_needs_a_likelihood():
    data = pd.DataFrame(CASES["se_tau2_normand_DL"]["data"])
    assert meta.fit(data, method="FE").to_dict()["se_tau2"] is None
    with pytest.raises(MetaInputError, match="needs method ML or REML"):
        meta.tau2_profile_ci(meta.fit(data, method="DL"))


def test_bad_weights_and_newmods_name_the_study_or_moderator():
    data = pd.DataFrame(CASES["se_tau2_bcg_REML_ablat"]["data"])
    data.loc[2, "n"] = -1
    with pytest.raises(MetaInputError, match=r"study .*: weight -1.0 must be a finite number >= 0"):
        meta.fit(data, weights="n")
    with pytest.raises(MetaInputError, match="no column 'size'"):
        meta.fit(data, weights="size")
    result = meta.fit(data, mods=["ablat"])
    with pytest.raises(MetaInputError, match="missing: ablat"):
        meta.predict(result, {"latitude": [10]})
    with pytest.raises(MetaInputError, match="predicts at given moderator values"):
        meta.predict(result)


def test_blups_shrink_towards_the_pooled_effect():
    """Each BLUP lies between its study's estimate and the pooled effect, and is never less precise than the
    pooled effect alone would make it (a property, not a reference number)."""
    result = meta.fit(pd.DataFrame(CASES["se_tau2_bcg_REML"]["data"]))
    table = meta.blup(result)
    y = result.effects.yi
    low, high = np.minimum(y, result.estimate), np.maximum(y, result.estimate)
    assert np.all((table["pred"] >= low - 1e-12) & (table["pred"] <= high + 1e-12))
    assert np.all(table["se"] <= np.sqrt(result.effects.vi) + 1e-12)


def test_cli_weights_option(tmp_path):
    from typer.testing import CliRunner

    from stemdm.cli import app

    case = CASES["weights_bcg_REML_knha"]
    path = tmp_path / "bcg.csv"
    pd.DataFrame(case["data"]).to_csv(path, index=False)
    result = CliRunner().invoke(app, ["meta", str(path), "--test", "knha", "--weights", "n", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    close(payload["estimate"], case["expected"]["estimate"])
    close(payload["se"], case["expected"]["se"])
    assert payload["se_tau2"] > 0
    bad = CliRunner().invoke(app, ["meta", str(path), "--weights", "nope"])
    assert bad.exit_code == 2 and "no column 'nope'" in bad.output
