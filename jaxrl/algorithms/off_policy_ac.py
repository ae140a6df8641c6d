"""What the off-policy actor-critics (SAC, TD3, DDPG) share, on the off-policy skeleton:
actions in the normalised box, a critic ensemble with Polyak targets, the clipped
(minimum over critics) bootstrap target and the critic regression.

Continuous actions live in ``[-1, 1]^d`` for the networks and the replay buffer;
``to_env`` maps them onto the env's bounds, so one learner fits Pendulum's ``[-2, 2]``
and brax's ``[-1, 1]`` alike. Bounds must be finite (a squashed actor needs them).

With ``memory.cell`` set the actor and each critic carry their own memory core (recurrent
SAC / TD3 / DDPG; Ni et al., 2022). Acting advances every core (a critic's on the
observation alone), so the carry stored beside each step starts replayed sequences for
all of them, as R2D2's does. The losses are the feed-forward ones read at a ``History``:
each trained step of a replayed window (after a burn-in with no gradient), or each step's
true successor for the bootstrap (from the carry that step produced); the n-step target
is cut at episode ends and at the window's last step.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Optional, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrl.algorithms.off_policy import (Batch, OffPolicyConfig, OffPolicyHParams,
                                         OffPolicyLearner, Sequences, make_optimizer)
from jaxrl.components.sequences import (at_successors, bootstrap_values, burned_in,
                                        episode_starts, sequence_n_step,
                                        sequence_priorities, time_major)
from jaxrl.components.target_networks import polyak
from jaxrl.config import NON_NEGATIVE, ConfigError, static_field, traced_field
from jaxrl.envs import Env
from jaxrl.envs.spaces import Box, Discrete
from jaxrl.networks import ACTIVATIONS, make_torso
from jaxrl.networks.off_policy import (ContinuousCritic, DiscreteCritic, Identity, WithMemory,
                                       ensemble_apply, ensemble_init)
from jaxrl.networks.torsos import IMAGE_TORSOS, Activation

from flax import struct


@dataclasses.dataclass(frozen=True)
class ActorCriticConfig(OffPolicyConfig):
    num_envs: int = static_field(1, "parallel envs per member")
    batch_size: int = static_field(256, "transitions per gradient step")
    hidden_sizes: Tuple[int, ...] = static_field((64, 64), "dense widths of actor and "
                                                           "critic torsos (256,256 for "
                                                           "MuJoCo-scale tasks)")
    activation: Activation = static_field("relu", "hidden-layer activation")
    num_critics: int = static_field(2, "critics in the ensemble; the bootstrap target "
                                       "takes their minimum (clipped double Q)")
    random_warmup: bool = static_field(True, "act uniformly at random until "
                                             "learning_starts (else with the initial policy)")
    actor_layer_norm: bool = static_field(True, "with layer_norm: LayerNorm in the actor "
                                                "too (false: in the critics alone, as "
                                                "TD3+BC's and ReBRAC's reference code)")

    def validate(self):
        super().validate()
        if self.num_critics < 1:
            raise ConfigError(f"num_critics={self.num_critics} must be >= 1 (2: twin "
                              f"critics, 1: DDPG's single critic)")
        return self


@struct.dataclass
class ActorCriticHParams(OffPolicyHParams):
    learning_rate: float = traced_field(3e-4, "Adam step size of actor, critics "
                                              "(and temperature)")
    learning_starts: int = traced_field(1_000, "env steps before the first gradient step")
    max_grad_norm: float = traced_field(10.0, "global-norm gradient clipping threshold "
                                              "(per network)")
    target_tau: float = traced_field(0.005, "target network Polyak rate (1: hard copy)")

    RULES = {**OffPolicyHParams.RULES, "learning_rate": NON_NEGATIVE}


@dataclasses.dataclass(frozen=True)
class OfflineConfig(ActorCriticConfig):
    """What the offline learners' configs share (BC, IQL, CQL, TD3+BC, ReBRAC):
    MuJoCo-scale networks, observations normalised by the dataset's statistics, and no
    memory (their losses read transitions, not replayed sequences)."""

    hidden_sizes: Tuple[int, ...] = static_field((256, 256), "dense widths of actor and "
                                                             "critic torsos")
    normalize_observations: bool = static_field(True, "normalise observations by the "
                                                      "dataset's mean and std")

    def validate(self):
        super().validate()
        if self.memory.recurrent:
            raise ConfigError("the offline learners are feed-forward: set memory.cell='none' "
                              "(rsac and rtd3 are the recurrent actor-critics)")
        return self


@struct.dataclass
class OfflineHParams(ActorCriticHParams):
    """The offline learners' traced defaults: a dataset needs no warm-up."""

    learning_starts: int = traced_field(0, "env steps before the first gradient step")


