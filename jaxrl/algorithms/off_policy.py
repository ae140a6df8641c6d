"""The off-policy skeleton every replay-based learner fills in (DQN and its variants, SAC,
TD3 and DDPG): act, store, warm up, gradient steps per env step, with the
replay buffer, n-step targets and observation normalisation shared.

One ``update`` = ``rollout_steps`` steps of ``num_envs`` envs (acting with the
learner's exploration policy), appended to the replay buffer, then ``gradient_steps``
gradient steps on sampled n-step windows (discarded, by a per-member switch, until
``learning_starts`` env steps have been taken; not computed at all while every member
of the program is warming up). A learner supplies:

* ``init_learner(key, hp)``            its learned parts (params, targets, optimisers)
* ``explore(learner, obs, key, hp, env_steps)``  env actions for a batch of observations
* ``greedy(learner, obs)``             the deterministic policy (evaluation)
* ``to_env(action)`` (optional)        a stored action as the env takes it
* ``learn(learner, batch, hp, key, grad_step)``  one gradient step on a ``Batch``;
  returns (learner, per-sample priorities, scalar metrics), target updates included.

A learner with memory (``recurrent``) also supplies ``initial_carry(n)`` and acts with
``explore_step`` / ``greedy_step`` (carry in, carry out); the skeleton keeps each env's
carry in the state, resets it where an episode ended, stores the carry each step started
from beside the step, and samples windows of ``replay_window`` steps that ``learn``
receives as a ``Sequences`` batch (R2D2's stored-state replay; Kapturowski et al., 2019).

Where the data comes from is apart from how it is learned (``config.dataset``):

* no dataset: the learner's own env steps, through its replay buffer (online);
* a dataset and ``total_timesteps=0``: the dataset alone (offline). No env is stepped and
  no replay buffer is held; each update is ``offline_steps_per_update`` gradient steps,
  the run ``offline_steps`` of them, and the policy is evaluated online in the env;
* a dataset and env steps (offline-to-online): each batch draws ``dataset_ratio`` of its
  rows from the dataset and the rest from the replay buffer (all from the dataset
  until the buffer can be sampled).

The dataset is the learner's ``shared`` data (``contract.shared_data``): the runner holds
it once per device and every member samples its own minibatches from it.

Divergence isolation keeps only the learned parts (``OffPolicyState.learner``, the
observation statistics and the gradient-step count) of an unhealthy update: the env and
the replay buffer move on, so no update ever copies the whole buffer.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Literal, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from jaxrl.components.counters import StepCount
from jaxrl.components.normalization import ObservationNormalization, RunningMeanStd
from jaxrl.components.optim import clipped_adam, linear_decay
from jaxrl.components.replay import ReplayBuffer, ReplayState
from jaxrl.components.rollout import EnvStacks, collect, episode_metrics
from jaxrl.contract import EPISODE_COUNT, EPISODE_RETURN_SUM
from jaxrl.components.targets import n_step_return
from jaxrl.config import (NON_NEGATIVE, POSITIVE, UNIT_INTERVAL, ConfigError, check_fields,
                          check_positive, check_ranges, check_update_size, static_field,
                          traced_field)
from jaxrl.contract import Learner, Policy, all_sane, any_member, select
from jaxrl.envs import Env
from jaxrl.networks.memory import (MemorySpec, burn_in_field, check_memory_fields,
                                   memory_field)
from jaxrl.networks.torsos import Activation, Torso, check_torso_fields


@dataclasses.dataclass(frozen=True)
class OffPolicyConfig:
    total_timesteps: int = static_field(500_000, "env steps per member over the whole run")
    num_envs: int = static_field(10, "parallel envs per member")
    rollout_steps: int = static_field(1, "env steps per env between gradient phases")
    gradient_steps: int = static_field(1, "gradient steps per update "
                                          "(per num_envs * rollout_steps env steps)")
    batch_size: int = static_field(100, "transitions (n-step windows) per gradient step")
    buffer_size: int = static_field(100_000, "replay capacity in transitions (all envs)")
    n_step: int = static_field(1, "n-step returns (window length)")
    prioritized: bool = static_field(False, "prioritised replay (proportional, exact)")
    hidden_sizes: Tuple[int, ...] = static_field((64, 64), "dense widths of the torso")
    activation: Activation = static_field("silu", "hidden-layer activation")
    torso: Torso = static_field("auto", "'cnn': the MinAtar CNN; 'impala': the IMPALA "
                                        "ResNet; 'auto': the CNN for [H, W, C] image "
                                        "observations, else an MLP")
    layer_norm: bool = static_field(False, "LayerNorm after each hidden layer")
    normalize_observations: bool = static_field(False, "running mean/std observation norm")
    anneal_lr: bool = static_field(False, "decay the learning rate linearly to 0")
    memory: MemorySpec = memory_field("torso and heads")
    sequence_length: int = static_field(0, "recurrent: steps of each replayed training "
                                           "sequence (after its burn_in)")
    burn_in: int = burn_in_field()
    dataset: str = static_field("", "offline data: a dataset directory or local Minari id "
                                    "(`jaxrl record` writes one), or random:N (N uniform "
                                    "random steps); with total_timesteps=0 the run is "
                                    "offline, else batches mix it with the learner's replay "
                                    "(dataset_ratio)")
    offline_steps: int = static_field(0, "an offline run's length (total_timesteps=0): "
                                         "gradient steps per member on the dataset (unused "
                                         "where the run steps its env)")
    offline_steps_per_update: int = static_field(100, "an offline run's gradient steps per "
                                                      "update (how often the runner checks "
                                                      "health and counts; gradient_steps is "
                                                      "the online ratio to env steps)")
    reward_normalization: Literal["none", "returns"] = static_field(
        "none", "dataset rewards: 'none', or 'returns' (x 1000 / (max - min episode "
                "return): IQL's and ReBRAC's locomotion scaling)")

    @property
    def offline(self) -> bool:
        """Learning from the dataset alone: no env step, no replay buffer."""
        return bool(self.dataset) and self.total_timesteps == 0

    @property
    def env_steps_per_update(self) -> int:
        return 0 if self.offline else self.num_envs * self.rollout_steps

    @property
    def num_updates(self) -> int:
        if self.offline:
            return self.offline_steps // self.offline_steps_per_update
        return self.total_timesteps // self.env_steps_per_update

    @property
    def gradient_steps_per_update(self) -> int:
        return self.offline_steps_per_update if self.offline else self.gradient_steps

    @property
    def replay_rows(self) -> int:
        return self.buffer_size // self.num_envs

    def validate(self):
        check_fields(self)
        check_positive(self, "num_envs", "rollout_steps", "gradient_steps",
                       "batch_size", "buffer_size", "n_step")
        self._check_data()
        if self.offline:
            check_torso_fields(self)
            return self
        check_positive(self, "total_timesteps")
        check_update_size(self.total_timesteps, self.env_steps_per_update,
                          "num_envs*rollout_steps")
        if self.replay_rows <= self.n_step:
            raise ConfigError(
                f"buffer_size={self.buffer_size} holds {self.replay_rows} steps per env "
                f"({self.num_envs} envs), which must exceed n_step={self.n_step}; raise "
                f"buffer_size to at least {(self.n_step + 1) * self.num_envs}")
        if self.batch_size > self.buffer_size:
            raise ConfigError(
                f"batch_size={self.batch_size} exceeds buffer_size={self.buffer_size}: every "
                f"batch would repeat transitions; lower batch_size or raise buffer_size to "
                f"at least {self.batch_size}")
        check_torso_fields(self)
        if check_memory_fields(self, self.sequence_length):
            self._check_sequences()
        return self

    def _check_data(self):
        if self.reward_normalization not in REWARD_NORMALIZATIONS:
            raise ConfigError(f"reward_normalization={self.reward_normalization!r}: use one "
                              f"of {REWARD_NORMALIZATIONS}")
        if not self.dataset:
            if self.total_timesteps == 0:
                raise ConfigError("total_timesteps=0 with no dataset: nothing to learn from; "
                                  "give env steps, or dataset=DIR for an offline run")
            return
        for name, value, why in (("prioritized", self.prioritized, "prioritised replay"),
                                 ("n_step", self.n_step != 1, f"n_step={self.n_step}"),
                                 ("memory.cell", self.memory.recurrent, "a recurrent learner")):
            if value:
                raise ConfigError(f"dataset={self.dataset!r}: {why} is not supported with a "
                                  f"dataset; set {name} to its default")
        if self.offline:
            check_positive(self, "offline_steps")
            check_positive(self, "offline_steps_per_update")
            check_update_size(self.offline_steps, self.offline_steps_per_update,
                              "offline_steps_per_update")

    def _check_sequences(self):
        if self.sequence_length < self.n_step:
            raise ConfigError(f"sequence_length={self.sequence_length} must be at least "
                              f"n_step={self.n_step} (a recurrent learner replays "
                              f"sequences; R2D2 used 80)")
        window = self.burn_in + self.sequence_length
        if self.replay_rows <= window:
            raise ConfigError(f"buffer_size={self.buffer_size} holds {self.replay_rows} steps "
                              f"per env, which must exceed burn_in + sequence_length="
                              f"{window}; raise buffer_size to at least "
                              f"{(window + 1) * self.num_envs}")


REWARD_NORMALIZATIONS = ("none", "returns")


@struct.dataclass
class OffPolicyHParams:
    learning_rate: float = traced_field(2.5e-4, "Adam step size (initial, if annealed)")
    gamma: float = traced_field(0.99, "discount factor")
    max_grad_norm: float = traced_field(10.0, "global-norm gradient clipping threshold")
    learning_starts: int = traced_field(5_000, "env steps before the first gradient step")
    target_tau: float = traced_field(0.005, "target network Polyak rate (1: hard copy)")
    target_period: int = traced_field(1, "gradient steps between target updates")
    per_alpha: float = traced_field(0.6, "prioritised replay exponent (if prioritized)")
    per_beta: float = traced_field(0.4, "initial importance-weight exponent, annealed "
                                        "linearly to 1 over the run (if prioritized)")
    dataset_ratio: float = traced_field(0.5, "offline-to-online (a dataset and env steps): "
                                             "fraction of each batch drawn from the dataset")

    RULES = {"dataset_ratio": UNIT_INTERVAL, "learning_rate": NON_NEGATIVE,
             "gamma": UNIT_INTERVAL,
             "max_grad_norm": POSITIVE, "learning_starts": NON_NEGATIVE,
             "target_tau": (lambda v: (0 < v) & (v <= 1), "must be in (0, 1]"),
             "target_period": POSITIVE, "per_alpha": NON_NEGATIVE,
             "per_beta": UNIT_INTERVAL}

    def validate(self):
        """Checks concrete (host) values; call before tracing."""
        check_fields(self)
        check_ranges(self, self.RULES)
        return self


@struct.dataclass
class Stored:
    """One env step as the replay buffer keeps it (raw observations)."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_obs: jax.Array  # true successor (pre-reset): what truncated steps bootstrap from
    carry: Any = ()       # the policy's carry the step started from (recurrent learners)


