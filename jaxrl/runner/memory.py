"""The memory model: what a population needs, planned before its programs are compiled.

Every member holds its state for the whole run (parameters, optimiser state, env
states, replay buffer: exact sizes from ``eval_shape`` of ``algo.init``). While a member
is updated it also needs a working set: the old state kept for divergence isolation and
the new one (not for the replay buffer, which XLA writes in place), and the update's
transients (rollout, activations, sampled batches): XLA's own figure, the temporaries
of one member's ``update`` compiled alone (``xla_transient_bytes``), so no learner
estimates its memory by hand. The carry is donated, so the state is held once.

A population whose working sets do not all fit the budget is updated in batches: each
device runs its members ``member_batch`` at a time, in sequence, inside the same
compiled chunk (``runner.chunk.in_member_batches``), so only one batch's working set is
live per device. The plan picks the largest batch that fits, and on CPU at most one
whose working set stays near the cache (large vmapped batches of small kernels run
slower there). Results do not depend on it (members never interact).
"""
from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.config import ConfigError
from jaxrl.contract import bound_shared, shared_data, state_bytes_by_part

if TYPE_CHECKING:
    from jaxrl.runner.config import RunConfig

GiB = 2 ** 30
# On CPU a batch of members is updated fastest while its working set stays near the
# cache (benchmarks/README.md, "Figures behind code comments").
CPU_BATCH_BYTES = 16 * 2 ** 20
# A plan is left provisional (no analysis compile: ``plan_memory``) only where the update's
# working sets could grow to this many times the states' own and stay near the cache: a
# PPO update's rollout and activations are a few times its states (CartPole: 3.4x), so a
# population that could leave the cache is analysed up front rather than compiled twice.
PROVISIONAL_HEADROOM = 8


@dataclasses.dataclass(frozen=True)
class MemoryModel:
    """Bytes per member: ``parts`` of the state it holds for the whole run, and the
    update's ``transient`` working set (beyond old and new state)."""

    parts: Dict[str, int]
    transient: int
    analysed: bool = True  # False: ``transient`` is 0, not XLA's figure (a lower bound)
    shared: int = 0  # bytes held once per device for every member (an offline dataset)

    @property
    def state(self) -> int:
        return sum(self.parts.values())

    @property
    def working(self) -> int:
        """Bytes per member being updated: old and new state (the replay buffer is
        written in place), and the transients."""
        return 2 * (self.state - self.parts.get("replay", 0)) + self.transient

    def need(self, members: int, updated_at_once: int) -> int:
        return members * self.state + updated_at_once * self.working


def member_memory(algo, hp_one, transients: bool = True) -> MemoryModel:
    """The model of one member of ``algo`` with hyperparameters ``hp_one``; without
    ``transients``, a lower bound that needs no compile (enough to refuse a population
    whose states alone do not fit). Kept on the algorithm per hyperparameter structure
    (an experiment plans once before its population exists and again for its devices):
    tracing ``init`` costs seconds on brax, and XLA's analysis a compile of ``update``."""
    abstract = _abstract(hp_one)
    cache_key = (jax.tree.structure(abstract), tuple(jax.tree.leaves(abstract)))
    cache = algo.__dict__.setdefault("_memory_models", {})
    if cache_key not in cache:  # the state's shapes, and the model by ``transients``
        shapes = jax.eval_shape(algo.init, jax.random.PRNGKey(0), abstract)
        shared = sum(np.asarray(x).nbytes for x in jax.tree.leaves(shared_data(algo)))
        cache[cache_key] = {"shapes": shapes,
                            False: MemoryModel(state_bytes_by_part(shapes), 0, analysed=False,
                                               shared=int(shared))}
    entry = cache[cache_key]
    if transients not in entry:
        entry[True] = dataclasses.replace(
            entry[False], transient=xla_transient_bytes(algo, entry["shapes"], abstract),
            analysed=True)
    return entry[transients]


def _abstract(tree):
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), jnp.result_type(x)), tree)


# XLA's figure depends only on the program: the learner, its static config and the
# shapes it is given (the env is in the state's shapes). Tests and sweeps build many
# learners of the same configuration; each is analysed once per process.
_TRANSIENTS: Dict[tuple, int] = {}
# The analysis needs XLA's buffer assignment, not fast code: skip the costly LLVM
# passes (about half the compile time on CPU; the figures are the same).
_ANALYSIS_OPTIONS = {"xla_backend_optimization_level": 0,
                     "xla_llvm_disable_expensive_passes": True}


