"""The algorithm contract, checked for every registered algorithm (a new registration is
tested automatically): each runs its registry ``smoke`` configuration."""
import os
import re
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl.envs
from jaxrl import registry
from jaxrl.contract import EPISODE_COUNT, EPISODE_RETURN_SUM, Algorithm
from jaxrl.experiment import make_experiment
from jaxrl.population import Population
from jaxrl.runner import Run, RunConfig, train
from tolerances import assert_member_matches

NAMES = registry.names()
CASES = registry.smoke_cases()  # (name, env id), e.g. sac on Pendulum and on CartPole
# The "write your own learner" guide's A2C (examples/a2c.py), loaded by name the way a
# user runs it, is held to the same contract. It registers when its case is built, so the
# registry-wide parametrisations of other files stay those of the built-in learners.
EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
sys.path.append(os.path.abspath(EXAMPLES))
CASES.append(("a2c:a2c", "CartPole-v1"))
# JAXRL_CONTRACT_CASES="ppo@CartPole-v1,dqn@CartPole-v1": only these (make test-oldest)
if os.environ.get("JAXRL_CONTRACT_CASES"):
    CASES = [c for c in CASES if "@".join(c) in os.environ["JAXRL_CONTRACT_CASES"].split(",")]
# Names whose every code path another case traces, checked in `make test-extended` only
# (CI time): ddpg is td3's module with one critic and no smoothing or delay (traced
# values); rebrac is td3_bc's with static LayerNorm and a summed penalty, its critic
# penalty a traced weight that td3_bc's case traces too; rtd3 is td3's losses (td3) on
# the recurrent actor-critic skeleton (rsac; its n-step targets are checked by hand in
# components/test_recurrent_actor_critic.py); rippo is team PPO's per-agent critic (ippo)
# with the recurrent team cores (rmappo); rpqn is PQN's Q(lambda) (pqn) on the recurrent
# on-policy skeleton (rppo; its sequences are checked in components/test_policy_memory.py);
# qrdqn is dqn's with the quantile loss (checked by hand in test_value_components.py) as
# c51 is with the categorical one; iql is the team replay learner without a mixer (vdn
# sums, qmix mixes: the same update).
EXTENDED_CASES = {"ddpg@Pendulum-v1", "rebrac@Pendulum-v1", "rtd3@Pendulum-v1",
                  "rippo@jaxmarl/MPE_simple_spread_v3", "rpqn@CartPole-v1",
                  "qrdqn@CartPole-v1", "iql@jaxmarl/MPE_simple_spread_v3"}
CASE_PARAMS = [pytest.param((n, e), id=f"{n}@{e}",
                            marks=[pytest.mark.extended] * (f"{n}@{e}" in EXTENDED_CASES))
               for n, e in CASES]


def build(name, env_id):
    entry = registry.get(name)
    exp = make_experiment(name, env_id, {**entry.smoke, "num_chunks": 2, "eval_episodes": 2,
                                         "checkpoint_interval": 1}, {})
    env, params = jaxrl.envs.make(exp.env)
    return entry.make(env, params, exp.config), exp


@pytest.fixture(scope="module", params=CASE_PARAMS)
def case(request):
    algo, exp = build(*request.param)
    hp = exp.hparams
    population = Population.from_configs([hp, hp.replace(learning_rate=hp.learning_rate * 2)],
                                         seeds=[3, 7])
    run = Run(algo, population, exp.run_config)
    full = train(algo, population, exp.run_config, progress=False, run=run)
    return algo, exp, population, run, full


def leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_implements_the_protocol(case):
    algo, exp, *_ = case
    assert isinstance(algo, Algorithm)
    assert algo.num_updates * algo.env_steps_per_update <= exp.config.total_timesteps


def test_the_memory_model_bounds_what_xla_plans(case):
    """The runner's estimate per device (states, and working sets built on XLA's
    analysis of one member's update) against XLA's memory analysis of the compiled
    chunk: an upper bound, within 4x. No extra compile: the case's programs are reused."""
    _, _, _, run, _ = case
    xla = max(run.xla_memory.values())
    estimate = run.memory_plan.need / len(run.devices)
    assert xla <= estimate <= 4 * xla, (run.memory_plan.record(), xla)


def batched_lapack_calls(hlo_text: str) -> list:
    """The LAPACK custom calls in optimised HLO whose first result has batch dimensions
    (more than a matrix's two)."""
    found = []
    for line in hlo_text.splitlines():
        target = re.search(r'custom_call_target="(lapack_\w+)"', line)
        if target:
            shape = re.search(r"= \(?\w+\[([\d,]*)\]", line)
            if shape and len(shape.group(1).split(",")) > 2:
                found.append((target.group(1), shape.group(1)))
    return found


