"""The retargeting job as users run it: clip file in, motion + report (+ preview) files out.

Nothing is written unless the whole job succeeds, and each file is written atomically, so
a failure never leaves a partial or stale-but-new-looking output behind.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from motion_retarget.fileio import atomic_write_text
from motion_retarget.mocap import load_clip
from motion_retarget.motion import save_motion
from motion_retarget.preview import render_gif
from motion_retarget.quality import quality_report
from motion_retarget.retarget import RetargetConfig, RetargetResult, retarget


@dataclass(frozen=True)
class ClipOptions:
    """How to read a clip file."""

    up: str = "y"
    """Up axis of the file: ``"y"`` (the shared dog clips, BVH) or ``"z"``."""
    units: str | None = None
    """Length unit: ``"m"``, ``"cm"``, ``"mm"``; None = the loader's default (text: m,
    BVH: inferred from the skeleton's size)."""
    fps: float | None = None
    """Frame rate of keypoint text files without a time column (default 60 Hz)."""
    start_s: float | None = None
    """First second of the clip to use (None = from the start)."""
    end_s: float | None = None
    """Last second of the clip to use (None = to the end)."""


def load_clip_window(path: str | Path, options: ClipOptions | None = None) -> Any:
    """Load a clip file (text keypoints or BVH) and cut the requested time window."""
    opts = options or ClipOptions()
    kwargs: dict[str, Any] = {"up": opts.up}
    if opts.units is not None:
        kwargs["units"] = opts.units
    if opts.fps is not None and Path(path).suffix.lower() != ".bvh":
        kwargs["fps"] = opts.fps
    clip = load_clip(path, **kwargs)
    if opts.start_s is not None or opts.end_s is not None:
        clip = clip.window(opts.start_s, opts.end_s)
    return clip


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
) -> tuple[RetargetResult, dict[str, Any]]:
    """Retarget a clip file onto ``robot`` and write the motion (and report, preview).

    Args:
        clip_path: Keypoint text or BVH clip.
        robot: Robot name (see ``motion_retarget.robots.robot_names()``).
        out: Motion file to write (motion_imitation JSON).
        report: Optional quality report JSON to write.
        preview: Optional GIF of the robot beside the clip.
        clip_options: How to read the clip.
        config: Retargeting options.
        progress: IK progress callback ``(done, total)``.

    Returns:
        The retargeting result and its quality report (timing covers load to motion write).
    """
    start = time.perf_counter()
    clip = load_clip_window(clip_path, clip_options)
    result = retarget(clip, robot, config, progress=progress)
    save_motion(result.motion, out)
    seconds = time.perf_counter() - start
    rep = quality_report(result, config, seconds=seconds, clip_name=str(clip_path))
    rep["motion_file"] = str(out)
    if preview is not None:
        render_gif(result.motion, robot, preview, keypoints=result.keypoints,
                   contacts=result.stance, title=f"{robot} ← {Path(clip_path).stem}")
        rep["preview_file"] = str(preview)
    if report is not None:
        atomic_write_text(report, json.dumps(rep, indent=2) + "\n")
    return result, rep
