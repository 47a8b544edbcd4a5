"""fit_batch: m meta-analyses at once agree with single fits (and so with metafor)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stemdm import meta
from tests.meta.test_metafor_fixtures import CASES

KEYS = ("estimate", "se", "ci_lb", "ci_ub", "pval", "tau2", "tau2_ci_lb", "tau2_ci_ub", "i2", "h2",
        "q", "q_df", "q_pval", "pi_lb", "pi_ub")  # fmt: skip
GEN_CASES = [
    c for c in CASES
    if c["kind"] == "fit" and c["args"].get("level", 95) == 95
]  # fmt: skip


def padded(arrays: list[np.ndarray]) -> np.ndarray:
    width = max(len(a) for a in arrays)
    out = np.full((len(arrays), width), np.nan)
    for row, values in enumerate(arrays):
        out[row, : len(values)] = values
    return out


@pytest.mark.parametrize("method", ["FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"])
@pytest.mark.parametrize("test", ["z", "knha", "adhoc"])
def test_batch_equals_metafor_fixture_fits(method, test):
    cases = [c for c in GEN_CASES if c["args"]["method"] == method and c["args"]["test"] == test]
    if not cases:
        pytest.skip("no fixture for this combination")
    yi = padded([np.array(c["expected"]["yi"]) for c in cases])
    vi = padded([np.array(c["expected"]["vi"]) for c in cases])
    batch = meta.fit_batch(yi, vi, method=method, test=test)
    assert batch["converged"].all()
    for row, case in enumerate(cases):
        expected = case["expected"]
        for key in KEYS:
            if key not in expected or expected[key] is None:
                continue
            if key == "tau2_ci_ub" and np.isclose(expected[key], max(100, 10 * expected["tau2"])):
                continue  # metafor's search cap, see test_metafor_fixtures
            tolerance = 1e-4 if "ci" in key and "tau2" in key else 1e-6
            np.testing.assert_allclose(
                batch[key][row], expected[key], rtol=tolerance, atol=1e-9, err_msg=f"{case['id']} {key}"
            )


def test_batch_rows_equal_single_fits_on_random_data():
    rng = np.random.default_rng(7)
    m, k = 200, 12
    sizes = rng.integers(2, k + 1, size=m)
    vi = rng.chisquare(1, size=(m, k)) * 0.1 + 0.001
    yi = rng.normal(0, np.sqrt(vi + rng.exponential(0.5, size=(m, 1))))
    for row, size in enumerate(sizes):
        yi[row, size:] = np.nan
        vi[row, size:] = np.nan
    batch = meta.fit_batch(yi, vi, method="REML", test="z")
    assert batch["converged"].all()
    for row in range(0, m, 17):
        keep = np.isfinite(yi[row])
        single = meta.fit(pd.DataFrame({"yi": yi[row, keep], "vi": vi[row, keep]}), measure="GEN")
        for key in ("estimate", "se", "tau2", "i2", "q", "pi_lb", "tau2_ci_ub"):
            assert batch[key][row] == pytest.approx(single.to_dict()[key], rel=1e-9, abs=1e-12)


def test_batch_too_small_rows_are_flagged_not_silent():
    yi = np.array([[0.1, 0.2, np.nan], [0.3, np.nan, np.nan], [0.1, 0.4, 0.2]])
    vi = np.where(np.isfinite(yi), 0.05, np.nan)
    out = meta.fit_batch(yi, vi, method="DL", test="knha")
    assert list(out["k"]) == [2, 1, 3]
    assert np.isnan(out["estimate"][:2]).all()
    assert np.isfinite(out["estimate"][2])


def test_batch_shape_mismatch():
    with pytest.raises(meta.MetaInputError):
        meta.fit_batch(np.zeros((2, 3)), np.ones((2, 4)))


@pytest.mark.parametrize(
    ("y", "v", "field"),
    [
        (0.1, np.nan, "yi"),  # NaN in one array only is not padding
        (np.inf, 0.1, "yi"),
        (1e200, 0.1, "yi"),
        (0.1, 0.0, "vi"),
        (0.1, np.inf, "vi"),
    ],
)
def test_batch_bad_cells_are_named(y, v, field):
    yi = np.array([[0.1, 0.2, 0.3], [0.2, 0.4, y]])
    vi = np.array([[0.1, 0.1, 0.1], [0.1, 0.1, v]])
    with pytest.raises(meta.MetaInputError) as info:
        meta.fit_batch(yi, vi)
    assert info.value.field == field
    assert "analysis 1, study 2" in str(info.value)
