"""Command-line interface of the driver layer: ``quadmimic deploy``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from quadmimic.core.options import (
    domain_id,
    output_file,
    port_number,
    positive,
    sched_priority,
)
from robot_deploy.backends import Connection
from robot_deploy.emulator import EMULATORS


def emulate_command(
    protocol: Annotated[str, typer.Option(help="Wire protocol: go1-udp or go2-dds.")],
    robot: Annotated[str | None, typer.Option(help="Robot spec (default: go1 / go2).")] = None,
    port: Annotated[int, typer.Option(help="go1-udp: UDP port.",
                                      callback=port_number)] = Connection.port,
    domain: Annotated[int, typer.Option(help="go2-dds: DDS domain id.",
                                        callback=domain_id)] = Connection.domain,
    interface: Annotated[str, typer.Option(help="Network interface the robot's side binds: "
                                           "go2-dds: DDS; go1-udp: the UDP port on its "
                                           "IPv4 address.")] = "lo",
    sport_mode: Annotated[str, typer.Option(help="go2-dds: motion mode active at start, as "
                                            "on a Go2; low-level commands are ignored until "
                                            "it is released ('none': start "
                                            "released).")] = "normal",
    dynamics: Annotated[Path | None, typer.Option(help="Dynamics JSON of the robot.")] = None,
    max_seconds: Annotated[float | None, typer.Option(help="Stop after (s).",
                                                      callback=positive)] = None,
    control_port: Annotated[int | None, typer.Option(help="Out-of-band control UDP port on "
                                                     "127.0.0.1 (reset, shove, set_dynamics, "
                                                     "remote, motion_mode, stats).",
                                                     callback=port_number)] = None,
    physics: Annotated[str, typer.Option(help="Engine behind the wire: pybullet (the "
                                         "training simulator) or mujoco (the judge of "
                                         "transfer).")] = "pybullet",
) -> None:
    """A simulated robot speaking the real wire protocol (on loopback by default; Ctrl-C)."""
    import json

    from quadmimic.core.console import console
    from quadmimic.core.robots import get_robot
    from robot_deploy.emulator import check_protocol, run_emulator
    from robot_deploy.emulator.core import check_physics
    from robot_deploy.network import check_interface

    check_protocol(protocol)
    robot = robot or EMULATORS[protocol].robot
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


ROBOT_HELP = ("Robot the backend drives (default: go1 for go1-udp, go2 for go2-dds, the "
              "policy's for sim); it must be the policy's.")
INTERFACE_HELP = "Network interface that faces the robot (lo: an emulator on this machine)."
ROBOT_IP_HELP = "go1-udp: robot IPv4 address (a Go1: 192.168.123.10; the emulator: 127.0.0.1)."
Z_HELP = ("Latent of a latent policy: estimate (the bundle's online estimator, ẑ from the "
          "robot's last ~0.7 s), prior (z = 0), a JSON file ({\"z\": [...]}) or z_dim "
          "comma-separated numbers. Default: the bundle's fixed z (an adapted bundle), else "
          "estimate when it carries an estimator, else prior.")


def deploy_command(
    policy: Annotated[Path | None, typer.Argument(help="Policy bundle or training run dir "
                                                  "(not with --skill).")] = None,
    backend: Annotated[str, typer.Option(help="Robot backend: sim (PyBullet), mujoco, "
                                         "go1-udp, go2-dds.")] = "sim",
    robot: Annotated[str | None, typer.Option(help=ROBOT_HELP)] = None,
    dynamics: Annotated[Path | None, typer.Option(help="Dynamics JSON for the sim.")] = None,
    interface: Annotated[str, typer.Option(help=INTERFACE_HELP)] = Connection.interface,
    robot_ip: Annotated[str, typer.Option(help=ROBOT_IP_HELP)] = Connection.robot_ip,
    port: Annotated[int, typer.Option(help="go1-udp: robot UDP port.",
                                      callback=port_number)] = Connection.port,
    local_port: Annotated[int, typer.Option(help="go1-udp: local UDP port.", callback=port_number)
                          ] = Connection.local_port,
    domain: Annotated[int, typer.Option(help="go2-dds: DDS domain id.",
                                        callback=domain_id)] = Connection.domain,
    wait_start: Annotated[bool | None, typer.Option(
        "--wait-start/--no-wait-start", help="After standing up, hold until Start is pressed "
        "on the wireless remote (default: on for a robot on a network, off for an emulator "
        "on lo and the sim). L2+B on the remote is the e-stop, always.")] = None,
    start_timeout: Annotated[float, typer.Option(help="Seconds to wait for Start before "
                                                 "giving up (damping).",
                                                 callback=positive)] = 120.0,
    max_seconds: Annotated[float, typer.Option(help="Policy run time (s).",
                                               callback=positive)] = 10.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Run the policy, send only "
                                          "damping.")] = False,
    log: Annotated[Path | None, typer.Option(help="JSON-lines log of the run.",
                                             callback=output_file)] = None,
    realtime: Annotated[bool, typer.Option(help="Real-time pacing (the sim defaults to "
                                           "as fast as possible).")] = False,
    z: Annotated[str | None, typer.Option(help=Z_HELP)] = None,
    rt_priority: Annotated[int, typer.Option(help="SCHED_FIFO priority of the real-time "
                                             "command loop when permitted, e.g. 49 on a "
                                             "robot (0: normal scheduling).",
                                             callback=sched_priority)] = 0,
    command: Annotated[str | None, typer.Option(
        help="A steerable policy's command: remote (left stick forward: speed, right stick "
        "sideways: yaw rate; released: stand), a script file or figure_eight, start_stop, "
        "speed_ramp, random (default: the clip's own). A policy trained without commands "
        "ignores "
        "it.")] = None,
    skill: Annotated[list[str] | None, typer.Option(
        help="BUTTON=BUNDLE, repeatable (A, B, X, Y): skills switched by those remote "
        "buttons through the standing pose; the first runs first.")] = None,
) -> None:
    """Run a policy on a robot through the safety layer; ends in damping mode.

    The e-stop is L2+B on the wireless remote (go1-udp, go2-dds): the robot damps at once.
    """
    import json
    import signal

    from quadmimic.core.console import console
    from quadmimic.core.errors import QuadmimicError
    from robot_deploy.deploy import default_wait_start, run_policy
    from robot_deploy.skills import parse_skill
    from sim_training.bundle import PolicyBundle
    from sim_training.estimator import choose_z

    skills = dict(parse_skill(text) for text in skill or [])
    if (policy is None) == (not skills):
        raise QuadmimicError("give a POLICY, or skills with --skill BUTTON=BUNDLE (not both)")
    if skills and (z is not None or dry_run):
        raise QuadmimicError("--skill runs each bundle with its own z; without --z, --dry-run")
    if skill and len(skills) != len(skill):
        raise QuadmimicError("--skill: each button once")
    choice = None if skills else choose_z(PolicyBundle.load(policy), z)
    connection = Connection(backend, robot=robot, interface=interface, robot_ip=robot_ip,
                            port=port, local_port=local_port, domain=domain)
    finished = [False]

    def on_term(signum: int, frame: object) -> None:
        # Before the run: stop like Ctrl-C. During it the controller's own handler turns it
        # into damping; after it (robot damped, summary being written) finish cleanly.
        if not finished[0]:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    if wait_start is None:
        wait_start = default_wait_start(backend, interface, robot_ip)
    if choice is not None:
        console.print(choice.describe(), highlight=False)
    doing = (f"standing up on {backend}, then waiting for Start on the remote (L2+B: e-stop)"
             if wait_start else f"running the policy on {backend} for {max_seconds:g} s")
    with console.status(doing):
        result = run_policy(policy or next(iter(skills.values())), connection,
                            dynamics=dynamics, max_seconds=max_seconds,
                            command=command, skills=skills or None,
                            dry_run=dry_run, log=log, realtime=realtime,
                            z=None if choice is None else choice.z,
                            estimator=None if choice is None else choice.estimator,
                            rt_priority=rt_priority, wait_start=wait_start,
                            start_timeout=start_timeout,
                            on_start=lambda: finished.__setitem__(0, True))
    # The robot is damped: a late SIGTERM must not kill the exit (Python puts its own
    # handlers back to the default at shutdown, SIG_IGN stays).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    console.print_json(json.dumps(result.to_json()))
