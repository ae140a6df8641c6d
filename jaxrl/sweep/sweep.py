"""Sweeps: many (configuration x seed) members per compiled program.

A sweep samples configurations from a ``SearchSpace``; configurations that share their
static fields form a *group* and train as one population (traced values differ per
member), one compile per distinct static configuration. A group too large for memory
runs in equal *batches* that share its compiled program. Every configuration trains on
the tuning seeds; the best ``test_top`` are then retrained on fresh test seeds that no
tuning run used, and both scores are reported.

Layout of ``out/``::

    sweep.json        the plan: spec, configurations (and Optuna rounds)
    units/NAME/       one ordinary run directory per batch (config.json, metrics.jsonl,
                      checkpoints/, summary.json): resumable by the runner
    results.parquet   one row per member per evaluation, rewritten after every batch
    summary.json      the best configurations, tuning and test scores with 95% CIs
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Any, Dict, List, Optional

import numpy as np

from jaxrl import registry, stats
from jaxrl.config import ConfigError, check_seed_range, static_field
from jaxrl.distributed import barrier, is_leader
from jaxrl.experiment import Experiment, make_experiment
from jaxrl.sweep import results as results_table
from jaxrl.sweep.samplers import SAMPLERS, sample
from jaxrl.sweep.space import SearchSpace

TUNE, TEST = "tune", "test"


@dataclasses.dataclass
class SweepSpec:
    """Everything that defines a sweep (what ``sweep.json`` stores with its configs)."""

    algorithm: str
    env: str = "CartPole-v1"
    space: Dict[str, Any] = dataclasses.field(default_factory=dict)  # W&B parameters
    base_values: Dict[str, Any] = dataclasses.field(default_factory=dict)
    env_overrides: Dict[str, Any] = dataclasses.field(default_factory=dict)
    sampler: str = "random"
    num_configs: Optional[int] = static_field(
        16, "configurations to sample (a grid takes all of its own)")
    seeds_per_config: int = static_field(4, "tuning seeds")
    seed: int = static_field(0, "first tuning seed; the test seeds follow the tuning seeds")
    test_seeds: int = static_field(8, "fresh seeds the best configurations are retrained on "
                                      "(0: none), disjoint from the tuning seeds")
    test_top: int = static_field(1, "how many of the best configurations to retrain on the "
                                    "test seeds")
    trials_per_round: Optional[int] = static_field(
        None, "optuna: trials asked per round, trained as one population")
    max_members: Optional[int] = static_field(
        None, "at most this many members per compiled program (default: what the memory "
              "budget allows)")

    def validate(self) -> "SweepSpec":
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"--sampler {self.sampler!r} is not one of {', '.join(SAMPLERS)}")
        for name in ("seeds_per_config", "test_top"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name.replace('_', '-')}={getattr(self, name)} must be "
                                  f"positive")
        if self.test_seeds < 0:
            raise ConfigError(f"--test-seeds {self.test_seeds} must be >= 0")
        if self.max_members is not None and self.max_members <= 0:
            raise ConfigError(f"--max-members {self.max_members} must be positive")
        check_seed_range(self.seed, self.seeds_per_config + self.test_seeds)
        if self.sampler == "optuna":
            if not self.num_configs or not self.trials_per_round or self.trials_per_round <= 0:
                raise ConfigError("--sampler optuna needs --num-configs and a positive "
                                  "--trials-per-round (configurations per round)")
        return self

    def search_space(self) -> SearchSpace:
        return SearchSpace.from_dict({"parameters": self.space}, self.algorithm,
                                     "--space", self.base_values, env=self.env,
                                     env_base=self.env_overrides)

    @property
    def tuning_seeds(self) -> List[int]:
        return list(range(self.seed, self.seed + self.seeds_per_config))

    @property
    def testing_seeds(self) -> List[int]:
        start = self.seed + self.seeds_per_config
        return list(range(start, start + self.test_seeds))


@dataclasses.dataclass
class Unit:
    """One batch: configurations of one static group on a list of seeds, one run dir."""

    name: str
    phase: str
    group: int
    config_ids: List[int]
    seeds: List[int]

    @property
    def members(self) -> int:
        return len(self.config_ids) * len(self.seeds)


@dataclasses.dataclass
class SweepResult:
    out: str
    configs: List[Dict[str, Any]]
    scores: Dict[int, Dict[str, Any]]   # config id -> tuning (and test) scores
    best: List[int]
    summary: Dict[str, Any]


class LocalExecutor:
    """Runs a sweep's batches here, one after another (the default executor; Ray's is
    ``ray_backend.RayExecutor``). An executor has ``run_units(sweep, units)``."""

    def run_units(self, sweep: "Sweep", units: List[Unit]) -> None:
        steps = [u.members * sweep.experiment(sweep.configs[u.config_ids[0]], 1, u.seeds[0])
                 .config.total_timesteps for u in units]
        for i, unit in enumerate(units):
            summary = sweep.run_unit(unit, i, len(units))
            sweep.write_results()
            rate = (summary or {}).get("session", {}).get("env_steps_per_second") or 0
            left = sum(steps[i + 1:])
            if left and rate > 0:
                sweep.console.print(f"{left:,} env steps left in this phase: about "
                                    f"{left / rate / 60:.1f} min at this batch's "
                                    f"{rate:,.0f} env steps/s (plus compiles)")


class Sweep:
    """Plans, runs and resumes one sweep directory: its sampling strategy (from
    ``spec.sampler``: ``samplers.strategy``) tunes, its executor trains the batches."""

    def __init__(self, spec: SweepSpec, out: str, console=None, progress: bool = True,
                 executor=None):
        """``executor``: where the batches train (default ``LocalExecutor()``; Ray's is
        ``ray_backend.RayExecutor``)."""
        from rich.console import Console

        from jaxrl.sweep.samplers import strategy

        self.spec = spec.validate()
        self.space = spec.search_space()
        self.out = out
        self.console = console or Console(stderr=True)
        self.progress = progress
        self.executor = executor or LocalExecutor()
        self.strategy = strategy(spec.sampler)
        if not is_leader():  # with several processes, process 0 reports
            self.console, self.progress = Console(stderr=True, quiet=True), False
        self.configs: List[Dict[str, Any]] = []
        self.rounds: List[List[int]] = []   # optuna: config ids asked per round
        self._runs: Dict[Any, Any] = {}     # compiled programs by static shape
        self._units: Dict[Any, List[Unit]] = {}  # plans are pure functions of the configs
        self.compiles = 0

    # ---- persistence -----------------------------------------------------------------
    @property
    def plan_path(self) -> str:
        return os.path.join(self.out, "sweep.json")

    def save_plan(self) -> None:
        if not is_leader():  # with several processes, process 0 writes
            return
        os.makedirs(self.out, exist_ok=True)
        record = {"spec": dataclasses.asdict(self.spec), "configs": self.configs,
                  "rounds": self.rounds}
        tmp = self.plan_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(record, f, indent=2, default=results_table.cell)
        os.replace(tmp, self.plan_path)

    @classmethod
    def load(cls, out: str, console=None, progress: bool = True, executor=None) -> "Sweep":
        path = os.path.join(out, "sweep.json")
        try:
            with open(path) as f:
                record = json.load(f)
            fields = dict(record["spec"])
            if "batch_size" in fields:  # sweep.json of a sweep started before the rename
                fields["trials_per_round"] = fields.pop("batch_size")
            spec = SweepSpec(**fields)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path} is missing or damaged ({type(exc).__name__}: {exc}); "
                              f"it is needed to resume this sweep")
        sweep = cls(spec, out, console, progress, executor)
        sweep.configs = [sweep.space.coerce(c) for c in record["configs"]]
        sweep.rounds = record.get("rounds", [])
        return sweep

    # ---- planning --------------------------------------------------------------------
    def experiment(self, config_values: Dict[str, Any], num_seeds: int, seed: int) -> Experiment:
        """A configuration's experiment on the sweep's own env params (its ``env.``
        values are the members' own: ``member_env_params``)."""
        env_names = set(self.space.env_names)
        return make_experiment(self.spec.algorithm, self.spec.env,
                               {**self.spec.base_values,
                                **{k: v for k, v in config_values.items() if k not in env_names}},
                               dict(self.spec.env_overrides), num_seeds, seed)

    def member_env_params(self, algo, unit: "Unit"):
        """The members' env params for ``unit`` (config-major, as ``from_configs``
        orders members), or None where the space varies none."""
        if not self.space.env_names:
            return None
        from jaxrl.envs import per_member
        from jaxrl.sweep.space import ENV_PREFIX

        return per_member.columns(
            algo.env_params,
            {name[len(ENV_PREFIX):]: [self.configs[c][name] for c in unit.config_ids
                                      for _ in unit.seeds]
             for name in self.space.env_names}, unit.members)

    def units(self, config_ids: List[int], seeds: List[int], phase: str,
              first_group: int = 0) -> List[Unit]:
        """Configurations grouped by static fields (first-seen order), each group split
        into equal batches of at most ``max_members`` (or what memory allows)."""
        key = (tuple(config_ids), tuple(seeds), phase, first_group)
        if key not in self._units:
            self._units[key] = self._plan_units(config_ids, seeds, phase, first_group)
        return [dataclasses.replace(u) for u in self._units[key]]

    def _plan_units(self, config_ids: List[int], seeds: List[int], phase: str,
                    first_group: int) -> List[Unit]:
        groups: Dict[Any, List[int]] = {}
        for cid in config_ids:
            exp = self.experiment(self.configs[cid], 1, seeds[0])
            groups.setdefault((exp.config, exp.run_config), []).append(cid)
        units = []
        for g, ids in enumerate(groups.values()):
            limit = self.members_per_program(ids[0], len(ids) * len(seeds))
            per_batch = max(1, limit // len(seeds))
            n_batches = math.ceil(len(ids) / per_batch)
            per_batch = math.ceil(len(ids) / n_batches)  # equal batches where possible
            for b in range(n_batches):
                batch = ids[b * per_batch:(b + 1) * per_batch]
                units.append(Unit(f"{phase}-g{first_group + g:03d}-b{b:03d}", phase,
                                  first_group + g, batch, list(seeds)))
        return units

    def members_per_program(self, config_id: int, wanted: int) -> int:
        import jax

        from jaxrl.runner.memory import budget_bytes, member_memory, most_members

        exp = self.experiment(self.configs[config_id], 1, self.spec.seed)
        model = member_memory(self._algo(exp), exp.hparams.validate())
        n_dev = len(jax.devices())
        budget = budget_bytes(exp.run_config)
        # Members beyond what fits at once are updated in batches inside the program
        # (runner.memory), so the states alone bound a program's population.
        fits = most_members(model, budget, n_dev) or (1 if model.need(1, 1) <= budget else 0)
        limit = min(wanted, fits, self.spec.max_members or wanted)
        if limit >= n_dev:
            limit -= limit % n_dev
        if limit < 1:
            raise ConfigError(f"one member of configuration {config_id} needs about "
                              f"{model.need(1, 1) / 2**30:.1f} GiB, more than the memory "
                              f"budget ({budget / 2**30:.1f} GiB; --memory-budget)")
        return limit

    def _algo(self, exp: Experiment):
        import jaxrl.envs

        exp.shared_env_params("sweep")
        key = ("algo", exp.config, exp.env, tuple(sorted(exp.env_overrides.items())))
        if key not in self._runs:
            env, env_params = jaxrl.envs.make(exp.env, **exp.env_overrides)
            self._runs[key] = registry.get(exp.algorithm).make(env, env_params, exp.config)
        return self._runs[key]

    def print_plan(self, units: List[Unit], title: str) -> None:
        from rich.table import Table

        from jaxrl.runner.program import plan_on_devices

        table = Table(title=title)
        for col in ("group", "static fields", "configs", "seeds", "batches",
                    "members/batch", "est. memory/batch", "env steps"):
            table.add_column(col, justify="right" if col != "static fields" else "left")
        total_steps = 0
        for g in sorted({u.group for u in units}):
            us = [u for u in units if u.group == g]
            exp = self.experiment(self.configs[us[0].config_ids[0]], 1, self.spec.seed)
            most = max(u.members for u in us)
            need = plan_on_devices(self._algo(exp), exp.hparams.validate(), most,
                                   exp.run_config).need
            static = ", ".join(f"{n}={results_table.cell(self.configs[us[0].config_ids[0]][n])}"
                               for n in self.space.static_names) or "(none varied)"
            steps = sum(u.members for u in us) * exp.config.total_timesteps
            total_steps += steps
            table.add_row(str(g), static, str(sum(len(u.config_ids) for u in us)),
                          str(len(us[0].seeds)), str(len(us)),
                          str(max(u.members for u in us)),
                          f"{need / 2**20:,.0f} MB", f"{steps:,}")
        self.console.print(table)
        self.console.print(f"{total_steps:,} env steps in {len(units)} batches; one compile "
                           f"per distinct static configuration and batch size")

    def prepare(self) -> None:
        """Samples the configurations and checks each one (its experiment, its learner on
        the env, its traced values against its static config) before anything is written,
        so a refused sweep leaves nothing behind. Optuna's configurations come in rounds:
        one random point of the space is checked for them."""
        spec = self.spec
        if spec.sampler == "optuna":
            checked, count = sample(self.space, "random", 1, spec.seed), spec.num_configs
        else:
            self.configs = self.configs or sample(self.space, spec.sampler, spec.num_configs,
                                                  spec.seed)
            checked, count = self.configs, len(self.configs)
        if spec.test_seeds and spec.test_top > count:
            raise ConfigError(f"--test-top {spec.test_top} is more than the sweep's {count} "
                              f"configurations; use at most --test-top {count}")
        for values in checked:
            exp = self.experiment(values, 1, spec.seed)
            self._algo(exp).check_hparams(exp.hparams)

    # ---- running ---------------------------------------------------------------------
    def unit_dir(self, unit: Unit) -> str:
        return os.path.join(self.out, "units", unit.name)

    def run_unit(self, unit: Unit, index: int, count: int) -> Dict[str, Any]:
        """Trains (or resumes, or skips when finished) one batch; returns its summary."""
        from jaxrl.population import Population
        from jaxrl.runner import Run, train
        from jaxrl.runner.program import dividing_devices

        run_dir = self.unit_dir(unit)
        barrier(f"jaxrl-unit-{unit.name}")  # all processes see the same files below
        done = _load_summary(run_dir)
        if done is not None:
            return done
        exps = [self.experiment(self.configs[c], len(unit.seeds), unit.seeds[0])
                for c in unit.config_ids]
        exp = exps[0]
        algo = self._algo(exp)
        population = Population.from_configs([e.hparams.validate() for e in exps], unit.seeds)
        population.env_params = self.member_env_params(algo, unit)
        devices = dividing_devices(population.size,
                                   data_parallel=exp.run_config.data_parallel)
        key = (exp.config, exp.run_config, exp.env, tuple(sorted(exp.env_overrides.items())),
               population.size, len(devices))
        if key in self._runs:
            run = self._runs[key].with_population(population)
        else:
            run = self._runs[key] = Run(algo, population, exp.run_config, devices=devices)
            self.compiles += 1
        from jaxrl.runner.loop import holds_run

        resume = holds_run(run_dir)  # a killed batch continues where it stopped
        what = ", ".join(f"{n}={results_table.cell(self.configs[unit.config_ids[0]][n])}"
                         for n in self.space.static_names)
        self.console.print(f"[bold]{unit.phase} batch {index + 1}/{count}[/] ({unit.name}"
                           f"{': ' + what if what else ''}): {len(unit.config_ids)} configs x "
                           f"{len(unit.seeds)} seeds = {population.size} members"
                           + (" [resuming]" if resume else ""))
        record = {**exp.record(), "sweep_unit": dataclasses.asdict(unit)}
        result = train(algo, population, exp.run_config, run_dir=run_dir, resume=resume,
                       config_record=record, env_id=exp.env, console=self.console,
                       progress=self.progress, run=run)
        return result.summary

    def run_units(self, units: List[Unit]) -> None:
        """The executor's work: train (or resume, or skip) ``units``, the table updated."""
        self.executor.run_units(self, units)

    def member_columns(self, unit: Unit) -> List[Dict[str, Any]]:
        """What describes each member of ``unit`` (config-major, as from_configs orders)."""
        cols = []
        for cid in unit.config_ids:
            for seed in unit.seeds:
                cols.append({"phase": unit.phase, "unit": unit.name, "group": unit.group,
                             "config": cid, "seed": seed,
                             **{n: results_table.cell(self.configs[cid][n])
                                for n in self.space.names}})
        return cols

    def write_results(self) -> None:
        if not is_leader():
            return
        rows = []
        for unit in self._known_units():
            rows.extend(results_table.evaluation_rows(self.unit_dir(unit),
                                                      self.member_columns(unit)))
        results_table.write_table(rows, os.path.join(self.out, "results.parquet"))

    def _known_units(self) -> List[Unit]:
        units = self.tuning_units()
        if self._tuning_finished(units) and self.spec.test_seeds:
            units = units + self.test_units()
        return units

    # ---- phases ----------------------------------------------------------------------
    def tuning_units(self) -> List[Unit]:
        if self.spec.sampler != "optuna":
            return self.units(list(range(len(self.configs))), self.spec.tuning_seeds, TUNE)
        units, group = [], 0
        for r, ids in enumerate(self.rounds):
            round_units = self.units(ids, self.spec.tuning_seeds, TUNE, first_group=group)
            for u in round_units:
                u.name = f"tune-r{r:03d}" + u.name[len("tune"):]
            group = max(u.group for u in round_units) + 1
            units.extend(round_units)
        return units

    def _tuning_finished(self, units: List[Unit]) -> bool:
        if self.spec.sampler == "optuna" and sum(len(r) for r in self.rounds) < \
                self.spec.num_configs:
            return False
        return all(os.path.exists(os.path.join(self.unit_dir(u), "summary.json"))
                   for u in units)

    def final_returns(self, units: List[Unit], key: str = "final_eval_return"
                      ) -> Dict[int, np.ndarray]:
        """Config id -> final evaluation return per seed (NaN for a missing value); or
        another per-member entry of the units' summaries (``key``: an offline learner's
        ``final_normalized_score``). Empty where the summaries have no such entry."""
        out: Dict[int, List[float]] = {}
        for unit in units:
            path = os.path.join(self.unit_dir(unit), "summary.json")
            with open(path) as f:
                final = json.load(f).get(key)
            if final is None:
                return {}
            for k, cid in enumerate(unit.config_ids):
                vals = final[k * len(unit.seeds):(k + 1) * len(unit.seeds)]
                out.setdefault(cid, []).extend(np.nan if v is None else v for v in vals)
        return {cid: np.asarray(v, np.float64) for cid, v in out.items()}

    def evaluation_budget(self) -> Dict[str, int]:
        """Episodes played in the env to score the sweep, tuning and test phases apart:
        what an offline sweep spends online (every evaluation of every member)."""
        budget = {}
        for phase, units in ((TUNE, self.tuning_units()),
                             (TEST, self.test_units() if self.spec.test_seeds else [])):
            total = 0
            for unit in units:
                with open(os.path.join(self.unit_dir(unit), "summary.json")) as f:
                    summary = json.load(f)
                total += summary.get("eval_episodes_per_member", 0) * summary["members"]
            budget[phase] = total
        return budget

    def best_configs(self) -> List[int]:
        finals = self.final_returns(self.tuning_units())
        ranked = sorted(finals, key=lambda c: (-results_table.tuning_score(finals[c]), c))
        return ranked[:self.spec.test_top]

    def test_units(self) -> List[Unit]:
        if not self.spec.test_seeds:
            return []
        tuning = self.tuning_units()
        groups = 1 + max((u.group for u in tuning), default=-1)
        return self.units(sorted(self.best_configs()), self.spec.testing_seeds, TEST,
                          first_group=groups)

    def run(self) -> SweepResult:
        start = time.perf_counter()
        self.strategy.tune(self)
        test_units = self.test_units()
        if test_units:
            self.print_plan(test_units, f"test: the best {self.spec.test_top} "
                                        f"configuration(s) on {self.spec.test_seeds} fresh "
                                        f"seeds ({self.spec.testing_seeds[0]}..."
                                        f"{self.spec.testing_seeds[-1]})")
            self.run_units(test_units)
        self.write_results()
        return self.summarize(time.perf_counter() - start)

    def summarize(self, wall_seconds: float) -> SweepResult:
        tuning = self.final_returns(self.tuning_units())
        testing = self.final_returns(self.test_units()) if self.spec.test_seeds else {}
        scores = {}
        for cid, x in tuning.items():
            scores[cid] = {"config": cid, **{n: results_table.cell(v)
                                             for n, v in self.configs[cid].items()},
                           **_scores("tune", x)}
            if cid in testing:
                scores[cid].update(_scores("test", testing[cid]))
        # offline learners: normalised scores (0 random, 100 the dataset's best recorder)
        key = "final_normalized_score"
        for phase, units in (("tune", self.tuning_units()),
                             ("test", self.test_units() if self.spec.test_seeds else [])):
            for cid, x in self.final_returns(units, key).items():
                scores[cid].update(_scores(f"{phase}_normalized", x))
        best = self.best_configs()
        summary = {"algorithm": self.spec.algorithm, "env": self.spec.env,
                   "configs": len(self.configs), "tuning_seeds": self.spec.tuning_seeds,
                   "test_seeds": self.spec.testing_seeds,
                   "best": [scores[c] for c in best],
                   "ranking": [scores[c] for c in sorted(scores, key=lambda c: (
                       -(scores[c]["tune_iqm"] if scores[c]["tune_iqm"] is not None
                         else -math.inf), c))],
                   "online_evaluation_episodes": self.evaluation_budget(),
                   "wall_seconds_this_session": wall_seconds,
                   "compiled_programs_this_session": self.compiles}
        if is_leader():
            with open(os.path.join(self.out, "summary.json"), "w") as f:
                json.dump(summary, f, indent=2)
        return SweepResult(self.out, self.configs, scores, best, summary)


def _scores(prefix: str, x: np.ndarray) -> Dict[str, Any]:
    clean = lambda v: None if v is None or not math.isfinite(v) else float(v)  # noqa: E731
    finite = x[np.isfinite(x)]
    lo = hi = None
    if finite.size:  # IQM over seeds, 95% bootstrap CI (all resamples at once)
        _, cis = stats.interval_estimates({"x": finite[:, None]}, stats.iqm)
        lo, hi = cis["x"]
    return {f"{prefix}_iqm": clean(stats.iqm(x)), f"{prefix}_mean": clean(float(np.nanmean(x)))
            if np.any(np.isfinite(x)) else None,
            f"{prefix}_ci95": [clean(lo), clean(hi)], f"{prefix}_seeds": int(x.size)}


def _load_summary(directory: str) -> Optional[Dict[str, Any]]:
    """The ``summary.json`` a finished batch or sweep writes last; None where it is
    missing or damaged (a kill can cut it short): that work is resumed instead."""
    try:
        with open(os.path.join(directory, "summary.json")) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return None


def run_sweep(spec: SweepSpec, out: str, resume: bool = False, console=None,
              progress: bool = True, executor=None) -> SweepResult:
    """Runs ``spec`` into ``out`` (or, with ``resume``, continues the sweep there);
    ``executor`` trains its batches (default here, one after another; Ray's:
    ``ray_backend.RayExecutor``)."""
    exists = os.path.exists(os.path.join(out, "sweep.json"))
    if resume:
        if not exists:
            raise ConfigError(f"--resume needs --out pointing at a sweep directory (with "
                              f"sweep.json); got {out!r}")
        sweep = Sweep.load(out, console, progress, executor)
        summary = _load_summary(out)
        if summary is not None:  # written last: every batch and the table are done
            sweep.console.print(f"{out} is finished: nothing to resume, nothing changed",
                                soft_wrap=True)
            return SweepResult(out, sweep.configs,
                               {r["config"]: r for r in summary["ranking"]},
                               [r["config"] for r in summary["best"]], summary)
    else:
        if exists:
            raise ConfigError(f"--out {out} already holds a sweep; pass --resume to continue "
                              f"it or choose another --out")
        from jaxrl.runner import check_run_dir

        check_run_dir(out)
        sweep = Sweep(spec, out, console, progress, executor)
        sweep.prepare()  # everything checked before sweep.json is written
    barrier("jaxrl-sweep-start")  # every process has looked before process 0 writes
    return sweep.run()

