"""``import jaxrl`` changes no JAX setting; ``jaxrl.platform.configure`` makes jaxrl's one
(threefry's unrolled CPU lowering) on request, and can undo it."""
import subprocess
import sys
import textwrap

IMPORT_EVERYTHING = textwrap.dedent("""
    from jax._src.interpreters import mlir
    try:  # JAX 0.10's place, then 0.9's
        from jax._src.random import threefry2x32 as prng
    except ImportError:
        from jax._src import prng

    def cpu_rule():
        return mlir._platform_specific_lowerings["cpu"].get(prng.threefry2x32_p)

    before = cpu_rule()
    import jaxrl, jaxrl.cli, jaxrl.runner, jaxrl.sweep, jaxrl.meta, jaxrl.bench  # noqa
    import jaxrl.algorithms, jaxrl.envs, jaxrl.report  # noqa
    assert cpu_rule() is before, "importing jaxrl changed how JAX lowers threefry on CPU"
    import jaxrl.platform
    assert jaxrl.platform.configure() is True and cpu_rule() is not before
    assert cpu_rule().inline is False
    assert jaxrl.platform.configure(unroll_threefry=False) is False
    assert cpu_rule() is before
    print("ok")
""")


def test_import_leaves_lowering_untouched_and_configure_is_explicit():
    done = subprocess.run([sys.executable, "-c", IMPORT_EVERYTHING], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_no_import_cycle_among_jaxrl_modules():
    """Counted over top-level and in-function imports alike
    (``benchmarks/code/import_cycles.py``)."""
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "benchmarks/code/import_cycles.py"], cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout
