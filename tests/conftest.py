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

No persistent XLA compilation cache either: it made the abort reproducible here and
saves little on a clean CI checkout.
"""

# The longest files first (measured under `make test`, two workers, most expensive at the
# top). pytest-xdist hands out whole files (``--dist loadfile``) in collection order
# (``--no-loadscope-reorder``), so a long file that starts last keeps one worker busy
# while the other idles; short files at the end fill in instead.
LONGEST_FIRST = (
    "tests/test_learning_value_based.py",
    "tests/test_learning_actor_critic.py",
    "tests/test_distributed.py",
    "tests/contract/test_sharding.py",
    "tests/test_envs.py",
    "tests/test_learning.py",
    "tests/test_meta.py",
    "tests/test_notebook.py",
    "tests/sweep/test_kill_resume.py",
    "tests/test_memory.py",
    "tests/contract/test_data_parallel.py",
    "tests/sweep/test_ray.py",
    "tests/sweep/test_pbt.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable
