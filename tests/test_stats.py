"""IQM and bootstrap CIs against their definitions."""
import numpy as np
import pytest

from jaxrl import stats


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 16, 64])
def test_iqm_matches_scipy_trim_mean(n):
    scipy_stats = pytest.importorskip("scipy.stats")
    x = np.random.default_rng(n).normal(size=n)
    assert stats.iqm(x) == pytest.approx(scipy_stats.trim_mean(x, 0.25), rel=1e-12)


def test_iqm_by_hand_and_nan_handling():
    assert stats.iqm([1, 2, 3, 4, 5, 6, 7, 100]) == pytest.approx(4.5)  # mean of 3,4,5,6
    assert stats.iqm([np.nan, 1.0, 2.0, 3.0, 4.0]) == pytest.approx(2.5)
    assert np.isnan(stats.iqm([np.nan]))


def test_bootstrap_ci_brackets_the_statistic_and_respects_strata():
    x = np.concatenate([np.full(8, 10.0), np.full(8, 20.0)])
    strata = np.repeat([0, 1], 8)
    lo, hi = stats.stratified_bootstrap_ci(x, strata, statistic=np.mean)
    assert lo == hi == pytest.approx(15.0)  # each stratum constant, sizes kept: no spread
    lo, hi = stats.stratified_bootstrap_ci(x, None, statistic=np.mean)
    assert lo < 15.0 < hi


def test_fraction_solved_uses_gym_thresholds():
    assert stats.fraction_solved("CartPole-v1", [500, 480, 400, 475]) == 0.75
    assert stats.fraction_solved("Pendulum-v1", [-100]) is None
