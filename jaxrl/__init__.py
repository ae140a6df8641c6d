"""jaxrl: end-to-end JAX reinforcement learning over populations.

Importing jaxrl changes no JAX setting; ``jaxrl.platform.configure()`` makes the one it
uses (the CLI and the runner call it)."""
__version__ = "0.1.0"
