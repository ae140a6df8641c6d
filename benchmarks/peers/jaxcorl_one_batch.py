"""JAX-CORL's TD3+BC update and jaxrl's, side by side on the same batch from the same
parameters: if the two update rules agree, a gap in final scores lies elsewhere (the
initial parameters' distribution, the data, the evaluation).

    python benchmarks/peers/jaxcorl_one_batch.py --dataset W/Pendulum-v1/medium

Their script is loaded as ``jaxcorl_offline.py`` loads it (unmodified, their data loading
adapted). Their freshly initialised networks are copied into jaxrl's layout (critics
stacked on a leading ensemble axis); target policy noise is 0 on both sides, so nothing
random is left. Prints each step's losses and the largest relative difference of every
network's parameters. Measured 2026-12-07 on Pendulum ``medium``: critic losses agree up to
jaxrl's halving (its regression loss is ``0.5 * sum``; Adam divides any constant scale
out), actor losses to 1e-7, and after 4 steps (two actor steps) parameters differ by at
most 1.6e-4 relative (critics: halved gradients meet Adam's epsilon, and sums run in
another order) and 2e-6 (actor).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

STEPS, BATCH = 4, 256


def their_critic_to_ours(params):
    import jax.numpy as jnp

    critics = [params["params"][f"MLP_{i}"] for i in (0, 1)]
    stack = lambda layer, leaf: jnp.stack([c[layer][leaf] for c in critics])  # noqa: E731
    torso = {layer: {leaf: stack(layer, leaf) for leaf in critics[0][layer]}
             for layer in ("Dense_0", "Dense_1", "LayerNorm_0", "LayerNorm_1")}
    head = {leaf: stack("Dense_2", leaf) for leaf in ("bias", "kernel")}
    return {"params": {"Dense_0": head, "MLPTorso_0": torso}}


def their_actor_to_ours(params):
    mlp = params["params"]["MLP_0"]
    return {"params": {"Dense_0": mlp["Dense_2"],
                       "torso": {"Dense_0": mlp["Dense_0"], "Dense_1": mlp["Dense_1"]}}}


def largest_relative_difference(ours, theirs):
    import jax
    import jax.numpy as jnp

    return max(float(jnp.max(jnp.abs(a - b)) / (jnp.max(jnp.abs(b)) + 1e-12))
               for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="a `jaxrl record` dataset")
    parser.add_argument("--jaxcorl", default=os.environ.get("JAXCORL", "/work/jax-corl"))
    args = parser.parse_args()

    import jax
    import jax.numpy as jnp

    import jaxcorl_offline
    import jaxrl.envs
    from jaxrl.algorithms import td3_bc
    from jaxrl.algorithms.off_policy import Batch, make_optimizer
    from jaxrl.experiment import make_experiment
    from jaxrl.offline.dataset import read_minari
    from paired import _JAXCORL_TD3_BC

    # their published defaults (256-wide, learning rates 1e-3), no target noise
    script = jaxcorl_offline.Script(args.jaxcorl, "td3_bc", args.dataset, {
        "batch_size": BATCH, "max_steps": STEPS, "seed": 0, "policy_noise_std": 0.0})
    theirs = script.fresh(jax.random.PRNGKey(1))

    # jaxrl's side exactly as the pairings configure it (paired.py's published settings)
    env_id = read_minari(args.dataset).metadata["jaxrl"]["env"]
    exp = make_experiment("td3_bc", env_id, {
        **_JAXCORL_TD3_BC, "dataset": args.dataset, "offline_steps": str(STEPS),
        "offline_steps_per_update": "1", "batch_size": str(BATCH), "target_noise": "0"}, {})
    algo, hp = td3_bc.make(*jaxrl.envs.make(env_id), exp.config), exp.hparams
    critic = their_critic_to_ours(theirs.critic.params)
    actor = their_actor_to_ours(theirs.actor.params)
    adam = make_optimizer(hp, hp.learning_rate)
    ours = algo.init_learner(jax.random.PRNGKey(0), hp).replace(
        actor_params=actor, target_actor_params=actor, critic_params=critic,
        target_critic_params=critic, actor_opt=adam.init(actor), critic_opt=adam.init(critic))

    # their normalised transitions (and their dones) as one batch for both sides
    data = jax.tree.map(lambda x: x[jnp.arange(BATCH) * 7], script.transitions)
    batch = Batch(data.observations, data.actions, data.rewards, hp.gamma * (1 - data.dones),
                  data.next_observations, jnp.ones(BATCH))
    update = script.module.target_update
    for step in range(STEPS):
        key = jax.random.PRNGKey(100 + step)
        theirs, critic_loss = script.algo.update_critic(theirs, data, key, script.cfg)
        if step % script.cfg.policy_freq == 0:
            theirs, actor_loss = script.algo.update_actor(theirs, data, key, script.cfg)
            theirs = theirs._replace(
                target_critic=update(theirs.critic, theirs.target_critic, script.cfg.tau),
                target_actor=update(theirs.actor, theirs.target_actor, script.cfg.tau))
        # jaxrl's actor is due where (grad_step + 1) % policy_delay == 0: the same steps
        ours, _, stats = algo.learn(ours, batch, hp, key, jnp.int32(step + 1))
        print(f"step {step}: critic loss theirs {float(critic_loss):.6g} ours "
              f"{float(stats['loss']):.6g} (x2 {2 * float(stats['loss']):.6g}); actor loss "
              f"theirs {float(actor_loss):.7g} ours {float(stats['actor_loss']):.7g}")
        pairs = {"critic": (ours.critic_params, their_critic_to_ours(theirs.critic.params)),
                 "actor": (ours.actor_params, their_actor_to_ours(theirs.actor.params)),
                 "target critic": (ours.target_critic_params,
                                   their_critic_to_ours(theirs.target_critic.params)),
                 "target actor": (ours.target_actor_params,
                                  their_actor_to_ours(theirs.target_actor.params))}
        print("   largest relative difference: " + ", ".join(
            f"{name} {largest_relative_difference(a, b):.2g}" for name, (a, b) in pairs.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
