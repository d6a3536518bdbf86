"""The retargeting job as users run it: clip file in, motion + report (+ preview) files out.

Nothing is written unless the whole job succeeds, and each file is written atomically, so
a failure never leaves a partial or stale-but-new-looking output behind.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from motion_retarget.cycle import Cycle, cut_cycle, find_cycle
from motion_retarget.mocap import (
    AI4ANIMATION_NAMES,
    AI4ANIMATION_TEXT_NAMES,
    Clip,
    load_clip,
    resolve_roles,
)
from motion_retarget.motion import window
from motion_retarget.motion_file import load_motion, save_motion
from motion_retarget.preview import DOG_PARENTS, render_gif
from motion_retarget.quality import quality_report
from motion_retarget.retarget import RetargetConfig, RetargetResult, retarget
from motion_retarget.robot_clip import PARENTS as ROBOT_PARENTS
from motion_retarget.robot_clip import clip_from_motion
from motion_retarget.roles import load_roles
from quadmimic.core.fileio import atomic_write_text


@dataclass(frozen=True)
class ClipOptions:
    """How to read a clip file."""

    up: str = "y"
    """Up axis of the file: ``"y"`` (the dog clips of ``data/mocap``, BVH) or ``"z"``."""
    units: str | None = None
    """Length unit: ``"m"``, ``"cm"``, ``"mm"``; None = the loader's default (text: m,
    BVH: inferred from the skeleton's size)."""
    fps: float | None = None
    """Frame rate of keypoint text files without a time column (default 60 Hz)."""
    start_s: float | None = None
    """First second of the clip to use (None = from the start)."""
    end_s: float | None = None
    """Last second of the clip to use (None = to the end)."""
    roles: str | Path | None = None
    """Roles file (:mod:`motion_retarget.roles`): which joints play pelvis, neck, hips and
    toes, and how to read the clip (its up axis, units, handedness win over the above);
    None = the AI4Animation dog's roles."""


def load_clip_window(path: str | Path, options: ClipOptions | None = None) -> Any:
    """Load a clip file (text keypoints or BVH) and cut the requested time window."""
    opts = options or ClipOptions()
    kwargs: dict[str, Any] = {"up": opts.up}
    if opts.units is not None:
        kwargs["units"] = opts.units
    bvh = Path(path).suffix.lower() == ".bvh"
    if opts.fps is not None and not bvh:
        kwargs["fps"] = opts.fps
    if opts.roles is not None:
        rf = load_roles(opts.roles)
        kwargs.update({k: v for k, v in (("up", rf.up), ("units", rf.units),
                                         ("handedness", rf.handedness)) if v is not None})
        if bvh:
            kwargs["names"] = rf.roles
        else:
            kwargs["roles"] = resolve_roles(AI4ANIMATION_NAMES, rf.roles, Path(path),
                                            defaults=AI4ANIMATION_TEXT_NAMES)
    clip = load_clip(path, **kwargs)
    if opts.start_s is not None or opts.end_s is not None:
        clip = clip.window(opts.start_s, opts.end_s)
    return clip


def preview_title(robot: str, clip: str | Path) -> str:
    """A preview's caption: the robot, then the clip it copies.

    ASCII only: the renderer's font (Pillow's default) has no arrows.
    """
    return f"{robot} <- {Path(clip).stem}"


