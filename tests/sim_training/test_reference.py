"""Reference lookups against the motion file: frames, interpolation, loops, velocities."""

from __future__ import annotations

import numpy as np
import pytest

from motion_retarget.kinematics import robot_model
from motion_retarget.motion import Motion, load_motion
from sim_training.geometry import quat_to_matrix
from sim_training.reference import ReferenceMotion
from tests.conftest import REFERENCE_MOTIONS


def _moving_motion(loop: str = "Wrap", rotation: bool = False) -> Motion:
    n, dt = 11, 0.1
    frames = np.zeros((n, 19))
    frames[:, 0] = np.linspace(0.0, 1.0, n)  # 1 m/s forward
    frames[:, 2] = 0.27
    yaw = np.linspace(0.0, 0.5, n) if rotation else np.zeros(n)
    frames[:, 5], frames[:, 6] = np.sin(yaw / 2), np.cos(yaw / 2)
    frames[:, 7:] = np.tile([0.0, 0.9, -1.8], 4)
    return Motion(frames=frames, frame_duration=dt, loop_mode=loop,
                  enable_cycle_offset_position=True, enable_cycle_offset_rotation=rotation)


def test_frames_velocities_and_feet_match_the_motion():
    ref = ReferenceMotion(_moving_motion(), robot_model("a1"))
    s = ref.state(0.35)
    np.testing.assert_allclose(s.root_pos, [0.35, 0.0, 0.27], atol=1e-12)
    np.testing.assert_allclose(s.root_lin_vel, [1.0, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(s.root_ang_vel, 0.0, atol=1e-9)
    np.testing.assert_allclose(s.joint_vel, 0.0, atol=1e-12)
    feet = robot_model("a1").feet_of_frames(ref.motion.frames[:1])[0] - ref.motion.frames[0, :3]
    np.testing.assert_allclose(s.feet_local, feet, atol=1e-9)


def test_wrap_adds_cycle_offsets():
    ref = ReferenceMotion(_moving_motion(), robot_model("a1"))
    s = ref.state(2.5)  # 2 full cycles of 1 s, then 0.5 s
    np.testing.assert_allclose(s.root_pos, [2.5, 0.0, 0.27], atol=1e-9)
    clamp = ReferenceMotion(_moving_motion("Clamp"), robot_model("a1"))
    np.testing.assert_allclose(clamp.state(2.5).root_pos, [1.0, 0.0, 0.27], atol=1e-12)


def test_wrap_with_rotation_offsets_turns_each_cycle():
    ref = ReferenceMotion(_moving_motion(rotation=True), robot_model("a1"))
    assert ref.cycle_yaw == pytest.approx(0.5)
    s = ref.state(1.0 + 1e-9)  # start of the second cycle
    yaw = np.arctan2(s.root_rot[1, 0], s.root_rot[0, 0])
    assert yaw == pytest.approx(0.5, abs=1e-6)
    np.testing.assert_allclose(s.root_pos[:2], [1.0, 0.0], atol=1e-6)
    s2 = ref.state(1.5)  # half way through cycle 2: moving along the turned heading
    expected = np.array([1.0, 0.0]) + 0.5 * np.array([np.cos(0.5), np.sin(0.5)])
    np.testing.assert_allclose(s2.root_pos[:2], expected, atol=1e-6)


def test_laikago_reference_frames_round_trip():
    motion = load_motion(REFERENCE_MOTIONS / "dog_pace.txt")
    rm = robot_model("laikago")
    ref = ReferenceMotion(motion, rm)
    for k in (0, 7, 20):
        s = ref.state(k * motion.frame_duration)
        np.testing.assert_allclose(s.root_pos, motion.frames[k, :3], atol=1e-9)
        base = quat_to_matrix(motion.frames[k, 3:7])
        np.testing.assert_allclose(s.root_rot @ rm.base_offset, base, atol=1e-6)
        np.testing.assert_allclose(s.joints, motion.frames[k, 7:], atol=1e-12)
    assert abs(s.root_rot[2, 2]) > 0.95  # the body frame is upright (offset removed)
