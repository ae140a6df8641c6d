"""Aggregate statistics over runs and tasks, with the definitions of Agarwal et al. (2021),
"Deep RL at the Edge of the Statistical Precipice" (the ``rliable`` library), in vectorised numpy.

Conventions:

* A score matrix is ``(runs, tasks)``: ``scores[n, m]`` is run ``n`` (seed, population member) on
  task ``m``, and every task has the same number of runs. A 1-D array is the runs of a single
  task, i.e. ``(runs, 1)``. Higher is better; put tasks on a common scale with ``normalize`` first.
* ``mean`` is the mean of per-task means, ``median`` the median *over tasks* of per-task means
  (not the median of all runs), ``iqm`` the 25% trimmed mean of all runs x tasks pooled, and
  ``optimality_gap`` is ``gamma - mean(min(score, gamma))``.
* Uncertainty comes from the stratified bootstrap: a resample redraws, with replacement, the runs of
  every task independently; the tasks themselves stay fixed. Intervals are percentile intervals
  (linearly interpolated quantiles, as ``np.percentile`` in rliable) returned as arrays of shape
  ``(2, ...)``: lower bound first, upper bound second.
* Resamples are drawn from ``np.random.default_rng(seed)``, so results are reproducible. (rliable
  draws from the global ``np.random`` state, so its numbers differ from ours by Monte Carlo error.)
"""
from __future__ import annotations

import functools
import zlib
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np


# --------------------------------------------------------------------------- point statistics

def mean(scores) -> float:
    """Mean over tasks of each task's mean score (every task weighs the same)."""
    return float(np.mean(np.mean(_matrix(scores), axis=0)))


def median(scores) -> float:
    """Median over tasks of each task's mean score (rliable's ``aggregate_median``)."""
    return float(np.median(np.mean(_matrix(scores), axis=0)))


def iqm(values) -> float:
    """Interquartile mean as rliable computes it (``scipy.stats.trim_mean(x, 0.25)``):
    drop ``floor(n/4)`` values from each end, average the rest. NaNs are dropped.
    A matrix is pooled over all runs x tasks (rliable's ``aggregate_iqm``)."""
    x = np.sort(np.asarray(values, np.float64).ravel())
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan")
    cut = int(0.25 * x.size)
    return float(np.mean(x[cut:x.size - cut]))


def optimality_gap(scores, gamma: float = 1.0) -> float:
    """How far runs fall short of ``gamma`` on average; scores above ``gamma`` count as ``gamma``,
    so beating the target on one task cannot make up for missing it on another. Lower is better."""
    return float(gamma - np.mean(np.minimum(_matrix(scores), gamma)))


def aggregate(scores, gamma: float = 1.0) -> Dict[str, float]:
    """The four aggregate metrics recommended by Agarwal et al. for one score matrix."""
    return {"mean": mean(scores), "median": median(scores), "iqm": iqm(scores),
            "optimality_gap": optimality_gap(scores, gamma)}


# Vectorised twins of the statistics above: they take (..., runs, tasks) and reduce the last two
# axes, so a whole stack of bootstrap resamples is evaluated in one call.

def _batched_mean(s: np.ndarray) -> np.ndarray:
    return s.mean(axis=-2).mean(axis=-1)


def _batched_median(s: np.ndarray) -> np.ndarray:
    return np.median(s.mean(axis=-2), axis=-1)


def _batched_iqm(s: np.ndarray) -> np.ndarray:
    flat = s.reshape(*s.shape[:-2], -1)
    n = flat.shape[-1]
    cut = int(0.25 * n)
    return np.sort(flat, axis=-1)[..., cut:n - cut].mean(axis=-1)


