"""Compile and shard: the programs of one (algorithm, population) pair."""
from __future__ import annotations

import copy
import math
import time
from typing import Any, Dict, List, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxrl.config import ConfigError
from jaxrl.contract import DATA_AXIS, POPULATION_AXIS, Algorithm, member_env, shared_data
from jaxrl.distributed import put, to_host
from jaxrl.evaluation import evaluate_member, evaluation_key
from jaxrl.population import Population
from jaxrl.runner.chunk import Carry, in_member_batches, make_chunk_fn, plan_chunks
from jaxrl.runner.config import RunConfig
from jaxrl.runner.memory import MemoryPlan, plan_memory


def dividing_devices(population_size: int, devices=None, data_parallel: int = 1) -> list:
    """The first of ``devices`` (default ``jax.devices()``), as many as divide the
    population evenly: every device when they do (a 6-member population on 8 devices
    uses 6, a 7-member one uses 1). With ``data_parallel`` devices per member, groups of
    that many."""
    from jaxrl.platform import host_device_count

    devices = list(devices or jax.devices())
    groups = len(devices) // data_parallel
    if groups == 0:
        raise ConfigError(f"data_parallel={data_parallel} spreads each member over "
                          f"{data_parallel} devices, but there are {len(devices)}; use at "
                          f"most data_parallel={len(devices)}")
    if jax.process_count() > 1:  # every process takes part: the population must divide
        return devices[:groups * data_parallel]
    return devices[:data_parallel * host_device_count(population_size, groups)]


def plan_on_devices(algo, hp_one, members: int, run_config: RunConfig,
                    devices=None) -> MemoryPlan:
    """The memory plan for ``members`` on ``devices`` (default: those
    ``dividing_devices`` picks), in groups of ``run_config.data_parallel`` per member."""
    data = run_config.data_parallel
    devices = devices or dividing_devices(members, data_parallel=data)
    if len(devices) % data:
        raise ConfigError(f"data_parallel={data} must divide the {len(devices)} devices "
                          f"(each member spans that many)")
    groups = len(devices) // data
    if members % groups:
        raise ConfigError(
            f"population size {members} is not a multiple of the {groups} devices; "
            f"use a multiple of {groups} members (e.g. --num-seeds {groups * math.ceil(members / groups)})")
    return plan_memory(algo, hp_one, members, groups, run_config,
                       platform=devices[0].platform)


def check_population(algo, population: Population, run_config: RunConfig,
                     devices=None) -> MemoryPlan:
    """All checks that need no compilation; raise ConfigError naming the fix. Returns
    the memory plan (how many members each device group updates at once)."""
    run_config.validate()
    population.hparams.validate()
    algo.check_hparams(population.hparams)
    hp_one = jax.tree.map(lambda x: jnp.asarray(x)[0], population.hparams)
    return plan_on_devices(algo, hp_one, population.size, run_config, devices)


def xla_bytes(compiled) -> Optional[int]:
    """XLA's own figure for a compiled program's memory per device (arguments, outputs
    not aliased to them, temporaries), or None where the backend gives none."""
    try:
        m = compiled.memory_analysis()
        return int(m.argument_size_in_bytes + m.output_size_in_bytes
                   - m.alias_size_in_bytes + m.temp_size_in_bytes)
    except Exception:  # noqa: BLE001 - optional diagnostics, never worth failing a run
        return None


def xla_temp_bytes(compiled) -> Optional[int]:
    """XLA's temporaries of a compiled program per device, or None where the backend
    gives no memory analysis."""
    try:
        return int(compiled.memory_analysis().temp_size_in_bytes)
    except Exception:  # noqa: BLE001 - no analysis: the plan keeps its lower bound
        return None


CHUNK = "chunk"  # the chunk program's name in program_seconds and xla_memory


class ChunkProgram:
    """The compiled chunk program bound to a chunk's length (and the run's shared
    arrays): ``(carry, inputs) -> (carry, metrics)``. Every length calls the same
    executable (``compiled``, whose attributes this passes on: ``as_text``,
    ``memory_analysis``)."""

    def __init__(self, compiled, count, shared=None):
        self.compiled, self.count, self.shared = compiled, count, shared

    def __call__(self, carry: Carry, inputs):
        if self.shared is None:
            return self.compiled(carry, inputs, self.count)
        return self.compiled(carry, inputs, self.count, self.shared)

    def __getattr__(self, name):
        return getattr(self.compiled, name)


