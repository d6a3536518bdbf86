"""Robot-observable returns: 1 on the reference, lower off it."""

from __future__ import annotations

import numpy as np
import pytest

from adaptation.returns import robot_quantities, step_reward
from motion_retarget.kinematics import robot_model
from motion_retarget.motion_file import load_motion
from quadmimic.core.geometry import matrix_to_quat, yaw_matrix
from robot_deploy.robot import RobotState
from sim_training.reference import ReferenceMotion
from sim_training.rewards import RewardConfig
from tests.conftest import REPO


def _state_on(ref, heading: float = 0.0, contacts=None) -> RobotState:
    rot = yaw_matrix(heading) @ ref.root_rot
    return RobotState(q=ref.joints, dq=ref.joint_vel, tau=np.zeros(12),
                      quat=matrix_to_quat(rot), gyro=ref.root_rot.T @ ref.root_ang_vel,
                      accel=np.array([0, 0, 9.81]), stamp=0.0, foot_contact=contacts)


def _stance(motion, rm, t):
    """The reference's feet on the ground at time t (the retargeting pins them there)."""
    feet = rm.feet_of_frames(np.asarray(motion.frames))
    return feet[round(t / motion.frame_duration), :, 2] < rm.spec.foot_radius + 0.01


def test_on_the_reference_every_term_is_one_whatever_the_heading():
    rm = robot_model("a1")
    motion = load_motion(REPO / "data" / "motions" / "a1_trot.txt")
    ref = ReferenceMotion(motion, rm)
    for t in (0.0, 0.41):  # two feet in stance: leg odometry gives the reference's velocity
        s = ref.state(t)
        for heading in (0.0, 1.3):  # the robot's heading is not observable: ignored
            total, terms = step_reward(_state_on(s, heading, _stance(motion, rm, t)), s, rm,
                                       RewardConfig())
            assert total > 0.998, terms
    s = ref.state(0.2)
    off = _state_on(s)
    bent = RobotState(q=off.q + 0.2, dq=off.dq, tau=off.tau, quat=off.quat, gyro=off.gyro,
                      accel=off.accel, stamp=0.0)
    total, terms = step_reward(bent, s, rm, RewardConfig())
    assert total < 0.8 and terms["pose"] < 0.2 and terms["end_effector"] < 0.99


def test_a_robot_that_tracks_the_pose_in_place_loses_the_velocity_term():
    rm = robot_model("a1")
    motion = load_motion(REPO / "data" / "motions" / "a1_trot.txt")
    ref = ReferenceMotion(motion, rm)
    s = ref.state(0.0)
    walking = _state_on(s, contacts=_stance(motion, rm, 0.0))
    # The same joints and gyro, the stance feet's joints still: the base is not moving.
    stuck = RobotState(q=s.joints, dq=np.zeros(12), tau=np.zeros(12), quat=walking.quat,
                       gyro=np.zeros(3), accel=walking.accel, stamp=0.0,
                       foot_contact=walking.foot_contact)
    _, moving_terms = step_reward(walking, s, rm, RewardConfig())
    _, stuck_terms = step_reward(stuck, s, rm, RewardConfig())
    assert moving_terms["planar_velocity"] > 0.99
    assert stuck_terms["planar_velocity"] < 0.2  # reference at 1.25 m/s, scale 2 s²/m²


@pytest.mark.slow
def test_leg_odometry_follows_the_simulated_base_velocity():
    """On the shipped A1 trot in PyBullet the estimate tracks the true forward speed."""
    from quadmimic.core.geometry import yaw_of
    from sim_training.bundle import PolicyBundle
    from sim_training.env import ImitationEnv

    bundle = PolicyBundle.load(REPO / "data" / "policies" / "a1_trot")
    env = ImitationEnv(bundle.motion_path, robot="a1", randomize=False,
                       config=bundle.config.env)
    obs, _ = env.reset(seed=0)
    rm = robot_model("a1")
    est, true = [], []
    for _ in range(90):
        obs, *_ = env.step(bundle.act(obs["obs"], dynamics=obs["dynamics"]))
        st = env._robot_quantities()
        rot = st["root_rot"]
        contacts, _ = env.robot.ground_contacts()
        state = RobotState(q=st["joints"], dq=st["joint_vel"], tau=np.zeros(12),
                           quat=matrix_to_quat(rot), gyro=rot.T @ st["ang_vel"],
                           accel=np.zeros(3), stamp=0.0, foot_contact=np.asarray(contacts))
        est.append(robot_quantities(state, rm)["heading_vel"])
        true.append(yaw_matrix(float(yaw_of(rot))).T @ st["lin_vel"])
    env.close()
    est_fwd, true_fwd = np.nanmean(np.array(est)[:, 0]), np.mean(np.array(true)[:, 0])
    assert true_fwd > 0.8
    assert abs(est_fwd - true_fwd) < 0.25 * true_fwd  # measured: 1.00 vs 1.19 m/s
