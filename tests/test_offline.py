"""Offline RL: datasets in Minari's format (round trip through Minari's own reader and
writer), recording (a policy, a replay buffer, random, mixtures: `jaxrl record`), the
dataset held once per device whatever the population, the data sources' errors, and
offline learners beating the policy that recorded their data."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl.envs
from jaxrl.components.rollout import observation_env
from jaxrl.config import ConfigError
from jaxrl.offline import dataset as D
from jaxrl.offline.sources import load
from jaxrl.offline.record import rollout_episodes

# CartPole: a hand-written controller balances for all 500 steps; acting uniformly at
# random half the time it averages about 156 (a "medium" recorder): learners that pick
# the data's best actions recover the controller, ones that copy it do not.
NOISE = 0.5


def controller(obs):
    return (obs[:, 2] + 0.5 * obs[:, 3] + 0.05 * obs[:, 0] + 0.1 * obs[:, 1] > 0).astype(
        jnp.int32)


@pytest.fixture(scope="module")
def cartpole():
    env, params = jaxrl.envs.make("CartPole-v1")
    return observation_env(env, params), params


@pytest.fixture(scope="module")
def noisy_dataset(tmp_path_factory, cartpole):
    env, params = cartpole
    episodes = rollout_episodes(env, params, controller, jax.random.PRNGKey(0), 50,
                                noise=NOISE)
    path = str(tmp_path_factory.mktemp("data") / "cartpole-noisy")
    returns = [ep.ret for ep in episodes]
    D.write_minari(path, episodes, env.observation_space(params), env.action_space(params),
                   {"ref_min_score": 22.0, "ref_max_score": 500.0,
                    "jaxrl": {"env": "CartPole-v1", "env_overrides": {},
                              "policies": [{"policy": "controller", "noise": NOISE,
                                            "return": float(np.mean(returns))}]}})
    return path, episodes


def test_minari_reads_what_jaxrl_writes(noisy_dataset):
    import minari

    path, episodes = noisy_dataset
    data = minari.MinariDataset(os.path.join(path, "data"))
    assert data.total_episodes == len(episodes)
    assert data.total_steps == sum(len(ep) for ep in episodes)
    for ours, theirs in zip(episodes, data.iterate_episodes()):
        np.testing.assert_array_equal(theirs.observations, ours.observations)
        np.testing.assert_array_equal(theirs.actions, ours.actions)
        np.testing.assert_array_equal(theirs.rewards, ours.rewards)
        np.testing.assert_array_equal(theirs.terminations, ours.terminations)
        np.testing.assert_array_equal(theirs.truncations, ours.truncations)
    assert data.storage.metadata["ref_max_score"] == 500.0
    # Minari's own normalised score reads our references
    assert float(minari.get_normalized_score(data, np.array([261.0]))[0]) == pytest.approx(0.5)


def test_jaxrl_reads_what_minari_writes(tmp_path, cartpole, monkeypatch):
    """A dataset made by Minari's own writer (by id, under MINARI_DATASETS_PATH) loads by
    its id, with the same transitions."""
    import gymnasium
    import minari
    from minari.data_collector.episode_buffer import EpisodeBuffer

    env, params = cartpole
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    episodes = rollout_episodes(env, params, controller, jax.random.PRNGKey(1), 3, noise=0.7)
    buffers = [EpisodeBuffer(observations=ep.observations, actions=ep.actions,
                             rewards=list(ep.rewards), terminations=list(ep.terminations),
                             truncations=list(ep.truncations), infos={}) for ep in episodes]
    minari.create_dataset_from_buffers(
        "test/cartpole/noisy-v0", buffers,
        observation_space=gymnasium.spaces.Box(-np.inf, np.inf, (4,), np.float32),
        action_space=gymnasium.spaces.Discrete(2), ref_min_score=0.0, ref_max_score=500.0)
    loaded = load("test/cartpole/noisy-v0", env, params)
    expected = D.to_transitions(episodes)
    for name in ("obs", "action", "reward", "terminated", "truncated", "next_obs"):
        np.testing.assert_array_equal(getattr(loaded.transitions, name), getattr(expected, name))
    assert loaded.metadata["dataset_id"] == "test/cartpole/noisy-v0"
    assert loaded.normalized_score(250.0) is None  # it names no reference returns


def test_transitions_follow_each_episode():
    """Next observations are the episode's following ones (its last: the final one);
    next actions the following action, none after an episode's last step."""
    ep = D.Episode(np.arange(4.0)[:, None], np.array([10, 11, 12]), np.ones(3, np.float32),
                   np.array([False, False, True]), np.zeros(3, bool))
    cut = D.Episode(np.array([[7.0], [8.0]]), np.array([20]), np.array([2.0], np.float32),
                    np.array([False]), np.array([True]))
    t = D.to_transitions([ep, cut])
    np.testing.assert_array_equal(t.obs[:, 0], [0, 1, 2, 7])
    np.testing.assert_array_equal(t.next_obs[:, 0], [1, 2, 3, 8])
    np.testing.assert_array_equal(t.next_action, [11, 12, 0, 0])
    np.testing.assert_array_equal(t.has_next_action, [True, True, False, False])
    np.testing.assert_array_equal(t.terminated, [False, False, True, False])
    np.testing.assert_array_equal(t.truncated, [False, False, False, True])
    # and back: the same two episodes
    for back, ep in zip(D.to_episodes(t), [ep, cut]):
        np.testing.assert_array_equal(back.observations, ep.observations)
        np.testing.assert_array_equal(back.actions, ep.actions)
        np.testing.assert_array_equal(back.terminations, ep.terminations)
        np.testing.assert_array_equal(back.truncations, ep.truncations)
    assert len(D.to_episodes(t)) == 2
    with pytest.raises(ConfigError, match="one observation more"):
        D.check_episode(D.Episode(np.zeros((3, 1)), np.zeros(3), np.zeros(3),
                                  np.zeros(3, bool), np.zeros(3, bool)), 0)


