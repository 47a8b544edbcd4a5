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


def test_imprecision_reads_the_credible_interval_against_the_mid():
    from types import SimpleNamespace

    from stemdm.review.grade import _credible_interval_reason

    def with_posterior(lb, ub):
        return SimpleNamespace(posterior={"post_ci_lb": lb, "post_ci_ub": ub}, is_ratio=False)

    assert _credible_interval_reason(with_posterior(-1.2, 0.1), 0.5) == "credible interval includes no effect"
    assert "crosses the MID" in _credible_interval_reason(with_posterior(-1.2, -0.3), 0.5)
    assert _credible_interval_reason(with_posterior(-1.2, -0.6), 0.5) == ""
    assert _credible_interval_reason(SimpleNamespace(posterior=None, is_ratio=False), 0.5) == ""
