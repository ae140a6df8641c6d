"""Networks as torsos (MLP, MinAtar CNN) and heads (Q, dueling, distributional), and the
actor-critic pair PPO uses."""
from jaxrl.networks.actor_critic import ActorCritic, Network
from jaxrl.networks.heads import QHead, QNetwork, dueling
from jaxrl.networks.torsos import (ACTIVATIONS, TORSOS, MinAtarCNN, MLPTorso, make_torso,
                                   resolve_torso)

__all__ = ["ACTIVATIONS", "TORSOS", "ActorCritic", "MLPTorso", "MinAtarCNN", "Network",
           "QHead", "QNetwork", "dueling", "make_torso", "resolve_torso"]
