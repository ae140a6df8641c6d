"""Batch ask-and-tell with an Optuna study (extra: ``pip install 'jaxrl[optuna]'``).

Each round asks ``trials_per_round`` trials, trains them as one sweep round (one vmapped
population per static group) and tells each trial its tuning score (IQM of the final
evaluation returns over the tuning seeds; Optuna maximises it). The study lives in
``out/optuna.db`` (SQLite); the configurations of a round are saved in ``sweep.json``
before it trains, and the sampler of round ``r`` is seeded with ``seed + r`` over the
stored trials, so a resumed sweep asks exactly what an uninterrupted one would have.
"""
from __future__ import annotations

import math
import os
from typing import Any, Dict

from jaxrl.config import ConfigError
from jaxrl.sweep.results import tuning_score
from jaxrl.sweep.space import Choice, Fixed, IntUniform, LogUniform, QUniform, SearchSpace

STUDY = "jaxrl-sweep"


def _optuna():
    try:
        import optuna
    except ImportError:
        raise ConfigError("--sampler optuna needs the optional extra: pip install "
                          "'jaxrl[optuna]'")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def suggest(trial, space: SearchSpace) -> Dict[str, Any]:
    """One configuration from ``trial``, parameter by parameter."""
    values = {}
    for p in space.params:
        if isinstance(p, Fixed):
            values[p.name] = p.value
        elif isinstance(p, Choice):  # index: Optuna's choices must be plain scalars
            i = trial.suggest_categorical(p.name, list(range(len(p.values))))
            values[p.name] = p.values[i]
        elif isinstance(p, IntUniform):
            values[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high))
        elif isinstance(p, QUniform):
            values[p.name] = trial.suggest_float(p.name, p.low, p.high, step=p.q)
        else:
            values[p.name] = trial.suggest_float(p.name, p.low, p.high,
                                                 log=isinstance(p, LogUniform))
    return space.coerce(values)


class OptunaRounds:
    """The sampling strategy of ``--sampler optuna`` (``samplers.strategy``)."""

    def tune(self, sweep) -> None:
        run_optuna_rounds(sweep)


def run_optuna_rounds(sweep) -> None:
    """Asks, trains and tells rounds until ``num_configs`` trials are done."""
    import jax

    if jax.process_count() > 1:
        raise ConfigError("--sampler optuna runs one study in one process; with "
                          "--distributed use grid, random, sobol or halton")
    optuna = _optuna()
    spec = sweep.spec
    storage = f"sqlite:///{os.path.abspath(os.path.join(sweep.out, 'optuna.db'))}"
    os.makedirs(sweep.out, exist_ok=True)
    optuna.create_study(study_name=STUDY, storage=storage, direction="maximize",
                        load_if_exists=True)
    num_rounds = math.ceil(spec.num_configs / spec.trials_per_round)
    for r in range(num_rounds):
        study = optuna.load_study(study_name=STUDY, storage=storage,
                                  sampler=optuna.samplers.TPESampler(seed=spec.seed + r))
        if r == len(sweep.rounds):  # not asked yet
            for stale in study.get_trials(deepcopy=False,  # asked, then killed before saved
                                          states=(optuna.trial.TrialState.RUNNING,)):
                study.tell(stale.number, state=optuna.trial.TrialState.FAIL)
            size = min(spec.trials_per_round, spec.num_configs - len(sweep.configs))
            trials = [study.ask() for _ in range(size)]
            ids = []
            for trial in trials:
                trial.set_user_attr("config", len(sweep.configs))
                ids.append(len(sweep.configs))
                sweep.configs.append(suggest(trial, sweep.space))
            sweep.rounds.append(ids)
            sweep.save_plan()
        ids = sweep.rounds[r]
        units = [u for u in sweep.tuning_units() if set(u.config_ids) <= set(ids)]
        sweep.print_plan(units, f"optuna round {r + 1}/{num_rounds}: {len(ids)} trials x "
                                f"{spec.seeds_per_config} tuning seeds")
        sweep.run_units(units)
        finals = sweep.final_returns(units)
        open_trials = {t.user_attrs.get("config"): t.number for t in study.get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))}
        for cid in ids:
            if cid in open_trials:
                score = tuning_score(finals[cid])
                study.tell(open_trials[cid], score if math.isfinite(score) else None,
                           state=None if math.isfinite(score)
                           else optuna.trial.TrialState.FAIL)
