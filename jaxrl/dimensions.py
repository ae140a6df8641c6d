"""One dimension of a search space or a distribution to draw from: fixed, a choice, or a
range (uniform, log-uniform, int-uniform, quantised). What sweep spaces
(``jaxrl.sweep.space``) and env parameters drawn per member (``jaxrl.envs.per_member``)
are made of; ``from_unit`` maps u in [0, 1) to a value, so every sampler shares one code
path.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, List, Mapping, Tuple

from jaxrl.config import ConfigError


@dataclasses.dataclass(frozen=True)
class Param:
    """One dimension of a space. ``from_unit`` maps u in [0, 1) to a value, so random,
    Sobol and Halton samplers share one code path."""

    name: str

    @property
    def is_fixed(self) -> bool:
        return False

    def from_unit(self, u: float) -> Any:
        raise NotImplementedError

    def grid(self) -> List[Any]:
        raise ConfigError(f"{self.name}: a grid needs {{value: x}} or {{values: [...]}} (or "
                          f"an int_uniform / q_uniform range); use another sampler for "
                          f"{type(self).__name__.lower()} ranges")

    def record(self) -> Dict[str, Any]:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Fixed(Param):
    value: Any = None

    @property
    def is_fixed(self) -> bool:
        return True

    def from_unit(self, u):
        return self.value

    def grid(self):
        return [self.value]

    def record(self):
        return {"value": _plain(self.value)}


@dataclasses.dataclass(frozen=True)
class Choice(Param):
    values: Tuple[Any, ...] = ()

    def from_unit(self, u):
        return self.values[min(int(u * len(self.values)), len(self.values) - 1)]

    def grid(self):
        return list(self.values)

    def record(self):
        return {"values": [_plain(v) for v in self.values]}


@dataclasses.dataclass(frozen=True)
class Uniform(Param):
    low: float = 0.0
    high: float = 1.0

    def from_unit(self, u):
        return self.low + u * (self.high - self.low)

    def clip(self, value):
        return min(max(value, self.low), self.high)

    def record(self):
        return {"distribution": "uniform", "min": self.low, "max": self.high}


@dataclasses.dataclass(frozen=True)
class LogUniform(Uniform):
    def from_unit(self, u):
        return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))

    def record(self):
        return {"distribution": "log_uniform_values", "min": self.low, "max": self.high}


@dataclasses.dataclass(frozen=True)
class IntUniform(Uniform):
    def from_unit(self, u):
        return min(int(self.low + math.floor(u * (self.high - self.low + 1))), int(self.high))

    def grid(self):
        return list(range(int(self.low), int(self.high) + 1))

    def clip(self, value):
        return int(round(min(max(value, self.low), self.high)))

    def record(self):
        return {"distribution": "int_uniform", "min": int(self.low), "max": int(self.high)}


@dataclasses.dataclass(frozen=True)
class QUniform(Uniform):
    q: float = 1.0

    def from_unit(self, u):
        return self.clip(self.low + u * (self.high - self.low))

    def grid(self):
        n = int(math.floor((self.high - self.low) / self.q + 1e-9))
        return [self.low + i * self.q for i in range(n + 1)]

    def clip(self, value):
        value = min(max(value, self.low), self.high)
        return min(self.low + round((value - self.low) / self.q) * self.q, self.high)

    def record(self):
        return {"distribution": "q_uniform", "min": self.low, "max": self.high, "q": self.q}


DISTRIBUTIONS = {"uniform": Uniform, "log_uniform_values": LogUniform,
                 "int_uniform": IntUniform, "q_uniform": QUniform}


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def parse_param(name: str, spec: Any, where: str) -> Param:
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected {{value: x}}, {{values: [...]}} or "
                          f"{{distribution: ..., min: a, max: b}}; got {spec!r}")
    keys = set(spec)
    if keys == {"value"}:
        return Fixed(name, _tuple(spec["value"]))
    if keys == {"values"}:
        values = spec["values"]
        if not isinstance(values, (list, tuple)) or not values:
            raise ConfigError(f"{where}: values must be a non-empty list")
        return Choice(name, tuple(_tuple(v) for v in values))
    dist = spec.get("distribution")
    if dist is None and {"min", "max"} <= keys:
        dist = "uniform"
    if dist not in DISTRIBUTIONS:
        raise ConfigError(f"{where}: distribution {dist!r} is not one of "
                          f"{', '.join(DISTRIBUTIONS)}")
    expected = {"distribution", "min", "max"} | ({"q"} if dist == "q_uniform" else set())
    missing, extra = expected - keys - {"distribution"}, keys - expected
    if missing or extra:
        raise ConfigError(f"{where}: {dist} needs {sorted(expected - {'distribution'})}"
                          + (f"; unexpected {sorted(extra)}" if extra else ""))
    try:
        low, high = float(spec["min"]), float(spec["max"])
        q = float(spec.get("q", 1.0))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: min, max (and q) must be numbers")
    if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
        raise ConfigError(f"{where}: empty range [{low:g}, {high:g}]: need min < max")
    if dist == "log_uniform_values" and low <= 0:
        raise ConfigError(f"{where}: log_uniform_values needs min > 0 (got {low:g}); use "
                          f"uniform for ranges that include 0")
    if dist == "int_uniform" and not (low.is_integer() and high.is_integer()):
        raise ConfigError(f"{where}: int_uniform needs whole-number min and max")
    if dist == "q_uniform" and not q > 0:
        raise ConfigError(f"{where}: q_uniform needs q > 0")
    cls = DISTRIBUTIONS[dist]
    return cls(name, low, high, q) if cls is QUniform else cls(name, low, high)




def _tuple(value):
    return tuple(value) if isinstance(value, list) else value
