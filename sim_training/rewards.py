"""Imitation reward: named pure functions, one per tracking term (Peng et al. 2020, eq. 3-8).

Each term maps a tracking error to (0, 1] with ``exp(-scale · error)``: exactly 1 on the
reference, falling off as the robot leaves it. The total is the weighted sum with the weights
of :class:`RewardConfig` (they sum to 1, so the total is in (0, 1] too). The env returns every
term's value in ``info["reward_terms"]`` so training can log them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from sim_training.geometry import log_rotation


def _sq(x: np.ndarray) -> float:
    """Sum of squares of all entries."""
    return float(np.vdot(x, x))


@dataclass(frozen=True)
class RewardConfig:
    """Weights and error scales of the imitation reward terms."""

    pose_weight: float = 0.5
    """Weight of the joint-pose term (paper: 0.5)."""
    velocity_weight: float = 0.05
    """Weight of the joint-velocity term (paper: 0.05)."""
    end_effector_weight: float = 0.2
    """Weight of the foot-position term (paper: 0.2)."""
    root_pose_weight: float = 0.15
    """Weight of the root position + orientation term (paper: 0.15)."""
    root_velocity_weight: float = 0.1
    """Weight of the root linear + angular velocity term (paper: 0.1)."""
    pose_scale: float = 5.0
    """1/rad² on the sum of squared joint angle errors (paper: 5)."""
    velocity_scale: float = 0.1
    """s²/rad² on the sum of squared joint speed errors (paper: 0.1)."""
    end_effector_scale: float = 40.0
    """1/m² on the sum of squared foot position errors, root-relative (paper: 40)."""
    root_position_scale: float = 20.0
    """1/m² on the squared root position error (paper: 20)."""
    root_rotation_scale: float = 10.0
    """1/rad² on the squared root rotation error angle (paper: 10)."""
    root_linear_velocity_scale: float = 2.0
    """s²/m² on the squared root linear velocity error (paper: 2)."""
    root_angular_velocity_scale: float = 0.2
    """s²/rad² on the squared root angular velocity error (paper: 0.2)."""

    def __post_init__(self) -> None:
        """Weights and scales must be non-negative and finite."""
        for f in fields(self):
            value = getattr(self, f.name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"RewardConfig.{f.name} must be finite and >= 0, got {value}")

    @property
    def weights(self) -> dict[str, float]:
        """Term name → weight."""
        return {"pose": self.pose_weight, "velocity": self.velocity_weight,
                "end_effector": self.end_effector_weight, "root_pose": self.root_pose_weight,
                "root_velocity": self.root_velocity_weight}


def pose_reward(joints: np.ndarray, ref_joints: np.ndarray, scale: float) -> float:
    """exp(−scale · Σ (q̂ − q)²) over the 12 joint angles (rad)."""
    return math.exp(-scale * _sq(ref_joints - joints))


def velocity_reward(joint_vel: np.ndarray, ref_joint_vel: np.ndarray, scale: float) -> float:
    """exp(−scale · Σ (q̇̂ − q̇)²) over the 12 joint speeds (rad/s)."""
    return math.exp(-scale * _sq(ref_joint_vel - joint_vel))


def end_effector_reward(feet_local: np.ndarray, ref_feet_local: np.ndarray, scale: float) -> float:
    """exp(−scale · Σ ‖x̂ − x‖²) over the 4 feet, positions relative to the root (m).

    Args:
        feet_local: (4, 3) robot feet relative to its base, in its heading frame.
        ref_feet_local: (4, 3) the same for the reference.
        scale: 1/m².
    """
    return math.exp(-scale * _sq(ref_feet_local - feet_local))


def root_pose_reward(
    root_pos: np.ndarray,
    root_rot: np.ndarray,
    ref_pos: np.ndarray,
    ref_rot: np.ndarray,
    position_scale: float,
    rotation_scale: float,
) -> float:
    """exp(−position_scale · ‖p̂ − p‖² − rotation_scale · θ²), θ the angle of R̂ᵀR (rad)."""
    angle2 = _sq(log_rotation(ref_rot.T @ root_rot))
    pos2 = _sq(ref_pos - root_pos)
    return math.exp(-position_scale * pos2 - rotation_scale * angle2)


def root_velocity_reward(
    lin_vel: np.ndarray,
    ang_vel: np.ndarray,
    ref_lin_vel: np.ndarray,
    ref_ang_vel: np.ndarray,
    linear_scale: float,
    angular_scale: float,
) -> float:
    """exp(−linear_scale · ‖v̂ − v‖² − angular_scale · ‖ω̂ − ω‖²), world frame (m/s, rad/s)."""
    lin2 = _sq(ref_lin_vel - lin_vel)
    ang2 = _sq(ref_ang_vel - ang_vel)
    return math.exp(-linear_scale * lin2 - angular_scale * ang2)


def imitation_reward(cfg: RewardConfig, robot: dict, ref: dict) -> tuple[float, dict[str, float]]:
    """The weighted total and each term, from robot and reference quantities.

    Args:
        cfg: Weights and scales.
        robot: ``joints``, ``joint_vel``, ``feet_local``, ``root_pos``, ``root_rot``,
            ``lin_vel``, ``ang_vel`` of the robot (shapes as in the term functions).
        ref: The same keys for the reference.

    Returns:
        (total, {term name: value in (0, 1]}).
    """
    terms = {
        "pose": pose_reward(robot["joints"], ref["joints"], cfg.pose_scale),
        "velocity": velocity_reward(robot["joint_vel"], ref["joint_vel"], cfg.velocity_scale),
        "end_effector": end_effector_reward(robot["feet_local"], ref["feet_local"],
                                            cfg.end_effector_scale),
        "root_pose": root_pose_reward(robot["root_pos"], robot["root_rot"], ref["root_pos"],
                                      ref["root_rot"], cfg.root_position_scale,
                                      cfg.root_rotation_scale),
        "root_velocity": root_velocity_reward(robot["lin_vel"], robot["ang_vel"],
                                              ref["lin_vel"], ref["ang_vel"],
                                              cfg.root_linear_velocity_scale,
                                              cfg.root_angular_velocity_scale),
    }
    terms = {k: float(v) for k, v in terms.items()}  # plain floats: cheap to send and log
    weights = cfg.weights
    total = sum(weights[k] * v for k, v in terms.items())
    return float(total), terms
