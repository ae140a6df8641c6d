"""Mirror-learning policy objectives: every drift is >= 0 and zero with zero gradient at
ratio 1, PPO-clip through the pluggable path is PPO's loss exactly, and DPO / MDPO match
hand-computed values."""
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.algorithms.ppo import PPOHParams, ppo_loss
from jaxrl.components import distributions
from jaxrl.components import objectives as obj

RATIOS = jnp.exp(jnp.linspace(math.log(0.2), math.log(5.0), 41))
ADVANTAGES = jnp.linspace(-3.0, 3.0, 13)
R, A = jnp.meshgrid(RATIOS, ADVANTAGES)
RANDOM_DRIFT = obj.init_drift_params(jax.random.PRNGKey(3), scale=2.0)
HP = PPOHParams(objective=obj.ObjectiveHParams(drift_params=RANDOM_DRIFT))


@pytest.mark.parametrize("name", sorted(obj.OBJECTIVES))
@pytest.mark.parametrize("progress", [0.0, 0.7])
def test_drift_is_nonnegative_and_zero_with_zero_slope_at_ratio_one(name, progress):
    objective = obj.OBJECTIVES[name]
    drift = objective.drift(R, A, jnp.full(R.shape, progress), HP)
    assert jnp.all(drift >= 0.0)
    at_one = objective.drift(jnp.ones_like(ADVANTAGES), ADVANTAGES,
                             jnp.full(ADVANTAGES.shape, progress), HP)
    np.testing.assert_array_equal(at_one, 0.0)
    slope = jax.vmap(jax.grad(lambda r, a: objective.drift(r, a, progress, HP)),
                     in_axes=(None, 0))(1.0, ADVANTAGES)
    np.testing.assert_allclose(slope, 0.0, atol=1e-6)
    # The surrogate is ratio * A - drift for every objective (PPO-clip up to rounding).
    np.testing.assert_allclose(objective.surrogate(R, A, progress, HP),
                               R * A - drift, rtol=1e-6, atol=1e-6)


def test_dpo_matches_hand_computed_values_on_both_branches():
    # A >= 0: relu((r-1)A - 2 tanh((r-1)A / 2)); r = 1.5, A = 1: 0.5 - 2 tanh(0.25).
    assert obj.dpo_drift(1.5, 1.0, 2.0, 0.6) == pytest.approx(0.5 - 2 * math.tanh(0.25), abs=1e-7)
    # A < 0: relu(log(r) A - 0.6 tanh(log(r) A / 0.6)); r = 0.5, A = -1: x = log 2.
    x = math.log(2.0)
    assert obj.dpo_drift(0.5, -1.0, 2.0, 0.6) == pytest.approx(x - 0.6 * math.tanh(x / 0.6),
                                                               abs=1e-6)
    # Moving the ratio against the advantage's sign costs nothing (the relu's zero side).
    assert obj.dpo_drift(0.5, 1.0, 2.0, 0.6) == 0.0
    assert obj.dpo_drift(1.5, -1.0, 2.0, 0.6) == 0.0
    # A = 0 takes the positive branch and has no drift.
    assert obj.dpo_drift(3.0, 0.0, 2.0, 0.6) == 0.0


def test_mdpo_and_clip_by_hand():
    assert obj.mdpo_drift(2.0, 5.0, 1.0) == pytest.approx(2 * math.log(2) - 1, abs=1e-6)
    assert obj.mdpo_drift(0.5, -5.0, 3.0) == pytest.approx(3 * (0.5 * math.log(0.5) + 0.5),
                                                           abs=1e-6)
    assert obj.ppo_clip_drift(1.5, 2.0, 0.2) == pytest.approx(0.6)  # (1.5 - 1.2) * 2
    assert obj.ppo_clip_drift(0.5, -2.0, 0.2) == pytest.approx(0.6)  # (0.5 - 0.8) * -2
    assert obj.ppo_clip_drift(1.5, -2.0, 0.2) == 0.0


def test_ppo_clip_through_the_pluggable_path_is_ppos_loss_exactly():
    key = jax.random.PRNGKey(0)
    k1, k2, k3, k4, k5 = jax.random.split(key, 5)
    dist = distributions.Categorical(3)
    logits = jax.random.normal(k1, (64, 3))
    actions = jax.random.randint(k2, (64,), 0, 3)
    old_log_probs = dist.log_prob(logits, actions) + 0.3 * jax.random.normal(k3, (64,))
    values, returns = jax.random.normal(k4, (64,)), jax.random.normal(k5, (64,))
    adv = returns - values
    hp = PPOHParams()
    total, stats = ppo_loss(dist, logits, values, actions, old_log_probs, values + 0.1, adv,
                            returns, hp)

    # The original PPO loss, written out.
    ratio = jnp.exp(dist.log_prob(logits, actions) - old_log_probs)
    a = (adv - adv.mean()) / (adv.std() + 1e-8)
    original = -jnp.minimum(ratio * a, jnp.clip(ratio, 0.8, 1.2) * a).mean()
    assert stats["policy_loss"] == original
    # Another objective changes the policy loss and nothing else.
    _, dpo = ppo_loss(dist, logits, values, actions, old_log_probs, values + 0.1, adv, returns,
                      hp, objective=obj.OBJECTIVES["dpo"])
    assert dpo["policy_loss"] != stats["policy_loss"]
    assert dpo["value_loss"] == stats["value_loss"] and dpo["entropy"] == stats["entropy"]


@functools.lru_cache(maxsize=None)
def clip_like(temporal):
    return obj.ppo_clip_like_params(temporal=temporal)


@pytest.mark.parametrize("temporal", [False, True])
def test_learned_drift_starts_like_ppo_clip(temporal):
    objective = obj.OBJECTIVES["ta_lpo" if temporal else "lpo"]
    hp = PPOHParams(objective=obj.ObjectiveHParams(drift_params=clip_like(temporal)))
    ratio = jnp.exp(jnp.linspace(math.log(0.5), math.log(2.0), 61))
    for adv in (-2.0, -0.5, 0.5, 2.0):
        a = jnp.full_like(ratio, adv)
        for progress in (0.0, 0.5, 1.0):
            learned = objective.drift(ratio, a, progress, hp)
            np.testing.assert_allclose(learned, obj.ppo_clip_drift(ratio, a, 0.2), atol=0.05)


def test_temporal_drift_sees_progress_and_the_plain_one_does_not():
    hp = PPOHParams(objective=obj.ObjectiveHParams(drift_params=RANDOM_DRIFT))
    ratio, adv = jnp.array([0.7, 1.4]), jnp.array([1.0, -1.0])
    ta, plain = obj.OBJECTIVES["ta_lpo"], obj.OBJECTIVES["lpo"]
    assert not np.allclose(ta.drift(ratio, adv, 0.0, hp), ta.drift(ratio, adv, 1.0, hp))
    np.testing.assert_array_equal(plain.drift(ratio, adv, 0.0, hp),
                                  plain.drift(ratio, adv, 1.0, hp))
