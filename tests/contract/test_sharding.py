"""The member axis sharded over 8 (simulated) devices equals the single-device run, for
each update skeleton in each of its action forms (``SKELETONS``: a registered learner's
``smoke`` configuration), checked in fresh 8-device processes."""
import sys
import textwrap

import pytest
from cli_processes import check_in_two_processes, host_devices_env

from jaxrl import registry
from jaxrl.algorithms.off_policy import OffPolicyLearner
from jaxrl.algorithms.off_policy_ac import OffPolicyActorCritic
from jaxrl.algorithms.on_policy import OnPolicyLearner


SCRIPT = textwrap.dedent("""
    import json, sys, traceback, jax, numpy as np
    import jaxrl.envs
    from jaxrl import registry
    from jaxrl.experiment import make_experiment
    from jaxrl.runner import Run, RunConfig, train
    from jaxrl.population import Population
    assert len(jax.devices()) == 8, jax.devices()

    def check(name, env_id):
        entry = registry.get(name)
        exp = make_experiment(entry.name, env_id, entry.smoke, {})
        env, params = jaxrl.envs.make(exp.env)
        algo = entry.make(env, params, exp.config)
        hp = exp.hparams
        pop = Population.from_configs([hp, hp.replace(learning_rate=hp.learning_rate * 2)],
                                      seeds=[0, 1, 2, 3])
        cfg = RunConfig(num_chunks=2, eval_episodes=2)
        out = {}
        for kind, devices in (("single", jax.devices()[:1]), ("sharded", jax.devices())):
            run = Run(algo, pop, cfg, devices=devices)
            result = train(algo, pop, cfg, progress=False, run=run)
            state = jax.tree.leaves(result.carry.state)  # the whole learner state
            leaf = max(state, key=lambda x: x.size)
            out[kind] = {"params": [np.asarray(x, np.float64).tolist() for x in state
                                    if jax.numpy.issubdtype(x.dtype, jax.numpy.inexact)],
                         "shards": len(leaf.sharding.device_set),
                         "eval": result.summary["final_eval_return"]}
            if run.shared is not None:  # shared data: (devices, whole copies) per array
                out[kind]["shared"] = [
                    (len(x.sharding.device_set),
                     sum(s.data.shape == x.shape for s in x.addressable_shards))
                    for x in jax.tree.leaves(run.shared)]
        out["default_devices"] = len(Run(algo, Population.from_seeds(hp, 6), cfg).devices)
        try:
            Run(algo, Population.from_seeds(hp, 6), cfg, devices=jax.devices())
        except Exception as exc:
            out["error"] = str(exc)
        return out

    results = {}
    for case in sys.argv[1:]:  # "name@env_id"
        try:
            results[case] = check(*case.split("@"))
        except Exception:
            results[case] = {"failed": traceback.format_exc()[-3000:]}
    print("RESULT" + json.dumps(results))
""")

# Per-device programs batch fewer members than the single-device one, so batched kernels
# may reassociate sums. Adam turns that noise into a full step (lr, 3e-4 to 1e-3 in the
# smoke runs) wherever a gradient element is near zero and changes sign; on this
# machine's CPU SAC's parameters differed by up to 2.6e-5 after its 120 smoke steps.
RTOL, ATOL = 1e-4, 1e-4
# One case per update skeleton: the sharded member axis meets each kind of learner state
# once (on-policy: recurrent PPO, whose state holds what PPO and PQN hold and a carry, and
# whose update replays sequences; replay value-based: DQN, as C51 and QR-DQN; replay
# actor-critic: SAC, as TD3 and DDPG; discrete SAC left for CI time: the same state with
# other shapes). Each costs about 20-30 s of compile in these processes; the single-device
# contract suite runs every name, and test_every_learner_is_on_a_skeleton_checked_here
# keeps the list complete.
# An offline learner (IQL) adds the dataset every member samples: one whole copy on each
# device, never split or copied per member.
SKELETONS = {"rppo@CartPole-v1": "OnPolicyLearner", "dqn@CartPole-v1": "OffPolicyLearner",
             "sac@Pendulum-v1": "OffPolicyActorCritic",
             "implicit_ql@Pendulum-v1": "OffPolicyActorCritic"}
# SAC's replay buffer is sharded as DQN's is (the same buffer), and IQL stands for the
# actor-critic skeleton in CI: SAC's case runs in `make test-extended` (CI time).
EXTENDED_CASES = {"sac@Pendulum-v1"}
CASES = [pytest.param(case, id=case, marks=[pytest.mark.extended] * (case in EXTENDED_CASES))
         for case in SKELETONS]


@pytest.fixture(scope="module")
def sharded_runs(request):
    """Two fresh 8-device processes, each checking every other selected case (so jax and
    jaxrl are imported twice, not once per case): {case: its result, or why there is
    none}."""
    selected = sorted({item.callspec.params["case"] for item in request.session.items
                       if item.originalname == "test_eight_device_sharding_matches_single_device"},
                      key=list(SKELETONS).index)
    return check_in_two_processes([sys.executable, "-c", SCRIPT], selected,
                                  host_devices_env(8))


@pytest.mark.parametrize("case", CASES)
def test_eight_device_sharding_matches_single_device(case, sharded_runs):
    import numpy as np

    out = sharded_runs[case]
    assert "failed" not in out, out.get("failed")
    assert out["single"]["shards"] == 1 and out["sharded"]["shards"] == 8
    for sharded, single in zip(out["sharded"]["params"], out["single"]["params"]):
        np.testing.assert_allclose(sharded, single, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(out["sharded"]["eval"], out["single"]["eval"], rtol=1e-4)
    if "shared" in out["sharded"]:
        assert out["single"]["shared"] == [[1, 1]] * len(out["single"]["shared"])
        assert out["sharded"]["shared"] == [[8, 8]] * len(out["sharded"]["shared"])
    assert "not a multiple of the 8 devices" in out["error"]  # devices given explicitly
    assert out["default_devices"] == 6  # by default, the devices that divide it


def test_every_learner_is_on_a_skeleton_checked_here():
    """A learner on a new skeleton needs its own case above."""
    import jaxrl.envs
    from jaxrl.experiment import make_experiment

    checked = (OnPolicyLearner, OffPolicyLearner, OffPolicyActorCritic)
    assert {cls.__name__ for cls in checked} == set(SKELETONS.values())
    for name, env_id in registry.smoke_cases():
        entry = registry.get(name)
        exp = make_experiment(name, env_id, entry.smoke, {})
        algo = entry.make(*jaxrl.envs.make(exp.env), exp.config)
        assert isinstance(algo, checked), (name, type(algo).__mro__)
