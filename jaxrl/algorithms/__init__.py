"""Learners, one module each (``Config``, ``HParams``, ``make``), and the built-in
entries of the algorithm registry (``jaxrl.registry`` reads ``BUILT_IN``; this package
imports nothing of it)."""
BUILT_IN = []


def register(name, module_name, summary, **entry):
    """Declares a built-in entry (the arguments of ``jaxrl.registry.register``)."""
    BUILT_IN.append(dict(name=name, module_name=module_name, summary=summary, **entry))


# The recurrent variants: a 128-wide GRU (PureJaxRL's recurrent PPO network), smoke
# sequences of half a rollout (so a stored carry starts the second)
_ON_POLICY_SMOKE = {"total_timesteps": 512, "num_envs": 4, "num_steps": 16,
                    "num_minibatches": 2, "num_epochs": 2}
_RECURRENT_SMOKE = {**_ON_POLICY_SMOKE, "hidden_sizes": (16,), "memory.size": 16,
                    "sequence_length": 8}
_RECURRENT = {"memory.cell": "gru", "hidden_sizes": (128,), "memory.size": 128}

register("ppo", "jaxrl.algorithms.ppo",
         "Proximal Policy Optimisation (clipped surrogate, GAE; discrete and continuous)",
         smoke_env="CartPole-v1", smoke_values=_ON_POLICY_SMOKE)
register("rppo", "jaxrl.algorithms.ppo",
         "Recurrent PPO: a GRU (or LSTM / LRU / GTrXL: memory.cell) between torso and heads, "
         "trained on whole sequences",
         smoke_env="CartPole-v1", smoke_values=_RECURRENT_SMOKE, defaults=_RECURRENT)

_REPLAY_SMOKE = {"total_timesteps": 512, "num_envs": 4, "rollout_steps": 2,
                 "gradient_steps": 2, "batch_size": 16, "buffer_size": 256,
                 "learning_starts": 64, "hidden_sizes": (32, 32)}
register("dqn", "jaxrl.algorithms.dqn",
         "Deep Q-learning: double Q, dueling, n-step, prioritised replay, distributional "
         "values as options",
         smoke_env="CartPole-v1",
         smoke_values={**_REPLAY_SMOKE, "n_step": 3, "prioritized": True})
register("c51", "jaxrl.algorithms.dqn",
         "C51: DQN with a categorical value distribution (cross-entropy on projected atoms)",
         smoke_env="CartPole-v1", smoke_values=_REPLAY_SMOKE,
         defaults={"value_distribution": "categorical"})
register("qrdqn", "jaxrl.algorithms.dqn",
         "QR-DQN: DQN with quantile regression (quantile Huber loss)",
         smoke_env="CartPole-v1", smoke_values=_REPLAY_SMOKE,
         defaults={"value_distribution": "quantile", "learning_rate": 1e-3})
register("rdqn", "jaxrl.algorithms.dqn",
         "Recurrent DQN (R2D2): a GRU (or LSTM / LRU / GTrXL: memory.cell) between torso and "
         "Q-head, stored carries, burned-in replayed sequences",
         smoke_env="CartPole-v1",
         smoke_values={**_REPLAY_SMOKE, "hidden_sizes": (16,), "memory.size": 16,
                       "sequence_length": 4, "burn_in": 2, "n_step": 2,
                       "prioritized": True},
         defaults={**_RECURRENT, "sequence_length": 20, "burn_in": 10, "n_step": 3,
                   "batch_size": 32})
register("pqn", "jaxrl.algorithms.pqn",
         "Parallel Q-learning: many envs, LayerNorm, Q(lambda) returns, no replay or target net",
         smoke_env="CartPole-v1", smoke_values=_ON_POLICY_SMOKE)
register("rpqn", "jaxrl.algorithms.pqn",
         "Recurrent PQN: a GRU (or LSTM / LRU / GTrXL: memory.cell) between torso and Q-head, "
         "Q(lambda) over whole sequences",
         smoke_env="CartPole-v1", smoke_values=_RECURRENT_SMOKE, defaults=_RECURRENT)

_ACTOR_CRITIC_SMOKE = {**_REPLAY_SMOKE, "batch_size": 32}
register("sac", "jaxrl.algorithms.sac",
         "Soft Actor-Critic: tanh-Gaussian actor, twin critics, learned temperature "
         "(categorical form on discrete actions)",
         smoke_env="Pendulum-v1", smoke_values=_ACTOR_CRITIC_SMOKE,
         more_smoke_envs=("CartPole-v1",))
register("td3", "jaxrl.algorithms.td3",
         "TD3: deterministic actor, twin critics, target policy smoothing, delayed updates",
         smoke_env="Pendulum-v1", smoke_values=_ACTOR_CRITIC_SMOKE)
