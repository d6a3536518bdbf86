"""Tests of motion_retarget.motion: the Motion type, motion file I/O and the helpers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import motion_retarget.motion_file as motion_mod
from motion_retarget.motion import (
    Motion,
    cycle_offset,
    heading_change,
    joint_velocity,
    root_angular_velocity,
    root_linear_velocity,
    window,
)
from motion_retarget.motion_file import KEYS, load_motion, save_motion
from motion_retarget.sampler import (
    ROW_ANG_VEL,
    ROW_JOINT_VEL,
    ROW_LIN_VEL,
    ROW_QUAT,
    ROW_SIZE,
    MotionSampler,
    frame_at,
    resample,
)
from quadmimic.core.errors import MotionFormatError
from quadmimic.core.fileio import atomic_write

REFERENCE = Path(__file__).resolve().parents[2] / "data" / "reference_motions"

# file -> (frames, FrameDuration, EnableCycleOffsetRotation), from SOURCE.md
EXPECTED = {
    "dog_pace.txt": (39, 0.01667, False),
    "dog_trot.txt": (33, 0.01667, False),
    "dog_backwards_pace.txt": (39, 0.01667, False),
    "dog_backwards_trot.txt": (33, 0.01667, False),
    "dog_spin.txt": (46, 0.01667, True),
    "hopturn.txt": (91, 1 / 24, False),
    "inplace_steps.txt": (208, 0.03, False),
    "runningman.txt": (161, 1 / 24, False),
    "sidesteps.txt": (146, 1 / 24, False),
    "turn.txt": (111, 1 / 24, False),
}

# Laikago's built-in base rotation (euler pi/2, 0, pi/2), as in the reference files.
BASE_QUAT = np.array([0.5, 0.5, 0.5, 0.5])


def _yaw_quat(angle: float) -> np.ndarray:
    return np.array([0.0, 0.0, math.sin(angle / 2), math.cos(angle / 2)])


def _make_motion(
    n: int = 11,
    dt: float = 0.1,
    velocity: tuple[float, float, float] = (1.0, 0.0, 0.0),
    yaw_rate: float = 0.0,
    joint_rate: float = 0.5,
    loop_mode: str = "Wrap",
    rotation_offset: bool = False,
    smooth: bool = False,
) -> Motion:
    """Root moving at constant velocity and yaw rate; joints at constant rate (or smooth)."""
    t = np.arange(n) * dt
    frames = np.zeros((n, 19))
    frames[:, :3] = np.array([0.0, 0.0, 0.4]) + t[:, None] * np.array(velocity)
    rots = Rotation.from_rotvec(np.outer(yaw_rate * t, [0.0, 0.0, 1.0]))
    rots = rots * Rotation.from_quat(BASE_QUAT)
    frames[:, 3:7] = rots.as_quat()
    if smooth:
        frames[:, 7:] = 0.3 * np.sin(2.0 * t[:, None] + np.arange(12))
    else:
        frames[:, 7:] = np.arange(12) * 0.01 + joint_rate * t[:, None]
    return Motion(frames, dt, loop_mode, True, rotation_offset)


def _write_motion_text(path: Path, frames_text: list[str], **overrides: str) -> Path:
    header = {
        "LoopMode": '"Wrap"',
        "FrameDuration": "0.1",
        "EnableCycleOffsetPosition": "true",
        "EnableCycleOffsetRotation": "false",
    }
    header.update(overrides)
    lines = ["{"] + [f'"{k}": {v},' for k, v in header.items() if v is not None]
    lines += ["", '"Frames":', "["]
    lines += [f"  {f}," for f in frames_text[:-1]] + (
        [f"  {frames_text[-1]}"] if frames_text else []
    )
    lines += ["]", "}", ""]
    path.write_text("\n".join(lines))
    return path


GOOD_FRAME = "[0, 0, 0.44, 0.5, 0.5, 0.5, 0.5, " + ", ".join(["0.1"] * 12) + "]"
# In _write_motion_text's layout: line 1 "{", 2-5 the keys, 6 blank, 7 "Frames", 8 "[",
# so frame k (0-based) is on line 9 + k.


# --- reference files -----------------------------------------------------------------------


def test_the_ten_reference_motions_are_in_the_repository():
    assert REFERENCE.is_dir(), REFERENCE
    assert sorted(p.name for p in REFERENCE.glob("*.txt")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reference_files_load(name):
    n, fd, rot = EXPECTED[name]
    m = load_motion(REFERENCE / name)
    assert m.num_frames == n
    assert m.frames.shape == (n, 19)
    assert m.frame_duration == fd
    assert m.loop_mode == "Wrap"
    assert m.enable_cycle_offset_position is True
    assert m.enable_cycle_offset_rotation is rot
    np.testing.assert_allclose(np.linalg.norm(m.root_quat, axis=1), 1.0, atol=1e-12)
    assert m.duration == pytest.approx((n - 1) * fd)
    # Laikago: root height about 0.44 m, base rotation close to (0.5, 0.5, 0.5, 0.5) at frame 0.
    assert 0.35 < m.root_pos[0, 2] < 0.5
    assert abs(np.dot(m.root_quat[0], BASE_QUAT)) > 0.97


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reference_round_trip(name, tmp_path):
    m = load_motion(REFERENCE / name)
    out = save_motion(m, tmp_path / name)
    assert out == tmp_path / name
    m2 = load_motion(out)
    assert m2.frame_duration == m.frame_duration
    assert m2.loop_mode == m.loop_mode
    assert m2.enable_cycle_offset_position == m.enable_cycle_offset_position
    assert m2.enable_cycle_offset_rotation == m.enable_cycle_offset_rotation
    np.testing.assert_allclose(m2.frames, m.frames, rtol=0, atol=1e-9)


def test_saved_file_layout_matches_reference(tmp_path):
    src = REFERENCE / "dog_pace.txt"
    original_text = src.read_text()
    m = load_motion(src)
    out = save_motion(m, tmp_path / "sub" / "pace.txt")  # parent folder is created
    text = out.read_text()
    with out.open() as f:
        data = json.load(f)  # plain json
    original = json.loads(original_text)
    assert list(data) == list(original) == list(KEYS)
    assert data["FrameDuration"] == 0.01667
    assert data["LoopMode"] == "Wrap"
    assert data["EnableCycleOffsetPosition"] is True
    assert data["EnableCycleOffsetRotation"] is False
    assert len(data["Frames"]) == 39
    assert all(len(f) == 19 for f in data["Frames"])
    # Same line structure: 10 lines of header/footer, one line per frame.
    assert text.count("\n") == original_text.count("\n") == 39 + 10
    lines = text.splitlines()
    assert lines[:8] == original_text.splitlines()[:8]
    assert lines[8].startswith("  [") and lines[8].endswith("],")
    assert lines[8 + 38].endswith("]") and not lines[8 + 38].endswith(",")


def test_round_trip_hand_made_exact(tmp_path):
    m = _make_motion(n=7, dt=1 / 30, yaw_rate=0.7, loop_mode="Clamp", rotation_offset=True)
    m2 = load_motion(save_motion(m, tmp_path / "m.txt"))
    assert m2.frame_duration == 1 / 30
    assert m2.loop_mode == "Clamp"
    assert m2.enable_cycle_offset_rotation is True
    np.testing.assert_allclose(m2.frames, m.frames, rtol=0, atol=1e-12)


# --- Motion validation ---------------------------------------------------------------------


def test_motion_copies_normalises_and_is_read_only():
    frames = np.zeros((3, 19))
    frames[:, 3:7] = [0.0, 0.0, 0.0, 1.005]
    m = Motion(frames, 0.05, "Clamp")
    assert frames[0, 6] == 1.005  # input untouched
    np.testing.assert_allclose(m.root_quat, [[0, 0, 0, 1]] * 3)
    assert not m.frames.flags.writeable
    with pytest.raises(ValueError):
        m.frames[0, 0] = 1.0
    with pytest.raises(AttributeError):
        m.loop_mode = "Wrap"  # frozen
    assert m.num_frames == 3
    assert m.duration == pytest.approx(0.1)
    assert m.fps == pytest.approx(20.0)
    np.testing.assert_allclose(m.times, [0.0, 0.05, 0.1])
    assert m.root_pos.shape == (3, 3) and m.joints.shape == (3, 12)
    assert m == Motion(m.frames, 0.05, "Clamp")
    assert m != Motion(m.frames, 0.05, "Wrap")


@pytest.mark.parametrize(
    ("frames", "fd", "mode", "match"),
    [
        (np.zeros((0, 19)), 0.1, "Wrap", "at least one frame"),
        (np.zeros((3, 18)), 0.1, "Wrap", "shape"),
        (np.zeros(19), 0.1, "Wrap", "shape"),
        ("quat", 0.1, "Wrap", "shape|numeric"),
        ("nan", 0.1, "Wrap", "not finite"),
        ("badquat", 0.1, "Wrap", "quaternion norm"),
        ("ok", 0.0, "Wrap", "frame_duration"),
        ("ok", float("inf"), "Wrap", "frame_duration"),
        ("ok", 0.1, "wrap", "loop_mode"),
    ],
)
def test_motion_rejects_invalid(frames, fd, mode, match):
    good = np.zeros((2, 19))
    good[:, 6] = 1.0
    if isinstance(frames, str):
        if frames == "nan":
            good[1, 9] = np.nan
        elif frames == "badquat":
            good[1, 6] = 1.1
        elif frames == "quat":
            good = [[1, 2], [3]]
        frames = good
    with pytest.raises(MotionFormatError, match=match) as info:
        Motion(frames, fd, mode)
    assert info.value.path is None


# --- velocities ----------------------------------------------------------------------------


def test_velocities_exact_for_constant_rates():
    v = (0.8, -0.3, 0.05)
    w = 1.3  # rad/s about world z
    m = _make_motion(n=9, dt=0.02, velocity=v, yaw_rate=w, joint_rate=-2.0)
    lin = root_linear_velocity(m)
    ang = root_angular_velocity(m)
    jv = joint_velocity(m)
    assert lin.shape == (9, 3) and ang.shape == (9, 3) and jv.shape == (9, 12)
    np.testing.assert_allclose(lin, np.tile(v, (9, 1)), atol=1e-9)
    np.testing.assert_allclose(ang, np.tile([0.0, 0.0, w], (9, 1)), atol=1e-9)
    np.testing.assert_allclose(jv, -2.0, atol=1e-9)


def test_angular_velocity_ignores_quaternion_sign_flips():
    m = _make_motion(n=6, dt=0.1, yaw_rate=0.5)
    frames = m.frames.copy()
    frames[2:4, 3:7] *= -1.0
    flipped = Motion(frames, m.frame_duration, m.loop_mode)
    np.testing.assert_allclose(root_angular_velocity(flipped), root_angular_velocity(m), atol=1e-12)


def test_velocities_central_inside_one_sided_at_the_ends_and_single_frame_is_zero():
    m = _make_motion(n=4, dt=0.1)
    frames = m.frames.copy()
    frames[3, 0] += 5.0  # only the last step changes
    frames[1:3, 8] += [0.2, -0.1]
    moved = Motion(frames, 0.1, "Wrap")
    lin = root_linear_velocity(moved)
    p = frames[:, :3]
    np.testing.assert_allclose(lin[0], (p[1] - p[0]) / 0.1)
    np.testing.assert_allclose(lin[1:3], (p[2:4] - p[0:2]) / 0.2)
    np.testing.assert_allclose(lin[3], (p[3] - p[2]) / 0.1)
    jv = joint_velocity(moved)
    j = frames[:, 7:]
    np.testing.assert_allclose(jv, np.gradient(j, 0.1, axis=0))
    np.testing.assert_allclose(jv[2], (j[3] - j[1]) / 0.2)
    # Angular: rotation vector of R[k+1] R[k-1]^-1 over 2 dt (one-sided at the ends).
    turning = _make_motion(n=5, dt=0.1, yaw_rate=0.0)
    tf = turning.frames.copy()
    yaws = [0.0, 0.1, 0.5, 0.6, 0.4]
    tf[:, 3:7] = [(Rotation.from_euler("z", a) * Rotation.from_quat(BASE_QUAT)).as_quat()
                  for a in yaws]
    ang = root_angular_velocity(Motion(tf, 0.1, "Wrap"))
    np.testing.assert_allclose(ang[:, :2], 0.0, atol=1e-12)
    np.testing.assert_allclose(ang[:, 2], [1.0, 2.5, 2.5, -0.5, -2.0], atol=1e-12)
    one = Motion(m.frames[:1], 0.1, "Wrap")
    for f, width in ((root_linear_velocity, 3), (root_angular_velocity, 3), (joint_velocity, 12)):
        np.testing.assert_array_equal(f(one), np.zeros((1, width)))


# --- resample / window ---------------------------------------------------------------------


def test_resample_half_and_back_recovers_frames():
    m = _make_motion(n=21, dt=0.05, yaw_rate=2.0, smooth=True)
    fine = resample(m, 0.025)
    assert fine.num_frames == 41
    assert fine.frame_duration == 0.025
    assert fine.duration == pytest.approx(m.duration)
    # In-between frames: joints and position linear, rotation on the slerp arc.
    np.testing.assert_allclose(fine.frames[1, 7:], 0.5 * (m.frames[0, 7:] + m.frames[1, 7:]))
    half_yaw = Rotation.from_euler("z", 2.0 * 0.025) * Rotation.from_quat(BASE_QUAT)
    assert abs(np.dot(fine.root_quat[1], half_yaw.as_quat())) == pytest.approx(1.0, abs=1e-12)
    back = resample(fine, 0.05)
    assert back.num_frames == m.num_frames
    np.testing.assert_allclose(back.frames, m.frames, atol=1e-6)
    assert back.loop_mode == m.loop_mode


def test_resample_reference_keeps_span():
    m = load_motion(REFERENCE / "hopturn.txt")  # 3.75 s at 24 fps
    r = resample(m, 1 / 60)
    assert r.num_frames == 226
    assert r.duration == pytest.approx(m.duration)
    np.testing.assert_allclose(r.frames[-1], m.frames[-1], atol=1e-9)
    np.testing.assert_allclose(r.frames[0], m.frames[0])
    # 3.75 s is not a multiple of 1/30 s: the last 1/60 s (less than one new frame) is dropped.
    r30 = resample(m, 1 / 30)
    assert r30.num_frames == 113
    assert r30.duration == pytest.approx(112 / 30)
    np.testing.assert_allclose(r30.frames[-1], frame_at(m, 112 / 30), atol=1e-12)
    with pytest.raises(MotionFormatError):
        resample(m, 0.0)


def test_window():
    m = _make_motion(n=11, dt=0.1)
    w = window(m, 0.2, 0.5)
    assert w.num_frames == 4
    np.testing.assert_array_equal(w.frames, m.frames[2:6])
    assert w.frame_duration == m.frame_duration
    assert window(m, 0.3, 0.3).num_frames == 1
    with pytest.raises(MotionFormatError, match="no frame"):
        window(m, 0.21, 0.29)
    with pytest.raises(MotionFormatError):
        window(m, 0.5, 0.2)


# --- cycle offsets / frame_at --------------------------------------------------------------


def test_cycle_offset():
    m = _make_motion(n=11, dt=0.1, velocity=(1.0, 0.5, 0.2), yaw_rate=0.3, rotation_offset=True)
    delta, heading = cycle_offset(m)
    np.testing.assert_allclose(delta, [1.0, 0.5, 0.0])
    assert heading == pytest.approx(0.3)  # heading change despite the base rotation
    m2 = Motion(m.frames, m.frame_duration, "Wrap", False, False)
    delta2, heading2 = cycle_offset(m2)
    np.testing.assert_array_equal(delta2, np.zeros(3))
    assert heading2 == 0.0


def test_heading_change_ignores_base_rotation():
    for base in (BASE_QUAT, np.array([0.0, 0.0, 0.0, 1.0])):
        q0 = (Rotation.from_euler("z", 0.4) * Rotation.from_quat(base)).as_quat()
        q1 = (Rotation.from_euler("z", -0.9) * Rotation.from_quat(base)).as_quat()
        assert heading_change(q0, q1) == pytest.approx(-1.3)
        assert heading_change(q0, -q1) == pytest.approx(-1.3)


def test_reference_cycle_offsets():
    delta, heading = cycle_offset(load_motion(REFERENCE / "dog_pace.txt"))
    np.testing.assert_allclose(delta, [0.68773, 0.0, 0.0])
    assert heading == 0.0
    _, spin = cycle_offset(load_motion(REFERENCE / "dog_spin.txt"))
    assert math.degrees(spin) == pytest.approx(99.66, abs=0.05)


def test_frame_at_wrap_position_offset_after_2_5_cycles():
    # 1 m/s forward over a 1 s cycle, plus a sideways sway that returns to 0.
    m = _make_motion(n=11, dt=0.1, velocity=(1.0, 0.0, 0.0))
    frames = m.frames.copy()
    frames[:, 1] = 0.1 * np.sin(np.pi * m.times)
    m = Motion(frames, 0.1, "Wrap", True, False)
    f = frame_at(m, 2.5)
    assert f.shape == (19,)
    np.testing.assert_allclose(f[:3], [2.5, 0.1, 0.4], atol=1e-12)  # 0.5 + 2 * 1.0
    np.testing.assert_allclose(f[3:7], m.frames[5, 3:7], atol=1e-12)
    np.testing.assert_allclose(f[7:], m.frames[5, 7:], atol=1e-12)
    # Between frames: linear interpolation, then the offset.
    np.testing.assert_allclose(frame_at(m, 2.25)[:2], [2.25, 0.5 * (frames[2, 1] + frames[3, 1])])
    # Without position offsets the motion jumps back.
    m0 = Motion(frames, 0.1, "Wrap", False, False)
    np.testing.assert_allclose(frame_at(m0, 2.5)[:3], [0.5, 0.1, 0.4], atol=1e-12)
    # Negative time runs through earlier cycles.
    np.testing.assert_allclose(frame_at(m, -0.5)[:3], [-0.5, 0.1, 0.4], atol=1e-12)


def test_frame_at_wrap_with_rotation_offset():
    # Straight 1 m along x per 1 s cycle, while turning +90 deg about z (plus base rotation).
    m = _make_motion(n=11, dt=0.1, velocity=(1.0, 0.0, 0.0), yaw_rate=math.pi / 2)
    m = Motion(m.frames, 0.1, "Wrap", True, True)
    delta, h = cycle_offset(m)
    np.testing.assert_allclose(delta, [1.0, 0.0, 0.0], atol=1e-12)
    assert h == pytest.approx(math.pi / 2)
    f = frame_at(m, 2.5)
    # Two cycles: offset delta + Rz(90) delta = (1, 1); the phase position (0.5, 0) is turned
    # by 180 deg about frame 0's root (the origin) -> (-0.5, 0). Total (0.5, 1).
    np.testing.assert_allclose(f[:3], [0.5, 1.0, 0.4], atol=1e-12)
    # Orientation: Rz(180) * Rz(45) * base.
    expected = Rotation.from_euler("z", math.pi + math.pi / 4) * Rotation.from_quat(BASE_QUAT)
    assert abs(np.dot(f[3:7], expected.as_quat())) == pytest.approx(1.0, abs=1e-12)
    # Many cycles: closed form agrees with stepping cycle by cycle (4 cycles = full turn).
    np.testing.assert_allclose(frame_at(m, 4.0)[:3], frame_at(m, 0.0)[:3], atol=1e-9)


def test_frame_at_wrap_is_continuous_on_reference():
    m = load_motion(REFERENCE / "dog_pace.txt")
    for c in (1, 2, 5):
        a = frame_at(m, c * m.duration - 1e-9)
        b = frame_at(m, c * m.duration + 1e-9)
        np.testing.assert_allclose(a[:3], b[:3], atol=1e-6)


def test_frame_at_clamp_and_single_frame():
    m = _make_motion(n=11, dt=0.1, loop_mode="Clamp")
    np.testing.assert_array_equal(frame_at(m, 5.0), m.frames[-1])
    np.testing.assert_array_equal(frame_at(m, -1.0), m.frames[0])
    np.testing.assert_allclose(frame_at(m, 0.35)[:3], [0.35, 0.0, 0.4])
    one = Motion(m.frames[:1], 0.1, "Wrap")
    np.testing.assert_array_equal(frame_at(one, 3.3), m.frames[0])
    with pytest.raises(MotionFormatError):
        frame_at(m, float("nan"))


def test_frame_at_slerp_across_sign_flip():
    m = load_motion(REFERENCE / "turn.txt")  # stored quaternions flip sign at frame 49 -> 50
    q49, q50 = m.root_quat[49], m.root_quat[50]
    assert np.dot(q49, q50) < 0
    mid = frame_at(m, 49.5 * m.frame_duration)[3:7]
    # Halfway along the short arc: equally close to both, as rotations.
    d49 = abs(np.dot(mid, q49))
    d50 = abs(np.dot(mid, q50))
    assert d49 == pytest.approx(d50, abs=1e-9)
    assert d49 > 0.99



# --- MotionSampler -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["turn.txt", "hopturn.txt", "dog_spin.txt"])
def test_sampler_slerp_matches_scipy(name):
    """Root orientation between frames is scipy's slerp; the sign follows the nearer frame."""
    from scipy.spatial.transform import Slerp

    m = load_motion(REFERENCE / name)
    sampler = MotionSampler(m)
    slerp = Slerp(m.times, Rotation.from_quat(m.root_quat))
    k = np.arange(m.num_frames - 1)
    for u in (0.1, 0.25, 0.5, 0.75, 0.9):
        for i in k:
            q = sampler.at_phase((i + u) * m.frame_duration)[3:7]
            expected = slerp((i + u) * m.frame_duration).as_quat()
            assert abs(np.dot(q, expected)) == pytest.approx(1.0, abs=1e-12)
            if u != 0.5:  # (i + 0.5) dt / dt may round either side of 0.5
                nearer = m.root_quat[i] if u < 0.5 else m.root_quat[i + 1]
                assert np.dot(q, nearer) > 0.0
            assert np.linalg.norm(q) == pytest.approx(1.0, abs=1e-14)


def test_sampler_rows_at_frames_are_frames_and_velocities():
    m = load_motion(REFERENCE / "dog_spin.txt")
    extra = np.arange(m.num_frames * 2, dtype=float).reshape(-1, 2) ** 2
    sampler = MotionSampler(m, extra=extra)
    assert sampler.table.shape == (m.num_frames, ROW_SIZE + 2)
    for k in range(m.num_frames):
        row = sampler.at_phase(k * m.frame_duration)
        np.testing.assert_array_equal(row[:19], m.frames[k])
        np.testing.assert_array_equal(row[ROW_JOINT_VEL], joint_velocity(m)[k])
        np.testing.assert_array_equal(row[ROW_LIN_VEL], root_linear_velocity(m)[k])
        np.testing.assert_array_equal(row[ROW_ANG_VEL], root_angular_velocity(m)[k])
        np.testing.assert_array_equal(row[ROW_SIZE:], extra[k])
    row = sampler.at_phase(3.25 * m.frame_duration)  # everything but the rotation: linear
    np.testing.assert_allclose(np.delete(row, ROW_QUAT), np.delete(
        0.75 * sampler.table[3] + 0.25 * sampler.table[4], ROW_QUAT), rtol=0, atol=1e-12)


def test_sampler_cycle_offsets_turn_velocities_and_keep_the_rest():
    # 1 m/s along x, turning 90 deg per 1 s cycle: every quantity has a closed form.
    m = _make_motion(n=11, dt=0.1, velocity=(1.0, 0.0, 0.0), yaw_rate=math.pi / 2)
    m = Motion(m.frames, 0.1, "Wrap", True, True)
    extra = np.linspace(0.0, 1.0, 11)[:, None]
    sampler = MotionSampler(m, extra=extra)
    assert sampler.cycle_heading == pytest.approx(math.pi / 2)
    np.testing.assert_allclose(sampler.cycle_position, [1.0, 0.0, 0.0], atol=1e-12)
    for t, turns in ((2.5, 2), (1.25, 1), (-0.75, -1)):
        row = sampler.sample(t)
        a = turns * math.pi / 2
        np.testing.assert_allclose(row[ROW_LIN_VEL], [math.cos(a), math.sin(a), 0.0], atol=1e-12)
        np.testing.assert_allclose(row[ROW_ANG_VEL], [0.0, 0.0, math.pi / 2], atol=1e-12)
        np.testing.assert_allclose(row[ROW_JOINT_VEL], 0.5, atol=1e-12)
        np.testing.assert_allclose(row[ROW_SIZE:], t - turns, atol=1e-12)  # extra: not moved
        np.testing.assert_array_equal(row[:19], frame_at(m, t))
    assert sampler.cycle_and_phase(2.5) == (2, pytest.approx(0.5))
    assert sampler.cycle_and_phase(-0.75) == (-1, pytest.approx(0.25))


def test_sampler_base_to_body_rotates_only_the_orientation():
    m = load_motion(REFERENCE / "dog_spin.txt")
    c = np.array([-0.5, -0.5, -0.5, 0.5])  # Laikago's base rotation, undone
    plain, body = MotionSampler(m), MotionSampler(m, base_to_body=c)
    for t in (0.0, 0.1234, 0.75, 2.3456, -1.1):
        a, b = plain.sample(t), body.sample(t)
        np.testing.assert_allclose(np.delete(b, ROW_QUAT), np.delete(a, ROW_QUAT), atol=1e-12)
        expected = Rotation.from_quat(a[ROW_QUAT]) * Rotation.from_quat(c)
        assert abs(np.dot(b[ROW_QUAT], expected.as_quat())) == pytest.approx(1.0, abs=1e-12)


def test_sampler_clamp_and_one_frame_hold():
    m = _make_motion(n=11, dt=0.1, loop_mode="Clamp")
    sampler = MotionSampler(m)
    assert not sampler.wrap and sampler.cycle_and_phase(7.0) == (0, pytest.approx(1.0))
    np.testing.assert_array_equal(sampler.sample(7.0), sampler.table[-1])
    np.testing.assert_array_equal(sampler.sample(-7.0), sampler.table[0])
    one = MotionSampler(Motion(m.frames[:1], 0.1, "Wrap"))
    assert not one.wrap and one.duration == 0.0
    np.testing.assert_array_equal(one.sample(3.3)[:19], m.frames[0])
    np.testing.assert_array_equal(one.sample(3.3)[19:], 0.0)

