"""Value decomposition: how a team's agents' Q-values make the team's ``Q_tot``.

VDN (Sunehag et al., 2018) sums them. QMIX (Rashid et al., 2018) mixes them with a
network whose weights are made from the global state by hypernetworks and kept
non-negative, so ``Q_tot`` rises with every agent's Q-value: each agent's greedy action
is its part of the team's greedy joint action, and agents act on their own Q-values.
"""
from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl.networks.torsos import dense


class QMixer(nn.Module):
    """``(q [..., A], state [..., G]) -> Q_tot [...]``: one hidden layer of ``embedding``
    ELUs with state-made non-negative weights, plus a state value. ``init_scale`` is the
    gain of every layer's orthogonal init (small: ``Q_tot`` starts near the state value,
    JaxMARL's and pymarl's 0.001-scale start)."""

    embedding: int = 32
    hypernet_hidden: int = 64
    init_scale: float = 1e-3

    def hypernet(self, state, out: int, hidden: int):
        return dense(out, self.init_scale)(nn.relu(dense(hidden, self.init_scale)(state)))

    @nn.compact
    def __call__(self, q, state):
        agents, width = q.shape[-1], self.embedding
        w1 = jnp.abs(self.hypernet(state, agents * width, self.hypernet_hidden))
        w1 = w1.reshape(q.shape[:-1] + (agents, width))
        b1 = dense(width, self.init_scale)(state)
        hidden = nn.elu(jnp.einsum("...a,...ae->...e", q, w1) + b1)
        w2 = jnp.abs(self.hypernet(state, width, self.hypernet_hidden))
        value = self.hypernet(state, 1, width)[..., 0]
        return jnp.sum(hidden * w2, axis=-1) + value


class MixedQNetwork:
    """The agents' Q-network (``agent``: applied to rows, as any Q-network) and the
    team's mixer (``mixer``; None: the sum, VDN) with one parameter tree
    (``{"agent": ..., "mixer": ...}``), so target copies, the optimiser and checkpoints
    hold both. ``init`` and ``apply`` are the agent network's (what a Q-learner calls);
    ``mix`` makes ``Q_tot`` from the agents' values of the actions taken."""

    def __init__(self, agent: Any, mixer: Optional[nn.Module], num_agents: int,
                 state_dim: int):
        self.agent, self.mixer = agent, mixer
        self.num_agents, self.state_dim = num_agents, state_dim

    def init(self, key, *inputs):
        agent_key, mixer_key = jax.random.split(key)
        params = {"agent": self.agent.init(agent_key, *inputs)}
        if self.mixer is not None:
            params["mixer"] = self.mixer.init(mixer_key, jnp.zeros((self.num_agents,)),
                                              jnp.zeros((self.state_dim,)))
        return params

    def apply(self, params, *inputs, **kwargs):
        return self.agent.apply(params["agent"], *inputs, **kwargs)

    def mix(self, params, q, state):
        if self.mixer is None:
            return jnp.sum(q, axis=-1)
        return self.mixer.apply(params["mixer"], q, state)
