"""The generic run driver: one compiled program trains a whole population.

For any algorithm with the ``init(key, hp)`` / ``update(state, hp)`` / ``policy(state)``
contract: vmap over members, shard the member axis over ``jax.devices()``,
``jit(scan(update, n))`` per chunk, and a host loop over chunks that streams metrics,
evaluates, checkpoints and isolates diverged members.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import time
from typing import Any, Callable, Dict, List, Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxrl import stats
from jaxrl.checkpoint import PopulationCheckpointer
from jaxrl.config import ConfigError, check_fields, check_seed, static_field
from jaxrl.evaluation import evaluate
from jaxrl.logging import JsonlSink, Sinks, TensorBoardSink, WandbSink
from jaxrl.population import Population

SUMMED_METRICS = ("episode_return_sum", "episode_count")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    num_chunks: int = static_field(25, "target number of host round-trips (progress/log points)")
    eval_interval: int = static_field(5, "evaluate every this many chunks (and at the end)")
    eval_episodes: int = static_field(16, "episodes per member per evaluation")
    eval_seed: int = static_field(12345, "seed of the evaluation episodes (same for all members)")
    checkpoint_interval: int = static_field(5, "checkpoint every this many chunks (and at the end)")
    keep_checkpoints: int = static_field(3, "how many checkpoints to keep")
    tensorboard: bool = static_field(False, "also log scalars to TensorBoard (tensorboardX)")
    wandb: bool = static_field(False, "also log scalars to Weights & Biases (extra: wandb)")
    memory_fraction: float = static_field(0.8, "refuse populations estimated above this "
                                                "fraction of available memory")

    def validate(self) -> "RunConfig":
        check_fields(self)
        for name in ("num_chunks", "eval_interval", "eval_episodes", "checkpoint_interval",
                     "keep_checkpoints"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be positive")
        check_seed(self.eval_seed, "eval_seed")
        if not 0.0 < self.memory_fraction <= 1.0:  # also rejects NaN
            raise ConfigError(f"memory_fraction={self.memory_fraction} must be in (0, 1]")
        return self


@struct.dataclass
class Carry:
    """What the compiled loop threads through (and checkpoints): every member's learner
    state, its alive flag, its update count, and the update it was frozen after (-1)."""

    state: Any
    alive: jax.Array
    updates: jax.Array
    frozen_after: jax.Array


@dataclasses.dataclass
class RunResult:
    carry: Carry
    summary: Dict[str, Any]
    run_dir: Optional[str]


def plan_chunks(num_updates: int, target_chunks: int) -> List[int]:
    """Chunk lengths summing to ``num_updates``: equal chunks when a divisor lies within
    [ideal/2, 2*ideal] of the ideal size (one program), else equal chunks plus one
    remainder (two programs). Searches at most a few thousand sizes."""
    target = max(1, min(target_chunks, num_updates))
    ideal = num_updates / target
    centre = max(1, round(ideal))
    for offset in range(0, min(centre, 4096)):
        for size in (centre + offset, centre - offset):
            if 1 <= size <= num_updates and ideal / 2 <= size <= ideal * 2 \
                    and num_updates % size == 0:
                return [size] * (num_updates // size)
    size = max(1, math.ceil(ideal))
    chunks = [size] * (num_updates // size)
    if num_updates % size:
        chunks.append(num_updates % size)
    return chunks


def all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def make_chunk_fn(algo, num_updates: int) -> Callable:
    """One member's ``num_updates`` updates; a non-finite update is discarded and the
    member frozen, and chunk metrics are reduced in-program over its valid updates."""

    def member_chunk(carry: Carry, hp):
        def body(carry, _):
            new_state, metrics = algo.update(carry.state, hp)
            ok = carry.alive & all_finite(new_state) & jnp.isfinite(metrics["loss"])
            state = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new_state, carry.state)
            frozen_after = jnp.where(carry.alive & ~ok, carry.updates, carry.frozen_after)
            return Carry(state, ok, carry.updates + 1, frozen_after), (metrics, ok)

        carry, (metrics, ok) = jax.lax.scan(body, carry, None, num_updates)
        valid = ok.astype(jnp.float32)
        n_valid = jnp.maximum(valid.sum(), 1.0)
        reduced = {}
        for name, values in metrics.items():
            masked = jnp.where(ok, values, 0.0)
            reduced[name] = masked.sum() if name in SUMMED_METRICS else masked.sum() / n_valid
        return carry, reduced

    return member_chunk


def _package_versions() -> Dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("jaxrl", "jax", "jaxlib", "flax", "optax", "chex", "distrax", "gymnax", "brax",
                 "orbax-checkpoint", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _git_commit() -> Optional[str]:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=os.path.dirname(__file__), timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def estimate_member_bytes(algo, hp_one) -> int:
    """Learner state plus (if the algorithm says) its per-update working set."""
    shapes = jax.eval_shape(algo.init, jax.random.PRNGKey(0), hp_one)
    state = sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(shapes))
    transient = getattr(algo, "transient_bytes_per_member", lambda: 0)()
    return 3 * state + transient  # state in, state out, and the frozen copy


def available_memory_bytes() -> int:
    device = jax.devices()[0]
    if device.platform != "cpu":
        limit = (device.memory_stats() or {}).get("bytes_limit")
        if limit:
            return int(limit) * len(jax.devices())
    import psutil

    return int(psutil.virtual_memory().available)


def check_memory(algo, hp_one, members: int, run_config: RunConfig) -> None:
    """Refuse a population whose estimated footprint exceeds the memory budget."""
    per = estimate_member_bytes(algo, hp_one)
    need, have = per * members, available_memory_bytes()
    if need > run_config.memory_fraction * have:
        fits = max(0, int(run_config.memory_fraction * have // per))
        raise ConfigError(
            f"population of {members} members needs about {need / 2**30:.1f} GiB but "
            f"{have / 2**30:.1f} GiB is available; use at most {fits} members (--num-seeds) "
            f"or smaller num_envs/num_steps")


def check_population(algo, population: Population, run_config: RunConfig,
                     devices=None) -> None:
    """All checks that need no compilation; raise ConfigError naming the fix."""
    run_config.validate()
    population.hparams.validate()
    n_dev = len(devices or jax.devices())
    if population.size % n_dev:
        raise ConfigError(
            f"population size {population.size} is not a multiple of the {n_dev} devices; "
            f"use a multiple of {n_dev} members (e.g. --num-seeds {n_dev * math.ceil(population.size / n_dev)})")
    hp_one = jax.tree.map(lambda x: jnp.asarray(x)[0], population.hparams)
    check_memory(algo, hp_one, population.size, run_config)


class Run:
    """Builds the compiled programs for (algo, population) and runs them."""

    def __init__(self, algo, population: Population, run_config: RunConfig = RunConfig(),
                 devices=None):
        """``devices``: where the member axis is sharded (default: all of jax.devices())."""
        devices = list(devices or jax.devices())
        check_population(algo, population, run_config, devices)
        self.algo, self.population, self.config = algo, population, run_config
        self.chunks = plan_chunks(algo.num_updates, run_config.num_chunks)
        self.devices = devices
        self.mesh = Mesh(np.asarray(devices), ("member",))
        self.sharding = NamedSharding(self.mesh, PartitionSpec("member"))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.hparams = jax.device_put(jax.tree.map(jnp.asarray, population.hparams),
                                      self.sharding)
        self._chunk_programs: Dict[int, Any] = {}
        self._eval_compiled = False
        self.compile_seconds = 0.0

        def init(keys, hparams):
            state = jax.vmap(algo.init)(keys, hparams)
            m = population.size
            return Carry(state, jnp.ones((m,), bool), jnp.zeros((m,), jnp.int32),
                         jnp.full((m,), -1, jnp.int32))

        self._init = jax.jit(init, out_shardings=self.sharding)

        def eval_member(state, key):
            # ``eval_env``: the env with the observation pipeline the policy was trained on.
            return evaluate(getattr(algo, "eval_env", algo.env), algo.env_params,
                            algo.policy(state), key, run_config.eval_episodes)

        self._eval = jax.jit(jax.vmap(eval_member, in_axes=(0, None)),
                             out_shardings=self.sharding)

    # ---- programs ----------------------------------------------------------------
    def init_carry(self) -> Carry:
        keys = jax.device_put(self.population.keys(), self.sharding)
        return self._init(keys, self.hparams)

    def abstract_carry(self) -> Carry:
        shapes = jax.eval_shape(self._init, self.population.keys(), self.hparams)
        return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype,
                                                           sharding=self.sharding), shapes)

    def chunk_program(self, length: int, carry: Carry):
        if length not in self._chunk_programs:  # compiled once per Run, reused by train()
            fn = jax.vmap(make_chunk_fn(self.algo, length))
            start = time.perf_counter()
            compiled = jax.jit(fn, out_shardings=self.sharding, donate_argnums=0).lower(
                carry, self.hparams).compile()
            self.compile_seconds += time.perf_counter() - start
            self._chunk_programs[length] = compiled
        return self._chunk_programs[length]

    def evaluate(self, carry: Carry, index: int, eval_seed: Optional[int] = None) -> np.ndarray:
        """Returns ``(members, eval_episodes)``: every member on the same episodes, drawn
        from ``fold_in(PRNGKey(eval_seed), index)``. The driver evaluates after chunk
        ``index`` with ``RunConfig.eval_seed``, so (seed, chunk index) names the episodes."""
        seed = self.config.eval_seed if eval_seed is None else eval_seed
        key = jax.device_put(jax.random.fold_in(jax.random.PRNGKey(seed), index),
                             self.replicated)
        return np.asarray(self._eval(carry.state, key))

    def warm_up(self, carry: Carry, from_chunk: int = 0) -> None:
        """Compile every program still needed before the clock starts (compile time is
        reported apart from training time)."""
        for length in sorted(set(self.chunks[from_chunk:])):
            self.chunk_program(length, carry)
        if not self._eval_compiled:
            start = time.perf_counter()
            key = jax.device_put(jax.random.PRNGKey(0), self.replicated)
            self._eval = self._eval.lower(carry.state, key).compile()
            self._eval_compiled = True
            self.compile_seconds += time.perf_counter() - start


def check_run_dir(run_dir: str) -> None:
    """Refuses a run directory that cannot be created or written, before anything is
    compiled. ``os.access`` alone is not enough (it says yes to root on read-only
    mounts such as /sys), so a temporary directory is made and removed in the nearest
    existing ancestor."""
    import tempfile

    path = os.path.abspath(run_dir)
    probe = path
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise ConfigError(f"run directory {run_dir} cannot be created: {probe} is not a "
                          f"directory; choose another --out")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".jaxrl-write-check-", dir=probe))
    except OSError as exc:
        raise ConfigError(f"run directory {run_dir} is not writable ({probe}: "
                          f"{exc.strerror or exc}); choose another --out")


def accepted_updates(carry: Carry) -> np.ndarray:
    """Per member, the updates whose results were kept: all of them for a live member,
    those before the divergence for a frozen one."""
    frozen_after = np.asarray(carry.frozen_after)
    return np.where(frozen_after >= 0, frozen_after, np.asarray(carry.updates)).astype(np.int64)


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

    @classmethod
    def from_meta(cls, meta: Optional[Dict[str, Any]]) -> "RunTotals":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in ((meta or {}).get("totals") or {}).items() if k in known})

    def steps_per_second(self) -> float:
        return self.env_steps / self.train_seconds if self.train_seconds > 0 else 0.0

    def all_steps_per_second(self) -> float:
        return self.env_steps_all_members / self.train_seconds if self.train_seconds > 0 \
            else 0.0


def _member_returns(metrics: Dict[str, np.ndarray], alive: np.ndarray) -> np.ndarray:
    count = metrics["episode_count"]
    with np.errstate(invalid="ignore", divide="ignore"):
        returns = np.where(count > 0, metrics["episode_return_sum"] / count, np.nan)
    return np.where(alive, returns, np.nan)


def _nanmean(x) -> float:
    x = np.asarray(x, np.float64)
    return float(np.nanmean(x)) if np.any(np.isfinite(x)) else float("nan")


def train(algo, population: Population, run_config: RunConfig = RunConfig(),
          run_dir: Optional[str] = None, resume: bool = False,
          config_record: Optional[Dict[str, Any]] = None, env_id: Optional[str] = None,
          console=None, progress: bool = True,
          stop_after_chunks: Optional[int] = None, run: Optional["Run"] = None) -> RunResult:
    """Trains every member of ``population`` with ``algo``; see the module docstring.

    ``run_dir`` (optional) receives config.json, metrics.jsonl, checkpoints/ and
    summary.json; ``resume=True`` continues from its newest good checkpoint.
    ``stop_after_chunks`` ends early (as a kill would, but cleanly) - for tests.
    ``run`` reuses the compiled programs of an earlier call with the same arguments.
    """
    from rich.console import Console

    console = console or Console(stderr=True)
    if run is None:
        run = Run(algo, population, run_config)  # validates before anything is written
    if run_dir is not None:
        check_run_dir(run_dir)
    env_id = env_id or getattr(algo.env, "id", "env")
    chunks = run.chunks
    steps_per_update = algo.env_steps_per_update
    members = population.size

    if run_config.wandb:
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise ConfigError("wandb=True needs the optional extra: pip install 'jaxrl[wandb]'")
    warn = lambda m: console.print(f"[yellow]warning:[/] {m}", soft_wrap=True)  # noqa: E731
    checkpointer, sinks = None, Sinks([])
    start_chunk, carry, meta = 0, None, None
    if run_dir is not None and resume:
        checkpointer = PopulationCheckpointer(os.path.join(run_dir, "checkpoints"),
                                              run_config.keep_checkpoints)
        if checkpointer.steps():
            start_chunk, carry, meta = checkpointer.restore_latest(run.abstract_carry(),
                                                                   warn=warn)
            console.print(f"resuming {run_dir} after chunk {start_chunk}/{len(chunks)}")
        else:
            warn(f"{run_dir} has no checkpoint yet (stopped before the first one): "
                 f"starting it from the beginning")
            resume = False

    # Compile before writing anything, so a failure leaves no half-made run directory.
    if carry is None:
        carry = run.init_carry()
    compiled_before = run.compile_seconds
    run.warm_up(carry, start_chunk)
    totals = RunTotals.from_meta(meta)
    session = RunTotals(compile_seconds=run.compile_seconds - compiled_before, sessions=1)
    totals.compile_seconds += session.compile_seconds
    totals.sessions += 1
    console.print(f"compiled in {run.compile_seconds:.1f}s: {members} members x "
                  f"{algo.num_updates} updates in {len(chunks)} chunks on "
                  f"{len(run.devices)} {run.devices[0].platform} device(s)")

    if run_dir is not None:
        os.makedirs(run_dir, exist_ok=True)
        if not resume:
            record = {**(config_record or {}), "population": population.table(),
                      "chunks": chunks, "versions": _package_versions(),
                      "git_commit": _git_commit(), "devices": [str(d) for d in run.devices]}
            with open(os.path.join(run_dir, "config.json"), "w") as f:
                json.dump(record, f, indent=2, default=str)
        if checkpointer is None:
            checkpointer = PopulationCheckpointer(os.path.join(run_dir, "checkpoints"),
                                                  run_config.keep_checkpoints)
        sink_list = [JsonlSink(os.path.join(run_dir, "metrics.jsonl"),
                               truncate_after_chunk=start_chunk - 1)]
        if run_config.tensorboard:
            sink_list.append(TensorBoardSink(os.path.join(run_dir, "tensorboard")))
        if run_config.wandb:
            sink_list.append(WandbSink(run_dir, config_record or {}))
        sinks = Sinks(sink_list)

    total_steps = algo.num_updates * steps_per_update
    updates_done = sum(chunks[:start_chunk])
    alive = np.asarray(carry.alive)
    accepted = accepted_updates(carry)
    last_eval = None

    bar = _ProgressBar(console, total_steps, enabled=progress)
    bar.advance(updates_done * steps_per_update, {})
    try:
        for chunk_index in range(start_chunk, len(chunks)):
            length = chunks[chunk_index]
            start = time.perf_counter()
            carry, metrics = run.chunk_program(length, carry)(carry, run.hparams)
            metrics = jax.device_get(metrics)
            new_alive = np.asarray(carry.alive)
            elapsed = time.perf_counter() - start
            updates_done += length
            new_accepted = accepted_updates(carry)
            for t in (totals, session):
                t.train_seconds += elapsed
                t.env_steps += int((new_accepted - accepted).sum()) * steps_per_update
                t.env_steps_all_members += length * steps_per_update * members
            accepted = new_accepted

            for i in np.flatnonzero(alive & ~new_alive):
                console.print(f"[red]diverged:[/] {population.describe(int(i))} produced a "
                              f"non-finite loss or state within updates "
                              f"{updates_done - length + 1}-{updates_done}; frozen at its last "
                              f"finite state, excluded from training aggregates")
            alive = new_alive

            returns = _member_returns(metrics, alive)
            record = {
                "chunk": chunk_index, "updates": updates_done,
                "env_steps": updates_done * steps_per_update,
                "total_env_steps": updates_done * steps_per_update * members,
                "train_seconds": totals.train_seconds,
                "env_steps_per_second": totals.steps_per_second(),
                "alive_members": int(alive.sum()),
                "episode_return": returns,
                "episode_return_mean": _nanmean(returns),
                "episode_return_iqm": stats.iqm(returns),
            }
            for name, values in metrics.items():
                if name not in SUMMED_METRICS:
                    record[name] = _nanmean(np.where(alive, values, np.nan))
            last_chunk = chunk_index == len(chunks) - 1
            if last_chunk or (chunk_index + 1) % run_config.eval_interval == 0:
                eval_returns = run.evaluate(carry, chunk_index).mean(axis=1)
                last_eval = eval_returns
                record.update(eval_return=eval_returns, eval_return_mean=_nanmean(eval_returns),
                              eval_return_iqm=stats.iqm(eval_returns))
            sinks.write(record)
            if checkpointer and (last_chunk or (chunk_index + 1) % run_config.checkpoint_interval == 0):
                checkpointer.save(chunk_index + 1, carry, {
                    "chunk": chunk_index + 1, "updates": updates_done,
                    "totals": dataclasses.asdict(totals)})
            bar.advance(length * steps_per_update, record)
            if stop_after_chunks is not None and chunk_index + 1 >= stop_after_chunks:
                break
    finally:
        bar.close()
        sinks.close()

    frozen_after = np.asarray(carry.frozen_after)
    diverged = {int(i): int(frozen_after[i]) for i in np.flatnonzero(frozen_after >= 0)}
    finished = updates_done == algo.num_updates
    summary = None
    if finished and last_eval is None:  # resumed after the last chunk: same final episodes
        last_eval = run.evaluate(carry, len(chunks) - 1).mean(axis=1)
    if finished:
        summary = _summary(population, env_id, last_eval, total_steps, totals, session,
                           start_chunk, diverged, run_dir, alive)
        summary["final_eval_episodes"] = {
            "eval_seed": run_config.eval_seed, "chunk_index": len(chunks) - 1,
            "episodes": run_config.eval_episodes,
            "note": "fold_in(PRNGKey(eval_seed), chunk_index); `jaxrl eval RUN` scores the "
                    "same episodes"}
        if run_dir is not None:
            with open(os.path.join(run_dir, "summary.json"), "w") as f:
                json.dump(summary, f, indent=2)
    if checkpointer:
        checkpointer.close()
    return RunResult(carry, summary, run_dir)


def _summary(population, env_id, final_eval, total_steps, totals: RunTotals,
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


class _ProgressBar:
    """One compact line: env steps per member, steps/s (all members), mean and IQM
    training return across members, ETA (rich)."""

    def __init__(self, console, total: int, enabled: bool = True):
        self.enabled = enabled
        if not enabled:
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.total = total
        self.progress = Progress(
            TextColumn("[bold]train"), BarColumn(bar_width=12),
            TextColumn("{task.fields[steps]} steps/member"), TextColumn("{task.fields[sps]}"),
            TextColumn("return {task.fields[ret]}"), TextColumn("ETA"),
            TimeRemainingColumn(compact=True),
            console=console, transient=False, refresh_per_second=4)
        self.task = self.progress.add_task("train", total=total, steps=self._steps(0),
                                           sps="-", ret="-")
        self.progress.start()

    def _steps(self, done: int) -> str:
        return f"{done / 1e3:,.0f}k/{self.total / 1e3:,.0f}k"

    def advance(self, steps: int, record: Dict[str, Any]) -> None:
        if not self.enabled:
            return
        fields = {}
        if "env_steps_per_second" in record:
            fields["sps"] = f"{record['env_steps_per_second'] / 1e3:,.0f}k/s"
        if "episode_return_mean" in record:
            fields["ret"] = (f"{record['episode_return_mean']:.1f} "
                             f"IQM {record['episode_return_iqm']:.1f}")
        self.progress.update(self.task, advance=steps, **fields)
        done = int(self.progress.tasks[0].completed)
        self.progress.update(self.task, steps=self._steps(done))

    def close(self):
        if self.enabled:
            self.progress.stop()