# --- bad input -----------------------------------------------------------------------------


def _raises(path: Path, line: int | None, match: str) -> MotionFormatError:
    with pytest.raises(MotionFormatError, match=match) as info:
        load_motion(path)
    err = info.value
    assert err.path == path
    assert err.line == line
    assert str(path) in str(err)
    if line is not None:
        assert f"line {line}" in str(err)
    return err


def test_load_missing_file(tmp_path):
    _raises(tmp_path / "nope.txt", None, "not found")


def test_load_invalid_json_reports_line(tmp_path):
    path = _write_motion_text(tmp_path / "m.txt", [GOOD_FRAME, GOOD_FRAME])
    lines = path.read_text().splitlines()
    lines[9] = lines[9].replace(", ", " ", 1)  # a missing comma in frame 1 (line 10)
    path.write_text("\n".join(lines))
    err = _raises(path, 10, "not valid JSON")
    assert "Expecting ',' delimiter" in str(err)


def test_load_missing_key(tmp_path):
    path = _write_motion_text(tmp_path / "m.txt", [GOOD_FRAME], FrameDuration=None)
    _raises(path, None, 'missing key "FrameDuration"')


def test_load_optional_flags_default_false(tmp_path):
    path = _write_motion_text(
        tmp_path / "m.txt",
        [GOOD_FRAME],
        EnableCycleOffsetPosition=None,
        EnableCycleOffsetRotation=None,
    )
    m = load_motion(path)
    assert m.enable_cycle_offset_position is False
    assert m.enable_cycle_offset_rotation is False


