"""Permutation tests beyond the exact metafor fixtures: the random version and its limits."""

from __future__ import annotations

import pytest

from stemdm import meta
from stemdm.meta.datasets import load_dataset


@pytest.fixture(scope="module")
def bcg():
    return load_dataset("bcg")


def test_random_permutations_are_reproducible_and_near_the_exact_p(bcg):
    small = meta.fit(bcg.iloc[:8], measure="RR", mods=["ablat"])
    exact = meta.permutation_test(small, iterations=100_000)
    assert exact["exact"]
    sampled = meta.permutation_test(small, iterations=2000, seed=3)
    assert not sampled["exact"] and sampled["iterations"] == 2000
    assert sampled == meta.permutation_test(small, iterations=2000, seed=3)
    # Monte Carlo SE of a p near 0.02 with 2000 draws is about 0.003
    assert sampled["qm_pval"] == pytest.approx(exact["qm_pval"], abs=0.015)


def test_sign_flip_test_of_all_bcg_trials(bcg):
    result = meta.permutation_test(meta.fit(bcg, measure="RR", test="knha"), iterations=2**13)
    assert result["exact"] and result["iterations"] == 2**13
    assert 0 < result["pval"][0] < 0.01  # 13 trials, most protective: few sign patterns as extreme


def test_permutation_test_refuses_other_models(bcg):
    with pytest.raises(meta.MetaInputError):
        meta.permutation_test(meta.fit(bcg, measure="OR", method="MH"))
    with pytest.raises(meta.MetaInputError):
        meta.permutation_test(meta.fit(bcg, measure="RR", by="alloc"))
