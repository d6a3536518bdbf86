"""Reference lookups against the motion file: frames, interpolation, loops, velocities."""

from __future__ import annotations

import numpy as np
import pytest

from motion_retarget.kinematics import robot_model
from motion_retarget.motion import (
    Motion,
    cycle_offset,
    joint_velocity,
    root_angular_velocity,
    root_linear_velocity,
)
from motion_retarget.motion_file import load_motion
from motion_retarget.sampler import frame_at
from quadmimic.core.geometry import log_rotation, quat_to_matrix, wrap_angle, yaw_matrix, yaw_of
from sim_training.reference import ReferenceMotion
from tests.conftest import REFERENCE_MOTIONS, REPO


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


# --- ReferenceMotion.state is motion_retarget.motion's sampler -------------------------------

SAMPLED = [(REPO / "data" / "motions" / "a1_trot.txt", "a1"),
           (REPO / "data" / "motions" / "go2_pace.txt", "go2"),
           (REFERENCE_MOTIONS / "dog_spin.txt", "laikago"),  # EnableCycleOffsetRotation
           (REFERENCE_MOTIONS / "hopturn.txt", "laikago")]  # ~25 deg per frame


def _lerp(table: np.ndarray, phase: float, dt: float) -> np.ndarray:
    x = phase / dt
    i = min(int(x), len(table) - 2)
    return table[i] + (x - i) * (table[i + 1] - table[i])


@pytest.mark.parametrize(("path", "robot"), SAMPLED, ids=lambda v: getattr(v, "stem", v))
def test_state_agrees_with_the_motion_sampler(path, robot):
    """Frames, midpoints and quarter points in cycles 0, 1 and 3 (negative time too)."""
    motion = load_motion(path)
    rm = robot_model(robot)
    ref = ReferenceMotion(motion, rm)
    dt, n = motion.frame_duration, motion.num_frames
    lin, ang = root_linear_velocity(motion), root_angular_velocity(motion)
    jv = joint_velocity(motion)
    shift, heading = cycle_offset(motion)
    assert ref.cycle_yaw == heading and np.array_equal(ref.cycle_shift, shift)
    k = np.arange(n - 1)
    phases = np.r_[k, k + 0.5, k + 0.25, k + 0.75] * dt
    for c in (0, 1, 3, -1):
        for phase in phases:
            t = c * motion.duration + phase
            s = ref.state(t)
            frame = frame_at(motion, t)
            np.testing.assert_allclose(s.root_pos, frame[:3], rtol=0, atol=1e-12)
            base = quat_to_matrix(frame[3:7])
            assert np.linalg.norm(log_rotation(s.root_rot.T @ base @ rm.base_offset.T)) < 1e-12
            np.testing.assert_allclose(s.joints, frame[7:], rtol=0, atol=1e-12)
            cycles, ph = ref.cycle_and_phase(t)
            assert 0.0 <= ph <= motion.duration
            turn = yaw_matrix(cycles * heading)
            np.testing.assert_allclose(s.root_lin_vel, turn @ _lerp(lin, ph, dt), atol=1e-9)
            np.testing.assert_allclose(s.root_ang_vel, turn @ _lerp(ang, ph, dt), atol=1e-9)
            np.testing.assert_allclose(s.joint_vel, _lerp(jv, ph, dt), atol=1e-9)
            np.testing.assert_allclose(s.feet_local.reshape(-1),
                                       _lerp(ref.feet_local.reshape(n, 12), ph, dt), atol=1e-12)


@pytest.mark.parametrize(("path", "robot"), SAMPLED, ids=lambda v: getattr(v, "stem", v))
def test_state_across_loop_boundaries(path, robot):
    """Just before and after each wrap the reference is where the previous cycle ended."""
    motion = load_motion(path)
    rm = robot_model(robot)
    ref = ReferenceMotion(motion, rm)
    assert ref.wrap and motion.enable_cycle_offset_position
    eps = 1e-9
    _, heading = cycle_offset(motion)
    body = quat_to_matrix(motion.frames[[0, -1], 3:7]) @ rm.base_offset.T
    # The heading jumps by what the clip's last frame misses of its first one, turned.
    mismatch = wrap_angle(heading + float(yaw_of(body[0]) - yaw_of(body[1])))
    for c in (1, 2, 5):
        t = c * motion.duration
        before, after, exact = ref.state(t - eps), ref.state(t + eps), ref.state(t)
        np.testing.assert_allclose(after.root_pos[:2], before.root_pos[:2], atol=1e-6)
        np.testing.assert_allclose(exact.root_pos, frame_at(motion, t)[:3], atol=1e-12)
        jump = wrap_angle(float(yaw_of(after.root_rot) - yaw_of(before.root_rot)))
        assert jump == pytest.approx(mismatch, abs=1e-6)
        np.testing.assert_allclose(after.joints, motion.frames[0, 7:], atol=1e-6)
        np.testing.assert_allclose(before.joints, motion.frames[-1, 7:], atol=1e-6)
    if motion.enable_cycle_offset_rotation:  # cycle c starts turned by c * heading
        start = ref.state(0.0).root_rot
        for c in (1, 2, 5):
            turned = ref.state(c * motion.duration + eps).root_rot
            expected = yaw_matrix(c * heading) @ start
            assert np.linalg.norm(log_rotation(turned.T @ expected)) < 1e-6
