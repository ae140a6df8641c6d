"""Legal-action masks (pgx, Jumanji): which discrete actions a state allows.

A suite that has one gives a Dict observation with an ``action_mask`` part;
``FlattenObservation`` puts it last in the flat vector, so every learner finds it in
the same place, in its replay data too (the next state's mask is in the next
observation), and observation normalisation leaves it as it is. A learner honours it
where it picks or values actions: masked logits (PPO, discrete SAC), masked argmax and
masked bootstrap targets (the Q-learners), uniform exploration over legal actions.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

MASK_KEY = "action_mask"
# An illegal action's logit or Q-value: finite (a softmax gives it probability 0 and
# ``0 * log p`` stays 0 where -inf would give NaN), below every legal value.
ILLEGAL = float(np.finfo(np.float32).min)


@dataclasses.dataclass(frozen=True)
class ActionMask:
    """The mask's place in a flat observation: its last ``size`` entries (0: none)."""

    size: int = 0

    @property
    def active(self) -> bool:
        return self.size > 0

    def legal(self, obs):
        """Bool ``[..., size]``; None without a mask."""
        return obs[..., -self.size:] > 0.5 if self.active else None

    def apply(self, values, obs):
        """``values[..., A]`` (logits or Q-values) with illegal actions at ``ILLEGAL``."""
        if not self.active:
            return values
        return jnp.where(self.legal(obs), values, jnp.asarray(ILLEGAL, values.dtype))

    def keep_raw(self, normalised, obs):
        """Normalised observations with the mask entries as they were."""
        if not self.active:
            return normalised
        return jnp.concatenate([normalised[..., :-self.size], obs[..., -self.size:]], axis=-1)


def random_legal(key, legal) -> jax.Array:
    """A uniform legal action per leading index (action 0 where none is legal)."""
    return jax.random.categorical(key, jnp.where(legal, 0.0, -jnp.inf)).astype(jnp.int32)


def mask_size(space) -> int:
    """The mask's length in an observation space (0 without one)."""
    from jaxrl.envs import spaces

    if isinstance(space, spaces.Dict) and MASK_KEY in space.spaces:
        return int(np.prod(space.spaces[MASK_KEY].shape))
    return 0
