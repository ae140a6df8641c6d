"""The memory model and populations updated in batches (``jaxrl.runner.memory``). The
model's bound on XLA's own figure is checked for every algorithm in the contract suite."""
import json

import chex
import numpy as np
import pytest

from jaxrl import cli, registry
from jaxrl.config import ConfigError
from jaxrl.experiment import make_experiment
from jaxrl.population import Population
from jaxrl.runner import Run, RunConfig, train
from jaxrl.runner.memory import MemoryModel, parse_size, plan_memory
from tolerances import assert_member_matches


def plan(budget_bytes, members=16, devices=2, member_batch=0):
    model = MemoryModel({"parameters": 100}, 1000)  # working set 2 * 100 + 1000 = 1200
    config = RunConfig(memory_budget_gb=budget_bytes / 2**30, member_batch=member_batch)
    return plan_memory(None, None, members, devices, config, model=model)


def test_the_plan_takes_the_largest_batch_that_fits():
    assert plan(16 * 100 + 2 * 8 * 1200).member_batch == 8  # all at once
    chosen = plan(16 * 100 + 2 * 8 * 1200 - 1)
    assert (chosen.member_batch, chosen.batches) == (4, 2)  # 8 per device -> 2 x 4
    assert "2 batches of 4 members per device" in chosen.describe()
    assert plan(16 * 100 + 2 * 1200).member_batch == 1
    assert plan(10**9, member_batch=2).member_batch == 2  # forced


@pytest.mark.parametrize("name,env_id", registry.smoke_cases())
def test_every_learner_declares_what_its_state_holds(name, env_id):
    """The memory parts come from the learners' own state classes (``memory_parts``), not
    from names the runner guesses: they add up to the whole state, and each learner
    declares its parameters, optimiser state and env (and replay, where it has one)."""
    import jax

    import jaxrl.envs
    from jaxrl.contract import state_bytes_by_part

    entry = registry.get(name)
    exp = make_experiment(name, env_id, entry.smoke, {})
    env, params = jaxrl.envs.make(env_id)
    algo = entry.make(env, params, exp.config)
    shapes = jax.eval_shape(algo.init, jax.random.PRNGKey(0), exp.hparams)
    parts = state_bytes_by_part(shapes)
    total = sum(np.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(shapes))
    assert sum(parts.values()) == total
    assert all(parts[p] > 0 for p in ("parameters", "optimiser", "env")), parts
    # a replay buffer where the learner steps an env from replay (not offline: a dataset)
    replays = hasattr(exp.config, "buffer_size") and not exp.config.offline
    assert (parts["replay"] > 0) == replays, parts
    assert parts["other"] < parts["parameters"], parts  # counters, keys, statistics


def test_the_working_set_is_xla_figure_and_a_hopeless_population_compiles_nothing(monkeypatch):
    """The update's transients are XLA's temporaries for one member's update, analysed
    once per program in a process; a population whose states alone exceed the budget is
    refused from ``eval_shape`` sizes, before that compile."""
    import jax

    import jaxrl.envs
    from jaxrl.runner import memory

    entry = registry.get("ppo")
    exp = make_experiment("ppo", "CartPole-v1", entry.smoke, {})
    env, params = jaxrl.envs.make("CartPole-v1")
    algo = entry.make(env, params, exp.config)
    hp = exp.hparams.validate()

    def no_compile(*args):
        raise AssertionError("compiled an analysis for a population refused by its states")

    monkeypatch.setattr(memory, "xla_transient_bytes", no_compile)
    state = memory.member_memory(algo, hp, transients=False).state
    with pytest.raises(ConfigError, match="does not fit the memory budget"):
        plan_memory(algo, hp, 100, 1, RunConfig(memory_budget_gb=99 * state / 2**30))
    monkeypatch.undo()
    model = memory.member_memory(algo, hp)
    shapes = jax.eval_shape(algo.init, jax.random.PRNGKey(0), hp)
    compiled = jax.jit(algo.update, donate_argnums=0).lower(shapes, hp).compile()
    optimised = compiled.memory_analysis().temp_size_in_bytes  # all passes on: the same
    assert model.transient > 0 and abs(model.transient - optimised) <= 0.1 * optimised
    assert memory.member_memory(algo, hp) is model  # kept on the learner