def test_replay_buffer_episodes_oldest_first_after_wrapping():
    """A full buffer of 4 rows (next write at row 1) holds steps 1..4 of env 0: episodes
    split at ends, the one cut by the buffer's end truncated there."""
    from jaxrl.algorithms.off_policy import Stored
    from jaxrl.components.replay import ReplayState
    from jaxrl.offline.record import replay_episodes

    # rows hold steps [4, 1, 2, 3] (row 0 overwritten by step 4); episode ends at step 2
    step = np.array([4, 1, 2, 3])
    stored = Stored(obs=step[:, None, None].astype(np.float32),
                    action=np.zeros((4, 1, 1), np.float32),
                    reward=step[:, None].astype(np.float32),
                    terminated=(step == 2)[:, None], truncated=np.zeros((4, 1), bool),
                    final_obs=(step + 0.5)[:, None, None].astype(np.float32))
    replay = ReplayState(stored, np.ones((1, 1)), np.ones(()), np.asarray(1), np.asarray(4))
    episodes = replay_episodes(replay, lambda a: a * 2)
    assert [list(ep.rewards) for ep in episodes] == [[1.0, 2.0], [3.0, 4.0]]
    np.testing.assert_array_equal(episodes[0].observations[:, 0], [1, 2, 2.5])
    assert episodes[0].terminations[-1] and not episodes[0].truncations[-1]
    assert episodes[1].truncations[-1] and not episodes[1].terminations[-1]


def test_dataset_errors_name_the_fix(cartpole, tmp_path):
    from jaxrl.algorithms import bc, dqn

    env, params = jaxrl.envs.make("CartPole-v1")
    with pytest.raises(ConfigError, match="not found"):
        bc.make(env, params, bc.BCConfig(dataset=str(tmp_path / "missing"),
                                         total_timesteps=0, offline_steps=10,
                                         offline_steps_per_update=1))
    with pytest.raises(ConfigError, match="learns from a dataset"):
        bc.make(env, params, bc.BCConfig(total_timesteps=1000))
    with pytest.raises(ConfigError, match="prioritised replay"):
        dqn.DQNConfig(dataset="random:100", prioritized=True).validate()
    with pytest.raises(ConfigError, match="nothing to learn from"):
        dqn.DQNConfig(total_timesteps=0).validate()
    with pytest.raises(ConfigError, match="random:N"):
        load("random:x", *cartpole)


def test_a_dataset_of_another_env_is_refused(noisy_dataset):
    from jaxrl.algorithms import bc

    env, params = jaxrl.envs.make("Acrobot-v1")
    with pytest.raises(ConfigError, match="observations of shape"):
        bc.make(env, params, bc.BCConfig(dataset=noisy_dataset[0], total_timesteps=0,
                                         offline_steps=10, offline_steps_per_update=1))


def test_the_dataset_is_held_once_per_device_whatever_the_population(noisy_dataset):
    """XLA's own accounting of the compiled chunk: its arguments grow by the members'
    states and hyperparameters only, and hold the dataset exactly once."""
    from jaxrl.experiment import make_experiment
    from jaxrl.runner import Run

    values = {"dataset": noisy_dataset[0], "offline_steps": 16, "offline_steps_per_update": 8,
              "batch_size": 16, "hidden_sizes": (16,), "member_batch": 1}
    sizes = {}
    for members in (1, 3):
        exp = make_experiment("bc", "CartPole-v1", values, {}, num_seeds=members)
        algo, population = exp.build()
        run = Run(algo, population, exp.run_config, devices=jax.devices()[:1])
        assert run.memory_plan.model.shared == algo.shared.nbytes
        program = run.chunk_program(1, run.init_carry())
        sizes[members] = program.memory_analysis().argument_size_in_bytes
        leaves = jax.tree.leaves(run.shared)
        assert all(len(x.sharding.device_set) == 1 for x in leaves)
    per_member = (sizes[3] - sizes[1]) // 2
    dataset_bytes = algo.shared.nbytes
    assert dataset_bytes > 10 * per_member  # the dataset dwarfs a member here
    # one member's arguments: its state and hyperparameters, the chunk length, the dataset
    assert sizes[1] - per_member - 4 == dataset_bytes


