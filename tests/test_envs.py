"""Tests for the env layer (jaxrl.envs): protocol conformance, time limits and
auto-reset, wrappers, registry errors, params-as-pytree and key hygiene.

Compilation dominates on CPU, so every env is built once (``_env``) and every
(env -> batched rollout) function is jitted once (``_rollout``) and shared by all
tests that use it: a rollout is ``VecEnv(env, 2).reset`` followed by a ``lax.scan``
of ``VecEnv.step`` over a given ``(T, 2, *action_shape)`` action array, all under one
``jax.jit``. Every rollout uses the same ``T`` so shapes never change.
"""
from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxrl.envs as envs
from jaxrl.envs import (Box, ClipAction, Discrete, EpisodeStatistics, FlattenObservation,
                        RescaleAction, UnknownEnvError, VecEnv, make)
from jaxrl.envs.core import Env
from jaxrl.envs.suites.gymnax import NEEDS_DOWNLOAD

T = 6  # rollout length shared by every rollout (one compile per env)
N = 2  # VecEnv width

# Fastest-compiling brax backend per env. Measured on brax/ant (make+reset / step
# compile, 2 CPU cores under load): spring 9 s / 24 s, positional 17 s / 36 s,
# generalized 21 s / 22 s -> spring. swimmer only supports "generalized".
BRAX_BACKEND = {"brax/swimmer": "generalized"}
# The one brax env compiled in the fast suite (never terminates: clean time-limit checks).
FAST_BRAX = "brax/reacher"
# The slow suite's brax sample: an env that terminates (ant) and the one on the generalized
# backend (swimmer). Every brax id is one adapter over brax's own step, and checking all
# eleven cost 190 s of two cores in CI for no case these three lack;
# JAXRL_ALL_BRAX_IDS=1 checks every id.
SLOW_BRAX = ["brax/ant", "brax/swimmer"]

ALL_IDS = envs.list()
BRAX_IDS = [i for i in ALL_IDS if i.startswith("brax/")]
GYMNAX_IDS = list(envs.registry.suites()[""].names())
if os.environ.get("JAXRL_ALL_BRAX_IDS"):
    SLOW_BRAX = [i for i in BRAX_IDS if i != FAST_BRAX]


# --------------------------------------------------------------------------- helpers
def brax_kwargs(env_id, **kw):
    return {"episode_length": 5, "backend": BRAX_BACKEND.get(env_id, "spring"), **kw}


@functools.cache
def _env(env_id, wrappers=(), **kw):
    """(env, params), built once per distinct request and shared across tests."""
    if env_id.startswith("brax/"):
        kw = brax_kwargs(env_id, **kw)
    env, params = make(env_id, **kw)
    for w in wrappers:
        env = w(env)
    return env, params


@functools.cache
def _rollout(env):
    venv = VecEnv(env, N)

    @jax.jit
    def rollout(key, params, actions):
        k_reset, k_steps = jax.random.split(key)
        obs0, state = venv.reset(k_reset, params)

        def body(state, xs):
            k, a = xs
            obs, state, reward, terminated, truncated, info = venv.step(k, state, a, params)
            return state, (obs, reward, terminated, truncated, info)

        keys = jax.random.split(k_steps, actions.shape[0])
        _, traj = jax.lax.scan(body, state, (keys, actions))
        return obs0, traj

    return rollout


def run(env, params, actions, seed=0):
    """Returns numpy ``obs0`` (N, ...) and ``(obs, reward, term, trunc, info)`` (T, N, ...)."""
    out = _rollout(env)(jax.random.key(seed), params, jnp.asarray(actions))
    return jax.tree.map(np.asarray, out)


def random_actions(space, seed=1):
    keys = jax.random.split(jax.random.key(seed), T * N).reshape(T, N)
    return jax.vmap(jax.vmap(space.sample))(keys)


@functools.cache
def _jit_step(env):
    return jax.jit(env.step)


@functools.cache
def _jit_reset(env):
    return jax.jit(env.reset)


def alternating(n=T):
    """CartPole actions 0,1,0,1,... for both copies: keeps the pole up for > T steps."""
    return np.tile((np.arange(n) % 2)[:, None], (1, N)).astype(np.int32)


