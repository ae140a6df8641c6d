"""The image torsos (MinAtar CNN, IMPALA ResNet) keep leading batch (and time) axes, and
every actor-critic takes any of them."""
import jax
import jax.numpy as jnp
import pytest

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
