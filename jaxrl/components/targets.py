"""TD targets: n-step returns (replay windows) and Q(lambda) returns (rollouts).

Conventions (as ``compute_gae``): ``terminated`` ends an episode with no future value;
``truncated`` ends it by a time limit, and the value of the *final observation* (the one
before the automatic reset) is bootstrapped. ``next_values[t]`` is always the value of
step t's true successor, i.e. of ``final_obs[t]`` (which equals the next observation
when the episode goes on).
"""
from __future__ import annotations

from typing import Tuple

import jax
import jax.numpy as jnp


def n_step_return(rewards: jax.Array, terminated: jax.Array, truncated: jax.Array,
                  gamma: jax.Array) -> Tuple[jax.Array, jax.Array, jax.Array]:
    """The n-step return of one window of consecutive steps ``[n]`` of one env.

    The window stops after its first terminated or truncated step (the next steps belong
    to another episode). Returns ``(discounted_reward_sum, bootstrap_index,
    bootstrap_discount)``: the target is ``sum + discount * V(final_obs[index])``, with
    ``discount = gamma**m`` (m steps used) or 0 if the last step used terminated.
    """
    n = rewards.shape[0]
    done = terminated | truncated
    # Steps after the first done are outside the episode.
    done_before = jnp.cumsum(done) - done  # number of dones strictly before step k
    inside = done_before == 0
    discounts = gamma ** jnp.arange(n, dtype=jnp.float32)
    total = jnp.sum(jnp.where(inside, discounts * rewards, 0.0))
    used = jnp.sum(inside)
    last = used - 1
    discount = jnp.where(terminated[last], 0.0, gamma ** used.astype(jnp.float32))
    return total, last, discount


def q_lambda_returns(rewards: jax.Array, terminated: jax.Array, truncated: jax.Array,
                     next_values: jax.Array, gamma: jax.Array,
                     lam: jax.Array) -> jax.Array:
    """Peng's Q(lambda) returns over a time-major rollout ``[T, ...]`` (as PQN uses):
    ``G_t = r_t + gamma * (1 - terminated_t) * ((1 - lam) * V_{t+1} + lam * G_{t+1})``
    with ``V_{t+1} = next_values[t]`` (e.g. ``max_a Q(final_obs[t], a)``); at a
    terminated/truncated step or the rollout's last step, ``G_{t+1}`` is replaced by
    ``V_{t+1}`` (the trace is cut: the next step belongs to another episode or is
    unknown)."""
    def step(next_return, x):
        reward, term, trunc, value = x
        cut = term | trunc
        blended = jnp.where(cut, value, (1.0 - lam) * value + lam * next_return)
        ret = reward + gamma * (1.0 - term.astype(jnp.float32)) * blended
        return ret, ret

    _, returns = jax.lax.scan(step, next_values[-1], (rewards, terminated, truncated,
                                                      next_values), reverse=True)
    return returns
