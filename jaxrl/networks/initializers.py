"""Orthogonal initialisers that stay safe under ``vmap`` on CPU.

An orthogonal init is a QR decomposition, a LAPACK call on CPU. jaxlib 0.10.x and
0.11.0 split a *batched* LAPACK call (what ``vmap`` over members, seeds or critics makes
of it) across XLA:CPU's intra-op thread pool and block the calling thread until the
pieces are done; two such calls running at once (one per host device, or two
independent thunks) can occupy every pool thread while their pieces wait behind them,
and the program never finishes (``benchmarks/repro/jax_0_10_lapack_qr_hang.py``; fixed
upstream in jax commit 859992407d, after 0.11.0, which stops that splitting in the
open-source builds). A call on one matrix runs inline, so on CPU we map over the batch
(one QR at a time) instead of batching it. The values are bitwise those of the batched
call: LAPACK factorises each matrix of a batch on its own either way.

On GPU and TPU the batched decomposition is kept: it is one kernel there, and a
population of thousands of members must not become thousands of sequential ones.
"""
from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl.platform import on_cpu


def orthogonal(scale: float = 1.0) -> Callable:
    """``nn.initializers.orthogonal(scale)``, one matrix at a time under ``vmap`` on CPU."""
    base = nn.initializers.orthogonal(scale)

    def init(key, shape, dtype=jnp.float32):
        return one_at_a_time_on_cpu(lambda k: base(k, shape, dtype))(key)

    return init


def one_at_a_time_on_cpu(fn: Callable) -> Callable:
    """``fn`` of one array whose ``vmap`` is a ``lax.map`` over the batch on CPU (nested
    vmaps nest the maps) and a plain ``vmap`` elsewhere."""

    @jax.custom_batching.custom_vmap
    def unbatched(x):
        return fn(x)

    @unbatched.def_vmap
    def per_item(axis_size, in_batched, x):
        del axis_size
        if not in_batched[0]:
            return unbatched(x), False
        if not on_cpu():
            return jax.vmap(fn)(x), True
        return jax.lax.map(unbatched, x), True

    return unbatched
