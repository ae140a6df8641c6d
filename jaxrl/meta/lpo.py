"""``jaxrl meta lpo``: discover a PPO drift by evolution, then meta-test it.

1. References: on every training env, PPO-clip (same code, same budget and inner seeds)
   gives each task's normalisation range, from its untrained policy's return (0) to
   PPO-clip's final return (1), so tasks weigh alike whatever their reward scale.
2. Meta-training: ``meta_train`` over the learned drift's parameters (lpo, or ta_lpo
   which also sees n/N), starting from a drift distilled from PPO-clip.
3. Meta-test: the learned drift (the search distribution's mean), PPO-clip and DPO,
   each trained on fresh seeds on every held-out test env (or, with none given, the
   training envs), reported as
   IQM with 95% stratified-bootstrap CIs, whatever the result.

Outputs in ``out/``: ``meta.json`` (settings), ``references.json``, ``es/``
(checkpoints, ``best_params.npz``, ``fitness_curve.json``), ``mean_params.npz``,
``meta_test.json``, ``drift.png`` and ``fitness.png``.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, List, Optional

import jax
import numpy as np

from jaxrl import stats
from jaxrl.config import ConfigError, check_seed_range
from jaxrl.meta.es import STRATEGIES, MetaResult, make_strategy, meta_train
from jaxrl.meta.tasks import LEARNED_OBJECTIVES, inner_ppo, ppo_clip_like_init, ppo_objective_task


@dataclasses.dataclass
class LPOSpec:
    train_envs: List[str]
    test_envs: List[str]
    objective: str = "lpo"
    strategy: str = "open_es"
    generations: int = 16
    popsize: int = 16
    inner_seeds: int = 2
    test_seeds: int = 16
    sigma: float = 0.05
    learning_rate: float = 0.03
    seed: int = 0
    eval_episodes: int = 16
    values: Dict[str, Any] = dataclasses.field(default_factory=dict)  # PPO fields

    def validate(self) -> "LPOSpec":
        import jaxrl.envs

        if self.objective not in LEARNED_OBJECTIVES:
            raise ConfigError(f"--objective {self.objective!r}: choose lpo or ta_lpo")
        if not self.train_envs:
            raise ConfigError("--train-envs needs at least one env id")
        for env_id in self.train_envs + self.test_envs:
            jaxrl.envs.make(env_id)  # an unknown id raises with suggestions
        make_strategy(self.strategy, self.popsize, {"x": np.zeros(1)}, self.sigma,
                      self.learning_rate)  # popsize / strategy checks
        for name in ("generations", "inner_seeds", "test_seeds", "eval_episodes"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive")
        check_seed_range(self.seed, 1)
        for env_id in self.train_envs + self.test_envs:  # every PPO experiment is valid
            inner_ppo(env_id, {**self.values, "policy_objective": "clip"})
        return self


def _train_and_score(env_id: str, values: Dict[str, Any], seeds: int, seed: int,
                     eval_episodes: int, drift_params=None):
    """Final greedy return per seed of PPO on ``env_id`` (vmapped over seeds), and the
    untrained policy's return."""
    algo, exp = inner_ppo(env_id, values)
    hp = exp.hparams.validate()
    if drift_params is not None:
        hp = hp.replace(drift_params=jax.tree.map(np.asarray, drift_params))
    from jaxrl.evaluation import evaluate

    def one(key):
        train_key, eval_key = jax.random.split(key)
        init = algo.init(train_key, hp)
        state, _ = algo.train(train_key, hp)
        score = lambda s: evaluate(algo.eval_env, algo.env_params, algo.policy(s),  # noqa: E731
                                   eval_key, eval_episodes).mean()
        return score(init), score(state)

    keys = jax.random.split(jax.random.PRNGKey(seed), seeds)
    initial, final = jax.jit(jax.vmap(one))(keys)
    return np.asarray(initial, np.float64), np.asarray(final, np.float64)


