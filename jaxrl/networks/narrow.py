"""Dense layers with a narrow side (a few actions, one value) computed without XLA:CPU's
slow narrow matmuls.

XLA:CPU runs a matmul whose contracted or output dimension is a handful wide far below
its speed for square ones. The profile of a PPO update on CartPole showed
(``benchmarks/profile_thunks.py``, 8 members, one core):

* the backward pass of the two-action policy head, ``dy @ W.T`` with a contraction of
  width 2, at 100-150 us per minibatch step: longer than the 64x64 hidden layer's
  matmuls, for 1/32 of their arithmetic;
* the same head's forward pass on the rollout's 4 envs at 7.5 us per step, twice the
  64-wide hidden layer before it.

Where the output is narrow, the input gradient is a sum of ``out`` scaled copies of the
kernel's rows (one fused elementwise loop), and a forward pass over a few rows is a
multiply and a reduction. Both are exact reformulations (float rounding aside). Wide
layers, and the kernel gradient (a contraction over the batch, which a matmul does
well), keep ``lax.dot_general``.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxrl.platform import on_cpu

#: An output this wide or narrower takes the elementwise paths.
NARROW = 8
#: A forward pass over this many rows or fewer is a multiply and a reduction.
FEW_ROWS = 16


def _few_rows(x, kernel):
    return jnp.sum(x[..., :, None] * kernel, axis=-2)


def _matmul(x, kernel):
    return x @ kernel


def _forward(x, kernel):
    if kernel.shape[1] > NARROW:
        return _matmul(x, kernel)
    rows = math.prod(x.shape[:-1])
    if isinstance(rows, int):
        return (_few_rows if rows <= FEW_ROWS else _matmul)(x, kernel)
    # a symbolic batch (a policy exported for any batch size, ``jaxrl.export``): the same
    # choice at run time, so the export computes what the run's policy computes
    return jax.lax.cond(jnp.asarray(rows) <= FEW_ROWS, _few_rows, _matmul, x, kernel)


@jax.custom_vjp
def narrow_matmul(x, kernel):
    """``x @ kernel`` for ``x: [..., in]`` and ``kernel: [in, out]`` with a narrow
    ``out``, differentiated through the elementwise input gradient above."""
    return _forward(x, kernel)


def _narrow_fwd(x, kernel):
    return _forward(x, kernel), (x, kernel)


def _narrow_bwd(residuals, dy):
    x, kernel = residuals
    width_in, width_out = kernel.shape
    dx = dy[..., 0:1] * kernel[:, 0]
    for k in range(1, width_out):
        dx = dx + dy[..., k:k + 1] * kernel[:, k]
    dkernel = x.reshape(-1, width_in).T @ dy.reshape(-1, width_out)
    return dx.astype(x.dtype), dkernel.astype(kernel.dtype)


narrow_matmul.defvjp(_narrow_fwd, _narrow_bwd)


def dense_dot_general(x, kernel, dimension_numbers, precision=None,
                      preferred_element_type=None):
    """A ``dot_general`` for ``flax.linen.Dense``: on CPU, ``narrow_matmul`` for its
    contraction (last axis of ``x`` with a 2-D kernel's first) when the output is narrow
    and no precision is asked for (the elementwise paths are full float precision anyway),
    ``lax.dot_general`` for everything else."""
    (contract_x, contract_k), (batch_x, batch_k) = dimension_numbers
    if (on_cpu() and kernel.ndim == 2 and kernel.shape[1] <= NARROW and not batch_x
            and not batch_k
            and tuple(contract_x) == (x.ndim - 1,) and tuple(contract_k) == (0,)
            and x.dtype == kernel.dtype and jnp.issubdtype(x.dtype, jnp.floating)
            and precision is None and preferred_element_type in (None, x.dtype)):
        return narrow_matmul(x, kernel)
    return jax.lax.dot_general(x, kernel, dimension_numbers, precision=precision,
                               preferred_element_type=preferred_element_type)
