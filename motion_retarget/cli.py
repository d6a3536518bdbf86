"""Command-line interface of the retargeting stage: ``quadmimic retarget`` and ``motion``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from quadmimic.core.console import console, progress_bar
from quadmimic.core.options import count, non_negative, output_file, positive

motion_app = typer.Typer(help="Inspect reference motion files.", no_args_is_help=True)


def retarget_command(
    clip: Annotated[Path, typer.Argument(help="Clip: keypoint text (.txt) or BVH (.bvh); with "
                                         "--from, another robot's motion file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Motion file to write.",
                                      callback=output_file)],
    robot: Annotated[str, typer.Option(help="Robot: a1, laikago, go1, go2.")] = "a1",
    report: Annotated[Path | None, typer.Option(help="Quality report JSON.",
                                                callback=output_file)] = None,
    preview: Annotated[Path | None, typer.Option(help="Preview GIF (robot beside clip).",
                                                 callback=output_file)] = None,
    preview_style: Annotated[str, typer.Option(
        help="Preview: mesh (the robot's meshes, TinyRenderer) or stick (faster).")] = "mesh",
    start: Annotated[float | None, typer.Option(help="Start time in the clip (s).",
                                                callback=non_negative)] = None,
    end: Annotated[float | None, typer.Option(help="End time in the clip (s).",
                                              callback=positive)] = None,
    up: Annotated[str, typer.Option(help="Up axis of the clip: y or z.")] = "y",
    units: Annotated[str | None, typer.Option(help="m, cm or mm (default: m; BVH: auto).")] = None,
    fps: Annotated[float | None, typer.Option(help="Frame rate of a text clip (Hz).",
                                              callback=positive)] = None,
    scale: Annotated[float | None, typer.Option(help="Animal→robot scale (default: auto).",
                                                callback=positive)] = None,
    roles: Annotated[Path | None, typer.Option(
        help="Roles file (JSON or TOML): which joints of the clip are pelvis, neck, hips and "
        "toes (FR, FL, RR, RL), and its up axis, units, handedness.")] = None,
    cycle: Annotated[str | None, typer.Option(
        help="'auto': cut the best loopable cycle (0.3-1.2 s) out of the clip; a turning "
        "stride keeps its heading change (EnableCycleOffsetRotation).")] = None,
    loop: Annotated[str | None, typer.Option(
        help="Loop mode of the written motion: wrap (repeats) or clamp (plays once); default: "
        "the source motion's with --from, else wrap.")] = None,
    from_robot: Annotated[str | None, typer.Option(
        "--from", help="The clip is a reference motion of this robot (a1, laikago, go1, go2): "
        "retarget robot to robot.")] = None,
) -> None:
    """Retarget a dog clip (or another robot's motion) onto a robot: a motion_imitation file."""
    from motion_retarget.job import ClipOptions, load_clip_window, retarget_file
    from motion_retarget.motion_file import load_motion
    from motion_retarget.preview import STYLES
    from motion_retarget.retarget import RetargetConfig
    from quadmimic.core.errors import ClipFormatError
    from quadmimic.core.robots import get_robot

    for name in (robot, from_robot):
        if name is not None:
            get_robot(name)  # an unknown robot is a one-line error before any work
    if preview_style not in STYLES:
        raise ClipFormatError(f"--preview-style {preview_style!r}: expected mesh or stick", clip)
    if cycle not in (None, "auto"):
        raise ClipFormatError(f"--cycle {cycle!r}: the only choice is 'auto'", clip)
    if loop is not None and loop.lower() not in ("wrap", "clamp"):
        raise ClipFormatError(f"--loop {loop!r}: expected wrap or clamp", clip)
    if from_robot is not None and roles is not None:
        raise ClipFormatError("--roles maps an animal's joints; a robot's motion (--from) "
                              "has none to map", roles)

    options = ClipOptions(up=up, units=units, fps=fps, start_s=start, end_s=end, roles=roles)
    # Read (and so check) the input before the progress bar appears.
    loaded = load_clip_window(clip, options) if from_robot is None else None
    if from_robot is not None:
        load_motion(clip)
    with progress_bar() as bar:
        task = bar.add_task(f"retarget → {robot}", total=None, rate="")

        def on_progress(done: int, total: int) -> None:
            elapsed = bar.tasks[0].elapsed or 1e-9
            bar.update(task, completed=done, total=total, rate=f"{done / elapsed:,.0f} frames/s")

        _, rep = retarget_file(clip, robot, out, report=report, preview=preview,
                               clip_options=options, config=RetargetConfig(scale=scale),
                               progress=on_progress, source_robot=from_robot, clip=loaded,
                               cycle=cycle == "auto", preview_style=preview_style,
                               loop_mode=None if loop is None else loop.capitalize())
    print_report(rep)


def print_report(rep: dict) -> None:
    """Print the headline figures of a quality report as a table."""
    table = Table(title=f"{rep['robot']}: {rep['frames']} frames, {rep['seconds']:.2f} s")
    table.add_column("figure")
    table.add_column("all frames", justify="right")
    table.add_column("locomotion", justify="right")
    rows = [("toe error mean (m)", "toe_error_mean_m", "{:.4f}"),
            ("stance slide max (m)", "stance_slide_max_m", "{:.4f}"),
            ("penetration max (m)", "penetration_max_m", "{:.4f}"),
            ("joint-limit violations", "joint_limit_violations", "{}"),
            ("contact agreement", "contact_agreement", "{:.1%}")]
    for label, key, fmt in rows:
        cells = [fmt.format(rep[b][key]) if key in rep[b] else "-" for b in ("all", "locomotion")]
        table.add_row(label, *cells)
    console.print(table)
    timing = rep["timing"]
    console.print(f"unmatched frames: {rep['unmatched']['frames']}   "
                  f"speed: {timing.get('frames_per_second', 0):,.0f} frames/s   "
                  f"motion: {rep.get('motion_file')}")


@motion_app.command("preview")
def preview_command(
    motion: Annotated[Path, typer.Argument(help="Motion file (motion_imitation JSON).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="GIF to write.",
                                      callback=output_file)],
    robot: Annotated[str, typer.Option(help="Robot the motion is for.")] = "a1",
    max_frames: Annotated[int, typer.Option(help="At most this many GIF frames.",
                                            callback=count)] = 120,
    style: Annotated[str, typer.Option(
        help="mesh (the robot's meshes, TinyRenderer) or stick (faster).")] = "mesh",
) -> None:
    """Render a motion file as a GIF (headless)."""
    from motion_retarget.motion_file import load_motion
    from motion_retarget.preview import STYLES, render_gif
    from quadmimic.core.errors import MotionFormatError
    from quadmimic.core.robots import get_robot

    if style not in STYLES:
        raise MotionFormatError(f"--style {style!r}: expected mesh or stick", motion)
    get_robot(robot)
    render_gif(load_motion(motion), robot, out, max_frames=max_frames, style=style)
    console.print(f"wrote {out}")


@motion_app.command("info")
def info_command(
    motion: Annotated[Path, typer.Argument(help="Motion file (motion_imitation JSON).")],
) -> None:
    """Print a motion file's frame count, duration and loop settings as JSON."""
    from motion_retarget.motion_file import load_motion

    m = load_motion(motion)
    typer.echo(json.dumps({"frames": m.num_frames, "frame_duration": m.frame_duration,
                           "duration_s": m.duration, "loop_mode": m.loop_mode}))
