"""Dynamics parameters: the one dict every stage shares (randomisation, encoder, sim, emulator).

A dynamics dict maps each key of :data:`DYNAMICS_KEYS` to a float. Missing keys take their
nominal value (:data:`NOMINAL`); an unknown key or a value outside what is physically possible
(:data:`LIMITS`) is a :class:`~quadmimic.core.errors.DynamicsError`. Files (``--dynamics
FILE``) are JSON objects with the same keys.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from quadmimic.core.errors import DynamicsError
from quadmimic.core.fileio import read_table

DYNAMICS_KEYS: tuple[str, ...] = (
    "base_mass_scale",
    "link_mass_scale",
    "inertia_scale",
    "motor_strength_scale",
    "kp_scale",
    "kd_scale",
    "latency_s",
    "foot_friction",
    "joint_friction",
    "restitution",
    "ground_slope_rad",
    "com_offset_x",
    "com_offset_y",
    "motor_speed_scale",
    "joint_damping",
    "contact_compliance",
    "contact_damping_ratio",
    "rolling_friction",
    "spinning_friction",
)
"""Keys in the fixed order of :func:`dynamics_vector` (the env's ``dynamics`` observation)."""

FIRST_KEYS: tuple[str, ...] = DYNAMICS_KEYS[:11]
"""The keys the first latent bundles' encoders read (mass to ground slope). An encoder reads
these and every later key its training randomised (:func:`sim_training.randomization.
encoder_keys`), so a bundle trained before a key existed reads the columns it was trained on."""

NOMINAL: dict[str, float] = {
    "base_mass_scale": 1.0,  # × the URDF base mass
    "link_mass_scale": 1.0,  # × every other link's URDF mass
    "inertia_scale": 1.0,  # × every link's URDF inertia (on top of the mass scales)
    "motor_strength_scale": 1.0,  # × the spec's torque limits
    "kp_scale": 1.0,  # × the spec's PD position gains
    "kd_scale": 1.0,  # × the spec's PD velocity gains
    "latency_s": 0.0,  # sensor-to-actuation delay (s)
    "foot_friction": 1.0,  # Coulomb friction coefficient of the feet (ground is 1.0)
    "joint_friction": 0.0,  # dry friction torque in every joint (N·m)
    "restitution": 0.0,  # bounciness of foot-ground contacts, 0..1
    "ground_slope_rad": 0.0,  # ground tilt about the world y axis (rad; + = uphill along +x)
    "com_offset_x": 0.0,  # base centre of mass shift forward, base frame (m; a payload)
    "com_offset_y": 0.0,  # base centre of mass shift to the left, base frame (m)
    "motor_speed_scale": 1.0,  # × the torque-speed curve's knee and no-load speeds
    "joint_damping": 0.0,  # viscous friction in every joint (N·m·s/rad)
    "contact_compliance": 0.0,  # foot contact compliance (mm/kN = 1e-6 m/N); 0 = rigid
    "contact_damping_ratio": 1.0,  # damping ratio of a compliant foot contact
    "rolling_friction": 0.0,  # rolling friction of the feet (m, PyBullet's coefficient)
    "spinning_friction": 0.0,  # torsional friction of the feet (m, PyBullet's coefficient)
}
"""Nominal value of every key: the robot as its URDF and spec describe it."""

LIMITS: dict[str, tuple[float, float]] = {
    "base_mass_scale": (0.1, 5.0),
    "link_mass_scale": (0.1, 5.0),
    "inertia_scale": (0.1, 5.0),
    "motor_strength_scale": (0.05, 3.0),
    "kp_scale": (0.05, 5.0),
    "kd_scale": (0.0, 10.0),
    "latency_s": (0.0, 0.2),
    "foot_friction": (0.0, 5.0),
    "joint_friction": (0.0, 5.0),
    "restitution": (0.0, 1.0),
    "ground_slope_rad": (-0.5, 0.5),
    "com_offset_x": (-0.2, 0.2),
    "com_offset_y": (-0.2, 0.2),
    "motor_speed_scale": (0.1, 3.0),
    "joint_damping": (0.0, 5.0),
    "contact_compliance": (0.0, 1000.0),
    "contact_damping_ratio": (0.05, 10.0),
    "rolling_friction": (0.0, 0.1),
    "spinning_friction": (0.0, 0.1),
}
"""Closed range of values that can be simulated at all (wider than any training range)."""


def dynamics_from(
    value: Mapping[str, float] | str | Path | None, *, source: str | Path | None = None,
) -> dict[str, float]:
    """A complete, checked dynamics dict from a partial dict, a JSON file, or None (nominal).

    Args:
        value: Dict of some keys, path of a JSON file holding one, or None.
        source: Where a dict came from, for error messages.

    Returns:
        Dict with every key of :data:`DYNAMICS_KEYS`, in that order.

    Raises:
        DynamicsError: Unreadable file, unknown key, non-number, NaN or out-of-limits value.
    """
    path = None
    if isinstance(value, (str, Path)):
        path = Path(value)
        value = read_table(path, DynamicsError, "dynamics file")
    where = path if path is not None else source
    out = dict(NOMINAL)
    for key, raw in (value or {}).items():
        if key not in NOMINAL:
            raise DynamicsError(f"unknown dynamics key {key!r}; known keys: "
                                f"{', '.join(DYNAMICS_KEYS)}", where)
        if isinstance(raw, bool) or not isinstance(raw, (int, float, np.floating, np.integer)):
            raise DynamicsError(f"{key} must be a number, got {raw!r}", where)
        number = float(raw)
        lo, hi = LIMITS[key]
        if not math.isfinite(number) or not lo <= number <= hi:
            raise DynamicsError(f"{key} = {number} is impossible (allowed {lo} to {hi})", where)
        out[key] = number
    return out


def dynamics_vector(params: Mapping[str, float]) -> np.ndarray:
    """The params as a (len(DYNAMICS_KEYS),) float32 vector in :data:`DYNAMICS_KEYS` order."""
    return np.array([params[k] for k in DYNAMICS_KEYS], dtype=np.float32)


def save_dynamics(params: Mapping[str, float], path: str | Path) -> Path:
    """Write a checked dynamics dict as a JSON file (atomically)."""
    from quadmimic.core.fileio import atomic_write_text

    checked = dynamics_from(dict(params))
    return atomic_write_text(path, json.dumps(checked, indent=2) + "\n")
