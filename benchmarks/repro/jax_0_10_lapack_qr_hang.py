"""Smallest program found that hangs jaxrl under JAX 0.10.2 (issue 30): two QR
decompositions per member of a vmapped program, the members sharded over two CPU devices.

    python benchmarks/repro/jax_0_10_lapack_qr_hang.py [QRS_PER_MEMBER] [DEVICES] [shard|none]

Seen on 2026-12-06, 2 CPU cores, Python 3.11:

- jax/jaxlib 0.10.2 (flax 0.12.8): ``2 2 shard`` hangs 3 times in 3 (15 s limit), and
  ``6 1 none`` and ``6 2 none`` hang 1-2 times in 3. One QR per member (``1 2 shard``) and
  ``2 1 none`` finish in milliseconds.
- jax/jaxlib 0.9.2 (this repository's pins): every case finishes in milliseconds.

Why (``gdb -p PID -batch -ex 'thread apply all bt'`` on a hung run): each QR is a LAPACK
FFI custom call (``lapack_sgeqrf_ffi``) that splits its batch of members over the CPU
client's intra-op thread pool (``jax::ParallelBatchMap``) and blocks its own thread on a
``BlockingCounter`` until the pieces are done. When two such calls run at once (one per
device, or two independent thunks that the thunk executor runs side by side), both
pool threads of a 2-core machine are blocked waiting, and the pieces they wait for are
queued behind them on the same pool. ``--xla_cpu_multi_thread_eigen=false`` and
``--xla_cpu_enable_concurrency_optimized_scheduler=false`` do not prevent it.

In jaxrl the QRs are the orthogonal initialisers of the networks (``init_params``: six
``geqrf`` and six ``orgqr`` calls for PPO's actor-critic), inside the runner's vmapped,
member-sharded ``init`` program: `jaxrl train ppo --env CartPole-v1 --num-seeds 16`
compiled, then waited forever for the first chunk's outputs.

Where it stands: jax commit 859992407d ("Don't try to parallelize LAPACK kernels in
opensource builds", 2026-07-21, citing jax-ml/jax#36927, a slowdown of the same
splitting) removes the splitting from open-source jaxlib builds; it is in no release up
to 0.11.0. jaxrl works around it (``jaxrl.networks.initializers``: one QR at a time
under vmap on CPU, bitwise the same values), and its contract suite checks that no
compiled program calls LAPACK batched."""
import os
import sys
import time

os.environ["XLA_FLAGS"] = ("--xla_force_host_platform_device_count="
                           + (sys.argv[2] if len(sys.argv) > 2 else "2"))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec  # noqa: E402


def main():
    qrs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    shard = (sys.argv[3] if len(sys.argv) > 3 else "shard") == "shard"

    def member(key):
        keys = jax.random.split(key, qrs)
        return [jnp.linalg.qr(jax.random.normal(k, (64, 64)))[0] for k in keys]

    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    if shard:
        mesh = Mesh(np.array(jax.devices()), ("member",))
        keys = jax.device_put(keys, NamedSharding(mesh, PartitionSpec("member")))
    program = jax.jit(jax.vmap(member)).lower(keys).compile()
    start = time.time()
    jax.block_until_ready(program(keys))
    print(f"jax {jax.__version__}: {qrs} QRs per member on {len(jax.devices())} devices "
          f"({'sharded' if shard else 'one device'}) finished in {time.time() - start:.3f} s")


if __name__ == "__main__":
    main()
