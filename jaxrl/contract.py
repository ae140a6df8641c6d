"""The algorithm contract: everything the runner, CLI, benchmarks and outer loops may use.

An algorithm is two dataclasses and a ``make``:

* ``Config``  frozen dataclass of *static* fields (shapes, loop lengths): one compiled
  program per value; ``validate()`` checks it in Python before tracing.
* ``HParams`` ``flax.struct`` dataclass of *traced* fields: per-member pytree leaves
  (vmapped, sharded, perturbed by PBT, searched by ES); ``validate()`` checks concrete
  (possibly member-stacked) values.
* ``make(env, env_params, config) -> Algorithm`` (below).

Every registered algorithm runs the contract test suite (tests/contract/): a vmapped
member equals the run alone, no recompilation when a traced value changes, divergence
isolation, bitwise resume, 8 devices == 1 device, no PRNG key reuse.
"""
from __future__ import annotations

import contextlib
from typing import (Any, Callable, ClassVar, Dict, NamedTuple, Optional, Protocol, Tuple,
                    runtime_checkable)

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.envs import Env

Metrics = Dict[str, jax.Array]

#: Training-episode metrics every ``update`` returns (``components.rollout.episode_metrics``):
#: the sum of completed episodes' returns and their count, summed over a chunk.
EPISODE_RETURN_SUM = "episode_return_sum"
EPISODE_COUNT = "episode_count"
#: What a learner state's fields hold, for the memory model (``state_bytes_by_part``).
MEMORY_PARTS = ("replay", "optimiser", "parameters", "env")

#: The learners of teams, named where a multi-agent env is given to another learner.
MULTI_AGENT_LEARNERS = ("ippo", "mappo", "rippo", "rmappo", "pqn_vdn", "iql", "vdn", "qmix")

#: The name of the member axis in the runner's vmapped programs (see ``any_member``).
POPULATION_AXIS = "population"
#: The mesh axis that spreads one member over several devices (``split_batch``).
DATA_AXIS = "data"


@runtime_checkable
class Algorithm(Protocol):
    """What the runner uses; nothing else is read from an algorithm."""

    name: ClassVar[str]
    Config: ClassVar[type]
    HParams: ClassVar[type]
    #: metrics summed over a chunk's kept updates (the rest are averaged)
    summed_metrics: ClassVar[Tuple[str, ...]]
    #: the metric whose finiteness (with the state's) decides ``healthy``; None: the state's
    health_metric: ClassVar[Optional[str]]
    config: Any
    env: Env          # the env as registered (what summaries name)
    env_params: Any
    eval_env: Env     # the env stack ``policy`` acts on (observation pipeline included)

    @property
    def num_updates(self) -> int:
        """Updates in a whole run (``train`` scans this many)."""

    @property
    def env_steps_per_update(self) -> int:
        """Env steps one member takes per ``update`` (for throughput and progress)."""

    @property
    def gradient_steps_per_update(self) -> int:
        """Optimiser steps one member takes per ``update`` (for gradient updates/s)."""

    def init(self, key: jax.Array, hp: Any) -> Any:
        """The learner state: everything needed to resume (params, optimiser, env state,
        observations, RNG, replay, normalisers, counters)."""

    def update(self, state: Any, hp: Any) -> Tuple[Any, Metrics]:
        """One update. Metrics are scalars, ``EPISODE_RETURN_SUM`` and ``EPISODE_COUNT``
        (completed training episodes) among them; ``summed_metrics`` are summed over a
        chunk, the rest averaged."""

    def policy(self, state: Any) -> "Policy":
        """The deterministic (greedy / mean) policy on batches of ``eval_env``
        observations, with its carry (empty for a feed-forward learner)."""

    def train(self, key: jax.Array, hp: Any) -> Tuple[Any, Metrics]:
        """Fused ``init`` + scan of ``num_updates`` updates: the unit an ES inner loop vmaps."""

    def healthy(self, state: Any, metrics: Metrics) -> jax.Array:
        """True when an update's results may be kept (its learned values are finite).
        The runner freezes a member at its last healthy state."""

    def check_hparams(self, hp: Any) -> None:
        """Raises ConfigError when concrete (possibly member-stacked) traced values do not
        fit the static config (e.g. an off-policy warm-up as long as the whole run)."""

    def keep(self, ok: jax.Array, new: Any, old: Any) -> Any:
        """The state to continue from: ``new`` where ``ok``, else ``old`` (at least its
        learned parts: an off-policy learner may keep stepping its env and replay)."""

    def fork(self, state: Any, salt: jax.Array) -> Any:
        """``state`` with its future randomness split off by ``salt``: when PBT copies one
        member's state into another, the copy must not replay the original's keys."""


