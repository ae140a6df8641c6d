"""``jaxrl meta lpo | schedule``: meta-train by evolution, then meta-test, end to end.

Targets (what the meta-parameters are):

* ``lpo``: a learned PPO drift (``ta_lpo``: temporally aware), starting from a drift
  distilled from PPO-clip; meta-tested against PPO-clip and DPO.
* ``schedule``: learned schedules of traced PPO hyperparameters (``--schedule
  learning_rate,ent_coef``: log-multipliers at ``--knots`` points of n/N), starting
  from the fixed schedule; meta-tested against the fixed schedule.

Steps:

1. References: on every training env, the *base* inner run (PPO-clip with the fixed
   schedule; same code, budget and inner seeds) gives the task's normalisation range,
   from its untrained policy's return (0) to its final return (1), so tasks weigh alike
   whatever their reward scale.
2. Meta-training: ``meta_train`` over the meta-parameters.
3. Meta-test: the search distribution's mean against the baselines, each trained on
   fresh seeds (after every inner and reference seed) on every ``--test-envs`` env (held
   out unless it is also a training env; with none given, the training envs), reported
   as IQM with 95% stratified-bootstrap CIs, whatever the result.

Outputs in ``out/``: ``meta.json`` (settings), ``references.json``, ``es/``
(checkpoints, ``best_params.npz``, ``fitness_curve.json``), ``mean_params.npz``,
``meta_test.json``, ``fitness.png`` and ``drift.png`` (lpo) or ``schedule.png``.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any, Dict, List, Optional, Tuple

import jax
import numpy as np

from jaxrl import stats
from jaxrl.config import ConfigError, check_seed_range, replace_path, static_field
from jaxrl.distributed import barrier, is_leader, put, to_host
from jaxrl.meta.es import (STRATEGIES, MetaResult, make_strategy, meta_train,
                           population_sharding)
from jaxrl.meta.tasks import (LEARNED_OBJECTIVES, check_schedulable, env_sampler, inner_ppo,
                              on_drawn_env, ppo_clip_like_init, ppo_objective_task,
                              schedule_task)

TARGETS = ("lpo", "schedule")


@dataclasses.dataclass
class MetaSpec:
    target: str
    train_envs: List[str]
    test_envs: List[str]
    objective: str = static_field("lpo", "lpo: the learned drift (lpo | ta_lpo, which also "
                                         "sees training progress n/N)")
    schedule: Tuple[str, ...] = static_field(("learning_rate", "ent_coef"),
                                             "schedule: the float PPO fields to schedule")
    knots: int = static_field(5, "schedule: points of n/N the log-multipliers are learned at")
    strategy: str = static_field("open_es", "evolution strategy: open_es | snes | cma_es")
    generations: int = static_field(16, "ES generations")
    popsize: int = static_field(16, "meta-population (even for open_es)")
    inner_seeds: int = static_field(2, "inner runs per member")
    test_seeds: int = static_field(16, "fresh seeds per meta-test")
    sigma: float = static_field(0.05, "ES search std")
    learning_rate: float = static_field(0.03, "ES learning rate")
    seed: int = static_field(0, "seed of the ES and of the inner runs")
    eval_episodes: int = 16
    values: Dict[str, Any] = dataclasses.field(default_factory=dict)  # inner PPO fields
    env_overrides: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def validate(self) -> "MetaSpec":
        import jaxrl.envs

        if self.target not in TARGETS:
            raise ConfigError(f"meta target {self.target!r}: choose one of {', '.join(TARGETS)}")
        if self.target == "lpo" and self.objective not in LEARNED_OBJECTIVES:
            raise ConfigError(f"--objective {self.objective!r}: choose lpo or ta_lpo")
        if self.target == "schedule":
            check_schedulable("ppo", list(self.schedule))
            if self.knots < 2:
                raise ConfigError(f"--knots {self.knots}: a schedule needs at least 2 points")
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
        for env_id in self.train_envs + self.test_envs:  # every inner experiment is valid
            inner_ppo(env_id, self.base_values, self.env_overrides)
        return self

    @property
    def base_values(self) -> Dict[str, Any]:
        """The inner run the meta-parameters modify (PPO-clip, fixed schedule)."""
        return {**self.values, "policy_objective": "clip"}

    @property
    def learned_values(self) -> Dict[str, Any]:
        if self.target == "lpo":
            return {**self.values, "policy_objective": self.objective}
        return self.base_values

    def initial_params(self):
        if self.target == "lpo":
            return ppo_clip_like_init(self.objective)
        from jaxrl.components.schedules import init_schedule_params

        return init_schedule_params(self.schedule, self.knots)

    def task(self, env_id: str, reference):
        if self.target == "lpo":
            return ppo_objective_task(env_id, self.objective, self.values, self.env_overrides,
                                      self.eval_episodes, reference)
        return schedule_task(env_id, "ppo", self.base_values, self.env_overrides,
                             self.eval_episodes, reference)

    def contenders(self, learned) -> List[Tuple[str, Dict[str, Any], Optional[Dict[str, Any]]]]:
        """(label, inner fields, traced replacements) of every meta-tested method."""
        if self.target == "lpo":
            return [("learned", self.learned_values, {"objective.drift_params": learned}),
                    ("ppo_clip", self.base_values, None),
                    ("dpo", {**self.values, "policy_objective": "dpo"}, None)]
        return [("learned", self.base_values, {"schedule_params": learned}),
                ("fixed", self.base_values, self.base_replace)]

    @property
    def base_replace(self) -> Optional[Dict[str, Any]]:
        """The base run's traced values: for schedules, all-zero knots (bitwise the fixed
        schedule), so the base and learned runs share one compiled program."""
        if self.target == "lpo":
            return None
        return {"schedule_params": self.initial_params()}


def _train_and_score(spec: MetaSpec, env_id: str, values: Dict[str, Any], seeds: int,
                     seed: int, replace: Optional[Dict[str, Any]] = None):
    """Final greedy return per seed of PPO on ``env_id`` (vmapped over seeds), and the
    untrained policy's return."""
    program, hp = _scorer(env_id, json.dumps(values, sort_keys=True),
                          json.dumps(spec.env_overrides, sort_keys=True), spec.eval_episodes)
    if replace:
        for path, value in replace.items():
            hp = replace_path(hp, path, jax.tree.map(np.asarray, value))
    over_devices, replicated, _ = population_sharding(seeds)  # seeds over the devices
    initial, final = to_host(program(put(jax.random.split(jax.random.PRNGKey(seed), seeds),
                                         over_devices), put(hp, replicated)))
    return initial.astype(np.float64), final.astype(np.float64)