# ------------------------------------------------------------------ 1. conformance
def _conformance(env_id):
    env, params = _env(env_id)
    obs_space = env.observation_space(params)
    act_space = env.action_space(params)
    assert isinstance(act_space, (Discrete, Box)), act_space
    assert isinstance(obs_space, (Discrete, Box)), obs_space
    assert env.max_episode_steps(params) == int(params.max_steps_in_episode) > 0

    actions = random_actions(act_space)
    assert actions.shape == (T, N) + act_space.shape
    if isinstance(act_space, Discrete):
        assert actions.dtype == jnp.int32
        assert np.all((np.asarray(actions) >= 0) & (np.asarray(actions) < act_space.n))
    else:
        assert actions.dtype == jnp.float32

    obs0, (obs, reward, term, trunc, info) = run(env, params, actions)
    shape = tuple(obs_space.shape)
    assert obs0.shape == (N,) + shape and obs0.dtype == np.float32
    assert obs.shape == (T, N) + shape and obs.dtype == np.float32
    assert reward.shape == (T, N) and reward.dtype == np.float32
    assert term.shape == (T, N) and term.dtype == np.bool_
    assert trunc.shape == (T, N) and trunc.dtype == np.bool_
    final = info["final_observation"]
    assert final.shape == obs.shape and final.dtype == np.float32
    assert np.all(np.isfinite(obs0)) and np.all(np.isfinite(obs)) and np.all(np.isfinite(final))
    assert np.all(np.isfinite(reward))
    # terminated and truncated are exclusive; info mirrors them.
    assert not np.any(term & trunc)
    np.testing.assert_array_equal(info["terminated"], term)
    np.testing.assert_array_equal(info["truncated"], trunc)
    # On non-final steps final_observation is the returned observation.
    done = term | trunc
    np.testing.assert_array_equal(final[~done], obs[~done])
    return env, params, obs0, (obs, reward, term, trunc, info)


@pytest.mark.parametrize("env_id", GYMNAX_IDS)
def test_conformance_gymnax(env_id):
    if env_id in NEEDS_DOWNLOAD:
        with pytest.raises(UnknownEnvError, match="cannot be used here") as e:
            make(env_id)
        assert env_id in str(e.value) and NEEDS_DOWNLOAD[env_id] in str(e.value)
        pytest.skip(f"{env_id} needs a download: {NEEDS_DOWNLOAD[env_id]}")
    _conformance(env_id)


def test_conformance_brax_fast():
    check_brax_conformance(FAST_BRAX)


@pytest.fixture(scope="module")
def brax_conformance_runs():
    """The sampled brax envs checked in one of two processes (half the envs each, so brax
    is imported twice, not once per env), compiled at LLVM level 0: each env is a one-off
    compile of a 6-step rollout (ant: 20 s -> 15 s alone)."""
    import sys

    from cli_processes import check_in_two_processes, host_devices_env

    script = ("import sys; sys.path.insert(0, sys.argv[1]); import test_envs; "
              "test_envs.check_brax_conformance_each(sys.argv[2:])")
    here = os.path.dirname(os.path.abspath(__file__))
    return check_in_two_processes([sys.executable, "-c", script, here],
                                  SLOW_BRAX, host_devices_env(1, quick_compile=True))


@pytest.mark.slow
@pytest.mark.parametrize("env_id", SLOW_BRAX)
def test_conformance_brax(env_id, brax_conformance_runs):
    assert "failed" not in brax_conformance_runs[env_id], brax_conformance_runs[env_id]


def check_brax_conformance_each(env_ids):
    """Prints ``RESULT {env_id: {} or {"failed": its traceback}}``."""
    import json
    import traceback

    outcome = {}
    for env_id in env_ids:
        try:
            check_brax_conformance(env_id)
            outcome[env_id] = {}
        except Exception:
            outcome[env_id] = {"failed": traceback.format_exc()[-3000:]}
    print("RESULT" + json.dumps(outcome))


def check_brax_conformance(env_id):
    env, params, obs0, (obs, reward, term, trunc, info) = _conformance(env_id)
    assert params.max_steps_in_episode == 5
    act_space = env.action_space(params)
    assert isinstance(act_space, Box)
    np.testing.assert_array_equal(act_space.low, -1.0)
    np.testing.assert_array_equal(act_space.high, 1.0)
    # The adapter's own time limit: episode_length=5 over T=6 steps -> unless an
    # episode terminated first, step 5 is truncated.
    for i in range(N):
        first_term = np.flatnonzero(term[:, i])
        if first_term.size == 0 or first_term[0] >= 4:
            assert trunc[4, i] or term[4, i]
            assert not np.any(trunc[:4, i])


