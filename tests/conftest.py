"""Suite-wide settings.

One XLA host device per core, as the CLI sets up (``jaxrl.platform``): XLA:CPU runs a
scan of small kernels on about one core, so a population sharded over one device per
core trains up to that many times faster. Subprocesses inherit the flag unless they set
their own (the 8-device sharding checks do).

No persistent XLA compilation cache: with two host devices, an executable loaded from
the cache aborted the process (JAX 0.9.2, "Fatal Python error: Aborted" in an eager
gather on a member-sharded array, reproducible by running tests/components before
tests/contract/test_contract.py); without the cache the same sequence passes.
"""
from jaxrl.platform import configure_cpu_devices

configure_cpu_devices()
