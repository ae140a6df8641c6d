"""Memory cores: recurrent layers a policy carries from step to step.

Every core is one flax module over a *time-major* sequence,
``core(carry, xs [T, *batch, F], resets [T, *batch]) -> (carry, ys [T, *batch, size])``:
where ``resets[t]`` the carry goes back to zeros *before* step ``t`` is read (an episode
starts there). Acting is the same call with ``T = 1``, so a policy evaluated step by step
and over a whole sequence is one piece of code (``tests/components/test_policy_memory.py``
checks they agree). A carry is one float array ``[*batch, carry_size]`` (zeros at the
start), so it can be stored, reset and sliced like an observation.

* ``gru``  gated recurrent unit (Cho et al., 2014), flax's ``GRUCell`` gate layout.
* ``lstm`` long short-term memory, forget-gate bias 1 (Jozefowicz et al., 2015).
* ``lru``  linear recurrent unit (Orvieto et al., 2023): a diagonal complex linear
  recurrence computed by a parallel (associative) scan over time, O(log T) deep.
"""
from __future__ import annotations

import dataclasses
from typing import Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.config import choice, static_field
from jaxrl.contract import reset_carry

MEMORY_CELLS = ("none", "gru", "lstm", "lru")
MemoryCell = choice(*MEMORY_CELLS)


@dataclasses.dataclass(frozen=True)
class MemorySpec:
    """Which core a policy carries, and how wide it is (static: it shapes the carry)."""

    cell: MemoryCell = static_field("none", "the recurrent core ('none': feed-forward)")
    size: int = static_field(128, "width of the core's output (and of its state)")

    @property
    def recurrent(self) -> bool:
        return self.cell != "none"

    @property
    def carry_size(self) -> int:
        return {"none": 0, "gru": 1, "lstm": 2, "lru": 2}[self.cell] * self.size

    def initial_carry(self, batch_shape: Tuple[int, ...] = ()) -> jax.Array:
        return jnp.zeros(tuple(batch_shape) + (self.carry_size,), jnp.float32)

    def core(self) -> nn.Module:
        return {"gru": GRU, "lstm": LSTM, "lru": LRU}[self.cell](self.size)

    def validate(self, owner: str = "memory") -> "MemorySpec":
        from jaxrl.config import ConfigError

        if self.cell not in MEMORY_CELLS:
            raise ConfigError(f"{owner}.cell={self.cell!r}: choose one of {MEMORY_CELLS}")
        if self.size <= 0:
            raise ConfigError(f"{owner}.size={self.size} must be a positive width")
        return self


def _reset(resets: jax.Array, carry: jax.Array) -> jax.Array:
    return reset_carry(resets, carry, jnp.zeros_like(carry))


def _gate_weights(cell: nn.Module, xs, gates: int, bias_init=nn.initializers.zeros):
    """A gated cell's input projection of every step (one matmul) and its recurrent
    kernel, for ``gates`` blocks of ``cell.size``."""
    width = gates * cell.size
    w_in = cell.param("input_kernel", nn.initializers.lecun_normal(), (xs.shape[-1], width))
    b_in = cell.param("input_bias", bias_init, (width,))
    w_h = cell.param("hidden_kernel", _stacked_orthogonal(gates), (cell.size, width))
    return xs @ w_in + b_in, w_h


class GRU(nn.Module):
    size: int

    @nn.compact
    def __call__(self, carry, xs, resets):
        projected, w_h = _gate_weights(self, xs, 3)
        b_hn = self.param("hidden_bias", nn.initializers.zeros, (self.size,))

        def step(h, inputs):
            x, reset = inputs
            h = _reset(reset, h)
            xr, xz, xn = jnp.split(x, 3, axis=-1)
            hr, hz, hn = jnp.split(h @ w_h, 3, axis=-1)
            r, z = nn.sigmoid(xr + hr), nn.sigmoid(xz + hz)
            n = jnp.tanh(xn + r * (hn + b_hn))
            h = (1.0 - z) * n + z * h
            return h, h

        return jax.lax.scan(step, carry, (projected, resets))