@struct.dataclass
class ActorCriticCarry:
    """The memory of a recurrent actor-critic per env: the actor's core and every
    critic's (``[*batch, carry]`` and ``[*batch, num_critics, carry]``)."""

    actor: jax.Array
    critic: jax.Array


@struct.dataclass
class History:
    """Where a recurrent actor or critic is read on a replayed window (time-major
    ``[W, B, ...]``, ``W = burn_in + L``): at its ``L`` trained steps, or with
    ``successors`` at each trained step's true successor (``final_obs``). Outputs are
    ``[L, B, ...]``, as a feed-forward network's are ``[B, ...]`` at a batch of
    observations."""

    obs: jax.Array
    starts: jax.Array        # where the carry resets (the previous step ended an episode)
    final_obs: jax.Array
    carry: ActorCriticCarry  # stored at each window's first step
    burn_in: int = struct.field(pytree_node=False)
    successors: bool = struct.field(pytree_node=False, default=False)

    @property
    def observed(self) -> jax.Array:
        """The observations the outputs belong to (an action mask reads them)."""
        return (self.final_obs if self.successors else self.obs)[self.burn_in:]

    def read(self, net: WithMemory, params, carry, *head_args):
        remember = functools.partial(net.apply, params, method=WithMemory.remember)
        if self.successors:
            features = at_successors(remember, carry, self.obs, self.starts, self.final_obs,
                                     self.burn_in)
        else:
            features = burned_in(remember, carry, self.obs, self.starts, self.burn_in)
        return net.apply(params, features, *head_args, method=WithMemory.read)


#: what an actor or critic is read at: a batch of observations, or a replayed History
Observed = Union[jax.Array, History]