def test_no_analysis_compile_where_the_plan_has_nothing_to_choose(monkeypatch):
    """A forced member_batch, or one member per device on CPU, plans without XLA's
    analysis of the update (a compile as long as the run's); the plan says its working
    set is a lower bound. On CPU, members the states alone leave all at once are planned
    provisionally, confirmed from the compiled chunk's temporaries; on an accelerator
    (or where the states alone already call for batches) the analysis runs."""
    import jaxrl.envs
    from jaxrl.runner import memory

    entry = registry.get("pqn")
    exp = make_experiment("pqn", "CartPole-v1", entry.smoke, {})
    algo = entry.make(*jaxrl.envs.make("CartPole-v1"), exp.config)
    hp = exp.hparams.validate()
    analysed = []
    monkeypatch.setattr(memory, "xla_transient_bytes",
                        lambda *args: analysed.append(args) or 12345)
    one_each = plan_memory(algo, hp, 2, 2, RunConfig())
    forced = plan_memory(algo, hp, 8, 2, RunConfig(member_batch=2))
    assert not analysed and one_each.member_batch == 1 and forced.batches == 2
    assert "at least" in one_each.describe() and not one_each.record()["working_analysed"]
    assert plan_memory(algo, hp, 2, 2, RunConfig(), platform="gpu").model.transient == 12345
    provisional = plan_memory(algo, hp, 8, 2, RunConfig())
    assert len(analysed) == 1 and provisional.provisional and provisional.member_batch == 4
    assert "checked against the compiled chunk" in provisional.describe()
    # the chunk's temporaries for 4 members at once: 4 x 5 MiB transients leave the cache
    confirmed = provisional.confirmed(4 * 5 * 2**20)
    assert not confirmed.provisional and confirmed.record()["working_analysed"]
    assert confirmed.model.transient == 5 * 2**20 and confirmed.reason == "cache"
    assert confirmed.member_batch < 4 and "at least" not in confirmed.describe()
    assert provisional.confirmed(4 * 1024).member_batch == 4
    tight = plan_memory(algo, hp, 8, 2, RunConfig(memory_budget_gb=(
        8 * provisional.model.state + 2 * 2 * provisional.model.working) / 2**30))
    assert tight.model.transient == 12345 and len(analysed) == 1  # analysed (kept)
    assert "at least" not in tight.describe() and tight.record()["working_analysed"]


def test_a_provisional_plan_compiles_again_in_batches_when_its_chunk_leaves_the_cache():
    """PPO with long rollouts: small states (every member at once by the states alone),
    large update temporaries. The chunk compiled for all four members says they leave
    the CPU cache: the run compiles it again in batches and trains."""
    entry = registry.get("ppo")
    exp = make_experiment("ppo", "CartPole-v1", {**entry.smoke, "num_envs": 64,
                                                 "num_steps": 128, "num_minibatches": 4,
                                                 "total_timesteps": 8192}, {})
    algo, _ = exp.build()
    population = Population.from_configs([exp.hparams], seeds=[1, 2, 3, 4])
    run = Run(algo, population, RunConfig(num_chunks=1, eval_interval=100))
    assert run.memory_plan.provisional and run.memory_plan.batches == 1
    result = train(algo, population, run.config, run=run, progress=False)
    plan = run.memory_plan
    assert not plan.provisional and plan.model.analysed and plan.reason == "cache"
    assert plan.batches > 1 and len(run.xla_memory) == 1, plan.record()
    assert not result.summary["diverged_members"]


def test_on_cpu_batches_stay_near_the_cache_and_accelerators_take_all_at_once():
    model = MemoryModel({"parameters": 2**20}, 2 * 2**20)  # working set 4 MiB a member
    config = RunConfig(memory_budget_gb=100.0)
    cpu = plan_memory(None, None, 64, 2, config, model=model)
    assert (cpu.member_batch, cpu.batches, cpu.reason) == (4, 8, "cache")  # 16 MiB
    assert "in the CPU cache" in cpu.describe()
    gpu = plan_memory(None, None, 64, 2, config, model=model, platform="gpu")
    assert (gpu.member_batch, gpu.batches) == (32, 1)