class Policy(NamedTuple):
    """A policy with memory: ``act(carry, obs) -> (carry, action)`` over a batch of
    observations (leading axis), starting from ``initial_carry(batch_size)``. A
    feed-forward policy's carry is ``()`` (``stateless``). The caller resets a carry to
    its initial value where an episode starts (``reset_carry``)."""

    act: Callable[[Any, jax.Array], Tuple[Any, jax.Array]]
    initial_carry: Callable[[int], Any] = lambda batch_size: ()

    @staticmethod
    def stateless(act: Callable[[jax.Array], jax.Array]) -> "Policy":
        """A feed-forward ``act(obs) -> action`` as a ``Policy`` with an empty carry."""
        return Policy(lambda carry, obs: (carry, act(obs)))


def as_policy(policy: Any) -> Policy:
    """``policy`` itself, or a plain ``act(obs) -> action`` as a stateless one."""
    return policy if isinstance(policy, Policy) else Policy.stateless(policy)


def reset_carry(done: jax.Array, carry: Any, initial: Any) -> Any:
    """``carry`` with the rows where ``done`` (``[batch]``) set back to ``initial``."""
    def reset(c, c0):
        return jnp.where(done.reshape(done.shape + (1,) * (c.ndim - done.ndim)), c0, c)

    return jax.tree.map(reset, carry, initial)


def state_bytes_by_part(state: Any) -> Dict[str, int]:
    """Bytes of ``state`` (arrays or ``ShapeDtypeStruct`` leaves) per part of a member's
    memory (``MEMORY_PARTS``). A learner-state dataclass declares what its fields hold in
    a class attribute, ``memory_parts = {"parameters": ("params",), ...}``; a field it
    does not name counts as its enclosing field's part (else "other")."""
    import dataclasses

    parts = {part: 0 for part in (*MEMORY_PARTS, "other")}

    def walk(node: Any, part: str) -> None:
        if dataclasses.is_dataclass(node) and not isinstance(node, type):
            declared = getattr(type(node), "memory_parts", {})
            unknown = set(declared) - set(MEMORY_PARTS)
            if unknown:
                raise ValueError(f"{type(node).__name__}.memory_parts: {sorted(unknown)} "
                                 f"are not among {MEMORY_PARTS}")
            field_part = {name: p for p, names in declared.items() for name in names}
            for f in dataclasses.fields(node):
                if f.metadata.get("pytree_node", True):  # static fields hold no arrays
                    walk(getattr(node, f.name), field_part.get(f.name, part))
            return
        for leaf in jax.tree.leaves(node):
            dtype = getattr(leaf, "dtype", None) or np.asarray(leaf).dtype
            parts[part] += int(np.prod(np.shape(leaf))) * np.dtype(dtype).itemsize

    walk(state, "other")
    return parts


# Past this magnitude a value has diverged even where it stays finite: a saturating layer
# (a recurrent core's gates) can keep a network's outputs from overflowing while its
# weights run away (recurrent DQN at a learning rate of 1e30 reaches 1e30, never inf).
DIVERGED = 1e24


