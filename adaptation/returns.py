"""Rollout returns from what a robot can measure, with the training reward's terms.

On a robot the base position and linear velocity are not measured directly, so the return
uses the :data:`~sim_training.rewards.MEASURABLE_TERMS` of the one reward registry: joint
pose, joint velocity, feet relative to the base (forward kinematics of the measured joints, in
the heading frame from the IMU), body roll/pitch (the root rotation term without heading), the
base's horizontal velocity by leg odometry (:func:`leg_odometry`), and body angular velocity
(the gyro). Their weights are renormalised to sum to 1. A rollout's return is the sum of per-step
rewards divided by the planned number of steps, so a rollout cut short by a fall or a safety
trip scores the missing steps as 0.
"""

from __future__ import annotations

import numpy as np
import pinocchio as pin

from motion_retarget.kinematics import RobotModel
from quadmimic.core.geometry import quat_to_matrix, yaw_matrix, yaw_of
from robot_deploy.robot import RobotState
from sim_training.reference import RefState
from sim_training.rewards import MEASURABLE_TERMS, RewardConfig, weighted_reward

TERMS = MEASURABLE_TERMS


def robot_quantities(state: RobotState, rm: RobotModel) -> dict[str, np.ndarray]:
    """The reward quantities a robot measures, from one sensor reading.

    Feet are the forward kinematics of the measured joints relative to the base, in the
    heading frame of the IMU; the base's position and linear velocity are not measured.
    """
    rot = quat_to_matrix(state.quat)  # body frame, x forward
    untwist = yaw_matrix(-float(yaw_of(rot)))
    frame = np.zeros(19)
    frame[3:7] = rm.body_quat_to_base(untwist @ rot)  # base at the origin, heading removed
    frame[7:] = state.q
    q = rm.q_of(frame)
    pin.framesForwardKinematics(rm.model, rm.data, q)
    feet = np.array([rm.data.oMf[int(f)].translation for f in rm.foot_ids])
    leveled = untwist @ rot  # body → heading frame
    return {"joints": state.q, "joint_vel": state.dq, "feet_local": feet, "root_rot": rot,
            "ang_vel": rot @ state.gyro,
            "heading_vel": leg_odometry(state, rm, q, feet, leveled)}


def leg_odometry(state: RobotState, rm: RobotModel, q: np.ndarray, feet: np.ndarray,
                 leveled: np.ndarray) -> np.ndarray:
    """Base velocity (3,) m/s in the heading frame from the feet on the ground.

    A stance foot does not move in the world, so the base moves at minus the foot's velocity
    relative to it: v = −(J_i(q) q̇ + ω × p_i), averaged over the feet in contact (all four
    when the robot does not report contacts). The kinematics must be at ``q`` (base at the
    origin, heading removed, so the world frame is the heading frame).

    Args:
        state: The reading (joint speeds, gyro, foot contacts).
        rm: Kinematic model, its data at ``q``.
        q: Pinocchio configuration of the reading.
        feet: (4, 3) foot positions relative to the base, heading frame (m).
        leveled: (3, 3) body → heading frame rotation.

    Returns:
        (3,) velocity, NaN if no foot is on the ground.
    """
    contact = (np.ones(4, bool) if state.foot_contact is None
               else np.asarray(state.foot_contact, bool))
    if not contact.any():
        return np.full(3, np.nan)
    dq = np.zeros(rm.model.nv)
    dq[rm.v_idx] = state.dq
    omega = leveled @ state.gyro
    pin.computeJointJacobians(rm.model, rm.data, q)
    out = []
    for i in np.flatnonzero(contact):
        jac = pin.getFrameJacobian(rm.model, rm.data, int(rm.foot_ids[i]),
                                   pin.ReferenceFrame.LOCAL_WORLD_ALIGNED)[:3]
        out.append(-(jac @ dq) - np.cross(omega, feet[i]))
    return np.mean(out, axis=0)


def reference_quantities(ref: RefState) -> dict[str, np.ndarray]:
    """The same quantities of the reference."""
    heading = yaw_matrix(float(yaw_of(ref.root_rot)))
    return {"joints": ref.joints, "joint_vel": ref.joint_vel, "feet_local": ref.feet_local,
            "root_rot": ref.root_rot, "ang_vel": ref.root_ang_vel,
            "heading_vel": heading.T @ ref.root_lin_vel}


def step_reward(state: RobotState, ref: RefState, rm: RobotModel,
                cfg: RewardConfig) -> tuple[float, dict[str, float]]:
    """Reward (0..1) of one step from a robot state and the reference at the same time.

    The :data:`~sim_training.rewards.MEASURABLE_TERMS` of the training reward's registry,
    weights renormalised to sum to 1.
    """
    return weighted_reward(cfg, robot_quantities(state, rm), reference_quantities(ref), TERMS)
