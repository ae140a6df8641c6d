"""Torsos: observation -> features. Heads (``heads.py``) turn features into what a
learner needs; ``auto_torso`` picks a CNN for image observations, an MLP otherwise."""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from jaxrl.config import choice
from jaxrl.networks.initializers import orthogonal
from jaxrl.networks.narrow import dense_dot_general

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "elu": nn.elu, "gelu": nn.gelu,
               "silu": nn.silu}
TORSOS = ("auto", "mlp", "cnn", "impala")
IMAGE_TORSOS = ("cnn", "impala")  # take [H, W, C] observations
Activation = choice(*ACTIVATIONS)
Torso = choice(*TORSOS)


def dense(width: int, scale: float = np.sqrt(2)) -> nn.Dense:
    """Orthogonal init with the given gain, zero bias (the PPO/DQN convention). Narrow
    layers (action and value heads) avoid XLA:CPU's slow narrow matmuls (``narrow``)."""
    return nn.Dense(width, kernel_init=orthogonal(scale),
                    bias_init=nn.initializers.zeros, dot_general=dense_dot_general)


class MLPTorso(nn.Module):
    """Dense -> [LayerNorm] -> activation, per hidden width."""

    hidden_sizes: Sequence[int]
    activation: Callable = nn.relu
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x):
        for width in self.hidden_sizes:
            x = dense(width)(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = self.activation(x)
        return x


class ValidConv(nn.Module):
    """A stride-1, unpadded ("VALID") convolution computed as one matmul over the
    ``kh * kw`` shifted views of the input (im2col), with ``nn.Conv``'s parameters
    (``kernel [kh, kw, C, F]``, ``bias [F]``) and initialisation.

    XLA:CPU's convolution was the bottleneck of the MinAtar networks, worse still vmapped
    over members, whose kernels make it a grouped convolution (the figures:
    benchmarks/README.md, "The MinAtar convolution"). The sums are the same up to float
    rounding (``tests/components/test_narrow.py``)."""

    features: int
    kernel_size: Tuple[int, int]
    kernel_init: Callable = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x):
        kh, kw = self.kernel_size
        channels = x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (kh, kw, channels, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        h, w = x.shape[-3] - kh + 1, x.shape[-2] - kw + 1
        # patches[..., y, x, (i * kw + j) * C + c] = x[..., y + i, x + j, c]: the kernel's
        # own row-major order, so the kernel reshapes without a transpose
        patches = jnp.concatenate([x[..., i:i + h, j:j + w, :] for i in range(kh)
                                   for j in range(kw)], axis=-1)
        return patches @ kernel.reshape(kh * kw * channels, self.features) + bias


class MinAtarCNN(nn.Module):
    """The MinAtar network (Young & Tian, 2019): one 3x3 conv with 16 filters (stride 1),
    flattened, then the dense hidden layers. Takes ``[..., H, W, C]`` observations; the
    leading axes are batch axes."""

    hidden_sizes: Sequence[int] = (128,)
    activation: Callable = nn.relu
    layer_norm: bool = False
    filters: int = 16

    @nn.compact
    def __call__(self, x):
        batch = x.shape[:-3]
        x = x.reshape((-1,) + x.shape[-3:]).astype(np.float32)
        x = ValidConv(self.filters, (3, 3), kernel_init=orthogonal(np.sqrt(2)),
                      name="Conv_0")(x)
        if self.layer_norm:
            x = nn.LayerNorm()(x)
        x = self.activation(x)
        x = x.reshape(batch + (-1,))
        return MLPTorso(self.hidden_sizes, self.activation, self.layer_norm)(x)


class ResidualBlock(nn.Module):
    @nn.compact
    def __call__(self, x):
        channels = x.shape[-1]
        y = nn.Conv(channels, (3, 3), padding="SAME")(nn.relu(x))
        y = nn.Conv(channels, (3, 3), padding="SAME")(nn.relu(y))
        return x + y


class ImpalaResNet(nn.Module):
    """The IMPALA network (Espeholt et al., 2018) for pixel observations: per stack a 3x3
    convolution, a 3x3 max-pool of stride 2 and two residual blocks (channels 16, 32,
    32), then ReLU, flattened, then the dense hidden layers. Takes ``[..., H, W, C]``."""

    hidden_sizes: Sequence[int] = (256,)
    activation: Callable = nn.relu
    layer_norm: bool = False
    channels: Sequence[int] = (16, 32, 32)

    @nn.compact
    def __call__(self, x):
        batch = x.shape[:-3]
        x = x.reshape((-1,) + x.shape[-3:]).astype(np.float32)
        for channels in self.channels:
            x = nn.Conv(channels, (3, 3), padding="SAME")(x)
            x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
            x = ResidualBlock()(ResidualBlock()(x))
        x = nn.relu(x).reshape(batch + (-1,))
        return MLPTorso(self.hidden_sizes, self.activation, self.layer_norm)(x)


def torso_module(kind: str, hidden_sizes: Sequence[int], activation: Callable,
                 layer_norm: bool = False) -> nn.Module:
    """The torso named ``kind`` (resolved: 'mlp' or one of ``IMAGE_TORSOS``)."""
    cls = {"mlp": MLPTorso, "cnn": MinAtarCNN, "impala": ImpalaResNet}[kind]
    return cls(tuple(hidden_sizes), activation, layer_norm)


def resolve_torso(kind: str, obs_shape) -> str:
    """``auto``: a CNN for ``[H, W, C]`` observations, an MLP for vectors."""
    if kind == "auto":
        return "cnn" if len(obs_shape) == 3 else "mlp"
    return kind


def make_torso(kind: str, obs_shape, hidden_sizes: Sequence[int], activation: str,
               layer_norm: bool = False) -> nn.Module:
    kind = resolve_torso(kind, obs_shape)
    act = ACTIVATIONS[activation]
    if kind in IMAGE_TORSOS:
        if len(obs_shape) != 3:
            raise ValueError(f"torso={kind!r} needs [H, W, C] observations, got shape "
                             f"{obs_shape}")
    return torso_module(kind, hidden_sizes, act, layer_norm)


def check_torso_fields(config) -> None:
    """Validates a config's ``torso``, ``activation`` and ``hidden_sizes`` fields."""
    from jaxrl.config import ConfigError

    if config.torso not in TORSOS:
        raise ConfigError(f"torso={config.torso!r}: choose one of {TORSOS}")
    if config.activation not in ACTIVATIONS:
        raise ConfigError(f"activation={config.activation!r}: choose one of "
                          f"{sorted(ACTIVATIONS)}")
    if not config.hidden_sizes or min(config.hidden_sizes) <= 0:
        raise ConfigError(f"hidden_sizes={config.hidden_sizes} must be positive widths")


def features(obs, span: Optional[Tuple[int, int]]):
    """``obs[..., start:stop]`` (all of it where ``span`` is None): what one part of a
    network reads of a team's row (``envs.multi_agent.RowLayout``)."""
    return obs if span is None else obs[..., span[0]:span[1]]
