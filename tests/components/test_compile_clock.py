"""The benchmark's compile clock (``jaxrl.bench.compile_clock``) counts each second once."""
import time

import jax

from jaxrl.bench import compile_clock


def test_a_trace_nested_in_another_is_not_counted_twice():
    spent = compile_clock()

    @jax.jit
    def inner(x):
        time.sleep(0.3)  # traced once, inside outer's trace
        return x + 1

    @jax.jit
    def outer(x):
        time.sleep(0.2)
        return inner(x) * 2

    outer.trace(1.0)
    # JAX reports inner (0.3 s) and outer (0.5 s, inner included): the sum would be 0.8
    assert 0.5 <= spent["trace"] < 0.65, spent
