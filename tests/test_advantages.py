"""GAE against values computed by hand (gamma=0.9, lambda=0.8)."""
import jax.numpy as jnp
import numpy as np

from jaxrl.components.advantages import compute_gae


def test_gae_bootstraps_truncation_and_cuts_termination():
    rewards = jnp.array([1.0, 2.0, 3.0, 4.0])
    values = jnp.array([0.5, 1.0, 1.5, 2.0])
    # V(final observation): step 1 is truncated, its successor value is 10 (not V(s_2)).
    next_values = jnp.array([1.0, 10.0, 2.0, 3.0])
    terminated = jnp.array([False, False, False, True])
    truncated = jnp.array([False, True, False, False])
    adv, ret = compute_gae(rewards, values, next_values, terminated, truncated, 0.9, 0.8)
    # deltas: 1+.9*1-.5=1.4 | 2+.9*10-1=10 | 3+.9*2-1.5=3.3 | 4+0-2=2 (terminal: no bootstrap)
    # A3=2 ; A2=3.3+.72*2=4.74 ; A1=10 (trace cut) ; A0=1.4+.72*10=8.6
    np.testing.assert_allclose(adv, [8.6, 10.0, 4.74, 2.0], rtol=1e-6)
    np.testing.assert_allclose(ret, [9.1, 11.0, 6.24, 4.0], rtol=1e-6)


def test_gae_batched_envs_are_independent():
    rewards = jnp.array([[1.0, 0.0], [1.0, 1.0]])
    values = jnp.zeros((2, 2))
    next_values = jnp.ones((2, 2))
    term = jnp.array([[False, True], [False, False]])
    trunc = jnp.zeros((2, 2), bool)
    adv, _ = compute_gae(rewards, values, next_values, term, trunc, 0.5, 1.0)
    # env 0: d=[1.5,1.5] -> A1=1.5, A0=1.5+.5*1.5=2.25 ; env 1: d0=0 (terminal), d1=1.5
    np.testing.assert_allclose(adv[:, 0], [2.25, 1.5], rtol=1e-6)
    np.testing.assert_allclose(adv[:, 1], [0.0, 1.5], rtol=1e-6)


def test_lambda_one_gives_discounted_monte_carlo_return():
    r = jnp.array([1.0, 1.0, 1.0])
    adv, ret = compute_gae(r, jnp.zeros(3), jnp.zeros(3), jnp.array([False, False, True]),
                           jnp.zeros(3, bool), 0.5, 1.0)
    np.testing.assert_allclose(ret, [1.75, 1.5, 1.0], rtol=1e-6)
