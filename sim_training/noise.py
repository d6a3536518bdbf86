"""Sensor noise: the standard deviations of what a robot's sensors add to each reading.

One config for both places noise is simulated: the training env perturbs the proprioception
it observes in randomised episodes (``EnvConfig.sensor_noise``, as legged_gym's and
unitree_rl_gym's ``noise_scales``), and :class:`robot_deploy.noise.NoisyRobot` perturbs every
reading of a robot (the held-out "worn and noisy" robot of ``bench transfer``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class SensorNoise:
    """Standard deviations of the Gaussian noise added to each reading (0 = none)."""

    joint_angle: float = 0.0
    """Joint encoder angles (rad), each of the 12 independently."""
    joint_speed: float = 0.0
    """Joint speeds (rad/s), each of the 12 independently."""
    gyro: float = 0.0
    """Body angular velocity (rad/s), each of the 3 axes independently."""
    roll_pitch: float = 0.0
    """Body roll and pitch of the IMU orientation (rad), each independently."""
    roll_pitch_bias: float = 0.0
    """Standard deviation of a constant roll and pitch offset (rad) drawn once per episode:
    an IMU mounted or calibrated slightly askew (training env only)."""

    def __post_init__(self) -> None:
        """Every standard deviation must be a finite number ≥ 0."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"sensor noise {f.name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0.0:
                raise ValueError(f"sensor noise {f.name} must be finite and >= 0, got {value}")

    @property
    def silent(self) -> bool:
        """No noise at all."""
        return all(getattr(self, f.name) == 0.0 for f in fields(self))

    @property
    def per_reading_silent(self) -> bool:
        """No noise drawn per reading (a bias may still be set)."""
        return all(getattr(self, f.name) == 0.0 for f in fields(self)
                   if f.name != "roll_pitch_bias")


def noisy_imu_and_joints(noise: SensorNoise, rng: np.random.Generator, roll_pitch: np.ndarray,
                         gyro: np.ndarray, joints: np.ndarray,
                         bias: np.ndarray | None = None,
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Roll/pitch (2,) rad, body gyro (3,) rad/s and joint angles (12,) rad, with noise.

    Draws nothing when ``noise`` has no per-reading noise (a run without noise keeps its
    random stream).

    Args:
        noise: The standard deviations.
        rng: Source of randomness.
        roll_pitch: (2,) rad.
        gyro: (3,) rad/s.
        joints: (12,) rad.
        bias: (2,) rad added to roll and pitch (the episode's IMU offset), or None.

    Returns:
        New arrays (roll_pitch, gyro, joints); the inputs are left as they are.
    """
    if bias is not None:
        roll_pitch = roll_pitch + bias
    if noise.per_reading_silent:
        return roll_pitch.copy(), gyro.copy(), joints.copy()
    return (roll_pitch + rng.normal(0.0, noise.roll_pitch, 2),
            gyro + rng.normal(0.0, noise.gyro, 3),
            joints + rng.normal(0.0, noise.joint_angle, joints.shape[0]))