def test_no_batched_lapack_call_on_cpu(case):
    """jaxlib 0.10-0.11 can deadlock two batched LAPACK calls on XLA:CPU's thread pool
    (``jaxrl.networks.initializers``): every program the run compiled (init with its
    orthogonal initialisers under the member vmap, the chunks, evaluation) calls LAPACK
    one matrix at a time. The contract suite's learners are every network family."""
    _, _, population, run, _ = case
    init = run._init_compiled or run._init.lower(population.keys(), run.inputs).compile()
    programs = {"init": init, **run._chunk_programs}
    texts = {name: p.as_text() for name, p in programs.items()}
    assert "lapack_" in texts["init"]  # the orthogonal initialisers' QRs are there
    for name, text in texts.items():
        assert not batched_lapack_calls(text), (name, batched_lapack_calls(text))
    # the check itself finds a batched call where one is made
    stacked = jax.jit(jax.vmap(jnp.linalg.qr)).lower(jnp.ones((2, 3, 3))).compile()
    assert batched_lapack_calls(stacked.as_text())


# The learners whose run alone is compiled and compared with their member of the
# population: one per module and update skeleton (the teams' PPO and replay learners
# included), the shared offline dataset and a learner of one's own. The others are variants of these
# modules (a value distribution, a loss, a recurrent core): the runner's member wiring
# they go through is the same, and their members' independence in one program is checked
# with no compile by test_diverging_member_is_isolated.
COMPARED_ALONE = {"ppo@CartPole-v1", "rppo@CartPole-v1", "dqn@CartPole-v1",
                  "sac@Pendulum-v1", "mappo@jaxmarl/MPE_simple_spread_v3",
                  "qmix@jaxmarl/MPE_simple_spread_v3", "implicit_ql@Pendulum-v1",
                  "a2c:a2c@CartPole-v1"}


def test_vmapped_member_matches_member_alone_and_reuses_no_key(case, request):
    """Every learner's whole run (``algo.train``), traced with typed keys under JAX's
    key-reuse checker (``jax_debug_key_reuse``, which refuses a key used twice while
    tracing; raw uint32 keys pass unchecked); for ``COMPARED_ALONE``, that run alone,
    compiled, against its member of the vmapped population."""
    algo, _, population, _, full = case
    jax.config.update("jax_debug_key_reuse", True)
    try:
        train_alone = jax.jit(algo.train)
        hp = jax.tree.map(lambda x: x[1], population.hparams)
        train_alone.trace(jax.random.key(int(population.seeds[1])), hp)  # checks the keys
        if request.node.callspec.id not in COMPARED_ALONE:
            return
        for member in (1, 2):
            hp = jax.tree.map(lambda x: x[member], population.hparams)
            alone, _ = train_alone(jax.random.key(int(population.seeds[member])), hp)
            alone = jax.tree.map(raw_key, alone)
            together = jax.tree.map(lambda x: x[member], jax.device_get(full.carry.state))
            assert_member_matches(together, alone)
    finally:
        jax.config.update("jax_debug_key_reuse", False)


def raw_key(x):
    """A typed key's uint32 data (what the runner's raw keys hold), other leaves as they
    are."""
    return jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x


def test_no_recompile_when_a_traced_value_changes(case):
    """The update is traced once for any hyperparameter values (traced, never baked into
    the program: lowering alone shows it, with no compile), and so is the runner's chunk
    program."""
    algo, exp, population, run, _ = case
    chex.clear_trace_counter()  # the counter is per code location, shared across params

    @jax.jit
    @chex.assert_max_traces(n=1)
    def update(state, hp):
        return algo.update(state, hp)

    state = jax.eval_shape(algo.init, jax.random.PRNGKey(0), exp.hparams)
    for factor in (1.0, 0.5, 3.0):
        update.lower(state, exp.hparams.replace(
            learning_rate=exp.hparams.learning_rate * factor))
    metrics = jax.eval_shape(algo.update, state, exp.hparams)[1]
    # the metrics the learner declares for the runner are there (the runner names none)
    assert {EPISODE_RETURN_SUM, EPISODE_COUNT} <= set(algo.summed_metrics) <= set(metrics)
    assert algo.health_metric is None or algo.health_metric in metrics
    # the runner's chunk program takes new hyperparameters without recompiling
    carry = run.init_carry()
    length = run.chunks[0]
    program = run.chunk_program(length, carry)
    run.set_hparams(jax.tree.map(lambda x: x * 0.5 if x.dtype == np.float32 else x,
                                 population.hparams))
    new_carry, _ = program(carry, run.hparams)
    assert run.chunk_program(length, new_carry).compiled is program.compiled
    assert run.chunk_program(1, new_carry).compiled is program.compiled  # any length
    with pytest.raises(ValueError, match="same structure"):
        run.set_hparams(jax.tree.map(lambda x: np.concatenate([x, x]), population.hparams))
    run.set_hparams(population.hparams)


