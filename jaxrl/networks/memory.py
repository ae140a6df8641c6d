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
* ``gtrxl`` gated transformer-XL (Parisotto et al., 2020): each step attends to the
  ``window`` steps before it within its episode, per layer, through GRU-type gates in
  place of residual connections, LayerNorm before each block; the carry is every
  layer's inputs over the last ``window`` steps and whether each is in the current
  episode. A whole sequence is one masked attention (parallel over time).
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
from jaxrl.networks.initializers import orthogonal

MEMORY_CELLS = ("none", "gru", "lstm", "lru", "gtrxl")
MemoryCell = choice(*MEMORY_CELLS)


@dataclasses.dataclass(frozen=True)
class MemorySpec:
    """Which core a policy carries, and how wide it is (static: it shapes the carry)."""

    cell: MemoryCell = static_field("none", "the recurrent core ('none': feed-forward)")
    size: int = static_field(128, "width of the core's output (and of its state)")
    window: int = static_field(32, "gtrxl: past steps each step attends to")
    layers: int = static_field(2, "gtrxl: transformer blocks")
    heads: int = static_field(4, "gtrxl: attention heads (must divide size)")

    @property
    def recurrent(self) -> bool:
        return self.cell != "none"

    @property
    def carry_size(self) -> int:
        if self.cell == "gtrxl":  # per layer and window slot: an input and its validity
            return self.layers * self.window * (self.size + 1)
        return {"none": 0, "gru": 1, "lstm": 2, "lru": 2}[self.cell] * self.size

    def initial_carry(self, batch_shape: Tuple[int, ...] = ()) -> jax.Array:
        return jnp.zeros(tuple(batch_shape) + (self.carry_size,), jnp.float32)

    def core(self) -> nn.Module:
        if self.cell == "gtrxl":
            return GTrXL(self.size, self.window, self.layers, self.heads)
        return {"gru": GRU, "lstm": LSTM, "lru": LRU}[self.cell](self.size)

    def validate(self, owner: str = "memory") -> "MemorySpec":
        from jaxrl.config import ConfigError

        if self.cell not in MEMORY_CELLS:
            raise ConfigError(f"{owner}.cell={self.cell!r}: choose one of {MEMORY_CELLS}")
        if self.size <= 0:
            raise ConfigError(f"{owner}.size={self.size} must be a positive width")
        if self.cell == "gtrxl":
            for name in ("window", "layers", "heads"):
                if getattr(self, name) < 1:
                    raise ConfigError(f"{owner}.{name}={getattr(self, name)} must be >= 1")
            if self.size % self.heads:
                raise ConfigError(f"{owner}.heads={self.heads} must divide "
                                  f"{owner}.size={self.size}")
        return self


def memory_field(between: str):
    """A config's ``memory`` setting (a nested ``MemorySpec``)."""
    return static_field(MemorySpec(), f"recurrent core between {between} (memory.cell="
                                      f"'gru', 'lstm', 'lru' or 'gtrxl'; hidden state reset "
                                      f"where an episode ends)")


def burn_in_field():
    """A config's ``burn_in`` setting (R2D2's burn-in of training sequences)."""
    return static_field(0, "steps before each training sequence replayed with the current "
                           "parameters to refresh its stored carry, no loss on them (at "
                           "most sequence_length)")


def check_memory_fields(config, sequence_length: int) -> bool:
    """A config's ``memory``, ``sequence_length`` and ``burn_in``: sequence settings need
    a recurrent core, and a burn-in fits in its sequence (``sequence_length``, resolved).
    Returns whether the config is recurrent."""
    from jaxrl.config import ConfigError

    config.memory.validate("memory")
    if not config.memory.recurrent:
        for name in ("sequence_length", "burn_in"):
            if getattr(config, name):
                raise ConfigError(f"{name}={getattr(config, name)} is for recurrent "
                                  f"policies: set memory.cell {MEMORY_CELLS[1:]} or leave "
                                  f"it 0")
        return False
    if not 0 <= config.burn_in <= sequence_length:
        raise ConfigError(f"burn_in={config.burn_in} must be between 0 and "
                          f"sequence_length={sequence_length}")
    return True


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


class GatingUnit(nn.Module):
    """GTrXL's GRU-type gate ``g(x, y)`` in place of the residual ``x + y``; the update
    gate's bias starts it near the identity (``bias``, 2 in the paper)."""

    bias: float = 2.0

    @nn.compact
    def __call__(self, x, y):
        size = x.shape[-1]
        wy = nn.Dense(3 * size, use_bias=False, name="from_block")(y)
        ux = nn.Dense(2 * size, use_bias=False, name="from_stream")(x)
        wr, wz, wg = jnp.split(wy, 3, axis=-1)
        ur, uz = jnp.split(ux, 2, axis=-1)
        r = nn.sigmoid(wr + ur)
        z = nn.sigmoid(wz + uz - self.bias)
        h = jnp.tanh(wg + nn.Dense(size, use_bias=False, name="candidate")(r * x))
        return (1.0 - z) * x + z * h


