"""Layers computed around kernels XLA:CPU runs slowly: narrow dense layers
(``jaxrl.networks.narrow``) and the MinAtar convolution as a matmul over shifted views
(``torsos.ValidConv``), with the same values and gradients as the plain forms."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl.networks.narrow import NARROW, dense_dot_general, narrow_matmul
from jaxrl.networks.torsos import MinAtarCNN, ValidConv, dense

DIMS = (((1,), (0,)), ((), ()))


def _loss(matmul):
    # a nonlinearity after the layer, so the gradients depend on every output
    return lambda x, w: jnp.sum(jnp.tanh(matmul(x, w)) * jnp.arange(w.shape[1]))


@pytest.mark.parametrize("rows, width_in, width_out", [
    (4, 64, 2),     # a rollout step's policy head: the multiply-and-reduce forward
    (128, 64, 2),   # a minibatch's policy head: matmul forward, elementwise dx
    (128, 64, 1),   # a value head
    (3, 5, NARROW),
])
def test_narrow_matmul_matches_a_matmul_in_value_and_gradients(rows, width_in, width_out):
    kx, kw = jax.random.split(jax.random.PRNGKey(0))
    x = jax.random.normal(kx, (rows, width_in))
    w = jax.random.normal(kw, (width_in, width_out)) / np.sqrt(width_in)
    np.testing.assert_allclose(narrow_matmul(x, w), x @ w, rtol=1e-5, atol=1e-6)
    got = jax.grad(_loss(narrow_matmul), argnums=(0, 1))(x, w)
    want = jax.grad(_loss(jnp.matmul), argnums=(0, 1))(x, w)
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)
    # under vmap (the population axis) as well: each member its own kernel
    xs, ws = jnp.stack([x, 2 * x]), jnp.stack([w, -w])
    got = jax.vmap(jax.grad(_loss(narrow_matmul), argnums=(0, 1)))(xs, ws)
    want = jax.vmap(jax.grad(_loss(jnp.matmul), argnums=(0, 1)))(xs, ws)
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-6)


def _contraction_widths(jaxpr):
    """The contracted widths of every dot_general in ``jaxpr`` (nested ones included)."""
    widths = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            (contract_lhs, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            widths.append(int(np.prod([lhs[d] for d in contract_lhs])))
        for sub in jax.core.jaxprs_in_params(eqn.params):
            widths += _contraction_widths(sub)
    return widths


def test_a_narrow_heads_input_gradient_is_not_a_matmul():
    """Forward and backward through a two-action head: the forward product contracts the
    64 hidden units and the kernel's gradient the 128 rows; nothing contracts the two
    actions."""
    head = dense(2)
    x = jnp.ones((128, 64))
    params = head.init(jax.random.PRNGKey(0), x)
    grad = jax.grad(lambda p, x: jnp.sum(jnp.tanh(head.apply(p, x))), argnums=(0, 1))
    widths = _contraction_widths(jax.make_jaxpr(grad)(params, x).jaxpr)
    assert widths and min(widths) > NARROW, widths


def test_wide_layers_and_other_contractions_keep_dot_general():
    x, w = jnp.ones((8, 64)), jnp.ones((64, NARROW + 1))
    jaxpr = jax.make_jaxpr(lambda x, w: dense_dot_general(x, w, DIMS))(x, w)
    assert [e.primitive.name for e in jaxpr.eqns] == ["dot_general"]
    # a narrow layer that asks for a precision gets it from lax.dot_general
    narrow = jax.make_jaxpr(lambda x, w: dense_dot_general(
        x, w, DIMS, precision=jax.lax.Precision.HIGHEST))(x, w[:, :2])
    assert [e.primitive.name for e in narrow.eqns] == ["dot_general"]
    # a batched contraction is not the Dense form: left to lax.dot_general
    xb, wb = jnp.ones((3, 8, 64)), jnp.ones((3, 64, 2))
    got = dense_dot_general(xb, wb, (((2,), (1,)), ((0,), (0,))))
    np.testing.assert_allclose(got, jnp.einsum("bri,bio->bro", xb, wb))


def test_valid_conv_is_flax_conv_in_parameters_values_and_gradients():
    """Same parameter tree and initial values as ``nn.Conv(padding="VALID")`` under the
    same name and key; outputs and gradients equal up to float rounding, for batched
    inputs and for members vmapped with different kernels (XLA's grouped convolution)."""
    import flax.linen as nn

    init = nn.initializers.orthogonal(np.sqrt(2))
    ours = ValidConv(16, (3, 3), kernel_init=init, name="Conv_0")
    flax_conv = nn.Conv(16, (3, 3), padding="VALID", kernel_init=init, name="Conv_0")
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 3, 10, 10, 4))
    params = ours.init(jax.random.PRNGKey(0), x)
    reference = flax_conv.init(jax.random.PRNGKey(0), x)
    assert jax.tree.structure(params) == jax.tree.structure(reference)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(reference)):
        np.testing.assert_array_equal(a, b)
    params = jax.tree.map(lambda p: p + 0.1, params)  # a nonzero bias too
    out = ours.apply(params, x)
    assert out.shape == (2, 3, 8, 8, 16)
    np.testing.assert_allclose(out, flax_conv.apply(params, x), rtol=1e-5, atol=1e-5)

    def loss(module):
        return lambda p, x: jnp.sum(jnp.tanh(module.apply(p, x)) * jnp.arange(16))

    for got, want in zip(jax.tree.leaves(jax.grad(loss(ours), argnums=(0, 1))(params, x)),
                         jax.tree.leaves(jax.grad(loss(flax_conv), argnums=(0, 1))(params, x))):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)

    members = jax.vmap(lambda k: ours.init(k, x[0]))(jax.random.split(jax.random.PRNGKey(2), 3))
    xs = jax.random.normal(jax.random.PRNGKey(3), (3, 5, 10, 10, 4))  # 3 members x 5 obs
    np.testing.assert_allclose(jax.vmap(ours.apply)(members, xs),
                               jax.vmap(flax_conv.apply)(members, xs), rtol=1e-5, atol=1e-5)


def test_minatar_cnn_keeps_its_parameter_names():
    """Checkpoints and the memory model see the same tree as with ``nn.Conv``."""
    params = MinAtarCNN((128,)).init(jax.random.PRNGKey(0), jnp.zeros((10, 10, 4)))
    shapes = jax.tree.map(jnp.shape, params["params"])
    assert shapes["Conv_0"] == {"kernel": (3, 3, 4, 16), "bias": (16,)}
    assert shapes["MLPTorso_0"]["Dense_0"]["kernel"] == (1024, 128)
