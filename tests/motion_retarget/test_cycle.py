"""Cutting a loopable cycle out of a long clip, turning strides included."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from motion_retarget.cycle import cut_cycle, find_cycle
from motion_retarget.motion import Motion, heading_change
from motion_retarget.motion_file import load_motion
from motion_retarget.sampler import MotionSampler
from tests.conftest import MOCAP_RAW, REPO

TROT = REPO / "data" / "motions" / "go2_trot.txt"


def _repeat(motion: Motion, times: int) -> Motion:
    """A Wrap motion played ``times`` cycles as one long motion (cycle offsets applied)."""
    sampler = MotionSampler(motion)
    n = motion.num_frames - 1
    t = np.arange(times * n + 1) * motion.frame_duration
    frames = np.array([sampler.sample(float(x))[:19] for x in t])
    return Motion(frames=frames, frame_duration=motion.frame_duration, loop_mode="Wrap",
                  enable_cycle_offset_position=True, enable_cycle_offset_rotation=False)


def test_a_repeated_gait_gives_back_its_own_cycle():
    trot = load_motion(TROT)
    long = _repeat(trot, 4)
    cycle = find_cycle(long, "go2")
    assert cycle.end - cycle.start == trot.num_frames - 1
    assert cycle.seam_error < 1e-6
    assert abs(cycle.heading_change) < 0.05
    cut = cut_cycle(long, cycle, "go2")
    assert not cut.enable_cycle_offset_rotation
    assert np.allclose(cut.root_pos[0, :2], 0.0)


def _yaw(quat: np.ndarray) -> float:
    """Heading of the body x axis (the Go2's base frame is its body frame)."""
    x, y, z, w = quat
    return math.atan2(2 * (x * y + z * w), 1 - 2 * (y * y + z * z))


def wrap_angle(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def test_a_turning_clip_loops_as_a_turn(tmp_path):
    out, report = tmp_path / "turn.txt", tmp_path / "turn.json"
    proc = subprocess.run(
        [sys.executable, "-m", "quadmimic", "retarget",
         str(MOCAP_RAW / "dog_turn00_joint_pos.txt"), "--robot", "go2", "--start", "5.47",
         "--end", "12.47", "--cycle", "auto", "--out", str(out), "--report", str(report)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    motion = load_motion(out)
    rep = json.loads(report.read_text())
    cyc = rep["cycle"]
    assert 0.3 <= cyc["seconds"] <= 1.2
    assert motion.num_frames == cyc["source_frames"][1] - cyc["source_frames"][0] + 1
    assert motion.enable_cycle_offset_rotation and cyc["cycle_offset_rotation"]
    # The dog spins: the cycle keeps its heading change, and each loop carries it on.
    assert abs(cyc["heading_change_rad"]) > 1.0
    assert heading_change(motion.root_quat[0], motion.root_quat[-1]) == pytest.approx(
        cyc["heading_change_rad"], abs=1e-6)
    assert np.allclose(motion.joints[-1], motion.joints[0])
    assert rep["all"]["joint_limit_violations"] == 0
    sampler = MotionSampler(motion)
    eps = 1e-4
    for k in (1, 2, 3):
        before, after = sampler.sample(k * motion.duration - eps), sampler.sample(
            k * motion.duration + eps)
        assert np.linalg.norm(before[:3] - after[:3]) < 0.01
        assert abs(wrap_angle(_yaw(before[3:7]) - _yaw(after[3:7]))) < 0.02
        assert np.max(np.abs(before[7:19] - after[7:19])) < 0.02
    # Three loops turn three times the cycle's heading change.
    total = _yaw(sampler.sample(3 * motion.duration)[3:7]) - _yaw(sampler.sample(0.0)[3:7])
    assert wrap_angle(total - 3 * cyc["heading_change_rad"]) == pytest.approx(0.0, abs=1e-6)
    assert math.isfinite(cyc["seam_joint_rms_rad"])


def test_cycle_and_loop_options_are_checked(tmp_path):
    for args in (["--cycle", "best"], ["--loop", "bounce"]):
        proc = subprocess.run(
            [sys.executable, "-m", "quadmimic", "retarget", str(TROT), "--from", "go2",
             "--robot", "go1", "--out", str(tmp_path / "x.txt"), *args],
            capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2
        assert len(proc.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "x.txt").exists()


def test_a_motion_can_be_written_to_play_once(tmp_path):
    out = tmp_path / "once.txt"
    proc = subprocess.run(
        [sys.executable, "-m", "quadmimic", "retarget", str(TROT), "--from", "go2",
         "--robot", "go1", "--out", str(out), "--loop", "clamp"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert load_motion(out).loop_mode == "Clamp"
