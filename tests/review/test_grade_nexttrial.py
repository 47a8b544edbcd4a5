"""Sample sizes against the textbook normal-approximation values, and GRADE's imprecision rule."""

from __future__ import annotations

import pytest

from stemdm.review.grade import optimal_information_size
from stemdm.review.nexttrial import n_per_arm


def test_sample_size_textbook_values():
    # standardized difference 0.5, alpha 0.05 two-sided: 63 per arm at 80 % power (2 x 2.8016^2 / 0.25 =
    # 62.8),
    # 85 per arm at 90 % (Lehr's rule of thumb 16 / 0.25 = 64 and 21 / 0.25 = 84)
    assert n_per_arm(0.5, 1.0, 0.05, 0.8) == 63
    assert n_per_arm(0.5, 1.0, 0.05, 0.9) == 85
    assert n_per_arm(1.0, 2.0, 0.05, 0.8) == 63  # only delta / sd matters
    assert optimal_information_size(1.0, 0.5) == 126
    with pytest.raises(ValueError):
        n_per_arm(0.0, 1.0, 0.05, 0.8)


def test_imprecision_reads_the_ci_against_the_mid_on_both_sides():
    """GRADE 34/35 (Zeng 2022): one level when the CI includes no effect, two when it includes appreciable
    benefit and appreciable harm, three beyond twice the MID on both sides."""
    from types import SimpleNamespace

    from stemdm.review.grade import _imprecision

    def levels(lb, ub):
        result = SimpleNamespace(better="lower", is_ratio=False, measure="MD", rows=[], n=100)
        return _imprecision(result, {"ci_lb": lb, "ci_ub": ub}, 0.5)[0]

    assert levels(-1.2, 0.1) == 1 and levels(-1.2, -0.3) == 1
    assert levels(-1.2, 0.6) == 2 and levels(-4.9, 3.0) == 3
