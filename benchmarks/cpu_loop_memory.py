"""Host memory of one long program call on XLA:CPU, by loop iterations and host devices.

Seen here (JAX 0.10.2, 2-core CPU): a program whose loop runs N gradient steps on two
host devices holds host memory that grows with N until the call returns (then it is
freed). One device grows far less. A 256-wide TD3+BC of 8 members whose chunk was one
call of 10k gradient steps peaked at 17 GB against a memory plan of 49 MiB. Each case
runs in a fresh process and reports its peak resident set (``ru_maxrss``):

- ``jax``: a bare ``lax.scan`` of Adam steps on a 256-wide MLP, vmapped over 2 members,
  on 1 device or sharded over 2 (``shard_map``);
- ``jaxrl``: ``td3_bc`` trained offline (2 members, 256-wide, LayerNorm) through the
  runner, one chunk (one call) or ``--chunks`` chunks, on 1 or 2 host devices.

    python benchmarks/cpu_loop_memory.py --json benchmarks/results/cpu_loop_memory.json
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

JAX_CASE = """
import os, sys, resource
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=" + sys.argv[2]
import jax, jax.numpy as jnp, optax
from jax.sharding import NamedSharding, PartitionSpec as P
steps, devices, width = int(sys.argv[1]), int(sys.argv[2]), 256
def init(k):
    a, b, c = jax.random.split(k, 3)
    return [jax.random.normal(a, (4, width)) * .1, jax.random.normal(b, (width, width)) * .1,
            jax.random.normal(c, (width, 1)) * .1]
def f(p, x):
    h = jax.nn.relu(jax.nn.relu(x @ p[0]) @ p[1]); return (h @ p[2]).mean()
opt = optax.adam(1e-3)
def train(k):
    def step(c, i):
        p, s = c
        x = jax.random.normal(jax.random.fold_in(k, i), (256, 4))
        u, s = opt.update(jax.grad(f)(p, x), s, p)
        return (optax.apply_updates(p, u), s), f(p, x)
    p = init(k)
    return jax.lax.scan(step, (p, opt.init(p)), jnp.arange(steps))[1].mean()
keys = jax.random.split(jax.random.PRNGKey(0), 2)
if devices == 1:
    out = jax.jit(jax.vmap(train))(keys)
else:
    mesh = jax.make_mesh((devices,), ("m",))
    keys = jax.device_put(keys, NamedSharding(mesh, P("m")))
    out = jax.jit(jax.shard_map(jax.vmap(train), mesh=mesh, in_specs=P("m"),
                                out_specs=P("m")))(keys)
out.block_until_ready()
print("PEAK_MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""

JAXRL_CASE = """
import os, sys, resource
steps, devices, chunks = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
from jaxrl.platform import configure_cpu_devices
configure_cpu_devices(None)  # jaxrl's other CPU settings; the count above stands
from jaxrl.experiment import make_experiment
from jaxrl.runner import train
values = {"dataset": "random:20000", "offline_steps": steps, "offline_steps_per_update": 500,
          "hidden_sizes": (256, 256), "layer_norm": True, "num_chunks": chunks,
          "eval_episodes": 2}
exp = make_experiment("td3_bc", "Pendulum-v1", values, {}, num_seeds=2, seed=0)
algo, population = exp.build()
train(algo, population, exp.run_config, progress=False)
print("PEAK_MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def peak(code, *args):
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(code)
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run([sys.executable, f.name, *map(str, args)], capture_output=True,
                         text=True, env=env, check=True).stdout
    os.unlink(f.name)
    return int([x for x in out.splitlines() if x.startswith("PEAK_MB")][0].split()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="1000,3000", help="two loop lengths")
    parser.add_argument("--chunks", type=int, default=3, help="jaxrl: chunks of the split run")
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    short, long = (int(x) for x in args.steps.split(","))
    rows = []
    for case, code, extra in (("jax", JAX_CASE, ()), ("jaxrl", JAXRL_CASE, (1,))):
        for devices in (1, 2):
            a, b = peak(code, short, devices, *extra), peak(code, long, devices, *extra)
            rows.append({"case": case, "devices": devices, "chunks": 1,
                         "peak_mb": {short: a, long: b},
                         "mb_per_1000_steps": round(1000 * (b - a) / (long - short), 1)})
            print(json.dumps(rows[-1]), file=sys.stderr)
    split = peak(JAXRL_CASE, long, 2, args.chunks)  # the same steps over several calls
    rows.append({"case": "jaxrl", "devices": 2, "chunks": args.chunks,
                 "peak_mb": {long: split}})
    print(json.dumps(rows[-1]), file=sys.stderr)
    import jax

    with open(args.json, "w") as f:
        json.dump({"jax": jax.__version__, "members": 2, "width": 256, "rows": rows}, f,
                  indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
