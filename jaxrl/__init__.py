"""jaxrl: end-to-end JAX reinforcement learning over populations."""
__version__ = "0.1.0"

from jaxrl.platform import unroll_cpu_threefry as _unroll_cpu_threefry

_unroll_cpu_threefry()
