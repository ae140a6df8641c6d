"""TD3+BC (Fujimoto & Gu, 2021) and ReBRAC (Tarasov et al., 2023): TD3 with behaviour
penalties toward the data's actions, on the off-policy skeleton.

The actor minimises ``-lambda Q_1(s, pi(s)) + actor_bc_coef * d(pi(s), a)`` with
``lambda = alpha / mean|Q_1(s, pi(s))|`` (the critic's scale divided out) and ``d`` the
squared distance averaged (TD3+BC) or summed (ReBRAC) over action dimensions. ReBRAC
also penalises the bootstrap: ``min_c Q'_c(s', a') - critic_bc_coef * d(a', a'_data)``
where the data has an action at ``s'``. ``rebrac`` is this learner registered with
ReBRAC's defaults (LayerNorm critics, summed distances, both penalties). With env steps
beside the dataset the same losses run on the mixed batches (offline-to-online).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Literal, Optional

import jax.numpy as jnp
from flax import struct

from jaxrl.algorithms.off_policy_ac import OfflineConfig, OfflineHParams
from jaxrl.algorithms.td3 import TD3, TD3Config, TD3HParams
from jaxrl.components.offline import behaviour_distance, q_normaliser
from jaxrl.config import NON_NEGATIVE, ConfigError, static_field, traced_field
from jaxrl.envs import Env

OVER_ACTIONS = ("mean", "sum")


@dataclasses.dataclass(frozen=True)
class TD3BCConfig(OfflineConfig, TD3Config):
    penalty_over_actions: Literal["mean", "sum"] = static_field(
        "mean", "the behaviour distance over action dimensions: 'mean' (TD3+BC's mean "
                "squared error) or 'sum' (ReBRAC's)")

    def validate(self):
        super().validate()
        if self.penalty_over_actions not in OVER_ACTIONS:
            raise ConfigError(f"penalty_over_actions={self.penalty_over_actions!r}: use one "
                              f"of {OVER_ACTIONS}")
        return self


@struct.dataclass
class TD3BCHParams(OfflineHParams, TD3HParams):
    alpha: float = traced_field(2.5, "weight of the normalised Q term: lambda = alpha / "
                                     "mean|Q|")
    actor_bc_coef: float = traced_field(1.0, "weight of the actor's distance to the data's "
                                             "actions")
    critic_bc_coef: float = traced_field(0.0, "weight of the target action's distance to the "
                                              "data's next action in the bootstrap (ReBRAC)")

    RULES = {**TD3HParams.RULES, "alpha": NON_NEGATIVE, "actor_bc_coef": NON_NEGATIVE,
             "critic_bc_coef": NON_NEGATIVE}


class TD3BC(TD3):
    name, Config, HParams = "td3_bc", TD3BCConfig, TD3BCHParams

    def actor_loss(self, actor_params, critic_params, at, batch, hp: TD3BCHParams):
        """``mean(-lambda Q_1(s, pi(s)) + actor_bc_coef * d(pi(s), a_data))``."""
        action = self.actor_outputs(actor_params, at)
        q = self.first_q(critic_params, at, action)
        distance = behaviour_distance(action, batch.action, self.config.penalty_over_actions)
        return jnp.mean(-q_normaliser(q, hp.alpha) * q + hp.actor_bc_coef * distance)

    def critic_target(self, learner, batch, hp: TD3BCHParams, key):
        """``r + discount (min_c Q'_c(s', a') - critic_bc_coef d(a', a'_data))``, the
        penalty only where the data has an action at ``s'``."""
        action = self.target_action(learner, batch.next_obs, hp, key)
        next_q = jnp.min(self.q_values(learner.target_critic_params, batch.next_obs, action),
                         axis=0)
        if batch.next_action is not None:
            distance = behaviour_distance(action, batch.next_action,
                                          self.config.penalty_over_actions)
            next_q = next_q - hp.critic_bc_coef * jnp.where(batch.has_next_action, distance, 0.0)
        return batch.reward + batch.discount * next_q


def make(env: Env, env_params: Any, config: TD3BCConfig = TD3BCConfig(),
         name: Optional[str] = None) -> TD3BC:
    """``name``: the registered name it runs under (errors and summaries say it)."""
    return TD3BC(env, env_params, config, name)


Config, HParams = TD3BCConfig, TD3BCHParams
