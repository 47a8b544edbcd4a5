"""summary(): what a reviewer reads, ratios back-transformed, with the not-medical-advice line."""

from __future__ import annotations

from stemdm import meta
from stemdm.meta.datasets import load_dataset


def test_summary_reads_back_transformed_and_carries_the_advice_line():
    text = meta.fit(load_dataset("bcg"), measure="RR", test="knha").summary()
    assert "RR (back-transformed): 0.489 [0.330, 0.726]" in text
    assert "prediction interval [0.136, 1.763]" in text
    assert "Not medical advice" in text


def test_summary_of_subgroups_and_meta_regression():
    data = load_dataset("bcg")
    by = meta.fit(data, measure="RR", by="alloc").summary()
    assert "Test for subgroup differences" in by and "[alloc = random, k = 7]" in by
    mods = meta.fit(data, measure="RR", mods=["ablat"]).summary()
    assert "ablat" in mods and "QM =" in mods and "residual heterogeneity" in mods


def test_common_effect_summaries_do_not_report_a_tau2():
    text = meta.fit(load_dataset("bcg"), measure="OR", method="MH").summary()
    assert "tau2 not estimated (common-effect model)" in text
    assert "Mantel-Haenszel" in text
