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


# ------------------------------------------- CPU-only measures stay off accelerators
# (benchmarks/accelerator/check.sh runs the programs there; these run anywhere)
def test_no_cpu_device_flags_where_an_accelerator_will_run(monkeypatch):
    import jaxrl.platform as platform

    monkeypatch.setattr(platform, "_backends_started", lambda: False)
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.setattr(platform, "accelerator_expected", lambda: True)
    assert platform.configure_cpu_devices(16) == 0 and "XLA_FLAGS" not in __import__(
        "os").environ
    monkeypatch.setattr(platform, "accelerator_expected", lambda: False)
    assert platform.configure_cpu_devices(16) >= 1
    assert platform.FLAG in __import__("os").environ["XLA_FLAGS"]


def test_an_accelerator_is_expected_from_installed_plugins(monkeypatch):
    import importlib.metadata

    import jaxrl.platform as platform

    cuda = importlib.metadata.EntryPoint("xla_cuda13", "jax_cuda13_plugin", "jax_plugins")
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group=None: [cuda] if group == "jax_plugins" else [])
    monkeypatch.delenv("JAX_PLATFORMS", raising=False)
    assert platform.accelerator_expected()
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")  # the user asks for the CPU
    assert not platform.accelerator_expected()
    monkeypatch.setenv("JAX_PLATFORMS", "cuda,cpu")
    assert platform.accelerator_expected()


def test_cpu_tricks_are_off_on_an_accelerator_backend(monkeypatch):
    """On a GPU or TPU backend: narrow layers are plain matmuls, the orthogonal
    initialisers' QRs stay batched under vmap, and configure() leaves every
    accelerator's threefry lowering as JAX has it."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    import jaxrl.platform as platform
    from jaxrl.networks import initializers, narrow

    def walk(jaxpr, found):
        for eqn in jaxpr.eqns:
            found.add(str(eqn.primitive))
            for value in eqn.params.values():
                for sub in value if isinstance(value, (list, tuple)) else [value]:
                    inner = getattr(sub, "jaxpr", sub)
                    if hasattr(inner, "eqns"):
                        walk(inner, found)
        return found

    def primitives(fn, *args):  # every primitive, nested programs' included
        return walk(jax.make_jaxpr(fn)(*args).jaxpr, set())

    dense = nn.Dense(2, dot_general=narrow.dense_dot_general)
    x = jnp.ones((4, 8))
    params = dense.init(jax.random.PRNGKey(0), x)
    init = jax.vmap(lambda k: initializers.orthogonal()(k, (8, 8)))
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    assert "custom_vjp_call" in primitives(dense.apply, params, x)  # CPU: the narrow path
    assert "scan" in primitives(init, keys)  # CPU: one QR at a time
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert "dot_general" in primitives(dense.apply, params, x)
    assert "custom_vjp_call" not in primitives(dense.apply, params, x)
    fresh = jax.vmap(lambda k: initializers.orthogonal()(k, (8, 8)))  # no cached trace
    batched = primitives(fresh, keys)
    assert "qr" in batched and not {"scan", "custom_vmap_call"} & batched

    from jax._src.interpreters import mlir
    try:
        from jax._src.random import threefry2x32 as prng
    except ImportError:
        from jax._src import prng
    others = {p: mlir._platform_specific_lowerings[p].get(prng.threefry2x32_p)
              for p in ("cuda", "rocm", "tpu")}
    platform.configure()
    try:
        assert {p: mlir._platform_specific_lowerings[p].get(prng.threefry2x32_p)
                for p in others} == others
    finally:
        platform.configure()  # as the rest of the suite has it
