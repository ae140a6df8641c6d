"""Parts written once and tested once, shared by every learner: advantage and TD targets,
value losses (distributional, classification), replay, exploration, target networks,
normalisation, action distributions, on-policy collection."""
