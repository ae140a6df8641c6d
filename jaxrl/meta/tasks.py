"""Inner training runs as meta-learning tasks.

``ppo_objective_task`` scores a learned PPO drift (``policy_objective`` lpo / ta_lpo) by
a whole PPO run: ``fitness(drift_params, key)`` trains from ``key`` with the drift and
returns the mean greedy evaluation return. Everything but the drift is the ordinary
PPO experiment (``jaxrl train ppo`` fields), so the inner loop is the same code users
train with, and the population of drifts is one vmapped program.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import jax

from jaxrl import registry
from jaxrl.config import ConfigError
from jaxrl.evaluation import evaluate
from jaxrl.experiment import make_experiment
from jaxrl.meta.es import Task

LEARNED_OBJECTIVES = ("lpo", "ta_lpo")


def inner_ppo(env_id: str, values: Optional[Dict[str, Any]] = None,
              env_overrides: Optional[Dict[str, Any]] = None):
    """The PPO algorithm and hyperparameters of an ordinary experiment."""
    import jaxrl.envs

    exp = make_experiment("ppo", env_id, dict(values or {}), dict(env_overrides or {}))
    env, env_params = jaxrl.envs.make(exp.env, **exp.env_overrides)
    return registry.get("ppo").make(env, env_params, exp.config), exp


def ppo_objective_task(env_id: str, objective: str = "lpo",
                       values: Optional[Dict[str, Any]] = None,
                       env_overrides: Optional[Dict[str, Any]] = None,
                       eval_episodes: int = 16, reference=None) -> Task:
    if objective not in LEARNED_OBJECTIVES:
        raise ConfigError(f"--objective {objective!r}: a meta-learned objective is one of "
                          f"{', '.join(LEARNED_OBJECTIVES)}")
    algo, exp = inner_ppo(env_id, {**(values or {}), "policy_objective": objective},
                          env_overrides)
    hp = exp.hparams.validate()

    def fitness(drift_params, key):
        train_key, eval_key = jax.random.split(key)
        state, _ = algo.train(train_key, hp.replace(drift_params=drift_params))
        return evaluate(algo.eval_env, algo.env_params, algo.policy(state), eval_key,
                        eval_episodes).mean()

    return Task(env_id, fitness, reference, algo.num_updates * algo.env_steps_per_update)


def ppo_clip_like_init(objective: str = "lpo"):
    """The learned drift's starting point: distilled from PPO-clip."""
    from jaxrl.components.objectives import ppo_clip_like_params

    return ppo_clip_like_params(temporal=objective == "ta_lpo")
