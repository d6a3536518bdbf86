"""Command-line interface of the driver layer: ``quadmimic deploy``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

BACKENDS = ("sim", "go1-udp", "go2-dds")
PROTOCOLS = ("go1-udp", "go2-dds")


def make_backend(name: str, robot: str, dynamics: Path | None, realtime: bool,
                 *, robot_ip: str = "127.0.0.1", port: int | None = None,
                 local_port: int = 8080, domain: int = 0, interface: str = "lo") -> object:
    """A robot backend by name.

    Args:
        name: "sim", "go1-udp" (A1/Go1 through the official unitree_legged_sdk) or
            "go2-dds" (Go2 through unitree_sdk2py over Cyclone DDS).
        robot: Robot spec name.
        dynamics: Physical parameters of the ``sim`` backend (emulators have their own).
        realtime: Real-time pacing of the ``sim`` backend.
        robot_ip: Robot address (go1-udp).
        port: Robot UDP port (go1-udp; default 8007).
        local_port: Local UDP port (go1-udp).
        domain: DDS domain id (go2-dds).
        interface: Network interface (go2-dds).
    """
    from motion_retarget.errors import RobotConnectionError

    if name == "sim":
        from robot_deploy.backends.sim import SimBackend

        return SimBackend(robot, dynamics, realtime=realtime)
    if name == "go1-udp":
        from robot_deploy.backends.go1_udp import Go1UdpBackend

        return Go1UdpBackend(robot, robot_ip=robot_ip, robot_port=port or 8007,
                             local_port=local_port)
    if name == "go2-dds":
        from robot_deploy.backends.go2_dds import Go2DdsBackend

        return Go2DdsBackend(robot, domain=domain, interface=interface)
    raise RobotConnectionError(f"unknown backend {name!r}; available: {', '.join(BACKENDS)}")


def emulate_command(
    protocol: Annotated[str, typer.Option(help="Wire protocol: go1-udp or go2-dds.")],
    robot: Annotated[str | None, typer.Option(help="Robot spec (default: go1 / go2).")] = None,
    port: Annotated[int, typer.Option(help="go1-udp: UDP port on 127.0.0.1.")] = 8007,
    domain: Annotated[int, typer.Option(help="go2-dds: DDS domain id.")] = 0,
    dynamics: Annotated[Path | None, typer.Option(help="Dynamics JSON of the robot.")] = None,
    max_seconds: Annotated[float | None, typer.Option(help="Stop after (s).")] = None,
    control_port: Annotated[int | None, typer.Option(help="Out-of-band control UDP port "
                                                     "(reset, shove, set_dynamics, "
                                                     "stats).")] = None,
) -> None:
    """A PyBullet robot speaking the real wire protocol on loopback (Ctrl-C to stop)."""
    import json

    from motion_retarget.cli import console
    from motion_retarget.errors import RobotConnectionError

    if protocol == "go1-udp":
        from robot_deploy.emulator.go1_udp import run_emulator

        console.print(f"go1-udp emulator on 127.0.0.1:{port}"
                      + (f", control on {control_port}" if control_port else ""))
        counters = run_emulator("go1-udp", port=port, dynamics=dynamics,
                                max_seconds=max_seconds, control_port=control_port,
                                robot=robot or "go1")
    elif protocol == "go2-dds":
        from robot_deploy.emulator.go2_dds import run_emulator as run_dds

        console.print(f"go2-dds emulator on domain {domain} (lo)"
                      + (f", control on {control_port}" if control_port else ""))
        counters = run_dds("go2-dds", domain=domain, dynamics=dynamics,
                           max_seconds=max_seconds, control_port=control_port)
    else:
        raise RobotConnectionError(f"unknown protocol {protocol!r}; "
                                   f"available: {', '.join(PROTOCOLS)}")
    console.print_json(json.dumps(counters))


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
    backend: Annotated[str, typer.Option(help="Robot backend: sim, go1-udp, go2-dds.")] = "sim",
    dynamics: Annotated[Path | None, typer.Option(help="Dynamics JSON for the sim.")] = None,
    robot_ip: Annotated[str, typer.Option(help="go1-udp: robot address.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="go1-udp: robot UDP port.")] = None,
    local_port: Annotated[int, typer.Option(help="go1-udp: local UDP port.")] = 8080,
    domain: Annotated[int, typer.Option(help="go2-dds: DDS domain id.")] = 0,
    max_seconds: Annotated[float, typer.Option(help="Policy run time (s).")] = 10.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Run the policy, send only "
                                          "damping.")] = False,
    log: Annotated[Path | None, typer.Option(help="JSON-lines log of the run.")] = None,
    realtime: Annotated[bool, typer.Option(help="Real-time pacing (the sim defaults to "
                                           "as fast as possible).")] = False,
    z: Annotated[str | None, typer.Option(help="Latent, comma-separated.")] = None,
    rt_priority: Annotated[int, typer.Option(help="SCHED_FIFO priority of the real-time "
                                             "command loop when permitted, e.g. 49 on a "
                                             "robot (0: normal scheduling).")] = 0,
) -> None:
    """Run a policy on a robot through the safety layer; ends in damping mode."""
    import json
    import signal

    from motion_retarget.cli import console
    from sim_training.cli import _parse_z

    finished = [False]

    def on_term(signum: int, frame: object) -> None:
        # Before the run: stop like Ctrl-C. During it the controller's own handler turns it
        # into damping; after it (robot damped, summary being written) finish cleanly.
        if not finished[0]:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    with console.status(f"running the policy on {backend} for {max_seconds:g} s"):
        summary = run_policy(policy, backend, dynamics=dynamics, robot_ip=robot_ip, port=port,
                             local_port=local_port, domain=domain, max_seconds=max_seconds,
                             dry_run=dry_run, log=log, realtime=realtime, z=_parse_z(z),
                             rt_priority=rt_priority,
                             on_start=lambda: finished.__setitem__(0, True))
    # The robot is damped: a late SIGTERM must not kill the exit (Python puts its own
    # handlers back to the default at shutdown, SIG_IGN stays).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    console.print_json(json.dumps(summary))


def run_policy(policy: Path, backend: str = "sim", *, dynamics: Path | None = None,
               robot_ip: str = "127.0.0.1", port: int | None = None, local_port: int = 8080,
               domain: int = 0, max_seconds: float = 10.0, dry_run: bool = False,
               log: Path | None = None, realtime: bool = False,
               z: object | None = None, rt_priority: int = 0,
               on_start: Callable[[], None] | None = None) -> dict:
    """What ``quadmimic deploy`` does, returning its summary (see :func:`deploy_command`).

    ``on_start`` is called right before the controller takes over (and its signal handling).
    ``rt_priority`` is the SCHED_FIFO priority of a real-time loop (0: normal scheduling).

    Returns:
        ``seconds``, ``policy_steps``, ``commands``, ``stopped_by`` ("time", "safety",
        "signal"), ``trip`` (reason or None), ``scheduler``, ``safety_events`` and
        ``inference_ms_p50``.
    """
    import numpy as np

    from robot_deploy.controller import PolicyController
    from robot_deploy.safety import SafetyLayer
    from sim_training.bundle import PolicyBundle

    bundle = PolicyBundle.load(policy)
    robot = make_backend(backend, bundle.robot, dynamics, realtime or backend != "sim",
                         robot_ip=robot_ip, port=port, local_port=local_port, domain=domain)
    safe = SafetyLayer(DryRun(robot) if dry_run else robot)  # type: ignore[arg-type]
    controller = PolicyController(bundle, safe, z=z,  # type: ignore[arg-type]
                                  realtime=realtime or backend != "sim",
                                  rt_priority=rt_priority)
    handle = log.open("w") if log else None
    try:
        if on_start is not None:
            on_start()
        result = controller.run(max_seconds, log=handle)
    finally:
        if handle:
            handle.close()
        robot.close()  # type: ignore[attr-defined]
    return {"seconds": result.seconds, "policy_steps": result.policy_steps,
            "commands": result.commands, "stopped_by": result.stopped_by,
            "trip": result.trip, "scheduler": result.scheduler,
            "safety_events": [e.__dict__ for e in safe.events],
            "inference_ms_p50": float(np.percentile(result.inference_ms, 50))
            if result.inference_ms else None}
