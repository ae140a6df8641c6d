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

# The costliest test files first, by their worker seconds in a fresh clone's `make test`
# (two workers sharing 2 cores, 2026-12: the contract suite 675 s, meta 321 s, ...).
# `make test` hands files to its workers in this order (`--no-loadscope-reorder`),
# longest first, so the two finish together: replaying that run's file times, this order
# ends both workers at 2,407 s where the order before (files added over time) left one
# 104 s behind the other. xdist's own order (most tests first) left the costliest files
# (few tests, long runs) to the end, where one worker could run them for minutes while
# the other idled.
COSTLIEST_FIRST = (
    "tests/contract/test_contract.py",  # ~675 s: every learner's smoke configuration
    "tests/test_meta.py",  # ~320 s: the meta CLI killed and resumed
    "tests/test_env_suites.py",  # ~265 s: one env per suite, Craftax included
    "tests/test_envs.py",  # ~245 s: brax conformance in two processes
    "tests/test_learning_suites.py",  # ~235 s
    "tests/test_learning_memory.py",  # ~220 s: MemoryChain (GRU and feed-forward), RL²
    "tests/test_learning_teams.py",  # ~200 s: MAPPO on MPE, VDN on SMAX 3m
    "tests/test_offline.py",
    "tests/sweep/test_kill_resume.py",
    "tests/test_learning.py",
    "tests/test_env_params_per_member.py",
    "tests/test_distributed.py",
    "tests/test_memory.py",
    "tests/contract/test_sharding.py",  # ~115 s: two fresh 8-device processes
    "tests/components/test_policy_memory.py",
    "tests/test_learning_value_based.py",  # ~105 s: DQN's default config
    "tests/contract/test_data_parallel.py",
    "tests/test_cli.py",
    "tests/test_export.py",
    "tests/test_learning_actor_critic.py",
    "tests/components/test_recurrent_actor_critic.py",
    "tests/test_driver.py",
    "tests/sweep/test_pbt.py",
    "tests/test_multi_agent.py",
)


def pytest_collection_modifyitems(items):
    """Costliest files first (``COSTLIEST_FIRST``), the rest in collection order."""
    rank = {path: i for i, path in enumerate(COSTLIEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
