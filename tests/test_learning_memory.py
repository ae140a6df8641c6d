"""Learning that needs memory. bsuite's MemoryChain shows a context bit on the first step
only and asks for it after ``memory_length`` more: a feed-forward policy cannot do better
than chance (expected return 0), a recurrent one can answer every time (return 1)."""
import pytest
from learning import final_returns

pytestmark = pytest.mark.slow

MEMORY_CHAIN = dict(num_envs=16, num_steps=68, num_minibatches=4, hidden_sizes=(64,),
                    learning_rate=1e-3, ent_coef=0.0, eval_episodes=32)


# 8 seeds x 100k steps, memory_length 16 (`jaxrl train rppo|ppo --env MemoryChain-bsuite
# --env-set memory_length=16` with these settings): GRU IQM 1.0 [1.0, 1.0] (every seed),
# feed-forward 0.0 [-0.1, 0.1].
def test_a_gru_policy_remembers_what_a_feed_forward_policy_cannot():
    env, env_values = "MemoryChain-bsuite", {"memory_length": 16}
    gru, gru_returns = final_returns("rppo", env, 100_000, env_values=env_values,
                                     **{"memory.size": 64}, **MEMORY_CHAIN)
    ff, ff_returns = final_returns("ppo", env, 100_000, env_values=env_values, **MEMORY_CHAIN)
    assert gru >= 0.9, gru_returns
    assert abs(ff) <= 0.25, ff_returns
