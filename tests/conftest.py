"""Suite-wide settings.

The test process keeps JAX's single CPU device. With several host devices, a test that
indexes a member-sharded result eagerly (one small program per leaf, each a collective
between the devices) deadlocked or aborted the suite under JAX 0.9.2: the devices ran
those programs in different orders and each waited for the other in its rendezvous
(seen in ``test_vmapped_member_matches_member_alone``, in CI and here). So:

- multi-device behaviour is tested in fresh processes: the 8-device sharding checks
  (``cli_processes.host_devices_env(8)``) and the CLI in subprocesses (one device per core, as users
  run it);
- the learning tests train in a fresh process with one device per core
  (``tests/learning.py``), where training runs no collectives at all.

JAX's persistent compilation cache is on, one directory per xdist worker
(``cli_processes.COMPILATION_CACHE``), for the test process and the fresh processes it
starts: tests rebuild the same learners (the CLI's, the contract's smoke configurations)
and compile the same programs again, and a resumed run or a retried Ray task compiles
what the killed one did. An executable loaded from the cache is the one XLA compiled, so
results are unchanged; it saved 15% of the CLI, driver, sweep, export and bad-input files'
time here. Under JAX 0.9 (``make test-oldest``) the test process keeps it off: with
several host devices there it made the abort above reproducible.

The test process compiles with XLA:CPU's classic elemental emitters instead of its MLIR
fusion emitters (``--xla_cpu_use_fusion_emitters=false``, ``FUSION_EMITTERS_OFF``): the
same programs and semantics from a shorter codegen (the contract suite on ppo, sac, rsac
and qmix: 114 s -> 97 s here). The learning tests' fresh processes keep XLA's defaults,
the ones users train with.
"""
import os

from cli_processes import CACHE_SETTINGS, FUSION_EMITTERS_OFF

if FUSION_EMITTERS_OFF not in os.environ.get("XLA_FLAGS", ""):  # before JAX starts
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FUSION_EMITTERS_OFF}".strip()

import jax  # noqa: E402

import jaxrl.platform  # noqa: E402

if jax.__version_info__ >= (0, 10):
    jax.config.update("jax_compilation_cache_dir", CACHE_SETTINGS["JAX_COMPILATION_CACHE_DIR"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

# What the CLI and the runner do: tests of learners alone (``algo.train``) get the same
# lowering as runs (test_platform checks that importing jaxrl alone changes nothing).
jaxrl.platform.configure()

# The costliest test files first, by their `--durations` in full `make test` runs (two
# workers sharing 2 cores). `make test` hands files to its workers in this order
# (`--no-loadscope-reorder`), longest first, so the two finish together. xdist's own order
# (most tests first) left the costliest files (few tests, long runs) to the end, where one
# worker could run them for minutes while the other idled.
COSTLIEST_FIRST = (
    "tests/test_learning_suites.py",  # ~360 s: one env per suite, Craftax included
    "tests/test_learning_teams.py",  # ~450 s: IPPO, MAPPO, PQN-VDN on MPE; SMAX 3m
    "tests/test_learning_value_based.py",  # ~100 s: DQN's default config
    "tests/test_learning_actor_critic.py",  # ~300 s
    "tests/test_meta.py",
    "tests/contract/test_sharding.py",  # ~100 s: two fresh 8-device processes
    "tests/test_distributed.py",
    "tests/sweep/test_ray.py",  # 150-320 s: a Ray cluster's workers, each compiling
    "tests/test_learning.py",
    "tests/test_learning_memory.py",  # ~80 s: MemoryChain (GRU and feed-forward), RL²
    "tests/test_notebook.py",
    "tests/contract/test_contract.py",
    "tests/test_memory.py",
    "tests/sweep/test_kill_resume.py",
    "tests/test_envs.py",  # brax conformance in two processes
    "tests/sweep/test_pbt.py",
    "tests/contract/test_data_parallel.py",
)


def pytest_collection_modifyitems(items):
    """Costliest files first (``COSTLIEST_FIRST``), the rest in collection order."""
    rank = {path: i for i, path in enumerate(COSTLIEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
