"""Where a PPO update's time goes: rollout vs. values and advantage estimation vs. SGD epochs.

Times each phase of ``PPO.update`` as its own vmapped, jitted program over a population
(CartPole, PureJaxRL hyperparameters). Usage: python benchmarks/profile_ppo.py [members]
"""
import json
import sys
import time

import jax

import jaxrl.envs
from jaxrl.algorithms import ppo
from jaxrl.networks import ActorCritic
from jaxrl.components.rollout import collect


def timed(fn, *args, repeat=20):
    out = jax.block_until_ready(fn(*args))
    start = time.perf_counter()
    for _ in range(repeat):
        out = jax.block_until_ready(fn(*args))
    return (time.perf_counter() - start) / repeat, out


def main(members: int = 16):
    env, params = jaxrl.envs.make("CartPole-v1")
    algo = ppo.make(env, params, ppo.PPOConfig())
    hp = ppo.PPOHParams()
    keys = jax.random.split(jax.random.PRNGKey(0), members)
    state = jax.jit(jax.vmap(algo.init, in_axes=(0, None)))(keys, hp)

    def rollout(s):
        def act(carry, obs, k):
            outputs = algo.network.apply(s.params, obs, method=ActorCritic.policy_outputs)
            raw, logp = algo.action_dist.sample(k, outputs)
            return carry, raw, raw, {"log_prob": logp}
        return collect(algo.train_env, params, act, s.env_state, s.obs, s.key, 128)[3]

    t_rollout, batch = timed(jax.jit(jax.vmap(rollout)), state)
    t_update, _ = timed(jax.jit(jax.vmap(algo.update, in_axes=(0, None))), state, hp)

    def values_and_gae(s, b):
        values = algo.network.apply(s.params, b.obs, method=ActorCritic.value)
        nv = algo.network.apply(s.params, b.final_obs, method=ActorCritic.value)
        return ppo.compute_gae(b.reward, values, nv, b.terminated, b.truncated, 0.99, 0.95)
    t_gae, _ = timed(jax.jit(jax.vmap(values_and_gae)), state, batch)
    steps = members * algo.config.batch_size
    result = {
        "members": members,
        "update_ms": 1e3 * t_update, "rollout_ms": 1e3 * t_rollout, "gae_ms": 1e3 * t_gae,
        "sgd_epochs_ms (update - rollout - gae)": 1e3 * (t_update - t_rollout - t_gae),
        "env_steps_per_second": steps / t_update,
        "rollout_only_steps_per_second": steps / t_rollout,
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 16)
