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
