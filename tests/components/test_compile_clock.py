"""The benchmark's compile clock (``jaxrl.bench.compile_clock``) counts each second once."""
import threading
import time

import jax

from jaxrl.bench import CompileSeconds, compile_clock


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


def test_wall_counts_each_second_once_across_kinds_and_threads():
    clock = CompileSeconds(["trace", "xla"])
    clock.intervals = [(0.0, 2.0), (1.0, 3.0), (0.5, 1.5), (5.0, 6.0)]
    assert clock.wall() == 4.0  # [0, 3] and [5, 6]

    spent = compile_clock()

    def traced(seconds):
        @jax.jit
        def f(x):
            time.sleep(seconds)
            return x + 1
        return lambda: f.trace(1.0)

    threads = [threading.Thread(target=traced(0.4)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # two 0.4 s traces side by side (sleep releases the GIL): 0.4 s of wall time
    assert 0.4 <= spent.wall() < 0.6, spent.intervals
