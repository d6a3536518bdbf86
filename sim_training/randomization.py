"""Domain randomisation: one pure function ``(ranges, rng) -> dynamics params``.

The ranges are documented in one place, :class:`RandomizationRanges`; the defaults follow
Peng et al. 2020 (Table 2, "dynamics parameters and their respective range of values used
during training") where the paper has the parameter, and are marked otherwise. The keys added
after the paper's (centre-of-mass offset, torque–speed, joint damping, contact model) default
to their nominal value, so a run that does not name them trains as the first bundles did;
``data/training/env_real.json`` names the ranges of real robots' differences, each with its
source in that file's README.

A steerable policy's training also draws its velocity commands here (:func:`sample_command`,
:func:`command_interval_steps`, over :class:`~sim_training.commands.CommandConfig`'s ranges).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from quadmimic.core.errors import DynamicsError
from sim_training.dynamics import DYNAMICS_KEYS, FIRST_KEYS, LIMITS, NOMINAL, dynamics_from

if TYPE_CHECKING:
    from sim_training.commands import CommandConfig


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
    com_offset_x: tuple[float, float] = (0.0, 0.0)
    """Base centre-of-mass shift forward (m), e.g. a payload off centre (not in the paper;
    default none)."""
    com_offset_y: tuple[float, float] = (0.0, 0.0)
    """Base centre-of-mass shift to the left (m) (default none)."""
    motor_speed_scale: tuple[float, float] = (1.0, 1.0)
    """× the torque–speed curve's speeds, when the env applies the curve (a weak battery's
    lower bus voltage lowers the no-load speed; default nominal)."""
    joint_damping: tuple[float, float] = (0.0, 0.0)
    """Viscous joint friction (N·m·s/rad) (default none)."""
    contact_compliance: tuple[float, float] = (0.0, 0.0)
    """Foot contact compliance (mm/kN); 0 = PyBullet's rigid contact (default)."""
    contact_damping_ratio: tuple[float, float] = (1.0, 1.0)
    """Damping ratio of a compliant foot contact (default critical)."""
    rolling_friction: tuple[float, float] = (0.0, 0.0)
    """Rolling friction of the feet (PyBullet's coefficient, m) (default none)."""
    spinning_friction: tuple[float, float] = (0.0, 0.0)
    """Torsional friction of the feet (PyBullet's coefficient, m) (default none)."""

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


LATER_KEYS: tuple[str, ...] = DYNAMICS_KEYS[len(FIRST_KEYS):]
"""The keys added after the paper's; drawn only by ranges that vary one of them."""


def varies_later_keys(ranges: RandomizationRanges) -> bool:
    """Whether ``ranges`` vary any key of :data:`LATER_KEYS`."""
    return any(getattr(ranges, k)[0] != getattr(ranges, k)[1] for k in LATER_KEYS)


def encoder_keys(ranges: RandomizationRanges) -> tuple[str, ...]:
    """The dynamics keys an encoder trained over ``ranges`` reads, in vector order.

    The paper's keys always (as the first bundles were trained), and every later key whose
    range varies: the encoder sees each parameter that varies and a z can describe.
    """
    later = tuple(k for k in LATER_KEYS if getattr(ranges, k)[0] != getattr(ranges, k)[1])
    return FIRST_KEYS + later


def sample_dynamics(ranges: RandomizationRanges, rng: np.random.Generator) -> dict[str, float]:
    """Draw one set of dynamics params, each key uniform in its range.

    The paper's keys are drawn in one call as they always were, and the later keys in a
    second only when a range varies one of them, so runs that do not use them keep their
    random stream.

    Args:
        ranges: The ranges.
        rng: Source of randomness (the only state this function touches).

    Returns:
        A complete dynamics dict (see :mod:`sim_training.dynamics`).
    """
    keys = FIRST_KEYS + (LATER_KEYS if varies_later_keys(ranges) else ())
    lows = np.array([getattr(ranges, k)[0] for k in FIRST_KEYS])
    highs = np.array([getattr(ranges, k)[1] for k in FIRST_KEYS])
    values = rng.uniform(lows, highs).tolist()
    if len(keys) > len(FIRST_KEYS):
        lows = np.array([getattr(ranges, k)[0] for k in LATER_KEYS])
        highs = np.array([getattr(ranges, k)[1] for k in LATER_KEYS])
        values += rng.uniform(lows, highs).tolist()
    params = dict(zip(keys, values, strict=True))
    params.update({k: getattr(ranges, k)[0] for k in DYNAMICS_KEYS if k not in params})
    return dynamics_from(params)


def sample_command(config: CommandConfig, clip: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Draw one training command (3,) for a gait (steerable policies).

    With probability ``stand_probability`` zero (stand); else the clip's own velocity times
    a playback rate uniform over ``playback_range`` (a clip that does not travel: zero
    speed), and the clip's own mean yaw rate plus a uniform draw over ``yaw_rate_range``.

    Args:
        config: The command settings (:class:`~sim_training.commands.CommandConfig`).
        clip: The clip's own command (3,): forward, lateral speed (m/s), yaw rate (rad/s).
        rng: Source of randomness (the only state this function touches).

    Returns:
        Forward speed, lateral speed (m/s) and yaw rate (rad/s).
    """
    if rng.uniform() < config.stand_probability:
        return np.zeros(3)
    rate = rng.uniform(*config.playback_range)
    yaw = clip[2] + rng.uniform(*config.yaw_rate_range)
    from sim_training.commands import TRAVELS

    travels = float(np.hypot(clip[0], clip[1])) >= TRAVELS
    return np.array([rate * clip[0], rate * clip[1], yaw]) if travels else np.array(
        [0.0, 0.0, yaw])


def command_interval_steps(config: CommandConfig, policy_dt: float,
                           rng: np.random.Generator) -> int:
    """Policy steps a drawn command holds: uniform over ``interval_s`` (s), at least 1."""
    return max(1, round(rng.uniform(*config.interval_s) / policy_dt))