class GTrXL(nn.Module):
    """Batch-major inside: inputs ``[B, T, size]`` after a projection; keys are the
    ``window`` carried inputs then the sequence's own (``[B, window + T]``). Step ``t``
    sees keys ``t .. t + window`` (the window before it and itself) of its own episode
    (episode ids: the carried ones 0 if valid else -1, the sequence's the count of
    resets so far), with a learned bias per head and relative offset."""

    size: int
    window: int
    layers: int
    heads: int

    @nn.compact
    def __call__(self, carry, xs, resets):
        t_len, batch = xs.shape[0], xs.shape[1:-1]
        w, d = self.window, self.size
        xs = jnp.swapaxes(xs.reshape((t_len, -1, xs.shape[-1])), 0, 1)  # [B, T, F]
        resets = jnp.swapaxes(resets.reshape((t_len, -1)), 0, 1)  # [B, T]
        memory = carry.reshape((xs.shape[0], self.layers, w, d + 1))
        past, valid = memory[..., :d], memory[:, 0, :, d] > 0.5

        episode = jnp.cumsum(resets.astype(jnp.int32), axis=1)  # [B, T]
        key_episode = jnp.concatenate([jnp.where(valid, 0, -1), episode], axis=1)
        offset = w + jnp.arange(t_len)[:, None] - jnp.arange(w + t_len)[None, :]  # [T, W+T]
        in_window = (offset >= 0) & (offset <= w)
        mask = in_window[None] & (key_episode[:, None, :] == episode[:, :, None])
        position_bias = self.param("position_bias", nn.initializers.zeros, (self.heads, w + 1))
        bias = position_bias[:, jnp.clip(offset, 0, w)]  # [H, T, W+T]

        x = nn.Dense(d, name="embed")(xs)
        stored = []
        for layer in range(self.layers):
            keys = jnp.concatenate([past[:, layer], x], axis=1)  # this layer's inputs
            stored.append(keys[:, -w:])
            norm = nn.LayerNorm(name=f"attention_norm_{layer}")
            y = self._attention(norm(x), norm(keys), mask, bias, layer)
            x = GatingUnit(name=f"attention_gate_{layer}")(x, nn.relu(y))
            y = nn.LayerNorm(name=f"mlp_norm_{layer}")(x)
            y = nn.Dense(d, name=f"mlp_{layer}")(nn.relu(nn.Dense(d, name=f"mlp_in_{layer}")(y)))
            x = GatingUnit(name=f"mlp_gate_{layer}")(x, nn.relu(y))

        still = (key_episode[:, -w:] == episode[:, -1:]).astype(x.dtype)  # [B, W]
        slots = jnp.stack(stored, axis=1)  # [B, layers, W, d]
        flags = jnp.broadcast_to(still[:, None, :, None], slots.shape[:-1] + (1,))
        new_carry = jnp.concatenate([slots, flags], axis=-1).reshape(batch + (-1,))
        ys = jnp.swapaxes(x, 0, 1).reshape((t_len,) + batch + (d,))
        return new_carry, ys

    def _attention(self, queries, keys, mask, bias, layer):
        head_dim = self.size // self.heads

        def project(x, name):
            return nn.Dense(self.size, name=f"{name}_{layer}")(x).reshape(
                x.shape[:2] + (self.heads, head_dim))

        q, k, v = project(queries, "query"), project(keys, "key"), project(keys, "value")
        logits = jnp.einsum("bthd,bkhd->bhtk", q, k) / np.sqrt(head_dim) + bias[None]
        logits = jnp.where(mask[:, None], logits, jnp.finfo(logits.dtype).min)
        out = jnp.einsum("bhtk,bkhd->bthd", jax.nn.softmax(logits, axis=-1), v)
        return nn.Dense(self.size, name=f"attention_out_{layer}")(
            out.reshape(out.shape[:2] + (self.size,)))


def _stacked_orthogonal(blocks: int):
    """An orthogonal init per gate block of a ``[H, blocks * H]`` recurrent kernel."""
    def init(key, shape, dtype=jnp.float32):
        rows, cols = shape
        keys = jax.random.split(key, blocks)
        return jnp.concatenate([orthogonal()(k, (rows, cols // blocks), dtype)
                                for k in keys], axis=-1)

    return init
