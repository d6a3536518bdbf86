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
    rollouts: Annotated[int, typer.Option(help="Rollout budget: the start rollout, then "
                                          "rounds of 2 x --pairs (a round that does not fit "
                                          "is not started).",
                                          callback=count)] = AdaptConfig.rollouts,
    rollout_seconds: Annotated[float, typer.Option(help="Seconds per rollout.",
                                                   callback=positive)
                               ] = AdaptConfig.rollout_seconds,
    pairs: Annotated[int, typer.Option(help="Paired rollouts per round: incumbent and "
                                       "candidate on the same seeds (>= 2).",
                                       callback=count)] = AdaptConfig.pairs,
    z: Annotated[str | None, typer.Option(help="Start of the search: estimate (ẑ of the "
                                          "bundle's estimator, averaged over the first "
                                          "rollout), prior (z = 0), a JSON file or z_dim "
                                          "comma-separated numbers. Default: estimate when "
                                          "the policy carries an estimator, else prior.")
                 ] = None,
    out: Annotated[Path | None, typer.Option(help="Adapted bundle to write at the end (its z: "
                                             "the final incumbent).",
                                             callback=output_dir)] = None,
    gif: Annotated[Path | None, typer.Option(help="GIF of the adapted policy.",
                                             callback=output_file)] = None,
) -> None:
    """Search the latent z of a frozen policy on a robot, safely (resumable session).

    Starts from the estimate (or the prior), tries candidates in a small neighbourhood, and
    keeps a candidate only when it beats the incumbent on paired fresh rollouts by at least one
    standard error; the result is the incumbent. Writes returns.png and summary.json into the
    session.
    """
    from quadmimic.core.console import console

    connection = Connection(backend, robot=robot, interface=interface, robot_ip=robot_ip,
                            port=port, local_port=local_port, domain=domain)
    if pairs < 2:
        raise typer.BadParameter(f"{pairs} is less than 2 (a standard error needs two pairs)",
                                 param_hint="'--pairs'")
    try:
        result = adapt_with_progress(policy, session, connection, control_port=control_port,
                                     dynamics=dynamics, motion=motion, rollouts=rollouts,
                                     rollout_seconds=rollout_seconds, pairs=pairs, z=z,
                                     out=out, gif=gif,
                                     on_start=lambda line: console.print(line,
                                                                         highlight=False))
    except KeyboardInterrupt:  # SIGTERM or Ctrl-C: the robot is damped, the cut rollout dropped
        console.print(f"stopped; the recorded rollouts are kept: resume with "
                      f"quadmimic adapt {policy} --session {session}", highlight=False)
        raise typer.Exit(130) from None
    console.print_json(data={k: v for k, v in result.to_json().items()
                             if k not in ("returns", "kinds", "stopped_by", "rounds")})
    console.print(budget_line(result), highlight=False)
    console.print(f"returns and the incumbent's validations: {session / 'returns.png'}",
                  highlight=False)


def budget_line(result: AdaptResult) -> str:
    """What a session used and found, in one line."""
    accepted = result.incumbent_changes
    return (f"budget used: {result.rollouts} of {result.budget} rollouts "
            f"({result.robot_seconds:.0f} s of policy time on the robot), {result.trips} "
            f"cut by a trip; {len(result.rounds)} rounds, the incumbent replaced "
            f"{accepted} time{'s' if accepted != 1 else ''}; the result is the incumbent: "
            + ("the online estimate (no fixed z beat it)" if result.final == "estimate"
               else "the prior z = 0" if result.final_z is not None and not any(result.final_z)
               else "a fixed z"))


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
                       rate=f"{rec['kind']}: return {rec['return']:.3f} "
                            f"({rec['stopped_by']})")

        return run_adaptation(policy, session, backend, progress=on_rollout, **kwargs)
