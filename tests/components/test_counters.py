"""Env-step counts past 2**31 per member: exact, with no int64 in the program."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.components.counters import StepCount
from jaxrl.config import ConfigError


def test_a_count_crosses_2_to_the_31_and_32_exactly():
    start = 2**31 - 1000
    count = StepCount.of(start)
    step = jax.jit(lambda c: jax.lax.fori_loop(0, 3, lambda _, c: c.add(2**30 + 7), c))
    after = step(count)
    assert after.exact() == start + 3 * (2**30 + 7)  # 5,368,708,117: past 2**32
    assert after.high.dtype == after.low.dtype == jnp.int32
    np.testing.assert_allclose(float(after.as_float()), start + 3 * (2**30 + 7), rtol=1e-7)


def test_at_least_is_exact_across_the_word_boundary():
    for threshold in (0, 1, 2**30 - 1, 2**30, 2**30 + 1, 2**31 - 1):
        for steps in (threshold - 1, threshold, threshold + 1, 2**33):
            if steps < 0:
                continue
            got = bool(StepCount.of(steps).at_least(jnp.int32(threshold)))
            assert got == (steps >= threshold), (steps, threshold)


def test_batched_counts_read_back_exactly_on_the_host():
    counts = jax.vmap(lambda s: StepCount.of(0).add(2**31 + 5).add(3))(jnp.arange(4))
    np.testing.assert_array_equal(counts.exact(), np.full(4, 2**31 + 8, np.int64))


def test_a_learner_past_2_to_the_31_env_steps_counts_on():
    """PPO's counter, set just below 2**31 steps, steps over it without wrapping."""
    from jaxrl.experiment import make_experiment

    exp = make_experiment("ppo", "CartPole-v1", {"total_timesteps": 256, "num_envs": 4,
                                                 "num_steps": 16, "num_minibatches": 2,
                                                 "num_epochs": 1}, {}, num_seeds=1)
    algo, population = exp.build()
    hp = jax.tree.map(lambda x: x[0], population.hparams)
    state = algo.init(jax.random.PRNGKey(0), hp).replace(env_steps=StepCount.of(2**31 - 10))
    state, _ = jax.jit(algo.update)(state, hp)
    assert state.env_steps.exact() == 2**31 - 10 + 64


def test_more_than_2_to_the_31_updates_are_refused_by_name():
    from jaxrl.experiment import make_experiment

    with pytest.raises(ConfigError, match="2\\*\\*31 or more updates"):
        make_experiment("dqn", "CartPole-v1", {"total_timesteps": 2**32, "num_envs": 1,
                                               "rollout_steps": 1}, {}, num_seeds=1)


@pytest.mark.parametrize("name,env_id", [c for c in __import__("jaxrl.registry").registry
                                         .smoke_cases()])
def test_every_learner_traces_a_run_longer_than_2_to_the_31_steps(name, env_id):
    """``total_timesteps`` is static and may pass int32; schedules over it must not put
    it into a traced product (it would overflow while tracing)."""
    from jaxrl import registry
    from jaxrl.experiment import make_experiment

    smoke = registry.get(name).smoke
    # an offline run's length is its gradient steps
    values = {**smoke, **({"offline_steps": 2**33} if smoke.get("total_timesteps") == 0
                          else {"total_timesteps": 2**33})}
    algo, population = make_experiment(name, env_id, values, {}, num_seeds=1).build()
    hp = jax.tree.map(lambda x: x[0], population.hparams)
    state = jax.eval_shape(algo.init, jax.random.PRNGKey(0), hp)
    jax.eval_shape(algo.update, state, hp)  # traces without an OverflowError
