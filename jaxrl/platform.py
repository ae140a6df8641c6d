"""Using every CPU core: one XLA host device per core, the population sharded over them.

XLA:CPU runs a scan of small kernels (a PPO update) on roughly one core. The driver
already shards the member axis over ``jax.devices()``, so exposing one host device per
core lets each core run its own slice of the population. This must happen before JAX
initialises its backends; the CLI calls it first thing. An ``XLA_FLAGS`` that already
sets the device count wins. On GPU/TPU the flag only affects the (unused) host platform.

With several host devices, an operation across the member axis outside the compiled
program (an eager index or reduction over a sharded array, a PBT exploit) is an
in-process collective: each device joins a rendezvous when it gets to it. A device still
busy with a long training chunk (async dispatch) can keep the others waiting for
minutes, and XLA:CPU aborts the whole process after 40 s by default ("Termination
timeout ... Exiting to ensure a consistent program state"). So we raise that limit with
the device count: a slow device is not a hang.
"""
from __future__ import annotations

import os
from typing import Any, Optional

FLAG = "--xla_force_host_platform_device_count"
# a day: collectives between host devices wait for the slowest one instead of aborting
COLLECTIVE_TIMEOUT_FLAGS = ("--xla_cpu_collective_call_terminate_timeout_seconds=86400",
                            "--xla_cpu_collective_timeout_seconds=86400")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def host_device_count(population_size: Optional[int], cores: Optional[int] = None) -> int:
    """The most devices (at most one per core) that split the population evenly."""
    cores = cores or usable_cores()
    if not population_size:
        return cores
    return max(d for d in range(1, cores + 1) if population_size % d == 0)


def early_count(value: Any, default: int = 1) -> int:
    """A count (members, devices per member) read before JAX starts, from a flag, a
    config file or a recorded run: a positive whole number (or its digits), else
    ``default``. A bad value is reported later, in one line, by the config checks."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 \
        else default


def accelerator_expected() -> bool:
    """Whether JAX will run on a GPU or TPU, judged before it starts: a PJRT plugin
    (jax[cuda], jax[rocm]) or libtpu is installed and ``JAX_PLATFORMS`` does not ask
    for the CPU alone."""
    import importlib.metadata
    import importlib.util

    platforms = os.environ.get("JAX_PLATFORMS", "").strip().lower()
    if platforms and all(p.strip() == "cpu" for p in platforms.split(",")):
        return False
    try:
        plugins = list(importlib.metadata.entry_points(group="jax_plugins"))
    except Exception:  # noqa: BLE001 - a broken metadata entry is no plugin
        plugins = []
    return bool(plugins) or importlib.util.find_spec("libtpu") is not None


def on_cpu() -> bool:
    """Whether programs traced now run on XLA:CPU (where jaxrl's CPU-only measures
    apply: narrow layers, one QR at a time, batches sized to the cache)."""
    import jax

    return jax.default_backend() == "cpu"


def configure_cpu_devices(population_size: Optional[int] = None) -> int:
    """Sets ``XLA_FLAGS`` for one host device per core (unless the user's flags set a
    count) with waiting collectives; returns the device count requested, or 0 when the
    user's XLA_FLAGS already decided it, or JAX will run on an accelerator (no CPU flag
    is set then)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if _backends_started() or accelerator_expected():
        return 0
    if FLAG in flags:
        os.environ["XLA_FLAGS"] = with_collective_timeouts(flags)
        return 0
    count = host_device_count(population_size)
    os.environ["XLA_FLAGS"] = host_device_flags(count, flags)
    return count


def host_device_flags(count: int, flags: str = "") -> str:
    """``XLA_FLAGS`` for ``count`` host devices (on top of ``flags``), with collectives
    between them that wait rather than abort."""
    return with_collective_timeouts(f"{flags} {FLAG}={count}".strip())


def with_collective_timeouts(flags: str) -> str:
    missing = [f for f in COLLECTIVE_TIMEOUT_FLAGS if f.split("=")[0] not in flags]
    return " ".join([flags, *missing]).strip()


_DEFAULT_THREEFRY_RULE: list = []  # JAX's own CPU lowering entry, kept to restore it


def configure(unroll_threefry: bool = True) -> bool:
    """jaxrl's process-wide JAX setting, made on request: ``import jaxrl`` changes nothing
    in how JAX lowers programs. The CLI, the runner (``Run``), ``meta_train`` and the
    benchmarks call it; call it yourself before building programs that should get it.

    ``unroll_threefry``: lower JAX's threefry hash on CPU as straight-line code, as JAX
    does on GPU and TPU, instead of a while loop of five rounds (the same bits; faster
    rollouts and compiles: benchmarks/README.md, "What the kernel profile showed").
    ``False`` restores JAX's own lowering. Programs already compiled keep theirs.
    Returns whether the unrolled lowering is in force (False where this JAX lacks it)."""
    try:
        from jax._src.interpreters import mlir
        try:  # JAX 0.10 moved threefry to its own module
            from jax._src.random import threefry2x32 as prng
        except ImportError:
            from jax._src import prng
        rule = prng._threefry2x32_lowering_rule
        primitive = prng.threefry2x32_p
        rules = mlir._platform_specific_lowerings["cpu"]
    except (ImportError, AttributeError, KeyError):
        return False
    if not _DEFAULT_THREEFRY_RULE:
        _DEFAULT_THREEFRY_RULE.append(rules.get(primitive))
    if unroll_threefry:
        mlir.register_lowering(primitive, rule, platform="cpu", inline=False)
        return True
    default = _DEFAULT_THREEFRY_RULE[0]
    if default is None:
        rules.pop(primitive, None)
    else:
        rules[primitive] = default
    return False


def _backends_started() -> bool:
    """Too late to change the device count once JAX has started (e.g. inside pytest)."""
    try:
        from jax._src import xla_bridge
    except ImportError:
        return False
    return bool(xla_bridge.backends_are_initialized())
