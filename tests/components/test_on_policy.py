"""The on-policy update written once (``jaxrl.algorithms.on_policy``) and the optimiser
and learning-rate decay every learner shares (``jaxrl.components.optim``)."""
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrl.algorithms import dqn, off_policy, on_policy, ppo, pqn, sac, td3
from jaxrl.components.optim import clipped_adam, linear_decay


def test_linear_decay_by_hand():
    assert float(linear_decay(2.0, 0, 4)) == 2.0
    assert float(linear_decay(2.0, 3, 4)) == pytest.approx(0.5)
    assert float(linear_decay(2.0, jnp.int32(6), 4.0)) == 0.0  # held at zero past the end


def test_fit_epochs_takes_one_step_per_minibatch_per_epoch():
    """Every row equal, so shuffling cannot matter: 2 epochs x 3 minibatches of SGD on
    mean((p - x)^2) take p from p0 to x + (1 - 2 lr)^6 (p0 - x)."""
    lr, p0, x = 0.1, 5.0, 2.0
    data = (jnp.full((6, 1), x),)

    def loss(params, rows):
        value = jnp.mean(jnp.square(params - rows[:, 0]))
        return value, {"loss": value}

    opt = optax.sgd(lr)
    params = jnp.asarray(p0)
    (params, _), stats = on_policy.fit_epochs(loss, opt, params, opt.init(params), data,
                                              jax.random.PRNGKey(0), 2, 3)
    assert float(params) == pytest.approx(x + (1 - 2 * lr) ** 6 * (p0 - x), rel=1e-6)
    assert stats["loss"].shape == (2, 3) and stats["grad_norm"].shape == (2, 3)
    np.testing.assert_allclose(stats["grad_norm"][0, 0], 2 * (p0 - x), rtol=1e-6)


def test_clipped_adam_clips_the_global_norm_before_the_step():
    """Two steps: a gradient of norm 10 clipped to norm 1, then one of norm 0.5 (kept);
    Adam's second step by hand (b1 0.9, b2 0.999, bias-corrected) differs from the
    unclipped one, so the clip came first."""
    lr, b1, b2 = 0.5, 0.9, 0.999
    opt = clipped_adam(1.0, lr, eps=0.0)
    params = jnp.zeros(2)
    g1, g2 = np.array([6.0, 8.0]), np.array([0.3, 0.4])
    _, state = opt.update(jnp.asarray(g1), opt.init(params), params)
    update, _ = opt.update(jnp.asarray(g2), state, params)
    g1 = g1 / np.linalg.norm(g1)
    m = (1 - b1) * (b1 * g1 + g2) / (1 - b1 ** 2)
    v = (1 - b2) * (b2 * g1 ** 2 + g2 ** 2) / (1 - b2 ** 2)
    np.testing.assert_allclose(update, -lr * m / np.sqrt(v), rtol=1e-4)
    rectified = clipped_adam(1.0, 0.5, rectified=True)
    assert len(rectified.init(params)) == 2  # clipping's state, RAdam's state


def test_no_learner_keeps_its_own_update_loop_or_optimiser():
    """PPO and PQN are configurations of the one on-policy update; no learner module
    builds an optimiser chain or decays a learning rate by itself."""
    assert issubclass(ppo.PPO, on_policy.OnPolicyLearner)
    assert issubclass(pqn.PQN, on_policy.OnPolicyLearner)
    for cls in (ppo.PPO, pqn.PQN):
        assert "update" not in vars(cls)
    for module in (ppo, pqn, dqn, sac, td3, off_policy):
        source = inspect.getsource(module)
        for needle in ("clip_by_global_norm", "optax.adam(", "optax.radam(",
                       "shuffled_minibatches(", "1.0 - state.update_count"):
            assert needle not in source, (module.__name__, needle)
