"""Fresh processes for the tests: the command line as users run it (kill-and-resume
tests), and JAX programs on a chosen number of host devices."""
import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from jaxrl.platform import host_device_flags


def _shared_compilation_cache():
    """One XLA compilation cache directory per pytest process (each xdist worker makes
    its own; a test file runs in one worker, and its fresh processes share it)."""
    path = os.environ.get("JAXRL_TEST_COMPILATION_CACHE")
    if not path:
        path = tempfile.mkdtemp(prefix="jaxrl-test-xla-cache-")
        os.environ["JAXRL_TEST_COMPILATION_CACHE"] = path
        atexit.register(shutil.rmtree, path, True)
    return path


COMPILATION_CACHE = _shared_compilation_cache()
# every program cached, however quick its compile (most of the suite's are small)
CACHE_SETTINGS = {"JAX_COMPILATION_CACHE_DIR": COMPILATION_CACHE,
                  "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                  "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def with_compilation_cache(env):
    """``env`` with JAX's persistent compilation cache on, shared by the processes that
    compile the same program one after another: a run resumed after a kill, a Ray task
    retried, a local run checking a Ray one, the CLI tests' runs of the same smoke
    configurations. Each would otherwise compile it again (an executable loaded from the
    cache is the one XLA compiled: results are unchanged). The test processes share it
    too (conftest.py)."""
    return {**env, **CACHE_SETTINGS}


def own_devices_env():
    """The environment without ``XLA_FLAGS``: jaxrl picks one host device per core."""
    return {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}


# LLVM optimisation level 0, for fresh processes whose short runs are compile-bound and
# whose results are compared only with runs compiled under the same flags (brax
# conformance alone: 226 s -> 162 s; test_distributed.py: 186 s -> 163 s). Its rounding
# can differ from the default level's, and more between differently batched programs:
# at level 0 SAC's single-device and 8-device programs drifted apart on Pendulum
# (replayed data up to 91 apart after 120 steps, 5e-4 at the default level), so the
# 8-device sharding check keeps the default level. Nor is it safe for every learner: at
# level 0 (jaxlib 0.10.2) SAC's contract smoke run on Pendulum ends with NaN observations
# and losses that the default level does not produce; what runs at level 0 here is PPO,
# PQN and DQN, and envs stepped alone.
QUICK_COMPILE = "--xla_backend_optimization_level=0"
# XLA:CPU's classic elemental emitters in place of its MLIR fusion emitters: a shorter
# codegen for the same program (the test process's own setting: conftest.py).
FUSION_EMITTERS_OFF = "--xla_cpu_use_fusion_emitters=false"


def host_devices_env(count, quick_compile=False):
    """The environment for a CPU process with ``count`` host devices."""
    flags = host_device_flags(count, QUICK_COMPILE if quick_compile else "")
    return {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}


def cli_env(**extra):
    """The environment of the CLI tests' runs: this machine's own device count, LLVM
    level 0 and the suite's compilation cache (a rerun or resume loads what the first
    run compiled); ``extra`` variables on top."""
    return with_compilation_cache({**own_devices_env(), "XLA_FLAGS": QUICK_COMPILE, **extra})


def launch(args, cwd):
    """``python -m jaxrl.cli ARGS`` in ``cwd``, in ``cli_env()``."""
    return subprocess.Popen([sys.executable, "-m", "jaxrl.cli", *args], cwd=cwd, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc):
    """(stdout, stderr) of a command that must succeed."""
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    return out, err


def kill_when(proc, ready, what, timeout=600):
    """SIGKILL ``proc`` as soon as ``ready()``; fails if it ended first."""
    deadline = time.time() + timeout
    while not ready():
        assert proc.poll() is None, f"the run ended before {what}: nothing was interrupted"
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def run_two_at_a_time(commands, env=None, timeout=900):
    """{name: (returncode, stdout, stderr)} of ``commands`` ({name: argv}), two processes
    at a time: each mostly waits on a single-threaded XLA compile, so two share 2 cores."""
    waiting, running, done = list(commands.items()), {}, {}
    while waiting or running:
        while waiting and len(running) < 2:
            name, argv = waiting.pop(0)
            running[name] = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE, text=True)
        name = next(iter(running))
        proc = running.pop(name)
        out, err = proc.communicate(timeout=timeout)
        done[name] = (proc.returncode, out, err)
    return done


def free_port():
    """A TCP port on localhost that nothing listens on (for a coordinator or a cluster)."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def check_in_two_processes(argv, cases, env):
    """Runs ``argv + [every other case]`` in two processes at once (each imports jax once for
    its half); each prints ``RESULT {case: outcome}`` last. Returns {case: outcome}, or
    ``{"failed": ...}`` for a case its process never reported."""
    import json

    halves = run_two_at_a_time({half: [*argv, *cases[half::2]] for half in (0, 1)}, env)
    out = {}
    for half, (returncode, stdout, stderr) in halves.items():
        lines = [l for l in stdout.splitlines() if l.startswith("RESULT")]
        reported = json.loads(lines[-1][len("RESULT"):]) if lines else {}
        for case in cases[half::2]:
            out[case] = reported.get(case, {"failed": f"exit {returncode}: {stderr[-3000:]}"})
    return out
