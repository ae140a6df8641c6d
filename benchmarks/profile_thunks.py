"""Which compiled kernels a PPO update spends its time in, from JAX's profiler trace.

XLA:CPU runs a program as a sequence of thunks (a fused loop, a dot, a copy, a sort);
the profiler records each execution. This runs ``PPO.update`` vmapped over a population
(CartPole, PureJaxRL's configuration) under ``jax.profiler`` and prints the kernels by
total time, grouped by kind, and by how often they run per update (1,280 per update is
once per rollout step: 128 steps x 10 updates; 160 is once per minibatch step).
The profiler adds about a microsecond to every thunk, so tiny, frequent kernels look
costlier than they are; compare kinds and counts, not absolute times.

Usage: XLA_FLAGS=--xla_force_host_platform_device_count=1 taskset -c 0 \\
    python benchmarks/profile_thunks.py [members]
"""
import collections
import glob
import gzip
import json
import re
import sys
import tempfile

import jax

import jaxrl.envs
from jaxrl.algorithms import ppo

UPDATES = 10
NOT_KERNELS = ("ThunkExecutor", "$", "PjitFunction", "CommonPjRt", "while", "end: ")


def main(members: int = 8):
    env, params = jaxrl.envs.make("CartPole-v1")
    algo = ppo.make(env, params, ppo.PPOConfig())
    hp = ppo.PPOHParams()
    state = jax.jit(jax.vmap(algo.init, in_axes=(0, None)))(
        jax.random.split(jax.random.PRNGKey(0), members), hp)
    update = jax.jit(jax.vmap(algo.update, in_axes=(0, None)))
    jax.block_until_ready(update(state, hp))
    trace_dir = tempfile.mkdtemp()
    jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
    for _ in range(UPDATES):
        jax.block_until_ready(update(state, hp))
    jax.profiler.stop_trace()
    path = sorted(glob.glob(f"{trace_dir}/**/*.trace.json.gz", recursive=True))[-1]
    events = json.load(gzip.open(path))
    events = events["traceEvents"] if isinstance(events, dict) else events
    total, count = collections.Counter(), collections.Counter()
    for e in events:
        if e.get("ph") == "X" and not e["name"].startswith(NOT_KERNELS) and "::" not in e["name"]:
            total[e["name"]] += e.get("dur", 0)
            count[e["name"]] += 1
    all_time = sum(total.values())
    kinds, per_count = collections.Counter(), collections.Counter()
    for name, us in total.items():
        kind = re.sub(r"\.\d+$", "", name)
        kinds["dot" if kind.startswith("dot") else kind] += us
        per_count[count[name]] += us
    print(f"{members} members, {UPDATES} updates, kernel time by kind:")
    for kind, us in kinds.most_common(15):
        print(f"  {100 * us / all_time:5.1f}%  {kind}")
    print("by runs per trace (x/10 per update):")
    for runs, us in per_count.most_common(6):
        print(f"  {runs:6d} runs: {us / 1e3 / UPDATES:7.2f} ms per update")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
