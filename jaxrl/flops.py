"""Matmul FLOPs of a JAX function, counted from its jaxpr, and this machine's matmul peak.

XLA's own cost analysis counts a loop body once, whatever its trip count, and a learner
update is loops within loops (rollout steps, epochs, minibatches). Here every
``dot_general`` and convolution is counted with the product of the ``scan`` lengths
around it (a ``cond`` counts its costliest branch, a ``while`` its body once: bounded
loops in our learners are scans). Matmuls are what bounds a learner on a CPU or an
accelerator; elementwise work is left out, so these are the FLOPs a matmul unit must do.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl.contract import progress_unit

Shape = Tuple[int, ...]


def _dot_flops(eqn) -> Tuple[float, Shape]:
    """FLOPs of a ``dot_general`` and its shape as (batch, m, k, n)."""
    lhs, rhs = (v.aval.shape for v in eqn.invars)
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = eqn.params["dimension_numbers"]
    size = lambda shape, dims: int(np.prod([shape[d] for d in dims]))  # noqa: E731
    b, k = size(lhs, lhs_batch), size(lhs, lhs_contract)
    m = int(np.prod(lhs)) // max(b * k, 1)
    n = int(np.prod(rhs)) // max(size(rhs, rhs_batch) * size(rhs, rhs_contract), 1)
    return 2.0 * b * m * k * n, (b, m, k, n)


def _conv_flops(eqn) -> float:
    """2 x output elements x (input features per group x window)."""
    kernel = eqn.invars[1].aval.shape
    out_features = kernel[eqn.params["dimension_numbers"].rhs_spec[0]]
    return 2.0 * int(np.prod(eqn.outvars[0].aval.shape)) * int(np.prod(kernel)) / out_features


def _walk(jaxpr, times: float, shapes: Dict[Shape, float]) -> float:
    total = 0.0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "dot_general":
            flops, shape = _dot_flops(eqn)
            shapes[shape] = shapes.get(shape, 0.0) + flops * times
            total += flops * times
        elif name == "conv_general_dilated":
            total += _conv_flops(eqn) * times
        elif name == "scan":
            total += _walk(eqn.params["jaxpr"].jaxpr, times * eqn.params["length"], shapes)
        elif name == "cond":
            branches = []
            for branch in eqn.params["branches"]:
                sub: Dict[Shape, float] = {}
                branches.append((_walk(branch.jaxpr, times, sub), sub))
            flops, sub = max(branches, key=lambda b: b[0])
            for k, v in sub.items():
                shapes[k] = shapes.get(k, 0.0) + v
            total += flops
        else:
            for sub_jaxpr in _subjaxprs(eqn):
                total += _walk(sub_jaxpr, times, shapes)
    return total


def _subjaxprs(eqn) -> List[Any]:
    """Closed or open jaxprs among an equation's parameters (pjit, custom_vjp, while)."""
    found = []
    for value in eqn.params.values():
        for v in (value if isinstance(value, (tuple, list)) else (value,)):
            if hasattr(v, "jaxpr") and hasattr(v.jaxpr, "eqns"):
                found.append(v.jaxpr)
            elif hasattr(v, "eqns"):
                found.append(v)
    return found


def matmul_flops(fn: Callable, *args) -> Tuple[float, Dict[Shape, float]]:
    """(total matmul FLOPs of one call of ``fn(*args)``, FLOPs by (batch, m, k, n))."""
    jaxpr = jax.make_jaxpr(fn)(*args)
    shapes: Dict[Shape, float] = {}
    return _walk(jaxpr.jaxpr, 1.0, shapes), shapes


def measure_matmul_gflops(shape: Shape, devices=None, seconds: float = 0.5,
                          windows: int = 5) -> float:
    """GFLOP/s of a (batch, m, k, n) batched matmul with the batch split over ``devices``
    (default: the first device), all running at once: the machine's ceiling for that
    shape and layout. The best of ``windows`` timings over ``seconds`` in all: a peak,
    so a moment when other work held the cores does not lower it."""
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devices = list(devices or jax.devices()[:1])
    b, m, k, n = shape
    b = max(b, len(devices)) // len(devices) * len(devices)
    sharding = NamedSharding(Mesh(np.asarray(devices), ("d",)), PartitionSpec("d"))
    key = jax.random.PRNGKey(0)
    lhs = jax.device_put(jax.random.normal(key, (b, m, k), jnp.float32), sharding)
    rhs = jax.device_put(jax.random.normal(key, (b, k, n), jnp.float32), sharding)
    step = jax.jit(lambda x, y: jnp.einsum("bmk,bkn->bmn", x, y), out_shardings=sharding)
    jax.block_until_ready(step(lhs, rhs))
    best = 0.0
    for _ in range(windows):
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / windows:
            out = step(lhs, rhs)
            calls += 1
        jax.block_until_ready(out)
        best = max(best, calls / (time.perf_counter() - start))
    return 2.0 * b * m * k * n * best / 1e9


def learner_ceiling(algo, hp_one, member_batch: int, devices,
                    data_parallel: int = 1) -> Dict[str, Any]:
    """The learner's matmul FLOPs per env step (an offline learner's: per gradient step,
    ``unit``), this machine's matmul peak (2048^3, and
    the learner's costliest shape batched as the program runs it: ``member_batch``
    members on every device at once, each device with 1/``data_parallel`` of the rows),
    and the env steps/s that peak would allow."""
    state = jax.eval_shape(algo.init, jax.random.PRNGKey(0), hp_one)
    flops, shapes = matmul_flops(algo.update, state, hp_one)
    unit, per_update = progress_unit(algo)  # an offline learner's: gradient steps
    per_step = flops / per_update
    b, m, k, n = max(shapes, key=shapes.get)
    shape = (b * member_batch * len(devices), max(m // data_parallel, 1), k, n)
    shape_peak = measure_matmul_gflops(shape, devices)
    return {
        "unit": unit,
        f"learner_matmul_flops_per_{unit}_step": per_step,
        "costliest_matmul": {"shape_bmkn": list(shape),
                             "share_of_flops": shapes[(b, m, k, n)] / flops},
        "matmul_peak_gflops_2048": measure_matmul_gflops((len(devices), 2048, 2048, 2048),
                                                         devices),
        "matmul_peak_gflops_costliest_shape": shape_peak,
        f"ceiling_{unit}_steps_per_second": shape_peak * 1e9 / per_step if per_step else None,
    }
