"""Run totals across sessions, per-chunk aggregates and the run summary."""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Dict, Optional

import numpy as np

from jaxrl import stats
from jaxrl.contract import EPISODE_COUNT, EPISODE_RETURN_SUM
from jaxrl.distributed import to_host
from jaxrl.runner.chunk import Carry


def accepted_updates(carry: Carry) -> np.ndarray:
    """Per member, the updates whose results were kept: all of them for a live member,
    those before the divergence for a frozen one."""
    frozen_after, updates = to_host((carry.frozen_after, carry.updates))
    return np.where(frozen_after >= 0, frozen_after, updates).astype(np.int64)


@dataclasses.dataclass
class RunTotals:
    """Throughput bookkeeping of a whole run, kept in checkpoint metadata so a resumed run
    reports its totals over every session (work lost to a kill after the last
    checkpoint is redone and not counted twice). ``env_steps`` counts only accepted
    updates (a diverged member's discarded work is in ``env_steps_all_members`` only)."""

    train_seconds: float = 0.0
    compile_seconds: float = 0.0
    env_steps: int = 0
    env_steps_all_members: int = 0
    sessions: int = 0
    gradient_steps: int = 0  # optimiser steps of accepted updates, all members
    eval_episodes: int = 0  # online evaluation episodes per member (an offline run's budget)

    @classmethod
    def from_meta(cls, meta: Optional[Dict[str, Any]]) -> "RunTotals":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in ((meta or {}).get("totals") or {}).items() if k in known})

    def steps_per_second(self) -> float:
        return self.env_steps / self.train_seconds if self.train_seconds > 0 else 0.0

    def gradient_steps_per_second(self) -> float:
        return self.gradient_steps / self.train_seconds if self.train_seconds > 0 else 0.0

    def all_steps_per_second(self) -> float:
        return self.env_steps_all_members / self.train_seconds if self.train_seconds > 0 \
            else 0.0


def member_returns(metrics: Dict[str, np.ndarray], alive: np.ndarray) -> np.ndarray:
    count = metrics[EPISODE_COUNT]
    with np.errstate(invalid="ignore", divide="ignore"):
        returns = np.where(count > 0, metrics[EPISODE_RETURN_SUM] / count, np.nan)
    return np.where(alive, returns, np.nan)


def nanmean(x) -> float:
    x = np.asarray(x, np.float64)
    return float(np.nanmean(x)) if np.any(np.isfinite(x)) else float("nan")


def summarize(population, env_id, final_eval, total_steps, totals: RunTotals,
             session: RunTotals, start_chunk: int, diverged, run_dir, alive) -> Dict[str, Any]:
    final_eval = np.asarray(final_eval, np.float64)
    lo, hi = stats.stratified_bootstrap_ci(final_eval, population.config_index)
    clean = lambda x: None if x is None or not math.isfinite(x) else float(x)
    return {
        "env": env_id,
        "members": population.size,
        "total_timesteps": int(total_steps),
        "final_eval_return": [clean(x) for x in final_eval],
        "final_eval_return_mean": clean(float(np.nanmean(final_eval))),
        "final_eval_return_iqm": clean(stats.iqm(final_eval)),
        "final_eval_return_ci95": [clean(lo), clean(hi)],
        "fraction_solved": stats.fraction_solved(env_id, final_eval),
        # Run totals over every session; diverged members' discarded updates excluded.
        "env_steps_per_second": totals.steps_per_second(),
        "env_steps_per_second_all_members": totals.all_steps_per_second(),
        "gradient_steps_per_second": totals.gradient_steps_per_second(),
        "eval_episodes_per_member": totals.eval_episodes,
        "train_seconds": totals.train_seconds,
        "compile_seconds": totals.compile_seconds,
        "sessions": totals.sessions,
        "session": {"resumed_from_chunk": start_chunk,
                    "train_seconds": session.train_seconds,
                    "compile_seconds": session.compile_seconds,
                    "env_steps": session.env_steps,
                    "env_steps_per_second": session.steps_per_second()},
        "diverged_members": [{"member": i, "frozen_after_update": u,
                              **population.table()[i]} for i, u in sorted(diverged.items())],
        "alive_members": int(np.sum(alive)),
        "run_dir": os.path.abspath(run_dir) if run_dir else None,
    }
