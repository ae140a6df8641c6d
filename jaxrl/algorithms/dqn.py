"""Deep Q-learning (Mnih et al., 2015) and its standard extensions as options, on the
off-policy skeleton: double Q (van Hasselt et al., 2016), dueling heads (Wang et al.,
2016), n-step returns, prioritised replay (Schaul et al., 2016), and the value
representation (``value_distribution``): scalar, categorical (C51, Bellemare et al.,
2017), quantile (QR-DQN, Dabney et al., 2018) or HL-Gauss (Farebrother et al., 2024).

``c51`` and ``qrdqn`` are this learner registered with a distributional default.

With ``memory.cell`` set it is recurrent (R2D2; Kapturowski et al., 2019, ``rdqn``): the
acting carry is stored beside each step, training samples windows of ``burn_in +
sequence_length`` steps, replays the burn-in from the stored carry with no gradient, and
regresses every step of the sequence onto an n-step target (cut at episode ends and at
the sequence's end), bootstrapping from each step's true successor read with the carry
that step produced. A sequence's priority is ``0.9 max + 0.1 mean`` of its TD errors.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Optional

import jax
import jax.numpy as jnp
import optax
from flax import struct

from jaxrl.algorithms.off_policy import (Batch, OffPolicyConfig, OffPolicyHParams,
                                         OffPolicyLearner, Sequences, make_optimizer)
from jaxrl.components.exploration import decay_over_run, epsilon_greedy
from jaxrl.components.sequences import (at_successors, bootstrap_values, burned_in,
                                        episode_starts, sequence_n_step,
                                        sequence_priorities, time_major)
from jaxrl.components.target_networks import polyak
from jaxrl.components.value_heads import VALUE_DISTRIBUTIONS, ValueHead, check_value_fields
from jaxrl.config import UNIT_INTERVAL, ConfigError, choice, static_field, traced_field
from jaxrl.envs import Env
from jaxrl.networks import QNetwork, make_torso
from jaxrl.networks.heads import RecurrentQNetwork


TD_LOSSES = ("huber", "mse")
TDLoss = choice(*TD_LOSSES)
ValueDistribution = choice(*VALUE_DISTRIBUTIONS)


@dataclasses.dataclass(frozen=True)
class DQNConfig(OffPolicyConfig):
    double_q: bool = static_field(True, "double Q-learning: the online net picks the "
                                        "bootstrap action, the target net values it")
    dueling: bool = static_field(True, "dueling head (value + centred advantages)")
    value_distribution: ValueDistribution = static_field(
        "scalar", "Q-values, C51 atoms, QR-DQN quantiles or an HL-Gauss histogram")
    num_atoms: int = static_field(51, "atoms (categorical), quantiles (quantile) or bins "
                                      "(hl_gauss)")
    v_min: float = static_field(-100.0, "lowest value of the support (categorical, hl_gauss)")
    v_max: float = static_field(100.0, "highest value of the support (categorical, hl_gauss)")
    td_loss: TDLoss = static_field("huber", "scalar TD loss")
    anneal_lr: bool = static_field(True, "decay the learning rate linearly to 0")

    def validate(self) -> "DQNConfig":
        super().validate()
        check_value_fields(self.value_distribution, VALUE_DISTRIBUTIONS, self.num_atoms,
                           self.v_min, self.v_max)
        if self.td_loss not in TD_LOSSES:
            raise ConfigError(f"td_loss={self.td_loss!r}: choose one of {TD_LOSSES}")
        return self


@struct.dataclass
class DQNHParams(OffPolicyHParams):
    epsilon_start: float = traced_field(1.0, "exploration rate at step 0")
    epsilon_end: float = traced_field(0.05, "exploration rate after the decay")
    epsilon_fraction: float = traced_field(0.2, "fraction of the run over which epsilon "
                                                "decays linearly")

    RULES = {**OffPolicyHParams.RULES, "epsilon_start": UNIT_INTERVAL,
             "epsilon_end": UNIT_INTERVAL, "epsilon_fraction": UNIT_INTERVAL}


@struct.dataclass
class DQNLearner:
    params: Any
    target_params: Any
    opt_state: Any

    # what the memory model counts each field as (contract.state_bytes_by_part)
    memory_parts = {"parameters": ("params", "target_params"),
                    "optimiser": ("opt_state",)}


class DQN(OffPolicyLearner):
    name, Config, HParams = "dqn", DQNConfig, DQNHParams

    def __init__(self, env: Env, env_params: Any, config: DQNConfig, name: str | None = None):
        super().__init__(env, env_params, config, name)
        space = self.discrete_action_space(use_instead="ppo (or an actor-critic)")
        self.value_head = ValueHead(config.value_distribution, config.num_atoms,
                                    config.v_min, config.v_max)
        torso = make_torso(self.torso_kind, self.obs_shape, config.hidden_sizes,
                           config.activation, config.layer_norm)
        if self.recurrent:
            self.network = RecurrentQNetwork(torso, config.memory, space.n,
                                             self.value_head.outputs, config.dueling)
        else:
            self.network = QNetwork(torso, space.n, self.value_head.outputs, config.dueling)
        self.load_dataset()

    def init_learner(self, key, hp: DQNHParams) -> DQNLearner:
        obs = jnp.zeros(self.obs_shape, jnp.float32)
        if self.recurrent:
            params = self.network.init(key, self.initial_carry(1), obs[None, None],
                                       jnp.zeros((1, 1), bool))
        else:
            params = self.network.init(key, obs)
        return DQNLearner(params, params, make_optimizer(hp, hp.learning_rate).init(params))

    # ---- memory ----------------------------------------------------------------------
    def step(self, params, carry, obs):
        """One recurrent step over a batch: ``(carry, q_values)``, illegal actions masked."""
        carry, out = self.network.apply(params, carry, obs[None],
                                        jnp.zeros((1,) + carry.shape[:-1], bool))
        return carry, self.action_mask.apply(self.value_head.q_values(out[0]), obs)

    def explore_step(self, learner: DQNLearner, carry, obs, key, hp: DQNHParams, env_steps):
        if not self.recurrent:
            return super().explore_step(learner, carry, obs, key, hp, env_steps)
        carry, q = self.step(learner.params, carry, obs)
        return carry, epsilon_greedy(key, q, self.epsilon(hp, env_steps),
                                     self.action_mask.legal(obs))

    def greedy_step(self, learner: DQNLearner, carry, obs):
        if not self.recurrent:
            return super().greedy_step(learner, carry, obs)
        carry, q = self.step(learner.params, carry, obs)
        return carry, jnp.argmax(q, axis=-1).astype(jnp.int32)

    def q_values(self, params, obs) -> jax.Array:
        """Expected returns per action, illegal actions at ``ILLEGAL`` (masked argmax
        and masked bootstrap targets)."""
        return self.action_mask.apply(self.value_head.q_values(self.network.apply(params, obs)),
                                      obs)

    def epsilon(self, hp: DQNHParams, env_steps) -> jax.Array:
        return decay_over_run(hp.epsilon_start, hp.epsilon_end, hp.epsilon_fraction,
                              self.config.total_timesteps, env_steps)

    def explore(self, learner: DQNLearner, obs, key, hp: DQNHParams, env_steps):
        return epsilon_greedy(key, self.q_values(learner.params, obs),
                              self.epsilon(hp, env_steps), self.action_mask.legal(obs))

    def greedy(self, learner: DQNLearner, obs):
        return jnp.argmax(self.q_values(learner.params, obs), axis=-1).astype(jnp.int32)

    def exploration_metrics(self, hp, env_steps):
        return {"epsilon": self.epsilon(hp, env_steps)}

    def loss_fn(self, learner: DQNLearner, batch, hp: DQNHParams):
        """``params -> (loss, (priorities, q_taken))`` on a sampled batch: transitions, or
        a recurrent learner's sequences."""
        if isinstance(batch, Sequences):
            return self._sequence_loss(learner, batch, hp)
        return self._transition_loss(learner, batch)

    def learn(self, learner: DQNLearner, batch, hp: DQNHParams, key, grad_step):
        loss_fn = self.loss_fn(learner, batch, hp)
        (loss, (priorities, q_taken)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            learner.params)
        optimizer = make_optimizer(hp, self.learning_rate(hp, grad_step))
        updates, opt_state = optimizer.update(grads, learner.opt_state, learner.params)
        params = optax.apply_updates(learner.params, updates)
        due = (grad_step + 1) % hp.target_period == 0
        target_params = polyak(learner.target_params, params, jnp.where(due, hp.target_tau, 0.0))
        stats = {"loss": loss, "q_mean": jnp.mean(q_taken), "grad_norm": optax.global_norm(grads)}
        return DQNLearner(params, target_params, opt_state), priorities, stats

    def _transition_loss(self, learner: DQNLearner, batch: Batch):
        head = self.value_head
        index = jnp.arange(batch.action.shape[0])
        next_target = self.network.apply(learner.target_params, batch.next_obs)  # [B, A, K]
        chooser = learner.params if self.config.double_q else learner.target_params
        next_action = jnp.argmax(self.q_values(chooser, batch.next_obs), axis=-1)
        targets = jax.vmap(head.bootstrap_target)(next_target[index, next_action],
                                                  batch.reward, batch.discount)

        def loss_fn(params):
            out = self.network.apply(params, batch.obs)[index, batch.action]  # [B, K]
            squared = self.config.td_loss == "mse"
            losses, priorities = jax.vmap(lambda o, t: head.loss(o, t, squared))(out, targets)
            q_taken = head.q_values(out[:, None])[:, 0]
            return jnp.mean(batch.weights * losses), (priorities, q_taken)

        return loss_fn

    def sequence_targets(self, learner: DQNLearner, seq: Sequences, hp: DQNHParams):
        """``[L, B, K]``: each trained step's n-step target (cut at episode ends and at
        the sequence's last step), bootstrapping from the true successor of the last
        step used, read by the target net from the carry that step produced."""
        cfg, head = self.config, self.value_head
        burn = cfg.burn_in
        obs, final_obs, action, reward, terminated, truncated = time_major(
            (seq.obs, seq.final_obs, seq.action, seq.reward, seq.terminated, seq.truncated))
        starts = episode_starts(terminated | truncated)

        def successors(params):  # [L, B, A, K] at each step's true successor
            return at_successors(functools.partial(self.network.apply, params), seq.carry,
                                 obs, starts, final_obs, burn)

        next_target = successors(learner.target_params)
        chooser = learner.params if cfg.double_q else learner.target_params
        next_q = self.action_mask.apply(head.q_values(successors(chooser)), final_obs[burn:])
        next_action = jnp.argmax(next_q, axis=-1)
        chosen = jnp.take_along_axis(next_target, next_action[..., None, None], axis=2)[:, :, 0]
        total, last, discount = sequence_n_step(reward, terminated, truncated, hp.gamma,
                                                cfg.n_step, burn)
        boot = bootstrap_values(chosen, last)
        length, batch = last.shape
        targets = jax.vmap(head.bootstrap_target)(
            boot.reshape((length * batch,) + boot.shape[2:]), total.reshape(-1),
            discount.reshape(-1))
        return targets.reshape((length, batch) + targets.shape[1:])

    def _sequence_loss(self, learner: DQNLearner, seq: Sequences, hp: DQNHParams):
        """R2D2's loss over sampled sequences (time-major inside: ``[W, B, ...]``)."""
        cfg, head = self.config, self.value_head
        length = cfg.sequence_length
        obs, action, terminated, truncated = time_major(
            (seq.obs, seq.action, seq.terminated, seq.truncated))
        starts = episode_starts(terminated | truncated)  # the stored carry enters reset
        batch = action.shape[1]
        targets = self.sequence_targets(learner, seq, hp)
        targets = targets.reshape((length * batch,) + targets.shape[2:])

        def loss_fn(params):
            out = burned_in(functools.partial(self.network.apply, params), seq.carry, obs,
                            starts, cfg.burn_in)
            out = jnp.take_along_axis(out, action[cfg.burn_in:, :, None, None], axis=2)[:, :, 0]
            out = out.reshape((length * batch,) + out.shape[2:])  # [L * B, K]
            squared = cfg.td_loss == "mse"
            losses, errors = jax.vmap(lambda o, t: head.loss(o, t, squared))(out, targets)
            losses, errors = losses.reshape(length, batch), errors.reshape(length, batch)
            q_taken = head.q_values(out[:, None])[:, 0]
            return (jnp.mean(seq.weights * losses.mean(axis=0)),
                    (sequence_priorities(errors), q_taken))

        return loss_fn


def make(env: Env, env_params: Any, config: DQNConfig = DQNConfig(),
         name: Optional[str] = None) -> DQN:
    """``name``: the registered name it runs under (errors and summaries say it)."""
    return DQN(env, env_params, config, name)


Config, HParams = DQNConfig, DQNHParams
