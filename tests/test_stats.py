"""Aggregate metrics, bootstrap intervals, probability of improvement and performance profiles:
against hand-computed numbers, against their own scalar definitions, and against rliable 1.2.0."""
import functools

import numpy as np
import pytest

from jaxrl import stats
from jaxrl.envs.registry import reference_scores

SCALAR_STATISTICS = [stats.mean, stats.median, stats.iqm, stats.optimality_gap,
                     functools.partial(stats.optimality_gap, gamma=0.5)]


# ----------------------------------------------------------------------------- existing behaviour

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


# ----------------------------------------------------------------------------- by hand

def test_aggregates_by_hand():
    scores = np.array([[0.2, 1.4, 0.9],
                       [0.6, 2.0, 0.1]])  # 2 runs x 3 tasks
    # Task means 0.4, 1.7, 0.5: mean 2.6 / 3, median 0.5 (not the median 0.75 of all six runs).
    # Clipped at 1: 0.2 + 1 + 0.9 + 0.6 + 1 + 0.1 = 3.8 over 6 runs -> gap 1 - 3.8 / 6.
    # IQM of 6 values drops int(6 / 4) = 1 at each end: mean(0.2, 0.6, 0.9, 1.4) = 0.775.
    assert stats.aggregate(scores) == pytest.approx(
        {"mean": 2.6 / 3, "median": 0.5, "iqm": 0.775, "optimality_gap": 1 - 3.8 / 6})
    # gamma 0.5 clips to 0.2, 0.5, 0.5, 0.5, 0.5, 0.1 (sum 2.3).
    assert stats.optimality_gap(scores, gamma=0.5) == pytest.approx(0.5 - 2.3 / 6)
    assert stats.optimality_gap([[1.5], [2.0]]) == 0.0  # beyond the target counts as the target
    assert stats.mean([1.0, 2.0, 6.0]) == stats.median([1.0, 2.0, 6.0]) == 3.0  # one task


def test_probability_of_improvement_by_hand():
    # The four (x, y) pairs on the task: (1, 0) win 1, (1, 2) loss 0, (2, 0) win 1, (2, 2) tie 1/2.
    # P = (1 + 0 + 1 + 0.5) / 4 = 0.625.
    x, y = np.array([[1.0], [2.0]]), np.array([[0.0], [2.0]])
    assert stats.probability_of_improvement(x, y) == 0.625
    assert stats.probability_of_improvement(y, x) == 0.375  # P(X>Y) + P(Y>X) + P(tie) = 1
    # Runs may differ in number and tasks are averaged. Two tasks, 2 runs of x and 3 of y:
    #   task 0: x = 1, 2 vs y = 0, 2, 2: x=1 -> 1 + 0 + 0, x=2 -> 1 + .5 + .5; 3 / 6 = 1/2
    #   task 1: x = 3, 3 vs y = 1, 3, 2: each x=3 -> 1 + .5 + 1;            5 / 6
    x2 = np.array([[1.0, 3.0], [2.0, 3.0]])
    y2 = np.array([[0.0, 1.0], [2.0, 3.0], [2.0, 2.0]])
    assert stats.probability_of_improvement(x2, y2) == pytest.approx((1 / 2 + 5 / 6) / 2)
    assert stats.probability_of_improvement(x2, x2) == 0.5


def test_performance_profile_by_hand_counts_strictly_above():
    scores = np.array([[0.0, 1.0],
                       [2.0, 3.0]])
    fractions, cis = stats.performance_profile(scores, taus=[0.5, -1.0, 3.0, 1.0])
    # Above 0.5: 1, 2, 3; above -1: all; above 3: none (3 is not above 3); above 1: 2, 3.
    np.testing.assert_array_equal(fractions, [0.75, 1.0, 0.0, 0.5])
    assert cis.shape == (2, 4)
    np.testing.assert_array_equal(cis[:, 1], [1.0, 1.0])
    np.testing.assert_array_equal(cis[:, 2], [0.0, 0.0])


