"""Aggregate statistics over population members (Agarwal et al., 2021 conventions)."""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple

import numpy as np


def iqm(values) -> float:
    """Interquartile mean as rliable computes it (``scipy.stats.trim_mean(x, 0.25)``):
    drop ``floor(n/4)`` values from each end, average the rest. NaNs are dropped."""
    x = np.sort(np.asarray(values, np.float64).ravel())
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan")
    cut = int(0.25 * x.size)
    return float(np.mean(x[cut:x.size - cut]))


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


# gym's reward_threshold for the envs that define one.
SOLVED_THRESHOLDS = {
    "CartPole-v1": 475.0,
    "Acrobot-v1": -100.0,
    "MountainCar-v0": -110.0,
    "MountainCarContinuous-v0": 90.0,
    "brax/inverted_pendulum": 950.0,
}


def fraction_solved(env_id: str, returns) -> Optional[float]:
    threshold = SOLVED_THRESHOLDS.get(env_id)
    if threshold is None:
        return None
    x = np.asarray(returns, np.float64)
    return float(np.mean(x >= threshold))