def all_sane(tree: Any) -> jax.Array:
    """True when every floating leaf of ``tree`` is finite and below ``DIVERGED`` in
    magnitude."""
    leaves = [jnp.all(jnp.abs(x) < DIVERGED) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def any_member(pred: jax.Array) -> jax.Array:
    """``pred`` of any member vmapped with this one in the runner's program (an unbatched
    scalar, per device), or ``pred`` itself outside it (``train`` alone, an ES vmap).

    Under ``vmap`` a ``lax.cond`` on a per-member predicate computes both branches. The
    members of a population step in lockstep, so their schedules (warm-up, TD3's delayed
    actor step) agree: gating optional work on ``lax.cond(any_member(due), ...)`` skips it
    for the whole program when no member needs it, and each member still applies its own
    ``due`` with ``where``, so a member's results do not depend on its neighbours.
    """
    try:
        return jax.lax.pmax(jnp.asarray(pred, jnp.int32), POPULATION_AXIS) > 0
    except NameError:  # no member axis is bound: this member alone decides
        return pred


def split_batch(tree: Any, axis: int = 0) -> Any:
    """``tree`` with its ``axis`` (envs, samples) split over the devices of the runner's
    data-parallel mesh axis (``RunConfig.data_parallel``), or ``tree`` itself outside one
    (one device per member, ``train`` alone, an ES vmap).

    A learner marks its batches with it; XLA then steps each device's share of the envs,
    differentiates each device's share of a minibatch and sums the gradients over that
    axis only. The program's results are those of one device, up to float summation
    order: a sharding annotation never changes the math.
    """
    from jax.sharding import PartitionSpec, get_abstract_mesh

    if DATA_AXIS not in get_abstract_mesh().axis_names:
        return tree
    spec = PartitionSpec(*([None] * axis), DATA_AXIS)
    return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, spec)
                        if jnp.ndim(x) > axis else x, tree)


def select(ok: jax.Array, new: Any, old: Any) -> Any:
    """``new`` where ``ok`` else ``old``, leaf by leaf."""
    return jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, old)


def as_learner_env(env: Env, env_params: Any, learner: str, multi_agent: bool = False) -> Env:
    """The env as every learner acts on it: MultiDiscrete actions as joint Discrete ones
    (a clear error where there are too many combinations). A multi-agent env
    (``envs.multi_agent``) only for a learner of teams, and only such an env for it."""
    from jaxrl.config import ConfigError
    from jaxrl.envs.multi_agent import is_multi_agent
    from jaxrl.envs.spaces import MultiDiscrete
    from jaxrl.envs.wrappers import JointDiscreteActions

    if is_multi_agent(env) != multi_agent:
        if multi_agent:
            raise ConfigError(f"{learner} trains a team of agents; {env.id} is a single-agent "
                              f"env: use a single-agent learner (ppo, dqn, ...) or a "
                              f"multi-agent env (jaxrl envs jaxmarl)")
        raise ConfigError(f"{learner} trains one agent; {env.id} is a multi-agent env: use "
                          f"a multi-agent learner ({', '.join(MULTI_AGENT_LEARNERS)})")
    if multi_agent or not isinstance(env.action_space(env_params), MultiDiscrete):
        return env
    try:
        return JointDiscreteActions(env, env_params)
    except ValueError as exc:
        raise ConfigError(f"{learner}: {exc}") from exc


@contextlib.contextmanager
def _traced_with(algo, attribute: str, value: Any):
    """``algo.<attribute>`` replaced by ``value`` while its functions are traced (``None``:
    unchanged)."""
    if value is None:
        yield
        return
    own = getattr(algo, attribute)
    setattr(algo, attribute, value)
    try:
        yield
    finally:
        setattr(algo, attribute, own)


def member_env(algo, env_params: Any):
    """Traces ``algo``'s functions with ``env_params`` (a member's own, traced under the
    population's vmap) in place of its ``env_params``: every learner steps, resets and
    evaluates its envs through ``self.env_params``, so each member runs on its own.
    ``None``: unchanged."""
    return _traced_with(algo, "env_params", env_params)


def shared_data(algo) -> Any:
    """What every member of a run reads and none owns (an offline learner's dataset), as
    host arrays, or None. The runner holds it once per device and passes it to its
    programs as an argument (``bound_shared``): never a copy per member, never a constant
    baked into a program."""
    return getattr(algo, "shared", None)


