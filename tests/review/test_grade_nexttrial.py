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
