"""One member spread over several devices (``RunConfig.data_parallel``): 2 members x 2
devices each on 4 (simulated) devices end where the same population ends on one device,
for the learners that split their batches (PPO, PQN) and one that does not (DQN: each
device of a member computes all of it), in a fresh 4-device process each."""
import json
import sys
import textwrap

import numpy as np
import pytest
from cli_processes import host_devices_env, run_two_at_a_time

SCRIPT = textwrap.dedent("""
    import json, re, sys, jax, numpy as np
    import jaxrl.envs
    from jaxrl import registry
    from jaxrl.config import ConfigError
    from jaxrl.experiment import make_experiment
    from jaxrl.runner import Run, RunConfig, train
    from jaxrl.population import Population
    assert len(jax.devices()) == 4, jax.devices()
    entry = registry.get(sys.argv[1])
    exp = make_experiment(entry.name, entry.smoke_env, entry.smoke, {})
    env, params = jaxrl.envs.make(exp.env)
    algo = entry.make(env, params, exp.config)
    pop = Population.from_seeds(exp.hparams, 2)
    out = {}
    for name, data, devices in (("single", 1, jax.devices()[:1]),
                                ("data_parallel", 2, jax.devices())):
        cfg = RunConfig(num_chunks=2, eval_episodes=2, data_parallel=data)
        run = Run(algo, pop, cfg, devices=devices)
        result = train(algo, pop, cfg, progress=False, run=run)
        state = jax.tree.leaves(result.carry.state)
        text = run.chunk_program(run.chunks[0], run.init_carry()).as_text()
        out[name] = {"params": [np.asarray(x, np.float64).tolist() for x in state
                                if jax.numpy.issubdtype(x.dtype, jax.numpy.inexact)],
                     "mesh": dict(run.mesh.shape),
                     "all_reduce": len(re.findall(r"all-reduce\\(", text)),
                     "eval": result.summary["final_eval_return"]}
    for data, devices in ((3, jax.devices()), (8, None)):  # given devices; the default
        try:
            Run(algo, pop, RunConfig(data_parallel=data), devices=devices)
        except ConfigError as exc:
            out.setdefault("errors", []).append(str(exc))
    print("RESULT" + json.dumps(out))
""")
CASES = ("ppo", "pqn", "dqn")
RTOL, ATOL = 1e-4, 1e-4  # float summation order, as in test_sharding.py


@pytest.fixture(scope="module")
def runs():
    return run_two_at_a_time({name: [sys.executable, "-c", SCRIPT, name] for name in CASES},
                             host_devices_env(4, quick_compile=True))


@pytest.mark.parametrize("name", CASES)
def test_a_member_over_two_devices_ends_where_it_ends_on_one(name, runs):
    _, stdout, stderr = runs[name]
    assert "RESULT" in stdout, stderr[-3000:]
    out = json.loads(stdout.split("RESULT")[-1])
    assert out["data_parallel"]["mesh"] == {"member": 2, "data": 2}
    for split, single in zip(out["data_parallel"]["params"], out["single"]["params"]):
        np.testing.assert_allclose(split, single, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(out["data_parallel"]["eval"], out["single"]["eval"], rtol=1e-4)
    assert out["single"]["all_reduce"] == 0  # members never talk across devices
    if name in ("ppo", "pqn"):  # gradients (and statistics) summed over the data axis
        assert out["data_parallel"]["all_reduce"] > 0
    assert "data_parallel=3 must divide the 4 devices" in out["errors"][0]
    assert "use at most data_parallel=4" in out["errors"][1]
