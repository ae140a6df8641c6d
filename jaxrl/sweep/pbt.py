"""Population-based training between chunks of the compiled loop (Jaderberg et al., 2017).

A PBT run is a training run (``runner.train``) in generations of ``ready_interval``
updates, with exploit/explore as a hook of the driver between them (``ExploitExplore``).
After every generation the population is evaluated; the bottom ``fraction`` of
members copy the whole learner state (parameters, optimiser state, normalisers, env
state, replay) of a member drawn from the top ``fraction`` (*exploit*), fork its RNG so
the copy does not replay the original's keys, and *explore*: each searched traced
hyperparameter is resampled from the space with ``resample_probability``, else
multiplied by one of ``perturb_factors`` and clipped to its range (a categorical moves to
a neighbouring value). The compiled chunk program is reused: only traced values and
the carry change between chunks. ``fraction=0`` turns PBT off, leaving a random search
over the same initial configurations with the same compute (what the test compares to).

Layout of ``out/``: ``pbt.json`` (the spec), the training run's own files
(``config.json``, ``metrics.jsonl`` with each generation's hyperparameters and parents
added, ``checkpoints/`` of carry and hyperparameters, bitwise), ``history.jsonl`` (per
generation: every member's hyperparameters, evaluation return and parent),
``results.parquet`` and ``summary.json`` (the run's summary with PBT's: best member,
its schedule, the final hyperparameters).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from jaxrl import registry, stats
from jaxrl.config import ConfigError, check_seed_range, get_path, replace_path, static_field
from jaxrl.contract import progress_unit
from jaxrl.distributed import barrier, is_leader, put, to_host
from jaxrl.experiment import Experiment, make_experiment
from jaxrl.runner.driver import Hook
from jaxrl.sweep import results as results_table
from jaxrl.sweep.samplers import unit_points
from jaxrl.sweep.space import Choice, Fixed, Param, SearchSpace, Uniform


@dataclasses.dataclass
class PBTSpec:
    algorithm: str
    env: str = "CartPole-v1"
    space: Dict[str, Any] = dataclasses.field(default_factory=dict)  # traced fields only
    base_values: Dict[str, Any] = dataclasses.field(default_factory=dict)
    env_overrides: Dict[str, Any] = dataclasses.field(default_factory=dict)
    population: int = static_field(16, "members")
    ready_interval: int = static_field(10, "updates between exploit/explore steps")
    seed: int = static_field(0, "first seed; members use seeds seed .. seed + population - 1")
    fraction: float = static_field(0.25, "bottom fraction replaced by copies of the top "
                                         "fraction (0: off)")
    resample_probability: float = static_field(0.25, "chance a copied member resamples a "
                                                     "value instead of perturbing it")
    perturb_factors: Tuple[float, float] = (0.8, 1.25)
    sampler: str = "random"           # initial configurations

    def validate(self) -> "PBTSpec":
        if self.population < 2:
            raise ConfigError(f"--population {self.population}: PBT needs at least 2 members")
        if self.ready_interval <= 0:
            raise ConfigError(f"--ready-interval {self.ready_interval} must be positive")
        if not 0.0 <= self.fraction <= 0.5:
            raise ConfigError(f"--fraction {self.fraction} must be in [0, 0.5] (bottom and "
                              f"top parts may not overlap)")
        if not 0.0 <= self.resample_probability <= 1.0:
            raise ConfigError(f"resample_probability={self.resample_probability} must be in "
                              f"[0, 1]")
        if len(self.perturb_factors) != 2 or min(self.perturb_factors) <= 0:
            raise ConfigError("perturb_factors must be two positive numbers, e.g. 0.8, 1.25")
        check_seed_range(self.seed, self.population)
        return self

    def search_space(self) -> SearchSpace:
        space = SearchSpace.from_dict({"parameters": self.space}, self.algorithm, "--space",
                                      self.base_values)
        for p in space.varying:
            if space.kind(p.name) == "static":
                raise ConfigError(f"--space: {p.name} is a static field (it changes the "
                                  f"compiled program), which PBT cannot vary between "
                                  f"chunks; fix it with {{value: x}} or --set, or sweep it "
                                  f"with `jaxrl sweep`")
        if not space.varying:
            raise ConfigError("--space: PBT needs at least one varying traced hyperparameter")
        return space


@dataclasses.dataclass
class PBTResult:
    out: str
    summary: Dict[str, Any]
    history: List[Dict[str, Any]]


def explore(p: Param, value: Any, rng: np.random.Generator, spec: PBTSpec) -> Any:
    """A new value of ``p`` near ``value`` (or a fresh one from the space)."""
    if isinstance(p, Fixed):
        return p.value
    if rng.random() < spec.resample_probability:
        return p.from_unit(rng.random())
    if isinstance(p, Choice):
        index = list(p.values).index(value) if value in p.values else 0
        index = int(np.clip(index + rng.choice([-1, 1]), 0, len(p.values) - 1))
        return p.values[index]
    assert isinstance(p, Uniform)
    return p.clip(value * float(rng.choice(spec.perturb_factors)))


class PBT:
    def __init__(self, spec: PBTSpec, out: str, console=None, progress: bool = True):
        from rich.console import Console

        self.spec = spec.validate()
        self.space = spec.search_space()
        self.out = out
        self.console = console or Console(stderr=True)
        self.progress = progress
        self._prepared = None
        if not is_leader():  # with several processes, process 0 reports
            self.console, self.progress = Console(stderr=True, quiet=True), False

    def experiment(self, values: Dict[str, Any]) -> Experiment:
        return make_experiment(self.spec.algorithm, self.spec.env,
                               {**self.spec.base_values, **values},
                               dict(self.spec.env_overrides), 1, self.spec.seed)

    def initial_configs(self) -> List[Dict[str, Any]]:
        points = unit_points(self.spec.sampler, self.spec.population,
                             len(self.space.varying), self.spec.seed)
        return [self.space.from_unit(u) for u in points]

    def prepare(self):
        """The learner, its population, the first experiment and the generations' lengths,
        every check made (nothing written, nothing compiled)."""
        if self._prepared is not None:
            return self._prepared
        import jaxrl.envs
        from jaxrl.population import Population

        spec = self.spec
        exps = [self.experiment(c) for c in self.initial_configs()]
        exp = exps[0].shared_env_params("pbt")
        env, env_params = jaxrl.envs.make(exp.env, **exp.env_overrides)
        algo = registry.get(exp.algorithm).make(env, env_params, exp.config)
        seeds = list(range(spec.seed, spec.seed + spec.population))
        population = Population(
            Population.from_configs([e.hparams.validate() for e in exps], [0]).hparams,
            np.asarray(seeds, np.int64), np.arange(spec.population))
        algo.check_hparams(population.hparams)
        num_updates = algo.num_updates
        chunks = [spec.ready_interval] * (num_updates // spec.ready_interval)
        if num_updates % spec.ready_interval:
            chunks.append(num_updates % spec.ready_interval)
        if len(chunks) < 2:
            raise ConfigError(f"--ready-interval {spec.ready_interval} leaves one generation "
                              f"({num_updates} updates in the run): lower it or raise "
                              f"--total-timesteps")
        self._prepared = algo, population, exp, chunks
        return self._prepared

    def run(self, resume: bool = False, stop_after_generations: Optional[int] = None
            ) -> PBTResult:
        """A training run (``runner.train``: the same driver, checkpoints, resume and
        ``metrics.jsonl``) in generations of ``ready_interval`` updates, every member
        evaluated after each, with exploit/explore between generations as a hook."""
        import dataclasses as dc

        import jax

        from jaxrl.platform import host_device_count
        from jaxrl.runner import Run, train

        spec = self.spec
        algo, population, exp, chunks = self.prepare()
        run_config = dc.replace(exp.run_config, eval_interval=1)  # every generation
        n_dev = host_device_count(spec.population, len(jax.devices()))
        run = Run(algo, population, run_config, devices=jax.devices()[:n_dev], chunks=chunks)
        self.console.print(f"PBT {spec.algorithm} on {spec.env}: {spec.population} members, "
                           f"{len(chunks)} generations of {spec.ready_interval} updates "
                           f"({_generation_steps(algo, spec.ready_interval)}), "
                           f"one compiled program for the whole run", soft_wrap=True)
        hook = ExploitExplore(self, algo, run)
        record = {**exp.record(), "num_seeds": spec.population, "seed": spec.seed,
                  "pbt": dataclasses.asdict(spec)}
        result = train(algo, population, run_config, run_dir=self.out, resume=resume,
                       config_record=record, env_id=spec.env, console=self.console,
                       progress=self.progress, stop_after_chunks=stop_after_generations,
                       run=run, hooks=[hook])
        barrier("jaxrl-pbt-history")  # every process reads what process 0 wrote
        history = results_table.read_jsonl(os.path.join(self.out, HISTORY))
        if result.finished_before:
            return PBTResult(self.out, result.summary, history)
        self.write_results(history, population.seeds.tolist())
        summary = None
        if result.summary is not None and len(history) == len(chunks):
            summary = self.summarize(history, result.summary)
        return PBTResult(self.out, summary, history)

    def exploit_explore(self, generation: int, returns: np.ndarray, alive: np.ndarray,
                        hp: Any) -> Tuple[np.ndarray, Any]:
        """Truncation selection: ``source[i]`` is the member ``i`` continues from."""
        spec = self.spec
        n = spec.population
        source = np.arange(n)
        cut = int(math.floor(spec.fraction * n))
        if cut == 0:
            return source, hp
        rng = np.random.default_rng([spec.seed, generation])
        fitness = np.where(alive & np.isfinite(returns), returns, -np.inf)
        order = np.lexsort((np.arange(n), fitness))  # ascending; ties by member index
        bottom, top = order[:cut], order[n - cut:]
        source[bottom] = rng.choice(top, size=cut)
        new = jax_tree_take(hp, source)
        for i in bottom:
            for p in self.space.varying:
                column = np.array(get_path(new, p.name))
                value = column[i].item()
                column[i] = self.space.coerce({p.name: explore(p, value, rng, spec)})[p.name]
                new = replace_path(new, p.name, column)
        new.validate()
        return source, new

    def write_results(self, history: List[Dict[str, Any]], seeds: List[int]) -> None:
        if not is_leader():
            return
        rows = []
        for rec in history:
            for i in range(self.spec.population):
                rows.append({"member": i, "seed": seeds[i], "generation": rec["chunk"],
                             "env_steps": rec["env_steps"],
                             **{n: v[i] for n, v in rec["hparams"].items()},
                             "eval_return": float("nan") if rec["eval_return"][i] is None
                             else rec["eval_return"][i],
                             "alive": rec["alive"][i], "parent": rec["parent"][i]})
        results_table.write_table(rows, os.path.join(self.out, "results.parquet"))

    def summarize(self, history: List[Dict[str, Any]],
                  run_summary: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """The training run's summary (throughput, divergences, final evaluation) with
        PBT's own: the final population's scores, the best member and its schedule."""
        final = np.asarray([np.nan if v is None else v for v in history[-1]["eval_return"]],
                           np.float64)
        lo, hi = stats.stratified_bootstrap_ci(final)
        best = int(np.nanargmax(final)) if np.any(np.isfinite(final)) else 0
        summary = {**(run_summary or {}),
                   "algorithm": self.spec.algorithm, "env": self.spec.env,
                   "members": self.spec.population, "generations": len(history),
                   "final_eval_return": [None if not math.isfinite(x) else float(x)
                                         for x in final],
                   "final_eval_return_iqm": stats.iqm(final),
                   "final_eval_return_median": float(np.nanmedian(final)),
                   "final_eval_return_ci95": [lo, hi],
                   "best_member": best,
                   "best_schedule": [{"generation": r["chunk"], "env_steps": r["env_steps"],
                                      **{n: v[best] for n, v in r["hparams"].items()}}
                                     for r in history],
                   "final_hparams": {n: v for n, v in history[-1]["hparams"].items()}}
        if is_leader():
            with open(os.path.join(self.out, "summary.json"), "w") as f:
                json.dump(summary, f, indent=2)
        return summary


HISTORY = "history.jsonl"


def _generation_steps(algo, updates: int) -> str:
    unit, per_update = progress_unit(algo)
    return f"{updates * per_update:,} {unit} steps"


class ExploitExplore(Hook):
    """PBT between generations (a driver hook): after each generation's evaluation the
    bottom members continue from copies of the top ones (``exploit``, their RNG forked)
    with explored hyperparameters, which the compiled program takes as new traced values.
    The hyperparameters in force are part of every checkpoint; each generation's values,
    returns and parents go to ``history.jsonl`` and into the run's ``metrics.jsonl``."""

    name = "hparams"

    def __init__(self, pbt: "PBT", algo, run):
        import jax
        import jax.numpy as jnp

        self.pbt, self.run = pbt, run
        self.names = [p.name for p in pbt.space.varying]
        self.sink = None

        def exploit(carry, source, salts):
            state = jax.tree.map(lambda x: x[source], carry.state)
            copied = source != jnp.arange(source.shape[0])
            state = jax.vmap(lambda s, c, salt: jax.lax.cond(
                c, lambda: algo.fork(s, salt), lambda: s))(state, copied, salts)
            return carry.replace(state=state, alive=carry.alive[source],
                                 updates=carry.updates[source],
                                 frozen_after=carry.frozen_after[source])

        self.exploit = jax.jit(exploit, out_shardings=run.sharding)

    def begin(self, start: int) -> None:
        if is_leader():
            from jaxrl.logging import JsonlSink

            os.makedirs(self.pbt.out, exist_ok=True)
            self.sink = JsonlSink(os.path.join(self.pbt.out, HISTORY),
                                  truncate_after_chunk=start - 1)

    def after_step(self, index: int, carry, record, last: bool):
        n = self.pbt.spec.population
        returns, alive = record["eval_return"], record["alive"]
        hp = to_host(self.run.hparams)
        used = {name: np.asarray(get_path(hp, name)).tolist() for name in self.names}
        source = np.arange(n)
        if not last:
            source, hp = self.pbt.exploit_explore(index, returns, alive, hp)
            salts = index * n + np.arange(n)
            carry = self.exploit(carry, put(source, self.run.replicated),
                                 put(salts.astype(np.uint32), self.run.replicated))
            self.run.set_hparams(hp)
        record.update(hparams=used, parent=source)
        if self.sink is not None:
            self.sink.write({"chunk": index, "env_steps": record["env_steps"],
                             "eval_return": returns, "alive": alive, "hparams": used,
                             "parent": source})
        return carry

    def state(self):
        return self.run.hparams

    def abstract_state(self):
        import jax

        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                                           sharding=self.run.sharding),
                            self.run.hparams)

    def restore(self, tree) -> None:
        self.run.set_hparams(tree)

    def end(self) -> None:
        if self.sink is not None:
            self.sink.close()


