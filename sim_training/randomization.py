"""Domain randomisation: one pure function ``(ranges, rng) -> dynamics params``.

The ranges are documented in one place, :class:`RandomizationRanges`; the defaults follow
Peng et al. 2020 (Table 2, "dynamics parameters and their respective range of values used
during training") where the paper has the parameter, and are marked otherwise.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from motion_retarget.errors import DynamicsError
from sim_training.dynamics import DYNAMICS_KEYS, LIMITS, NOMINAL, dynamics_from


@dataclass(frozen=True)
class RandomizationRanges:
    """Uniform sampling range (low, high) of every dynamics parameter."""

    base_mass_scale: tuple[float, float] = (0.8, 1.2)
    """Base mass × [0.8, 1.2] (paper: mass [0.8, 1.2] × default)."""
    link_mass_scale: tuple[float, float] = (0.8, 1.2)
    """Other links' mass × [0.8, 1.2] (paper: mass)."""
    inertia_scale: tuple[float, float] = (0.5, 1.5)
    """Inertia × [0.5, 1.5] (paper: inertia [0.5, 1.5] × default)."""
    motor_strength_scale: tuple[float, float] = (0.8, 1.2)
    """Torque limits × [0.8, 1.2] (paper: motor strength [0.8, 1.2] × default)."""
    kp_scale: tuple[float, float] = (0.9, 1.1)
    """PD position gains × [0.9, 1.1] (not in the paper: actuator calibration spread)."""
    kd_scale: tuple[float, float] = (0.8, 1.2)
    """PD velocity gains × [0.8, 1.2] (not in the paper)."""
    latency_s: tuple[float, float] = (0.0, 0.04)
    """Latency 0-40 ms (paper: latency [0, 0.04] s)."""
    foot_friction: tuple[float, float] = (0.5, 1.25)
    """Foot friction coefficient 0.5-1.25 (paper: lateral friction [0.5, 1.25] N·s/m)."""
    joint_friction: tuple[float, float] = (0.0, 0.05)
    """Joint dry friction 0-0.05 N·m (paper: joint friction [0, 0.05] N·m)."""
    restitution: tuple[float, float] = (0.0, 0.2)
    """Contact restitution 0-0.2 (not in the paper)."""
    ground_slope_rad: tuple[float, float] = (-0.05, 0.05)
    """Ground slope ±0.05 rad, about ±3° (not in the paper)."""

    def __post_init__(self) -> None:
        """Every range must be ordered and inside the simulable limits."""
        for key in DYNAMICS_KEYS:
            lo, hi = getattr(self, key)
            limit = LIMITS[key]
            if not (limit[0] <= lo <= hi <= limit[1]):
                raise DynamicsError(f"randomisation range {key} = ({lo}, {hi}) must satisfy "
                                    f"{limit[0]} <= low <= high <= {limit[1]}")

    def widened(self, fraction: float) -> RandomizationRanges:
        """Ranges shrunk toward the nominal value: ``fraction`` 0 = nominal only, 1 = self.

        The curriculum of training widens the ranges as tracking improves.
        """
        f = float(np.clip(fraction, 0.0, 1.0))
        out = {}
        for key in DYNAMICS_KEYS:
            lo, hi = getattr(self, key)
            nominal = float(np.clip(NOMINAL[key], lo, hi))
            out[key] = (nominal + f * (lo - nominal), nominal + f * (hi - nominal))
        return dataclasses.replace(self, **out)


def sample_dynamics(ranges: RandomizationRanges, rng: np.random.Generator) -> dict[str, float]:
    """Draw one set of dynamics params, each key uniform in its range.

    Args:
        ranges: The ranges.
        rng: Source of randomness (the only state this function touches).

    Returns:
        A complete dynamics dict (see :mod:`sim_training.dynamics`).
    """
    lows = np.array([getattr(ranges, k)[0] for k in DYNAMICS_KEYS])
    highs = np.array([getattr(ranges, k)[1] for k in DYNAMICS_KEYS])
    values = rng.uniform(lows, highs)
    return dynamics_from(dict(zip(DYNAMICS_KEYS, values.tolist(), strict=True)))
