"""jaxrl: end-to-end JAX reinforcement learning over populations.

Importing jaxrl changes no JAX setting; ``jaxrl.platform.configure()`` makes the one it
uses (the CLI and the runner call it)."""
__version__ = "0.1.0"


def load_policy(path: str):
    """A policy ``jaxrl export`` wrote: ``policy(obs) -> action`` (``jaxrl.inference``;
    needs only jax, flax and numpy)."""
    from jaxrl.inference import load_policy as load

    return load(path)
