"""Learned hyperparameter schedules: hand-computed multipliers, the all-zero schedule is
bitwise the fixed one, a learned schedule is what PPO's update uses, and bad schedules
are refused in one line."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.algorithms.ppo import PPOHParams
from jaxrl.components.schedules import (apply_schedules, check_schedule_params, describe,
                                        init_schedule_params, multiplier)
from jaxrl.config import ConfigError

LOG2 = math.log(2.0)


def test_multiplier_interpolates_log_knots_linearly_in_progress():
    knots = jnp.array([0.0, LOG2, 0.0])  # knots at n/N = 0, 0.5, 1
    for progress, expected in [(0.0, 1.0), (0.25, math.sqrt(2.0)), (0.5, 2.0),
                               (0.75, math.sqrt(2.0)), (1.0, 1.0), (1.5, 1.0), (-1.0, 1.0)]:
        np.testing.assert_allclose(multiplier(knots, progress), expected, rtol=1e-6)
    assert describe({"ent_coef": knots}, points=3) == {"ent_coef": pytest.approx([1, 2, 1])}


def test_apply_schedules_scales_only_the_scheduled_fields():
    hp = PPOHParams()
    assert apply_schedules(hp, 0.3) is hp  # None: the fixed schedule, nothing traced
    scheduled = apply_schedules(
        hp.replace(schedule_params={"learning_rate": jnp.array([0.0, -LOG2]),
                                    "ent_coef": jnp.array([LOG2, LOG2])}), 0.5)
    np.testing.assert_allclose(scheduled.learning_rate, hp.learning_rate / math.sqrt(2.0),
                               rtol=1e-6)
    np.testing.assert_allclose(scheduled.ent_coef, 2.0 * hp.ent_coef, rtol=1e-6)
    assert scheduled.clip_eps == hp.clip_eps and scheduled.gamma == hp.gamma


def test_nested_objective_knobs_are_scheduled_by_path_or_bare_name():
    hp = PPOHParams()
    for name in ("objective.mdpo_coef", "mdpo_coef"):
        check_schedule_params(PPOHParams, {name: np.zeros(2)})
        scheduled = apply_schedules(hp.replace(schedule_params={name: jnp.array([LOG2] * 2)}),
                                    0.5)
        np.testing.assert_allclose(scheduled.objective.mdpo_coef,
                                   2.0 * hp.objective.mdpo_coef, rtol=1e-6)
        assert scheduled.objective.dpo_alpha == hp.objective.dpo_alpha


@pytest.mark.parametrize("params, message", [
    ({"learning_rat": np.zeros(3)}, "only float hyperparameters"),
    ({"drift_params": np.zeros(3)}, "only float hyperparameters"),
    ({"objective": np.zeros(3)}, "only float hyperparameters"),
    ({"ent_coef": np.zeros(1)}, "K >= 2"),
    ({"ent_coef": np.zeros((2, 2))}, "K >= 2"),
    ({"ent_coef": np.array([0.0, np.nan])}, "must be finite"),
    ({}, "must map hyperparameter names"),
])
def test_bad_schedules_are_refused_in_one_line(params, message):
    with pytest.raises(ConfigError, match=message) as e:
        check_schedule_params(PPOHParams, params)
    assert len(str(e.value).splitlines()) == 1
    with pytest.raises(ConfigError, match=message):
        PPOHParams(schedule_params=params).validate()


@pytest.fixture(scope="module")
def tiny_ppo():
    from jaxrl.meta.tasks import inner_ppo

    algo, exp = inner_ppo("CartPole-v1", {"total_timesteps": 1024, "num_envs": 4,
                                          "num_steps": 32, "num_minibatches": 2,
                                          "num_epochs": 1})
    return algo, exp.hparams


def test_all_zero_schedule_trains_bitwise_like_the_fixed_one(tiny_ppo):
    algo, hp = tiny_ppo
    key = jax.random.PRNGKey(0)
    fixed, _ = jax.jit(algo.train)(key, hp)
    zero = hp.replace(schedule_params=init_schedule_params(["learning_rate", "ent_coef"]))
    scheduled, _ = jax.jit(algo.train)(key, zero)
    for a, b in zip(jax.tree.leaves(fixed.params), jax.tree.leaves(scheduled.params)):
        np.testing.assert_array_equal(a, b)


def test_ppo_updates_with_the_learned_learning_rate_and_entropy_coefficient(tiny_ppo):
    algo, hp = tiny_ppo
    knots = {"learning_rate": jnp.array([0.0, -LOG2, -2 * LOG2]),
             "ent_coef": jnp.array([LOG2, 0.0, 0.0])}
    _, metrics = jax.jit(algo.train)(jax.random.PRNGKey(0), hp.replace(schedule_params=knots))
    n = np.arange(algo.num_updates)
    progress = n / algo.num_updates
    annealed = hp.learning_rate * (1.0 - progress)  # PPO's own linear decay, scaled
    expected_lr = annealed * np.exp(np.interp(progress, [0, 0.5, 1], [0, -LOG2, -2 * LOG2]))
    np.testing.assert_allclose(metrics["learning_rate"], expected_lr, rtol=1e-5)
    expected_ent = hp.ent_coef * np.exp(np.interp(progress, [0, 0.5, 1], [LOG2, 0, 0]))
    np.testing.assert_allclose(metrics["ent_coef"], expected_ent, rtol=1e-5)
