"""rejax 0.1.3's PPO, DQN and PQN on CartPole-v1 and SAC and TD3 on Pendulum-v1, with
rejax's published configs (its repository's configs/gymnax/cartpole.yaml and
pendulum.yaml; PPO with PureJaxRL's), for a side-by-side with `jaxrl bench`.

Runs only in a throwaway venv (rejax pins gymnax 0.0.9; never a jaxrl dependency):

    python3.11 -m venv /work/rejax-venv
    /work/rejax-venv/bin/pip install rejax==0.1.3 gymnax==0.0.9
    # the same JAX stack as jaxrl's constraints.txt; left alone, pip takes JAX 0.10.2
    /work/rejax-venv/bin/pip install jax==0.9.2 jaxlib==0.9.2 flax==0.12.6 \\
        optax==0.2.8 chex==0.1.92
    /work/rejax-venv/bin/python benchmarks/peers/rejax_algorithms.py --algos sac,td3 \\
        --json benchmarks/results/peers/rejax_sac_td3_pendulum.json

Each (algorithm, members) row runs in a fresh subprocess (its own peak RSS and compile).
``members`` seeds are vmapped over ``algo.train`` (one member is a vmap of size 1).
Compile seconds come from ``jit(...).lower(keys).compile()``; the timed call is the
compiled program run once, ``block_until_ready``. rejax evaluates 128 episodes every
``eval_freq`` env steps inside its training program; ``--eval-freq`` defaults to the
whole run (one evaluation at the end, plus rejax's initial one, which we skip), closest
to `jaxrl bench`, which times no evaluation at all. The final return is the mean over
members of rejax's last evaluation.
"""
import argparse
import os
import resource
import time

from rows import answer_single, run_row, serve_compiled, write_json

CONFIGS = {
    # PureJaxRL's CartPole PPO (what jaxrl's PPOConfig defaults to); rejax does not
    # anneal its learning rate, so the jaxrl side runs with anneal_lr=false.
    "ppo": dict(env="CartPole-v1", agent_kwargs={"activation": "tanh"}, num_envs=4,
                num_steps=128, num_epochs=4, num_minibatches=4, learning_rate=2.5e-4,
                max_grad_norm=0.5, total_timesteps=262_144, eval_freq=262_144, gamma=0.99,
                gae_lambda=0.95, clip_eps=0.2, ent_coef=0.01, vf_coef=0.5,
                normalize_observations=False),
    "dqn": dict(env="CartPole-v1", agent="DuelingQNetwork", agent_kwargs={"activation": "swish"},
                num_envs=10, buffer_size=50_000, fill_buffer=5_000, batch_size=100,
                max_grad_norm=10, learning_rate=0.001, num_epochs=5, total_timesteps=100_000,
                eval_freq=2_500, polyak=0.98, eps_start=1, eps_end=0.05,
                exploration_fraction=0.5, gamma=0.99, ddqn=True,
                normalize_observations=False),
    "pqn": dict(env="CartPole-v1", num_envs=16, num_steps=128, num_minibatches=16,
                max_grad_norm=10, learning_rate=0.0003, num_epochs=5, total_timesteps=524288,
                eval_freq=16384, eps_start=1, eps_end=0.05, exploration_fraction=0.5,
                gamma=0.99, td_lambda=0.9, normalize_observations=False),
    "sac": dict(env="Pendulum-v1", agent_kwargs={"activation": "swish"}, num_envs=1,
                buffer_size=10_000, fill_buffer=256, batch_size=256, learning_rate=0.01,
                num_epochs=1, total_timesteps=10_000, eval_freq=100, gamma=0.99,
                polyak=0.98, target_entropy_ratio=None, normalize_observations=True),
    "td3": dict(env="Pendulum-v1", actor_kwargs={"activation": "swish"},
                critic_kwargs={"activation": "swish"}, num_envs=1, buffer_size=10_000,
                fill_buffer=1_000, batch_size=100, learning_rate=0.001, num_epochs=1,
                total_timesteps=10_000, eval_freq=100, gamma=0.99, polyak=0.95,
                max_grad_norm=100, exploration_noise=0.3, target_noise=0.2,
                target_noise_clip=0.5, policy_delay=2, normalize_observations=True),
}


def compiled_train(algo_name, members, total_timesteps, eval_freq):
    """(config, the compiled vmapped train function, its keys, compile seconds)."""
    import jax
    import rejax

    config = dict(CONFIGS[algo_name])
    if total_timesteps:
        config["total_timesteps"] = total_timesteps
    config["eval_freq"] = eval_freq or config["total_timesteps"]
    config["skip_initial_evaluation"] = True
    algo = rejax.get_algo(algo_name).create(**config)
    train = jax.jit(jax.vmap(algo.train))
    keys = jax.random.split(jax.random.PRNGKey(0), members)
    start = time.perf_counter()
    compiled = train.lower(keys).compile()
    return config, compiled, keys, time.perf_counter() - start


def serve(algo_name, members, total_timesteps, eval_freq):
    """The peer's side of ``paired.py``: compile once, say ``READY``, then time one whole
    training call per ``run`` line on stdin (the same protocol as ``jaxrl.bench``)."""
    config, compiled, keys, compile_seconds = compiled_train(algo_name, members,
                                                             total_timesteps, eval_freq)
    serve_compiled(lambda: compiled(keys), members * config["total_timesteps"],
                   compile_seconds)


def single(algo_name, members, total_timesteps, eval_freq):
    import jax
    import numpy as np

    config, compiled, keys, compile_seconds = compiled_train(algo_name, members,
                                                             total_timesteps, eval_freq)
    start = time.perf_counter()
    ts, evaluation = jax.block_until_ready(compiled(keys))
    train_seconds = time.perf_counter() - start
    lengths, returns = evaluation  # [members, evals, episodes]
    steps = config["total_timesteps"]
    return {"peer": "rejax 0.1.3", "algorithm": algo_name, "env": config["env"],
            "members": members, "total_timesteps": steps,
            "env_steps_per_second": members * steps / train_seconds,
            "train_seconds": train_seconds, "compile_seconds": compile_seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "final_return_mean": float(np.asarray(returns)[:, -1].mean()),
            "eval_freq": config["eval_freq"], "jax_version": jax.__version__,
            "load_average_1min": os.getloadavg()[0]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", default="dqn,pqn")
    parser.add_argument("--members", default="1,16")
    parser.add_argument("--total-timesteps", type=int, default=0)
    parser.add_argument("--eval-freq", type=int, default=0,
                        help="env steps between rejax's evaluations (0: once, at the end)")
    parser.add_argument("--json")
    parser.add_argument("--single", help=argparse.SUPPRESS)
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # paired.py's worker
    args = parser.parse_args()
    if args.serve:
        import json

        return serve(**json.loads(args.serve))
    if answer_single(args, single):
        return
    rows = []
    for algo_name in args.algos.split(","):
        for members in [int(m) for m in args.members.split(",")]:
            spec = {"algo_name": algo_name, "members": members,
                    "total_timesteps": args.total_timesteps, "eval_freq": args.eval_freq}
            row = run_row(__file__, spec, f"{algo_name} x {members}")
            print(f"rejax {algo_name} {members} members: {row['env_steps_per_second']:,.0f} "
                  f"env steps/s, compile {row['compile_seconds']:.1f} s, final return "
                  f"{row['final_return_mean']:.1f}", flush=True)
            rows.append(row)
    if args.json:
        write_json(args.json, {"peer": "rejax 0.1.3", "configs": CONFIGS}, rows)


if __name__ == "__main__":
    main()
