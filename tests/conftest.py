"""Suite-wide settings.

XLA's persistent compilation cache, in a directory that lives for this test session
only: a program compiled once (say, a sweep's chunk program) is loaded from disk by
every later test and subprocess that compiles the same program (the kill-and-resume
tests run one command three times, the notebooks repeat what the CLI tests compile).
Tracing still happens every time, so the trace-count assertions are unaffected; every
program is still compiled from scratch once per session.
"""
import os
import shutil
import tempfile

_CACHE = tempfile.mkdtemp(prefix="jaxrl-tests-xla-cache-")
os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE  # subprocesses inherit it


def pytest_configure(config):
    import jax

    jax.config.update("jax_compilation_cache_dir", _CACHE)


def pytest_unconfigure(config):
    shutil.rmtree(_CACHE, ignore_errors=True)
