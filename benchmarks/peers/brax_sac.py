"""brax's own SAC trainer (``brax.training.agents.sac``) on a brax task, for a side-by-side
with `jaxrl bench sac --env brax/NAME` at the same budget and configuration.

brax's trainer runs one seed per call (it pmaps over devices, never over seeds), so a
population of N seeds costs N calls; this script runs ``--seeds`` calls one after
another, each in a fresh process (own compile, own peak RSS), and reports per call:

* ``env_steps_per_second``: brax's own ``training/sps`` of the last training epoch
  (``num_evals=3``: the epochs after the first are compiled already);
* ``compile_and_first_epoch_seconds``: wall time from the call to the end of the first
  training epoch minus that epoch's share at the steady rate (what compiling cost);
* ``process_compile_seconds``: every trace, lowering and XLA compile in the process by
  JAX's own clocks, as `jaxrl bench` reports it;
* ``final_return``: brax's last evaluation (``eval/episode_reward``, 128 eval envs).

    .venv/bin/python benchmarks/peers/brax_sac.py --env inverted_pendulum \\
        --total-timesteps 32768 --json benchmarks/results/peers/brax_sac_inverted_pendulum.json
"""
import argparse
import time

from rows import brax_trainer_row, one_call_per_seed


def single(env, total_timesteps, num_envs, batch_size, grad_updates_per_step,
           learning_rate, discounting, tau, min_replay_size, max_replay_size, seed,
           hidden_sizes, backend):
    import functools

    from jaxrl.bench import compile_clock  # this script runs in jaxrl's venv (brax is in it)

    spent = compile_clock()
    from brax import envs
    from brax.training.agents.sac import networks as sac_networks
    from brax.training.agents.sac import train as sac

    environment = envs.get_environment(env, backend=backend) if backend else \
        envs.get_environment(env)
    marks = []

    def progress(step, metrics):
        marks.append((time.perf_counter(), int(step), {k: float(v) for k, v in metrics.items()}))

    network_factory = functools.partial(sac_networks.make_sac_networks,
                                        hidden_layer_sizes=tuple(hidden_sizes))
    start = time.perf_counter()
    sac.train(environment=environment, num_timesteps=total_timesteps, episode_length=1000,
              num_envs=num_envs, batch_size=batch_size,
              grad_updates_per_step=grad_updates_per_step, learning_rate=learning_rate,
              discounting=discounting, tau=tau, min_replay_size=min_replay_size,
              max_replay_size=max_replay_size, seed=seed, num_evals=3,
              max_devices_per_host=1, deterministic_eval=True,
              network_factory=network_factory, progress_fn=progress)
    wall = time.perf_counter() - start
    steady = marks[-1][2]["training/sps"]
    first_epoch = marks[1][2]
    first_epoch_steps = marks[1][1] - marks[0][1]
    return brax_trainer_row(
        "sac", env, seed, total_timesteps, steady, spent, wall, marks,
        compile_and_first_epoch_seconds=first_epoch["training/walltime"],
        compile_seconds_estimate=max(first_epoch["training/walltime"]
                                     - first_epoch_steps / steady, 0.0))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="inverted_pendulum")
    parser.add_argument("--backend", default="", help="brax backend (default: the env's)")
    parser.add_argument("--total-timesteps", type=int, default=32_768)
    parser.add_argument("--num-envs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--grad-updates-per-step", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--discounting", type=float, default=0.99)
    parser.add_argument("--tau", type=float, default=0.005)
    parser.add_argument("--min-replay-size", type=int, default=1_000)
    parser.add_argument("--max-replay-size", type=int, default=100_000)
    one_call_per_seed(__file__, parser, single, lambda args: {
        "num_envs": args.num_envs, "batch_size": args.batch_size,
        "grad_updates_per_step": args.grad_updates_per_step,
        "learning_rate": args.learning_rate, "discounting": args.discounting,
        "tau": args.tau, "min_replay_size": args.min_replay_size,
        "max_replay_size": args.max_replay_size, "backend": args.backend}, "brax SAC")


if __name__ == "__main__":
    main()