def test_load_empty_frames(tmp_path):
    path = _write_motion_text(tmp_path / "m.txt", [])
    _raises(path, 8, "empty")


def test_load_wrong_frame_length_reports_frame_line(tmp_path):
    short = "[0, 0, 0.44, 0.5, 0.5, 0.5, 0.5, " + ", ".join(["0.1"] * 11) + "]"
    path = _write_motion_text(tmp_path / "m.txt", [GOOD_FRAME, GOOD_FRAME, short, GOOD_FRAME])
    _raises(path, 11, "frame 2 has 18 values")


def test_load_wrong_frame_length_multi_line_frames(tmp_path):
    good = json.loads(GOOD_FRAME)
    frames = [good, good, good[:-1]]
    text = json.dumps({"LoopMode": "Clamp", "FrameDuration": 0.1, "Frames": frames}, indent=2)
    path = tmp_path / "indented.txt"
    path.write_text(text)
    # Find frame 2's opening bracket the hard way: the 4th "[" after "Frames" (one per frame).
    start = text.index('"Frames"')
    opens = [i for i, ch in enumerate(text) if ch == "[" and i > start]
    expected_line = text.count("\n", 0, opens[3]) + 1
    _raises(path, expected_line, "frame 2 has 18 values")


def test_load_nan_reports_line(tmp_path):
    bad = GOOD_FRAME.replace("0.44", "NaN")
    path = _write_motion_text(tmp_path / "m.txt", [GOOD_FRAME, bad])
    _raises(path, 10, "frame 1, value 2: not finite")