def test_record_command_end_to_end(tmp_path):
    """A tiny SAC run: its policy (with noise), its replay buffer, a random policy and a
    mixture recorded by `jaxrl record`, their metadata, and a learner trained on the
    mixture reporting normalised scores."""
    from jaxrl.cli import main

    run = str(tmp_path / "sac")
    assert main(["train", "sac", "--env", "Pendulum-v1", "--num-seeds", "2",
                 "--total-timesteps", "1000", "--set", "learning_starts=200",
                 "--set", "num_chunks=2", "--set", "checkpoint_interval=1",
                 "--set", "hidden_sizes=16", "--out", run, "--no-progress"]) == 0
    policy, replay = str(tmp_path / "policy"), str(tmp_path / "replay")
    assert main(["record", run, "--out", policy, "--member", "1", "--checkpoint", "1",
                 "--episodes", "3", "--noise", "0.2", "--reference-episodes", "4"]) == 0
    assert main(["record", run, "--out", replay, "--replay", "--reference-episodes", "4",
                 "--format", "arrow"]) == 0
    rnd = str(tmp_path / "random")
    assert main(["record", "random", "--env", "Pendulum-v1", "--out", rnd,
                 "--episodes", "2", "--reference-episodes", "4"]) == 0
    mixed = str(tmp_path / "mixed")
    assert main(["record", "--mix", policy, replay, rnd, "--out", mixed]) == 0

    meta = json.load(open(os.path.join(policy, "data", "metadata.json")))
    (recorder,) = meta["jaxrl"]["policies"]
    assert (recorder["member"], recorder["checkpoint"], recorder["noise"]) == (1, 1, 0.2)
    assert meta["ref_max_score"] == recorder["return"]  # the best (only) recorder's return
    assert meta["total_steps"] == 3 * 200 and meta["total_episodes"] == 3
    replayed = D.read_minari(replay)
    assert replayed.transitions.size == 2 * 500  # both checkpoints' steps: 1 env x 1000
    assert replayed.metadata["jaxrl"]["policies"][0]["kind"] == "replay buffer"
    mix = D.read_minari(mixed)
    assert mix.transitions.size == 3 * 200 + 1000 + 2 * 200
    assert len(mix.metadata["jaxrl"]["policies"]) == 3
    assert mix.ref_min_score == min(D.read_minari(p).ref_min_score
                                    for p in (policy, replay, rnd))

    out = str(tmp_path / "td3bc")
    assert main(["train", "td3_bc", "--env", "Pendulum-v1", "--num-seeds", "2",
                 "--set", f"dataset={mixed}", "--set", "offline_steps=40",
                 "--set", "offline_steps_per_update=20", "--set", "batch_size=32",
                 "--set", "hidden_sizes=16", "--out", out, "--no-progress"]) == 0
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["total_timesteps"] == 0 and summary["gradient_steps_per_second"] > 0
    scores = mix.normalized_score(summary["final_eval_return"])
    np.testing.assert_allclose(summary["final_normalized_score"], scores, rtol=1e-6)
    assert mix.describe() == summary["dataset"]
    # an existing dataset is never overwritten (a one-line error, exit status 2)
    assert main(["record", "--mix", policy, "--out", mixed]) == 2


@pytest.mark.slow
@pytest.mark.parametrize("algorithm, values", [
    ("bc", {"learning_rate": 1e-3}),
    ("implicit_ql", {}),
    ("cql", {"cql_alpha": 1.0}),
])
def test_offline_learners_beat_their_noisy_recorder_on_cartpole(algorithm, values,
                                                                noisy_dataset):
    """The recorder averages about 156; its greedy part balances for 500 steps. Every
    learner here, trained on its 50 episodes alone, recovers most of that."""
    from learning import run_summary

    behaviour = np.mean([ep.ret for ep in noisy_dataset[1]])
    assert 100 < behaviour < 250
    summary = run_summary(algorithm, "CartPole-v1", num_seeds=4, dataset=noisy_dataset[0],
                          offline_steps=3000, offline_steps_per_update=100, batch_size=256,
                          hidden_sizes=(64, 64), num_chunks=1, **values)
    print(algorithm, summary["final_eval_return"], summary["final_normalized_score"])
    assert summary["final_eval_return_iqm"] >= 450  # (measured: every seed 500)


