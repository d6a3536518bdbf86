"""The retargeting benchmark (``quadmimic bench retarget``): every clip onto every robot.

:func:`bench_retarget` retargets every clip of a folder onto every robot, plus versions of the
clips it was never tuned on (:func:`unseen_variants`), takes the worst locomotion figures of
all runs and times the retarget command end to end as a fresh process on one core
(:func:`end_to_end`); it returns the JSON-ready figures against :data:`RETARGET_TARGETS`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from motion_retarget.mocap import Clip, load_clip
from motion_retarget.quality import quality_report
from motion_retarget.retarget import retarget

RETARGET_TARGETS = {
    "stance_slide_max_m": 0.01,
    "penetration_max_m": 0.005,
    "joint_limit_violations": 0,
    "contact_agreement_min": 0.85,
    "end_to_end_frames_per_second": 1200.0,
}
"""Quality targets a retargeted clip meets, on the locomotion parts of the clips."""


def unseen_variants(clip: Clip, rng: np.random.Generator) -> dict[str, Clip]:
    """Versions of a clip it was never tuned on: turned, moved, and with marker noise.

    Returns:
        Name → clip: ``heading_40deg`` and ``heading_135deg`` (turned about the vertical),
        ``moved`` (translated 3 m, −2 m, +0.05 m), ``noise_5mm`` (Gaussian marker noise,
        σ = 5 mm per coordinate per frame).
    """
    out: dict[str, Clip] = {}
    for deg in (40.0, 135.0):
        a = np.deg2rad(deg)
        rot = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0, 0, 1]])
        out[f"heading_{deg:.0f}deg"] = dataclasses.replace(clip, positions=clip.positions @ rot.T)
    out["moved"] = dataclasses.replace(clip, positions=clip.positions + np.array([3.0, -2.0, 0.05]))
    noisy = clip.positions + rng.normal(0.0, 0.005, clip.positions.shape)
    out["noise_5mm"] = dataclasses.replace(clip, positions=noisy)
    return out


def end_to_end(clip: Path, robot: str, command: Sequence[str]) -> dict[str, Any]:
    """Time the retarget command as a fresh process on one core (start-up included).

    Args:
        clip: The clip to retarget.
        robot: The robot to retarget it onto.
        command: The retarget command line as a user runs it, without its arguments
            (``quadmimic bench retarget`` gives ``python -m quadmimic retarget``); it is
            called with the clip, ``--robot`` and ``--out``.

    Returns:
        The clip's name, robot, frames, seconds and frames per second.
    """
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [*command, str(clip), "--robot", robot, "--out", str(Path(tmp) / "m.txt")]
        cpu = min(os.sched_getaffinity(0))
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True,
                       preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
        seconds = time.perf_counter() - start
        frames = len(json.loads((Path(tmp) / "m.txt").read_text())["Frames"])
    return {"clip": clip.name, "robot": robot, "frames": frames, "seconds": seconds,
            "frames_per_second": frames / seconds, "cores": 1,
            "includes": "process start, imports, load, retarget, write"}


def bench_retarget(
    folder: Path,
    robots: Sequence[str],
    *,
    command: Sequence[str],
    variants: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Retarget every clip onto every robot (+ unseen variants); figures vs the targets.

    Args:
        folder: Folder of ``*_joint_pos.txt`` clips.
        robots: The robots; the first one is also timed end to end.
        command: The retarget command line timed end to end (see :func:`end_to_end`), on
            ``dog_walk09`` when the folder has it, else on its first clip.
        variants: Also run the :func:`unseen_variants` of every clip of at most 1500 frames.
        progress: Called with (runs done, runs in all) as the runs go.

    Returns:
        The JSON-ready figures: ``clips_folder``, ``robots``, ``targets``,
        ``worst_locomotion``, ``end_to_end``, ``pass`` and one row per run in ``runs``.
    """
    files = sorted(folder.glob("*_joint_pos.txt"))
    robot_list = list(robots)
    rng = np.random.default_rng(0)
    jobs: list[tuple[str, str, Clip]] = []
    for f in files:
        clip = load_clip(f)
        jobs.append((f.stem.removesuffix("_joint_pos"), "original", clip))
        if variants and clip.num_frames <= 1500:
            jobs += [(f.stem.removesuffix("_joint_pos"), k, c)
                     for k, c in unseen_variants(clip, rng).items()]
    rows: list[dict[str, Any]] = []
    total = len(jobs) * len(robot_list)
    if progress is not None:
        progress(0, total)
    for name, variant, clip in jobs:
        for robot in robot_list:
            start = time.perf_counter()
            result = retarget(clip, robot)
            rep = quality_report(result, seconds=time.perf_counter() - start, clip_name=name)
            rows.append({"clip": name, "variant": variant, "robot": robot,
                         "frames": rep["frames"], "locomotion": rep["locomotion"],
                         "all": rep["all"], "unmatched_frames": rep["unmatched"]["frames"],
                         "finite": rep["finite"],
                         "frames_per_second": rep["timing"]["frames_per_second"]})
            if progress is not None:
                progress(len(rows), total)
    loco = [r["locomotion"] for r in rows if r["locomotion"]["frames"] > 0]
    worst = {
        "stance_slide_max_m": max(b["stance_slide_max_m"] for b in loco),
        "penetration_max_m": max(b["penetration_max_m"] for b in loco),
        "joint_limit_violations": sum(b["joint_limit_violations"] for b in loco),
        "contact_agreement_min": min(b["contact_agreement"] for b in loco),
        "all_finite": all(r["finite"] for r in rows),
        "all_frames_penetration_max_m": max(r["all"]["penetration_max_m"] for r in rows),
        "all_frames_joint_limit_violations": sum(r["all"]["joint_limit_violations"]
                                                 for r in rows),
    }
    walk09 = folder / "dog_walk09_joint_pos.txt"
    e2e = end_to_end(walk09 if walk09.is_file() else files[0], robot_list[0], command)
    t = RETARGET_TARGETS
    passed = {
        "stance_slide": worst["stance_slide_max_m"] < t["stance_slide_max_m"],
        "penetration": worst["penetration_max_m"] < t["penetration_max_m"],
        "joint_limits": worst["joint_limit_violations"] == t["joint_limit_violations"],
        "contact_agreement": worst["contact_agreement_min"] >= t["contact_agreement_min"],
        "speed": e2e["frames_per_second"] >= t["end_to_end_frames_per_second"],
    }
    return {"clips_folder": str(folder), "robots": robot_list, "targets": t,
            "worst_locomotion": worst, "end_to_end": e2e, "pass": passed, "runs": rows}
