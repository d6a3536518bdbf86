"""Quality report of a retargeted motion: how well it copies the clip and obeys physics.

Every figure is measured on the written motion (forward kinematics of its frames), against
the clip's scaled keypoints and contacts. Figures are given for all frames and for the
locomotion frames (upright and travelling), which are the frames a robot can be expected to
copy; frames where a foot misses its target by more than the threshold are listed as
unmatched (sitting, lying, legs out of reach), with source-clip frame numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from motion_retarget.contacts import stance_runs
from motion_retarget.kinematics import RobotModel, robot_model
from motion_retarget.retarget import RetargetConfig, RetargetResult


def _ranges(mask: np.ndarray, offset: int) -> list[list[int]]:
    """Inclusive [first, last] frame ranges (shifted by ``offset``) of a boolean mask."""
    padded = np.r_[False, mask, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [[int(a) + offset, int(b) - 1 + offset] for a, b in zip(edges[::2], edges[1::2],
                                                                   strict=True)]


def _block(
    sel: np.ndarray,
    feet: np.ndarray,
    joints: np.ndarray,
    result: RetargetResult,
    rm: RobotModel,
    contact_height: float,
) -> dict[str, Any]:
    """Figures over the frames selected by ``sel`` (T,) bool."""
    spec = rm.spec
    n = int(np.count_nonzero(sel))
    if n == 0:
        return {"frames": 0}
    f = feet[sel]
    toe_err = np.linalg.norm(f - result.raw_foot_targets[sel], axis=-1)
    ik_err = np.linalg.norm(f - result.foot_targets[sel], axis=-1)
    slides = []
    for foot, runs in enumerate(stance_runs(result.stance)):
        for a, b in runs:
            if not np.all(sel[a:b]):
                continue
            xy = feet[a:b, foot, :2]
            slides.append(float(np.max(np.linalg.norm(xy - xy[0], axis=-1))))
    pen = np.maximum(spec.foot_radius - f[..., 2], 0.0)
    j = joints[sel]
    violations = int(np.count_nonzero((j < spec.lower) | (j > spec.upper)))
    speed = np.abs(np.gradient(joints, result.motion.frame_duration, axis=0))[sel] if len(
        joints) > 1 else np.zeros_like(j)
    robot_contact = (f[..., 2] - spec.foot_radius) < result.scale * contact_height
    agree = float(np.mean(robot_contact == result.clip_contacts[sel]))
    return {
        "frames": n,
        "toe_error_mean_m": float(toe_err.mean()),
        "toe_error_max_m": float(toe_err.max()),
        "ik_target_error_mean_m": float(ik_err.mean()),
        "ik_target_error_max_m": float(ik_err.max()),
        "stance_phases": len(slides),
        "stance_slide_mean_m": float(np.mean(slides)) if slides else 0.0,
        "stance_slide_max_m": float(np.max(slides)) if slides else 0.0,
        "penetration_max_m": float(pen.max()),
        "joint_limit_violations": violations,
        "contact_agreement": agree,
        "joint_speed_max_rad_s": float(speed.max()),
        "joint_speed_over_limit_frames": int(np.count_nonzero(
            np.any(speed > spec.velocity_limits_array, axis=1))),
    }


def quality_report(
    result: RetargetResult,
    config: RetargetConfig | None = None,
    *,
    seconds: float | None = None,
    clip_name: str | None = None,
) -> dict[str, Any]:
    """The quality report (JSON-ready dict) of a retargeting result.

    Args:
        result: What :func:`motion_retarget.retarget.retarget` returned.
        config: The config it ran with (for the contact and unmatched thresholds).
        seconds: Wall time of the whole retargeting job (load to write), for frames/s.
        clip_name: Name of the source clip to record.

    Returns:
        Dict with ``clip``, ``robot``, ``frames``, ``seconds``, ``scale``, ``all`` and
        ``locomotion`` figure blocks, ``unmatched`` frames and ``timing``.
    """
    cfg = config or RetargetConfig()
    rm = robot_model(result.robot)
    frames = result.motion.frames
    feet = rm.feet_of_frames(frames)
    joints = frames[:, 7:]
    everything = np.ones(len(frames), dtype=bool)
    worst = np.linalg.norm(feet - result.foot_targets, axis=-1).max(axis=1)
    unmatched = worst > cfg.unmatched_error
    num = len(frames)
    report: dict[str, Any] = {
        "clip": clip_name,
        "robot": result.robot,
        "frames": num,
        "seconds": float((num - 1) * result.motion.frame_duration),
        "fps": float(1.0 / result.motion.frame_duration),
        "scale": result.scale,
        "finite": bool(np.all(np.isfinite(frames))),
        "all": _block(everything, feet, joints, result, rm, cfg.contact_height),
        "locomotion": _block(result.locomotion, feet, joints, result, rm, cfg.contact_height),
        "unmatched": {
            "frames": int(np.count_nonzero(unmatched)),
            "threshold_m": cfg.unmatched_error,
            "source_frame_ranges": _ranges(unmatched, result.source_start_frame),
        },
        "timing": {
            "ik_seconds": result.ik_seconds,
            "ik_steps_per_frame": result.ik_steps / max(num, 1),
            "ik_frames_per_second": num / max(result.ik_seconds, 1e-9),
        },
    }
    if seconds is not None:
        report["timing"]["total_seconds"] = seconds
        report["timing"]["frames_per_second"] = num / max(seconds, 1e-9)
    return report
