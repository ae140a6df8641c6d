"""A team's agents with parameters of their own (``shared_parameters=False``).

A team's learners act and train on rows, one per agent, shuffled together into
minibatches; with shared parameters a one-hot id in each row tells the agents apart.
``PerAgentParameters`` gives every agent its own: ``init`` makes ``A`` independent sets
(stacked on a leading axis), and ``apply`` runs every agent's network on every row and
keeps, for each row, the output of the agent its id names. That costs ``A`` times a
shared network's compute, and keeps rows (and every learner's machinery on them)
exactly as they are with shared parameters.
"""
from __future__ import annotations

from typing import Any, Tuple

import jax
import jax.numpy as jnp


def own_outputs(outputs: Any, ids: jax.Array) -> Any:
    """Each row's own agent's outputs: leaves ``[A, *batch, ...]`` and one-hot ``ids``
    ``[*batch, A]`` -> leaves ``[*batch, ...]`` (picked, never weighted: a masked
    logit stays what it was)."""
    agent = jnp.argmax(ids, axis=-1)

    def pick(x):
        index = agent.reshape((1,) + agent.shape + (1,) * (x.ndim - 1 - agent.ndim))
        index = jnp.broadcast_to(index, (1,) + x.shape[1:])
        return jnp.take_along_axis(x, index, axis=0)[0]

    return jax.tree.map(pick, outputs)


class PerAgentParameters:
    """``network`` (a flax module applied to rows) with one parameter set per agent,
    selected by the one-hot id at ``ids`` (``[start, stop)`` of a row). ``recurrent``:
    the module is called ``(carry, obs [T, B, ...], resets)`` and returns ``(carry,
    *outputs)``; otherwise ``(obs [*batch, ...])``."""

    def __init__(self, network: Any, num_agents: int, ids: Tuple[int, int],
                 recurrent: bool):
        self.network, self.num_agents, self.ids, self.recurrent = (network, num_agents, ids,
                                                                   recurrent)

    def clone(self, **fields) -> "PerAgentParameters":
        return PerAgentParameters(self.network.clone(**fields), self.num_agents, self.ids,
                                  self.recurrent)

    def init(self, key: jax.Array, *inputs, **kwargs) -> Any:
        keys = jax.random.split(key, self.num_agents)
        return jax.vmap(lambda k: self.network.init(k, *inputs, **kwargs))(keys)

    def apply(self, params: Any, *inputs, **kwargs) -> Any:
        outputs = jax.vmap(lambda p: self.network.apply(p, *inputs, **kwargs))(params)
        obs = inputs[1] if self.recurrent else inputs[0]
        ids = obs[..., self.ids[0]:self.ids[1]]
        if self.recurrent:  # (carry per row [B, ...], *outputs per step [T, B, ...])
            carry, *ys = outputs
            return (own_outputs(carry, ids[0]), *own_outputs(tuple(ys), ids))
        return own_outputs(outputs, ids)