def test_what_cannot_fit_is_refused_with_the_numbers_and_the_fix():
    with pytest.raises(ConfigError, match="use at most 14 members"):
        plan(16 * 100 + 2 * 1200 - 1)  # states plus one working set per device: no
    with pytest.raises(ConfigError, match="member_batch=3 must divide the 8 members"):
        plan(10**9, member_batch=3)


def test_sizes_parse_in_binary_units():
    assert parse_size("16GiB") == parse_size("16g") == parse_size("16") == 16.0
    assert parse_size("512MiB") == parse_size("512 MB") == 0.5
    with pytest.raises(ConfigError, match="16GiB"):
        parse_size("lots")


@pytest.mark.parametrize("algorithm,values,hparams", [
    ("ppo", {}, [{}]),
    # off-policy gating (any_member) sees only the batch: a member warming up for all but
    # the last update of the run (504 of 512 env steps) next to training ones, in
    # different batches (a warm-up as long as the run is refused: check_hparams)
    ("td3", {}, [{"learning_starts": 0}, {"learning_starts": 504}]),
])
def test_a_population_updated_in_batches_equals_it_updated_at_once(algorithm, values,
                                                                   hparams):
    entry = registry.get(algorithm)
    exp = make_experiment(algorithm, entry.smoke_env, {**entry.smoke, **values}, {},
                          num_seeds=1)
    algo, _ = exp.build()
    population = Population.from_configs([exp.hparams.replace(**h) for h in hparams],
                                         seeds=[3, 4, 5, 6] if len(hparams) == 1 else [3, 4])
    results = {}
    for batch in (0, 1):
        config = RunConfig(num_chunks=2, eval_interval=100, member_batch=batch)
        run = Run(algo, population, config)
        assert run.memory_plan.batches == (1 if batch == 0 else 4)
        results[batch] = train(algo, population, config, run=run, progress=False).carry
    assert_member_matches(results[1].state, results[0].state)
    chex.assert_trees_all_equal(results[1].replace(state=None), results[0].replace(state=None))
    if algorithm == "td3":  # the members warming up took only the last updates' steps
        steps = np.asarray(results[1].state.grad_steps)
        assert np.all(steps[2:] <= 2 * exp.config.gradient_steps), steps
        assert np.all(steps[:2] > 8 * steps[2:]), steps


def test_the_cli_runs_a_population_over_its_budget_in_batches(tmp_path, capsys):
    code = cli.main(["train", "ppo", "--num-seeds", "4", "--total-timesteps", "2048",
                         "--set", "num_chunks=2", "--memory-budget", "2MiB", "--no-progress",
                         "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "batches of" in err and "in sequence" in err
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())["memory_plan"]
    assert recorded["batches"] > 1 and recorded["estimated_bytes"] <= 2 * 2**20


def test_on_an_accelerator_the_budget_is_its_allocator_limit(monkeypatch):
    """The accelerator branch without one: device memory (``bytes_limit`` of every
    device) is the budget, not the host's RAM, and the plan updates every member at
    once where it fits, in batches where it does not (no CPU cache cap)."""
    from jaxrl.runner import memory

    class FakeGPU:
        platform = "gpu"

        def memory_stats(self):
            return {"bytes_limit": 80 * 2**30}

    monkeypatch.setattr(memory.jax, "devices", lambda: [FakeGPU(), FakeGPU()])
    assert memory.available_memory_bytes() == 160 * 2**30
    assert memory.budget_bytes(RunConfig(memory_fraction=0.5)) == 80 * 2**30
    model = MemoryModel({"parameters": 2**20}, 2**31)  # 2 GiB of working set a member
    wide = plan_memory(None, None, 64, 2, RunConfig(memory_fraction=0.5), model=model,
                       platform="gpu")
    assert (wide.member_batch, wide.batches, wide.reason) == (16, 2, "memory")
    roomy = plan_memory(None, None, 64, 2, RunConfig(memory_budget_gb=300.0), model=model,
                        platform="gpu")
    assert (roomy.member_batch, roomy.batches, roomy.reason) == (32, 1, "")
