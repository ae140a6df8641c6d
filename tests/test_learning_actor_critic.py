"""Learning tests for the off-policy actor-critics with their *default* configurations
(what `jaxrl train sac --env Pendulum-v1` runs), 8 seeds, final greedy evaluation
(slow; `make test` runs them in CI)."""
import pytest
from learning import final_returns

pytestmark = pytest.mark.slow

# A random policy scores about -1,200 on Pendulum-v1 and a good one -150 (rejax's
# published configs reach it in 10k steps); the issue asks for an IQM >= -250 within 20k.
PENDULUM_STEPS = 12_000


# SAC's seeds end close together (4 seeds: -139 to -130; 8 seeds: the same 4 and -135 to
# -130, 55 s alone against 36 s for 4), TD3's less so (8 seeds: -730 and -670 on two, -164
# to -128 on the rest; 4 seeds had one of them): SAC over 4 seeds, TD3 over 8. CI runs
# SAC's (TD3's took 80-90 s in `make test`: `make test-extended`).
@pytest.mark.parametrize("algorithm, num_seeds", [
    ("sac", 4), pytest.param("td3", 8, marks=pytest.mark.extended)])
def test_default_config_learns_pendulum(algorithm, num_seeds):
    iqm, returns = final_returns(algorithm, "Pendulum-v1", PENDULUM_STEPS, num_seeds=num_seeds)
    assert iqm >= -250.0, returns


# Discrete SAC on CartPole, 1 env, a gradient step per env step, 50k steps: with the
# default batch of 256 the IQM was 480 (272 s); with batches of 64 every seed scored 500
# (108 s); a quarter of the gradient steps (4 envs per step) only reached 239. It left CI
# for the memory tests' time (the categorical form runs the contract suite, and its
# losses are checked by hand): `jaxrl train sac --env CartPole-v1 --total-timesteps 50000
# --set batch_size=64 --num-seeds 8` measures it.


# SAC on MJX physics: `python benchmarks/suite_learning.py playground_cartpole_sac`.
