"""What every emulator shares, whatever its wire protocol.

:class:`EmulatorCore` hosts a real-time :class:`~robot_deploy.backends.sim.SimBackend`
(physics at 1 kHz of wall time), applies decoded motor commands, runs the robot-side command
watchdog (no valid command for ``command_timeout`` → damping, as Unitree's motor boards do),
and counts packets (good, and dropped by reason). :class:`ControlServer` is the out-of-band
channel that hardware would not have: JSON over UDP on 127.0.0.1, kept apart from the robot's
wire protocol, with ``reset`` (the operator putting the robot back on its feet), ``shove``
(a push, world-frame m/s), ``set_dynamics`` (new physical parameters) and ``stats``.
"""

from __future__ import annotations

import collections
import json
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from robot_deploy.backends.sim import SimBackend
from robot_deploy.robot import JointCommand, RobotState

LOOPBACK = "127.0.0.1"


class EmulatorCore:
    """Physics, command watchdog and packet counters of an emulated robot.

    Args:
        robot: Robot name.
        dynamics: Dynamics params (dict or JSON file).
        command_timeout: Seconds without a valid command before the motors go to damping.
    """

    def __init__(self, robot: str, dynamics: Mapping | str | Path | None = None,
                 command_timeout: float = 0.1) -> None:
        self.sim = SimBackend(robot, dynamics, realtime=True)
        self.spec = self.sim.spec
        self.command_timeout = command_timeout
        self.counters: collections.Counter[str] = collections.Counter()
        self._last_command = 0.0
        self._running = False
        self._watchdog: threading.Thread | None = None
        self._damped = False

    def start(self) -> None:
        """Start physics and the watchdog (the robot stands, holding its default pose)."""
        self.sim.connect()
        self._last_command = time.monotonic()
        self._running = True
        self._watchdog = threading.Thread(target=self._watch, daemon=True, name="watchdog")
        self._watchdog.start()

    def stop(self) -> None:
        """Stop everything (idempotent)."""
        self._running = False
        if self._watchdog is not None:
            self._watchdog.join(timeout=1.0)
            self._watchdog = None
        self.sim.close()

    def _watch(self) -> None:
        while self._running:
            if (time.monotonic() - self._last_command > self.command_timeout
                    and not self._damped and self.counters["commands"] > 0):
                self.sim.damp()
                self._damped = True
                self.counters["watchdog_damping"] += 1
            time.sleep(0.005)

    def apply(self, cmd: JointCommand) -> None:
        """Apply a decoded, valid motor command."""
        if not cmd.finite:
            self.counters["dropped_non_finite"] += 1
            return
        self.sim.command(cmd)
        self._last_command = time.monotonic()
        self._damped = False
        self.counters["commands"] += 1

    def drop(self, reason: str) -> None:
        """Count a packet dropped for ``reason`` (wrong size, bad CRC, garbage...)."""
        self.counters[f"dropped_{reason}"] += 1

    def state(self) -> RobotState:
        """The robot's sensors now."""
        return self.sim.read()

    # ------------------------------------------------------------------ operator
    def handle_control(self, request: dict[str, Any]) -> dict[str, Any]:
        """Serve one out-of-band request (see the module docstring)."""
        op = request.get("op")
        if op == "reset":
            self.sim.reset_pose()
            return {"ok": True}
        if op == "shove":
            self.sim.shove(np.asarray(request["velocity"], dtype=np.float64).reshape(3))
            return {"ok": True}
        if op == "set_dynamics":
            self.sim.set_dynamics(request.get("dynamics") or {})
            return {"ok": True, "dynamics": self.sim.dynamics}
        if op == "stats":
            state = self.sim.read()
            position = self.sim.sim.base_pose()[0]
            return {"ok": True, "counters": dict(self.counters), "time": state.stamp,
                    "roll_pitch": state.roll_pitch.tolist(),
                    "base_height": float(position[2]), "base_position": position.tolist()}
        return {"ok": False, "error": f"unknown op {op!r}"}


class ControlServer:
    """The out-of-band channel: JSON requests over UDP on 127.0.0.1 (one reply each)."""

    def __init__(self, core: EmulatorCore, port: int) -> None:
        self.core = core
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, port))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._running = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve in a background thread."""
        self._running = True
        self._thread = threading.Thread(target=self._serve, daemon=True, name="control")
        self._thread.start()

    def _serve(self) -> None:
        while self._running:
            try:
                data, addr = self.sock.recvfrom(65536)
            except (TimeoutError, OSError):
                continue
            try:
                reply = self.core.handle_control(json.loads(data.decode()))
            except Exception as exc:  # never crash on a request
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            self.sock.sendto(json.dumps(reply).encode(), addr)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        self.sock.close()


def control_request(port: int, request: dict[str, Any], timeout: float = 2.0) -> dict[str, Any]:
    """Send one out-of-band request to an emulator on 127.0.0.1 and return its reply."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(json.dumps(request).encode(), (LOOPBACK, port))
        data, _ = sock.recvfrom(65536)
    return json.loads(data.decode())