def retarget_file(
    clip_path: str | Path,
    robot: str,
    out: str | Path,
    *,
    report: str | Path | None = None,
    preview: str | Path | None = None,
    clip_options: ClipOptions | None = None,
    config: RetargetConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    source_robot: str | None = None,
    clip: Clip | None = None,
    cycle: bool = False,
    loop_mode: str | None = None,
    preview_style: str = "mesh",
) -> tuple[RetargetResult, dict[str, Any]]:
    """Retarget a clip file onto ``robot`` and write the motion (and report, preview).

    Args:
        clip_path: Keypoint text or BVH clip; with ``source_robot``, a reference motion of
            that robot (motion_imitation JSON), whose loop mode and cycle-offset flags the
            written motion keeps.
        robot: Robot name (see ``quadmimic.core.robots.robot_names()``).
        out: Motion file to write (motion_imitation JSON).
        report: Optional quality report JSON to write.
        preview: Optional GIF of the robot beside the clip.
        clip_options: How to read the clip.
        config: Retargeting options.
        progress: IK progress callback ``(done, total)``.
        source_robot: Robot the motion ``clip_path`` was made for (robot-to-robot
            retargeting, :mod:`motion_retarget.robot_clip`); None for an animal clip.
        clip: ``clip_path`` already loaded with ``clip_options`` (:func:`load_clip_window`),
            e.g. by a CLI that checks its input before showing progress.
        cycle: Cut the best loopable cycle (:mod:`motion_retarget.cycle`) out of the result;
            the report then describes that cycle and says where it came from.
        loop_mode: ``"Wrap"`` or ``"Clamp"`` (a one-shot motion) for the written motion; None
            keeps the source motion's (``--from``), else Wrap.
        preview_style: ``mesh`` (the robot's meshes) or ``stick`` (a faster stick figure).

    Returns:
        The retargeting result and its quality report (timing covers load to motion write).
    """
    start = time.perf_counter()
    if source_robot is None:
        if clip is None:
            clip = load_clip_window(clip_path, clip_options)
        result = retarget(clip, robot, config, progress=progress)
    else:
        result = retarget_motion_file(clip_path, source_robot, robot, clip_options, config,
                                      progress)
    found = None
    if cycle:
        found = find_cycle(result.motion, robot)
        result = _cut(result, found, robot)
    if loop_mode is not None:
        result = dataclasses.replace(
            result, motion=dataclasses.replace(result.motion, loop_mode=loop_mode))
    save_motion(result.motion, out)
    seconds = time.perf_counter() - start
    rep = quality_report(result, config, seconds=seconds, clip_name=str(clip_path))
    rep["loop_mode"] = result.motion.loop_mode
    if found is not None:
        rep["cycle"] = {"source_frames": [found.start + result.source_start_frame,
                                          found.end + result.source_start_frame],
                        "seconds": found.seconds, "heading_change_rad": found.heading_change,
                        "seam_joint_rms_rad": found.seam_error,
                        "cycle_offset_rotation": result.motion.enable_cycle_offset_rotation}
    rep["motion_file"] = str(out)
    if source_robot is not None:
        rep["source_robot"] = source_robot
    if preview is not None:
        parents = ROBOT_PARENTS if source_robot is not None else clip.parents or DOG_PARENTS
        render_gif(result.motion, robot, preview, keypoints=result.keypoints, parents=parents,
                   style=preview_style,
                   contacts=result.stance, title=preview_title(robot, clip_path))
        rep["preview_file"] = str(preview)
    if report is not None:
        atomic_write_text(report, json.dumps(rep, indent=2) + "\n")
    return result, rep


def retarget_motion_file(
    path: str | Path,
    source_robot: str,
    robot: str,
    clip_options: ClipOptions | None = None,
    config: RetargetConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RetargetResult:
    """Retarget another robot's reference motion file onto ``robot``.

    Args:
        path: Motion file (motion_imitation JSON) of ``source_robot``.
        source_robot: The robot the motion was made for.
        robot: The robot to retarget onto.
        clip_options: Only ``start_s`` / ``end_s`` apply (a window of the motion).
        config: Retargeting options.
        progress: IK progress callback.

    Returns:
        The result; its motion keeps the source's loop mode and cycle-offset flags.
    """
    source = load_motion(path)
    opts = clip_options or ClipOptions()
    if opts.start_s is not None or opts.end_s is not None:
        source = window(source, 0.0 if opts.start_s is None else opts.start_s,
                        source.duration if opts.end_s is None else opts.end_s)
    clip = clip_from_motion(source, source_robot, path)
    result = retarget(clip, robot, config, progress=progress)
    motion = dataclasses.replace(
        result.motion, loop_mode=source.loop_mode,
        enable_cycle_offset_position=source.enable_cycle_offset_position,
        enable_cycle_offset_rotation=source.enable_cycle_offset_rotation)
    return dataclasses.replace(result, motion=motion)


def _cut(result: RetargetResult, cycle: Cycle, robot: str) -> RetargetResult:
    """The result restricted to ``cycle``: its motion and every per-frame diagnostic."""
    sl = slice(cycle.start, cycle.end + 1)
    motion = cut_cycle(result.motion, cycle, robot)
    shift = np.r_[result.motion.frames[cycle.start, :2], 0.0]
    return dataclasses.replace(
        result, motion=motion, stance=result.stance[sl], clip_contacts=result.clip_contacts[sl],
        foot_targets=result.foot_targets[sl] - shift,
        raw_foot_targets=result.raw_foot_targets[sl] - shift,
        keypoints=result.keypoints[sl] - shift, locomotion=result.locomotion[sl],
        source_start_frame=result.source_start_frame + cycle.start)
