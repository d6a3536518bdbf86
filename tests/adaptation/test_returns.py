"""Robot-observable returns: 1 on the reference, lower off it."""

from __future__ import annotations

import numpy as np

from adaptation.returns import step_reward
from motion_retarget.kinematics import robot_model
from motion_retarget.motion import load_motion
from robot_deploy.robot import RobotState
from sim_training.geometry import matrix_to_quat, yaw_matrix
from sim_training.reference import ReferenceMotion
from sim_training.rewards import RewardConfig
from tests.conftest import REPO


def _state_on(ref, heading: float = 0.0) -> RobotState:
    rot = yaw_matrix(heading) @ ref.root_rot
    return RobotState(q=ref.joints, dq=ref.joint_vel, tau=np.zeros(12),
                      quat=matrix_to_quat(rot), gyro=ref.root_rot.T @ ref.root_ang_vel,
                      accel=np.array([0, 0, 9.81]), stamp=0.0)


def test_on_the_reference_every_term_is_one_whatever_the_heading():
    rm = robot_model("a1")
    ref = ReferenceMotion(load_motion(REPO / "data" / "motions" / "a1_trot.txt"), rm)
    for t in (0.0, 0.2, 0.41):
        s = ref.state(t)
        for heading in (0.0, 1.3):  # the robot's heading is not observable: ignored
            total, terms = step_reward(_state_on(s, heading), s, rm, RewardConfig())
            assert total > 0.999, terms
    s = ref.state(0.2)
    off = _state_on(s)
    bent = RobotState(q=off.q + 0.2, dq=off.dq, tau=off.tau, quat=off.quat, gyro=off.gyro,
                      accel=off.accel, stamp=0.0)
    total, terms = step_reward(bent, s, rm, RewardConfig())
    assert total < 0.8 and terms["pose"] < 0.2 and terms["end_effector"] < 0.99
