"""Actuator figures: rotor armature, joint damping and friction, torque–speed.

The URDFs lack them. Each robot's figures are its spec's ``actuator`` field, in its own
spec file (:mod:`quadmimic.core.robots`). Both engines read them: the MuJoCo model
(:mod:`robot_deploy.mujoco_model`) builds armature, damping and friction into its joints and
applies :func:`torque_speed_limit` in its motor law; the PyBullet training robot
(:class:`sim_training.robot_sim.SimRobot`) applies the same torque–speed curve when its env
asks for it (``EnvConfig.torque_speed_curve``), with the speeds scaled by the dynamics key
``motor_speed_scale`` (a weak battery lowers the no-load speed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from quadmimic.core.robots.spec import RobotSpec


@dataclass(frozen=True)
class ActuatorConfig:
    """Motor properties that PyBullet's URDFs lack, added to the MuJoCo model.

    Per-joint triples are (hip abduction, hip flexion, knee), the same for all four legs.
    """

    armature: tuple[float, float, float] = (0.01, 0.01, 0.01)
    """Rotor inertia reflected through the gearbox (kg·m²), MuJoCo joint ``armature``.
    Default: Unitree's Go2 MuJoCo model (``unitree_mujoco`` ``go2.xml``), 0.01 for every joint."""

    damping: float = 0.1
    """Viscous joint damping (N·m·s/rad), MuJoCo joint ``damping`` (``unitree_mujoco`` Go2:
    0.1; the menagerie's Unitree models use 1-2, which mostly duplicates the PD's kd)."""

    frictionloss: float = 0.2
    """Dry (Coulomb) joint friction (N·m), MuJoCo ``frictionloss``; the ``joint_friction``
    dynamics key adds to it (``unitree_mujoco`` Go2: 0.2)."""

    knee_speed_fraction: float = 0.45
    """Torque–speed curve knee: full torque up to this fraction of the no-load speed, then a
    linear fall to zero at the no-load speed (while the motor drives; braking keeps full torque).
    0.45 = 13.5 / 30 rad/s, Unitree's measured GO-M8010-6 curve (Go2, ``unitree_rl_lab``
    ``UnitreeActuatorCfg_Go2HV``: X1 = 13.5 rad/s, X2 = 30 rad/s)."""

    max_speed: tuple[float, float, float] | None = None
    """No-load joint speed (rad/s) where the available torque reaches zero; None = the spec's
    ``velocity_limits`` (the datasheet's maximum joint speed)."""

    source: str = ""
    """Where the numbers come from."""

    def __post_init__(self) -> None:
        """Check ranges."""
        if len(self.armature) != 3 or min(self.armature) < 0:
            raise ValueError("armature needs 3 values ≥ 0 (abduction, hip, knee)")
        if self.damping < 0 or self.frictionloss < 0:
            raise ValueError("damping and frictionloss must be ≥ 0")
        if not 0.0 <= self.knee_speed_fraction < 1.0:
            raise ValueError("knee_speed_fraction must be in [0, 1)")
        if self.max_speed is not None and (len(self.max_speed) != 3 or min(self.max_speed) <= 0):
            raise ValueError("max_speed needs 3 values > 0 (abduction, hip, knee)")

    def armature_array(self) -> np.ndarray:
        """Armature (12,) kg·m² in project joint order."""
        return np.tile(np.asarray(self.armature, dtype=np.float64), 4)

    def max_speed_array(self, spec: RobotSpec) -> np.ndarray:
        """No-load speeds (12,) rad/s in project joint order."""
        if self.max_speed is None:
            return spec.velocity_limits_array.copy()
        return np.tile(np.asarray(self.max_speed, dtype=np.float64), 4)

    def knee_speed_array(self, spec: RobotSpec) -> np.ndarray:
        """Speeds (12,) rad/s up to which the full torque is available."""
        return self.max_speed_array(spec) * self.knee_speed_fraction


def actuator_config(robot: str | RobotSpec) -> ActuatorConfig:
    """The actuator properties of a robot: its spec's ``actuator`` (a name is looked up).

    Raises:
        RobotSpecError: An unknown robot name.
    """
    from quadmimic.core.robots import get_robot

    return (get_robot(robot) if isinstance(robot, str) else robot).actuator


def torque_speed_limit(tau: np.ndarray, dq: np.ndarray, limit: np.ndarray,
                       knee_speed: np.ndarray, max_speed: np.ndarray) -> np.ndarray:
    """Clip motor torques to the torque limit and the linear torque–speed derating.

    While the motor drives (torque and speed of the same sign) the available torque is
    ``limit`` up to ``knee_speed`` and falls linearly to 0 at ``max_speed``; while it brakes
    (opposite signs) the back-EMF helps and the full ``limit`` stays available.

    Args:
        tau: (12,) requested torques (N·m).
        dq: (12,) joint speeds (rad/s).
        limit: (12,) torque limits (N·m), already scaled by the motor strength.
        knee_speed: (12,) speeds (rad/s) up to which the full limit is available.
        max_speed: (12,) no-load speeds (rad/s).

    Returns:
        (12,) the torques the motors deliver.
    """
    speed = np.abs(dq)
    derate = np.clip((max_speed - speed) / np.maximum(max_speed - knee_speed, 1e-9), 0.0, 1.0)
    available = np.where(tau * dq > 0.0, limit * derate, limit)
    return np.clip(tau, -available, available)


__all__ = ["ActuatorConfig", "actuator_config", "torque_speed_limit"]