register("ddpg", "jaxrl.algorithms.td3",
         "DDPG: TD3 with one critic, no target smoothing and a policy update every step",
         smoke_env="Pendulum-v1", smoke_values=_ACTOR_CRITIC_SMOKE,
         defaults={"num_critics": 1, "policy_delay": 1, "target_noise": 0.0})

# Recurrent actor-critics (Ni et al., 2022: separate GRU cores for actor and critics):
# sequences of 32 after a burn-in of 8, batches of 32 sequences
_RECURRENT_AC = {**_RECURRENT, "sequence_length": 32, "burn_in": 8, "batch_size": 32}
_RECURRENT_AC_SMOKE = {**_ACTOR_CRITIC_SMOKE, "hidden_sizes": (16,), "memory.size": 16,
                       "sequence_length": 4, "burn_in": 2, "batch_size": 8}
register("rsac", "jaxrl.algorithms.sac",
         "Recurrent SAC: GRU (or LSTM / LRU / GTrXL: memory.cell) cores in actor and critics, "
         "stored carries, burned-in replayed sequences (categorical form on discrete actions)",
         smoke_env="Pendulum-v1", smoke_values=_RECURRENT_AC_SMOKE, defaults=_RECURRENT_AC)
register("rtd3", "jaxrl.algorithms.td3",
         "Recurrent TD3: GRU (or LSTM / LRU / GTrXL: memory.cell) cores in actor and critics, "
         "stored carries, burned-in replayed sequences",
         smoke_env="Pendulum-v1", smoke_values=_RECURRENT_AC_SMOKE, defaults=_RECURRENT_AC)

# Teams of agents (multi-agent envs: jaxrl envs jaxmarl): PPO on one row per agent, the
# parameters shared, JaxMARL's baselines' 16 envs per member
_TEAM = {"num_envs": 16}
_TEAM_SMOKE_ENV = "jaxmarl/MPE_simple_spread_v3"
register("ippo", "jaxrl.algorithms.team_ppo",
         "Independent PPO for teams: shared parameters with agent ids, each agent's own "
         "critic input", smoke_env=_TEAM_SMOKE_ENV, smoke_values=_ON_POLICY_SMOKE,
         defaults=_TEAM)
register("mappo", "jaxrl.algorithms.team_ppo",
         "Multi-agent PPO: IPPO's actor, a centralised critic on the global state",
         smoke_env=_TEAM_SMOKE_ENV, smoke_values=_ON_POLICY_SMOKE,
         defaults={**_TEAM, "centralised_critic": True})
register("rippo", "jaxrl.algorithms.team_ppo",
         "Recurrent IPPO: a GRU (or LSTM / LRU / GTrXL: memory.cell) per agent, reset at "
         "each agent's episode end", smoke_env=_TEAM_SMOKE_ENV,
         smoke_values=_RECURRENT_SMOKE, defaults={**_RECURRENT, **_TEAM})
register("rmappo", "jaxrl.algorithms.team_ppo",
         "Recurrent MAPPO: recurrent actor, and a recurrent centralised critic with a core "
         "of its own", smoke_env=_TEAM_SMOKE_ENV, smoke_values=_RECURRENT_SMOKE,
         defaults={**_RECURRENT, **_TEAM, "centralised_critic": True})
# JaxMARL's PQN-VDN on MPE (pqn_vdn_ff_mpe.yaml), with half its 256 envs per member
register("pqn_vdn", "jaxrl.algorithms.team_pqn",
         "PQN-VDN: replay-free Q(lambda) on the sum of the agents' Q-values "
         "(mixer='none': independent PQN)", smoke_env=_TEAM_SMOKE_ENV,
         smoke_values=_ON_POLICY_SMOKE,
         defaults={"num_envs": 128, "num_steps": 16, "hidden_sizes": (256, 256),
                   "learning_rate": 5e-4, "anneal_lr": False, "gamma": 0.9, "q_lambda": 0.3,
                   "epsilon_end": 0.1, "epsilon_fraction": 0.1, "max_grad_norm": 1.0,
                   "num_epochs": 4, "num_minibatches": 16})
# IQL, VDN and QMIX from replay, recurrent as JaxMARL's baselines (ql_rnn_mpe.yaml: a
# 64-wide GRU, lr 0.005 decayed, gamma 0.9, hard target copies every 200 gradient steps,
# 10k steps of warm-up, epsilon decayed over the first tenth), on sequences of 16 steps
# after a burn-in of 8 from the stored carries
_TEAM_Q = {"memory.cell": "gru", "hidden_sizes": (64,), "memory.size": 64,
           "num_envs": 8, "rollout_steps": 16, "batch_size": 32, "buffer_size": 100_000,
           "sequence_length": 16, "burn_in": 8, "n_step": 1, "dueling": False,
           "td_loss": "mse", "learning_rate": 5e-3, "gamma": 0.9, "max_grad_norm": 25.0,
           "target_tau": 1.0, "target_period": 200, "learning_starts": 10_000,
           "epsilon_fraction": 0.1}
