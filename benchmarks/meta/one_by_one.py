"""A meta-training run's inner throughput against the same inner runs launched one by one.

    python benchmarks/meta/one_by_one.py META_DIR [--runs 4] [--json OUT]

From META_DIR (a `jaxrl meta lpo | schedule` output) it reads the generations' inner env
steps/s (one vmapped program per task: meta-population x inner seeds) and the first
generation's extra seconds (compiling). It then runs the same inner run (first training
env, the starting meta-parameters) one at a time:

* ``in_process``: the single-run program compiled once, then ``--runs`` runs in sequence
  (the best a Python loop over members can do);
* ``launches``: one `jaxrl train ppo` process per run (1 seed, same fields), as a shell
  loop over members would do: import + compile + train each time.

Both rates and the ratios land in the JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("meta_dir")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--json")
    args = parser.parse_args()

    import jax

    from jaxrl.meta.pipeline import _load_spec

    spec = _load_spec(os.path.join(args.meta_dir, "meta.json"))
    curve = json.load(open(os.path.join(args.meta_dir, "es", "fitness_curve.json")))["curve"]
    steady = [r["inner_env_steps_per_second"] for r in curve[1:]]
    seconds = [r["seconds"] for r in curve]
    compile_seconds = seconds[0] - float(np.median(seconds[1:]))
    env_id = spec.train_envs[0]
    task = spec.task(env_id, None)
    params = spec.initial_params()

    fitness = jax.jit(task.fitness)
    keys = jax.random.split(jax.random.PRNGKey(123), args.runs + 1)
    started = time.perf_counter()
    jax.block_until_ready(fitness(params, keys[0]))
    first = time.perf_counter() - started
    started = time.perf_counter()
    for k in keys[1:]:
        jax.block_until_ready(fitness(params, k))
    per_run = (time.perf_counter() - started) / args.runs
    in_process = task.env_steps / per_run

    values = {**spec.learned_values, "num_chunks": 1, "eval_episodes": spec.eval_episodes}
    values.pop("schedule_params", None)
    launch_seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(min(args.runs, 2)):
            config = os.path.join(tmp, f"c{k}.json")
            json.dump({**values, "env": env_id, "env_overrides": spec.env_overrides,
                       "num_seeds": 1, "seed": k}, open(config, "w"))
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "jaxrl.cli", "train", "ppo", "--config",
                            config, "--out", os.path.join(tmp, f"r{k}"), "--no-progress"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            launch_seconds.append(time.perf_counter() - started)
    launches = task.env_steps / float(np.mean(launch_seconds))

    generation = float(np.median(steady))
    result = {
        "meta_dir": args.meta_dir, "target": spec.target, "env": env_id,
        "members_per_generation": spec.popsize * spec.inner_seeds * len(spec.train_envs),
        "inner_env_steps": task.env_steps,
        "generation_env_steps_per_second_median": generation,
        "generation_seconds_median": float(np.median(seconds[1:])),
        "first_generation_extra_seconds (compile)": compile_seconds,
        "one_by_one_in_process": {"compile_plus_first_run_seconds": first,
                                  "seconds_per_run": per_run,
                                  "env_steps_per_second": in_process},
        "one_by_one_launches": {"seconds_per_launch": launch_seconds,
                                "env_steps_per_second": launches},
        "speedup_vs_in_process": generation / in_process,
        "speedup_vs_launches": generation / launches,
        "machine": {"cpu_count": os.cpu_count(), "jax": jax.__version__,
                    "devices": [str(d) for d in jax.devices()]},
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