def xla_transient_bytes(algo, state_shapes, hp_shapes) -> int:
    """XLA's temporaries for one member's ``update`` (state donated, as in the chunk).
    Where the backend gives no memory analysis, the state's size stands in for it."""
    key = (type(algo), repr(getattr(algo, "config", None)),
           jax.tree.structure(state_shapes), tuple(jax.tree.leaves(state_shapes)),
           jax.tree.structure(hp_shapes), tuple(jax.tree.leaves(hp_shapes)))
    if key not in _TRANSIENTS:
        def update(state, hp, data):  # shared arrays as the chunk's argument, not constants
            with bound_shared(algo, data):
                return algo.update(state, hp)

        shared = shared_data(algo)
        lowered = jax.jit(update, donate_argnums=0).lower(
            state_shapes, hp_shapes, None if shared is None else _abstract(shared))
        analysis = None
        for options in (_ANALYSIS_OPTIONS, None):  # a backend may not know the options
            try:
                analysis = lowered.compile(options).memory_analysis()
                break
            except Exception:  # noqa: BLE001 - or may have no memory analysis at all
                continue
        _TRANSIENTS[key] = (int(analysis.temp_size_in_bytes) if analysis is not None
                            else sum(state_bytes_by_part(state_shapes).values()))
    return _TRANSIENTS[key]


def available_memory_bytes() -> int:
    device = jax.devices()[0]
    if device.platform != "cpu":
        limit = (device.memory_stats() or {}).get("bytes_limit")
        if limit:
            return int(limit) * len(jax.devices())
    import psutil

    return int(psutil.virtual_memory().available)


def budget_bytes(run_config: RunConfig) -> int:
    """``memory_budget_gb`` if set, else ``memory_fraction`` of what is available."""
    if run_config.memory_budget_gb > 0:
        return int(run_config.memory_budget_gb * GiB)
    return int(run_config.memory_fraction * available_memory_bytes())


