"""Robot backends behind the one Robot interface, and their registry.

``sim`` (PyBullet, lockstep or real time), ``mujoco`` (the second physics engine, the judge
of transfer: :mod:`robot_deploy.mujoco_model`), ``go1-udp`` (A1/Go1 low level through the
official ``unitree_legged_sdk`` UDP client) and ``go2-dds`` (Go2 low level through
``unitree_sdk2py`` over Cyclone DDS). A :class:`Connection` says which backend, which robot and
how to reach it (the one home of the connection defaults); :func:`make_backend` builds the
backend it names. The command line, adaptation, the transfer bench, the demo and the emulators
all build their robots through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    from quadmimic.core.errors import RobotConnectionError

    if name not in BACKENDS:
        raise RobotConnectionError(f"unknown backend {name!r}; available: {', '.join(BACKENDS)}")
    return name


@dataclass(frozen=True)
class Connection:
    """Which backend drives which robot, and how to reach it.

    The one home of the connection defaults: the commands' options (``deploy``, ``adapt``)
    and :func:`make_backend` take theirs from here. Options a backend does not use are
    ignored by it (the simulated backends use none).
    """

    backend: str = "sim"
    """Backend name, a key of :data:`BACKENDS`."""
    robot: str | None = None
    """Robot the backend drives; None: the robot its wire protocol serves (go1 for go1-udp,
    go2 for go2-dds), the policy's on a simulated backend (:func:`backend_robot`)."""
    interface: str = "lo"
    """Network interface that faces the robot (``lo``: an emulator on this machine)."""
    robot_ip: str = "127.0.0.1"
    """go1-udp: the robot's IPv4 address (a Go1's low-level board: 192.168.123.10)."""
    port: int = 8007
    """go1-udp: the robot's UDP port."""
    local_port: int = 8080
    """go1-udp: the local UDP port (Unitree's examples use 8080; 0: any free port)."""
    domain: int = 0
    """go2-dds: the DDS domain id."""

    @classmethod
    def of(cls, backend: str | Connection = "sim", **fields: Any) -> Connection:
        """A connection: ``backend`` itself, or a backend name with fields given by name.

        Args:
            backend: A connection, or a backend name.
            **fields: Other fields (``robot``, ``interface``, ``robot_ip``, ``port``,
                ``local_port``, ``domain``); None stands for the default.
        """
        given = {k: v for k, v in fields.items() if v is not None}
        if isinstance(backend, Connection):
            return replace(backend, **given) if given else backend
        return cls(backend=backend, **given)

    @property
    def simulated(self) -> bool:
        """The backend simulates the robot in this process (:data:`SIMULATED`)."""
        return self.backend in SIMULATED


def backend_robot(backend: str, policy_robot: str, robot: str | None = None) -> str:
    """The robot ``backend`` drives, checked against the robot the policy was made for.

    Args:
        backend: Backend name.
        policy_robot: The bundle's robot.
        robot: The user's ``--robot``; None: the robot the backend's protocol serves (go1
            for go1-udp, go2 for go2-dds: :data:`robot_deploy.emulator.EMULATORS`), or the
            bundle's on a simulated backend.

    Raises:
        RobotConnectionError: An unknown backend.
        RobotSpecError: An unknown robot name.
        RobotMismatchError: The backend drives another robot than the policy's.
    """
    from quadmimic.core.robots import get_robot
    from robot_deploy.emulator import EMULATORS
    from robot_deploy.robot import RobotMismatchError

    check_backend(backend)
    served = EMULATORS[backend].robot if backend in EMULATORS else policy_robot
    chosen = robot or served
    get_robot(chosen)  # an unknown name: RobotSpecError
    if chosen != policy_robot:
        raise RobotMismatchError(f"the policy is for the {policy_robot}, but {backend} drives "
                                 f"a {chosen} (see --robot)")
    return chosen


def make_backend(connection: Connection | str, robot: str | None = None,
                 dynamics: Mapping | str | Path | None = None, *, realtime: bool = False,
                 **engine: Any) -> Robot:
    """The backend a connection names (options checked; nothing connects yet).

    Args:
        connection: Backend, robot and network options; a backend name stands for a
            :class:`Connection` with the defaults.
        robot: Robot spec name; None: ``connection.robot`` (which must then be set).
        dynamics: Physical parameters of the simulated backends (emulators have their own).
        realtime: Real-time pacing of the simulated backends.
        **engine: Further options of a simulated backend's constructor (MuJoCo:
            ``actuator``, ``contact``; PyBullet: ``torque_speed``).

    Raises:
        RobotConnectionError: An unknown backend, no robot, a robot it cannot drive, or
            engine options for a backend on a network.
        NetworkOptionError: No such interface, or a malformed or unreachable ``robot_ip``.
    """
    from quadmimic.core.errors import RobotConnectionError
    from robot_deploy.network import check_interface

    connection = Connection.of(connection)
    name = check_backend(connection.backend)
    robot = robot or connection.robot
    if robot is None:
        raise RobotConnectionError(f"backend {name!r}: no robot given")
    if engine and name not in SIMULATED:
        raise RobotConnectionError(f"backend {name!r} takes no engine options "
                                   f"({', '.join(sorted(engine))})")
    if name == "sim":
        from robot_deploy.backends.sim import SimBackend

        return SimBackend(robot, dynamics, realtime=realtime, **engine)
    if name == "mujoco":
        from robot_deploy.backends.mujoco import MujocoBackend

        return MujocoBackend(robot, dynamics, realtime=realtime, **engine)
    if name == "go1-udp":
        from robot_deploy.backends.go1_udp import Go1UdpBackend

        return Go1UdpBackend(robot, robot_ip=connection.robot_ip, robot_port=connection.port,
                             local_port=connection.local_port,
                             interface=check_interface(connection.interface))
    if name == "go2-dds":
        from robot_deploy.backends.go2_dds import Go2DdsBackend

        return Go2DdsBackend(robot, domain=connection.domain,
                             interface=check_interface(connection.interface))
    raise RobotConnectionError(f"backend {name!r} cannot be built here")


__all__ = ["BACKENDS", "PHYSICS", "SIMULATED", "Connection", "backend_robot", "check_backend",
           "make_backend"]
