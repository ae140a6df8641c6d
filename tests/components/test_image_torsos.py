"""The image torsos (MinAtar CNN, IMPALA ResNet) keep leading batch (and time) axes, and
every actor-critic takes any of them: on-policy, recurrent and off-policy."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.algorithms import sac
from jaxrl.envs import Env
from jaxrl.envs.spaces import Box
from jaxrl.networks import ActorCritic
from jaxrl.networks.actor_critic import RecurrentActorCritic
from jaxrl.networks.memory import MemorySpec
from jaxrl.networks.torsos import ImpalaResNet, make_torso


def test_impala_resnet_downsamples_three_times_and_keeps_batch_axes():
    """10x10 -> 5 -> 3 -> 2 (SAME max-pools of stride 2): 2 * 2 * 32 features, then the
    dense layer."""
    net = ImpalaResNet((64,))
    x = jnp.ones((3, 2, 10, 10, 4))
    params = net.init(jax.random.key(0), x)
    assert net.apply(params, x).shape == (3, 2, 64)
    assert params["params"]["MLPTorso_0"]["Dense_0"]["kernel"].shape == (2 * 2 * 32, 64)


@pytest.mark.parametrize("torso", ["cnn", "impala"])
def test_actor_critics_take_any_image_torso(torso):
    obs = jnp.ones((5, 10, 10, 4))
    net = ActorCritic(action_dim=3, continuous=False, hidden_sizes=(32,), torso=torso)
    (logits,), value = net.apply(net.init(jax.random.key(0), obs), obs)
    assert logits.shape == (5, 3) and value.shape == (5,)

    spec = MemorySpec("gru", 8)
    recurrent = RecurrentActorCritic(action_dim=3, continuous=False, memory=spec,
                                     hidden_sizes=(32,), torso=torso)
    carry, seq = spec.initial_carry((2,)), jnp.ones((3, 2, 10, 10, 4))
    resets = jnp.zeros((3, 2), bool)
    params = recurrent.init(jax.random.key(0), carry, seq, resets)
    carry, (logits,), value = recurrent.apply(params, carry, seq, resets)
    assert carry.shape == (2, 8) and logits.shape == (3, 2, 3) and value.shape == (3, 2)


def test_make_torso_refuses_an_image_torso_on_vectors():
    with pytest.raises(ValueError, match="torso='impala' needs"):
        make_torso("impala", (8,), (32,), "relu")


class PixelReach(Env):
    """A 6x6 image with one lit pixel; the reward is minus the distance between the 2-D
    action and that pixel's coordinates in [-1, 1]. Episodes of 4 steps."""

    id = "pixel-reach"
    default_params = None

    def _obs(self, target):
        cells = jnp.round((target + 1.0) * 2.5).astype(jnp.int32)
        return jnp.zeros((6, 6, 1)).at[cells[0], cells[1], 0].set(1.0)

    def reset(self, key, params):
        target = jax.random.uniform(key, (2,), minval=-1.0, maxval=1.0)
        return self._obs(target), (target, jnp.zeros((), jnp.int32))

    def step(self, key, state, action, params):
        target, t = state
        reward = -jnp.linalg.norm(action - target)
        next_obs, next_state = self.reset(key, params)
        truncated = t + 1 >= 4
        obs = jnp.where(truncated, next_obs, self._obs(target))
        state = jax.tree.map(lambda a, b: jnp.where(truncated, a, b), next_state,
                             (target, t + 1))
        return (obs, state, reward, jnp.zeros((), bool), truncated,
                {"final_observation": self._obs(target)})

    def observation_space(self, params):
        return Box(0.0, 1.0, (6, 6, 1))

    def action_space(self, params):
        return Box(-1.0, 1.0, (2,))

    def max_episode_steps(self, params):
        return 4


@pytest.mark.parametrize("algorithm,torso", [(sac, "cnn")])
def test_continuous_actor_critics_take_image_torsos(algorithm, torso):
    """Actor and critics embed the image with the torso (the critic before the action
    joins it); 'auto' picks the CNN for images, 'mlp' flattens them."""
    env = PixelReach()
    config = algorithm.Config(hidden_sizes=(16,), total_timesteps=64, batch_size=4, torso=torso)
    algo = algorithm.make(env, None, config)
    hp = algorithm.HParams(learning_starts=0)
    state = algo.init(jax.random.key(0), hp)
    leaves = jax.tree_util.tree_leaves_with_path(state.learner)
    convs = [path for path, _ in leaves if "Conv" in jax.tree_util.keystr(path)]
    assert any("critic" in jax.tree_util.keystr(p) for p in convs)
    assert any("actor" in jax.tree_util.keystr(p) for p in convs)
    state, metrics = jax.jit(algo.update)(state, hp)
    assert np.isfinite(float(metrics["loss"])) and float(metrics["loss"]) > 0.0

    assert algorithm.make(env, None, algorithm.Config(hidden_sizes=(16,))).torso_kind == "cnn"
    flat = algorithm.make(env, None, algorithm.Config(hidden_sizes=(16,), torso="mlp"))
    assert flat.obs_shape == (36,)
