"""How far the same member may drift between two batchings of the same program.

A member computed in a different batch (vmapped with others, alone, in batches of
another size) may differ by float reassociation in batched kernels; after a smoke run we
allow ``VMAP_RTOL/ATOL``. Env-side trajectories (env states, observations, replay
contents, and a recurrent policy's memory per env, a running summary of those
observations) carry that noise on through the dynamics (Pendulum amplifies it to ~1e-4
relative in the smoke run): a looser bound there. A leak between members or a semantic
difference is far larger. (Under XLA:CPU's classic emitters, the test process's setting,
recurrent TD3's critic memory drifted 1.8e-5 on a value of -0.025 after its smoke run:
the trajectories' bound, not the parameters'.)
"""
import chex

VMAP_RTOL, VMAP_ATOL = 1e-4, 1e-5
TRAJECTORY_FIELDS = ("env_state", "obs", "replay", "carry")
TRAJECTORY_RTOL, TRAJECTORY_ATOL = 1e-3, 1e-4


def assert_member_matches(member, reference):
    """The learned parts and counters within the vmap tolerance, trajectories looser
    (``member`` and ``reference``: learner states, or batches of them)."""
    fields = [f for f in TRAJECTORY_FIELDS if hasattr(reference, f)]
    without = lambda s: s.replace(**{f: None for f in fields})  # noqa: E731
    chex.assert_trees_all_close(without(member), without(reference),
                                rtol=VMAP_RTOL, atol=VMAP_ATOL)
    chex.assert_trees_all_close([getattr(member, f) for f in fields],
                                [getattr(reference, f) for f in fields],
                                rtol=TRAJECTORY_RTOL, atol=TRAJECTORY_ATOL)
