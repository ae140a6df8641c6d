"""Recurrent rollouts cut into training sequences that keep time order.

A recurrent learner's rollout is ``[T, N]`` (steps x envs). It trains on sequences of
``L`` consecutive steps of one env (``L = T``: whole rollouts), each starting from the
carry the policy had there when it acted (stored, as R2D2 stores them; Kapturowski et
al., 2019), and resetting inside the sequence where an episode ended, exactly as the
rollout did (``contract.reset_carry``). Minibatches are drawn from whole sequences, so
the shuffle never breaks one.

A stored carry was computed by the parameters that collected the rollout; after the
first minibatch step it is stale. R2D2's burn-in refreshes it: each chunk (but a
rollout's first, which has no steps before it) is preceded by the ``burn_in`` steps
before it, replayed with the current parameters and no gradient from the carry they
give the chunk (``BurnIn``).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxrl.contract import reset_carry


def carries_in(initial: Any, carries_out: Any, done: jax.Array) -> Any:
    """The carry each step of a rollout started from, ``[T, N, ...]``: ``initial`` (the
    rollout's first, already reset where an episode had just ended) at step 0, then the
    previous step's output carry, zeroed where that step ended an episode."""
    def shift(c0, out):
        later = reset_carry(done[:-1], out[:-1], jnp.zeros_like(out[:-1]))
        return jnp.concatenate([c0[None], later], axis=0)

    return jax.tree.map(shift, initial, carries_out)


def episode_starts(done: jax.Array) -> jax.Array:
    """``[T, N]``: where a step's carry must be reset (the previous step ended an
    episode). Step 0's carry comes in already reset, so it is never flagged."""
    return jnp.concatenate([jnp.zeros_like(done[:1]), done[:-1]], axis=0)


def to_sequences(tree: Any, length: int) -> Any:
    """Leaves ``[T, N, ...]`` as ``[T / length * N, length, ...]`` batch-major sequences
    (the chunk index outer, the env inner)."""
    def cut(x):
        t, n = x.shape[:2]
        x = x.reshape((t // length, length, n) + x.shape[2:])
        return jnp.swapaxes(x, 1, 2).reshape((t // length * n, length) + x.shape[3:])

    return jax.tree.map(cut, tree)


def sequence_starts(carries: Any, length: int) -> Any:
    """The stored carry at the first step of each ``to_sequences`` sequence:
    ``[T, N, ...]`` -> ``[T / length * N, ...]``."""
    return jax.tree.map(lambda c: c[::length].reshape((-1,) + c.shape[2:]), carries)


def time_major(tree: Any) -> Any:
    """``[B, L, ...]`` minibatch sequences as ``[L, B, ...]``."""
    return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), tree)


class BurnIn(NamedTuple):
    """What refreshes a sequence's first carry (R2D2's burn-in), per sequence:
    ``stored`` (the carry stored at its first step, kept where ``has_history`` is
    False), the carry stored ``burn_in`` steps earlier and those steps' observations and
    episode starts (``[S, burn_in, ...]``)."""
    stored: Any
    carry: Any
    obs: Any
    starts: jax.Array
    has_history: jax.Array


def burn_in_windows(carries: Any, obs: Any, starts: jax.Array, length: int,
                    burn_in: int) -> BurnIn:
    """For each ``to_sequences`` sequence of ``[T, N, ...]`` steps: the ``burn_in``
    steps just before it (the previous chunk's last, from the carry stored at their
    first). A rollout's first chunks have none (``has_history`` False; their windows are
    placeholders the replay discards)."""
    def previous(x):  # chunk k - 1 beside chunk k (chunk 0 beside itself)
        return to_sequences(jnp.concatenate([x[:length], x[:-length]], axis=0), length)

    num_envs = starts.shape[1]
    count = starts.shape[0] // length * num_envs
    return BurnIn(
        stored=sequence_starts(carries, length),
        carry=jax.tree.map(lambda c: previous(c)[:, length - burn_in], carries),
        obs=jax.tree.map(lambda o: previous(o)[:, length - burn_in:], obs),
        starts=previous(starts)[:, length - burn_in:],
        has_history=jnp.arange(count) >= num_envs)


def burned_carry(apply, burn: BurnIn) -> Any:
    """The carry a minibatch's sequences start from: ``apply(carry, obs, starts) ->
    carry`` (the network, time-major) over their burn-in steps, gradient stopped, where
    they have them; the stored carry elsewhere."""
    warm = jax.lax.stop_gradient(apply(burn.carry, time_major(burn.obs),
                                       time_major(burn.starts)))

    def pick(w, c):
        return jnp.where(burn.has_history.reshape((-1,) + (1,) * (c.ndim - 1)), w, c)

    return jax.tree.map(pick, warm, burn.stored)


# ---- replayed windows (off-policy, R2D2) ------------------------------------------------
# A replayed window is ``burn_in + L`` consecutive steps of one env, time-major
# (``[W, B, ...]``), with the carry stored at its first step. ``apply(carry, xs [T, B, ...],
# resets [T, B]) -> (carry, ys [T, B, ...])`` is a recurrent network (or its core).

def burned_in(apply, carry: Any, obs: jax.Array, starts: jax.Array, burn_in: int) -> Any:
    """``apply``'s outputs at a window's ``L`` trained steps: its first ``burn_in`` steps
    replayed from the stored carry to refresh it, the gradient stopped there."""
    if burn_in:
        carry = jax.lax.stop_gradient(apply(carry, obs[:burn_in], starts[:burn_in])[0])
    return apply(carry, obs[burn_in:], starts[burn_in:])[1]


def at_successors(apply, carry: Any, obs: jax.Array, starts: jax.Array,
                  final_obs: jax.Array, burn_in: int) -> Any:
    """``apply``'s outputs ``[L, B, ...]`` at each trained step's true successor
    (``final_obs``: the pre-reset observation where an episode ended), each read from
    the carry that step produced (before any reset), so a bootstrap sees its step's
    history even where the next stored step is another episode's first."""
    def step(c, inputs):
        c, _ = apply(c, *(x[None] for x in inputs))
        return c, c

    after = jax.lax.scan(step, carry, (obs, starts))[1][burn_in:]
    length, batch = final_obs.shape[0] - burn_in, final_obs.shape[1]
    flat = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), (after, final_obs[burn_in:]))
    _, out = apply(flat[0], flat[1][None], jnp.zeros((1, length * batch), bool))
    return jax.tree.map(lambda y: y[0].reshape((length, batch) + y.shape[2:]), out)


def sequence_n_step(reward: jax.Array, terminated: jax.Array, truncated: jax.Array,
                    gamma: jax.Array, n: int, burn_in: int):
    """Each trained step's n-step return inside its window, ``(total, last, discount)``
    each ``[L, B]``: windows stop at an episode's end and at the window's last step
    (where they bootstrap); the target is ``total + discount * V(successor of step
    t + last)`` (``bootstrap_values``)."""
    from jaxrl.components.targets import n_step_return

    length = reward.shape[0] - burn_in
    idx = jnp.arange(length)[:, None] + jnp.arange(n)[None, :]  # [L, n]

    def windows(x, fill):
        pad = jnp.full((n - 1,) + x.shape[1:], fill, x.dtype)
        return jnp.concatenate([x[burn_in:], pad])[idx]  # [L, n, B]

    cut = truncated.at[-1].set(True)
    per_window = jax.vmap(jax.vmap(n_step_return, in_axes=(1, 1, 1, None)),
                          in_axes=(0, 0, 0, None))
    return per_window(windows(reward, 0.0), windows(terminated, False), windows(cut, True),
                      gamma)


def bootstrap_values(values: Any, last: jax.Array) -> Any:
    """``values [L, B, ...]`` (at each trained step's successor) at step ``t + last[t, b]``
    of each sequence."""
    length, batch = last.shape
    rows, cols = jnp.arange(length)[:, None] + last, jnp.arange(batch)[None, :]
    return jax.tree.map(lambda v: v[rows, cols], values)


def sequence_priorities(errors: jax.Array) -> jax.Array:
    """A replayed sequence's priority from its steps' ``[L, B]`` absolute TD errors:
    ``0.9 max + 0.1 mean`` (R2D2's mixture: one surprising step keeps it sampled)."""
    return 0.9 * errors.max(axis=0) + 0.1 * errors.mean(axis=0)