def test_registry_lists_every_gymnax_and_brax_env():
    import gymnax

    assert GYMNAX_IDS == list(gymnax.registered_envs)
    assert len(BRAX_IDS) == 11 and "brax/ant" in BRAX_IDS
    assert len(set(ALL_IDS)) == len(ALL_IDS)


# ------------------------------------------------------------ 2. time-limit semantics
def test_gymnax_leaves_its_plotting_imports_until_a_render_reads_them():
    """A fresh process that makes CartPole imports neither seaborn nor what it drags in
    (scipy.stats, pandas); pong's own ``sns`` then works on first use."""
    import subprocess
    import sys

    code = ("import sys, jaxrl.envs\n"
            "jaxrl.envs.make('CartPole-v1')\n"
            "print(sorted(m for m in ('scipy.stats', 'pandas') if m in sys.modules))\n"
            "from gymnax.environments.misc import pong\n"
            "print(len(pong.sns.color_palette('cubehelix', 3)), pong.plt.subplots.__name__,\n"
            "      sys.modules['seaborn'].__class__.__name__, 'pandas' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "JAX_PLATFORMS": "cpu"}).stdout
    assert out.split("\n")[:2] == ["[]", "3 subplots module True"], out


def test_cartpole_time_limit_truncates_and_keeps_final_observation():
    env, params = _env("CartPole-v1")
    short = params.replace(max_steps_in_episode=5)
    long = params.replace(max_steps_in_episode=500)
    acts = alternating()
    obs0, (obs, reward, term, trunc, info) = run(env, short, acts)
    # Same key and actions, no time limit in reach: the un-reset trajectory.
    obs0_l, (obs_l, _, term_l, trunc_l, _) = run(env, long, acts)
    np.testing.assert_array_equal(obs0, obs0_l)

    assert not term_l.any() and not trunc_l.any()  # alternating actions keep the pole up
    assert not term.any()
    np.testing.assert_array_equal(trunc[:, 0], [False, False, False, False, True, False])
    np.testing.assert_array_equal(trunc[:, 1], trunc[:, 0])
    np.testing.assert_array_equal(reward, 1.0)

    final = info["final_observation"]
    # Steps 1-4 match the un-truncated trajectory exactly.
    np.testing.assert_array_equal(obs[:4], obs_l[:4])
    np.testing.assert_array_equal(final[:4], obs[:4])
    # Step 5: final_observation is the state reached (== the long run's 5th obs) ...
    np.testing.assert_array_equal(final[4], obs_l[4])
    # ... continuous with step 4 (one 0.02 s Euler step) ...
    assert np.max(np.abs(final[4] - obs[3])) < 0.5
    # ... while the returned obs is a fresh reset state (CartPole resets in U(-.05, .05)).
    assert np.all(np.abs(obs[4]) <= 0.05)
    assert not np.allclose(final[4], obs[4])
    # The episode after the reset continues from the returned obs, not the final one.
    assert np.max(np.abs(obs[5] - obs[4])) < 0.5
    np.testing.assert_array_equal(final[5], obs[5])


def test_observe_keeps_only_the_named_features_final_observation_included():
    """``observe=0,1``: CartPole's position and velocity without the pole (a partially
    observed task), the same trajectory as the full env's, truncation's final
    observation cut the same way; bad specs are refused by name."""
    full, params = _env("CartPole-v1")
    env, _ = _env("CartPole-v1", observe="0,1")
    short = params.replace(max_steps_in_episode=5)
    assert env.observation_space(short).shape == (2,)
    obs0_full, (obs_full, _, _, trunc, info_full) = run(full, short, alternating())
    obs0, (obs, _, _, trunc_p, info) = run(env, short, alternating())
    assert trunc.any()
    np.testing.assert_array_equal(trunc_p, trunc)
    np.testing.assert_array_equal(obs0, obs0_full[..., :2])
    np.testing.assert_array_equal(obs, obs_full[..., :2])
    np.testing.assert_array_equal(info["final_observation"],
                                  info_full["final_observation"][..., :2])
    for spec in ("4", "0,0", "x", ""):
        with pytest.raises(UnknownEnvError, match="observe="):
            make("CartPole-v1", observe=spec)


def _check_brax_time_limit(env_id, **kw):
    env, params = _env(env_id, **kw)
    p3 = params.replace(max_steps_in_episode=3)
    act_space = env.action_space(params)
    zeros = np.zeros((T, N) + act_space.shape, np.float32)
    obs0, (obs, reward, term, trunc, info) = run(env, p3, zeros)
    expected = np.array([False, False, True, False, False, True])
    assert not term.any()
    for i in range(N):
        np.testing.assert_array_equal(trunc[:, i], expected)
    final = info["final_observation"]
    done = trunc
    np.testing.assert_array_equal(final[~done], obs[~done])
    # At the time limit the returned obs is a new episode's, final_observation the old one.
    for t in (2, 5):
        assert not np.allclose(final[t], obs[t])
        # final obs is continuous with the previous step: closer to obs[t-1] than the reset obs
        assert np.linalg.norm(final[t] - obs[t - 1]) < np.linalg.norm(obs[t] - obs[t - 1])
    # Same params with no limit in reach: final_observation is exactly the un-reset state.
    p_long = params.replace(max_steps_in_episode=1000)
    obs0_l, (obs_l, _, term_l, trunc_l, _) = run(env, p_long, zeros)
    assert not trunc_l.any() and not term_l.any()
    np.testing.assert_array_equal(obs0, obs0_l)
    np.testing.assert_allclose(final[:3], obs_l[:3], rtol=1e-6, atol=1e-6)
    return obs0, obs


def test_brax_time_limit_truncates():
    _check_brax_time_limit(FAST_BRAX)


def test_brax_inverted_pendulum_time_limit():
    """inverted_pendulum returns a Python-float reward; the adapter must cope."""
    _check_brax_time_limit("brax/inverted_pendulum")


# ------------------------------------------------------------------ 3. termination
def test_cartpole_pushing_one_way_terminates():
    env, params = _env("CartPole-v1")
    step = _jit_step(env)
    obs, state = _jit_reset(env)(jax.random.key(3), params)
    key = jax.random.key(4)
    for t in range(1, 60):
        key, k = jax.random.split(key)
        prev = obs
        obs, state, reward, term, trunc, info = step(k, state, jnp.int32(1), params)
        assert not bool(trunc)
        assert float(reward) == 1.0
        if bool(term):
            break
    else:
        pytest.fail("CartPole never terminated when always pushed right")
    assert 5 <= t <= 30, t
    final = np.asarray(info["final_observation"])
    x, _, theta, _ = final
    assert abs(theta) > 12 * 2 * np.pi / 360 or abs(x) > 2.4  # out of bounds ...
    assert np.max(np.abs(final - np.asarray(prev))) < 0.5  # ... continuing the trajectory
    assert np.all(np.abs(np.asarray(obs)) <= 0.05)  # returned obs: fresh reset
    assert int(state.time) == 0


# ------------------------------------------------------- 4. brax reset modes
def test_brax_fresh_reset_draws_new_initial_states():
    env, params = _env(FAST_BRAX)
    assert env.reset_mode == "fresh"
    p2 = params.replace(max_steps_in_episode=2)
    zeros = np.zeros((T, N) + env.action_space(params).shape, np.float32)
    obs0, (obs, _, term, trunc, _) = run(env, p2, zeros)
    assert not term.any()
    np.testing.assert_array_equal(trunc[:, 0], [False, True] * 3)
    starts = [obs0, obs[1], obs[3], obs[5]]  # the initial obs of episodes 1..4
    for a in range(4):
        for b in range(a + 1, 4):
            for i in range(N):
                assert not np.allclose(starts[a][i], starts[b][i]), (a, b, i)


def test_brax_first_state_reset_reuses_initial_state():
    env, params = _env(FAST_BRAX, reset_mode="first_state")
    assert env.reset_mode == "first_state"
    p2 = params.replace(max_steps_in_episode=2)
    zeros = np.zeros((T, N) + env.action_space(params).shape, np.float32)
    obs0, (obs, _, term, trunc, info) = run(env, p2, zeros)
    assert not term.any()
    np.testing.assert_array_equal(trunc[:, 0], [False, True] * 3)
    for t in (1, 3, 5):
        np.testing.assert_array_equal(obs[t], obs0)
        assert not np.allclose(info["final_observation"][t], obs0)
    # Each episode replays the same deterministic trajectory.
    np.testing.assert_array_equal(obs[0], obs[2])
    np.testing.assert_array_equal(obs[0], obs[4])
    # Copies still start from different states.
    assert not np.allclose(obs0[0], obs0[1])


def test_brax_observation_space_is_the_reset_observation_shape():
    env, params = _env(FAST_BRAX)
    obs, _ = env.reset(jax.random.PRNGKey(0), params)
    assert env.observation_space(params).shape == obs.shape == (11,)


def test_brax_evaluation_traces_no_reset_into_its_step_and_scores_the_same():
    """Evaluation stops each copy at its first episode's end, so ``for_evaluation``
    swaps brax's fresh auto-reset for the first state: same returns, smaller program."""
    from jaxrl.envs.core import Wrapper
    from jaxrl.evaluation import evaluate

    env, params = _env("brax/inverted_pendulum", wrappers=(FlattenObservation,),
                       episode_length=60)
    evaluated = env.for_evaluation()
    assert type(evaluated) is FlattenObservation
    assert evaluated.env.reset_mode == "first_state" and env.env.reset_mode == "fresh"
    assert evaluated.for_evaluation() is evaluated

    class KeepFreshReset(Wrapper):
        def for_evaluation(self):
            return self

    push = lambda obs: jnp.ones(obs.shape[:-1] + (1,))  # noqa: E731 - tips the pole over
    key = jax.random.PRNGKey(3)
    first_state = evaluate(env, params, push, key, 8)
    fresh = evaluate(KeepFreshReset(env), params, push, key, 8)
    np.testing.assert_array_equal(first_state, fresh)
    assert np.all(first_state < 60)  # every episode terminated: the reset path was live


def test_brax_physics_is_traced_once_for_every_program_that_uses_it():
    """``TracedOnce`` (what the brax adapter wraps reset and step in): one trace per
    input signature, reused under vmap, jit and a mesh alike, with the same values."""
    from jax.sharding import Mesh, PartitionSpec

    from jaxrl.envs.suites.brax import TracedOnce

    traces = []

    def physics(state, action):
        traces.append(1)
        return {"q": state["q"] + 0.5 * action, "t": state["t"] + 1}

    traced = TracedOnce(physics)
    state = {"q": jnp.arange(3.0), "t": jnp.zeros((), jnp.int32)}
    action = jnp.ones(3)
    direct = traced(state, action)
    batched = jax.jit(jax.vmap(traced, axis_name="member"))(
        jax.tree.map(lambda x: jnp.stack([x, x]), state), jnp.stack([action, 2 * action]))
    mesh = Mesh(np.asarray(jax.devices()[:1]), ("member",))

    def sharded(check_vma):  # as the runner builds its programs (check_vma=False)
        with jax.set_mesh(mesh):
            return jax.jit(jax.shard_map(jax.vmap(traced), mesh=mesh,
                                         in_specs=PartitionSpec("member"),
                                         out_specs=PartitionSpec("member"),
                                         check_vma=check_vma))(
                jax.tree.map(lambda x: x[None], state), action[None])

    unchecked = sharded(check_vma=False)
    assert len(traces) == 1
    np.testing.assert_array_equal(direct["q"], [0.5, 1.5, 2.5])
    np.testing.assert_array_equal(batched["q"][1], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(unchecked["q"][0], direct["q"])
    # a shard_map that checks varying axes gets a fresh trace (replayed constants would
    # not be marked varying), with the same values
    np.testing.assert_array_equal(sharded(check_vma=True)["q"][0], direct["q"])
    assert len(traces) == 2
    assert direct["t"].dtype == jnp.int32 and int(batched["t"][0]) == 1
    traced({"q": jnp.arange(4.0), "t": jnp.zeros((), jnp.int32)}, jnp.ones(4))
    assert len(traces) == 3  # a new shape is a new trace


def test_brax_bad_reset_mode_raises():
    with pytest.raises(ValueError, match="reset_mode"):
        make("brax/ant", reset_mode="sometimes")


# -------------------------------------------------------- 5. EpisodeStatistics
def test_episode_statistics_hand_checked():
    env, params = _env("CartPole-v1", wrappers=(EpisodeStatistics,))
    p4 = params.replace(max_steps_in_episode=4)
    obs0, (obs, reward, term, trunc, info) = run(env, p4, alternating())
    assert not term.any()
    expected_done = np.array([False, False, False, True, False, False])
    for i in range(N):
        np.testing.assert_array_equal(trunc[:, i], expected_done)
        np.testing.assert_array_equal(info["episode_done"][:, i], expected_done)
        np.testing.assert_array_equal(info["episode_return"][:, i], [0, 0, 0, 4.0, 0, 0])
        np.testing.assert_array_equal(info["episode_length"][:, i], [0, 0, 0, 4, 0, 0])
    assert info["episode_return"].dtype == np.float32
    assert np.issubdtype(info["episode_length"].dtype, np.integer)
    assert info["episode_done"].dtype == np.bool_
    # Validity flag: averaging over completed episodes only gives the exact numbers.
    valid = info["episode_done"]
    assert info["episode_return"][valid].mean() == 4.0
    assert info["episode_length"][valid].mean() == 4.0
    # The wrapped env's keys are all still present.
    assert {"final_observation", "terminated", "truncated"} <= set(info)


def test_episode_statistics_counts_terminated_episodes():
    env, params = _env("CartPole-v1", wrappers=(EpisodeStatistics,))
    step = _jit_step(env)
    obs, state = _jit_reset(env)(jax.random.key(3), params)
    key = jax.random.key(4)
    for t in range(1, 60):
        key, k = jax.random.split(key)
        obs, state, reward, term, trunc, info = step(k, state, jnp.int32(1), params)
        if bool(term):
            break
        assert not bool(info["episode_done"]) and float(info["episode_return"]) == 0.0
    assert bool(info["episode_done"])
    assert float(info["episode_return"]) == float(t) and int(info["episode_length"]) == t
    assert float(state.running_return) == 0.0 and int(state.running_length) == 0


# ----------------------------------------------------------- 6. FlattenObservation
def test_flatten_minatar():
    env, params = _env("Breakout-MinAtar", wrappers=(FlattenObservation,))
    space = env.observation_space(params)
    assert isinstance(space, Box) and space.shape == (400,)
    assert space.low.shape == (400,) and space.high.shape == (400,)
    raw_env, _ = _env("Breakout-MinAtar")
    assert raw_env.observation_space(params).shape == (10, 10, 4)
    obs, _ = _jit_reset(env)(jax.random.key(0), params)
    raw_obs, _ = _jit_reset(raw_env)(jax.random.key(0), params)
    assert obs.shape == (400,) and obs.dtype == jnp.float32
    np.testing.assert_array_equal(obs, np.asarray(raw_obs).reshape(-1))
    assert 0 < float(obs.sum()) < 400  # binary channels, some set
    # Through a rollout, final_observation is flattened too.
    _, (obs_t, _, _, _, info) = run(env, params, random_actions(env.action_space(params)))
    assert obs_t.shape == (T, N, 400) and info["final_observation"].shape == (T, N, 400)


def test_flatten_discrete_observation_one_hot():
    env, params = _env("FrozenLake-misc", wrappers=(FlattenObservation,))
    raw_env, _ = _env("FrozenLake-misc")
    assert raw_env.observation_space(params) == Discrete(16)
    space = env.observation_space(params)
    assert isinstance(space, Box) and space.shape == (16,)
    np.testing.assert_array_equal(space.low, 0.0)
    np.testing.assert_array_equal(space.high, 1.0)
    obs0, (obs, _, _, _, info) = run(env, params, random_actions(env.action_space(params)))
    for o in (obs0, obs, info["final_observation"]):
        assert o.shape[-1] == 16 and o.dtype == np.float32
        np.testing.assert_array_equal(o.sum(-1), 1.0)
        assert set(np.unique(o)) <= {0.0, 1.0}
    np.testing.assert_array_equal(obs0.argmax(-1), 0)  # FrozenLake starts in cell 0
    # Matches one_hot of the raw integer observation along the same rollout.
    raw0, (raw_obs, *_) = run(raw_env, params, random_actions(env.action_space(params)))
    np.testing.assert_array_equal(obs.argmax(-1), raw_obs.astype(int))
    np.testing.assert_array_equal(obs0.argmax(-1), raw0.astype(int))


# --------------------------------------------------- 7. RescaleAction / ClipAction
def test_rescale_and_clip_action_pendulum():
    raw, params = _env("Pendulum-v1")
    rescaled, _ = _env("Pendulum-v1", wrappers=(RescaleAction,))
    clipped, _ = _env("Pendulum-v1", wrappers=(ClipAction,))
    raw_space = raw.action_space(params)
    assert isinstance(raw_space, Box) and raw_space.shape == (1,)
    np.testing.assert_array_equal(raw_space.high, 2.0)
    space = rescaled.action_space(params)
    assert isinstance(space, Box) and space.shape == (1,)
    np.testing.assert_array_equal(space.low, -1.0)
    np.testing.assert_array_equal(space.high, 1.0)
    assert clipped.action_space(params).shape == (1,)
    np.testing.assert_array_equal(clipped.action_space(params).high, 2.0)

    _, state = _jit_reset(raw)(jax.random.key(0), params)
    key = jax.random.key(1)

    def obs_after(env, a):
        return np.asarray(_jit_step(env)(key, state, jnp.array([a], jnp.float32), params)[0])

    raw_2 = obs_after(raw, 2.0)
    assert not np.allclose(raw_2, obs_after(raw, 1.0))  # the torque matters
    np.testing.assert_array_equal(obs_after(rescaled, 1.0), raw_2)
    np.testing.assert_array_equal(obs_after(rescaled, 0.5), obs_after(raw, 1.0))
    np.testing.assert_array_equal(obs_after(rescaled, -1.0), obs_after(raw, -2.0))
    np.testing.assert_array_equal(obs_after(clipped, 10.0), raw_2)
    np.testing.assert_array_equal(obs_after(clipped, -10.0), obs_after(raw, -2.0))


class _EchoEnv(Env):
    """Returns the action it received as the observation: makes action wrappers visible
    (Pendulum clips torque itself, so it can't tell a clipping wrapper from none)."""

    id = "echo"

    def __init__(self, low, high):
        self.space = Box(np.asarray(low, np.float32), np.asarray(high, np.float32), (2,))

    @property
    def default_params(self):
        return None

    def reset(self, key, params):
        return jnp.zeros(2, jnp.float32), jnp.zeros(())

    def step(self, key, state, action, params):
        f = jnp.zeros((), bool)
        return (action, state, jnp.zeros((), jnp.float32), f, f,
                {"final_observation": action})

    def observation_space(self, params):
        return self.space

    def action_space(self, params):
        return self.space


def test_action_wrappers_exact_mapping():
    echo = _EchoEnv(low=[-2.0, 0.0], high=[2.0, 4.0])

    def seen(env, a):
        return np.asarray(env.step(None, None, jnp.array(a, jnp.float32), None)[0])

    np.testing.assert_allclose(seen(RescaleAction(echo), [1.0, 1.0]), [2.0, 4.0])
    np.testing.assert_allclose(seen(RescaleAction(echo), [-1.0, -1.0]), [-2.0, 0.0])
    np.testing.assert_allclose(seen(RescaleAction(echo), [0.0, 0.5]), [0.0, 3.0])
    np.testing.assert_allclose(seen(RescaleAction(echo), [5.0, -5.0]), [2.0, 0.0])  # clipped
    np.testing.assert_allclose(seen(RescaleAction(echo, 0.0, 1.0), [0.25, 0.25]), [-1.0, 1.0])
    np.testing.assert_allclose(seen(ClipAction(echo), [10.0, -3.0]), [2.0, 0.0])
    np.testing.assert_allclose(seen(ClipAction(echo), [0.5, 3.5]), [0.5, 3.5])
    unbounded = _EchoEnv(low=[-np.inf, 0.0], high=[np.inf, 1.0])
    with pytest.raises(ValueError, match="bounded"):
        seen(RescaleAction(unbounded), [0.0, 0.0])


# ------------------------------------------------------------------ 8. make() errors
def test_make_unknown_id_suggests_close_match():
    with pytest.raises(UnknownEnvError, match="unknown env 'Cartpole-v1'") as e:
        make("Cartpole-v1")
    assert "CartPole-v1" in str(e.value) and "Did you mean" in str(e.value)
    with pytest.raises(UnknownEnvError) as e:
        make("brax/antt")
    assert "brax/ant" in str(e.value)
    with pytest.raises(UnknownEnvError) as e:
        make("zzzzzzzzzzzzzzzzzzzz")
    # the count as the error is raised: tests earlier in this process may register ids
    assert "Did you mean" not in str(e.value) and f"all {len(envs.list())} ids" in str(e.value)
    assert issubclass(UnknownEnvError, ValueError)


def test_make_unknown_param_names_valid_fields():
    with pytest.raises(UnknownEnvError) as e:
        make("CartPole-v1", not_a_field=1)
    msg = str(e.value)
    assert "not_a_field" in msg and "CartPole-v1" in msg
    for field in ("max_steps_in_episode", "gravity", "masspole", "force_mag"):
        assert field in msg


def test_make_param_override_applied():
    env, params = make("CartPole-v1", max_steps_in_episode=200)
    assert params.max_steps_in_episode == 200
    assert env.max_episode_steps(params) == 200
    _, default = make("CartPole-v1")
    assert default.max_steps_in_episode == 500
    assert params.replace(max_steps_in_episode=500) == default  # nothing else changed
    _, heavy = make("CartPole-v1", gravity=20.0, masspole=0.2)
    assert heavy.gravity == 20.0 and heavy.masspole == 0.2


# ----------------------------------------------------- 9. params are a vmappable pytree
def test_params_vmappable():
    env, params = _env("CartPole-v1")
    step = _jit_step(env)
    _, state = _jit_reset(env)(jax.random.key(0), params)
    for a in (0, 1):  # two steps: time == 2
        state = step(jax.random.key(10 + a), state, jnp.int32(a), params)[1]
    assert int(state.time) == 2
    p_a = params.replace(max_steps_in_episode=3, gravity=9.8)
    p_b = params.replace(max_steps_in_episode=500, gravity=20.0)
    batched = jax.tree.map(lambda a, b: jnp.stack([jnp.asarray(a), jnp.asarray(b)]), p_a, p_b)
    assert batched.max_steps_in_episode.shape == (2,)
    obs, new_state, reward, term, trunc, info = jax.jit(
        jax.vmap(env.step, in_axes=(None, None, None, 0)))(
        jax.random.key(12), state, jnp.int32(0), batched)
    np.testing.assert_array_equal(trunc, [True, False])
    np.testing.assert_array_equal(term, [False, False])
    np.testing.assert_array_equal(new_state.time, [0, 3])
    final = np.asarray(info["final_observation"])
    assert final.shape == (2, 4)
    # Same state and action, different gravity: positions (Euler step from the old
    # velocities) agree, velocities (which see the accelerations) differ.
    np.testing.assert_array_equal(final[0, [0, 2]], final[1, [0, 2]])
    assert np.all(final[0, [1, 3]] != final[1, [1, 3]])
    # Copy 0 was reset, copy 1 was not.
    np.testing.assert_array_equal(obs[1], final[1])
    assert not np.allclose(obs[0], final[0])


# --------------------------------------------------------------------- 10. key reuse
def test_no_key_reuse_in_vec_env_loop():
    assert hasattr(jax, "debug_key_reuse")
    env, params = _env("CartPole-v1", wrappers=(EpisodeStatistics,))
    venv = VecEnv(env, N)
    space = venv.action_space(params)
    with jax.debug_key_reuse(True):
        # The checker is live (also under jit) ...
        k = jax.random.key(0)
        with pytest.raises(jax.errors.KeyReuseError):
            jax.jit(lambda k: jax.random.normal(k) + jax.random.normal(k))(k)
        # ... and the env loop never reuses a key.
        reset, step = jax.jit(venv.reset), jax.jit(venv.step)
        key = jax.random.key(1)
        key, k_reset = jax.random.split(key)
        obs, state = reset(k_reset, params)
        total = 0
        for _ in range(8):
            key, k_act, k_step = jax.random.split(key, 3)
            actions = jax.vmap(space.sample)(jax.random.split(k_act, N))
            obs, state, reward, term, trunc, info = step(k_step, state, actions, params)
            total += int(np.sum(np.asarray(reward)))
        assert obs.shape == (N, 4)
        assert total == 8 * N  # CartPole: reward 1 every step
