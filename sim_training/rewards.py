"""Imitation reward: named pure functions, one per tracking term (Peng et al. 2020, eq. 3-8).

Each term maps a tracking error to (0, 1] with ``exp(-scale · error)``: exactly 1 on the
reference, falling off as the robot leaves it. The total is the weighted sum with the weights
of :class:`RewardConfig` (they sum to 1, so the total is in (0, 1] too). The env returns every
term's value in ``info["reward_terms"]`` so training can log them.

The one registry of terms is :data:`REWARD_TERMS` (name → pure function of robot quantities,
reference quantities and the config), as mujoco_playground's ``reward_config.scales``:
:data:`TRAINING_TERMS` are the five of the paper, which need the simulator's base position
and velocity; :data:`REGULARIZATION_TERMS` (the action rate) join them in training only when
weighted; :data:`MEASURABLE_TERMS` are what a robot measures (encoders, IMU), the return
adaptation maximises on hardware. Every stage takes term names from here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from quadmimic.core.geometry import log_rotation, roll_pitch


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
    yaw_rate_weight: float = 0.0
    """Weight of the yaw-rate term (not in the paper; 0 leaves the paper's reward exactly).
    The paper's ``root_velocity`` term sees the heading rate only beside roll and pitch rates
    and at a scale (0.2 s²/rad²) under which a 0.3 rad/s error costs 2 %: positive, this
    weight makes a steerable gait follow its commanded turn, as legged_gym's
    ``tracking_ang_vel``; the total is then renormalised so the weights sum to 1."""
    yaw_rate_scale: float = 4.0
    """s²/rad² on the squared error of the vertical angular velocity (legged_gym's
    ``tracking_sigma`` of 0.25 rad²/s²)."""
    mean_velocity_weight: float = 0.0
    """Weight of the mean-velocity term (not in the paper; 0 leaves the paper's reward
    exactly). The paper's velocity term compares instantaneous 3-D velocities, whose error
    within a stride (bounce, surge) dwarfs a gait's steady lag: a steerable trot 0.2 m/s
    slower than its command loses about 4 % of that term. Positive, this weight asks for the
    commanded speed itself, averaged over ``mean_velocity_window_s``; the total is then
    renormalised so the weights sum to 1."""
    mean_velocity_scale: float = 10.0
    """s²/m² on the squared error of the mean horizontal velocity (a 0.2 m/s lag scores
    exp(−0.4) = 0.67)."""
    mean_velocity_window_s: float = 0.5
    """Seconds over which the horizontal velocities are averaged (about one trot stride)."""
    action_rate_weight: float = 0.0
    """Weight of the action-rate term (not in the paper; 0 leaves the paper's reward exactly).
    Positive, it rewards smooth commands, as legged_gym's ``action_rate`` penalty does; the
    total is then renormalised so the weights sum to 1."""
    action_rate_scale: float = 0.1
    """1/unit² on the sum of squared changes of the 12 clipped policy actions between two
    policy steps (an action is in [-1, 1])."""

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
                "root_velocity": self.root_velocity_weight,
                "yaw_rate": self.yaw_rate_weight, "mean_velocity": self.mean_velocity_weight,
                "action_rate": self.action_rate_weight}


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


def yaw_rate_reward(ang_vel: np.ndarray, ref_ang_vel: np.ndarray, scale: float) -> float:
    """exp(−scale · (ω̂_z − ω_z)²) over the heading rate (rad/s).

    ω is the world-frame angular velocity (3,); its vertical component is the heading rate
    that a steerable gait's command sets. Roll and pitch rates do not enter.
    """
    return math.exp(-scale * float(ref_ang_vel[2] - ang_vel[2]) ** 2)


def mean_velocity_reward(mean_vel: np.ndarray, ref_mean_vel: np.ndarray, scale: float) -> float:
    """exp(−scale · ‖v̄̂ − v̄‖²) over horizontal velocities (2,) averaged over a window (m/s).

    World frame: the speed a gait keeps, without its oscillation within a stride.
    """
    return math.exp(-scale * _sq(ref_mean_vel - mean_vel))


def orientation_reward(root_rot: np.ndarray, ref_rot: np.ndarray, scale: float) -> float:
    """exp(−scale · Σ (roll/pitch error)²) (rad): the root rotation term without heading.

    An IMU measures roll and pitch without drift; the heading it does not.
    """
    return math.exp(-scale * _sq(roll_pitch(ref_rot) - roll_pitch(root_rot)))


def angular_velocity_reward(gyro: np.ndarray, ref_gyro: np.ndarray, scale: float) -> float:
    """exp(−scale · ‖ω̂ − ω‖²), body-frame angular velocities (rad/s): what a gyro measures."""
    return math.exp(-scale * _sq(ref_gyro - gyro))


def planar_velocity_reward(vel_xy: np.ndarray, ref_vel_xy: np.ndarray, scale: float) -> float:
    """exp(−scale · ‖v̂ − v‖²) over the horizontal base velocity in the heading frame (m/s).

    A robot measures it by leg odometry (the stance feet do not slide, see
    ``adaptation.returns``); a NaN estimate (no foot on the ground) scores 0.
    """
    err = _sq(ref_vel_xy - vel_xy)
    return math.exp(-scale * err) if np.isfinite(err) else 0.0


def action_rate_reward(action_change: np.ndarray, scale: float) -> float:
    """exp(−scale · Σ (aₜ − aₜ₋₁)²) over the 12 clipped policy actions (unitless, in [-1, 1]).

    A smoothness term with no reference: 1 for a policy whose command does not jump between
    policy steps, falling as it chatters (legged_gym's ``action_rate`` as a bounded term).
    """
    return math.exp(-scale * _sq(action_change))


Quantities = dict[str, np.ndarray]
"""Robot or reference quantities by name (see :func:`imitation_reward` for the keys)."""

REWARD_TERMS: dict[str, Callable[[Quantities, Quantities, RewardConfig], float]] = {
    "pose": lambda r, f, c: pose_reward(r["joints"], f["joints"], c.pose_scale),
    "velocity": lambda r, f, c: velocity_reward(r["joint_vel"], f["joint_vel"],
                                                c.velocity_scale),
    "end_effector": lambda r, f, c: end_effector_reward(r["feet_local"], f["feet_local"],
                                                        c.end_effector_scale),
    "root_pose": lambda r, f, c: root_pose_reward(r["root_pos"], r["root_rot"], f["root_pos"],
                                                  f["root_rot"], c.root_position_scale,
                                                  c.root_rotation_scale),
    "root_velocity": lambda r, f, c: root_velocity_reward(
        r["lin_vel"], r["ang_vel"], f["lin_vel"], f["ang_vel"], c.root_linear_velocity_scale,
        c.root_angular_velocity_scale),
    "yaw_rate": lambda r, f, c: yaw_rate_reward(r["ang_vel"], f["ang_vel"], c.yaw_rate_scale),
    "mean_velocity": lambda r, f, c: mean_velocity_reward(r["mean_planar_vel"],
                                                          f["mean_planar_vel"],
                                                          c.mean_velocity_scale),
    "orientation": lambda r, f, c: orientation_reward(r["root_rot"], f["root_rot"],
                                                      c.root_rotation_scale),
    "planar_velocity": lambda r, f, c: planar_velocity_reward(
        r["heading_vel"][:2], f["heading_vel"][:2], c.root_linear_velocity_scale),
    "angular_velocity": lambda r, f, c: angular_velocity_reward(
        r["root_rot"].T @ r["ang_vel"], f["root_rot"].T @ f["ang_vel"],
        c.root_angular_velocity_scale),
    "action_rate": lambda r, f, c: action_rate_reward(r["action_change"], c.action_rate_scale),
}
"""Every reward term by name: ``term(robot, reference, config) -> value in (0, 1]``."""

TRAINING_TERMS: tuple[str, ...] = ("pose", "velocity", "end_effector", "root_pose",
                                   "root_velocity")
"""The paper's five terms: the training reward (needs base position and velocity)."""

COMMAND_TERMS: tuple[str, ...] = ("yaw_rate", "mean_velocity")
"""Terms beyond the paper's that weigh how the robot follows the reference's velocity, which
a steerable gait's command sets (see ``sim_training.commands``); weighted 0 unless a config
sets them, reported always (so their value is logged). ``mean_velocity`` is reported where
both sides carry ``mean_planar_vel`` (the env averages it over its last steps)."""

REGULARIZATION_TERMS: tuple[str, ...] = ("action_rate",)
"""Terms of the training reward beyond the paper's, weighted 0 unless a config sets them: the
env reports them always (so their value is logged), they change the total only when weighted."""

ENV_TERMS: tuple[str, ...] = TRAINING_TERMS + COMMAND_TERMS + REGULARIZATION_TERMS
"""Every term the training env reports in ``info["reward_terms"]``, in order: what the
learning curves and the evaluations log."""

QUANTITY_OF: dict[str, str] = {"mean_velocity": "mean_planar_vel",
                               "action_rate": "action_change"}
"""Terms of :data:`ENV_TERMS` that need a robot quantity beyond the simulator's state: one
whose quantity is missing is left out (and may then not be weighted)."""

MEASURABLE_TERMS: tuple[str, ...] = ("pose", "velocity", "end_effector", "orientation",
                                     "planar_velocity", "angular_velocity")
"""The terms a robot measures: joints (encoders), feet (their forward kinematics in the IMU's
heading frame), roll/pitch and body rates (IMU), and the base's horizontal velocity by leg
odometry (encoders, gyro and foot contacts): forward progress counts, so a robot that tracks
the pose in place no longer scores as well as one that walks. ``orientation`` stands in for
``root_pose``; ``planar_velocity`` and ``angular_velocity`` share ``root_velocity``'s weight
(together they are that term's two halves)."""

WEIGHT_OF: dict[str, str] = {"orientation": "root_pose", "planar_velocity": "root_velocity",
                             "angular_velocity": "root_velocity"}
"""Terms that take another term's weight in :attr:`RewardConfig.weights`."""


def weighted_reward(cfg: RewardConfig, robot: Quantities, ref: Quantities,
                    names: tuple[str, ...]) -> tuple[float, dict[str, float]]:
    """The weighted mean of the named terms (weights renormalised to sum to 1) and each term.

    Args:
        cfg: Weights and scales.
        robot: Robot quantities (the keys the named terms read).
        ref: The same for the reference.
        names: Terms of :data:`REWARD_TERMS`.

    Returns:
        (total in (0, 1], {term name: value}).
    """
    weights = cfg.weights
    terms = {k: float(REWARD_TERMS[k](robot, ref, cfg)) for k in names}
    w = {k: weights[WEIGHT_OF.get(k, k)] for k in names}
    norm = sum(w.values())
    total = sum(w[k] * v for k, v in terms.items()) / (norm if norm > 0 else 1.0)
    return float(total), terms


def imitation_reward(cfg: RewardConfig, robot: dict, ref: dict) -> tuple[float, dict[str, float]]:
    """The weighted total and each term, from robot and reference quantities.

    Args:
        cfg: Weights and scales.
        robot: ``joints``, ``joint_vel``, ``feet_local``, ``root_pos``, ``root_rot``,
            ``lin_vel``, ``ang_vel`` of the robot (shapes as in the term functions), and
            optionally ``mean_planar_vel`` (2,): the horizontal velocity averaged over
            ``cfg.mean_velocity_window_s`` (m/s), which adds the ``mean_velocity`` term, and
            ``action_change`` (12,): the policy action minus the previous one, which adds
            the :data:`REGULARIZATION_TERMS`.
        ref: The reference's quantities (the keys above but ``action_change``).

    Returns:
        (total, {term name: value in (0, 1]}).

    Raises:
        KeyError: ``cfg`` weights a term whose quantity ``robot`` lacks (``mean_planar_vel``,
            ``action_change``).
    """
    missing = [k for k, key in QUANTITY_OF.items() if key not in robot]
    for term in missing:
        if cfg.weights[term] > 0:
            raise KeyError(f"{term}_weight > 0 needs robot['{QUANTITY_OF[term]}']")
    names = tuple(k for k in ENV_TERMS if k not in missing)
    return weighted_reward(cfg, robot, ref, names)
