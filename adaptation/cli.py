"""Command-line interface of the adaptation stage: ``quadmimic adapt``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from adaptation.config import AdaptConfig
from quadmimic.core.options import (
    count,
    domain_id,
    output_dir,
    output_file,
    port_number,
    positive,
)
from robot_deploy.backends import Connection
from robot_deploy.cli import INTERFACE_HELP, ROBOT_HELP, ROBOT_IP_HELP

if TYPE_CHECKING:
    from adaptation.run import AdaptResult


def adapt_command(
    policy: Annotated[Path, typer.Argument(help="Frozen policy (bundle or run dir).")],
    session: Annotated[Path, typer.Option(help="Session dir (an existing one resumes).",
                                          callback=output_dir)],
    backend: Annotated[str, typer.Option(help="Robot backend: sim (PyBullet), mujoco, "
                                         "go1-udp, go2-dds.")] = "sim",
    robot: Annotated[str | None, typer.Option(help=ROBOT_HELP)] = None,
    interface: Annotated[str, typer.Option(help=INTERFACE_HELP)] = Connection.interface,
    robot_ip: Annotated[str, typer.Option(help=ROBOT_IP_HELP)] = Connection.robot_ip,
    port: Annotated[int, typer.Option(help="go1-udp: robot UDP port.",
                                      callback=port_number)] = Connection.port,
    local_port: Annotated[int, typer.Option(help="go1-udp: local UDP port.",
                                            callback=port_number)] = Connection.local_port,
    domain: Annotated[int, typer.Option(help="go2-dds: DDS domain id.",
                                        callback=domain_id)] = Connection.domain,
    control_port: Annotated[int | None, typer.Option(help="Emulator control port: resets "
                                                     "the robot between rollouts.",
                                                     callback=port_number)] = None,
    dynamics: Annotated[Path | None, typer.Option(help="Dynamics JSON of the robot.")] = None,
    motion: Annotated[Path | None, typer.Option(help="Motion (default: the policy's).")] = None,
    rollouts: Annotated[int, typer.Option(help="Rollouts in total.",
                                          callback=count)] = AdaptConfig.rollouts,
    rollout_seconds: Annotated[float, typer.Option(help="Seconds per rollout.",
                                                   callback=positive)
                               ] = AdaptConfig.rollout_seconds,
    per_update: Annotated[int, typer.Option(help="Rollouts per AWR update.", callback=count)
                          ] = AdaptConfig.rollouts_per_update,
    out: Annotated[Path | None, typer.Option(help="Adapted bundle to write at the end.",
                                             callback=output_dir)] = None,
    gif: Annotated[Path | None, typer.Option(help="GIF of the adapted policy.",
                                             callback=output_file)] = None,
) -> None:
    """Search the latent z of a frozen policy on a robot by AWR (resumable session)."""
    from quadmimic.core.console import console

    connection = Connection(backend, robot=robot, interface=interface, robot_ip=robot_ip,
                            port=port, local_port=local_port, domain=domain)
    try:
        result = adapt_with_progress(policy, session, connection, control_port=control_port,
                                     dynamics=dynamics, motion=motion, rollouts=rollouts,
                                     rollout_seconds=rollout_seconds, per_update=per_update,
                                     out=out, gif=gif)
    except KeyboardInterrupt:  # SIGTERM or Ctrl-C: the robot is damped, the cut rollout dropped
        console.print(f"stopped; the recorded rollouts are kept: resume with "
                      f"quadmimic adapt {policy} --session {session}", highlight=False)
        raise typer.Exit(130) from None
    console.print_json(data={k: v for k, v in result.to_json().items() if k != "returns"})


def adapt_with_progress(policy: Path, session: Path, backend: str | Connection = "sim",
                        **kwargs: Any) -> AdaptResult:
    """:func:`~adaptation.run.run_adaptation` with a progress bar of each rollout's return."""
    from adaptation.run import run_adaptation
    from quadmimic.core.console import progress_bar

    with progress_bar() as bar:
        task = bar.add_task("adapt", total=kwargs.get("rollouts", AdaptConfig.rollouts),
                            rate="")

        def on_rollout(rec: dict, total: int) -> None:
            bar.update(task, completed=rec["index"] + 1, total=total,
                       rate=f"return {rec['return']:.3f} ({rec['stopped_by']})")

        return run_adaptation(policy, session, backend, progress=on_rollout, **kwargs)
