"""Bad input gets a clear MetaInputError naming the study and the field, never NaN or a traceback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stemdm import meta
from stemdm.meta.datasets import load_dataset


@pytest.fixture
def continuous() -> pd.DataFrame:
    return load_dataset("normand1999").drop(columns=["source"])


@pytest.fixture
def binary() -> pd.DataFrame:
    return load_dataset("bcg")


def raises(data, field, study=None, **kwargs):
    with pytest.raises(meta.MetaInputError) as info:
        meta.fit(data, **kwargs)
    error = info.value
    assert error.field == field, str(error)
    if study is not None:
        assert error.study == study, str(error)
        assert study in str(error)
    assert field in str(error)
    return error


def test_missing_column(continuous):
    raises(continuous.drop(columns=["sd2i"]), "sd2i", measure="MD")


def test_misspelled_column_hints_at_case(continuous):
    error = raises(continuous.rename(columns={"m1i": "M1i"}), "m1i", measure="MD")
    assert "case-sensitive" in str(error)


def test_non_numeric_cell(continuous):
    data = continuous.astype({"m1i": object})
    data.loc[2, "m1i"] = "twelve"
    error = raises(data, "m1i", study=data.loc[2, "study"], measure="MD")
    assert "twelve" in str(error)


def test_nan_cell(continuous):
    data = continuous.copy()
    data.loc[4, "sd1i"] = np.nan
    raises(data, "sd1i", study=data.loc[4, "study"], measure="SMD")


@pytest.mark.parametrize("value", [0.0, -3.0])
def test_non_positive_sd(continuous, value):
    data = continuous.copy()
    data.loc[1, "sd2i"] = value
    raises(data, "sd2i", study=data.loc[1, "study"], measure="MD")


def test_group_size_below_two(continuous):
    data = continuous.copy()
    data.loc[0, "n1i"] = 1
    raises(data, "n1i", study=data.loc[0, "study"], measure="MD")


def test_events_exceed_n(binary):
    data = binary.copy()
    data.loc[3, "ai"] = data.loc[3, "n1i"] + 1
    raises(data, "ai", study=data.loc[3, "study"], measure="RR")


def test_negative_counts(binary):
    data = binary.copy()
    data.loc[5, "ci"] = -1
    raises(data, "ci", study=data.loc[5, "study"], measure="OR")


def test_zero_total(binary):
    data = binary.copy()
    data.loc[6, ["ai", "n1i"]] = 0
    raises(data, "n1i", study=data.loc[6, "study"], measure="RR")


def test_non_positive_variance():
    data = pd.DataFrame({"study": ["a", "b", "c"], "yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.0, 0.2]})
    raises(data, "vi", study="b", measure="GEN")


def test_generic_needs_variance():
    raises(pd.DataFrame({"yi": [0.1, 0.2]}), "vi", measure="GEN")


def test_unknown_measure_and_method(binary):
    raises(binary, "measure", measure="HR")
    raises(binary, "method", measure="RR", method="BAYES")
    raises(binary, "test", measure="RR", test="t")


def test_k_equals_one_pools_to_the_study_and_says_heterogeneity_is_undefined():
    data = pd.DataFrame({"study": ["only"], "yi": [0.4], "vi": [0.04]})
    result = meta.fit(data, measure="GEN")
    values = result.to_dict()
    assert values["estimate"] == pytest.approx(0.4)
    assert values["se"] == pytest.approx(0.2)
    for key in ("tau2_ci_lb", "i2", "h2", "q", "q_pval", "pi_lb", "pi_ub"):
        assert values[key] is None
    assert any("undefined" in note for note in values["notes"])


def test_k_equals_two_with_knha_is_refused():
    data = pd.DataFrame({"study": ["a", "b"], "yi": [0.1, 0.5], "vi": [0.04, 0.05]})
    raises(data, "test", measure="GEN", test="knha")
    assert meta.fit(data, measure="GEN", test="z").k == 2


def test_empty_data():
    with pytest.raises(meta.MetaInputError, match="no studies"):
        meta.fit(pd.DataFrame(columns=["yi", "vi"]), measure="GEN")


def test_empty_subgroup_level(binary):
    data = binary.copy()
    data["alloc"] = pd.Categorical(data["alloc"], categories=["random", "systematic", "alternate", "cluster"])
    error = raises(data, "alloc", measure="RR", by="alloc")
    assert "cluster" in str(error)


def test_missing_subgroup_value(binary):
    data = binary.copy()
    data.loc[2, "alloc"] = None
    raises(data, "alloc", study=data.loc[2, "study"], measure="RR", by="alloc")


def test_subgroup_column_absent(binary):
    raises(binary, "region", measure="RR", by="region")


def test_single_subgroup_level(binary):
    data = binary.assign(alloc="random")
    raises(data, "alloc", measure="RR", by="alloc")


def test_constant_moderator(binary):
    error = raises(binary.assign(dose=5.0), "dose", measure="RR", mods=["dose"])
    assert "constant" in str(error)


def test_missing_moderator_value(binary):
    data = binary.copy()
    data.loc[0, "ablat"] = np.nan
    raises(data, "ablat", study=data.loc[0, "study"], measure="RR", mods=["ablat"])


def test_collinear_moderators(binary):
    raises(binary.assign(ablat2=binary["ablat"] * 2), "ablat,ablat2", measure="RR", mods=["ablat", "ablat2"])


def test_peto_needs_odds_ratio(binary):
    raises(binary, "measure", measure="RR", method="PETO")


def test_mh_needs_counts():
    data = pd.DataFrame({"yi": [0.1, 0.2, 0.3], "vi": [0.1, 0.1, 0.2]})
    raises(data, "measure", measure="GEN", method="MH")


def test_double_zero_studies_are_left_out_of_mh_heterogeneity_and_said_so(binary):
    data = pd.concat(
        [binary, pd.DataFrame([{"study": "no events", "ai": 0, "n1i": 30, "ci": 0, "n2i": 30}])],
        ignore_index=True,
    )
    result = meta.fit(data, measure="OR", method="MH")
    assert result.q_df == len(binary) - 1
    assert any("no events" in note for note in result.notes)


def test_batch_rejects_non_positive_variance():
    with pytest.raises(meta.MetaInputError) as info:
        meta.fit_batch(np.zeros((2, 3)), np.array([[1, 1, 1], [1, -1, 1]]))
    assert info.value.field == "vi"
    assert "analysis 1" in str(info.value)


def test_non_convergence_is_an_error_not_a_number(monkeypatch):
    """If the root finder runs out of iterations, fit() raises; fit_batch flags the row."""
    from stemdm.meta import core

    monkeypatch.setattr(core, "MAX_SCORING_ITER", 1)
    data = load_dataset("bcg")
    with pytest.raises(meta.ConvergenceError, match="did not converge"):
        meta.fit(data, measure="RR", method="REML")
    effects = meta.compute_effects(data, "RR")
    out = meta.fit_batch(np.vstack([effects.yi] * 3), np.vstack([effects.vi] * 3), method="ML")
    assert not out["converged"].any()
    assert np.isnan(out["estimate"]).all()


def test_zero_cells_and_double_zero_studies_are_said():
    data = pd.DataFrame(
        {"study": ["a", "b", "c"], "ai": [0, 3, 0], "n1i": [20, 25, 30], "ci": [2, 6, 0], "n2i": [20, 24, 30]}
    )
    notes = " ".join(meta.fit(data, measure="OR").notes)
    assert "0.5 added to the cells of studies with a zero cell (a, c)" in notes
    assert "no events" in notes and "(c)" in notes


def test_infinite_and_absurdly_large_values():
    data = pd.DataFrame({"study": ["a", "b", "c"], "yi": [0.1, 0.2, 0.3], "vi": [0.01, np.inf, 0.02]})
    error = raises(data, "vi", study="b", measure="GEN")
    assert "inf" in str(error)
    data = pd.DataFrame({"study": ["a", "b", "c"], "yi": [1e300, 0.2, 0.3], "vi": [0.01, 0.01, 0.02]})
    error = raises(data, "yi", study="a", measure="GEN")
    assert "too large" in str(error)
