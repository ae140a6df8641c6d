"""Policy objectives of the mirror-learning family (Kuba et al., 2022).

Every objective is ``ratio * advantage - drift(ratio, advantage, progress)``, with a
*drift* that is >= 0 and zero, with zero gradient, at ``ratio == 1``; the policy loss is
minus its mean. Built in:

* ``clip``: PPO's clipped surrogate; drift ``relu((r - clip(r, 1-eps, 1+eps)) * A)``.
  Its surrogate is computed in PPO's own form, so results equal the original PPO's.
* ``mdpo``: a KL-proximal update in the spirit of Mirror Descent Policy Optimization;
  drift ``coef * (r log r - r + 1)``, a per-sample estimate of KL(new || old) under the
  old policy's samples (zero with zero slope at r = 1, convex, >= 0).
* ``dpo``: Discovered Policy Optimisation's closed form (Lu et al., 2022):
  ``relu((r-1)A - alpha tanh((r-1)A / alpha))`` for A >= 0 and
  ``relu(log(r) A - beta tanh(log(r) A / beta))`` for A < 0 (alpha = 2, beta = 0.6).
* ``lpo`` / ``ta_lpo``: a learned drift, a small MLP over features of the ratio and
  advantage (and, temporally aware, training progress n/N):
  ``relu(f(x) - f(x at r = 1))``, so it is >= 0 and zero (zero gradient) at r = 1. Its
  parameters are a traced pytree (``PPOHParams.objective.drift_params``): a population of drifts
  is one vmapped program, and evolution strategies search them.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Dict

import jax
import jax.numpy as jnp
import numpy as np

from flax import struct

from jaxrl.config import (NON_NEGATIVE, POSITIVE, check_fields, check_ranges,
                          traced_field)

LEARNED_HIDDEN = 32    # width of the learned drift's hidden layer
NUM_FEATURES = 9       # (r-1), (r-1)^2, log r, (log r)^2, each times A, and progress


# ---- drift functions (per sample) --------------------------------------------------------
def ppo_clip_drift(ratio, adv, clip_eps):
    return jax.nn.relu((ratio - jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)) * adv)


def mdpo_drift(ratio, adv, coef, log_ratio=None):
    log_ratio = jnp.log(ratio) if log_ratio is None else log_ratio
    return coef * (ratio * log_ratio - ratio + 1.0)


def dpo_drift(ratio, adv, alpha, beta, log_ratio=None):
    log_ratio = jnp.log(ratio) if log_ratio is None else log_ratio
    pos = (ratio - 1.0) * adv
    neg = log_ratio * adv
    return jnp.where(adv >= 0,
                     jax.nn.relu(pos - alpha * jnp.tanh(pos / alpha)),
                     jax.nn.relu(neg - beta * jnp.tanh(neg / beta)))


def drift_features(ratio, adv, progress, log_ratio=None):
    """``[..., NUM_FEATURES]``: all zero at r = 1 except the progress feature."""
    log_ratio = jnp.log(ratio) if log_ratio is None else log_ratio
    r1 = ratio - 1.0
    base = [r1, r1 * r1, log_ratio, log_ratio * log_ratio]
    progress = jnp.broadcast_to(progress, jnp.shape(ratio))
    return jnp.stack(base + [b * adv for b in base] + [progress], axis=-1)


def _mlp(params, x):
    h = jnp.tanh(x @ params["w1"] + params["b1"])
    return h @ params["w2"] + params["b2"]


def learned_drift(params, ratio, adv, progress, log_ratio=None):
    """``relu(f(x) - f(x at r = 1))``: >= 0, and zero with zero gradient at r = 1."""
    x = drift_features(ratio, adv, progress, log_ratio)
    x_at_one = x.at[..., :NUM_FEATURES - 1].set(0.0)
    return jax.nn.relu(_mlp(params, x) - _mlp(params, x_at_one))


def init_drift_params(key, hidden: int = LEARNED_HIDDEN, scale: float = 0.5) -> Dict[str, Any]:
    k1, k2 = jax.random.split(key)
    return {"w1": scale * jax.random.normal(k1, (NUM_FEATURES, hidden)) / np.sqrt(NUM_FEATURES),
            "b1": jnp.zeros((hidden,)),
            "w2": scale * jax.random.normal(k2, (hidden,)) / np.sqrt(hidden),
            "b2": jnp.zeros(())}


def fit_drift(params, target: Callable, key, steps: int = 2000, learning_rate: float = 3e-3,
              batch: int = 1024, temporal: bool = False):
    """Distils ``target(ratio, adv, progress)`` into the learned drift (least squares on
    ratios log-uniform in [1/2, 2], advantages ~ N(0, 1), progress ~ U(0, 1)): the ES
    search can then start from a known-good objective such as PPO-clip."""
    import optax

    optimizer = optax.adam(learning_rate)

    def loss(p, k):
        kr, ka, kp = jax.random.split(k, 3)
        log_ratio = jax.random.uniform(kr, (batch,), minval=np.log(0.5), maxval=np.log(2.0))
        ratio, adv = jnp.exp(log_ratio), jax.random.normal(ka, (batch,))
        progress = jax.random.uniform(kp, (batch,)) if temporal else jnp.zeros((batch,))
        pred = learned_drift(p, ratio, adv, progress, log_ratio)
        return jnp.mean(jnp.square(pred - target(ratio, adv, progress)))

    @jax.jit
    def run(params, key):
        def step(carry, k):
            p, state = carry
            value, grads = jax.value_and_grad(loss)(p, k)
            updates, state = optimizer.update(grads, state, p)
            return (optax.apply_updates(p, updates), state), value
        (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)),
                                           jax.random.split(key, steps))
        return params, losses

    return run(params, key)


# ---- objectives: which drift, with which traced values --------------------------------
@struct.dataclass
class ObjectiveHParams:
    """The traced knobs of the mirror-learning objectives, each read by its own
    ``policy_objective`` (PPO-clip's ``clip_eps`` is PPO's own): nested in ``PPOHParams``
    as ``objective``, so ``--set ppo.objective.dpo_alpha=2`` (or ``dpo_alpha=2``)."""

    mdpo_coef: float = traced_field(1.0, "KL drift coefficient (policy_objective=mdpo)")
    dpo_alpha: float = traced_field(2.0, "DPO drift scale for A >= 0 (policy_objective=dpo)")
    dpo_beta: float = traced_field(0.6, "DPO drift scale for A < 0 (policy_objective=dpo)")
    drift_params: Any = traced_field(None, "learned drift parameters (lpo / ta_lpo; None: "
                                           "distilled from PPO-clip)")

    def validate(self) -> "ObjectiveHParams":
        check_fields(self)
        check_ranges(self, {"mdpo_coef": NON_NEGATIVE, "dpo_alpha": POSITIVE,
                            "dpo_beta": POSITIVE})
        return self


@dataclasses.dataclass(frozen=True)
class PolicyObjective:
    """Per-sample objective ``ratio * adv - drift`` from PPO's traced hyperparameters
    ``hp`` (``clip_eps``; the others' knobs in ``hp.objective``: ``ObjectiveHParams``)."""

    name: str

    def drift(self, ratio, adv, progress, hp, log_ratio=None):
        raise NotImplementedError

    def surrogate(self, ratio, adv, progress, hp, log_ratio=None):
        return ratio * adv - self.drift(ratio, adv, progress, hp, log_ratio)


class PPOClip(PolicyObjective):
    def drift(self, ratio, adv, progress, hp, log_ratio=None):
        return ppo_clip_drift(ratio, adv, hp.clip_eps)

    def surrogate(self, ratio, adv, progress, hp, log_ratio=None):
        # PPO's own form (equal to ratio * adv - drift up to rounding): the default
        # objective reproduces the original PPO's numbers exactly.
        return jnp.minimum(ratio * adv,
                           jnp.clip(ratio, 1.0 - hp.clip_eps, 1.0 + hp.clip_eps) * adv)


class MDPO(PolicyObjective):
    def drift(self, ratio, adv, progress, hp, log_ratio=None):
        return mdpo_drift(ratio, adv, hp.objective.mdpo_coef, log_ratio)


class DPO(PolicyObjective):
    def drift(self, ratio, adv, progress, hp, log_ratio=None):
        return dpo_drift(ratio, adv, hp.objective.dpo_alpha, hp.objective.dpo_beta, log_ratio)


@dataclasses.dataclass(frozen=True)
class LearnedDrift(PolicyObjective):
    temporal: bool = False

    def drift(self, ratio, adv, progress, hp, log_ratio=None):
        progress = progress if self.temporal else jnp.zeros_like(progress)
        return learned_drift(hp.objective.drift_params, ratio, adv, progress, log_ratio)


OBJECTIVES: Dict[str, PolicyObjective] = {
    "clip": PPOClip("clip"), "mdpo": MDPO("mdpo"), "dpo": DPO("dpo"),
    "lpo": LearnedDrift("lpo", temporal=False), "ta_lpo": LearnedDrift("ta_lpo", temporal=True),
}


def ppo_clip_like_params(clip_eps: float = 0.2, temporal: bool = False, seed: int = 0):
    """Learned-drift parameters distilled from PPO-clip's drift (deterministic): the
    default starting point of a learned objective. Fitted once per process (a copy is
    returned each time)."""
    return jax.tree.map(np.copy, _distilled(float(clip_eps), bool(temporal), int(seed)))


@functools.lru_cache(maxsize=None)
def _distilled(clip_eps: float, temporal: bool, seed: int):
    key_init, key_fit = jax.random.split(jax.random.PRNGKey(seed))
    target = lambda r, a, p: ppo_clip_drift(r, a, clip_eps)  # noqa: E731
    params, _ = fit_drift(init_drift_params(key_init), target, key_fit, steps=5000,
                          temporal=temporal)
    return jax.tree.map(np.asarray, params)
