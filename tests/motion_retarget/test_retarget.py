"""Retargeting end to end on real clips: the quality targets, unseen variants, odd segments."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from motion_retarget.bench import unseen_variants
from motion_retarget.kinematics import robot_model
from motion_retarget.mocap import load_keypoint_txt
from motion_retarget.motion_file import load_motion
from motion_retarget.quality import quality_report
from motion_retarget.retarget import RetargetConfig, retarget
from tests.conftest import DEFAULT_CLIPS, MOCAP_RAW, REFERENCE_MOTIONS

ROBOTS = ["a1", "laikago", "go1", "go2"]


def _check_targets(rep: dict) -> None:
    loco = rep["locomotion"]
    assert loco["frames"] > 0
    assert loco["stance_slide_max_m"] < 0.01
    assert loco["penetration_max_m"] < 0.005
    assert loco["joint_limit_violations"] == 0
    assert loco["contact_agreement"] >= 0.85
    assert rep["finite"]


@pytest.mark.parametrize("robot", ROBOTS)
@pytest.mark.parametrize("clip", ["dog_trot", "dog_pace"])
def test_default_clips_meet_targets_on_every_robot(robot, clip):
    c = load_keypoint_txt(DEFAULT_CLIPS / f"{clip}_joint_pos.txt")
    result = retarget(c, robot)
    assert result.motion.num_frames == c.num_frames  # keeps frame count and rate
    assert result.motion.frame_duration == pytest.approx(1.0 / 60.0)
    rep = quality_report(result)
    _check_targets(rep)
    assert rep["all"]["joint_limit_violations"] == 0


def test_knees_stay_clear_of_the_ground():
    """Dog front legs fold the wrist to lift the paw; the A1 would drop its knee instead."""
    clip = load_keypoint_txt(DEFAULT_CLIPS / "dog_trot_joint_pos.txt")
    rm = robot_model("a1")

    def lowest_knee(motion) -> float:
        low = np.inf
        for frame in np.asarray(motion.frames):
            rm.foot_positions(rm.q_of(frame))
            low = min(low, min(rm.data.oMf[int(f)].translation[2] for f in rm.knee_ids))
        return float(low)

    guarded = retarget(clip, "a1").motion
    free = retarget(clip, "a1", RetargetConfig(knee_clearance=0.0)).motion
    assert lowest_knee(free) < 0.05  # the clip does drive the knee down
    assert lowest_knee(guarded) >= RetargetConfig().knee_clearance - 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("clip", ["dog_walk03", "dog_run02", "dog_turn00"])
def test_long_clips_meet_targets(clip):
    c = load_keypoint_txt(MOCAP_RAW / f"{clip}_joint_pos.txt")
    rep = quality_report(retarget(c, "a1"))
    _check_targets(rep)


@pytest.mark.parametrize("robot", ["a1", "go2"])
def test_unseen_variants_meet_targets(robot):
    """Turned, moved and noisy versions of a clip it was never tuned on."""
    c = load_keypoint_txt(MOCAP_RAW / "dog_run01_joint_pos.txt")
    for name, variant in unseen_variants(c, np.random.default_rng(1)).items():
        rep = quality_report(retarget(variant, robot))
        _check_targets(rep)
        assert rep["unmatched"]["frames"] == 0, name


def test_result_does_not_depend_on_heading_or_position():
    c = load_keypoint_txt(DEFAULT_CLIPS / "dog_pace_joint_pos.txt")
    base = retarget(c, "a1").motion.frames
    for name, variant in unseen_variants(c, np.random.default_rng(0)).items():
        if name.startswith("noise"):
            continue
        frames = retarget(variant, "a1").motion.frames
        # Joints agree up to IK convergence noise (3 warm-started steps per frame).
        np.testing.assert_allclose(frames[:, 7:], base[:, 7:], atol=0.02, err_msg=name)
        np.testing.assert_allclose(frames[:, 2], base[:, 2], atol=1e-3, err_msg=name)
        np.testing.assert_allclose(frames[0, :2], 0.0, atol=1e-12)


@pytest.mark.slow
def test_sitting_and_lying_segments_are_flagged_not_crashed():
    """dog_run04 holds long lying segments (pelvis near 8 cm): no NaN, limits kept."""
    c = load_keypoint_txt(MOCAP_RAW / "dog_run04_joint_pos.txt")
    result = retarget(c, "laikago")
    rep = quality_report(result)
    assert rep["finite"]
    assert rep["all"]["joint_limit_violations"] == 0
    assert rep["all"]["penetration_max_m"] < 0.005
    assert rep["locomotion"]["frames"] < 0.6 * rep["frames"]  # the lying part is not locomotion
    _check_targets(rep)


def test_matches_the_paper_laikago_reference_up_to_the_mirror():
    """walk00 frames 162-201 retargeted onto Laikago against the paper code's dog_pace.txt.

    Our text-clip convention is the mirror image of motion_imitation's Laikago retarget (see
    motion_retarget.mocap), so the reference is compared with its left and right legs
    swapped. Sagittal joints follow it closely; the height differs (other scale).
    """
    c = load_keypoint_txt(MOCAP_RAW / "dog_walk00_joint_pos.txt").window(162 / 60, 200 / 60)
    ours = retarget(c, "laikago").motion.frames[:, 7:]
    ref = load_motion(REFERENCE_MOTIONS / "dog_pace.txt").frames[:, 7:]
    assert ours.shape == ref.shape
    mirrored = ref[:, [3, 4, 5, 0, 1, 2, 9, 10, 11, 6, 7, 8]]
    corr = [np.corrcoef(ours[:, j], mirrored[:, j])[0, 1] for j in range(12)]
    assert min(corr[j] for j in (1, 2, 4, 5, 7, 8, 10, 11)) > 0.9, corr
    assert min(corr[j] for j in (0, 3, 6, 9)) > 0.75, corr
    hip = [1, 4, 7, 10]
    assert np.abs(ours[:, hip] - mirrored[:, hip]).mean() < 0.15


def test_pinning_is_what_removes_skating():
    """Without stance pinning the same clip skates; with it, it does not."""
    c = load_keypoint_txt(MOCAP_RAW / "dog_run02_joint_pos.txt")
    pinned = quality_report(retarget(c, "a1"))["locomotion"]["stance_slide_max_m"]
    raw = quality_report(retarget(c, "a1", RetargetConfig(pin_contacts=False)))
    assert pinned < 0.01 < raw["locomotion"]["stance_slide_max_m"]


def test_explicit_scale_is_used():
    c = load_keypoint_txt(DEFAULT_CLIPS / "dog_trot_joint_pos.txt")
    assert retarget(c, "a1", RetargetConfig(scale=0.5)).scale == 0.5


def test_window_keeps_source_frame_numbers_in_the_report():
    c = load_keypoint_txt(MOCAP_RAW / "dog_walk03_joint_pos.txt").window(1.0, 2.0)
    result = retarget(c, "a1")
    assert result.source_start_frame == 60
    assert dataclasses.asdict(RetargetConfig())  # the config is a plain frozen dataclass


ALL_CLIPS = sorted(p.name.removesuffix("_joint_pos.txt") for p in MOCAP_RAW.glob("*_joint_pos.txt"))


@pytest.mark.slow
@pytest.mark.parametrize("clip", ALL_CLIPS)
def test_every_dog_clip_on_every_robot(clip):
    """Every dog clip of data/mocap meets the quality targets on all four robots."""
    assert len(ALL_CLIPS) == 15
    c = load_keypoint_txt(MOCAP_RAW / f"{clip}_joint_pos.txt")
    for robot in ROBOTS:
        rep = quality_report(retarget(c, robot))
        assert rep["finite"] and rep["frames"] == c.num_frames
        assert rep["all"]["joint_limit_violations"] == 0
        assert rep["all"]["penetration_max_m"] < 0.005
        if rep["locomotion"]["frames"]:
            _check_targets(rep)
