"""Inner training runs as meta-learning tasks.

``training_task`` turns any registered algorithm (anything on the contract) into a
``Task``: ``fitness(meta_params, key)`` injects the meta-parameters into the traced
hyperparameters, trains a whole run from ``key`` with ``algo.train`` and returns the
mean greedy evaluation return. Everything else is the ordinary experiment (``jaxrl
train`` fields), so the inner loop is the same code users train with, and a
meta-population is one vmapped program. Two uses are built on it:

* ``ppo_objective_task``: a learned PPO drift (``policy_objective`` lpo / ta_lpo).
* ``schedule_task``: learned schedules of traced hyperparameters over n/N.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Optional, Sequence

import jax
import numpy as np

from jaxrl import registry
from jaxrl.config import ConfigError, replace_path
from jaxrl.evaluation import evaluate_member
from jaxrl.experiment import make_experiment
from jaxrl.meta.es import Task

LEARNED_OBJECTIVES = ("lpo", "ta_lpo")


def inner_algorithm(algorithm: str, env_id: str, values: Optional[Dict[str, Any]] = None,
                    env_overrides: Optional[Dict[str, Any]] = None):
    """The algorithm and (validated) experiment of ``jaxrl train ALGORITHM``."""
    import jaxrl.envs

    exp = make_experiment(algorithm, env_id, dict(values or {}), dict(env_overrides or {}))
    env, env_params = jaxrl.envs.make(exp.env, **exp.env_overrides)
    return registry.get(algorithm).make(env, env_params, exp.config), exp


def env_sampler(algo, exp) -> Optional[Callable[[Any], Any]]:
    """Where the experiment gives env parameters as distributions (``--env-set
    'gravity={distribution: ...}'``: a task distribution), a traced ``draw(key) ->
    env_params`` (built before tracing); else None."""
    if not exp.env_distributions:
        return None
    from jaxrl.envs import per_member

    _, distributions = per_member.split(exp.env, {**exp.env_overrides,
                                                  **exp.env_distributions})
    return per_member.sampler(algo.env_params, distributions)


def on_drawn_env(algo, draw, run: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``run(key)``, an inner run traced on ``algo``; with an ``env_sampler`` ``draw``,
    each call first draws its own env params from its key."""
    if draw is None:
        return run
    from jaxrl.contract import member_env

    def on_a_task(key):
        task_key, key = jax.random.split(key)
        with member_env(algo, draw(task_key)):
            return run(key)

    return on_a_task


def inner_ppo(env_id: str, values: Optional[Dict[str, Any]] = None,
              env_overrides: Optional[Dict[str, Any]] = None):
    return inner_algorithm("ppo", env_id, values, env_overrides)


def training_task(algorithm: str, env_id: str, inject: Callable[[Any, Any], Any],
                  values: Optional[Dict[str, Any]] = None,
                  env_overrides: Optional[Dict[str, Any]] = None, eval_episodes: int = 16,
                  reference=None, name: Optional[str] = None) -> Task:
    """``inject(hparams, meta_params) -> hparams`` places the meta-parameters (traced)."""
    algo, exp = inner_algorithm(algorithm, env_id, values, env_overrides)
    hp, draw = exp.hparams, env_sampler(algo, exp)

    def fitness(meta_params, key):
        def run(key):
            train_key, eval_key = jax.random.split(key)
            state, _ = algo.train(train_key, inject(hp, meta_params))
            return evaluate_member(algo, state, eval_key, eval_episodes).mean()

        return on_drawn_env(algo, draw, run)(key)

    return Task(name or env_id, fitness, reference,
                algo.num_updates * algo.env_steps_per_update)


def ppo_objective_task(env_id: str, objective: str = "lpo",
                       values: Optional[Dict[str, Any]] = None,
                       env_overrides: Optional[Dict[str, Any]] = None,
                       eval_episodes: int = 16, reference=None) -> Task:
    if objective not in LEARNED_OBJECTIVES:
        raise ConfigError(f"--objective {objective!r}: a meta-learned objective is one of "
                          f"{', '.join(LEARNED_OBJECTIVES)}")
    return training_task("ppo", env_id, lambda hp, p: replace_path(hp, "objective.drift_params", p),
                         {**(values or {}), "policy_objective": objective}, env_overrides,
                         eval_episodes, reference)


def schedule_task(env_id: str, algorithm: str = "ppo",
                  values: Optional[Dict[str, Any]] = None,
                  env_overrides: Optional[Dict[str, Any]] = None, eval_episodes: int = 16,
                  reference=None) -> Task:
    """Meta-parameters ``{field: [K] log-multipliers}`` become ``schedule_params``."""
    return training_task(algorithm, env_id, lambda hp, p: hp.replace(schedule_params=p),
                         values, env_overrides, eval_episodes, reference)


def check_schedulable(algorithm: str, fields: Sequence[str]) -> None:
    """One line if ``algorithm`` has no learned schedules or a field is not a float
    hyperparameter."""
    from jaxrl.components.schedules import check_schedule_params

    hparams_cls = registry.get(algorithm).HParams
    if "schedule_params" not in {f.name for f in dataclasses.fields(hparams_cls)}:
        raise ConfigError(f"{algorithm} has no learned schedules (HParams.schedule_params)")
    if not fields:
        raise ConfigError("--schedule needs at least one hyperparameter, e.g. "
                          "learning_rate,ent_coef")
    check_schedule_params(hparams_cls, {f: np.zeros(2) for f in fields})


def ppo_clip_like_init(objective: str = "lpo"):
    """The learned drift's starting point: distilled from PPO-clip."""
    from jaxrl.components.objectives import ppo_clip_like_params

    return ppo_clip_like_params(temporal=objective == "ta_lpo")
