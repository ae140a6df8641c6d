"""Learning on each env suite's representative env at a CI budget: the final greedy
evaluation beats a uniform random policy (over the legal actions where the suite masks
them) by a stated margin. The random figures and the trained ones are measured by
``benchmarks/suite_learning.py`` (its JSON has IQMs with 95% CIs); the thresholds sit
well between them. Craftax is scored as its own papers score it: by the sampling
policy's training episodes (achievements, less 0.1 per health point lost), since a
greedy Craftax policy soon stands still and lives out the time limit."""
import pytest
from learning import final_returns

pytestmark = pytest.mark.slow


# Random: 0.31-0.34 (64 episodes). PPO, 4 seeds x 100k steps: 1.00 on every seed (16 s).
def test_ppo_reaches_the_goal_on_navix_empty():
    iqm, returns = final_returns("ppo", "navix/Navix-Empty-5x5-v0", 100_000, num_seeds=4,
                                 torso="mlp")
    assert iqm >= 0.9, returns


# Random: 0.23-0.25. PPO, 4 seeds x 100k steps: 0.955 on every seed, the shortest path
# (25 s).
def test_ppo_reaches_the_goal_on_an_xland_minigrid_port():
    iqm, returns = final_returns("ppo", "xminigrid/MiniGrid-Empty-5x5", 100_000, num_seeds=4,
                                 torso="mlp")
    assert iqm >= 0.9, returns


# Random over the legal moves: 1,070 (64 games). PPO, 4 seeds x 200k steps: IQM 1,753,
# 95% CI [1,194, 1,981]. Illegal moves are masked out of PPO's logits.
def test_ppo_beats_random_on_jumanji_2048():
    iqm, returns = final_returns("ppo", "jumanji/Game2048-v1", 200_000, num_seeds=4,
                                 num_envs=16, num_steps=64, num_minibatches=8,
                                 normalize_observations=True)
    assert iqm >= 1_300.0, returns


# Random: 0.33-0.39. PQN with the MinAtar CNN: [5.4, 6.2] in 40 s. It replaced the same
# test on gymnax's Breakout-MinAtar (random 0.43; [6.6, 6.6] in 55-117 s): the same game
# and observation planes, and pgx's step is the cheaper one here.
def test_pqn_beats_random_on_pgx_minatar_breakout():
    iqm, returns = final_returns("pqn", "pgx/minatar-breakout", 150_000, num_seeds=2,
                                 devices=1, num_envs=64, num_steps=32, num_minibatches=8,
                                 num_epochs=2, hidden_sizes=(128,), epsilon_fraction=0.2,
                                 learning_rate=1e-3)
    assert iqm >= 4.0, returns


# Random: 354-367 over 1,000 steps (the pole starts upright; reward in [0, 1] per step).
# PPO, 300k steps, 8 seeds: 3 above 995, 4 at 585-627 and one at 273 (IQM 709; 166 s in
# CI); 4 seeds: [999, 532, 991, 991] (IQM 991, 103 s alone). In `make test-extended`: CI's
# 40 minutes left it out (Playground's adapter runs the conformance suite in CI).
@pytest.mark.extended
def test_ppo_balances_playground_cartpole():
    iqm, returns = final_returns("ppo", "playground/CartpoleBalance", 300_000, num_seeds=4,
                                 num_envs=16, num_steps=64, num_minibatches=8,
                                 normalize_observations=True, normalize_rewards=True,
                                 learning_rate=1e-3, gamma=0.995, ent_coef=0.0,
                                 eval_episodes=4)
    assert iqm >= 500.0, returns


# SAC on the same env, 20k steps (20 episodes): 562-836 on 4 seeds (IQM 634), 113-157 s;
# it left CI for the memory tests' time (SAC learns Pendulum in
# test_learning_actor_critic.py, and the Playground adapter is checked by PPO above):
# `python benchmarks/suite_learning.py playground_cartpole_sac` measures it.


# Random (first episodes of 64 copies, the same 2,000-step limit): 1.35 [1.07, 1.65]. PPO's
# training episodes in the last chunk (the sampling policy, Craftax's own measure), 2 seeds
# x 100k steps with optimistic resets: [3.95, 3.26] (105 s alone, 216-242 s in CI beside
# the other worker; benchmarks/suite_learning.py runs 4 seeds). CI runs the first seed (a
# fixed seed: the same program gives the same return). The 2,000-step limit keeps the
# final greedy evaluation short (a greedy policy stands still and lives it out). In `make
# test-extended` since the teams' learning tests came in (Craftax's adapter runs the
# conformance suite in CI, as Playground's does).
@pytest.mark.extended
def test_ppo_gains_achievements_on_craftax_classic():
    iqm, returns = final_returns("ppo", "craftax/Craftax-Classic-Symbolic-v1", 100_000,
                                 num_seeds=1, measure="train", num_envs=64, num_steps=64,
                                 num_minibatches=8, hidden_sizes=(256, 256),
                                 learning_rate=3e-4, gae_lambda=0.8, eval_episodes=1,
                                 env_values={"max_timesteps": 2000,
                                             "reset_mode": "optimistic"})
    assert iqm >= 2.0, returns
