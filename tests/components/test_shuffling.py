"""Minibatch shuffling and the random numbers behind it: the one-operand-sort permutation
is a permutation, is uniform, and threefry's unrolled CPU lowering draws the same bits."""
import collections
import math

import jax
import numpy as np
import pytest

import jaxrl.platform
from jaxrl.components.rollout import permutation_rounds, random_permutation

PERMUTE = jax.jit(jax.vmap(random_permutation, in_axes=(0, None)), static_argnums=1)


def test_rounds_keep_the_chance_of_tie_bias_below_one_over_n():
    assert {n: permutation_rounds(n) for n in (1, 2, 128, 256, 512, 1000, 4096)} == \
        {1: 1, 2: 1, 128: 1, 256: 1, 512: 2, 1000: None, 4096: None}
    for n in (3, 100, 300, 512, 700):
        rounds = permutation_rounds(n)
        if rounds is not None:  # every round tied (a union bound per round) < 1/n
            tie = n * (n - 1) / 2 / 2 ** (32 - (n - 1).bit_length())
            assert tie ** rounds < 1 / n


@pytest.mark.parametrize("n", [1, 2, 5, 128, 512, 1000, 2048])
def test_every_draw_is_a_permutation(n):
    """Including the sizes left to ``jax.random.permutation`` (1000, 2048)."""
    perms = np.asarray(PERMUTE(jax.random.split(jax.random.PRNGKey(n), 64), n))
    assert perms.dtype == np.int32
    np.testing.assert_array_equal(np.sort(perms, axis=1), np.tile(np.arange(n), (64, 1)))


def test_all_orders_of_four_items_are_equally_likely():
    draws = 48_000
    perms = np.asarray(PERMUTE(jax.random.split(jax.random.PRNGKey(0), draws), 4))
    counts = collections.Counter(map(tuple, perms.tolist()))
    assert len(counts) == math.factorial(4)
    expected = draws / 24
    chi2 = sum((c - expected) ** 2 / expected for c in counts.values())
    assert chi2 < 49.7  # chi-square, 23 degrees of freedom, p = 0.001


def test_two_round_size_places_every_item_uniformly():
    """n = 512 takes two rounds: where item 0 lands, and whether neighbours keep their
    order, are what a uniform shuffle gives."""
    draws, n = 8192, 512
    perms = np.asarray(PERMUTE(jax.random.split(jax.random.PRNGKey(1), draws), n))
    landing = np.argmax(perms == 0, axis=1)
    counts = np.bincount(landing // 16, minlength=n // 16)  # 32 bins of 16 positions
    expected = draws / 32
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < 61.1  # chi-square, 31 degrees of freedom, p = 0.001
    kept = np.mean(perms[:, :-1] < perms[:, 1:])
    assert abs(kept - 0.5) < 4 * 0.5 / np.sqrt(draws * (n - 1))


def test_unrolled_threefry_draws_the_same_bits_without_a_loop():
    """The CPU lowering is straight-line code now; the bits are threefry's own
    (the same as JAX's rolled CPU loop and its GPU/TPU lowering)."""
    jaxrl.platform.configure()  # conftest made it already; said here as users would
    draw = jax.jit(lambda key: jax.random.bits(key, (4,)))
    key = jax.random.PRNGKey(3)
    np.testing.assert_array_equal(np.asarray(draw(key)),
                                  np.array([318053758, 4029299397, 2787249374, 4190260272],
                                           np.uint32))
    if jax.default_backend() == "cpu":
        assert "while" not in draw.lower(key).compile().as_text()
