"""Sensor noise: a Robot that wraps a Robot and adds Gaussian noise to every reading.

:class:`NoisyRobot` follows the :class:`~robot_deploy.safety.SafetyLayer` pattern (a Robot
around a Robot): commands pass through untouched, and every :meth:`NoisyRobot.read` returns
the inner robot's state with independent zero-mean Gaussian noise on the joint angles, joint
speeds, gyro and body roll/pitch (:class:`~sim_training.noise.SensorNoise`, the config the
training env's noise uses too). The noise comes from one seeded
``numpy`` Generator, so a rollout's noise is reproducible from its seed
(:meth:`NoisyRobot.reseed` between rollouts). Roll and pitch are perturbed as angles: the
quaternion is decomposed into yaw, pitch and roll (Z-Y-X, the convention of
:func:`quadmimic.core.geometry.roll_pitch`), noise added to roll and pitch, and recomposed, so
the heading is left alone. Torques, accelerometer, foot contacts and the remote are passed
through as read.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from quadmimic.core.geometry import matrix_to_quat, quat_to_matrix
from robot_deploy.robot import Robot, RobotState, RobotWrapper
from sim_training.noise import SensorNoise

__all__ = ["NoisyRobot", "SensorNoise"]


def _euler_zyx(rot: np.ndarray) -> tuple[float, float, float]:
    """Yaw, pitch, roll (rad) of a rotation matrix (3, 3): R = Rz(yaw) Ry(pitch) Rx(roll)."""
    roll = math.atan2(rot[2, 1], rot[2, 2])
    pitch = -math.asin(min(1.0, max(-1.0, rot[2, 0])))
    yaw = math.atan2(rot[1, 0], rot[0, 0])
    return yaw, pitch, roll


def _from_euler_zyx(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation matrix (3, 3) Rz(yaw) Ry(pitch) Rx(roll)."""
    cy, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cr, sr = math.cos(roll), math.sin(roll)
    return np.array([[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                     [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                     [-sp, cp * sr, cp * cr]])


class NoisyRobot(RobotWrapper):
    """Wrap ``inner`` and add :class:`SensorNoise` to every reading.

    Args:
        inner: The robot whose readings get noise.
        noise: Standard deviations.
        seed: Seed of the noise generator.
    """

    def __init__(self, inner: Robot, noise: SensorNoise, seed: int = 0) -> None:
        super().__init__(inner)
        self.noise = noise
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def reseed(self, seed: int) -> None:
        """Restart the noise from a new seed (e.g. at the start of each rollout)."""
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    # ------------------------------------------------------------------ Robot
    def read(self) -> RobotState:
        """The inner robot's state with noise (see the module docstring)."""
        state = self.inner.read()
        n, rng = self.noise, self.rng
        if n.silent:
            return state
        q = state.q + rng.normal(0.0, n.joint_angle, 12)
        dq = state.dq + rng.normal(0.0, n.joint_speed, 12)
        gyro = state.gyro + rng.normal(0.0, n.gyro, 3)
        quat = state.quat
        if n.roll_pitch > 0.0:
            yaw, pitch, roll = _euler_zyx(quat_to_matrix(state.quat))
            d_roll, d_pitch = rng.normal(0.0, n.roll_pitch, 2)
            quat = matrix_to_quat(_from_euler_zyx(yaw, pitch + d_pitch, roll + d_roll))
        return replace(state, q=q, dq=dq, gyro=gyro, quat=quat)