class LSTM(nn.Module):
    size: int

    @nn.compact
    def __call__(self, carry, xs, resets):
        size = self.size
        forget_one = jnp.zeros((4 * size,)).at[size:2 * size].set(1.0)
        projected, w_h = _gate_weights(self, xs, 4, lambda *_: forget_one)

        def step(ch, inputs):
            x, reset = inputs
            c, h = jnp.split(_reset(reset, ch), 2, axis=-1)
            i, f, g, o = jnp.split(x + h @ w_h, 4, axis=-1)
            c = nn.sigmoid(f) * c + nn.sigmoid(i) * jnp.tanh(g)
            h = nn.sigmoid(o) * jnp.tanh(c)
            return jnp.concatenate([c, h], axis=-1), h

        return jax.lax.scan(step, carry, (projected, resets))


class LRU(nn.Module):
    """``h_t = lambda * h_{t-1} + gamma * B x_t``, ``y_t = gelu(Re(C h_t) + D x_t)``, with
    ``lambda = exp(-exp(nu) + i exp(theta))`` initialised on a ring of radii
    ``[r_min, r_max]`` and ``gamma = sqrt(1 - |lambda|^2)`` (normalised inputs). A reset
    is a zero decay at that step, so one associative scan handles episode ends."""

    size: int
    r_min: float = 0.5
    r_max: float = 0.999
    max_phase: float = np.pi / 10

    @nn.compact
    def __call__(self, carry, xs, resets):
        n, in_dim = self.size, xs.shape[-1]

        def ring(key, shape):
            u = jax.random.uniform(key, shape)
            return jnp.log(-0.5 * jnp.log(u * (self.r_max ** 2 - self.r_min ** 2)
                                          + self.r_min ** 2))

        def phase(key, shape):
            return jnp.log(self.max_phase * jax.random.uniform(key, shape))

        nu_log = self.param("nu_log", ring, (n,))
        theta_log = self.param("theta_log", phase, (n,))
        b_init = nn.initializers.normal(1.0 / np.sqrt(2 * in_dim))
        b_re = self.param("B_re", b_init, (in_dim, n))
        b_im = self.param("B_im", b_init, (in_dim, n))
        c_init = nn.initializers.normal(1.0 / np.sqrt(n))
        c_re = self.param("C_re", c_init, (n, self.size))
        c_im = self.param("C_im", c_init, (n, self.size))
        d = self.param("D", nn.initializers.lecun_normal(), (in_dim, self.size))

        decay = jnp.exp(-jnp.exp(nu_log) + 1j * jnp.exp(theta_log))
        gamma = jnp.sqrt(1.0 - jnp.abs(decay) ** 2)
        inputs = (xs @ b_re + 1j * (xs @ b_im)) * gamma
        decays = jnp.where(resets[..., None], 0.0, decay).astype(jnp.complex64)
        h0 = jax.lax.complex(*jnp.split(carry, 2, axis=-1))
        inputs = inputs.at[0].add(decays[0] * h0)  # the carry enters at the first step

        def combine(earlier, later):
            (a1, b1), (a2, b2) = earlier, later
            return a2 * a1, a2 * b1 + b2

        _, hs = jax.lax.associative_scan(combine, (decays, inputs), axis=0)
        ys = nn.gelu(hs.real @ c_re - hs.imag @ c_im + xs @ d)  # Re(C h) + D x
        last = hs[-1]
        return jnp.concatenate([last.real, last.imag], axis=-1), ys


def _stacked_orthogonal(blocks: int):
    """An orthogonal init per gate block of a ``[H, blocks * H]`` recurrent kernel."""
    def init(key, shape, dtype=jnp.float32):
        rows, cols = shape
        keys = jax.random.split(key, blocks)
        return jnp.concatenate([nn.initializers.orthogonal()(k, (rows, cols // blocks), dtype)
                                for k in keys], axis=-1)

    return init
