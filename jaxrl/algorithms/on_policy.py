"""The on-policy update, written once: collect a rollout -> compute its targets -> epochs
of shuffled minibatches -> metrics. PPO and PQN are configurations of it: each says how
its rollout acts, what its targets are, its minibatch loss and its optimiser.

A learner's state is a ``flax.struct`` dataclass with at least ``params``, ``opt_state``,
``env_state``, ``obs``, ``key``, ``obs_stats``, ``update_count``, ``env_steps`` and
``carry`` (the policy's memory per env); its config is a ``RolloutShape`` with
``num_epochs``, ``num_minibatches`` and ``anneal_lr``, and, for recurrent forms,
``memory`` (a ``MemorySpec``) and ``sequence_length``.

A recurrent learner acts with a carry that ``collect`` resets where an episode ends
(terminated or truncated) and trains on whole sequences (``components.sequences``):
``targets`` returns per-sequence data, leading axis the sequence, and the same epochs of
shuffled minibatches draw whole sequences.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import jax
import jax.numpy as jnp
import optax

from jaxrl.components.normalization import ObservationNormalization, RunningMeanStd
from jaxrl.components.optim import linear_decay
from jaxrl.components.rollout import (ActFn, EnvStacks, Transition, collect,
                                      episode_metrics, shuffled_minibatches)
from jaxrl.components.sequences import (BurnIn, burn_in_windows, burned_carry, carries_in,
                                        episode_starts, sequence_starts, time_major,
                                        to_sequences)
from jaxrl.config import static_field
from jaxrl.contract import Learner, split_batch
from jaxrl.envs import Env
from jaxrl.networks.memory import check_memory_fields

# (params, *minibatch) -> (loss, {metric: value})
MinibatchLoss = Callable[..., Tuple[jax.Array, Dict[str, jax.Array]]]


def fit_epochs(loss: MinibatchLoss, optimizer: optax.GradientTransformation, params: Any,
               opt_state: Any, data: Any, key: jax.Array, num_epochs: int,
               num_minibatches: int):
    """``num_epochs`` passes over ``data`` (a pytree of ``[batch, ...]`` arrays), each
    in ``num_minibatches`` shuffled minibatches, one optimiser step per minibatch.
    Returns ``((params, opt_state), stats)``, stats stacked ``[epochs, minibatches]``
    with the gradient's global norm added."""
    grad_fn = jax.value_and_grad(loss, has_aux=True)

    def minibatch_step(carry, minibatch):
        params, opt_state = carry
        (_, stats), grads = grad_fn(params, *minibatch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        stats["grad_norm"] = optax.global_norm(grads)
        return (optax.apply_updates(params, updates), opt_state), stats

    def epoch(carry, perm_key):
        return jax.lax.scan(minibatch_step, carry,
                            shuffled_minibatches(perm_key, data, num_minibatches))

    return jax.lax.scan(epoch, (params, opt_state), jax.random.split(key, num_epochs))


class OnPolicyLearner(EnvStacks, Learner):
    """The update loop; a learner fills in the four methods below."""

    def __init__(self, env: Env, env_params: Any, config: Any, name: Optional[str] = None):
        super().__init__(env, env_params, config, name)
        self.set_learner_envs(env_params, config)
        self.obs_norm = ObservationNormalization(config.normalize_observations,
                                                 self.action_mask)
        self.memory = config.memory  # a MemorySpec

    def initial_carry(self, batch_size: int) -> Any:
        """The policy's memory at an episode's start, for ``batch_size`` envs."""
        return self.memory.initial_carry((batch_size,)) if self.memory.recurrent else ()

    def init_params(self, key: jax.Array) -> Any:
        obs = jnp.zeros(self.obs_shape, jnp.float32)
        if not self.memory.recurrent:
            return self.network.init(key, obs)
        return self.network.init(key, self.initial_carry(1), obs[None, None],
                                 jnp.zeros((1, 1), bool))

    # ---- what a learner fills in ------------------------------------------------------
    def rollout_policy(self, state, hp) -> Tuple[ActFn, Dict[str, jax.Array]]:
        """How the rollout acts (``act(obs, key) -> raw, env_action, extras``), and
        metrics of it (PQN's epsilon)."""
        raise NotImplementedError

    def targets(self, state, hp, batch: Transition) -> Tuple[Any, Any, Any]:
        """``(data, hp, state)``: what the minibatches are cut from (a tuple of
        ``[batch, ...]`` arrays), the hyperparameters the epochs use (after any
        schedule) and the state with what the targets changed (PPO's reward scaler)."""
        raise NotImplementedError

    def minibatch_loss(self, state, hp) -> MinibatchLoss:
        raise NotImplementedError

    def optimizer(self, hp, learning_rate) -> optax.GradientTransformation:
        raise NotImplementedError

    def schedule_metrics(self, hp) -> Dict[str, jax.Array]:
        """Values of scheduled hyperparameters to log (where a metric has no such name)."""
        return {}

    # ---- the update -------------------------------------------------------------------
    def update(self, state, hp):
        cfg = self.config
        rollout_key, epoch_key, key = jax.random.split(state.key, 3)
        act, metrics_of_acting = self.rollout_policy(state, hp)
        env_state, obs, carry, batch = collect(
            self.train_env, self.env_params, act, state.env_state, state.obs, rollout_key,
            cfg.num_steps, state.carry, self.initial_carry(self.num_rows))
        data, hp, state = self.targets(state, hp, batch)

        learning_rate = hp.learning_rate
        if cfg.anneal_lr:
            learning_rate = linear_decay(learning_rate, state.update_count, cfg.num_updates)
        (params, opt_state), stats = fit_epochs(
            self.minibatch_loss(state, hp), self.optimizer(hp, learning_rate), state.params,
            state.opt_state, data, epoch_key, cfg.num_epochs, cfg.num_minibatches)

        new_state = state.replace(
            params=params, opt_state=opt_state, env_state=env_state, obs=obs, carry=carry,
            key=key,
            obs_stats=self.obs_norm.update(state.obs_stats, batch.obs),
            update_count=state.update_count + 1,
            env_steps=state.env_steps.add(cfg.batch_size))
        metrics = jax.tree.map(jnp.mean, stats)
        metrics.update(episode_metrics(batch))
        metrics.update(self.rollout_metrics(batch))
        metrics.update(metrics_of_acting)
        metrics["learning_rate"] = jnp.asarray(learning_rate, jnp.float32)
        for name, value in self.schedule_metrics(hp).items():
            metrics.setdefault(name, jnp.asarray(value, jnp.float32))
        return new_state, metrics

    # ---- pieces -----------------------------------------------------------------------
    def normalizer(self, stats: RunningMeanStd):
        return lambda obs: self.obs_norm.apply(stats, obs)

    def recurrent_step(self, params, carry, obs) -> Tuple[Any, Tuple]:
        """A recurrent network on one step of a batch (a sequence of one, no reset):
        ``(carry, outputs)``, the outputs without their time axis."""
        carry, *outputs = self.network.apply(params, carry, obs[None],
                                             jnp.zeros((1,) + carry.shape[:-1], bool))
        return carry, jax.tree.map(lambda x: x[0], tuple(outputs))

    def replay(self, params, carry, obs, starts, *per_step) -> Tuple[Tuple, Tuple]:
        """Minibatch sequences (``[B, L, ...]``) replayed from their stored carries with
        the rollout's resets (``carry`` a ``BurnIn`` with ``burn_in`` steps): the
        network's outputs and ``per_step``, both flattened to ``[L * B, ...]`` in the same
        (time-major) order, for a per-step loss."""
        if isinstance(carry, BurnIn):
            carry = burned_carry(lambda *xs: self.network.apply(params, *xs)[0], carry)
        obs, starts, per_step = time_major((obs, starts, per_step))
        _, *outputs = self.network.apply(params, carry, obs, starts)
        flat = lambda x: x.reshape((-1,) + x.shape[2:])  # noqa: E731
        return jax.tree.map(flat, tuple(outputs)), jax.tree.map(flat, per_step)

    def sequences(self, initial_carry: Any, batch: Transition, per_step: Tuple) -> Tuple:
        """A recurrent rollout's training data: ``(carry, obs, starts, *rest)`` per
        sequence of ``sequence_length`` steps, where ``per_step = (obs, *rest)`` are
        ``[T, N, ...]`` and ``batch.extras["carry"]`` holds each step's output carry."""
        length = self.config.sequence_length or self.config.num_steps
        done = batch.terminated | batch.truncated
        carries = carries_in(initial_carry, batch.extras["carry"], done)
        obs, *rest = per_step
        starts = episode_starts(done)
        first = sequence_starts(carries, length)
        if self.config.burn_in:
            first = burn_in_windows(carries, obs, starts, length, self.config.burn_in)
        return split_batch((first, *to_sequences((obs, starts, *rest), length)))


def sequence_length_field():
    """A config's ``sequence_length`` setting (recurrent training sequences)."""
    return static_field(0, "recurrent training sequences: consecutive steps per sequence, "
                           "from the carry stored when they were collected (must divide "
                           "num_steps); 0: whole rollouts")


def check_sequence_fields(config) -> None:
    """A recurrent config's ``memory`` and ``sequence_length``: whole sequences must
    fill the rollout and the minibatches."""
    from jaxrl.config import ConfigError

    if config.sequence_length < 0:
        raise ConfigError(f"sequence_length={config.sequence_length} must be >= 0 (0: whole "
                          f"rollouts)")
    length = config.sequence_length or config.num_steps
    if not check_memory_fields(config, length):
        return
    if config.num_steps % length:
        raise ConfigError(f"sequence_length={length} must divide num_steps="
                          f"{config.num_steps}")
    if config.burn_in and not 0 < config.sequence_length < config.num_steps:
        raise ConfigError(f"burn_in={config.burn_in} needs chunked sequences: set "
                          f"sequence_length between 1 and num_steps={config.num_steps} "
                          f"(exclusive), or burn_in=0")
    count = config.num_envs * (config.num_steps // length)
    if count % config.num_minibatches:
        raise ConfigError(f"num_minibatches={config.num_minibatches} must divide the "
                          f"{count} training sequences (num_envs * num_steps / "
                          f"sequence_length) of a recurrent policy")
