"""Command-line interface of the driver layer: ``quadmimic deploy``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

BACKENDS = ("sim",)


def make_backend(name: str, robot: str, dynamics: Path | None, realtime: bool) -> object:
    """A robot backend by name (``sim`` for now; the SDK backends plug in here)."""
    from motion_retarget.errors import RobotConnectionError

    if name == "sim":
        from robot_deploy.backends.sim import SimBackend

        return SimBackend(robot, dynamics, realtime=realtime)
    raise RobotConnectionError(f"unknown backend {name!r}; available: {', '.join(BACKENDS)}")


class DryRun:
    """Wraps a robot so every command becomes damping (the policy runs, motors stay limp)."""

    def __init__(self, robot: object) -> None:
        self._robot = robot

    def __getattr__(self, name: str) -> object:
        return getattr(self._robot, name)

    def command(self, cmd: object) -> None:
        """Send damping instead."""
        self._robot.damp()


def deploy_command(
    policy: Annotated[Path, typer.Argument(help="Policy bundle or training run dir.")],
    backend: Annotated[str, typer.Option(help="Robot backend: sim.")] = "sim",
    dynamics: Annotated[Path | None, typer.Option(help="Dynamics JSON for the sim.")] = None,
    max_seconds: Annotated[float, typer.Option(help="Policy run time (s).")] = 10.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Run the policy, send only "
                                          "damping.")] = False,
    log: Annotated[Path | None, typer.Option(help="JSON-lines log of the run.")] = None,
    realtime: Annotated[bool, typer.Option(help="Real-time pacing (the sim defaults to "
                                           "as fast as possible).")] = False,
    z: Annotated[str | None, typer.Option(help="Latent, comma-separated.")] = None,
) -> None:
    """Run a policy on a robot through the safety layer; ends in damping mode."""
    import json

    import numpy as np

    from motion_retarget.cli import console
    from robot_deploy.controller import PolicyController
    from robot_deploy.safety import SafetyLayer
    from sim_training.bundle import PolicyBundle
    from sim_training.cli import _parse_z

    bundle = PolicyBundle.load(policy)
    robot = make_backend(backend, bundle.robot, dynamics, realtime)
    safe = SafetyLayer(DryRun(robot) if dry_run else robot)  # type: ignore[arg-type]
    controller = PolicyController(bundle, safe, z=_parse_z(z), realtime=realtime)
    handle = log.open("w") if log else None
    try:
        with console.status(f"running the policy on {backend} for {max_seconds:g} s"):
            result = controller.run(max_seconds, log=handle)
    finally:
        if handle:
            handle.close()
        robot.close()  # type: ignore[attr-defined]
    summary = {"seconds": result.seconds, "policy_steps": result.policy_steps,
               "commands": result.commands, "stopped_by": result.stopped_by,
               "trip": result.trip, "safety_events": [e.__dict__ for e in safe.events],
               "inference_ms_p50": float(np.percentile(result.inference_ms, 50))
               if result.inference_ms else None}
    console.print_json(json.dumps(summary))
