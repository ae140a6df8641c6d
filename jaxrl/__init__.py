"""jaxrl: end-to-end JAX reinforcement learning over populations."""
__version__ = "0.1.0"
