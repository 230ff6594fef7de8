"""NoC arithmetic and bootstrap intervals."""

import numpy as np
import pytest

from sam_demo.evaluation.click_metrics import bootstrap_ci, clicks_to_reach, noc


def test_clicks_to_reach_counts_from_one():
    assert clicks_to_reach([0.9, 0.95], 0.85) == 1  # met by the first prompt
    assert clicks_to_reach([0.5, 0.7, 0.86, 0.8], 0.85) == 3  # the first time counts, not a later dip
    assert clicks_to_reach([0.5, 0.85], 0.85) == 2  # exactly the threshold reaches it
    assert clicks_to_reach([0.5, 0.849999], 0.85) is None
    assert clicks_to_reach([], 0.85) is None


def test_noc_penalises_images_that_never_reach_the_threshold():
    ious = [
        [0.9, 0.9, 0.9],  # 1
        [0.3, 0.85, 0.9],  # 2 (equal to the threshold)
        [0.3, 0.5, 0.7],  # never: 3 interactions + 1 = 4
        [0.1, 0.2, 0.84],  # never: 4
    ]
    assert noc(ious, 0.85) == {"mean": (1 + 2 + 4 + 4) / 4, "never": 2, "n": 4}
    assert noc(ious, 0.5) == {"mean": (1 + 2 + 2 + 3) / 4, "never": 0, "n": 4}
    assert noc(ious[:1], 0.95) == {"mean": 4.0, "never": 1, "n": 1}


def test_noc_refuses_ragged_or_empty_input():
    with pytest.raises(ValueError, match="same number"):
        noc([[0.9, 0.9], [0.9]], 0.85)
    with pytest.raises(ValueError, match="no images"):
        noc([], 0.85)


def test_bootstrap_interval_contains_the_mean_narrows_with_data_and_is_reproducible():
    rng = np.random.default_rng(1)
    small, large = rng.normal(0.8, 0.1, 20), rng.normal(0.8, 0.1, 500)
    low, high = bootstrap_ci(small)
    assert low < small.mean() < high
    large_low, large_high = bootstrap_ci(large)
    assert large_low < large.mean() < large_high
    # The width shrinks as 1/sqrt(n): 25 times the data, a fifth of the width, give or take the samples' spreads.
    assert large_high - large_low < 0.4 * (high - low)
    # At 95%, 1.96 standard errors on either side of the mean, as the normal approximation says.
    for sample, (lower, upper) in ((small, (low, high)), (large, (large_low, large_high))):
        standard_error = sample.std(ddof=1) / np.sqrt(len(sample))
        assert (upper - lower) / (2 * 1.96 * standard_error) == pytest.approx(1.0, abs=0.15)
    assert bootstrap_ci(small, seed=3) == bootstrap_ci(small, seed=3)
    assert bootstrap_ci(small, seed=3) != bootstrap_ci(small, seed=4)
    narrower = bootstrap_ci(small, level=0.5)
    assert low < narrower[0] < narrower[1] < high


def test_bootstrap_of_a_single_value_is_that_value():
    assert bootstrap_ci([0.7]) == (0.7, 0.7)
    assert bootstrap_ci([0.4, 0.4, 0.4]) == pytest.approx((0.4, 0.4))
    with pytest.raises(ValueError):
        bootstrap_ci([])