def jax_tree_take(tree: Any, index: np.ndarray) -> Any:
    import jax

    return jax.tree.map(lambda x: np.asarray(x)[index], tree)


def run_pbt(spec: Optional[PBTSpec], out: str, resume: bool = False, console=None,
            progress: bool = True, stop_after_generations: Optional[int] = None) -> PBTResult:
    path = os.path.join(out, "pbt.json")
    if resume:
        try:
            with open(path) as f:
                record = json.load(f)
            record["perturb_factors"] = tuple(record["perturb_factors"])
            spec = PBTSpec(**record)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path} is missing or damaged ({type(exc).__name__}: {exc}); "
                              f"--resume needs --out pointing at a PBT directory")
    else:
        if os.path.exists(path):
            raise ConfigError(f"--out {out} already holds a PBT run; pass --resume to continue "
                              f"it or choose another --out")
        from jaxrl.runner import check_run_dir

        check_run_dir(out)
    pbt = PBT(spec, out, console, progress)
    pbt.prepare()  # everything checked before pbt.json is written
    barrier("jaxrl-pbt-checked")  # every process has looked before process 0 writes
    if not resume and is_leader():
        os.makedirs(out, exist_ok=True)
        with open(path, "w") as f:
            json.dump(dataclasses.asdict(spec), f, indent=2, default=results_table.cell)
    barrier("jaxrl-pbt-start")
    return pbt.run(resume=resume, stop_after_generations=stop_after_generations)
