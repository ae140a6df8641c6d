"""Matmul FLOPs counted from a jaxpr, with loop trip counts (``jaxrl.flops``)."""
import jax
import jax.numpy as jnp

from jaxrl.flops import matmul_flops


def test_a_scan_counts_its_body_once_per_step_and_a_cond_its_costliest_branch():
    w = jnp.ones((8, 16))
    x = jnp.ones((4, 8))

    def f(x, w, flag):
        def body(c, _):
            return c, c @ w  # 2 * 4 * 8 * 16 = 1,024 FLOPs
        _, ys = jax.lax.scan(body, x, None, length=10)
        costly = lambda y: y @ jnp.ones((16, 32))  # noqa: E731  2 * (10*4) * 16 * 32
        cheap = lambda y: jnp.zeros((10, 4, 32)) + y.sum()  # noqa: E731
        return jax.lax.cond(flag, costly, cheap, ys)

    total, shapes = matmul_flops(f, x, w, True)
    assert total == 10 * 1024 + 2 * 40 * 16 * 32
    assert shapes[(1, 4, 8, 16)] == 10 * 1024


def test_batched_products_count_their_batch():
    a, b = jnp.ones((3, 5, 7)), jnp.ones((3, 7, 2))
    total, shapes = matmul_flops(jax.vmap(jnp.matmul), a, b)
    assert total == 2 * 3 * 5 * 7 * 2 and list(shapes) == [(3, 5, 7, 2)]
