"""Hand-computed checks of the value-learning components (targets, losses, replay)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.components.exploration import epsilon_greedy, linear_schedule
from jaxrl.components.replay import ReplayBuffer
from jaxrl.components.target_networks import periodic, polyak
from jaxrl.components.targets import n_step_return, q_lambda_returns
from jaxrl.components.value_losses import (HLGauss, categorical_projection, huber,
                                           quantile_huber_loss)
from jaxrl.networks import QHead, dueling

G = 0.9


def test_n_step_return_full_window():
    total, last, disc = n_step_return(jnp.array([1.0, 2.0, 3.0]), jnp.zeros(3, bool),
                                      jnp.zeros(3, bool), G)
    assert total == pytest.approx(1 + G * 2 + G**2 * 3)
    assert int(last) == 2 and disc == pytest.approx(G**3)


def test_n_step_return_stops_at_termination_without_bootstrap():
    total, last, disc = n_step_return(jnp.array([1.0, 2.0, 3.0]), jnp.array([False, True, False]),
                                      jnp.zeros(3, bool), G)
    assert total == pytest.approx(1 + G * 2) and int(last) == 1 and disc == 0.0


def test_n_step_return_truncation_bootstraps_from_its_final_observation():
    total, last, disc = n_step_return(jnp.array([1.0, 2.0, 3.0]), jnp.zeros(3, bool),
                                      jnp.array([True, False, False]), G)
    assert total == pytest.approx(1.0) and int(last) == 0 and disc == pytest.approx(G)


def test_q_lambda_returns_by_hand():
    r = jnp.array([1.0, 1.0, 1.0, 1.0])
    term = jnp.array([False, True, False, False])
    trunc = jnp.array([False, False, False, True])
    v = jnp.array([10.0, 20.0, 30.0, 40.0])  # max_a Q(final_obs[t])
    lam = 0.5
    g3 = 1 + G * 40                     # truncated: bootstrap V(final obs), trace cut
    g2 = 1 + G * ((1 - lam) * 30 + lam * g3)
    g1 = 1.0                            # terminated: nothing after
    g0 = 1 + G * ((1 - lam) * 10 + lam * g1)
    np.testing.assert_allclose(q_lambda_returns(r, term, trunc, v, G, lam),
                               [g0, g1, g2, g3], rtol=1e-6)
    # lambda = 0 is one-step Q-learning
    np.testing.assert_allclose(q_lambda_returns(r, term, trunc, v, G, 0.0),
                               [1 + G * 10, 1, 1 + G * 30, 1 + G * 40], rtol=1e-6)


def test_categorical_projection_by_hand():
    support = jnp.array([0.0, 1.0, 2.0])
    # all mass on atom 1; reward 0.5, discount 1 -> 1.5 splits evenly between 1 and 2
    np.testing.assert_allclose(categorical_projection(jnp.array([0.0, 1.0, 0.0]), 0.5, 1.0,
                                                      support), [0.0, 0.5, 0.5], atol=1e-6)
    # beyond the support: clipped to the end atom
    np.testing.assert_allclose(categorical_projection(jnp.array([0.0, 0.0, 1.0]), 5.0, 1.0,
                                                      support), [0.0, 0.0, 1.0], atol=1e-6)
    # terminal (discount 0): a point mass at the reward, 0.25 -> 0.75/0.25 on atoms 0/1
    out = categorical_projection(jnp.array([0.2, 0.3, 0.5]), 0.25, 0.0, support)
    np.testing.assert_allclose(out, [0.75, 0.25, 0.0], atol=1e-6)


def test_quantile_huber_loss_by_hand():
    # one quantile (tau = 0.5), one target: 0.5 * huber(u)
    assert quantile_huber_loss(jnp.array([0.0]), jnp.array([0.5])) == pytest.approx(0.5 * 0.125)
    # two quantiles (0.25, 0.75) at 0, target 2 (u = 2 > 0 -> weight tau): huber(2) = 1.5
    loss = quantile_huber_loss(jnp.array([0.0, 0.0]), jnp.array([2.0]))
    assert loss == pytest.approx(0.25 * 1.5 + 0.75 * 1.5)
    # target below: weight 1 - tau
    loss = quantile_huber_loss(jnp.array([0.0, 0.0]), jnp.array([-2.0]))
    assert loss == pytest.approx(0.75 * 1.5 + 0.25 * 1.5)
    assert huber(jnp.array(3.0), 1.0) == pytest.approx(2.5)


def test_categorical_projection_matches_the_projection_matrix():
    """The fused sum equals ``probs @ W`` with the projection matrix written out."""
    support = jnp.linspace(-10.0, 10.0, 51)
    probs = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(2), (51,)))
    for reward, discount in ((0.3, 0.99), (-7.0, 0.5), (25.0, 0.99), (1.0, 0.0)):
        shifted = jnp.clip(reward + discount * support, -10.0, 10.0)
        matrix = jnp.clip(1 - jnp.abs(shifted[:, None] - support[None, :]) / 0.4, 0, 1)
        out = categorical_projection(probs, reward, discount, support)
        np.testing.assert_allclose(out, probs @ matrix, atol=1e-6)
        assert float(out.sum()) == pytest.approx(1.0, abs=1e-5)


def test_hl_gauss_targets_and_loss():
    hl = HLGauss(v_min=0.0, v_max=10.0, num_bins=10, sigma_ratio=0.75)
    probs = hl.target_probs(jnp.array(5.0))
    assert probs.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(probs, probs[::-1], atol=1e-6)  # symmetric about 5
    from scipy.stats import norm
    expected = norm.cdf(6, 5, 0.75) - norm.cdf(5, 5, 0.75)
    assert probs[5] == pytest.approx(expected / (norm.cdf(10, 5, .75) - norm.cdf(0, 5, .75)),
                                     rel=1e-5)
    # The value of logits equal to log(target probs) recovers the target (mean of centres)
    assert hl.value(jnp.log(probs)) == pytest.approx(5.0, abs=1e-4)
    # Loss = cross-entropy; minimal at the target's own log-probs
    logits = jnp.log(probs)
    entropy = -jnp.sum(probs * jnp.log(probs))
    assert hl.loss(logits, jnp.array(5.0)) == pytest.approx(float(entropy), rel=1e-5)
    assert hl.loss(jnp.zeros(10), jnp.array(5.0)) > hl.loss(logits, jnp.array(5.0))


def test_dueling_aggregation_by_hand():
    q = dueling(jnp.array([[1.0]]), jnp.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(q, [[0.0, 1.0, 2.0]])
    head = QHead(num_actions=3, num_outputs=2, dueling=True)
    params = head.init(jax.random.PRNGKey(0), jnp.zeros((4,)))
    assert head.apply(params, jnp.ones((5, 4))).shape == (5, 3, 2)


def test_schedules_and_epsilon_greedy():
    assert linear_schedule(1.0, 0.1, 100, 50) == pytest.approx(0.55)
    assert linear_schedule(1.0, 0.1, 100, 500) == pytest.approx(0.1)
    q = jnp.tile(jnp.array([0.0, 1.0, 0.0, 0.0]), (20000, 1))
    actions = np.asarray(epsilon_greedy(jax.random.PRNGKey(0), q, 0.2))
    # greedy w.p. 0.8 + 0.2/4
    assert np.mean(actions == 1) == pytest.approx(0.85, abs=0.01)
    target, online = {"w": jnp.zeros(2)}, {"w": jnp.ones(2)}
    np.testing.assert_allclose(polyak(target, online, 0.1)["w"], [0.1, 0.1])
    np.testing.assert_allclose(periodic(target, online, 10, 5)["w"], [1, 1])
    np.testing.assert_allclose(periodic(target, online, 11, 5)["w"], [0, 0])


def rows(start, k, num_envs=2):
    """k rows whose values encode (step, env) as step * 10 + env."""
    steps = jnp.arange(start, start + k)[:, None]
    return {"x": (steps * 10 + jnp.arange(num_envs)[None, :]).astype(jnp.float32)}


def test_replay_wraps_around_and_windows_stay_in_order():
    buf = ReplayBuffer(capacity=5, num_envs=2, window=3)
    state = buf.init({"x": jnp.zeros(())})
    state = buf.add(state, rows(0, 4))
    state = buf.add(state, rows(4, 3))  # 7 rows into 5: rows 0 and 1 overwritten
    assert int(state.size) == 5 and int(state.ptr) == 2
    np.testing.assert_array_equal(state.data["x"][:, 0], [50, 60, 20, 30, 40])
    sample = buf.sample(state, jax.random.PRNGKey(1), 4000)
    x = np.asarray(sample.data["x"])  # [B, 3]
    # every window is 3 consecutive steps of one env, within the 5 newest steps (2..6)
    np.testing.assert_array_equal(np.diff(x, axis=1), 10)
    first = x[:, 0] // 10
    assert set(first.tolist()) == {2, 3, 4}
    assert set((x[:, 0] % 10).astype(int).tolist()) == {0, 1}


def test_prioritised_sampling_frequencies_chi_square():
    buf = ReplayBuffer(capacity=4, num_envs=1, window=1, prioritized=True)
    state = buf.add(buf.init({"x": jnp.zeros(())}), rows(0, 4, num_envs=1))
    priorities = jnp.array([1.0, 2.0, 3.0, 4.0])
    fake = buf.sample(state, jax.random.PRNGKey(0), 4)
    state = buf.update_priorities(state, fake.replace(rows=jnp.arange(4),
                                                      envs=jnp.zeros(4, jnp.int32)),
                                  priorities)
    n = 20000
    sample = buf.sample(state, jax.random.PRNGKey(3), n, alpha=1.0, beta=1.0)
    counts = np.bincount(np.asarray(sample.rows), minlength=4)
    expected = n * np.asarray(priorities) / 10.0
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < 16.27, (counts, expected)  # 3 dof, p = 0.001
    # importance weights: (N P)^-1 normalised by the max -> p_min / p
    w = np.asarray(sample.weights)
    np.testing.assert_allclose(w, 1.0 / np.asarray(priorities)[np.asarray(sample.rows)],
                               rtol=1e-5)
    # alpha = 0 is uniform
    uniform = buf.sample(state, jax.random.PRNGKey(4), n, alpha=0.0)
    counts = np.bincount(np.asarray(uniform.rows), minlength=4)
    assert np.all(np.abs(counts - n / 4) < 5 * np.sqrt(n / 4))


def test_replay_is_vmappable_per_member():
    buf = ReplayBuffer(capacity=8, num_envs=2, window=2)
    init = jax.vmap(lambda _: buf.init({"x": jnp.zeros(())}))(jnp.arange(3))
    added = jax.vmap(buf.add, in_axes=(0, None))(init, rows(0, 3))
    samples = jax.vmap(buf.sample, in_axes=(0, 0, None))(
        added, jax.random.split(jax.random.PRNGKey(0), 3), 16)
    assert samples.data["x"].shape == (3, 16, 2)
