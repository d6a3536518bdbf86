"""Rollout returns from what a robot can measure, with the training reward's terms.

On a robot the base position and linear velocity are not measured, so of the five training
terms (:mod:`sim_training.rewards`) the return uses: joint pose, joint velocity, feet
relative to the base (forward kinematics of the measured joints, in the heading frame from the
IMU), body roll/pitch (the root rotation term without heading) and body angular velocity (the
gyro). Their weights are renormalised to sum to 1. A rollout's return is the sum of per-step
rewards divided by the planned number of steps, so a rollout cut short by a fall or a safety
trip scores the missing steps as 0.
"""

from __future__ import annotations

import math

import numpy as np
import pinocchio as pin

from motion_retarget.kinematics import RobotModel
from robot_deploy.robot import RobotState
from sim_training.geometry import quat_to_matrix
from sim_training.reference import RefState
from sim_training.rewards import RewardConfig

TERMS = ("pose", "velocity", "end_effector", "orientation", "angular_velocity")


def _roll_pitch(rot: np.ndarray) -> np.ndarray:
    return np.array([math.atan2(rot[2, 1], rot[2, 2]),
                     -math.asin(min(1.0, max(-1.0, rot[2, 0])))])


def step_reward(state: RobotState, ref: RefState, rm: RobotModel,
                cfg: RewardConfig) -> tuple[float, dict[str, float]]:
    """Reward (0..1) of one step from a robot state and the reference at the same time."""
    rot = quat_to_matrix(state.quat)  # body frame, x forward
    heading = math.atan2(rot[1, 0], rot[0, 0])
    c, s = math.cos(heading), math.sin(heading)
    untwist = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    frame = np.zeros(19)
    frame[3:7] = rm.body_quat_to_base(untwist @ rot)  # base at the origin, heading removed
    frame[7:] = state.q
    q = rm.q_of(frame)
    pin.framesForwardKinematics(rm.model, rm.data, q)
    feet = np.array([rm.data.oMf[int(f)].translation for f in rm.foot_ids])
    ref_rot = ref.root_rot
    ref_gyro = ref_rot.T @ ref.root_ang_vel
    terms = {
        "pose": math.exp(-cfg.pose_scale * float(np.sum((ref.joints - state.q) ** 2))),
        "velocity": math.exp(-cfg.velocity_scale * float(np.sum((ref.joint_vel - state.dq)
                                                                  ** 2))),
        "end_effector": math.exp(-cfg.end_effector_scale * float(np.sum(
            (ref.feet_local - feet) ** 2))),
        "orientation": math.exp(-cfg.root_rotation_scale * float(np.sum(
            (_roll_pitch(ref_rot) - _roll_pitch(rot)) ** 2))),
        "angular_velocity": math.exp(-cfg.root_angular_velocity_scale * float(np.sum(
            (ref_gyro - state.gyro) ** 2))),
    }
    w = {"pose": cfg.pose_weight, "velocity": cfg.velocity_weight,
         "end_effector": cfg.end_effector_weight, "orientation": cfg.root_pose_weight,
         "angular_velocity": cfg.root_velocity_weight}
    total = sum(w[k] * v for k, v in terms.items()) / sum(w.values())
    return float(total), terms
