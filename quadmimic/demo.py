"""``quadmimic demo``: the main job on the bundled default clip, writing under ``runs/demo/``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from quadmimic.paths import DEFAULT_CLIPS, RUNS


def demo_command(
    out: Annotated[Path, typer.Option(help="Output folder.")] = RUNS / "demo",
    robot: Annotated[str, typer.Option(help="Robot to retarget onto.")] = "a1",
) -> None:
    """Run the pipeline on the default trot clip: motion, quality report and preview GIF."""
    from motion_retarget.cli import console, print_report
    from motion_retarget.job import retarget_file

    clip = DEFAULT_CLIPS / "dog_trot_joint_pos.txt"
    out.mkdir(parents=True, exist_ok=True)
    console.rule(f"[bold]1/1 retarget {clip.name} → {robot}")
    _, rep = retarget_file(clip, robot, out / f"{robot}_trot.txt",
                           report=out / f"{robot}_trot_report.json",
                           preview=out / f"{robot}_trot_preview.gif")
    print_report(rep)
    console.print(f"[green]demo done:[/] outputs in {out}")