class Run:
    """Builds the compiled programs for (algo, population) and runs them."""

    def __init__(self, algo: Algorithm, population: Population,
                 run_config: RunConfig = RunConfig(), devices=None,
                 chunks: Optional[List[int]] = None):
        """``devices``: where the member axis is sharded (default: the most of
        ``jax.devices()`` that divide the population; given devices must divide it).
        ``chunks``: the updates of each chunk (default ``plan_chunks`` of
        ``run_config.num_chunks``; PBT gives its generations)."""
        if not isinstance(algo, Algorithm):
            missing = [n for n in dir(Algorithm) if not n.startswith("_")
                       and not hasattr(algo, n)]
            raise TypeError(f"{type(algo).__name__} does not implement jaxrl.contract."
                            f"Algorithm (missing: {', '.join(missing)})")
        from jaxrl.platform import configure

        configure()  # before anything is lowered
        data = run_config.data_parallel
        devices = list(devices) if devices else dividing_devices(population.size,
                                                                 data_parallel=data)
        start = time.perf_counter()
        self.memory_plan = check_population(algo, population, run_config, devices)
        self.algo, self.population, self.config = algo, population, run_config
        if chunks is not None and (sum(chunks) != algo.num_updates or min(chunks) < 1):
            raise ValueError(f"chunks {chunks} must be positive and add up to the run's "
                             f"{algo.num_updates} updates")
        self.chunks = (list(chunks) if chunks is not None
                       else plan_chunks(algo.num_updates, run_config.num_chunks))
        self.devices = devices
        # members over the first mesh axis; each member over ``data`` devices (a second
        # axis, used by learners' ``split_batch``) when data_parallel > 1
        self.mesh = (Mesh(np.asarray(devices), ("member",)) if data == 1 else
                     Mesh(np.asarray(devices).reshape(-1, data), ("member", DATA_AXIS)))
        self.sharding = NamedSharding(self.mesh, PartitionSpec("member"))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.hparams = put(population.hparams, self.sharding)
        # what every member reads and none owns (an offline dataset): one copy per device
        self.shared = (None if shared_data(algo) is None
                       else put(shared_data(algo), self.replicated))
        self.env_params = (None if population.env_params is None
                           else put(population.env_params, self.sharding))
        # the one compiled chunk program (chunks of any length: their length is traced),
        # under CHUNK, in a dict that with_population's copies share
        self._chunk_programs: Dict[str, Any] = {}
        self._eval_compiled = False
        # the plan's seconds: mostly XLA's analysis of one member's update (a compile of
        # its own, skipped when this process analysed the same program before)
        self.plan_seconds = time.perf_counter() - start
        self.compile_seconds = 0.0
        # each program's own lowering + XLA seconds (they overlap in warm_up)
        self.program_seconds: Dict[str, float] = {}
        self.xla_memory: Dict[str, Optional[int]] = {}  # program -> XLA's figure

        env_per_member = self.env_params is not None

        def member_init(key, inputs):
            hp, env_params = inputs if env_per_member else (inputs, None)
            with member_env(algo, env_params):
                return algo.init(key, hp)

        def init(keys, inputs):
            state = jax.vmap(member_init)(keys, inputs)
            m = population.size
            return Carry(state, jnp.ones((m,), bool), jnp.zeros((m,), jnp.int32),
                         jnp.full((m,), -1, jnp.int32))

        self._init = jax.jit(init, out_shardings=self.sharding)
        self._init_compiled = None  # set by warm_up(init=True)

        # loops are sized by the run's own params: time limits never differ per member
        max_steps = algo.eval_env.max_episode_steps(algo.env_params)

        def eval_member(state, env_params, key):
            # ``eval_env``: the env with the observation pipeline the policy was trained
            # on; each member on its own env params where it has them
            with member_env(algo, env_params):
                return evaluate_member(algo, state, key, run_config.eval_episodes, max_steps,
                                       by_trial_episode=True)

        self._eval = jax.jit(jax.vmap(eval_member, in_axes=(0, 0, None)),
                             out_shardings=self.sharding)
        self._eval_on = jax.jit(jax.vmap(eval_member, in_axes=(0, None, None)),
                                out_shardings=self.sharding)

    @property
    def inputs(self) -> Any:
        """What the init and chunk programs take beside the carry: the members'
        hyperparameters, and their own env params where they have them."""
        return self.hparams if self.env_params is None else (self.hparams, self.env_params)

    def set_hparams(self, hparams: Any) -> None:
        """New traced values for every member (same structure, shapes and dtypes), for
        the already compiled programs: what sweeps, PBT and ES hand over between chunks."""
        new = jax.tree.map(jnp.asarray, hparams)
        old_struct = jax.tree.structure(self.hparams)
        if jax.tree.structure(new) != old_struct or any(
                (a.shape, a.dtype) != (b.shape, b.dtype)
                for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(self.hparams))):
            raise ValueError("set_hparams needs the same structure, shapes and dtypes as the "
                             "population's hyperparameters (or the programs would recompile)")
        self.hparams = put(new, self.sharding)

    def with_population(self, population: Population) -> "Run":
        """The same compiled programs for another population of the same size (another
        batch of a sweep group, the test seeds of chosen configurations)."""
        if population.size != self.population.size:
            raise ValueError(f"with_population needs {self.population.size} members; got "
                             f"{population.size}")
        check_population(self.algo, population, self.config, self.devices)
        other = copy.copy(self)  # shares the dict of compiled chunk programs
        other.population = population
        other.set_hparams(population.hparams)  # same structure, shapes, dtypes, or refuse
        if (population.env_params is None) != (self.env_params is None):
            raise ValueError("with_population: the programs were compiled with"
                             + (" per-member env params" if self.env_params is not None
                                else "out per-member env params"))
        if population.env_params is not None:
            other.env_params = put(population.env_params, self.sharding)
        return other

    # ---- programs ----------------------------------------------------------------
    def init_carry(self) -> Carry:
        keys = put(self.population.keys(), self.sharding)
        return (self._init_compiled or self._init)(keys, self.inputs)

    def abstract_carry(self) -> Carry:
        shapes = jax.eval_shape(self._init, self.population.keys(), self.inputs)
        return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype,
                                                           sharding=self.sharding), shapes)

    def _lower_chunk(self, carry: Carry):
        # Each device runs its own members (shard_map: nothing crosses devices); the
        # member axis is named so learners can skip work no member needs (any_member).
        # check_vma=False: JAX 0.9's varying-axes check asserts on a collective over
        # a vmap axis inside shard_map; every output is per-member anyway.
        # Members go through in batches of the memory plan's member_batch per device
        # when all at once would not fit the budget (or, on CPU, the cache).
        members, shared = PartitionSpec("member"), PartitionSpec()
        extra = () if self.shared is None else (self.shared,)
        per_device = jax.vmap(make_chunk_fn(self.algo, self.env_params is not None),
                              in_axes=(0, 0, None) + (None,) * len(extra),
                              axis_name=POPULATION_AXIS)
        if self.memory_plan.batches > 1:
            per_device = in_member_batches(per_device, self.memory_plan.member_batch)
        # Only the member axis is manual: with a data axis, XLA partitions each member
        # over it from its learner's ``split_batch`` annotations (seen in the mesh).
        fn = jax.shard_map(
            per_device, mesh=self.mesh,
            in_specs=(members, members, shared) + (shared,) * len(extra), out_specs=members,
            axis_names={"member"}, check_vma=False)
        count = jax.ShapeDtypeStruct((), jnp.int32, sharding=self.replicated)
        with jax.set_mesh(self.mesh):
            return jax.jit(fn, out_shardings=self.sharding, donate_argnums=0).lower(
                carry, self.inputs, count, *extra)

    def _keep_chunk(self, compiled) -> bool:
        """Keeps a compiled chunk; False where it confirmed a provisional memory plan into
        batches (``MemoryPlan.confirmed``): the chunk program is then compiled again."""
        plan = self.memory_plan
        if plan.provisional:
            self.memory_plan = plan.confirmed(xla_temp_bytes(compiled))
            if self.memory_plan.member_batch != plan.member_batch:
                self._chunk_programs.clear()
                self.xla_memory.clear()
                return False
        self.xla_memory[CHUNK] = xla_bytes(compiled)
        self._chunk_programs[CHUNK] = compiled
        return True

    def chunk_program(self, length: int, carry: Carry) -> "ChunkProgram":
        """The chunk program, bound to ``length`` updates (compiled here on first use if
        ``warm_up`` did not; one program serves every length)."""
        while CHUNK not in self._chunk_programs:  # compiled once per Run, reused by train()
            start = time.perf_counter()
            self._keep_chunk(self._lower_chunk(carry).compile())
            self.program_seconds[CHUNK] = time.perf_counter() - start
            self.compile_seconds += time.perf_counter() - start
        return ChunkProgram(self._chunk_programs[CHUNK],
                            put(np.asarray(length, np.int32), self.replicated), self.shared)

    def evaluate(self, carry: Carry, index: int, eval_seed: Optional[int] = None,
                 env_params: Any = None, by_trial_episode: bool = False) -> np.ndarray:
        """Returns ``(members, eval_episodes)``: every member on the same episodes, drawn
        from ``fold_in(PRNGKey(eval_seed), index)``. The driver evaluates after chunk
        ``index`` with ``RunConfig.eval_seed``, so (seed, chunk index) names the episodes.
        Each member plays on its own env params; ``env_params`` (one set, unbatched)
        scores every member on those instead (held-out values; a program of its own).
        ``by_trial_episode``: ``(members, eval_episodes, trial_episodes)``, each return
        split by the episode of an in-context trial it was earned in."""
        seed = self.config.eval_seed if eval_seed is None else eval_seed
        key = put(evaluation_key(seed, index), self.replicated)
        if env_params is not None:
            returns = to_host(self._eval_on(carry.state, env_params, key))
        else:
            returns = to_host(self._eval(carry.state, self.env_params, key))
        return returns if by_trial_episode else returns.sum(axis=-1)

    def warm_up(self, from_chunk: int = 0, init: bool = True) -> None:
        """Compile every program still needed before the clock starts (compile time is
        reported apart from training time): the init program (``init=True``; resumed
        runs skip it), the chunk program (unless no chunk is left after ``from_chunk``),
        and evaluation.

        Tracing and lowering are Python on one core; XLA's compile releases the GIL. So
        each program is lowered here and XLA-compiled on a worker thread as soon as it is
        lowered: the next program's tracing overlaps the previous ones' compiles
        (benchmarks/README.md, "Compile time on brax")."""
        from concurrent.futures import ThreadPoolExecutor

        start = time.perf_counter()

        def timed(name: str, lowered, lower_seconds: float):
            def compile_it():
                begin = time.perf_counter()
                compiled = lowered.compile()
                self.program_seconds[name] = lower_seconds + time.perf_counter() - begin
                return compiled
            return compile_it

        def lower(fn, *args):
            begin = time.perf_counter()
            return fn(*args), time.perf_counter() - begin

        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="jaxrl-compile") as pool:
            init_job = None
            if init and self._init_compiled is None:
                keys = put(self.population.keys(), self.sharding)
                lowered, seconds = lower(self._init.lower, keys, self.inputs)
                init_job = pool.submit(timed("init", lowered, seconds))
            carry = self.abstract_carry()
            chunk_job = None
            if self.chunks[from_chunk:] and CHUNK not in self._chunk_programs:
                lowered, seconds = lower(self._lower_chunk, carry)
                chunk_job = pool.submit(timed(CHUNK, lowered, seconds))
            eval_job = None
            if not self._eval_compiled:
                key = put(jax.random.PRNGKey(0), self.replicated)
                lowered, seconds = lower(self._eval.lower, carry.state, self.env_params, key)
                eval_job = pool.submit(timed("evaluation", lowered, seconds))
            # results in order of submission; an error in any compile is raised here
            if init_job is not None:
                self._init_compiled = init_job.result()
            if chunk_job is not None and not self._keep_chunk(chunk_job.result()):
                self.chunk_program(self.chunks[from_chunk], carry)  # the plan now batches
            if eval_job is not None:
                self._eval = eval_job.result()
                self._eval_compiled = True
        self.compile_seconds += time.perf_counter() - start