def _batched_optimality_gap(s: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    return gamma - np.minimum(s, gamma).mean(axis=(-2, -1))


_BATCHED = {mean: _batched_mean, median: _batched_median, iqm: _batched_iqm,
            optimality_gap: _batched_optimality_gap}


def _vectorised(statistic: Callable) -> Optional[Callable]:
    """The (..., runs, tasks) version of a statistic of this module (also through
    ``functools.partial``, e.g. a different ``gamma``), or None for any other callable."""
    if isinstance(statistic, functools.partial) and not statistic.args:
        inner = _vectorised(statistic.func)
        return None if inner is None else functools.partial(inner, **statistic.keywords)
    try:
        return _BATCHED.get(statistic)
    except TypeError:  # unhashable callable
        return None


# --------------------------------------------------------------------------- bootstrap machinery

# Resamples are evaluated in blocks of at most this many gathered scores (64 MB of float64), which
# bounds memory for big populations or long learning curves; each block is a single numpy call.
_BLOCK_ELEMENTS = 1 << 23


def _matrix(scores) -> np.ndarray:
    x = np.asarray(scores, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"expected a (runs, tasks) score matrix, got shape {x.shape}")
    return x


def _checked(scores, name: str = "scores", ndim: int = 2) -> np.ndarray:
    """Scores for the bootstrap: (runs, tasks[, points]) and finite (a resample cannot skip NaNs)."""
    x = _matrix(scores) if ndim == 2 else np.asarray(scores, np.float64)
    if x.ndim != ndim or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name}: expected {ndim} axes (runs, tasks{', points' if ndim == 3 else ''})"
                         f" with at least one run and task, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: scores contain NaN or inf; drop or impute those runs first")
    return x


def _run_indices(rng: np.random.Generator, runs: int, tasks: int, num_resamples: int) -> np.ndarray:
    """Stratified bootstrap indices ``(num_resamples, runs, tasks)``: column ``m`` of resample ``r``
    holds the runs drawn, with replacement, for task ``m``."""
    if num_resamples < 1:
        raise ValueError(f"num_resamples must be at least 1, got {num_resamples}")
    return rng.integers(0, runs, size=(num_resamples, runs, tasks), dtype=np.int32)