def test_load_non_numeric_reports_line(tmp_path):
    bad = GOOD_FRAME.replace("0.44", '"0.44"')
    path = _write_motion_text(tmp_path / "m.txt", [GOOD_FRAME, GOOD_FRAME, bad])
    _raises(path, 11, "frame 2, value 2: not a number")


def test_load_bad_quaternion_reports_line(tmp_path):
    bad = GOOD_FRAME.replace("0.5, 0.5, 0.5, 0.5", "0.5, 0.5, 0.5, 0.0")
    path = _write_motion_text(tmp_path / "m.txt", [GOOD_FRAME, bad])
    _raises(path, 10, "quaternion norm")


def test_load_frame_duration_zero(tmp_path):
    path = _write_motion_text(tmp_path / "m.txt", [GOOD_FRAME], FrameDuration="0")
    _raises(path, 3, "FrameDuration")


def test_load_frame_duration_wrong_type(tmp_path):
    path = _write_motion_text(tmp_path / "m.txt", [GOOD_FRAME], FrameDuration='"fast"')
    _raises(path, 3, "must be a number")


def test_load_bad_loop_mode(tmp_path):
    path = _write_motion_text(tmp_path / "m.txt", [GOOD_FRAME], LoopMode='"Loop"')
    _raises(path, 2, "LoopMode")


