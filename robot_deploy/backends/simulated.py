"""What the two simulated backends (PyBullet ``sim``, ``mujoco``) share: the two clocks.

``realtime=False`` (lockstep, as fast as possible) advances the simulation by one command
period at every :meth:`SimulatedBackend.command`, so a control loop and the robot share one
simulated clock; ``realtime=True`` steps physics in a background thread at the physics rate
of wall time, like hardware, and commands take effect whenever they arrive.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from quadmimic.core.robots import get_robot
from robot_deploy.robot import JointCommand, Robot
from robot_deploy.timing import Pacer
from sim_training.dynamics import dynamics_from

GRAVITY_UP = np.array([0.0, 0.0, 9.81])
"""What an accelerometer at rest reads, world frame (m/s²)."""


class SimulatedBackend(Robot):
    """A simulated robot behind the :class:`Robot` interface (one engine per subclass).

    Args:
        robot: Robot name.
        dynamics: Dynamics params (dict or JSON file; missing keys nominal).
        physics_hz: Physics rate (Hz).
        command_period: Simulated seconds per command in lockstep mode.
        realtime: Step physics in a background thread at wall-clock speed.
        start_height: Extra height (m) above standing at which the robot starts.
    """

    engine = "simulation"
    """Name of the engine, for thread names and messages."""

    def __init__(self, robot: str = "a1", dynamics: Mapping | str | Path | None = None, *,
                 physics_hz: float = 1000.0, command_period: float = 0.002,
                 realtime: bool = False, start_height: float = 0.0) -> None:
        self.spec = get_robot(robot)
        self.dynamics = dynamics_from(dynamics)
        self.physics_hz = physics_hz
        self.substeps = max(1, round(command_period * physics_hz))
        self.realtime = realtime
        self.start_height = start_height
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._running = False
        self._prev_vel = np.zeros(3)  # base velocity after the last physics step
        self._accel = GRAVITY_UP.copy()

    # ------------------------------------------------------------------ engine
    @abc.abstractmethod
    def _connected(self) -> bool:
        """The engine holds a robot."""

    @abc.abstractmethod
    def _step(self, n: int) -> None:
        """Advance ``n`` physics steps (the lock is held)."""

    @abc.abstractmethod
    def _apply(self, cmd: JointCommand) -> None:
        """Hand a motor command to the engine's motor model (the lock is held)."""

    def _update_accel(self, velocity: np.ndarray, steps: int) -> None:
        """The accelerometer (world, gravity included) from the velocity after ``steps``."""
        self._accel = (velocity - self._prev_vel) * self.physics_hz / steps + GRAVITY_UP
        self._prev_vel = velocity

    # ------------------------------------------------------------------ clocks
    def _start_clock(self) -> None:
        """In real time, start stepping physics in the background."""
        if self.realtime:
            self._running = True
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name=f"{self.engine}-{self.physics_hz:g}hz")
            self._thread.start()

    def _stop_clock(self) -> None:
        """Stop the background stepping (idempotent)."""
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def _loop(self) -> None:
        pacer = Pacer(1.0 / self.physics_hz)
        while self._running:
            with self._lock:
                if not self._connected():
                    break
                self._step(1)
            pacer.wait()

    def command(self, cmd: JointCommand) -> None:
        """Apply a motor command; in lockstep mode also advance one command period."""
        self._require()
        with self._lock:
            self._apply(cmd)
            if not self.realtime:
                self._step(self.substeps)

    @abc.abstractmethod
    def _require(self) -> object:
        """The engine's handle; RobotConnectionError when not connected."""