def test_normalize_uses_reference_scores_and_names_unknown_envs():
    lo, hi = reference_scores("CartPole-v1")
    np.testing.assert_allclose(stats.normalize([lo, hi, (lo + hi) / 2], "CartPole-v1"), [0, 1, 0.5])
    np.testing.assert_allclose(stats.normalize([-500, -100, 0], "Acrobot-v1"), [0, 0.8, 1])
    np.testing.assert_allclose(stats.normalize([-1200, 0], "Pendulum-v1", reference=(-1200, 0)), [0, 1])
    with pytest.raises(ValueError, match="Pendulum-v1"):
        stats.normalize([-200.0], "Pendulum-v1")


def test_bootstrap_functions_reject_nan_and_bad_shapes():
    with pytest.raises(ValueError, match="NaN"):
        stats.interval_estimates({"a": [[1.0, np.nan], [2.0, 3.0]]})
    with pytest.raises(ValueError, match="same tasks"):
        stats.probability_of_improvement(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="points"):
        stats.sample_efficiency_curve(np.zeros((3, 2)))


# ----------------------------------------------------------------------------- against own definitions

@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (7, 3), (10, 5), (13, 1)])
@pytest.mark.parametrize("statistic", SCALAR_STATISTICS)
def test_vectorised_statistic_equals_scalar_on_each_resample(statistic, shape):
    x = np.random.default_rng(sum(shape)).normal(0.8, 0.5, size=shape)
    idx = stats._run_indices(np.random.default_rng(0), *shape, 64)
    tasks = np.arange(shape[1])
    batched = stats._vectorised(statistic)(stats._gather(x, idx))
    np.testing.assert_allclose(batched, [statistic(x[i, tasks]) for i in idx], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("statistic", SCALAR_STATISTICS)
def test_interval_estimates_vectorised_path_equals_generic_callable(statistic):
    # Same name and seed -> same resample indices; an opaque lambda takes the per-resample loop.
    scores = {"a": np.random.default_rng(1).normal(size=(9, 4))}
    points, cis = stats.interval_estimates(scores, statistic, num_resamples=300)
    points2, cis2 = stats.interval_estimates(scores, lambda s: statistic(s), num_resamples=300)
    assert points["a"] == pytest.approx(points2["a"], abs=1e-12)
    np.testing.assert_allclose(cis["a"], cis2["a"], atol=1e-12)
    assert cis["a"].shape == (2,)


def test_interval_estimates_conventions():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(8, 3)), rng.normal(size=(5, 3))
    points, cis = stats.interval_estimates({"a": a, "b": b}, stats.mean)
    assert points["a"] == pytest.approx(a.mean()) and cis["a"][0] < points["a"] < cis["a"][1]
    # Each entry has its own stream: dropping "b" leaves "a" alone; the seed changes it.
    np.testing.assert_array_equal(stats.interval_estimates({"a": a}, stats.mean)[1]["a"], cis["a"])
    assert not np.array_equal(stats.interval_estimates({"a": a}, stats.mean, seed=1)[1]["a"], cis["a"])
    # Runs are redrawn within tasks only: tasks constant over runs give a zero-width interval.
    const = np.tile([1.0, 2.0, 6.0], (6, 1))
    _, cis = stats.interval_estimates({"c": const}, stats.median)
    np.testing.assert_array_equal(cis["c"], [2.0, 2.0])
    # A vector-valued statistic gets a (2, k) interval.
    points, cis = stats.interval_estimates({"a": a}, lambda s: np.mean(s, axis=0))
    assert points["a"].shape == (3,) and cis["a"].shape == (2, 3)
    assert np.all(cis["a"][0] <= cis["a"][1])


