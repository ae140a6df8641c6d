"""The compiled unit: one member's chunk of updates with divergence isolation."""
from __future__ import annotations

import math
from typing import Any, Callable, List

import jax
import jax.numpy as jnp
from flax import struct

from jaxrl.contract import Algorithm, bound_shared, member_env


@struct.dataclass
class Carry:
    """What the compiled loop threads through (and checkpoints): every member's learner
    state, its alive flag, its update count, and the update it was frozen after (-1)."""

    state: Any
    alive: jax.Array
    updates: jax.Array
    frozen_after: jax.Array


def plan_chunks(num_updates: int, target_chunks: int) -> List[int]:
    """Chunk lengths summing to ``num_updates``: equal chunks when a divisor lies within
    [ideal/2, 2*ideal] of the ideal size, else equal chunks plus one remainder. One
    program runs them all (the chunk's length is traced): the plan only sets where the
    host reports, evaluates and checkpoints. Searches at most a few thousand sizes."""
    target = max(1, min(target_chunks, num_updates))
    ideal = num_updates / target
    centre = max(1, round(ideal))
    for offset in range(0, min(centre, 4096)):
        for size in (centre + offset, centre - offset):
            if 1 <= size <= num_updates and ideal / 2 <= size <= ideal * 2 \
                    and num_updates % size == 0:
                return [size] * (num_updates // size)
    size = max(1, math.ceil(ideal))
    chunks = [size] * (num_updates // size)
    if num_updates % size:
        chunks.append(num_updates % size)
    return chunks


def make_chunk_fn(algo: Algorithm, env_per_member: bool = False) -> Callable:
    """One member's chunk: ``count`` updates (traced, so chunks of any length share one
    compiled program); an unhealthy update (``algo.healthy``) is discarded and the member
    frozen (``algo.keep``), and chunk metrics are reduced in-program over its kept updates
    (running sums: nothing is stacked per update). ``env_per_member``: the second
    argument is ``(hparams, env_params)``, the member's own env params (``Run.inputs``).
    ``shared``: the arrays every member reads (``contract.shared_data``; None without)."""

    def member_chunk(carry: Carry, inputs, count, shared=None):
        hp, env_params = inputs if env_per_member else (inputs, None)
        with member_env(algo, env_params), bound_shared(algo, shared):
            return member_updates(carry, hp, count)

    def member_updates(carry: Carry, hp, count):
        def masked(metrics, ok):
            return {name: jnp.where(ok, value, 0.0) for name, value in metrics.items()}

        def body(_, loop):
            carry, sums, kept = loop
            new_state, metrics = algo.update(carry.state, hp)
            ok = carry.alive & algo.healthy(new_state, metrics)
            state = algo.keep(ok, new_state, carry.state)
            frozen_after = jnp.where(carry.alive & ~ok, carry.updates, carry.frozen_after)
            sums = jax.tree.map(jnp.add, sums, masked(metrics, ok))
            return (Carry(state, ok, carry.updates + 1, frozen_after), sums,
                    kept + ok.astype(jnp.float32))

        shapes = jax.eval_shape(lambda: masked(algo.update(carry.state, hp)[1], True))
        sums = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        # a traced trip count: a while loop (reverse-mode AD never runs through it)
        carry, sums, kept = jax.lax.fori_loop(0, count, body,
                                              (carry, sums, jnp.zeros((), jnp.float32)))
        n_valid = jnp.maximum(kept, 1.0)
        reduced = {name: total if name in algo.summed_metrics else total / n_valid
                   for name, total in sums.items()}
        return carry, reduced

    return member_chunk


def in_member_batches(fn: Callable, batch: int) -> Callable:
    """``fn`` (members along the leading axis of its first two arguments; any further
    argument shared) applied to consecutive batches of ``batch`` members, one after
    another: a loop that slices each batch out of the (donated) carry and writes its
    results back in place, so only one batch's working set is live. Members are
    independent, so this changes no member's result."""

    def batched(carry, hp, *shared):
        members = jax.tree.leaves(carry)[0].shape[0]
        if members % batch:
            raise ValueError(f"{batch=} must divide the {members} members")

        def take(tree, i):
            return jax.tree.map(
                lambda x: jax.lax.dynamic_slice_in_dim(x, i * batch, batch), tree)

        out_shapes = jax.eval_shape(fn, take(carry, 0), take(hp, 0), *shared)
        metrics = jax.tree.map(lambda s: jnp.zeros((members, *s.shape[1:]), s.dtype),
                               out_shapes[1])

        def body(i, outputs):
            new = fn(take(outputs[0], i), take(hp, i), *shared)
            return jax.tree.map(
                lambda whole, part: jax.lax.dynamic_update_slice_in_dim(
                    whole, part, i * batch, 0), outputs, new)

        return jax.lax.fori_loop(0, members // batch, body, (carry, metrics))

    return batched