def parse_size(text: str) -> float:
    """``"16GiB"``, ``"16G"``, ``"512MiB"``, ``"512MB"`` or a bare number of GiB -> GiB."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?\s*", text.lower())
    if not match:
        raise ConfigError(f"--memory-budget {text!r}: give a size such as 16GiB, 512MiB "
                          f"or 20 (GiB)")
    value, unit = float(match.group(1)), match.group(2) or "g"
    return value * 1024.0 ** ("kmgt".index(unit) + 1) / GiB


@dataclasses.dataclass(frozen=True)
class MemoryPlan:
    """How a population is laid out: ``member_batch`` members per device updated at
    once, ``batches`` in sequence per chunk."""

    model: MemoryModel
    members: int
    devices: int
    member_batch: int
    budget: int
    reason: str = ""  # why batches: "memory", "cache" (CPU), "member_batch" (forced)
    # on CPU, every member at once by the states alone: the Run confirms it from its
    # compiled chunk's own analysis (``confirmed``) instead of compiling the update first
    provisional: bool = False

    @property
    def per_device(self) -> int:
        return self.members // self.devices

    @property
    def batches(self) -> int:
        return self.per_device // self.member_batch

    @property
    def need(self) -> int:
        return (self.model.need(self.members, self.devices * self.member_batch)
                + self.devices * self.model.shared)

    def describe(self) -> str:
        parts = ", ".join(f"{name} {format_bytes(b)}"
                          for name, b in self.model.parts.items() if b)
        why = {"memory": " to fit the budget", "member_batch": " (member_batch)",
               "cache": " (small batches keep each one's working set in the CPU cache)"}
        how = ("every member at once" if self.batches == 1 else
               f"{self.batches} batches of {self.member_batch:,} "
               f"member{'s' if self.member_batch > 1 else ''} per device, in sequence"
               f"{why.get(self.reason, '')}")
        skipped = ("checked against the compiled chunk" if self.provisional else
                   "XLA's analysis of the update skipped: nothing to choose")
        working = (f"update working set {format_bytes(self.model.working)}"
                   if self.model.analysed else
                   f"update working set at least {format_bytes(self.model.working)} "
                   f"({skipped})")
        shared = (f" + shared data {format_bytes(self.model.shared)} once per device"
                  if self.model.shared else "")
        return (f"memory: {self.members:,} members x (state {format_bytes(self.model.state)}: "
                f"{parts}) + {working} per member updated at once{shared}; {how}: about "
                f"{format_bytes(self.need)} of a {format_bytes(self.budget)} budget")

    def confirmed(self, chunk_temp_bytes: Optional[int]) -> "MemoryPlan":
        """A provisional plan made final from XLA's temporaries of the compiled chunk
        that updates ``member_batch`` members at once (per device): their working sets'
        transients, ``chunk_temp_bytes / member_batch`` each. The result may batch (a
        chunk to compile again) where those transients leave the cache or the budget."""
        if not self.provisional:
            return self
        if chunk_temp_bytes is None:  # no analysis on this backend: the lower bound stays
            return dataclasses.replace(self, provisional=False)
        model = dataclasses.replace(self.model, transient=chunk_temp_bytes // self.member_batch,
                                    analysed=True)
        return plan_memory(None, None, self.members, self.devices, None, model=model,
                           budget=self.budget)

    def record(self) -> Dict[str, object]:
        return {"state_bytes_per_member": self.model.state, "parts": dict(self.model.parts),
                "working_bytes_per_member": self.model.working,
                "working_analysed": self.model.analysed,
                "shared_bytes_per_device": self.model.shared,
                "member_batch": self.member_batch, "batches": self.batches,
                "batched_for": self.reason,
                "estimated_bytes": self.need, "budget_bytes": self.budget}


def plan_memory(algo, hp_one, members: int, devices: int, run_config: Optional[RunConfig],
                model: Optional[MemoryModel] = None, platform: str = "cpu",
                budget: Optional[int] = None) -> MemoryPlan:
    """The per-device batch (a divisor of the members per device) to update at once:
    the largest whose working sets fit the budget next to every member's state, and on
    CPU at most what keeps one batch's working set near the cache (``CPU_BATCH_BYTES``).
    ``run_config.member_batch`` forces one; ``budget`` (bytes) replaces the run
    config's (``None`` as run config: no forced batch). Raises ConfigError, naming the
    fix, when even one member per device at a time does not fit.

    XLA's analysis of the update (a compile of its own, nearly as long as a run's) is
    skipped where it could only confirm the plan: a forced ``member_batch``, or one member
    per device on CPU (the budget there is host memory, checked against the states). On
    CPU, where the states alone leave every member updated at once with room to spare
    (``PROVISIONAL_HEADROOM``), the plan is ``provisional``: the Run checks it against
    its compiled chunk (``confirmed``) and compiles again only if the chunk's working
    sets call for batches."""
    budget = budget_bytes(run_config) if budget is None else budget
    per_device = members // devices
    forced = run_config.member_batch if run_config is not None else 0
    states_only = False  # refused below, before any compile, if the states alone do not fit
    if model is None:
        model = member_memory(algo, hp_one, transients=False)
        states_only = not forced and model.need(members, devices) > budget
        nothing_to_choose = forced or (platform == "cpu" and per_device == 1)
        if not states_only and not nothing_to_choose:
            lower = plan_memory(algo, hp_one, members, devices, run_config, model, platform,
                                budget)
            roomy = per_device * lower.model.working * PROVISIONAL_HEADROOM <= CPU_BATCH_BYTES
            if platform == "cpu" and lower.batches == 1 and roomy:
                return dataclasses.replace(lower, provisional=True)
            model = member_memory(algo, hp_one)
    if forced:
        if per_device % forced:
            raise ConfigError(f"member_batch={forced} must divide the {per_device} members "
                              f"per device ({members} members on {devices} devices)")
        return MemoryPlan(model, members, devices, forced, budget, "member_batch")
    divisors = [d for d in range(1, per_device + 1) if per_device % d == 0]
    fitting = [d for d in divisors
               if MemoryPlan(model, members, devices, d, budget).need <= budget]
    if not fitting:
        fits = most_members(model, budget, devices)
        raise ConfigError(
            f"population of {members:,} members does not fit the memory budget of "
            f"{format_bytes(budget)} even updating one member per device at a time: their "
            f"states need {format_bytes(members * model.state)} ({format_bytes(model.state)} "
            f"each) and each of the {devices} devices {'at least ' * (not model.analysed)}"
            f"{format_bytes(model.working)} more "
            f"to update one; use at most {fits:,} members (--num-seeds), a smaller "
            f"buffer_size/num_envs, or raise --memory-budget")
    batch, reason = fitting[-1], "memory" if fitting[-1] < per_device else ""
    if platform == "cpu":
        cap = max(1, CPU_BATCH_BYTES // max(model.working, 1))
        small = [d for d in fitting if d <= cap]
        if small and small[-1] < batch:
            batch, reason = small[-1], "cache"
            if batch < cap // 4:  # the population divides badly: a batch above the cap
                batch = min(d for d in fitting if d >= cap // 4)
    return MemoryPlan(model, members, devices, batch, budget, reason)


def most_members(model: MemoryModel, budget: int, devices: int) -> int:
    """The largest population (a multiple of ``devices``) that fits ``budget`` when
    updated one member per device at a time (0 if none does)."""
    fits = max(0, (budget - devices * (model.working + model.shared)) // max(model.state, 1))
    return int(fits - fits % devices)


def format_bytes(n: float) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{int(n)} B"