def test_win_rates_equal_pairwise_comparisons_on_each_resample():
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 5, size=7).astype(float), rng.integers(0, 5, size=4).astype(float)  # ties
    ix, iy = rng.integers(0, 7, size=(50, 7)), rng.integers(0, 4, size=(50, 4))
    fast = stats._win_rates(x, y, ix, iy)
    pairwise = [np.mean(x[i][:, None] > y[j][None, :]) + 0.5 * np.mean(x[i][:, None] == y[j][None, :])
                for i, j in zip(ix, iy)]
    np.testing.assert_allclose(fast, pairwise, atol=1e-12)


def test_profile_equals_direct_count_on_each_resample():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 6, size=(9, 3)).astype(float)
    taus = np.array([0.0, 2.0, 2.0, 4.5, 5.0, -1.0])
    order = np.argsort(taus)
    levels = np.searchsorted(taus[order], x, side="left")
    idx = stats._run_indices(rng, 9, 3, 40)
    fast = np.empty((40, taus.size))
    fast[:, order] = stats._profile(levels, taus.size, idx)
    direct = [np.mean(x[i, np.arange(3)][:, :, None] > taus, axis=(0, 1)) for i in idx]
    np.testing.assert_allclose(fast, direct, atol=1e-12)


def test_probability_of_improvement_ci_brackets_point_and_is_seeded():
    rng = np.random.default_rng(5)
    x, y = rng.normal(0.5, 1, size=(12, 4)), rng.normal(0.0, 1, size=(9, 4))
    point, (lo, hi) = stats.probability_of_improvement_ci(x, y)
    assert point == stats.probability_of_improvement(x, y) and lo < point < hi
    assert stats.probability_of_improvement_ci(x, y)[1] == (lo, hi)


def test_sample_efficiency_curve_matches_per_point_definitions():
    rng = np.random.default_rng(6)
    curve = np.cumsum(rng.normal(0.1, 0.3, size=(8, 3, 5)), axis=2)  # 8 runs, 3 tasks, 5 points
    points, cis = stats.sample_efficiency_curve(curve, num_resamples=500)
    np.testing.assert_allclose(points, [stats.iqm(curve[:, :, p]) for p in range(5)])
    assert cis.shape == (2, 5) and np.all(cis[0] <= cis[1])
    _, cis_loop = stats.sample_efficiency_curve(curve, lambda s: stats.iqm(s), num_resamples=500)
    np.testing.assert_allclose(cis, cis_loop, atol=1e-12)
    # Whole runs are resampled: a curve that repeats one matrix gets one interval at every point.
    flat = np.repeat(curve[:, :, :1], 4, axis=2)
    _, cis = stats.sample_efficiency_curve(flat, stats.mean, num_resamples=500)
    np.testing.assert_allclose(cis, np.repeat(cis[:, :1], 4, axis=1))


# ----------------------------------------------------------------------------- against rliable 1.2.0
#
# Point estimates must agree to 1e-9. Interval endpoints cannot agree exactly: rliable draws its
# resamples from the global np.random state, we from our own Generator. A percentile endpoint from
# B resamples has Monte Carlo standard error about sqrt(a(1 - a) / B) / density at the quantile,
# ~0.038 sd of the bootstrap distribution for a = 0.025 and B = 5000, so the difference of two
# independent estimates has a standard error of ~0.054 sd, i.e. ~1.4% of the 95% interval width
# (3.92 sd). Tolerance for the aggregates: 10% of rliable's interval width (about 7 standard errors).
# Performance profiles and the probability of improvement are probabilities that move in steps of
# 1 / (runs * tasks) and 1 / (runs_x * runs_y * tasks); there the tolerance is an absolute 0.03
# (1.5 steps of 0.02 for a 10 x 5 profile, about 15% of the interval width of the probability of
# improvement, where the width is ~0.2 and B = 2000 because rliable's version is slow).

RESAMPLES = 5000


@pytest.fixture
def global_numpy_seed():
    state = np.random.get_state()
    np.random.seed(0)  # rliable's bootstrap ignores its random_state argument for the indices
    yield
    np.random.set_state(state)


