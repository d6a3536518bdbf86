"""Robot emulators: a real-time simulated robot behind a real wire protocol.

Every emulator has the same interface: ``Emulator(robot, *, dynamics=None, control_port=None,
command_timeout=0.1, physics="pybullet", interface="lo", <wire options>)``, ``start()`` (returns
the emulator), ``stop()``, a context manager, ``counters``, ``control_port`` and
``serve(max_seconds=None)`` (until ``max_seconds``, Ctrl-C or SIGTERM; returns the counters).
The same faults raise the same errors: an unknown robot ``RobotSpecError``, an unknown engine
``RobotConnectionError`` (:func:`~robot_deploy.emulator.core.check_physics`), a port or domain
that cannot be used ``RobotConnectionError``, an unknown interface ``NetworkOptionError``.

:data:`EMULATORS` names them by wire protocol; :func:`run_emulator` runs one in the foreground
(what ``quadmimic emulate`` and ``python -m robot_deploy.emulator.go2_dds`` call). The classes
are imported on first use, so the Go1's paths never import DDS.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EmulatorEntry:
    """Where an emulator class lives, and the robot it serves by default.

    Attributes:
        module: Module holding the class.
        name: Class name.
        robot: Robot spec served unless another is given.
    """

    module: str
    name: str
    robot: str

    def load(self) -> type:
        """The emulator class (imports its module)."""
        return getattr(importlib.import_module(self.module), self.name)


EMULATORS: dict[str, EmulatorEntry] = {
    "go1-udp": EmulatorEntry("robot_deploy.emulator.go1_udp", "Go1UdpEmulator", "go1"),
    "go2-dds": EmulatorEntry("robot_deploy.emulator.go2_dds", "Go2DdsEmulator", "go2"),
}
"""The emulators by wire protocol."""


def check_protocol(name: str) -> str:
    """``name`` if an emulator speaks that wire protocol.

    Raises:
        RobotConnectionError: An unknown protocol.
    """
    from robot_deploy.emulator.core import check_choice

    return check_choice(name, EMULATORS, "protocol")


def emulator_class(protocol: str) -> type:
    """The emulator class of ``protocol``.

    Raises:
        RobotConnectionError: An unknown protocol.
    """
    return EMULATORS[check_protocol(protocol)].load()


def run_emulator(protocol: str, robot: str | None = None, *, max_seconds: float | None = None,
                 **options: Any) -> dict[str, int]:
    """Run an emulator in the foreground until ``max_seconds``, Ctrl-C or SIGTERM.

    Args:
        protocol: Wire protocol: "go1-udp" or "go2-dds".
        robot: Robot spec (None: go1 for go1-udp, go2 for go2-dds).
        max_seconds: Stop after this long (None: until Ctrl-C or SIGTERM).
        **options: Keyword arguments of the emulator class (``dynamics``, ``control_port``,
            ``command_timeout``, ``physics``, ``interface``; go1-udp: ``port``; go2-dds:
            ``domain``, ``state_hz``, ``sport_mode``, ``release_delay``).

    Returns:
        The final counters.

    Raises:
        RobotConnectionError: An unknown protocol or engine, or a port or domain that cannot
            be used.
        RobotSpecError: An unknown robot.
        NetworkOptionError: An unknown interface (or, go1-udp, one without an IPv4 address).
    """
    cls = emulator_class(protocol)
    emulator = cls(robot or EMULATORS[protocol].robot, **options)
    return emulator.serve(max_seconds)