@struct.dataclass
class Sequences:
    """Sampled windows of consecutive steps of one env each (``[B, W, ...]``,
    observations normalised), with the carry stored at each window's first step."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_obs: jax.Array
    carry: Any           # [B, ...]
    weights: jax.Array   # [B] importance weights (ones without prioritised replay)


@struct.dataclass
class Batch:
    """Sampled n-step transitions, observations normalised: the target is
    ``reward + discount * V(next_obs)`` (``discount`` = gamma^m, 0 after termination)."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    discount: jax.Array
    next_obs: jax.Array
    weights: jax.Array  # importance weights (ones without prioritised replay)
    # the data's own action at next_obs (ReBRAC's critic penalty), where it has one
    next_action: Any = None
    has_next_action: Any = None


@struct.dataclass
class OffPolicyState:
    learner: Any              # learned parts: params, target params, optimiser states
    obs_stats: RunningMeanStd
    grad_steps: jax.Array     # gradient steps taken (after warm-up)
    replay: ReplayState
    env_state: Any
    obs: jax.Array
    key: jax.Array
    update_count: jax.Array
    env_steps: StepCount
    carry: Any = ()           # the policy's memory per env (() feed-forward)

    # what the memory model counts each field as (contract.state_bytes_by_part)
    memory_parts = {"replay": ("replay",),
                    "env": ("env_state", "obs", "carry")}


