"""Conservative Q-learning (Kumar et al., 2020), CQL(H) on SAC, on the off-policy
skeleton.

Each critic's loss adds ``cql_alpha * E_s[logsumexp_a Q(s, a) - Q(s, a_data)]``, which
pushes values down off the data's actions and up on them. On discrete actions the
logsumexp runs over every action exactly. On continuous ones it is estimated, as CQL's
authors do, from ``cql_samples`` actions of each of three proposals, importance-corrected
by their densities: uniform actions (``Q - log(2^-d)``), the policy's at ``s`` and the
policy's at ``s'``, both evaluated at ``s`` (``Q - log pi``). The actor and temperature
are SAC's. The critics' regression loss is half the squared error (SAC's), so
``cql_alpha`` here weighs as twice its value in implementations whose loss is the whole
squared error (CORL's 10 is 5 here).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.algorithms.off_policy_ac import OfflineConfig, OfflineHParams
from jaxrl.algorithms.sac import SAC, SACConfig, SACHParams
from jaxrl.components.distributions import tanh_gaussian_sample
from jaxrl.components.offline import conservative_penalty
from jaxrl.config import NON_NEGATIVE, ConfigError, static_field, traced_field
from jaxrl.envs import Env


@dataclasses.dataclass(frozen=True)
class CQLConfig(OfflineConfig, SACConfig):
    cql_samples: int = static_field(10, "continuous actions: actions per proposal in the "
                                        "logsumexp estimate")

    def validate(self):
        super().validate()
        if self.cql_samples < 1:
            raise ConfigError(f"cql_samples={self.cql_samples} must be >= 1 (CQL used 10)")
        return self


@struct.dataclass
class CQLHParams(OfflineHParams, SACHParams):
    cql_alpha: float = traced_field(5.0, "weight of the conservative penalty")

    RULES = {**SACHParams.RULES, "cql_alpha": NON_NEGATIVE}


def proposal_values(q_values, obs, actions, log_density) -> jax.Array:
    """``Q(s, a_k) - log p(a_k)`` for ``K`` proposed actions per state: ``actions``
    ``[K, B, d]``, ``log_density`` ``[K, B]`` (or a scalar); returns ``[C, B, K]``."""
    values = jax.vmap(lambda a: q_values(obs, a))(actions)  # [K, C, B]
    log_density = jnp.broadcast_to(log_density, actions.shape[:2])[:, None, :]
    return jnp.moveaxis(values - log_density, 0, -1)


class CQL(SAC):
    name, Config, HParams = "cql", CQLConfig, CQLHParams

    def critic_penalty(self, learner, batch, hp: CQLHParams, key):
        if self.discrete:
            def exact(params, q_data):
                q_all = self.q_values(params, batch.obs)  # [C, B, A]
                return hp.cql_alpha * jnp.sum(jax.vmap(conservative_penalty)(q_data, q_all))
            return exact

        n, d = self.config.cql_samples, self.action_dim
        batch_size = batch.reward.shape[0]
        uniform_key, here_key, next_key = jax.random.split(jax.random.fold_in(key, 2), 3)
        uniform = jax.random.uniform(uniform_key, (n, batch_size, d), minval=-1.0, maxval=1.0)

        def policy_samples(obs, k):
            mean, log_std = self.actor_outputs(learner.actor_params, obs)
            return jax.vmap(lambda kk: tanh_gaussian_sample(kk, mean, log_std))(
                jax.random.split(k, n))

        here, here_logp = jax.lax.stop_gradient(policy_samples(batch.obs, here_key))
        after, after_logp = jax.lax.stop_gradient(policy_samples(batch.next_obs, next_key))

        def sampled(params, q_data):
            def q_values(obs, action):
                return self.q_values(params, obs, action)
            q_out = jnp.concatenate([
                proposal_values(q_values, batch.obs, uniform, -d * jnp.log(2.0)),
                proposal_values(q_values, batch.obs, here, here_logp),
                proposal_values(q_values, batch.obs, after, after_logp)], axis=-1)
            return hp.cql_alpha * jnp.sum(jax.vmap(conservative_penalty)(q_data, q_out))
        return sampled


def make(env: Env, env_params: Any, config: CQLConfig = CQLConfig(),
         name: Optional[str] = None) -> CQL:
    """``name``: the registered name it runs under (errors and summaries say it)."""
    return CQL(env, env_params, config, name)


Config, HParams = CQLConfig, CQLHParams