# The contract checks IQL and VDN feed-forward and QMIX recurrent: every loss path once
_TEAM_Q_SMOKE = {**_REPLAY_SMOKE, "hidden_sizes": (16,), "memory.cell": "none",
                 "sequence_length": 0, "burn_in": 0, "n_step": 2, "prioritized": True,
                 "mixer_embedding": 8, "mixer_hidden": 16}
_TEAM_Q_RECURRENT_SMOKE = {**_TEAM_Q_SMOKE, "memory.cell": "gru", "memory.size": 16,
                           "sequence_length": 4, "burn_in": 2, "prioritized": False}
register("iql", "jaxrl.algorithms.team_dqn",
         "Independent Q-learning for teams from replay: each agent's own recurrent Q-values "
         "and returns, parameters shared", smoke_env=_TEAM_SMOKE_ENV,
         smoke_values=_TEAM_Q_SMOKE, defaults={**_TEAM_Q, "mixer": "none"})
register("vdn", "jaxrl.algorithms.team_dqn",
         "Value decomposition networks from replay: the team's Q the sum of its agents' "
         "recurrent Q-values", smoke_env=_TEAM_SMOKE_ENV, smoke_values=_TEAM_Q_SMOKE,
         defaults={**_TEAM_Q, "mixer": "vdn"})
register("qmix", "jaxrl.algorithms.team_dqn",
         "QMIX from replay: the agents' recurrent Q-values mixed monotonically by "
         "hypernetworks of the global state", smoke_env=_TEAM_SMOKE_ENV,
         smoke_values=_TEAM_Q_RECURRENT_SMOKE, defaults={**_TEAM_Q, "mixer": "qmix"})

# Offline RL (and offline-to-online): learners of a dataset (`--set dataset=DIR`, written
# by `jaxrl record`; random:N makes N uniform random steps in process). total_timesteps=0
# makes a run offline: offline_steps gradient steps, evaluated online. Their discrete
# forms (BC's categorical head, CQL's exact logsumexp) are checked by hand and learn
# CartPole in tests/test_offline.py, not in the contract suite (CI time).
_OFFLINE = {"total_timesteps": 0, "offline_steps": 100_000, "batch_size": 256}
_OFFLINE_SMOKE = {"dataset": "random:512", "total_timesteps": 0, "offline_steps": 64,
                  "offline_steps_per_update": 8, "batch_size": 32, "hidden_sizes": (32, 32)}
register("bc", "jaxrl.algorithms.bc",
         "Behaviour cloning of a dataset: Gaussian or deterministic policy (categorical on "
         "discrete actions)", smoke_env="Pendulum-v1", smoke_values=_OFFLINE_SMOKE,
         defaults=_OFFLINE)
register("implicit_ql", "jaxrl.algorithms.implicit_ql",
         "Implicit Q-learning (offline, and continued online): expectile V, "
         "advantage-weighted policy (iql is independent Q-learning of teams)",
         smoke_env="Pendulum-v1", smoke_values=_OFFLINE_SMOKE, defaults=_OFFLINE)
register("cql", "jaxrl.algorithms.cql",
         "Conservative Q-learning on SAC: logsumexp penalty (exact on discrete actions)",
         smoke_env="Pendulum-v1", smoke_values={**_OFFLINE_SMOKE, "cql_samples": 4},
         defaults=_OFFLINE)
register("td3_bc", "jaxrl.algorithms.td3_bc",
         "TD3+BC: TD3 with the actor pulled toward the data's actions, Q normalised",
         smoke_env="Pendulum-v1", smoke_values=_OFFLINE_SMOKE, defaults=_OFFLINE)
# ReBRAC's defaults (Tarasov et al., 2023, their Table 8's shared values; the penalties'
# weights are tuned per dataset there: sweep them)
register("rebrac", "jaxrl.algorithms.td3_bc",
         "ReBRAC: TD3+BC with LayerNorm critics, a penalty in the bootstrap too, larger "
         "batches", smoke_env="Pendulum-v1",
         smoke_values={**_OFFLINE_SMOKE, "critic_bc_coef": 0.1},
         defaults={**_OFFLINE, "batch_size": 1024, "hidden_sizes": (256, 256, 256),
                   "layer_norm": True, "actor_layer_norm": False, "learning_rate": 1e-3,
                   "alpha": 1.0, "penalty_over_actions": "sum", "actor_bc_coef": 0.01,
                   "critic_bc_coef": 0.01, "normalize_observations": False})
