"""Suite-wide settings.

XLA's persistent compilation cache, in a directory that lives for this test session
only: a program compiled once (say, a sweep's chunk program) is loaded from disk by
every later test and subprocess that compiles the same program (the kill-and-resume
tests run one command three times, the notebooks repeat what the CLI tests compile).
Tracing still happens every time, so the trace-count assertions are unaffected; every
program is still compiled from scratch once per session.

One XLA host device per core, as the CLI sets up (``jaxrl.platform``): XLA:CPU runs a
scan of small kernels on about one core, so a population sharded over one device per
core trains up to that many times faster. Subprocesses inherit the flag unless they set
their own (the 8-device sharding checks do).
"""
import os
import shutil
import tempfile

from jaxrl.platform import configure_cpu_devices

configure_cpu_devices()

_CACHE = tempfile.mkdtemp(prefix="jaxrl-tests-xla-cache-")
os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE  # subprocesses inherit it


def pytest_configure(config):
    import jax

    jax.config.update("jax_compilation_cache_dir", _CACHE)


def pytest_unconfigure(config):
    shutil.rmtree(_CACHE, ignore_errors=True)