def _gather(scores: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Resampled scores: (runs, tasks, *extra) with idx (R, runs, tasks) -> (R, *extra, runs, tasks)."""
    resampled = scores[idx, np.arange(scores.shape[1])]
    return np.moveaxis(resampled, (1, 2), (-2, -1))


def _bootstrap_values(scores: np.ndarray, batched: Callable, idx: np.ndarray) -> np.ndarray:
    """A vectorised statistic on every resample: (R, *extra) for scores (runs, tasks, *extra)."""
    step = max(1, _BLOCK_ELEMENTS // scores.size)
    return np.concatenate([batched(_gather(scores, idx[i:i + step]))
                           for i in range(0, len(idx), step)])


def _percentile_interval(values: np.ndarray, confidence: float) -> np.ndarray:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    alpha = (1.0 - confidence) / 2
    return np.quantile(values, [alpha, 1.0 - alpha], axis=0)


def _rng(seed: int, name) -> np.random.Generator:
    """One stream per entry, so adding an entry to a dict does not change the others' intervals."""
    return np.random.default_rng([seed, zlib.crc32(str(name).encode())])


def _row_bincount(labels: np.ndarray, num_bins: int) -> np.ndarray:
    """``np.bincount`` of every row of an integer array (R, L) at once -> (R, num_bins)."""
    rows = labels.shape[0]
    offsets = num_bins * np.arange(rows)[:, None]
    return np.bincount((labels + offsets).ravel(), minlength=rows * num_bins).reshape(rows, num_bins)


# --------------------------------------------------------------------------- interval estimates

def interval_estimates(score_dict: Mapping[str, np.ndarray], statistic: Callable = iqm,
                       num_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
                       ) -> Tuple[Dict[str, object], Dict[str, np.ndarray]]:
    """Point estimate and stratified-bootstrap percentile interval of ``statistic`` for every
    ``(runs, tasks)`` matrix in ``score_dict`` (rliable's ``get_interval_estimates``).

    ``statistic`` maps a (runs, tasks) matrix to a scalar or 1-D array. ``mean``, ``median``,
    ``iqm`` and ``optimality_gap`` (also via ``functools.partial``) run on all resamples at once;
    any other callable is called once per resample. Returns ``points[name]`` (float or array) and
    ``cis[name]`` of shape ``(2,)`` or ``(2, k)``: lower and upper bounds."""
    batched = _vectorised(statistic)
    points, cis = {}, {}
    for name, scores in score_dict.items():
        x = _checked(scores, str(name))
        idx = _run_indices(_rng(seed, name), *x.shape, num_resamples)
        if batched is not None:
            values = _bootstrap_values(x, batched, idx)
        else:
            tasks = np.arange(x.shape[1])
            values = np.stack([np.asarray(statistic(x[i, tasks]), np.float64) for i in idx])
        point = np.asarray(statistic(x), np.float64)
        points[name] = float(point) if point.ndim == 0 else point
        cis[name] = _percentile_interval(values, confidence)
    return points, cis


# Existing API (used by the run summary): one pool of members split into strata of unequal size.
def stratified_bootstrap_ci(values, strata: Optional[Sequence] = None,
                            statistic: Callable = iqm, num_resamples: int = 2000,
                            confidence: float = 0.95, seed: int = 0) -> Tuple[float, float]:
    """Percentile CI of ``statistic`` with members resampled with replacement within each
    stratum (e.g. each hyperparameter configuration keeps its number of seeds)."""
    x = np.asarray(values, np.float64).ravel()
    keep = np.isfinite(x)
    strata = np.zeros(x.size, int) if strata is None else np.asarray(strata).ravel()
    x, strata = x[keep], strata[keep]
    if x.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    stats = np.empty(num_resamples)
    for i in range(num_resamples):
        idx = np.concatenate([rng.choice(g, size=g.size, replace=True) for g in groups])
        stats[i] = statistic(x[idx])
    alpha = (1.0 - confidence) / 2
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


# --------------------------------------------------------------------------- probability of improvement

def _win_rates(x: np.ndarray, y: np.ndarray, ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """For one task and each resample r, P(X > Y) + P(X = Y) / 2 between runs ``x[ix[r]]`` and
    ``y[iy[r]]`` (the Mann-Whitney U statistic over n * m). x (n,), y (m,), ix (R, n), iy (R, m).

    Works on ranks, not on the n * m pairs: count how many resampled y runs hold each distinct
    value, then every resampled x run scores the y runs below its value plus half the ties."""
    values, ranks = np.unique(np.concatenate([x, y]), return_inverse=True)
    rank_x, rank_y = ranks[:x.size][ix], ranks[x.size:][iy]
    counts = _row_bincount(rank_y, values.size)                   # (R, distinct values)
    beaten = np.cumsum(counts, axis=1) - counts + 0.5 * counts    # y runs below + half of ties
    wins = np.take_along_axis(beaten, rank_x, axis=1).sum(axis=1)
    return wins / (ix.shape[1] * iy.shape[1])


def _paired(x, y) -> Tuple[np.ndarray, np.ndarray]:
    x, y = _checked(x, "x"), _checked(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must cover the same tasks, got {x.shape[1]} and {y.shape[1]}")
    return x, y


def _average_win_rate(x, y, ix, iy) -> np.ndarray:
    per_task = [_win_rates(x[:, m], y[:, m], ix[:, :, m], iy[:, :, m]) for m in range(x.shape[1])]
    return np.mean(per_task, axis=0)


def probability_of_improvement(x, y) -> float:
    """Probability that a run of X beats a run of Y on the same task (ties count half), averaged
    over tasks. x is (runs_x, tasks), y is (runs_y, tasks). 0.5 means no difference."""
    x, y = _paired(x, y)
    ix = np.broadcast_to(np.arange(x.shape[0])[None, :, None], (1, *x.shape))
    iy = np.broadcast_to(np.arange(y.shape[0])[None, :, None], (1, *y.shape))
    return float(_average_win_rate(x, y, ix, iy)[0])


def probability_of_improvement_ci(x, y, num_resamples: int = 2000, confidence: float = 0.95,
                                  seed: int = 0) -> Tuple[float, Tuple[float, float]]:
    """``probability_of_improvement`` and its percentile interval, with the runs of x and of y
    resampled independently within each task. Returns ``(point, (lo, hi))``."""
    x, y = _paired(x, y)
    rng = np.random.default_rng(seed)
    ix = _run_indices(rng, *x.shape, num_resamples)
    iy = _run_indices(rng, *y.shape, num_resamples)
    lo, hi = _percentile_interval(_average_win_rate(x, y, ix, iy), confidence)
    return probability_of_improvement(x, y), (float(lo), float(hi))


# --------------------------------------------------------------------------- performance profiles

def _profile(levels: np.ndarray, num_taus: int, idx: np.ndarray) -> np.ndarray:
    """Fraction of resampled runs with score above each sorted threshold -> (R, num_taus).
    ``levels[n, m]`` counts the thresholds strictly below ``scores[n, m]``, so that score exceeds
    sorted threshold k exactly when its level is above k."""
    resampled = levels[idx, np.arange(levels.shape[1])].reshape(len(idx), -1)
    at_or_below = np.cumsum(_row_bincount(resampled, num_taus + 1), axis=1)[:, :num_taus]
    return 1.0 - at_or_below / resampled.shape[1]


def performance_profile(scores, taus, num_resamples: int = 2000, confidence: float = 0.95,
                        seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Run-score distribution: for every threshold in ``taus``, the fraction of runs scoring
    strictly above it, averaged over tasks (rliable's ``create_performance_profile`` default), with
    stratified-bootstrap intervals. Returns fractions ``(len(taus),)`` and intervals
    ``(2, len(taus))``."""
    x = _checked(scores)
    taus = np.asarray(taus, np.float64).ravel()
    order = np.argsort(taus)
    levels = np.searchsorted(taus[order], x, side="left")
    idx = _run_indices(np.random.default_rng(seed), *x.shape, num_resamples)
    values = np.empty((num_resamples, taus.size))
    values[:, order] = _profile(levels, taus.size, idx)
    fractions = np.mean(x[:, :, None] > taus, axis=(0, 1))
    return fractions, _percentile_interval(values, confidence)


# --------------------------------------------------------------------------- sample efficiency

def sample_efficiency_curve(scores, statistic: Callable = iqm, num_resamples: int = 2000,
                            confidence: float = 0.95, seed: int = 0
                            ) -> Tuple[np.ndarray, np.ndarray]:
    """A scalar statistic at each of P points in training, with stratified-bootstrap intervals.
    ``scores`` is (runs, tasks, P). A resample keeps whole runs: the run drawn for a task is used
    at every point (rliable redraws per point; the interval at each point is the same either way).
    Returns points ``(P,)`` and intervals ``(2, P)``."""
    x = _checked(scores, ndim=3)
    points = np.array([statistic(x[:, :, p]) for p in range(x.shape[2])], np.float64)
    idx = _run_indices(np.random.default_rng(seed), x.shape[0], x.shape[1], num_resamples)
    batched = _vectorised(statistic)
    if batched is not None:
        values = _bootstrap_values(x, batched, idx)
    else:
        values = np.array([[statistic(s[p]) for p in range(x.shape[2])] for s in _gather(x, idx)])
    return points, _percentile_interval(values, confidence)


# --------------------------------------------------------------------------- normalisation

def normalize(scores, env_id: str, reference: Optional[Tuple[float, float]] = None) -> np.ndarray:
    """Scores on a common scale: 0 is a random policy, 1 the maximum, ``(s - random) / (max - random)``.
    ``reference=(random, max)`` overrides the env's suite's reference scores."""
    if reference is None:
        from jaxrl.envs.registry import all_reference_scores, reference_scores

        reference = reference_scores(env_id)
        if reference is None:
            raise ValueError(f"no reference (random, max) scores for {env_id!r}; known: "
                             f"{sorted(all_reference_scores())}; pass reference=(random, max)")
    low, high = (float(v) for v in reference)
    if high == low:
        raise ValueError(f"reference scores for {env_id!r} are equal ({low}); cannot normalise")
    return (np.asarray(scores, np.float64) - low) / (high - low)


# --------------------------------------------------------------------------- solved thresholds

def fraction_solved(env_id: str, returns) -> Optional[float]:
    """The fraction of ``returns`` at or above the env's solved threshold (its suite's
    metadata; gym's reward_threshold for the gymnax envs), None where it has none."""
    from jaxrl.envs.registry import solved_threshold

    threshold = solved_threshold(env_id)
    if threshold is None:
        return None
    x = np.asarray(returns, np.float64)
    return float(np.mean(x >= threshold))
