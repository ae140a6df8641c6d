"""Recurrent SAC and TD3 (rsac, rtd3) on the off-policy skeleton: the actor and every
critic carry their own memory core, the carries they acted from are stored beside each
step, and each trained step's n-step target is what a step-by-step loop over the
replayed window computes by hand from those carries."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hand_targets import sequence_target_by_hand

import jaxrl.envs
from jaxrl.algorithms import sac, td3
from jaxrl.networks.memory import MemorySpec
from jaxrl.networks.off_policy import WithMemory

SMALL = dict(total_timesteps=2048, num_envs=4, rollout_steps=8, gradient_steps=1,
             batch_size=6, buffer_size=512, hidden_sizes=(16,), memory=MemorySpec("gru", 8),
             sequence_length=6, burn_in=3, n_step=2)

CASES = {  # TD3 without target smoothing (deterministic); SAC's exact discrete form
    "td3": (td3, "Pendulum-v1", dict(target_noise=0.0)),
    "sac": (sac, "CartPole-v1", dict(initial_temperature=0.3)),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def trained(request):
    """A few updates on 12-step episodes (sequences hold episode ends), target networks
    moved off the online ones, then one sampled batch of sequences."""
    module, env_id, values = CASES[request.param]
    env, params = jaxrl.envs.make(env_id)
    params = params.replace(max_steps_in_episode=12)
    algo = module.make(env, params, module.Config(**SMALL))
    hp = module.HParams(learning_starts=0, gamma=0.9, **values)
    update = jax.jit(algo.update)
    state = algo.init(jax.random.key(0), hp)
    for _ in range(6):
        state, _ = update(state, hp)
    learner = state.learner
    shrink = {name: jax.tree.map(lambda p: p * 0.9, getattr(learner, name[len("target_"):]))
              for name in ("target_critic_params", "target_actor_params")
              if hasattr(learner, name)}
    state = state.replace(learner=learner.replace(**shrink))
    sample = algo.buffer.sample(state.replay, jax.random.key(3), SMALL["batch_size"])
    seq = algo._batch(sample.data, sample.weights, hp.gamma, lambda obs: obs)
    return request.param, algo, state, hp, sample, seq


def test_every_core_stores_the_carry_it_acted_from(trained):
    """Zeros exactly after an episode ended, for the actor and each critic."""
    _, algo, _, _, sample, _ = trained
    data = sample.data
    began = np.asarray(data.terminated | data.truncated)[:, :-1]
    assert began.any()
    actor = np.asarray(data.carry.actor)[:, 1:]
    critics = np.asarray(data.carry.critic)[:, 1:]  # [B, W - 1, num_critics, size]
    assert critics.shape[2] == algo.config.num_critics
    np.testing.assert_array_equal(np.all(actor == 0.0, axis=-1), began)
    for c in range(critics.shape[2]):
        np.testing.assert_array_equal(np.all(critics[:, :, c] == 0.0, axis=-1), began)
    assert not np.allclose(critics[:, :, 0], critics[:, :, 1])  # each critic its own core


def test_sequence_targets_equal_a_step_by_step_loop(trained):
    """Episode ends placed by hand in the burn-in, in n-step windows and at a window's
    last step, terminated and truncated."""
    name, algo, state, hp, _, seq = trained
    seq = seq.replace(
        terminated=seq.terminated.at[0, 4].set(True).at[1, 1].set(True).at[3, 8].set(True),
        truncated=seq.truncated.at[2, 4].set(True).at[4, 7].set(True).at[5, 5].set(True))
    cfg, learner = algo.config, state.learner
    targets = np.asarray(jax.jit(algo.critic_target)(learner, seq, hp, jax.random.key(1)))
    burn, length, n, gamma = cfg.burn_in, cfg.sequence_length, cfg.n_step, hp.gamma
    assert targets.shape == (length, seq.obs.shape[0])

    @jax.jit
    def one_step(net_params, carry, obs, action=None):  # the actor, or a critic at action
        args = (carry[None], obs[None, None], jnp.zeros((1, 1), bool))
        net = algo.critic if action is not None else algo.actor
        extra = () if action is None else (action[None, None],)
        carry, out = net.apply(net_params, *args, *extra)
        return carry[0], jax.tree.map(lambda y: y[0, 0], out)

    def remember(params, carry, obs):
        return algo.critic.apply(params, carry[None], obs[None, None],
                                 jnp.zeros((1, 1), bool), method=WithMemory.remember)[0][0]

    remember = jax.jit(remember)
    first = lambda tree, c: jax.tree.map(lambda x: x[c], tree)  # noqa: E731
    actor_params = learner.target_actor_params if name == "td3" else learner.actor_params
    critics = range(cfg.num_critics)
    for b in range(seq.obs.shape[0]):
        carries = {"actor": seq.carry.actor[b],
                   **{f"critic{c}": seq.carry.critic[b, c] for c in critics}}
        after = []  # every core's carry after each step (the target nets', SAC's actor)
        for t in range(burn + length):
            if t > 0 and bool(seq.terminated[b, t - 1] | seq.truncated[b, t - 1]):
                carries = jax.tree.map(jnp.zeros_like, carries)
            obs = seq.obs[b, t]
            carries = {"actor": one_step(actor_params, carries["actor"], obs)[0],
                       **{f"critic{c}": remember(first(learner.target_critic_params, c),
                                                 carries[f"critic{c}"], obs)
                          for c in critics}}
            after.append(carries)

        def value(t):  # the bootstrap value at step t's true successor
            carry, obs = after[t], seq.final_obs[b, t]
            out = one_step(actor_params, carry["actor"], obs)[1]
            if name == "td3":
                return min(float(one_step(first(learner.target_critic_params, c),
                                          carry[f"critic{c}"], obs, out)[1])
                           for c in critics)
            log_probs = jax.nn.log_softmax(out)
            q = jnp.min(jnp.stack([one_step(first(learner.target_critic_params, c),
                                            carry[f"critic{c}"], obs,
                                            jnp.zeros((), jnp.int32))[1]
                                   for c in critics]), axis=0)
            alpha = jnp.exp(learner.log_alpha)
            return float(jnp.sum(jnp.exp(log_probs) * (q - alpha * log_probs)))

        for i in range(length):
            expected = sequence_target_by_hand(seq, b, burn + i, n, gamma, burn + length - 1,
                                               value)
            np.testing.assert_allclose(targets[i, b], expected, rtol=1e-4, atol=1e-4)


def test_a_recurrent_actor_critic_learns_and_its_policy_carries_memory(trained):
    name, algo, state, _, _, _ = trained
    policy = algo.policy(state)
    carry = policy.initial_carry(3)
    obs = jnp.ones((3,) + algo.obs_shape)
    carry, action = policy.act(carry, obs)
    assert carry.actor.shape == (3, 8) and not np.allclose(carry.actor, 0.0)
    np.testing.assert_array_equal(carry.critic, 0.0)  # evaluation leaves critics unread
    assert action.shape == ((3,) if name == "sac" else (3, 1))
    assert int(state.grad_steps) > 0
