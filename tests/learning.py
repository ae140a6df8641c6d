"""The learning tests' one measurement: train a population with an algorithm's default
configuration (plus the given fields) and read its final greedy evaluation."""
import numpy as np

from jaxrl.experiment import make_experiment
from jaxrl.runner import train


def final_returns(algorithm, env, total_timesteps=None, num_seeds=8, env_values=None,
                  **values):
    if total_timesteps is not None:
        values["total_timesteps"] = total_timesteps
    exp = make_experiment(algorithm, env, {"eval_episodes": 16, **values}, env_values or {},
                          num_seeds=num_seeds)
    algo, population = exp.build()
    result = train(algo, population, exp.run_config, progress=False)
    returns = np.asarray(result.summary["final_eval_return"])
    print(f"{algorithm} {env} final eval returns:", np.round(returns, 1),
          "IQM", round(result.summary["final_eval_return_iqm"], 1))
    assert not result.summary["diverged_members"]
    return result.summary["final_eval_return_iqm"], returns