def test_diverging_member_is_isolated(case):
    """Members blown up by a huge learning rate are reported and frozen; their neighbours
    in the same vmapped program (the case's compiled programs, new hyperparameters) train
    on with finite values, to the result they reach without them."""
    algo, exp, population, run, full = case
    blown = exp.hparams.replace(learning_rate=1e30)
    diverging = Population.from_configs([exp.hparams, blown], seeds=[3, 7])
    result = train(algo, diverging, exp.run_config, progress=False,
                   run=run.with_population(diverging),
                   console=type("Quiet", (), {"print": lambda *a, **k: None})())
    assert np.asarray(result.carry.alive).tolist() == [True, True, False, False]
    assert [d["member"] for d in result.summary["diverged_members"]] == [2, 3]
    for member in (0, 1):
        assert_member_matches(jax.tree.map(lambda x: x[member], result.carry.state),
                              jax.tree.map(lambda x: x[member], full.carry.state))
    for leaf in jax.tree.leaves(result.carry.state):
        if jnp.issubdtype(leaf.dtype, jnp.inexact):
            assert np.all(np.isfinite(np.asarray(leaf)))


def test_resume_through_the_runner_is_bitwise(case, tmp_path):
    algo, exp, population, run, full = case
    run_dir = str(tmp_path / "run")
    partial = train(algo, population, exp.run_config, run_dir=run_dir, progress=False,
                    run=run, stop_after_chunks=1)
    assert partial.summary is None
    resumed = train(algo, population, exp.run_config, run_dir=run_dir, resume=True,
                    progress=False, run=run)
    for a, b in zip(leaves(full.carry), leaves(resumed.carry)):
        np.testing.assert_array_equal(a, b)
    assert resumed.summary["final_eval_return"] == full.summary["final_eval_return"]


def test_exported_policy_acts_as_the_run(case, tmp_path):
    """``jaxrl.export`` of a trained member, loaded back: the same actions (and carries)
    as the learner's own policy, bitwise, on batches the narrow layers compute two ways
    (a few rows elementwise, more by matmul), stepping from the export's own initial
    carry, and on one observation."""
    from jaxrl.export import export_policy
    from jaxrl.inference import load_policy

    algo, _, _, _, full = case
    state = jax.tree.map(lambda x: x[1], jax.device_get(full.carry.state))
    export_policy(algo, state, str(tmp_path / "policy"))
    policy = load_policy(str(tmp_path / "policy"))
    reference = jax.jit(lambda s, c, o: algo.policy(s).act(c, o))
    for batch in (1, 5, 40):
        obs, _ = jax.vmap(algo.eval_env.reset, in_axes=(0, None))(
            jax.random.split(jax.random.PRNGKey(batch), batch), algo.env_params)
        obs = off_the_reset(obs)
        carry = algo.policy(state).initial_carry(batch)
        exported_carry = policy.initial_carry(batch)
        for _ in range(2):  # a second step from the carries the first returned
            want = reference(state, carry, obs)
            exported_carry, action = policy.step(exported_carry, obs)
            for a, b in zip(jax.tree.leaves(want), jax.tree.leaves((exported_carry, action))):
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
            carry = want[0]
        if batch == 1 and not policy.recurrent:  # one observation, unbatched
            one = jax.tree.map(lambda x: x[0], obs)
            np.testing.assert_array_equal(np.asarray(policy(one)), np.asarray(want[1][0]))


def off_the_reset(obs):
    """Reset observations moved by noise (a team's legal-action masks left as they are)."""
    def move(path, x):
        if "action_mask" in jax.tree_util.keystr(path):
            return x
        return x + jax.random.normal(jax.random.PRNGKey(1), x.shape)

    return jax.tree_util.tree_map_with_path(move, obs)


def test_help_is_generated_from_the_registry(capsys):
    from jaxrl import cli

    assert cli.main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    for name in NAMES:
        assert name in text and registry.get(name).summary[:30] in " ".join(text.split())
    for name in NAMES:
        assert cli.main(["train", name, "--help"]) == 0
        text = capsys.readouterr().out
        import dataclasses
        for cls in (registry.get(name).Config, registry.get(name).HParams, RunConfig):
            for f in dataclasses.fields(cls):
                assert f.name in text, (name, f.name)


def test_fork_changes_only_future_randomness(case):
    """PBT copies a member's state into another; ``fork`` must give the copy its own keys
    and leave everything learned untouched."""
    algo, _, _, _, full = case
    state = jax.tree.map(lambda x: x[0], full.carry.state)
    a, b = algo.fork(state, 1), algo.fork(state, 2)
    key_data = lambda s: np.asarray(jax.random.key_data(s.key))  # noqa: E731
    assert not np.array_equal(key_data(a), key_data(state))
    assert not np.array_equal(key_data(a), key_data(b))
    chex.assert_trees_all_equal(a.replace(key=state.key), state)