def make_optimizer(hp, learning_rate) -> optax.GradientTransformation:
    """Global-norm clipping then Adam (``jaxrl.components.optim``)."""
    return clipped_adam(hp.max_grad_norm, learning_rate)


PRIORITY_EPS = 1e-6  # keeps every sampled transition's probability above zero


class OffPolicyLearner(EnvStacks, Learner):
    """The act-store-learn loop; subclasses supply the four methods in the module
    docstring and set ``self.network``-related state in ``__init__`` after ``super``."""

    learned_fields = ("learner", "obs_stats")

    def __init__(self, env: Env, env_params: Any, config: OffPolicyConfig,
                 name: Optional[str] = None):
        super().__init__(env, env_params, config, name)
        self.set_learner_envs(env_params, config)
        # rows stored together as one replay item: a team step's agents (``[A, ...]``)
        self.replay_group = self.num_rows // config.num_envs
        self.obs_norm = ObservationNormalization(config.normalize_observations, self.action_mask)
        self.buffer = None if config.offline else ReplayBuffer(
            config.replay_rows, config.num_envs, self.replay_window(), config.prioritized)
        if config.dataset and self.replay_group != 1:
            raise ConfigError(f"{self.name}: datasets of team steps are not supported; "
                              f"leave dataset empty")

    def load_dataset(self) -> None:
        """Loads ``config.dataset`` as this learner's ``shared`` data: observations as
        the replay buffer keeps them, actions as the learner stores them (``from_env``),
        rewards as ``reward_normalization`` says. Subclasses call it at the end of their
        ``__init__`` (``from_env`` needs their action handling)."""
        if not self.config.dataset:
            return
        from jaxrl.offline.sources import load

        self.dataset = load(self.config.dataset, self.eval_env, self.env_params)
        data = self.dataset.transitions
        obs_dtype = self._example_step().obs.dtype
        reward = np.asarray(data.reward, np.float32)
        if self.config.reward_normalization == "returns":
            returns = self.dataset.episode_returns
            spread = float(np.max(returns) - np.min(returns)) if len(returns) else 0.0
            if spread <= 0:
                raise ConfigError(f"reward_normalization='returns': every episode of "
                                  f"{self.config.dataset!r} has the same return; use 'none'")
            reward = reward * (1000.0 / spread)
        self.shared = data.replace(
            obs=np.asarray(data.obs, obs_dtype), next_obs=np.asarray(data.next_obs, obs_dtype),
            action=self.from_env(np.asarray(data.action)),
            next_action=self.from_env(np.asarray(data.next_action)), reward=reward,
            terminated=np.asarray(data.terminated, bool),
            truncated=None,  # a truncated step bootstraps from next_obs: nothing reads it
            has_next_action=np.asarray(data.has_next_action, bool))

    def from_env(self, action: np.ndarray) -> np.ndarray:
        """A dataset's actions (as the env takes them) as this learner stores them: the
        inverse of ``to_env`` (host arrays)."""
        return np.asarray(action, self._action_dtype())

    # ---- what a learner fills in ------------------------------------------------------
    def init_learner(self, key: jax.Array, hp) -> Any:
        raise NotImplementedError

    def explore(self, learner, obs: jax.Array, key: jax.Array, hp,
                env_steps: StepCount) -> jax.Array:
        raise NotImplementedError

    def greedy(self, learner, obs: jax.Array) -> jax.Array:
        raise NotImplementedError

    def learn(self, learner, batch: Batch, hp, key: jax.Array,
              grad_step: jax.Array) -> Tuple[Any, jax.Array, Dict[str, jax.Array]]:
        raise NotImplementedError

    def exploration_metrics(self, hp, env_steps: StepCount) -> Dict[str, jax.Array]:
        return {}

    # ---- memory (``config.memory``) -----------------------------------------------------
    @property
    def recurrent(self) -> bool:
        return self.config.memory.recurrent

    def initial_carry(self, batch_size: int) -> Any:
        """The policy's memory at an episode's start, for ``batch_size`` envs (one core's
        carry; a learner with several cores overrides it)."""
        return self.config.memory.initial_carry((batch_size,)) if self.recurrent else ()

    def explore_step(self, learner, carry, obs, key, hp, env_steps) -> Tuple[Any, jax.Array]:
        return carry, self.explore(learner, obs, key, hp, env_steps)

    def greedy_step(self, learner, carry, obs) -> Tuple[Any, jax.Array]:
        return carry, self.greedy(learner, obs)

    def replay_window(self) -> int:
        """Consecutive steps per sample: the n-step window, or a recurrent learner's
        burned-in sequences."""
        cfg = self.config
        return cfg.burn_in + cfg.sequence_length if self.recurrent else cfg.n_step

    def to_env(self, action: jax.Array) -> jax.Array:
        """A stored action as the env takes it (identity; the actor-critics store
        normalised continuous actions and rescale them here)."""
        return action

    def learning_rate(self, hp, grad_step: jax.Array) -> jax.Array:
        """``hp.learning_rate``, decayed linearly to 0 over the run's gradient steps if
        ``anneal_lr``."""
        if not self.config.anneal_lr:
            return hp.learning_rate
        total = float(self.config.num_updates
                      * self.config.gradient_steps_per_update)  # may pass int32
        return linear_decay(hp.learning_rate, grad_step, total)

    # ---- the contract -------------------------------------------------------------
    def check_hparams(self, hp) -> None:
        if self.config.offline:
            return
        steps = self.num_updates * self.env_steps_per_update
        starts = int(np.max(np.asarray(hp.learning_starts)))
        if starts >= steps:
            raise ConfigError(
                f"learning_starts={starts} is at or beyond the run's {steps:,} env steps "
                f"(total_timesteps): {self.name} would take no gradient step; lower "
                f"learning_starts below {steps} or raise total_timesteps")

    def _example_step(self) -> Stored:
        """One env's stored step: observations in the env's own dtype where it is an
        integer one (uint8 images stay uint8 in replay), else float32."""
        space = self.train_env.observation_space(self.env_params)
        dtype = space.dtype if np.issubdtype(space.dtype, np.integer) else jnp.float32
        obs = jnp.zeros(self.obs_shape, dtype)
        action = jnp.zeros(self.train_env.action_space(self.env_params).shape,
                           self._action_dtype())
        flag = jnp.zeros((), bool)
        carry = jax.tree.map(lambda c: c[0], self.initial_carry(1))
        step = Stored(obs, action, jnp.zeros((), jnp.float32), flag, flag, obs, carry)
        return jax.tree.map(lambda x: jnp.zeros((self.replay_group,) + x.shape, x.dtype)
                            if self.replay_group > 1 else x, step)

    def _grouped(self, rollout: Any) -> Any:
        """Rollout leaves ``[T, rows, ...]`` as replay items ``[T, num_envs, ...]``
        (``[T, num_envs, A, ...]`` where each item is a team step of ``A`` rows)."""
        if self.replay_group == 1:
            return rollout
        return jax.tree.map(lambda x: x.reshape((x.shape[0], -1, self.replay_group)
                                                + x.shape[2:]), rollout)

    def _action_dtype(self):
        space = self.train_env.action_space(self.env_params)
        return jnp.int32 if jnp.issubdtype(space.dtype, jnp.integer) else jnp.float32

    def transition_bytes(self) -> int:
        """Bytes one stored env step takes in the replay buffer."""
        return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(self._example_step()))

    def init(self, key: jax.Array, hp) -> OffPolicyState:
        if self.config.dataset and self.dataset is None:  # its __init__ never loaded it
            raise ConfigError(f"{self.name} does not learn from datasets (its __init__ "
                              f"does not call load_dataset); leave dataset empty")
        learner_key, env_key, key = jax.random.split(key, 3)
        obs, env_state = self.train_env.reset(env_key, self.env_params)
        zero = jnp.zeros((), jnp.int32)
        replay = () if self.buffer is None else self.buffer.init(self._example_step())
        return OffPolicyState(self.init_learner(learner_key, hp), self._initial_obs_stats(),
                              zero, replay, env_state, obs, key, zero, StepCount.zero(),
                              self.initial_carry(self.num_rows))

    def _initial_obs_stats(self) -> RunningMeanStd:
        """Empty statistics, or with a dataset its observations' (kept fixed: D4RL
        learners normalise by the dataset's mean and std)."""
        stats = self.obs_norm.init(self.obs_shape)
        if self.dataset is None or not self.config.normalize_observations:
            return stats
        obs = np.asarray(self.dataset.transitions.obs, np.float64)
        mean = np.broadcast_to(obs.mean(0), np.shape(stats.mean)).astype(np.float32)
        var = np.broadcast_to(obs.var(0), np.shape(stats.var)).astype(np.float32)
        return RunningMeanStd(jnp.asarray(mean), jnp.asarray(var),
                              jnp.asarray(float(len(obs)), stats.count.dtype))

    def sample_dataset(self, key: jax.Array, batch_size: int, gamma, norm) -> Batch:
        """A uniform minibatch of the dataset (``self.shared``): this member's own draw."""
        data = self.shared
        index = jax.random.randint(key, (batch_size,), 0, data.reward.shape[0])
        take = lambda x: jnp.asarray(x)[index]  # noqa: E731
        discount = gamma * (1.0 - take(data.terminated).astype(jnp.float32))
        return Batch(norm(take(data.obs)), take(data.action), take(data.reward), discount,
                     norm(take(data.next_obs)), jnp.ones((batch_size,), jnp.float32),
                     take(data.next_action), take(data.has_next_action))

    def _mixed(self, dataset_batch: Batch, replay_batch: Batch, from_dataset) -> Batch:
        """Rows of ``dataset_batch`` where ``from_dataset`` (``[B]``), else the replay's
        (which has no next actions: ReBRAC's penalty is off on them)."""
        replay_batch = replay_batch.replace(
            next_action=jnp.zeros_like(dataset_batch.next_action),
            has_next_action=jnp.zeros_like(dataset_batch.has_next_action))

        def pick(d, r):
            return jnp.where(from_dataset.reshape(from_dataset.shape + (1,) * (d.ndim - 1)),
                             d, r)

        return jax.tree.map(pick, dataset_batch, replay_batch)

    def update(self, state: OffPolicyState, hp) -> Tuple[OffPolicyState, Dict[str, jax.Array]]:
        if self.config.offline:
            return self._offline_update(state, hp)
        cfg = self.config
        collect_key, learn_key, key = jax.random.split(state.key, 3)
        norm = self._normalizer(state.obs_stats)

        def act(carry, obs, act_key):
            carry_out, action = self.explore_step(state.learner, carry, norm(obs), act_key, hp,
                                                  state.env_steps)
            return carry_out, action, self.to_env(action), {"carry": carry}

        env_state, obs, carry, rollout = collect(
            self.train_env, self.env_params, act, state.env_state, state.obs, collect_key,
            cfg.rollout_steps, state.carry, self.initial_carry(self.num_rows))
        replay = self.buffer.add(state.replay, self._grouped(Stored(
            rollout.obs, rollout.action, rollout.reward, rollout.terminated, rollout.truncated,
            rollout.final_obs, rollout.extras["carry"])))
        obs_stats = (state.obs_stats if self.dataset is not None  # the dataset's, fixed
                     else self.obs_norm.update(state.obs_stats, rollout.obs))
        env_steps = state.env_steps.add(cfg.env_steps_per_update)
        training = env_steps.at_least(hp.learning_starts) & self.buffer.can_sample(replay)
        progress = env_steps.as_float() / float(cfg.total_timesteps)
        beta = hp.per_beta + (1.0 - hp.per_beta) * jnp.minimum(progress, 1.0)
        norm = self._normalizer(obs_stats)

        def gradient_step(carry, step_key):
            learner, replay, grad_steps = carry
            sample_key, learn_step_key = jax.random.split(step_key)
            sample = self.buffer.sample(replay, sample_key, cfg.batch_size, hp.per_alpha, beta)
            batch = self._batch(sample.data, sample.weights, hp.gamma, norm)
            if self.shared is not None:  # offline-to-online: part of the batch from the data
                sample_key = jax.random.fold_in(sample_key, 1)
                from_dataset = ((jnp.arange(cfg.batch_size) < hp.dataset_ratio * cfg.batch_size)
                                | ~self.buffer.can_sample(replay))
                batch = self._mixed(self.sample_dataset(sample_key, cfg.batch_size, hp.gamma,
                                                        norm), batch, from_dataset)
            new_learner, priorities, stats = self.learn(learner, batch, hp, learn_step_key,
                                                        grad_steps)
            learner = select(training, new_learner, learner)
            if cfg.prioritized:  # a diverging step must not leave inf/NaN in the replay
                old = replay.priorities[sample.rows, sample.envs]
                write = training & jnp.isfinite(priorities)
                replay = self.buffer.update_priorities(
                    replay, sample, jnp.where(write, priorities + PRIORITY_EPS, old))
            stats = jax.tree.map(lambda x: jnp.where(training, x, 0.0), stats)
            return (learner, replay, grad_steps + training.astype(jnp.int32)), stats

        def gradient_phase(carry):
            return jax.lax.scan(gradient_step, carry,
                                jax.random.split(learn_key, cfg.gradient_steps))

        def warming_up(carry):  # what gradient_phase returns for a member not training
            shapes = jax.eval_shape(gradient_phase, carry)[1]
            return carry, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

        # No gradient steps at all while every member of the program is warming up.
        (learner, replay, grad_steps), stats = jax.lax.cond(
            any_member(training), gradient_phase, warming_up,
            (state.learner, replay, state.grad_steps))

        new_state = OffPolicyState(learner, obs_stats, grad_steps, replay, env_state, obs, key,
                                   state.update_count + 1, env_steps, carry)
        metrics = jax.tree.map(jnp.mean, stats)
        metrics.update(episode_metrics(rollout))
        metrics.update(self.rollout_metrics(rollout))
        metrics.update(self.exploration_metrics(hp, state.env_steps))
        metrics["learning_rate"] = jnp.asarray(self.learning_rate(hp, grad_steps), jnp.float32)
        metrics["training"] = training.astype(jnp.float32)
        return new_state, metrics

    def _offline_update(self, state: OffPolicyState, hp):
        """``offline_steps_per_update`` gradient steps on the dataset alone: no env step."""
        learn_key, key = jax.random.split(state.key)
        norm = self._normalizer(state.obs_stats)

        def gradient_step(carry, step_key):
            learner, grad_steps = carry
            sample_key, learn_step_key = jax.random.split(step_key)
            batch = self.sample_dataset(sample_key, self.config.batch_size, hp.gamma, norm)
            learner, _, stats = self.learn(learner, batch, hp, learn_step_key, grad_steps)
            return (learner, grad_steps + 1), stats

        (learner, grad_steps), stats = jax.lax.scan(
            gradient_step, (state.learner, state.grad_steps),
            jax.random.split(learn_key, self.config.offline_steps_per_update))
        new_state = state.replace(learner=learner, grad_steps=grad_steps, key=key,
                                  update_count=state.update_count + 1)
        metrics = jax.tree.map(jnp.mean, stats)
        zero = jnp.zeros((), jnp.float32)
        metrics.update({EPISODE_RETURN_SUM: zero, EPISODE_COUNT: zero})
        metrics["learning_rate"] = jnp.asarray(self.learning_rate(hp, grad_steps), jnp.float32)
        metrics["training"] = jnp.ones((), jnp.float32)
        return new_state, metrics

    def policy(self, state: OffPolicyState):
        norm = self._normalizer(state.obs_stats)
        if not self.recurrent:
            return Policy.stateless(
                lambda obs: self.to_env(self.greedy(state.learner, norm(obs))))

        def act(carry, obs):
            carry, action = self.greedy_step(state.learner, carry, norm(obs))
            return carry, self.to_env(action)

        return Policy(act, self.initial_carry)

    def healthy(self, state: OffPolicyState, metrics) -> jax.Array:
        return all_sane((state.learner, state.obs_stats)) & \
            all_sane(self.health_value(metrics))

    def keep(self, ok, new: OffPolicyState, old: OffPolicyState) -> OffPolicyState:
        """Only the learned parts go back to the last healthy values; the env and replay
        (filled by acting with healthy parameters) move on: no buffer-sized copy."""
        learned = select(ok, (new.learner, new.obs_stats, new.grad_steps),
                         (old.learner, old.obs_stats, old.grad_steps))
        return new.replace(learner=learned[0], obs_stats=learned[1], grad_steps=learned[2])

    # ---- pieces ----------------------------------------------------------------------
    def _normalizer(self, stats: RunningMeanStd):
        return lambda obs: self.obs_norm.apply(stats, obs)

    def _batch(self, windows: Stored, weights: jax.Array, gamma, norm):
        """n-step windows ``[B, n, ...]`` -> transitions with n-step rewards and
        discounts, bootstrapping from the final observation of the last step used (a
        recurrent learner's windows -> ``Sequences``)."""
        if self.recurrent:
            return Sequences(norm(windows.obs), windows.action, windows.reward,
                             windows.terminated, windows.truncated, norm(windows.final_obs),
                             jax.tree.map(lambda c: c[:, 0], windows.carry), weights)
        reward, last, discount = jax.vmap(n_step_return, in_axes=(0, 0, 0, None))(
            windows.reward, windows.terminated, windows.truncated, gamma)
        index = jnp.arange(reward.shape[0])
        next_obs = windows.final_obs[index, last]
        return Batch(norm(windows.obs[:, 0]), windows.action[:, 0], reward, discount,
                     norm(next_obs), weights)
