"""Suite-wide settings.

One XLA host device per core, as the CLI sets up (``jaxrl.platform``): XLA:CPU runs a
scan of small kernels on about one core, so a population sharded over one device per
core trains up to that many times faster. Subprocesses inherit the flags unless they set
their own (the 8-device sharding checks do, through ``host_device_flags``).

The flags include XLA:CPU's collective timeouts. Without them, an eager index into a
member-sharded array (``test_vmapped_member_matches_member_alone``) aborted the whole
suite when the other device was still busy for more than 40 s with a training chunk.

No persistent XLA compilation cache: it made that abort reproducible here, and costs
more than it saves on a clean CI checkout.
"""
from jaxrl.platform import configure_cpu_devices

configure_cpu_devices()