@functools.lru_cache(maxsize=None)
def _scorer(env_id: str, values: str, env_overrides: str, eval_episodes: int):
    """One compiled program per inner experiment, the hyperparameters traced: references
    and meta-tests of the same experiment (and a resumed run) share it."""
    from jaxrl.evaluation import evaluate_member

    algo, exp = inner_ppo(env_id, json.loads(values), json.loads(env_overrides))
    draw = env_sampler(algo, exp)

    def one(key, hp):
        def run(key):
            train_key, eval_key = jax.random.split(key)
            init = algo.init(train_key, hp)
            state, _ = algo.train(train_key, hp)
            score = lambda s: evaluate_member(  # noqa: E731
                algo, s, eval_key, eval_episodes).mean()
            return score(init), score(state)

        return on_drawn_env(algo, draw, run)(key)

    return jax.jit(jax.vmap(one, in_axes=(0, None))), exp.hparams


def _load_spec(path: str) -> MetaSpec:
    try:
        raw = json.load(open(path))
        raw["schedule"] = tuple(raw.get("schedule", ()))
        return MetaSpec(**raw)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is missing or damaged ({exc}); --resume needs --out "
                          f"pointing at a meta-learning directory")


def run_meta(spec: Optional[MetaSpec], out: str, resume: bool = False, console=None,
             progress: bool = True, stop_after_generations: Optional[int] = None
             ) -> Dict[str, Any]:
    from rich.console import Console

    console = console or Console(stderr=True)
    path = os.path.join(out, "meta.json")
    if resume:
        spec = _load_spec(path)
        done = os.path.join(out, "meta_test.json")
        if os.path.exists(done):
            with open(done) as f:
                summary = json.load(f)
            console.print(f"{out} is finished ({spec.generations} generations and the "
                          f"meta-test): nothing to resume, nothing changed", soft_wrap=True)
            return summary
    elif os.path.exists(path):
        raise ConfigError(f"--out {out} already holds a meta-learning run; pass --resume to "
                          f"continue it or choose another --out")
    else:
        from jaxrl.runner import check_run_dir

        check_run_dir(out)
    spec.validate()
    leader = is_leader()  # with several processes, all compute and process 0 writes
    barrier("jaxrl-meta-checked")  # every process has looked before process 0 writes
    if leader:
        os.makedirs(out, exist_ok=True)
    if leader and not resume:
        with open(path, "w") as f:
            json.dump(dataclasses.asdict(spec), f, indent=2)

    # 1. references: untrained policy -> 0, the base inner run -> 1 (the inner seeds)
    ref_path = os.path.join(out, "references.json")
    if os.path.exists(ref_path):
        references = json.load(open(ref_path))
    else:
        references = {}
        for env_id in spec.train_envs:
            initial, final = _train_and_score(spec, env_id, spec.base_values,
                                              spec.inner_seeds, spec.seed, spec.base_replace)
            references[env_id] = [float(initial.mean()), float(final.mean())]
            console.print(f"reference {env_id}: untrained {references[env_id][0]:.1f}, "
                          f"base {references[env_id][1]:.1f}")
        if leader:
            with open(ref_path, "w") as f:
                json.dump(references, f, indent=2)
    tasks = []
    for env_id in spec.train_envs:
        low, high = references[env_id]
        if not high > low:
            raise ConfigError(f"{env_id}: the base run ({high:.1f}) did not beat the untrained "
                              f"policy ({low:.1f}) within the budget, so it cannot normalise "
                              f"the fitness; raise --total-timesteps")
        tasks.append(spec.task(env_id, (low, high)))

    # 2. meta-training
    result = meta_train(tasks, spec.initial_params(), spec.strategy, spec.popsize,
                        spec.generations, spec.inner_seeds, spec.sigma, spec.learning_rate,
                        spec.seed, out=os.path.join(out, "es"), resume=resume,
                        console=console, progress=progress,
                        stop_after_generations=stop_after_generations)
    if len(result.curve) < spec.generations:
        return {"stopped_after": len(result.curve)}
    if leader:
        np.savez(os.path.join(out, "mean_params.npz"), **result.mean_params)

    # 3. meta-test on fresh seeds (after every inner and reference seed)
    test_seed = spec.seed + 1_000_003
    table = {}
    for env_id in spec.test_envs or spec.train_envs:  # held-out envs; else the training envs
        row = {}
        for label, values, replace in spec.contenders(result.mean_params):
            _, final = _train_and_score(spec, env_id, values, spec.test_seeds, test_seed,
                                        replace)
            lo, hi = stats.stratified_bootstrap_ci(final)
            row[label] = {"iqm": stats.iqm(final), "ci95": [lo, hi],
                          "mean": float(final.mean()), "returns": final.tolist()}
        table[env_id] = {"held_out": env_id not in spec.train_envs, **row}
    summary = {"spec": dataclasses.asdict(spec), "references": references,
               "best_fitness": result.best_fitness, "final_fitness_mean":
               result.curve[-1]["fitness_mean"], "traces": result.traces,
               "curve": result.curve, "meta_test": table}
    if spec.target == "schedule":
        from jaxrl.components.schedules import describe

        summary["learned_schedule"] = describe(result.mean_params)
    if leader:
        with open(os.path.join(out, "meta_test.json"), "w") as f:
            json.dump(summary, f, indent=2)
        if spec.target == "lpo":
            plot_drift(result.mean_params, spec.objective, os.path.join(out, "drift.png"))
        else:
            plot_schedule(result.mean_params, os.path.join(out, "schedule.png"))
        plot_fitness(result, os.path.join(out, "fitness.png"))
    barrier("jaxrl-meta-end")  # every process sees what process 0 wrote
    return summary


