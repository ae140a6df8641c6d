"""The host loop: chunks, metrics, evaluation, checkpoints, divergence reports, resume.

For any algorithm on the contract (``jaxrl.contract.Algorithm``): vmap over members,
shard the member axis over devices, ``jit(scan(update, n))`` per chunk (see
``program.Run``), and this loop over chunks.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any, Dict, Optional, Sequence

import numpy as np

from jaxrl import stats
from jaxrl.config import ConfigError
from jaxrl.contract import progress_unit
from jaxrl.distributed import barrier, is_leader, to_host
from jaxrl.outputs import check_run_dir
from jaxrl.population import Population
from jaxrl.runner.chunk import Carry
from jaxrl.runner.config import RunConfig
from jaxrl.runner.driver import Driver, Hook
from jaxrl.runner.memory import format_bytes
from jaxrl.runner.program import Run
from jaxrl.runner.progress import ProgressBar
from jaxrl.runner.provenance import git_commit, package_versions
from jaxrl.runner.summary import (RunTotals, accepted_updates, member_returns, nanmean,
                                  summarize)


@dataclasses.dataclass
class RunResult:
    carry: Carry
    summary: Dict[str, Any]
    run_dir: Optional[str]
    finished_before: bool = False  # a resume found the run finished and changed nothing


RUN_FILES = ("config.json", "checkpoints", "metrics.jsonl", "summary.json")


def holds_run(run_dir: str) -> bool:
    """Whether ``run_dir`` holds (part of) a run that a new one would overwrite."""
    return any(os.path.exists(os.path.join(run_dir, name)) for name in RUN_FILES)


def dataset_summary(dataset, final_eval, population) -> Dict[str, Any]:
    """The dataset a learner learned from, and the final evaluation as normalised scores
    (0 = random, 100 = the best recording policy) where the dataset names references."""
    out: Dict[str, Any] = {"dataset": dataset.describe(),
                           "dataset_ref_scores": [dataset.ref_min_score, dataset.ref_max_score]}
    scores = dataset.normalized_score(final_eval)
    if scores is not None:
        lo, hi = stats.stratified_bootstrap_ci(scores, population.config_index)
        out.update(final_normalized_score=[None if not np.isfinite(x) else float(x)
                                           for x in scores],
                   final_normalized_score_iqm=float(stats.iqm(scores)),
                   final_normalized_score_ci95=[float(lo), float(hi)])
    return out


def train(algo, population: Population, run_config: RunConfig = RunConfig(),
          run_dir: Optional[str] = None, resume: bool = False,
          config_record: Optional[Dict[str, Any]] = None, env_id: Optional[str] = None,
          console=None, progress: bool = True,
          stop_after_chunks: Optional[int] = None, run: Optional["Run"] = None,
          hooks: Sequence[Hook] = (), start=None) -> RunResult:
    """Trains every member of ``population`` with ``algo``; see the module docstring.

    ``run_dir`` (optional) receives config.json, metrics.jsonl, checkpoints/ and
    summary.json; ``resume=True`` continues from its newest good checkpoint (a directory
    that holds a run is refused without it). ``stop_after_chunks`` ends early (as a kill
    would, but cleanly) - for tests. ``run`` reuses the compiled programs of an earlier
    call with the same arguments. ``start(algo, run, carry)`` makes a fresh run's first
    carry from another run (``RunConfig.init_from``: ``jaxrl.warm_start.warm_start_from``).
    ``hooks`` run between chunks (``driver.Hook``; PBT's
    exploit/explore is one).
    """
    from rich.console import Console

    leader = is_leader()  # with several processes, one writes logs, reports and the bar
    console = console or Console(stderr=True)
    if not leader:
        console, progress = Console(stderr=True, quiet=True), False
    if run is None:
        run = Run(algo, population, run_config)  # validates before anything is written
    if run_dir is not None:
        check_run_dir(run_dir)
        if not resume and holds_run(run_dir):
            raise ConfigError(f"run directory {run_dir} already holds a run; pass resume=True "
                              f"(--resume) to continue it or choose another run directory")
    env_id = env_id or getattr(algo.env, "id", "env")
    chunks = run.chunks
    steps_per_update = algo.env_steps_per_update
    grads_per_update = algo.gradient_steps_per_update
    members = population.size

    if run_config.wandb:
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise ConfigError("wandb=True needs the optional extra: pip install 'jaxrl[wandb]'")
    warn = lambda m: console.print(f"[yellow]warning:[/] {m}", soft_wrap=True)  # noqa: E731
    driver = Driver(run_dir, len(chunks), run_config.checkpoint_interval,
                    run_config.keep_checkpoints, hooks, console, stop_after_chunks)
    start_chunk, carry, meta = 0, None, {}
    if run_dir is not None and resume:
        start_chunk, carry, meta = driver.restore(run.abstract_carry(), warn)
        summary_path = os.path.join(run_dir, "summary.json")
        if carry is None:
            warn(f"{run_dir} has no checkpoint yet (stopped before the first one): "
                 f"starting it from the beginning")
            resume = False
        elif start_chunk == len(chunks) and os.path.exists(summary_path):
            with open(summary_path) as f:
                summary = json.load(f)
            driver.close()
            console.print(f"{run_dir} is finished ({start_chunk}/{len(chunks)} chunks): "
                          f"nothing to resume, nothing changed", soft_wrap=True)
            return RunResult(carry, summary, run_dir, finished_before=True)
        else:
            console.print(f"resuming {run_dir} after chunk {start_chunk}/{len(chunks)}")

    planned = run.memory_plan
    console.print(planned.describe(), soft_wrap=True)
    # Compile before writing anything, so a failure leaves no half-made run directory.
    compiled_before = run.compile_seconds
    run.warm_up(start_chunk, init=carry is None)
    if run.memory_plan.member_batch != planned.member_batch:  # a provisional plan, changed
        console.print(f"the compiled chunk's working sets call for batches; "
                      f"{run.memory_plan.describe()}", soft_wrap=True)
    if carry is None:
        carry = run.init_carry()
        if run_config.init_from:  # a fresh run begins from another's learned parts
            if start is None:
                raise ConfigError(f"init_from={run_config.init_from!r}: pass train(..., "
                                  f"start=jaxrl.warm_start.warm_start_from(...)) (`jaxrl "
                                  f"train` does)")
            carry = start(algo, run, carry)
            console.print(f"members start from what {run_config.init_from} learned",
                          soft_wrap=True)
    totals = RunTotals.from_meta(meta or None)
    session = RunTotals(compile_seconds=run.compile_seconds - compiled_before, sessions=1)
    totals.compile_seconds += session.compile_seconds
    totals.sessions += 1
    compiled = (f"compiled in {session.compile_seconds:.1f}s" if session.compile_seconds > 0.05
                else "reusing compiled programs")
    xla = max((b for b in run.xla_memory.values() if b), default=None)
    xla = f"; XLA plans {format_bytes(xla)} per device" if xla else ""
    data = run.config.data_parallel
    data = f", {data} per member (data parallel)" if data > 1 else ""
    console.print(f"{compiled}: {members} members x "
                  f"{algo.num_updates} updates in {len(chunks)} chunks on "
                  f"{len(run.devices)} {run.devices[0].platform} device(s){data}{xla}",
                  soft_wrap=True)

    if run_dir is not None:
        if leader:
            os.makedirs(run_dir, exist_ok=True)
        barrier("jaxrl-run-dir")
        if not resume and leader:
            record = {**(config_record or {}), "population": population.table(),
                      "chunks": chunks, "versions": package_versions(),
                      "git_commit": git_commit(), "devices": [str(d) for d in run.devices],
                      "memory_plan": run.memory_plan.record()}
            with open(os.path.join(run_dir, "config.json"), "w") as f:
                json.dump(record, f, indent=2, default=str)
        driver.open_sinks(start_chunk, run_config.tensorboard,
                          (config_record or {}) if run_config.wandb else None)

    total_steps = algo.num_updates * steps_per_update
    progress_state = {"updates": sum(chunks[:start_chunk]), "alive": to_host(carry.alive),
                      "accepted": accepted_updates(carry), "last_eval": None,
                      "last_train_returns": None}

    def chunk(chunk_index: int, carry: Carry):
        """One compiled chunk, its divergence reports and its record."""
        length = chunks[chunk_index]
        if hooks:  # a hook may have moved members' states (PBT's exploit): count from them
            progress_state["alive"] = to_host(carry.alive)
            progress_state["accepted"] = accepted_updates(carry)
        start = time.perf_counter()
        carry, metrics = run.chunk_program(length, carry)(carry, run.inputs)
        metrics, new_alive = to_host((metrics, carry.alive))
        elapsed = time.perf_counter() - start
        updates_done = progress_state["updates"] = progress_state["updates"] + length
        new_accepted = accepted_updates(carry)
        for t in (totals, session):
            t.train_seconds += elapsed
            accepted = int((new_accepted - progress_state["accepted"]).sum())
            t.env_steps += accepted * steps_per_update
            t.gradient_steps += accepted * grads_per_update
            t.env_steps_all_members += length * steps_per_update * members
        for i in np.flatnonzero(progress_state["alive"] & ~new_alive):
            console.print(f"[red]diverged:[/] {population.describe(int(i))} produced a "
                          f"non-finite (or past 1e24) loss or state within updates "
                          f"{updates_done - length + 1}-{updates_done}; frozen at its last "
                          f"sound state, excluded from training aggregates")
        alive = new_alive
        returns = member_returns(metrics, alive)
        record = {
            "chunk": chunk_index, "updates": updates_done,
            "env_steps": updates_done * steps_per_update,
            "total_env_steps": updates_done * steps_per_update * members,
            "train_seconds": totals.train_seconds,
            "env_steps_per_second": totals.steps_per_second(),
            "gradient_steps": updates_done * grads_per_update,
            "gradient_steps_per_second": totals.gradient_steps_per_second(),
            "alive_members": int(alive.sum()),
            "alive": alive,
            "episode_return": returns,
            "episode_return_mean": nanmean(returns),
            "episode_return_iqm": stats.iqm(returns),
        }
        for name, values in metrics.items():
            if name not in algo.summed_metrics:
                record[name] = nanmean(np.where(alive, values, np.nan))
        last_chunk = chunk_index == len(chunks) - 1
        if last_chunk or (chunk_index + 1) % run_config.eval_interval == 0:
            by_episode = run.evaluate(carry, chunk_index, by_trial_episode=True)
            eval_returns = by_episode.sum(axis=-1).mean(axis=1)
            for t in (totals, session):
                t.eval_episodes += run_config.eval_episodes
            progress_state["last_eval"], progress_state["last_by_episode"] = (
                eval_returns, by_episode)
            record.update(eval_return=eval_returns, eval_return_mean=nanmean(eval_returns),
                          eval_return_iqm=stats.iqm(eval_returns))
        progress_state["alive"], progress_state["accepted"] = alive, new_accepted
        progress_state["last_train_returns"] = returns
        return carry, record

    def checkpoint_meta(chunk_index: int) -> Dict[str, Any]:
        return {"chunk": chunk_index + 1, "updates": progress_state["updates"],
                "totals": dataclasses.asdict(totals)}

    unit, per_update = progress_unit(algo)  # an offline run's: gradient steps
    bar = ProgressBar(console, algo.num_updates * per_update,
                      done=sum(chunks[:start_chunk]) * per_update, enabled=progress, unit=unit)
    carry, _ = driver.run(start_chunk, carry, chunk, checkpoint_meta, bar)
    updates_done = progress_state["updates"]
    last_eval = progress_state["last_eval"]

    frozen_after = to_host(carry.frozen_after)
    diverged = {int(i): int(frozen_after[i]) for i in np.flatnonzero(frozen_after >= 0)}
    finished = updates_done == algo.num_updates
    summary = None
    by_episode = progress_state.get("last_by_episode")
    if finished and last_eval is None:  # resumed after the last chunk: same final episodes
        by_episode = run.evaluate(carry, len(chunks) - 1, by_trial_episode=True)
        last_eval = by_episode.sum(axis=-1).mean(axis=1)
    if finished:
        summary = summarize(population, env_id, last_eval, total_steps, totals, session,
                            start_chunk, diverged, run_dir, progress_state["alive"])
        # The sampling policy's own episodes in the last chunk (the measure Craftax and
        # most on-policy papers report); absent when a resume found the run finished.
        train_returns = progress_state["last_train_returns"]
        summary["final_train_return"] = (None if train_returns is None else [
            None if not np.isfinite(x) else float(x) for x in np.asarray(train_returns)])
        if by_episode.shape[-1] > 1:  # in-context trials: return per episode of a trial
            summary["within_trial_return"] = [
                [float(x) if np.isfinite(x) else None for x in member]
                for member in by_episode.mean(axis=1)]
        dataset = getattr(algo, "dataset", None)  # ``contract.Learner.dataset``
        if dataset is not None:  # offline data: its description and normalised scores
            summary.update(dataset_summary(dataset, last_eval, population))
        summary["final_eval_episodes"] = {
            "eval_seed": run_config.eval_seed, "chunk_index": len(chunks) - 1,
            "episodes": run_config.eval_episodes,
            "note": "fold_in(PRNGKey(eval_seed), chunk_index); `jaxrl eval RUN` scores the "
                    "same episodes"}
        if run_dir is not None and leader:
            with open(os.path.join(run_dir, "summary.json"), "w") as f:
                json.dump(summary, f, indent=2)
    driver.close()
    if run_dir is not None:
        barrier("jaxrl-train-end")  # every process sees what process 0 wrote
    return RunResult(carry, summary, run_dir)
