"""Command-line interface of the driver layer: ``quadmimic deploy``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from robot_deploy.backends import SIMULATED, check_backend, make_backend
from robot_deploy.emulator import EMULATORS
from robot_deploy.robot import JointCommand, RobotWrapper

PROTOCOL_ROBOTS = {protocol: entry.robot for protocol, entry in EMULATORS.items()}
"""The robot each wire protocol serves: what a backend drives unless ``--robot`` says."""


def backend_robot(backend: str, policy_robot: str, robot: str | None = None) -> str:
    """The robot ``backend`` drives, checked against the robot the policy was made for.

    Args:
        backend: Backend name.
        policy_robot: The bundle's robot.
        robot: The user's ``--robot``; None: the robot the backend's protocol serves (go1
            for go1-udp, go2 for go2-dds), or the bundle's for the sim.

    Raises:
        RobotConnectionError: An unknown backend.
        RobotSpecError: An unknown robot name.
        RobotMismatchError: The backend drives another robot than the policy's.
    """
    from motion_retarget.robots import get_robot
    from robot_deploy.robot import RobotMismatchError

    check_backend(backend)
    chosen = robot or PROTOCOL_ROBOTS.get(backend, policy_robot)
    get_robot(chosen)  # an unknown name: RobotSpecError
    if chosen != policy_robot:
        raise RobotMismatchError(f"the policy is for the {policy_robot}, but {backend} drives "
                                 f"a {chosen} (see --robot)")
    return chosen


def default_wait_start(backend: str, interface: str = "lo",
                       robot_ip: str = "127.0.0.1") -> bool:
    """Whether a deployment waits for Start unless told: on a robot yes, on an emulator no.

    A robot is reached over a network (go2-dds on an interface other than ``lo``, go1-udp
    at an address other than loopback); the sim has no remote.
    """
    from robot_deploy.network import is_loopback

    if backend == "go2-dds":
        return not is_loopback(interface)
    if backend == "go1-udp":
        return not is_loopback(interface, robot_ip)
    return False


def emulate_command(
    protocol: Annotated[str, typer.Option(help="Wire protocol: go1-udp or go2-dds.")],
    robot: Annotated[str | None, typer.Option(help="Robot spec (default: go1 / go2).")] = None,
    port: Annotated[int, typer.Option(help="go1-udp: UDP port.")] = 8007,
    domain: Annotated[int, typer.Option(help="go2-dds: DDS domain id.")] = 0,
    interface: Annotated[str, typer.Option(help="Network interface the robot's side binds: "
                                           "go2-dds: DDS; go1-udp: the UDP port on its "
                                           "IPv4 address.")] = "lo",
    sport_mode: Annotated[str, typer.Option(help="go2-dds: motion mode active at start, as "
                                            "on a Go2; low-level commands are ignored until "
                                            "it is released ('none': start "
                                            "released).")] = "normal",
    dynamics: Annotated[Path | None, typer.Option(help="Dynamics JSON of the robot.")] = None,
    max_seconds: Annotated[float | None, typer.Option(help="Stop after (s).")] = None,
    control_port: Annotated[int | None, typer.Option(help="Out-of-band control UDP port on "
                                                     "127.0.0.1 (reset, shove, set_dynamics, "
                                                     "remote, motion_mode, stats).")] = None,
    physics: Annotated[str, typer.Option(help="Engine behind the wire: pybullet (the "
                                         "training simulator) or mujoco (the judge of "
                                         "transfer).")] = "pybullet",
) -> None:
    """A simulated robot speaking the real wire protocol (on loopback by default; Ctrl-C)."""
    import json

    from motion_retarget.cli import console
    from motion_retarget.robots import get_robot
    from robot_deploy.emulator import check_protocol, run_emulator
    from robot_deploy.emulator.core import check_physics
    from robot_deploy.network import check_interface

    check_protocol(protocol)
    robot = robot or PROTOCOL_ROBOTS[protocol]
    get_robot(robot)  # an unknown name: one line
    check_physics(physics)
    check_interface(interface)
    control = f", control on 127.0.0.1:{control_port}" if control_port is not None else ""
    options: dict = {"dynamics": dynamics, "control_port": control_port,
                     "physics": physics, "interface": interface}
    if protocol == "go1-udp":
        from robot_deploy.emulator.go1_udp import interface_host

        host = interface_host(interface)
        console.print(f"go1-udp emulator ({robot}, {physics}) on {host}:{port}{control}")
        options["port"] = port
    else:
        from robot_deploy.emulator.go2_dds import sport_mode_option

        mode = sport_mode_option(sport_mode)
        console.print(f"go2-dds emulator ({robot}, {physics}, {mode or 'released'}) on domain "
                      f"{domain} ({interface}){control}")
        options.update(domain=domain, sport_mode=mode)
    counters = run_emulator(protocol, robot, max_seconds=max_seconds, **options)
    console.print_json(json.dumps(counters))


class DryRun(RobotWrapper):
    """A robot whose every command becomes damping (the policy runs, motors stay limp).

    Args:
        inner: The robot to wrap.
    """

    def command(self, cmd: JointCommand) -> None:
        """Send damping instead."""
        self.inner.damp()


ROBOT_HELP = ("Robot the backend drives (default: go1 for go1-udp, go2 for go2-dds, the "
              "policy's for sim); it must be the policy's.")
INTERFACE_HELP = "Network interface that faces the robot (lo: an emulator on this machine)."
ROBOT_IP_HELP = "go1-udp: robot IPv4 address (a Go1: 192.168.123.10; the emulator: 127.0.0.1)."


def deploy_command(
    policy: Annotated[Path, typer.Argument(help="Policy bundle or training run dir.")],
    backend: Annotated[str, typer.Option(help="Robot backend: sim (PyBullet), mujoco, "
                                         "go1-udp, go2-dds.")] = "sim",
    robot: Annotated[str | None, typer.Option(help=ROBOT_HELP)] = None,
    dynamics: Annotated[Path | None, typer.Option(help="Dynamics JSON for the sim.")] = None,
    interface: Annotated[str, typer.Option(help=INTERFACE_HELP)] = "lo",
    robot_ip: Annotated[str, typer.Option(help=ROBOT_IP_HELP)] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="go1-udp: robot UDP port.")] = None,
    local_port: Annotated[int, typer.Option(help="go1-udp: local UDP port.")] = 8080,
    domain: Annotated[int, typer.Option(help="go2-dds: DDS domain id.")] = 0,
    wait_start: Annotated[bool | None, typer.Option(
        "--wait-start/--no-wait-start", help="After standing up, hold until Start is pressed "
        "on the wireless remote (default: on for a robot on a network, off for an emulator "
        "on lo and the sim). L2+B on the remote is the e-stop, always.")] = None,
    start_timeout: Annotated[float, typer.Option(help="Seconds to wait for Start before "
                                                 "giving up (damping).")] = 120.0,
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
    """Run a policy on a robot through the safety layer; ends in damping mode.

    The e-stop is L2+B on the wireless remote (go1-udp, go2-dds): the robot damps at once.
    """
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
    if wait_start is None:
        wait_start = default_wait_start(backend, interface, robot_ip)
    doing = (f"standing up on {backend}, then waiting for Start on the remote (L2+B: e-stop)"
             if wait_start else f"running the policy on {backend} for {max_seconds:g} s")
    with console.status(doing):
        summary = run_policy(policy, backend, robot=robot, dynamics=dynamics,
                             interface=interface, robot_ip=robot_ip, port=port,
                             local_port=local_port, domain=domain, max_seconds=max_seconds,
                             dry_run=dry_run, log=log, realtime=realtime, z=_parse_z(z),
                             rt_priority=rt_priority, wait_start=wait_start,
                             start_timeout=start_timeout,
                             on_start=lambda: finished.__setitem__(0, True))
    # The robot is damped: a late SIGTERM must not kill the exit (Python puts its own
    # handlers back to the default at shutdown, SIG_IGN stays).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    console.print_json(json.dumps(summary))


def run_policy(policy: Path, backend: str = "sim", *, robot: str | None = None,
               dynamics: Path | None = None, interface: str = "lo",
               robot_ip: str = "127.0.0.1", port: int | None = None, local_port: int = 8080,
               domain: int = 0, max_seconds: float = 10.0, dry_run: bool = False,
               log: Path | None = None, realtime: bool = False,
               z: object | None = None, rt_priority: int = 0, wait_start: bool = False,
               start_timeout: float = 120.0, ramp_seconds: float = 1.0,
               on_start: Callable[[], None] | None = None) -> dict:
    """What ``quadmimic deploy`` does, returning its summary (see :func:`deploy_command`).

    ``robot`` is the robot the backend drives (None: :func:`backend_robot`'s default); it
    must be the bundle's, checked before anything connects. ``on_start`` is called right
    before the controller takes over (and its signal handling). ``rt_priority`` is the
    SCHED_FIFO priority of a real-time loop (0: normal scheduling). ``wait_start``: hold the
    default pose after the ramp until Start on the remote (``start_timeout`` s at most).

    Returns:
        ``robot``, ``seconds``, ``policy_steps``, ``commands``, ``stopped_by`` ("time",
        "safety", "signal", "no_start"), ``trip`` (reason or None, "estop" for the remote's
        e-stop), ``scheduler``, ``start_wait_s``, ``safety_events`` and ``inference_ms_p50``.

    Raises:
        RobotMismatchError: The backend drives another robot than the bundle's.
        RobotConnectionError: ``wait_start`` on the sim (it has no remote), or no robot.
        NetworkOptionError: A bad ``interface`` or ``robot_ip``.
    """
    import numpy as np

    from motion_retarget.errors import RobotConnectionError
    from robot_deploy.controller import PolicyController
    from robot_deploy.safety import SafetyLayer
    from sim_training.bundle import PolicyBundle

    bundle = PolicyBundle.load(policy)
    name = backend_robot(backend, bundle.robot, robot)
    if wait_start and backend in SIMULATED:
        raise RobotConnectionError("--wait-start needs a wireless remote: go1-udp or "
                                   f"go2-dds, not the {backend} backend")
    driven = make_backend(backend, name, dynamics, realtime or backend not in SIMULATED,
                          robot_ip=robot_ip, port=port, local_port=local_port, domain=domain,
                          interface=interface)
    safe = SafetyLayer(DryRun(driven) if dry_run else driven)
    controller = PolicyController(bundle, safe, z=z,  # type: ignore[arg-type]
                                  realtime=realtime or backend not in SIMULATED,
                                  rt_priority=rt_priority)
    handle = log.open("w") if log else None
    try:
        if on_start is not None:
            on_start()
        result = controller.run(max_seconds, log=handle, ramp_seconds=ramp_seconds,
                                wait_start=wait_start, start_timeout=start_timeout)
    finally:
        if handle:
            handle.close()
        driven.close()  # type: ignore[attr-defined]
    return {"robot": name, "seconds": result.seconds, "policy_steps": result.policy_steps,
            "commands": result.commands, "stopped_by": result.stopped_by,
            "trip": result.trip, "scheduler": result.scheduler,
            "start_wait_s": result.start_wait_s,
            "safety_events": [e.__dict__ for e in safe.events],
            "inference_ms_p50": float(np.percentile(result.inference_ms, 50))
            if result.inference_ms else None}
