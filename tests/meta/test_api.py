"""meta.fit routing details: subgroup level order, moderator coding."""

from __future__ import annotations

import pandas as pd

from stemdm import meta
from stemdm.meta.datasets import load_dataset


def test_numeric_subgroups_keep_numeric_order():
    data = load_dataset("bcg").assign(dose=[2, 10, 2, 10, 2, 10, 2, 10, 2, 10, 2, 10, 2])
    assert list(meta.fit(data, measure="RR", by="dose").subgroups) == ["2", "10"]


def test_text_moderators_are_treatment_coded_with_the_first_sorted_level_as_reference():
    result = meta.fit(load_dataset("bcg"), measure="RR", mods=["alloc"])
    assert result.coef_names == ["intrcpt", "allocrandom", "allocsystematic"]


def test_missing_values_refused_by_default_omitted_on_request():
    """Deliberate difference from metafor: rma() drops rows with NA (a warning); stemdm refuses them unless
    na_action="omit", and then names the omitted studies in the notes. The omitted fit equals the fit
    without those rows."""
    import numpy as np
    import pandas as pd
    import pytest

    from stemdm import meta

    data = pd.DataFrame(
        {"study": ["A", "B", "C", "D"], "yi": [0.1, np.nan, 0.3, 0.2], "vi": [0.01, 0.02, 0.03, 0.02]}
    )
    with pytest.raises(meta.MetaInputError, match="study B"):
        meta.fit(data)
    omitted = meta.fit(data, na_action="omit")
    complete = meta.fit(data.drop(index=1).reset_index(drop=True))
    assert omitted.estimate == complete.estimate and omitted.k == 3
    assert any("omitted" in note and "B" in note for note in omitted.notes)
    with pytest.raises(meta.MetaInputError, match="na_action"):
        meta.fit(data, na_action="drop")


def test_mantel_haenszel_without_variation_matches_metafor_but_gives_no_interval():
    """metafor 4 (rma.mh): every patient with the event (RR) or none (RD) gives estimate 0, SE 0, z NaN.
    stemdm returns the same estimate and SE; the CI and p are None with a note (deliberate difference:
    metafor prints a zero-width CI)."""
    all_events = pd.DataFrame({"ai": [5, 7, 3], "n1i": [5, 7, 3], "ci": [4, 6, 2], "n2i": [4, 6, 2]})
    double_zero = pd.DataFrame({"ai": [0, 0], "n1i": [5, 7], "ci": [0, 0], "n2i": [4, 6]})
    for data, measure in ((all_events, "RR"), (double_zero, "RD")):
        result = meta.fit(data, measure=measure, method="MH")
        d = result.to_dict()
        assert (d["estimate"], d["se"]) == (0.0, 0.0)
        assert d["ci_lb"] is None and d["pval"] is None
        assert any("no confidence interval" in note for note in d["notes"])