def test_load_bad_flag_type(tmp_path):
    path = _write_motion_text(tmp_path / "m.txt", [GOOD_FRAME], EnableCycleOffsetRotation="1")
    _raises(path, 5, "EnableCycleOffsetRotation")


def test_load_top_level_not_object(tmp_path):
    path = tmp_path / "m.txt"
    path.write_text("\n[1, 2]\n")
    _raises(path, 2, "JSON object")


# --- failing saves -------------------------------------------------------------------------


def test_failing_save_leaves_existing_file_untouched(tmp_path, monkeypatch):
    path = tmp_path / "m.txt"
    path.write_text("old content")
    m = _make_motion(n=3)

    def broken_write(p, text):
        def write(f):
            f.write(text[:50].encode())
            raise OSError(28, "No space left on device")

        return atomic_write(p, write)

    monkeypatch.setattr(motion_mod, "atomic_write_text", broken_write)
    with pytest.raises(MotionFormatError, match="No space left") as info:
        save_motion(m, path)
    assert info.value.path == path
    assert path.read_text() == "old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.txt"]  # no temp file left


def test_save_to_directory_fails_cleanly(tmp_path):
    target = tmp_path / "a_dir"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    with pytest.raises(MotionFormatError) as info:
        save_motion(_make_motion(n=3), target)
    assert info.value.path == target
    assert (target / "keep.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_dir"]
