"""Robot-to-robot retargeting: the paper's ten Laikago motions onto the Unitree robots."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from motion_retarget.job import retarget_motion_file
from motion_retarget.kinematics import robot_model
from motion_retarget.motion import cycle_offset, heading_change
from motion_retarget.motion_file import load_motion
from motion_retarget.quality import quality_report
from motion_retarget.robot_clip import clip_from_motion
from tests.conftest import REFERENCE_MOTIONS

MOTIONS = sorted(p.stem for p in REFERENCE_MOTIONS.glob("*.txt"))


def test_the_ten_motions_are_there():
    assert len(MOTIONS) == 10


@pytest.mark.parametrize("robot", ["a1", "go1", "go2"])
def test_every_motion_retargets_within_limits_and_above_ground(robot):
    for name in MOTIONS:
        source = load_motion(REFERENCE_MOTIONS / f"{name}.txt")
        result = retarget_motion_file(REFERENCE_MOTIONS / f"{name}.txt", "laikago", robot)
        rep = quality_report(result)
        assert rep["finite"], name
        assert rep["all"]["joint_limit_violations"] == 0, name
        assert rep["all"]["penetration_max_m"] < 0.005, name
        assert rep["all"]["contact_agreement"] >= 0.85, name
        motion = result.motion
        assert motion.num_frames == source.num_frames, name
        assert motion.frame_duration == pytest.approx(source.frame_duration), name
        assert motion.loop_mode == source.loop_mode, name
        assert (motion.enable_cycle_offset_rotation
                == source.enable_cycle_offset_rotation), name
        # Unreachable frames are listed, not hidden: only the running man has any.
        assert (rep["unmatched"]["frames"] > 0) == (name == "runningman"), name


def test_keypoints_are_the_source_robots_hips_and_toes():
    motion = load_motion(REFERENCE_MOTIONS / "dog_trot.txt")
    clip = clip_from_motion(motion, "laikago")
    rm = robot_model("laikago")
    feet = rm.feet_of_frames(motion.frames)
    assert np.allclose(clip.toes()[..., :2], feet[..., :2])
    assert np.allclose(clip.toes()[..., 2], feet[..., 2] - rm.spec.foot_radius)
    hips = clip.hips()
    # Hips are fixed to the body: their spacing never changes over the clip.
    width = np.linalg.norm(hips[:, 1] - hips[:, 0], axis=1)
    length = np.linalg.norm(hips[:, 0] - hips[:, 2], axis=1)
    assert np.ptp(width) < 1e-9 and np.ptp(length) < 1e-9
    # Pelvis -> neck is the body's forward axis, level with the ground in a trot.
    fwd = clip.neck() - clip.pelvis()
    assert np.all(fwd[:, 0] > 0.9 * np.linalg.norm(fwd, axis=1))


def test_a_spin_keeps_turning_and_a_gait_keeps_its_speed():
    spin_src = load_motion(REFERENCE_MOTIONS / "dog_spin.txt")
    spin = retarget_motion_file(REFERENCE_MOTIONS / "dog_spin.txt", "laikago", "go2").motion
    assert cycle_offset(spin)[1] == pytest.approx(cycle_offset(spin_src)[1], abs=0.05)
    assert abs(cycle_offset(spin)[1]) > 1.5  # rad per cycle, carried on at every loop
    trot_src = load_motion(REFERENCE_MOTIONS / "dog_trot.txt")
    result = retarget_motion_file(REFERENCE_MOTIONS / "dog_trot.txt", "laikago", "go2")
    trot = result.motion
    ratio = (np.linalg.norm(cycle_offset(trot)[0]) / np.linalg.norm(cycle_offset(trot_src)[0]))
    assert ratio == pytest.approx(result.scale, rel=0.05)  # speed scales with the body
    assert heading_change(trot.root_quat[0], trot.root_quat[-1]) == pytest.approx(
        heading_change(trot_src.root_quat[0], trot_src.root_quat[-1]), abs=0.02)


def test_cli_retargets_from_another_robot(tmp_path):
    out, report = tmp_path / "spin.txt", tmp_path / "spin.json"
    proc = subprocess.run(
        [sys.executable, "-m", "quadmimic", "retarget", str(REFERENCE_MOTIONS / "dog_spin.txt"),
         "--from", "laikago", "--robot", "go1", "--out", str(out), "--report", str(report)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    motion = load_motion(out)
    assert motion.enable_cycle_offset_rotation
    rep = json.loads(report.read_text())
    assert rep["source_robot"] == "laikago" and rep["robot"] == "go1"
    assert rep["all"]["joint_limit_violations"] == 0