def bound_shared(algo, shared: Any):
    """Traces ``algo``'s functions with ``shared`` (a program's argument, one per device)
    in place of its host copy ``algo.shared``, as ``member_env`` does for env params.
    ``None``: unchanged (``train`` alone reads the host copy as a constant)."""
    return _traced_with(algo, "shared", shared)


def progress_unit(algo) -> Tuple[str, int]:
    """What a run's progress and throughput count, and how many per update: env steps, or
    an offline learner's gradient steps (it takes no env step)."""
    if algo.env_steps_per_update:
        return "env", algo.env_steps_per_update
    return "gradient", algo.gradient_steps_per_update


class Learner:
    """Shared defaults for the contract: the episode metrics summed, health is "the whole
    state and the ``health_metric`` are finite", keeping is a whole-state select,
    ``train`` is init + scan."""

    #: arrays every member reads and none owns (``shared_data``): an offline dataset
    shared: Any = None
    #: the dataset learned from (``jaxrl.offline.dataset.Dataset``), if any: summaries
    #: add its description and the final evaluation in its normalised scores
    dataset: Any = None
    #: the state fields a warm start copies from another run (``RunConfig.init_from``)
    learned_fields: ClassVar[Tuple[str, ...]] = ()

    name: ClassVar[str]
    Config: ClassVar[type]
    HParams: ClassVar[type]
    summed_metrics: ClassVar[Tuple[str, ...]] = (EPISODE_RETURN_SUM, EPISODE_COUNT)
    health_metric: ClassVar[Optional[str]] = "loss"
    #: trains a team on a multi-agent env (``envs.multi_agent``), not one agent
    multi_agent: ClassVar[bool] = False

    def __init__(self, env: Env, env_params: Any, config: Any, name: Optional[str] = None):
        """``name``: the registered name it runs under (``c51`` is DQN's module under
        another name); errors and summaries say it."""
        self.name = name or self.name
        self.config = config.validate()
        self.env = as_learner_env(env, env_params, self.name, self.multi_agent)
        self.env_params = env_params
        self.base_env = env  # as ``jaxrl.envs.make`` built it (an exported policy acts on it)

    def rollout_metrics(self, batch: Any) -> Metrics:
        """Metrics of a rollout itself (a team's reward per agent)."""
        return {}

    def discrete_action_space(self, use_instead: str):
        """The env's action space, which must be discrete (else one line naming what to
        use instead)."""
        from jaxrl.config import ConfigError
        from jaxrl.envs.spaces import Discrete

        acting = getattr(self, "train_env", self.env)  # a team's: each agent's own
        space = acting.action_space(self.env_params)
        if not isinstance(space, Discrete):
            raise ConfigError(f"{self.name} needs a discrete action space; this env's is "
                              f"{space}: use {use_instead} for continuous actions")
        return space

    # the run's shape, as the config computes it (``RolloutShape``, ``OffPolicyConfig``)
    @property
    def num_updates(self) -> int:
        return self.config.num_updates

    @property
    def env_steps_per_update(self) -> int:
        return self.config.env_steps_per_update

    @property
    def gradient_steps_per_update(self) -> int:
        return self.config.gradient_steps_per_update

    def healthy(self, state, metrics: Metrics) -> jax.Array:
        return all_sane(state) & all_sane(self.health_value(metrics))

    def health_value(self, metrics: Metrics) -> Any:
        """The declared ``health_metric`` of an update (nothing when None)."""
        return metrics[self.health_metric] if self.health_metric else ()

    def check_hparams(self, hp) -> None:
        pass

    def keep(self, ok, new, old):
        return select(ok, new, old)

    def fork(self, state, salt):
        return state.replace(key=jax.random.fold_in(state.key, salt))

    def train(self, key: jax.Array, hp: Any):
        state = self.init(key, hp)
        return jax.lax.scan(lambda s, _: self.update(s, hp), state, None, self.num_updates)
