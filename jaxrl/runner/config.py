"""``RunConfig``: how the runner evaluates, checkpoints and logs (static fields)."""
from __future__ import annotations

import dataclasses

from jaxrl.config import ConfigError, check_fields, check_seed, static_field


@dataclasses.dataclass(frozen=True)
class RunConfig:
    num_chunks: int = static_field(25, "target number of host round-trips (progress/log points)")
    eval_interval: int = static_field(5, "evaluate every this many chunks (and at the end)")
    eval_episodes: int = static_field(16, "episodes per member per evaluation")
    eval_seed: int = static_field(12345, "seed of the evaluation episodes (same for all members)")
    checkpoint_interval: int = static_field(5, "checkpoint every this many chunks (and at the end)")
    keep_checkpoints: int = static_field(3, "how many checkpoints to keep")
    tensorboard: bool = static_field(False, "also log scalars to TensorBoard (tensorboardX)")
    wandb: bool = static_field(False, "also log scalars to Weights & Biases (extra: wandb)")
    memory_fraction: float = static_field(0.8, "memory budget as a fraction of what is "
                                                "available (unless memory_budget_gb is set)")
    memory_budget_gb: float = static_field(0.0, "memory budget in GiB (0: memory_fraction "
                                                "of available memory); --memory-budget")
    member_batch: int = static_field(0, "members per device updated at once (0: the most "
                                        "the memory budget allows)")
    data_parallel: int = static_field(1, "devices each member is spread over: its envs and "
                                         "minibatches split, gradients summed over them")
    init_from: str = static_field("", "a run directory: each member starts from what the "
                                      "same member there learned (newest checkpoint; "
                                      "parameters, optimiser, normalisers), its env, replay "
                                      "and counters fresh: offline-to-online fine-tuning")

    def validate(self) -> "RunConfig":
        check_fields(self)
        for name in ("num_chunks", "eval_interval", "eval_episodes", "checkpoint_interval",
                     "keep_checkpoints"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be positive")
        check_seed(self.eval_seed, "eval_seed")
        if not 0.0 < self.memory_fraction <= 1.0:  # also rejects NaN
            raise ConfigError(f"memory_fraction={self.memory_fraction} must be in (0, 1]")
        if not self.memory_budget_gb >= 0.0:
            raise ConfigError(f"memory_budget_gb={self.memory_budget_gb} must be >= 0 "
                              f"(0: a fraction of available memory)")
        if self.data_parallel < 1:
            raise ConfigError(f"data_parallel={self.data_parallel} must be >= 1 (devices per "
                              f"member; 1: each member on one device)")
        if self.member_batch < 0:
            raise ConfigError(f"member_batch={self.member_batch} must be >= 0 (0: automatic)")
        return self
