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