def _figure(**kw):
    """A figure that only saves to files: no pyplot, so the caller's backend (e.g. a
    notebook's inline one) is left alone."""
    from matplotlib.figure import Figure

    return Figure(**kw)


def plot_drift(params, objective: str, path: str) -> None:
    """The learned drift against the ratio, for A = +1 and A = -1, with PPO-clip and DPO
    (and, temporally aware, at n/N = 0, 0.5, 1)."""
    import jax.numpy as jnp

    from jaxrl.components import objectives as obj

    ratio = jnp.exp(jnp.linspace(np.log(0.5), np.log(2.0), 201))
    fig = _figure(figsize=(10, 3.6))
    axes = fig.subplots(1, 2, sharey=True)
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


def plot_schedule(params, path: str) -> None:
    """Each learned multiplier against training progress n/N (1 = the fixed schedule)."""
    from jaxrl.components.schedules import multiplier

    progress = np.linspace(0.0, 1.0, 101)
    fig = _figure(figsize=(5.5, 3.6))
    ax = fig.subplots()
    for name, knots in params.items():
        ax.plot(progress, [float(multiplier(knots, p)) for p in progress], label=name)
    ax.axhline(1.0, color="grey", ls="--", lw=1, label="fixed schedule")
    ax.set_yscale("log")
    ax.set_xlabel("training progress n/N")
    ax.set_ylabel("multiplier of the fixed value")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_fitness(result: MetaResult, path: str) -> None:
    g = [r["generation"] for r in result.curve]
    fig = _figure(figsize=(5.5, 3.6))
    ax = fig.subplots()
    ax.plot(g, [r["fitness_mean"] for r in result.curve], label="mean")
    ax.fill_between(g, [r["fitness_min"] for r in result.curve],
                    [r["fitness_max"] for r in result.curve], alpha=0.25, label="min-max")
    ax.set_xlabel("generation")
    ax.set_ylabel("normalised fitness (base run = 1)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


__all__ = ["MetaSpec", "STRATEGIES", "TARGETS", "plot_drift", "plot_schedule", "run_meta"]