def shared_scores(rounded=False):
    """Three algorithms, 10 runs x 5 tasks, normalised-looking scores around the gamma = 1 target."""
    rng = np.random.default_rng(2021)
    scores = {name: rng.normal(0.6 + 0.2 * k, 0.4, size=(10, 5)) + np.linspace(-0.2, 0.2, 5)
              for k, name in enumerate(["a", "b", "c"])}
    return {name: np.round(s, 1) for name, s in scores.items()} if rounded else scores


def test_aggregates_match_rliable(global_numpy_seed):
    rliable = pytest.importorskip("rliable")
    from rliable import library, metrics
    assert rliable  # imported for the skip
    scores = shared_scores()
    ours = [stats.mean, stats.median, stats.optimality_gap, stats.iqm]
    theirs = [metrics.aggregate_mean, metrics.aggregate_median, metrics.aggregate_optimality_gap,
              metrics.aggregate_iqm]
    # One rliable bootstrap for all four metrics; ours per metric (vectorised).
    rl_points, rl_cis = library.get_interval_estimates(
        scores, lambda s: np.array([f(s) for f in theirs]), reps=RESAMPLES)
    for k, statistic in enumerate(ours):
        points, cis = stats.interval_estimates(scores, statistic, num_resamples=RESAMPLES)
        for name, s in scores.items():
            assert points[name] == pytest.approx(theirs[k](s), abs=1e-9)
            assert points[name] == pytest.approx(rl_points[name][k], abs=1e-9)
            width = rl_cis[name][1, k] - rl_cis[name][0, k]
            assert width > 0
            np.testing.assert_allclose(cis[name], rl_cis[name][:, k], rtol=0, atol=0.1 * width,
                                       err_msg=f"{statistic} {name}")


def test_probability_of_improvement_points_match_rliable():
    pytest.importorskip("rliable")
    from rliable import metrics
    for rounded in (False, True):  # rounding to 0.1 makes plenty of ties
        scores = shared_scores(rounded)
        for a in scores:
            for b in scores:
                assert stats.probability_of_improvement(scores[a], scores[b]) == pytest.approx(
                    metrics.probability_of_improvement(scores[a], scores[b]), abs=1e-9)
    rng = np.random.default_rng(7)  # unequal numbers of runs
    x, y = rng.integers(0, 4, size=(6, 3)).astype(float), rng.integers(0, 4, size=(11, 3)).astype(float)
    assert stats.probability_of_improvement(x, y) == pytest.approx(
        metrics.probability_of_improvement(x, y), abs=1e-9)


@pytest.mark.slow  # rliable's version runs scipy's Mann-Whitney test per task per resample (~10 s)
def test_probability_of_improvement_interval_matches_rliable(global_numpy_seed):
    pytest.importorskip("rliable")
    from rliable import library, metrics
    scores = shared_scores(rounded=True)
    pairs = {"b>a": [scores["b"], scores["a"]], "c>b": [scores["c"], scores["b"]]}
    rl_points, rl_cis = library.get_interval_estimates(
        pairs, metrics.probability_of_improvement, reps=2000)
    for name, (x, y) in pairs.items():
        point, ci = stats.probability_of_improvement_ci(x, y, num_resamples=2000)
        assert point == pytest.approx(rl_points[name], abs=1e-9)
        np.testing.assert_allclose(ci, rl_cis[name].ravel(), rtol=0, atol=0.03, err_msg=name)


def test_performance_profile_matches_rliable(global_numpy_seed):
    pytest.importorskip("rliable")
    from rliable import library
    scores = shared_scores(rounded=True)  # thresholds on the 0.1 grid: exercises strict ">"
    taus = np.linspace(0.0, 1.6, 17)
    rl_profiles, rl_cis = library.create_performance_profile(scores, taus, reps=RESAMPLES)
    for name, s in scores.items():
        fractions, cis = stats.performance_profile(s, taus, num_resamples=RESAMPLES)
        np.testing.assert_allclose(fractions, rl_profiles[name], rtol=0, atol=1e-9)
        np.testing.assert_allclose(cis, rl_cis[name], rtol=0, atol=0.03, err_msg=name)
