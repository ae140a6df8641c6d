"""Evolution strategies over meta-parameters, each fitness a whole inner training run.

``meta_train(tasks, meta_params_init, ...)`` runs evosax strategies (OpenES, SNES,
CMA-ES; evosax minimises, so fitness is negated for it). One generation asks a
meta-population, evaluates every (member x inner seed) of every task as one vmapped
program per task, the members sharded over the devices, shapes nothing itself (the
strategy's own fitness shaping: centred ranks for OpenES, weights for SNES/CMA-ES) and
tells. Each program is compiled once for
the whole run; the log says how many times each was traced. The ES state, the key and
the fitness curve are checkpointed every generation (orbax, bitwise), so a killed run
resumes to the same final meta-parameters. Under ``jax.distributed`` the members are
split over every process's devices; ask and tell run alike on every process, and only
process 0 writes the results.

A *task* is anything with ``name`` and ``fitness(meta_params, key) -> scalar`` (higher
is better): a full inner training run on the contract (``jaxrl.meta.tasks``), or any
other pure function.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.config import ConfigError
from jaxrl.distributed import is_leader, put, to_host
from jaxrl.runner.driver import Driver
from jaxrl.runner.progress import GenerationBar

STRATEGIES = ("open_es", "snes", "cma_es")


@dataclasses.dataclass(frozen=True)
class Task:
    """``fitness(meta_params, key)``: one inner run's score; ``reference`` (low, high)
    normalises it, ``(f - low) / (high - low)``, so tasks weigh alike."""

    name: str
    fitness: Callable[[Any, jax.Array], jax.Array]
    reference: Optional[tuple] = None
    env_steps: int = 0  # env steps of one inner run (for throughput), if it has any

    def normalized(self, value):
        if self.reference is None:
            return value
        low, high = self.reference
        return (value - low) / (high - low)


@dataclasses.dataclass
class MetaResult:
    mean_params: Any           # the search distribution's mean after the last generation
    best_params: Any           # the best member ever evaluated
    best_fitness: float
    curve: List[Dict[str, Any]]  # per generation: fitness mean / max / min / std, per task
    traces: Dict[str, int]     # times each program was traced (1 each: compiled once)
    out: Optional[str] = None
    devices: int = 1           # devices the meta-population was sharded over


def make_strategy(name: str, popsize: int, solution: Any, sigma: float,
                  learning_rate: float):
    import optax
    from evosax.algorithms import CMA_ES, SNES, Open_ES

    if name not in STRATEGIES:
        raise ConfigError(f"--strategy {name!r} is not one of {', '.join(STRATEGIES)}")
    for flag, what, value in (("--sigma", "search std", sigma),
                              ("--meta-lr", "step size", learning_rate)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{flag} {value}: the ES {what} must be a positive number, "
                              f"e.g. {flag} {0.05 if flag == '--sigma' else 0.03}")
    if popsize < 2 or (name == "open_es" and popsize % 2):
        raise ConfigError(f"--popsize {popsize}: OpenES samples antithetic pairs, so the "
                          f"population must be even (and at least 2)")
    if name == "open_es":
        es = Open_ES(popsize, solution, optimizer=optax.adam(learning_rate),
                     std_schedule=optax.constant_schedule(sigma))
        return es, es.default_params
    if name == "snes":
        es = SNES(popsize, solution, optimizer=optax.sgd(learning_rate))
        return es, es.default_params.replace(std_init=sigma)
    es = CMA_ES(popsize, solution)
    return es, es.default_params.replace(std_init=sigma)


def _strong(tree):
    """evosax states mix weak- and strong-typed leaves from call to call; fixing them
    keeps ask/tell to one trace each."""
    return jax.tree.map(lambda x: jax.lax.convert_element_type(x, jnp.asarray(x).dtype), tree)


class _Counter:
    def __init__(self):
        self.counts: Dict[str, int] = {}

    def mark(self, name: str):
        self.counts[name] = self.counts.get(name, 0) + 1  # runs at trace time only


def population_sharding(popsize: int, devices=None):
    """(members, replicated, count): the meta-population axis split over the most
    devices that divide it evenly (all of ``jax.devices()`` when they do), and the
    placement of everything else (ES state, fitness), fixed so that ask and tell see the
    same input layouts every generation (one trace each).

    With several processes every process takes the same number of devices; where the
    axis does not split over the processes, each process computes all of it on its own
    devices (the same result everywhere, nothing exchanged)."""
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devices = list(devices or jax.devices())
    by_process = {}
    for d in devices:
        by_process.setdefault(d.process_index, []).append(d)
    groups = list(by_process.values())
    if popsize % len(groups):
        groups = [by_process.get(jax.process_index(), jax.local_devices())]
    fits = [k for k in range(1, min(map(len, groups)) + 1) if popsize % (k * len(groups)) == 0]
    chosen = [d for group in groups for d in group[:max(fits)]]
    mesh = Mesh(np.asarray(chosen), ("members",))
    return (NamedSharding(mesh, PartitionSpec("members")), NamedSharding(mesh, PartitionSpec()),
            len(chosen))


def meta_train(tasks: Sequence[Task], meta_params_init: Any, strategy: str = "open_es",
               popsize: int = 16, generations: int = 10, inner_seeds: int = 2,
               sigma: float = 0.05, learning_rate: float = 0.03, seed: int = 0,
               out: Optional[str] = None, resume: bool = False, console=None,
               progress: bool = True, stop_after_generations: Optional[int] = None
               ) -> MetaResult:
    """Maximises the mean (normalised) fitness over ``tasks`` and ``inner_seeds``."""
    from rich.console import Console

    from jaxrl.platform import configure

    configure()  # before anything is lowered
    console = console or Console(stderr=True)
    if not tasks:
        raise ConfigError("meta_train needs at least one task")
    if generations <= 0 or inner_seeds <= 0:
        raise ConfigError("generations and inner_seeds must be positive")
    if popsize % jax.process_count():
        raise ConfigError(f"popsize {popsize} does not split over {jax.process_count()} "
                          f"processes; choose a multiple of {jax.process_count()}")
    meta_params_init = jax.tree.map(jnp.asarray, meta_params_init)
    es, es_params = make_strategy(strategy, popsize, meta_params_init, sigma, learning_rate)
    counter = _Counter()

    @jax.jit
    def ask(key, state):
        counter.mark("ask")
        population, state = es.ask(key, state, es_params)
        return population, _strong(state)

    @jax.jit
    def tell(key, population, fitness, state):
        counter.mark("tell")
        state, metrics = es.tell(key, population, -fitness, state, es_params)  # it minimises
        return _strong(state), metrics

    def task_program(task: Task):
        def evaluate(population, key):
            counter.mark(task.name)
            keys = jax.random.split(key, inner_seeds)
            per_seed = jax.vmap(lambda p: jax.vmap(lambda k: task.fitness(p, k))(keys))
            return per_seed(population)  # (popsize, inner_seeds)
        return jax.jit(evaluate)

    programs = [task_program(t) for t in tasks]
    sharding, replicated, num_devices = population_sharding(popsize)
    driver = Driver(out, generations, checkpoint_interval=1, keep_checkpoints=2,
                    console=console, stop_after=stop_after_generations)
    key = jax.random.PRNGKey(seed)
    # The loop's state, as checkpoints hold it: the ES state (on the host) and the best
    # member so far; its fitness and the curve travel in the checkpoints' metadata.
    tree = to_host({"state": _strong(es.init(jax.random.fold_in(key, 0), meta_params_init,
                                             es_params)),
                    "best": meta_params_init})
    start, book = 0, {"best_fitness": -np.inf, "curve": []}
    if resume and out:
        warn = lambda m: console.print(f"[yellow]warning:[/] {m}", soft_wrap=True)  # noqa: E731
        start, restored, meta = driver.restore(tree, warn)
        if restored is not None:
            tree = {"state": restored["state"], "best": to_host(restored["best"])}
            book = {"best_fitness": meta["best_fitness"], "curve": meta["curve"]}
            console.print(f"resuming {out} after generation {start}/{generations}")

    def generation(g: int, tree):
        """Ask, score every member on every task (each a vmapped program), tell."""
        # ES state, keys and fitness are the same full value on every device (and every
        # process: ask and tell run alike everywhere); members are split over the devices.
        state = put(tree["state"], replicated)
        gen_key = jax.random.fold_in(key, g + 1)
        ask_key, tell_key, *task_keys = jax.random.split(gen_key, 2 + len(tasks))
        started = time.perf_counter()
        population, state = ask(put(ask_key, replicated), state)
        # On the host between programs: an eager op on member-sharded arrays is a
        # collective between devices, and several in flight at once can deadlock
        # XLA:CPU's host devices (see jaxrl.platform).
        population = to_host(population)
        members = put(population, sharding)  # members over devices (and processes)
        raw, normalized = {}, []
        for task, program, task_key in zip(tasks, programs, task_keys):
            scores = to_host(program(members, put(task_key, replicated)))
            raw[task.name] = scores.mean(axis=1)
            normalized.append(np.asarray(task.normalized(scores.mean(axis=1))))
        f = np.mean(np.stack(normalized), axis=0)
        f = np.where(np.isfinite(f), f, -1e6).astype(np.float32)  # a broken inner run
        state, _ = tell(put(tell_key, replicated), put(population, replicated),
                        put(f, replicated), state)
        seconds = time.perf_counter() - started  # the first generation includes compiling
        steps = popsize * inner_seeds * sum(t.env_steps for t in tasks)
        best = tree["best"]
        i = int(np.argmax(f))
        if f[i] > book["best_fitness"]:
            book["best_fitness"] = float(f[i])
            best = jax.tree.map(lambda x: x[i], population)
        record = {"generation": g, "fitness_mean": float(f.mean()),
                  "fitness_max": float(f.max()), "fitness_min": float(f.min()),
                  "fitness_std": float(f.std()),
                  "per_task_mean": {n: float(v.mean()) for n, v in raw.items()},
                  "seconds": seconds, "inner_env_steps": steps,
                  "inner_env_steps_per_second": steps / seconds}
        book["curve"].append(record)
        return {"state": to_host(state), "best": best}, {"chunk": g, **record}

    def checkpoint_meta(g: int):
        return {"generation": g + 1, "best_fitness": book["best_fitness"],
                "curve": book["curve"]}

    driver.open_sinks(start)
    try:
        tree, _ = driver.run(start, tree, generation, checkpoint_meta,
                             GenerationBar(console, generations, start, enabled=progress))
    finally:
        driver.close()
    state, curve = tree["state"], book["curve"]
    best = {"fitness": book["best_fitness"], "params": tree["best"]}
    mean_params = to_host(es.get_mean(state))
    result = MetaResult(jax.tree.map(np.asarray, mean_params),
                        jax.tree.map(np.asarray, best["params"]), best["fitness"], curve,
                        dict(counter.counts), out, num_devices)
    console.print("programs traced: " + ", ".join(f"{k} x{v}" for k, v in
                                                     counter.counts.items())
                  + f"; meta-population sharded over {num_devices} device(s)")
    if out and is_leader():
        _save_result(result, out)
    return result


def _save_result(result: MetaResult, out: str) -> None:
    np.savez(os.path.join(out, "best_params.npz"),
             **{"/".join(str(getattr(k, "key", k)) for k in path): np.asarray(leaf)
                for path, leaf in jax.tree_util.tree_leaves_with_path(result.best_params)})
    with open(os.path.join(out, "fitness_curve.json"), "w") as f:
        json.dump({"curve": result.curve, "best_fitness": result.best_fitness,
                   "traces": result.traces, "devices": result.devices}, f, indent=2)
