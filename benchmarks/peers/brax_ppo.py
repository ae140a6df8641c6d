"""brax's own PPO trainer (``brax.training.agents.ppo``) on a brax task, for a side-by-side
with `jaxrl bench ppo --env brax/NAME` at the same budget and configuration.

Compile time is read from JAX's own event clocks (``jaxrl.bench.compile_clock``: every
trace, lowering and XLA compile in the process), the same clocks `jaxrl bench` reports
as ``process_compile_seconds``, so the two compare like for like. brax's trainer runs
one seed per call; each call runs in a fresh process (own compile, own peak RSS).

jaxrl's PPO defaults map onto brax's fields as: 4 envs x 128 steps per update ->
``num_envs=4, unroll_length=128, batch_size=1, num_minibatches=4`` (one 128-step
trajectory per minibatch), 4 epochs -> ``num_updates_per_batch=4``, (64, 64) torsos
for both networks. brax's policy is tanh-squashed, jaxrl's default clipped.

    .venv/bin/python benchmarks/peers/brax_ppo.py --env inverted_pendulum \\
        --total-timesteps 65536 --json benchmarks/results/peers/brax_ppo_inverted_pendulum.json
"""
import argparse
import time

from rows import brax_trainer_row, one_call_per_seed


def single(env, total_timesteps, num_envs, unroll_length, num_minibatches, epochs,
           learning_rate, entropy_cost, discounting, gae_lambda, clipping_epsilon,
           max_grad_norm, num_evals, seed, hidden_sizes):
    import functools

    from jaxrl.bench import compile_clock  # this script runs in jaxrl's venv (brax is in it)

    spent = compile_clock()
    from brax import envs
    from brax.training.agents.ppo import networks as ppo_networks
    from brax.training.agents.ppo import train as ppo

    marks = []
    start = time.perf_counter()

    def progress(step, metrics):
        marks.append((time.perf_counter() - start, int(step),
                      {k: float(v) for k, v in metrics.items()}))

    network_factory = functools.partial(ppo_networks.make_ppo_networks,
                                        policy_hidden_layer_sizes=tuple(hidden_sizes),
                                        value_hidden_layer_sizes=tuple(hidden_sizes))
    ppo.train(environment=envs.get_environment(env), num_timesteps=total_timesteps,
              episode_length=1000, num_envs=num_envs, unroll_length=unroll_length,
              batch_size=1, num_minibatches=num_minibatches,
              num_updates_per_batch=epochs, learning_rate=learning_rate,
              entropy_cost=entropy_cost, discounting=discounting, gae_lambda=gae_lambda,
              clipping_epsilon=clipping_epsilon, max_grad_norm=max_grad_norm, seed=seed,
              num_evals=num_evals, max_devices_per_host=1, deterministic_eval=True,
              network_factory=network_factory, progress_fn=progress)
    wall = time.perf_counter() - start
    epochs_timed = [m for m in marks if m[1] > 0]
    # brax's rate of its last training epoch; the first epoch's includes its compile
    steady = epochs_timed[-1][2]["training/sps"] if len(epochs_timed) >= 2 else None
    return brax_trainer_row("ppo", env, seed, total_timesteps, steady, spent, wall, marks)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="inverted_pendulum")
    parser.add_argument("--total-timesteps", type=int, default=65_536)
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--unroll-length", type=int, default=128)
    parser.add_argument("--num-minibatches", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=2.5e-4)
    parser.add_argument("--entropy-cost", type=float, default=0.01)
    parser.add_argument("--discounting", type=float, default=0.99)
    parser.add_argument("--gae-lambda", type=float, default=0.95)
    parser.add_argument("--clipping-epsilon", type=float, default=0.2)
    parser.add_argument("--max-grad-norm", type=float, default=0.5)
    parser.add_argument("--num-evals", type=int, default=1,
                        help="brax evaluates before training too when > 1 (a second "
                             "compile of its evaluator); 1 evaluates once at the end, "
                             "as `jaxrl bench` does")
    one_call_per_seed(__file__, parser, single, lambda args: {
        "num_envs": args.num_envs, "unroll_length": args.unroll_length,
        "num_minibatches": args.num_minibatches, "epochs": args.epochs,
        "learning_rate": args.learning_rate, "entropy_cost": args.entropy_cost,
        "discounting": args.discounting, "gae_lambda": args.gae_lambda,
        "clipping_epsilon": args.clipping_epsilon, "max_grad_norm": args.max_grad_norm,
        "num_evals": args.num_evals}, "brax PPO")


if __name__ == "__main__":
    main()
