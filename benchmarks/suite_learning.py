"""Does a learner beat a random policy on each suite's representative env? Trains a small
population per (algorithm, env), scores the final greedy policies (the run's final
evaluation) and a uniform random policy on the same env, and writes IQMs with 95%
bootstrap CIs across seeds as JSON.

    python benchmarks/suite_learning.py --json benchmarks/results/suite_learning.json [CASE ...]

Budgets are small (CPU): these are "learns something", not tuned results. The first seven
cases are tests/test_learning_suites.py's configurations (the tests evaluate fewer episodes
where episodes are long; Craftax runs 4 seeds here, 2 there). Craftax is scored by the
sampling policy's training episodes in the last chunk (``TRAINING_MEASURE``), as Craftax's
papers score it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

# name -> (algorithm, env id, settings, env settings, seeds)
CASES = {
    "navix_empty_ppo": ("ppo", "navix/Navix-Empty-5x5-v0",
                        {"total_timesteps": 100_000, "torso": "mlp"}, {}, 4),
    "xminigrid_empty_ppo": ("ppo", "xminigrid/MiniGrid-Empty-5x5",
                            {"total_timesteps": 100_000, "torso": "mlp"}, {}, 4),
    "jumanji_2048_ppo": ("ppo", "jumanji/Game2048-v1",
                         {"total_timesteps": 200_000, "num_envs": 16, "num_steps": 64,
                          "num_minibatches": 8, "normalize_observations": True}, {}, 4),
    "pgx_breakout_pqn": ("pqn", "pgx/minatar-breakout",
                         {"total_timesteps": 150_000, "num_envs": 64, "num_steps": 32,
                          "num_minibatches": 8, "num_epochs": 2, "hidden_sizes": (128,),
                          "epsilon_fraction": 0.2, "learning_rate": 1e-3}, {}, 2),
    "playground_cartpole_ppo": ("ppo", "playground/CartpoleBalance",
                                {"total_timesteps": 300_000, "num_envs": 16, "num_steps": 64,
                                 "num_minibatches": 8, "normalize_observations": True,
                                 "normalize_rewards": True, "learning_rate": 1e-3,
                                 "gamma": 0.995, "ent_coef": 0.0}, {}, 8),
    "playground_cartpole_sac": ("sac", "playground/CartpoleBalance",
                                {"total_timesteps": 20_000, "eval_episodes": 4}, {}, 4),
    "craftax_classic_ppo": ("ppo", "craftax/Craftax-Classic-Symbolic-v1",
                            {"total_timesteps": 100_000, "num_envs": 64, "num_steps": 64,
                             "num_minibatches": 8, "hidden_sizes": (256, 256),
                             "learning_rate": 3e-4, "gae_lambda": 0.8, "eval_episodes": 1},
                            {"max_timesteps": 2000, "reset_mode": "optimistic"}, 4),
    # not yet learning at this budget (kept to measure the next attempt against)
    "jumanji_snake_ppo": ("ppo", "jumanji/Snake-v1",
                          {"total_timesteps": 300_000}, {"max_steps_in_episode": 500}, 8),
}
# cases scored by the last chunk's training episodes instead of the greedy evaluation
TRAINING_MEASURE = {"craftax_classic_ppo"}


def random_returns(env_id: str, env_values: dict, episodes: int = 64, seed: int = 0):
    """Returns of a uniform random policy (over the legal actions where the env gives a
    mask): the first episode of each of ``episodes`` copies."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    import jaxrl.envs
    from jaxrl.components.action_masks import MASK_KEY, random_legal
    from jaxrl.contract import as_learner_env
    from jaxrl.envs import EpisodeStatistics, VecEnv

    env, params = jaxrl.envs.make(env_id, **env_values)
    env = as_learner_env(env, params, "random")
    space = env.action_space(params)
    venv = VecEnv(EpisodeStatistics(env), episodes)
    steps = env.max_episode_steps(params)

    @jax.jit
    def rollout(key):
        obs, state = venv.reset(key, params)

        def body(carry):
            obs, state, done_before, ret, t, k = carry
            k, act_key, step_key = jax.random.split(k, 3)
            if isinstance(obs, dict) and MASK_KEY in obs:
                actions = random_legal(act_key, obs[MASK_KEY].reshape(episodes, -1) > 0.5)
            else:
                actions = jax.vmap(space.sample)(jax.random.split(act_key, episodes))
            obs, state, _, _, _, info = venv.step(step_key, state, actions, params)
            first = info["episode_done"] & ~done_before
            return (obs, state, done_before | info["episode_done"],
                    jnp.where(first, info["episode_return"], ret), t + 1, k)

        def running(carry):  # until every copy has finished its first episode
            return (carry[4] < steps) & ~jnp.all(carry[2])

        init = (obs, state, jnp.zeros(episodes, bool), jnp.zeros(episodes, jnp.float32),
                0, key)
        _, _, done, ret, _, _ = jax.lax.while_loop(running, body, init)
        return ret, done

    ret, done = rollout(jax.random.PRNGKey(seed))
    return np.asarray(ret)[np.asarray(done)]


def run_case(name: str) -> dict:
    import numpy as np

    from jaxrl import stats
    from jaxrl.experiment import make_experiment
    from jaxrl.runner import train

    algorithm, env_id, values, env_values, seeds = CASES[name]
    exp = make_experiment(algorithm, env_id, dict(values), dict(env_values), num_seeds=seeds)
    algo, population = exp.build()
    start = time.perf_counter()
    result = train(algo, population, exp.run_config, progress=False)
    measure = "final_train_return" if name in TRAINING_MEASURE else "final_eval_return"
    trained = np.asarray(result.summary[measure], float)
    rand = random_returns(env_id, exp.env_overrides)
    return {"algorithm": algorithm, "env": env_id, "settings": values, "env_settings": env_values,
            "seeds": seeds, "seconds": time.perf_counter() - start, "measure": measure,
            "trained_iqm": stats.iqm(trained),
            "trained_ci95": list(stats.stratified_bootstrap_ci(trained)),
            "trained_per_seed": trained.tolist(),
            "random_mean": float(rand.mean()), "random_episodes": int(rand.size),
            "random_ci95": list(stats.stratified_bootstrap_ci(rand, statistic=np.mean))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help=f"default: all of {', '.join(CASES)}")
    parser.add_argument("--json", required=True)
    args = parser.parse_args(argv)
    try:
        with open(args.json) as f:
            out = json.load(f)
    except (OSError, ValueError):
        out = {}
    for name in args.cases or CASES:
        out[name] = run_case(name)
        print(name, json.dumps({k: out[name][k] for k in ("trained_iqm", "trained_ci95",
                                                          "random_mean", "seconds")}),
              flush=True)
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