def test_init_from_continues_each_member_where_its_source_ended(noisy_dataset, tmp_path):
    """Offline-to-online: an online run with init_from starts from the offline run's
    learned parts. With a learning rate of 0 they stay as they were, so its final
    evaluation (the same episodes) scores what the offline run's did, member by member."""
    from jaxrl.experiment import make_experiment
    from jaxrl.runner import train

    small = {"dataset": noisy_dataset[0], "hidden_sizes": (16,), "batch_size": 32,
             "num_chunks": 2, "eval_episodes": 4}
    offline = make_experiment("implicit_ql", "CartPole-v1",
                              {**small, "offline_steps": 40, "offline_steps_per_update": 20}, {},
                              num_seeds=2)
    source = str(tmp_path / "offline")
    before = train(*offline.build(), offline.run_config, run_dir=source, progress=False,
                   config_record=offline.record())
    online = make_experiment("implicit_ql", "CartPole-v1",
                             {**small, "total_timesteps": 64, "learning_rate": 0.0,
                              "init_from": source}, {}, num_seeds=2)
    from jaxrl.warm_start import warm_start_from

    start = warm_start_from(source)
    after = train(*online.build(), online.run_config, progress=False, start=start)
    assert after.summary["final_eval_return"] == before.summary["final_eval_return"]

    wider = make_experiment("implicit_ql", "CartPole-v1",
                            {**small, "hidden_sizes": (32,), "total_timesteps": 64,
                             "init_from": source}, {}, num_seeds=2)
    with pytest.raises(ConfigError, match="differ in structure or shapes"):
        train(*wider.build(), wider.run_config, progress=False, start=start)


def test_offline_model_selection_sweep(noisy_dataset, tmp_path):
    """A sweep of an offline learner on one dataset: configurations chosen on tuning
    seeds, scored on disjoint test seeds, in normalised scores, with the online
    evaluation budget it spent stated; its report reads progress in gradient steps."""
    from jaxrl.report import write_report
    from jaxrl.sweep import SweepSpec, run_sweep
    from jaxrl.sweep.results import read_table

    base = {"dataset": noisy_dataset[0], "offline_steps": 40, "offline_steps_per_update": 20,
            "batch_size": 32, "hidden_sizes": (16,), "num_chunks": 2, "eval_interval": 1,
            "eval_episodes": 2}
    space = {"learning_rate": {"values": [1e-4, 3e-3]}}
    spec = SweepSpec("bc", "CartPole-v1", space, base, sampler="grid", seeds_per_config=2,
                     seed=0, test_seeds=2, test_top=1)
    out = str(tmp_path / "sweep")
    result = run_sweep(spec, out, progress=False)
    summary = result.summary
    assert summary["tuning_seeds"] == [0, 1] and summary["test_seeds"] == [2, 3]
    best = summary["best"][0]
    for phase in ("tune", "test"):  # an affine rescaling commutes with the IQM
        assert best[f"{phase}_normalized_iqm"] == pytest.approx(
            100 * (best[f"{phase}_iqm"] - 22.0) / (500.0 - 22.0), rel=1e-6, abs=1e-6)
    # 2 evaluations x 2 episodes per member: 2 configurations x 2 seeds, then 2 test seeds
    assert summary["online_evaluation_episodes"] == {"tune": 2 * 2 * 2 * 2, "test": 2 * 2 * 2}
    table = read_table(os.path.join(out, "results.parquet"))
    assert set(table.gradient_steps) == {20, 40} and set(table.env_steps) == {0}
    report = write_report([out], str(tmp_path / "report"))
    assert os.path.exists(report)


def test_pbt_tunes_an_offline_learner_on_its_dataset(noisy_dataset, tmp_path):
    """PBT runs unchanged on a learner that takes no env step: generations of gradient
    steps, members copied and explored, the dataset shared by all of them."""
    from jaxrl.sweep.pbt import PBTSpec, run_pbt

    base = {"dataset": noisy_dataset[0], "offline_steps": 80, "offline_steps_per_update": 10,
            "batch_size": 32, "hidden_sizes": (16,), "eval_episodes": 2}
    space = {"learning_rate": {"distribution": "log_uniform_values", "min": 1e-4,
                               "max": 1e-2}}
    spec = PBTSpec("bc", "CartPole-v1", space, base, population=4, ready_interval=2, seed=3,
                   fraction=0.25)
    result = run_pbt(spec, str(tmp_path / "pbt"), progress=False)
    assert len(result.history) == 4  # 8 updates in generations of 2
    copied = [i for i, p in enumerate(result.history[0]["parent"]) if p != i]
    assert len(copied) == 1
