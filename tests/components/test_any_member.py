"""Work no member needs is skipped under vmap (``contract.any_member``), and a member's
results never depend on its neighbours' schedules."""
import chex
import jax
import jax.numpy as jnp
import numpy as np

import jaxrl.envs
from jaxrl import registry
from jaxrl.contract import POPULATION_AXIS, any_member
from jaxrl.experiment import make_experiment
from jaxrl.population import Population
from jaxrl.runner import RunConfig, train


def gated(x, due):
    return jax.lax.cond(any_member(due), lambda x: jnp.sin(x) * 2.0, lambda x: x, x)


def test_any_member_is_one_unbatched_value_for_the_named_member_axis():
    due = jnp.array([False, True, False])
    named = jax.vmap(lambda d: any_member(d), axis_name=POPULATION_AXIS)(due)
    np.testing.assert_array_equal(named, [True, True, True])
    # without the runner's axis (train alone, an unnamed vmap) each member decides alone
    np.testing.assert_array_equal(jax.vmap(any_member)(due), [False, True, False])
    assert bool(jax.jit(any_member)(jnp.array(True)))


def test_the_gated_branch_stays_a_conditional_under_the_named_vmap():
    xs, due = jnp.ones((3, 4)), jnp.zeros(3, bool)
    # named: the predicate is a scalar, so cond is not turned into computing both branches
    jaxpr = jax.make_jaxpr(jax.vmap(gated, axis_name=POPULATION_AXIS))(xs, due)
    assert any(e.primitive.name == "cond" for e in jaxpr.jaxpr.eqns)
    unnamed = jax.make_jaxpr(jax.vmap(gated))(xs, due)
    assert not any(e.primitive.name == "cond" for e in unnamed.jaxpr.eqns)
    np.testing.assert_array_equal(jax.vmap(gated, axis_name=POPULATION_AXIS)(xs, due), xs)


def test_members_on_different_schedules_match_their_runs_alone():
    """TD3 members with different policy delays and warm-up lengths in one program: the
    gated work is computed for all when any member needs it, and kept only by members
    that are due, so each member equals its run alone."""
    entry = registry.get("td3")
    exp = make_experiment("td3", entry.smoke_env, {**entry.smoke, "num_chunks": 1,
                                                   "eval_episodes": 1}, {})
    env, params = jaxrl.envs.make(exp.env)
    algo = entry.make(env, params, exp.config)
    hp = exp.hparams
    steps = exp.config.total_timesteps
    configs = [hp.replace(policy_delay=1, learning_starts=steps // 4),
               hp.replace(policy_delay=2, learning_starts=steps // 2),
               hp.replace(policy_delay=3, learning_starts=steps // 4),
               hp.replace(policy_delay=2, learning_starts=steps - 1)]  # last update only
    population = Population.from_configs(configs, seeds=[5])
    result = train(algo, population, RunConfig(num_chunks=1, eval_episodes=1),
                   progress=False)
    together = jax.device_get(result.carry.state)
    train_alone = jax.jit(algo.train)
    for member, config in enumerate(configs):
        alone, _ = train_alone(jax.random.PRNGKey(5), config)
        mine = jax.tree.map(lambda x: x[member], together)
        # the learned parts and counters; the envs' trajectories amplify float
        # reassociation (vmapped vs alone) through Pendulum's dynamics, as before gating
        chex.assert_trees_all_close((mine.learner, mine.grad_steps),
                                    (alone.learner, alone.grad_steps), rtol=1e-4, atol=1e-5)
    assert int(together.grad_steps[0]) > int(together.grad_steps[1]) > int(together.grad_steps[3]) > 0
