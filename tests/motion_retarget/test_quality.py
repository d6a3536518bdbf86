"""The quality report's figures on hand-made motions whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from motion_retarget.kinematics import robot_model
from motion_retarget.motion import Motion
from motion_retarget.quality import quality_report
from motion_retarget.retarget import RetargetResult


def _standing_result(root_dx: np.ndarray, sink: float = 0.0) -> RetargetResult:
    rm = robot_model("a1")
    q = rm.standing_q()
    num = len(root_dx)
    frames = np.tile(rm.frame_of(q), (num, 1))
    frames[:, 0] += root_dx
    frames[:, 2] -= sink
    feet = rm.feet_of_frames(frames)
    stance = np.ones((num, 4), dtype=bool)
    return RetargetResult(
        motion=Motion(frames=frames, frame_duration=0.02, loop_mode="Wrap"), robot="a1",
        scale=1.0, stance=stance, clip_contacts=stance.copy(), foot_targets=feet,
        raw_foot_targets=feet + [0.03, 0.0, 0.0], keypoints=np.zeros((num, 1, 3)),
        locomotion=np.ones(num, dtype=bool), ik_seconds=0.5, ik_steps=3 * num)


def test_sliding_stance_feet_are_measured():
    # The whole standing robot slides 0 → 4 cm while every foot is in stance.
    rep = quality_report(_standing_result(np.linspace(0.0, 0.04, 11)))
    block = rep["all"]
    assert block["stance_phases"] == 4
    assert block["stance_slide_max_m"] == pytest.approx(0.04)
    assert block["stance_slide_mean_m"] == pytest.approx(0.04)
    assert block["toe_error_mean_m"] == pytest.approx(0.03)  # raw targets 3 cm off
    assert block["ik_target_error_max_m"] == pytest.approx(0.0, abs=1e-12)
    assert block["penetration_max_m"] == pytest.approx(0.0, abs=1e-12)
    assert block["contact_agreement"] == 1.0
    assert block["joint_speed_max_rad_s"] == pytest.approx(0.0, abs=1e-9)
    assert rep["frames"] == 11 and rep["seconds"] == pytest.approx(0.2)
    assert rep["timing"]["ik_frames_per_second"] == pytest.approx(22.0)


def test_penetration_and_limits_are_measured():
    result = _standing_result(np.zeros(5), sink=0.007)
    rep = quality_report(result)
    assert rep["all"]["penetration_max_m"] == pytest.approx(0.007)
    frames = result.motion.frames.copy()
    frames[2, 7 + 2] = -3.0  # FR knee past its lower limit (-2.70 rad)
    bad = RetargetResult(**{**result.__dict__, "motion": Motion(frames=frames,
                                                                frame_duration=0.02,
                                                                loop_mode="Wrap")})
    assert quality_report(bad)["all"]["joint_limit_violations"] == 1
