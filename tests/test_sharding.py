"""The member axis sharded over 8 (simulated) devices equals the single-device run."""
import json
import os
import subprocess
import sys
import textwrap


SCRIPT = textwrap.dedent("""
    import json, jax, numpy as np
    import jaxrl.envs
    from jaxrl.algorithms import ppo
    from jaxrl.runner import Run, RunConfig, train
    from jaxrl.population import Population
    assert len(jax.devices()) == 8, jax.devices()
    env, params = jaxrl.envs.make("CartPole-v1")
    algo = ppo.make(env, params, ppo.PPOConfig(total_timesteps=256, num_envs=4, num_steps=16,
                                               num_minibatches=2, num_epochs=2))
    pop = Population.from_configs([ppo.PPOHParams(), ppo.PPOHParams(learning_rate=1e-3)],
                                  seeds=[0, 1, 2, 3])
    cfg = RunConfig(num_chunks=2, eval_episodes=2)
    out = {}
    for name, devices in (("single", jax.devices()[:1]), ("sharded", jax.devices())):
        run = Run(algo, pop, cfg, devices=devices)
        result = train(algo, pop, cfg, progress=False, run=run)
        leaf = result.carry.state.params["params"]["actor"]["Dense_0"]["kernel"]
        out[name] = {"kernel": np.asarray(leaf).tolist(),
                     "shards": len(leaf.sharding.device_set),
                     "eval": result.summary["final_eval_return"]}
    try:
        Run(algo, Population.from_seeds(ppo.PPOHParams(), 6), cfg)
    except Exception as exc:
        out["error"] = str(exc)
    print("RESULT" + json.dumps(out))
""")

# Per-device programs batch fewer members than the single-device one, so batched kernels
# may reassociate sums: the same tolerance as a vmapped member vs. the member alone.
RTOL, ATOL = 1e-4, 1e-5


def test_eight_device_sharding_matches_single_device():
    import numpy as np

    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
           "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")][-1]
    out = json.loads(line[len("RESULT"):])
    assert out["single"]["shards"] == 1 and out["sharded"]["shards"] == 8
    np.testing.assert_allclose(out["sharded"]["kernel"], out["single"]["kernel"],
                               rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(out["sharded"]["eval"], out["single"]["eval"], rtol=1e-4)
    assert "not a multiple of the 8 devices" in out["error"]
