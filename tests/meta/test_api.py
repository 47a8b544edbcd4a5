"""meta.fit routing details: subgroup level order, moderator coding."""

from __future__ import annotations

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