def run_lpo(spec: Optional[LPOSpec], out: str, resume: bool = False, console=None,
            progress: bool = True, stop_after_generations: Optional[int] = None
            ) -> Dict[str, Any]:
    from rich.console import Console

    console = console or Console(stderr=True)
    path = os.path.join(out, "meta.json")
    if resume:
        try:
            spec = LPOSpec(**json.load(open(path)))
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"{path} is missing or damaged ({exc}); --resume needs --out "
                              f"pointing at a meta-learning directory")
    elif os.path.exists(path):
        raise ConfigError(f"--out {out} already holds a meta-learning run; pass --resume to "
                          f"continue it or choose another --out")
    spec.validate()
    os.makedirs(out, exist_ok=True)
    if not resume:
        with open(path, "w") as f:
            json.dump(dataclasses.asdict(spec), f, indent=2)

    # 1. references: untrained policy -> 0, PPO-clip -> 1 (same seeds as the inner runs)
    ref_path = os.path.join(out, "references.json")
    if os.path.exists(ref_path):
        references = json.load(open(ref_path))
    else:
        references = {}
        for env_id in spec.train_envs:
            initial, final = _train_and_score(env_id, {**spec.values, "policy_objective": "clip"},
                                              spec.inner_seeds, spec.seed, spec.eval_episodes)
            references[env_id] = [float(initial.mean()), float(final.mean())]
            console.print(f"reference {env_id}: untrained {references[env_id][0]:.1f}, "
                          f"PPO-clip {references[env_id][1]:.1f}")
        with open(ref_path, "w") as f:
            json.dump(references, f, indent=2)
    tasks = []
    for env_id in spec.train_envs:
        low, high = references[env_id]
        if not high > low:
            raise ConfigError(f"{env_id}: PPO-clip ({high:.1f}) did not beat the untrained "
                              f"policy ({low:.1f}) within the budget, so it cannot normalise "
                              f"the fitness; raise --total-timesteps")
        tasks.append(ppo_objective_task(env_id, spec.objective, spec.values,
                                        eval_episodes=spec.eval_episodes,
                                        reference=(low, high)))

    # 2. meta-training
    result = meta_train(tasks, ppo_clip_like_init(spec.objective), spec.strategy,
                        spec.popsize, spec.generations, spec.inner_seeds, spec.sigma,
                        spec.learning_rate, spec.seed, out=os.path.join(out, "es"),
                        resume=resume, console=console, progress=progress,
                        stop_after_generations=stop_after_generations)
    if len(result.curve) < spec.generations:
        return {"stopped_after": len(result.curve)}
    np.savez(os.path.join(out, "mean_params.npz"), **result.mean_params)

    # 3. meta-test on fresh seeds (after every inner and reference seed)
    test_seed = spec.seed + 1_000_003
    table = {}
    for env_id in spec.test_envs or spec.train_envs:  # held-out envs; else the training envs
        row = {}
        for label, objective, params in (("learned", spec.objective, result.mean_params),
                                         ("ppo_clip", "clip", None), ("dpo", "dpo", None)):
            _, final = _train_and_score(env_id, {**spec.values, "policy_objective": objective},
                                        spec.test_seeds, test_seed, spec.eval_episodes, params)
            lo, hi = stats.stratified_bootstrap_ci(final)
            row[label] = {"iqm": stats.iqm(final), "ci95": [lo, hi],
                          "mean": float(final.mean()), "returns": final.tolist()}
        table[env_id] = {"held_out": env_id in spec.test_envs, **row}
    summary = {"spec": dataclasses.asdict(spec), "references": references,
               "best_fitness": result.best_fitness, "final_fitness_mean":
               result.curve[-1]["fitness_mean"], "traces": result.traces,
               "meta_test": table}
    with open(os.path.join(out, "meta_test.json"), "w") as f:
        json.dump(summary, f, indent=2)
    plot_drift(result.mean_params, spec.objective, os.path.join(out, "drift.png"))
    plot_fitness(result, os.path.join(out, "fitness.png"))
    return summary


def plot_drift(params, objective: str, path: str) -> None:
    """The learned drift against the ratio, for A = +1 and A = -1, with PPO-clip and DPO
    (and, temporally aware, at n/N = 0, 0.5, 1)."""
    import matplotlib

    matplotlib.use("Agg")
    import jax.numpy as jnp
    import matplotlib.pyplot as plt

    from jaxrl.components import objectives as obj

    ratio = jnp.exp(jnp.linspace(np.log(0.5), np.log(2.0), 201))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    progresses = (0.0, 0.5, 1.0) if objective == "ta_lpo" else (0.0,)
    for ax, adv in zip(axes, (1.0, -1.0)):
        a = jnp.full_like(ratio, adv)
        for p in progresses:
            label = "learned" + (f" (n/N={p:g})" if len(progresses) > 1 else "")
            ax.plot(ratio, obj.learned_drift(params, ratio, a, p), label=label)
        ax.plot(ratio, obj.ppo_clip_drift(ratio, a, 0.2), "--", color="grey", label="PPO-clip")
        ax.plot(ratio, obj.dpo_drift(ratio, a, 2.0, 0.6), ":", color="black", label="DPO")
        ax.set_xscale("log")
        ax.set_xlabel("ratio r = pi / pi_old")
        ax.set_title(f"advantage {adv:+g}")
    axes[0].set_ylabel("drift")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_fitness(result: MetaResult, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = [r["generation"] for r in result.curve]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(g, [r["fitness_mean"] for r in result.curve], label="mean")
    ax.fill_between(g, [r["fitness_min"] for r in result.curve],
                    [r["fitness_max"] for r in result.curve], alpha=0.25, label="min-max")
    ax.set_xlabel("generation")
    ax.set_ylabel("normalised fitness (PPO-clip = 1)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = ["LPOSpec", "STRATEGIES", "plot_drift", "run_lpo"]