class OffPolicyActorCritic(OffPolicyLearner):
    """Sets up action handling and the critic ensemble; subclasses add their actor."""

    #: whether the subclass accepts discrete action spaces (SAC's categorical form)
    supports_discrete = False

    def __init__(self, env: Env, env_params: Any, config: ActorCriticConfig,
                 name: Optional[str] = None):
        super().__init__(env, env_params, config, name)
        space = self.env.action_space(env_params)
        self.discrete = isinstance(space, Discrete)
        if self.discrete and not self.supports_discrete:
            raise ConfigError(f"{self.name} needs a continuous (Box) action space; this "
                              f"env's is {space}: use sac (categorical form) or dqn")
        if not self.discrete:
            if not isinstance(space, Box) or len(space.shape) != 1:
                raise ConfigError(f"{self.name} needs 1-D Box actions, got {space}")
            if not space.bounded:
                raise ConfigError(f"{self.name} squashes actions into the env's bounds, "
                                  f"which must be finite; this env's are "
                                  f"[{space.low}, {space.high}]")
            self.low = np.asarray(space.low, np.float32)
            self.high = np.asarray(space.high, np.float32)
        self.action_dim = space.n if self.discrete else int(space.shape[0])
        if self.discrete:
            self.critic = self.with_memory(lambda torso: DiscreteCritic(torso, space.n))
        elif self.recurrent:  # the torso embeds the observation before the core
            self.critic = WithMemory(self.torso(), config.memory, ContinuousCritic(
                tuple(config.hidden_sizes), ACTIVATIONS[config.activation],
                config.layer_norm))
        else:  # an image is embedded before the action joins it
            encoder = self.torso() if self.torso_kind in IMAGE_TORSOS else None
            self.critic = ContinuousCritic(tuple(config.hidden_sizes),
                                           ACTIVATIONS[config.activation], config.layer_norm,
                                           encoder)
        self.load_dataset()

    def torso(self, actor: bool = False):
        """A fresh actor or critic torso (``torso``: an MLP, or an image torso for
        ``[H, W, C]`` observations); an actor's has LayerNorm only with
        ``actor_layer_norm``."""
        cfg = self.config
        return make_torso(self.torso_kind, self.obs_shape, cfg.hidden_sizes, cfg.activation,
                          cfg.layer_norm and (cfg.actor_layer_norm or not actor))

    def with_memory(self, head: Callable[[Any], Any], actor: bool = False):
        """``head(torso)`` (an actor or critic), or with memory ``torso -> core ->
        head(Identity())``."""
        if not self.recurrent:
            return head(self.torso(actor))
        return WithMemory(self.torso(actor), self.config.memory, head(Identity()))

    # ---- what a learner fills in (beside init_learner and learn) ----------------------
    def sample_action(self, out, obs, key, hp, env_steps) -> jax.Array:
        """The exploration policy's normalised action from the actor's outputs ``out``
        at ``obs``."""
        raise NotImplementedError

    def greedy_action(self, out, obs) -> jax.Array:
        """The deterministic policy's action from the actor's outputs at ``obs``."""
        raise NotImplementedError

    def next_value(self, learner, at: Observed, hp, key) -> jax.Array:
        """The bootstrap value at successor observations (``[B]``, or ``[L, B]`` at a
        ``History``), before discounting: the clipped (minimum over critics) target
        critics' value of the next action (SAC adds its entropy bonus)."""
        raise NotImplementedError

    # ---- networks at observations or at a History ----------------------------------
    def init_actor(self, key):
        obs = jnp.zeros(self.obs_shape, jnp.float32)
        if not self.recurrent:
            return self.actor.init(key, obs)
        return self.actor.init(key, self.config.memory.initial_carry((1,)), obs[None, None],
                               jnp.zeros((1, 1), bool))

    def actor_outputs(self, params, at: Observed):
        if isinstance(at, History):
            return at.read(self.actor, params, at.carry.actor)
        return self.actor.apply(params, at)

    def observed(self, at: Observed) -> jax.Array:
        return at.observed if isinstance(at, History) else at

    def history(self, seq: Sequences, successors: bool = False) -> History:
        obs, final_obs, terminated, truncated = time_major(
            (seq.obs, seq.final_obs, seq.terminated, seq.truncated))
        return History(obs, episode_starts(terminated | truncated), final_obs, seq.carry,
                       self.config.burn_in, successors)

    def inputs(self, batch: Union[Batch, Sequences]) -> Tuple[Observed, jax.Array]:
        """What the losses read a batch at, and the actions taken there."""
        if isinstance(batch, Sequences):
            return self.history(batch), time_major(batch.action)[self.config.burn_in:]
        return batch.obs, batch.action

    # ---- memory ----------------------------------------------------------------
    def initial_carry(self, batch_size: int):
        if not self.recurrent:
            return ()
        memory = self.config.memory
        return ActorCriticCarry(memory.initial_carry((batch_size,)),
                                memory.initial_carry((batch_size, self.config.num_critics)))

    def act_step(self, learner, carry: ActorCriticCarry, obs, critics: bool = True):
        """One step of the actor's core (and, when ``critics``, every critic's):
        ``(carry, actor outputs)``. Evaluation leaves the critics' memory unused."""
        resets = jnp.zeros((1,) + carry.actor.shape[:-1], bool)
        actor_carry, out = self.actor.apply(learner.actor_params, carry.actor, obs[None],
                                            resets)
        critic_carry = carry.critic
        if critics:
            def remember(params, c):
                return self.critic.apply(params, c, obs[None], resets,
                                         method=WithMemory.remember)[0]

            critic_carry = jax.vmap(remember, in_axes=(0, -2), out_axes=-2)(
                learner.critic_params, carry.critic)
        return (ActorCriticCarry(actor_carry, critic_carry),
                jax.tree.map(lambda y: y[0], out))

    # ---- actions ---------------------------------------------------------------
    def explore(self, learner, obs, key, hp, env_steps):
        return self._explore(self.actor_outputs(learner.actor_params, obs), obs, key, hp,
                             env_steps)

    def explore_step(self, learner, carry, obs, key, hp, env_steps):
        if not self.recurrent:
            return super().explore_step(learner, carry, obs, key, hp, env_steps)
        carry, out = self.act_step(learner, carry, obs)
        return carry, self._explore(out, obs, key, hp, env_steps)

    def greedy(self, learner, obs):
        return self.greedy_action(self.actor_outputs(learner.actor_params, obs), obs)

    def greedy_step(self, learner, carry, obs):
        if not self.recurrent:
            return super().greedy_step(learner, carry, obs)
        carry, out = self.act_step(learner, carry, obs, critics=False)
        return carry, self.greedy_action(out, obs)

    def _explore(self, out, obs, key, hp, env_steps):
        """``sample_action``, replaced by uniform random actions during warm-up."""
        policy_key, random_key = jax.random.split(key)
        action = self.sample_action(out, obs, policy_key, hp, env_steps)
        if not self.config.random_warmup:
            return action
        batch = obs.shape[:obs.ndim - len(self.obs_shape)]
        if self.discrete:
            random = jax.random.randint(random_key, batch, 0, self.action_dim, jnp.int32)
        else:
            random = jax.random.uniform(random_key, batch + (self.action_dim,),
                                        minval=-1.0, maxval=1.0)
        return jnp.where(env_steps.at_least(hp.learning_starts), action, random)

    def to_env(self, action):
        if self.discrete:
            return action
        return self.low + (action + 1.0) * 0.5 * (self.high - self.low)

    def from_env(self, action):
        """A dataset's env actions in the normalised box (clipped to it), or as ints."""
        if self.discrete:
            return np.asarray(action, np.int32)
        scaled = 2.0 * (np.asarray(action, np.float32) - self.low) / (self.high - self.low) - 1.0
        return np.clip(scaled, -1.0, 1.0).astype(np.float32)

    def _example_action(self):
        if self.discrete:
            return jnp.zeros((), jnp.int32)
        return jnp.zeros((self.action_dim,), jnp.float32)

    # ---- critics ---------------------------------------------------------------
    def init_critics(self, key) -> Any:
        obs = jnp.zeros(self.obs_shape, jnp.float32)
        if not self.recurrent:
            return ensemble_init(self.critic, key, self.config.num_critics, obs,
                                 self._example_action())
        carry, resets = self.config.memory.initial_carry((1,)), jnp.zeros((1, 1), bool)
        return jax.vmap(lambda k: self.critic.init(k, carry, obs[None, None], resets,
                                                   self._example_action()[None, None]))(
            jax.random.split(key, self.config.num_critics))

    def q_values(self, params, at: Observed, action=None) -> jax.Array:
        """``[num_critics, B]`` for continuous actions, ``[num_critics, B, A]`` for
        discrete ones (``action`` ignored); ``[num_critics, L, B(, A)]`` at a History."""
        if isinstance(at, History):
            return jax.vmap(lambda p, c: at.read(self.critic, p, c, action),
                            in_axes=(0, -2))(params, at.carry.critic)
        return ensemble_apply(self.critic, params, at, action)

    def taken_q(self, params, at: Observed, action) -> jax.Array:
        """Every critic's value of the actions taken (``[num_critics, B]``, or
        ``[num_critics, L, B]`` at a History), discrete actions' picked from all."""
        q = self.q_values(params, at, action)
        if self.discrete:
            q = jnp.take_along_axis(q, action[None, ..., None], axis=-1)[..., 0]
        return q

    def first_q(self, params, at: Observed, action) -> jax.Array:
        """The first critic's values alone (TD3's actor follows it)."""
        first = jax.tree.map(lambda x: x[0], params)
        if isinstance(at, History):
            return at.read(self.critic, first, at.carry.critic[..., 0, :], action)
        return self.critic.apply(first, at, action)

    def critic_target(self, learner, batch: Union[Batch, Sequences], hp, key) -> jax.Array:
        """The n-step target ``reward + discount * next_value`` (``[B]``, or ``[L, B]``
        per trained step of replayed sequences); ``discount`` is 0 after termination and
        gamma^m where a window was truncated, bootstrapping from the pre-reset final
        observation."""
        if not isinstance(batch, Sequences):
            return batch.reward + batch.discount * self.next_value(learner, batch.next_obs,
                                                                   hp, key)
        value = self.next_value(learner, self.history(batch, successors=True), hp, key)
        reward, terminated, truncated = time_major(
            (batch.reward, batch.terminated, batch.truncated))
        total, last, discount = sequence_n_step(reward, terminated, truncated, hp.gamma,
                                                self.config.n_step, self.config.burn_in)
        return total + discount * bootstrap_values(value, last)

    def critic_step(self, hp, params, opt_state, batch: Union[Batch, Sequences],
                    target: jax.Array, learning_rate, penalty: Optional[Callable] = None
                    ) -> Tuple[Any, Any, jax.Array, jax.Array, jax.Array]:
        """One regression step of every critic onto ``target`` (importance-weighted
        squared error, halved, summed over critics), plus ``penalty(params, q)`` where
        given (CQL's; ``q``: the critics' values at the batch's actions). Returns (params,
        opt_state, loss, per-sample |TD error| averaged over critics (a sequence's: R2D2's
        mixture over its steps) as priorities, mean Q)."""
        at, action = self.inputs(batch)

        def loss_fn(params):
            q = self.taken_q(params, at, action)
            error = q - target[None]
            per_critic = jnp.mean(batch.weights * error ** 2, axis=tuple(range(1, q.ndim)))
            errors = jnp.mean(jnp.abs(error), axis=0)
            if errors.ndim > 1:
                errors = sequence_priorities(errors)
            loss = 0.5 * jnp.sum(per_critic)
            if penalty is not None:
                loss = loss + penalty(params, q)
            return loss, (errors, jnp.mean(q))

        (loss, (priorities, q_mean)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        optimizer = make_optimizer(hp, learning_rate)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, priorities, q_mean

    @staticmethod
    def update_target(target, online, hp, grad_step, due=True):
        """Polyak step toward ``online`` every ``target_period`` gradient steps (and only
        where ``due``: TD3 moves its targets with its delayed policy updates)."""
        due = due & ((grad_step + 1) % hp.target_period == 0)
        return polyak(target, online, jnp.where(due, hp.target_tau, 0.0))
