"""Robot backends behind the one Robot interface, and their registry.

``sim`` (PyBullet, lockstep or real time), ``mujoco`` (the second physics engine, the judge
of transfer: :mod:`robot_deploy.mujoco_model`), ``go1-udp`` (A1/Go1 low level through the
official ``unitree_legged_sdk`` UDP client) and ``go2-dds`` (Go2 low level through
``unitree_sdk2py`` over Cyclone DDS). :func:`make_backend` builds one by name; the command
line, adaptation, the demo and the emulators all build their robots through it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from robot_deploy.robot import Robot

BACKENDS: tuple[str, ...] = ("sim", "mujoco", "go1-udp", "go2-dds")
"""Every backend name."""
SIMULATED: tuple[str, ...] = ("sim", "mujoco")
"""Backends that simulate the robot in this process (they take ``dynamics``)."""
PHYSICS: dict[str, str] = {"pybullet": "sim", "mujoco": "mujoco"}
"""Physics engine name (``--physics``) → its simulated backend."""


def check_backend(name: str) -> str:
    """``name`` if it is a backend (:data:`BACKENDS`).

    Raises:
        RobotConnectionError: An unknown backend.
    """
    from motion_retarget.errors import RobotConnectionError

    if name not in BACKENDS:
        raise RobotConnectionError(f"unknown backend {name!r}; available: {', '.join(BACKENDS)}")
    return name



def make_backend(name: str, robot: str, dynamics: Path | None, realtime: bool,
                 *, robot_ip: str = "127.0.0.1", port: int | None = None,
                 local_port: int = 8080, domain: int = 0, interface: str = "lo") -> Robot:
    """A robot backend by name (options checked; nothing connects yet).

    Args:
        name: A key of :data:`BACKENDS`.
        robot: Robot spec name.
        dynamics: Physical parameters of the simulated backends (emulators have their own).
        realtime: Real-time pacing of the simulated backends.
        robot_ip: Robot IPv4 address (go1-udp; a Go1 is 192.168.123.10).
        port: Robot UDP port (go1-udp; default 8007).
        local_port: Local UDP port (go1-udp).
        domain: DDS domain id (go2-dds).
        interface: Network interface that faces the robot ("lo": an emulator here).

    Raises:
        RobotConnectionError: An unknown backend, or a robot it cannot drive.
        NetworkOptionError: No such interface, or a malformed or unreachable ``robot_ip``.
    """
    from motion_retarget.errors import RobotConnectionError
    from robot_deploy.network import check_interface

    check_backend(name)
    if name == "sim":
        from robot_deploy.backends.sim import SimBackend

        return SimBackend(robot, dynamics, realtime=realtime)
    if name == "mujoco":
        from robot_deploy.backends.mujoco import MujocoBackend

        return MujocoBackend(robot, dynamics, realtime=realtime)
    if name == "go1-udp":
        from robot_deploy.backends.go1_udp import Go1UdpBackend

        return Go1UdpBackend(robot, robot_ip=robot_ip, robot_port=port or 8007,
                             local_port=local_port, interface=check_interface(interface))
    if name == "go2-dds":
        from robot_deploy.backends.go2_dds import Go2DdsBackend

        return Go2DdsBackend(robot, domain=domain, interface=check_interface(interface))
    raise RobotConnectionError(f"backend {name!r} cannot be built here")

