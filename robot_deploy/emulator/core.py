"""What every emulator shares, whatever its wire protocol.

:class:`EmulatorCore` hosts a real-time simulated backend (PyBullet's
:class:`~robot_deploy.backends.sim.SimBackend` or MuJoCo's
:class:`~robot_deploy.backends.mujoco.MujocoBackend`, physics at 1 kHz of wall time), applies
decoded motor commands, runs the robot-side command watchdog (no valid command for
``command_timeout`` → damping, as Unitree's motor boards do), and counts packets (good, and
dropped by reason). :class:`ControlServer` is the out-of-band channel that hardware would not
have: JSON over UDP on 127.0.0.1, kept apart from the robot's wire protocol, with ``reset``
(the operator putting the robot back on its feet), ``shove`` (a push, world-frame m/s),
``set_dynamics`` (new physical parameters), ``remote`` (the operator's wireless remote:
``{"op": "remote", "buttons": ["L2", "B"]}`` holds those buttons, and optionally sticks ``lx``,
``rx``, ``ry``, ``l2``, ``ly``, until the next ``remote`` request; ``"buttons": []`` releases
them; the state stream carries it, see :mod:`robot_deploy.remote`), ``motion_mode`` (fault
injection on the robot's built-in motion service: ``{"op": "motion_mode", "name": "normal",
"release_delay": 30}`` makes a sport mode active and/or sets how long a release takes) and
``stats`` (counters and the operator's ground truth: base position, heading ``base_yaw``,
roll/pitch).

The core also models the robot's built-in motion service (the Go2's sport mode, switched by
the ``motion_switcher`` service the Go2 emulator serves): while a motion mode is active the
robot stands on its own and low-level commands are ignored (counted as
``ignored_motion_mode``), as on the robot; a release takes ``release_delay`` seconds.
"""

from __future__ import annotations

import collections
import json
import math
import signal
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from quadmimic.core.errors import QuadmimicError, RobotConnectionError
from quadmimic.core.geometry import quat_to_matrix, yaw_of
from robot_deploy.backends import PHYSICS, Connection, make_backend
from robot_deploy.realtime import frozen_heap
from robot_deploy.remote import RemoteFormatError, decode_remote, encode_remote
from robot_deploy.robot import JointCommand, RobotState

LOOPBACK = "127.0.0.1"
MOTION_MODES = ("normal", "ai", "advanced", "ai-w", "mcf")
"""Motion modes (``SelectMode`` names) of the Go2's motion service; "" is none (released)."""


class MotionModeError(QuadmimicError, ValueError):
    """An unknown motion mode name."""


def check_motion_mode(name: str) -> str:
    """``name`` if it is a motion mode or "" (none).

    Raises:
        MotionModeError: An unknown name.
    """
    if name and name not in MOTION_MODES:
        raise MotionModeError(f"unknown motion mode {name!r} "
                              f"(known: {', '.join(MOTION_MODES)}; '' or none: released)")
    return name


def check_physics(name: str) -> str:
    """``name`` if it is a physics engine of :data:`~robot_deploy.backends.PHYSICS`.

    Raises:
        RobotConnectionError: An unknown engine.
    """
    return check_choice(name, PHYSICS, "physics")


def check_choice(name: str, known: Any, what: str) -> str:
    """``name`` if it is one of ``known``, else one line naming them.

    Raises:
        RobotConnectionError: ``name`` is not known.
    """
    if name not in known:
        raise RobotConnectionError(f"unknown {what} {name!r}; available: {', '.join(known)}")
    return name


def serve_until(emulator: Any, max_seconds: float | None = None) -> dict[str, int]:
    """Start ``emulator``, run until ``max_seconds``, Ctrl-C or SIGTERM, then stop it.

    What every emulator's ``serve`` does (SIGTERM is caught only in the main thread).

    Returns:
        Its final counters.
    """
    done = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        with frozen_heap():  # a full collection would stall its physics and its replies
            emulator.start()
            deadline = math.inf if max_seconds is None else time.monotonic() + max_seconds
            while not done.is_set() and time.monotonic() < deadline:
                done.wait(min(0.1, max(0.0, deadline - time.monotonic())))
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return emulator.counters


class EmulatorCore:
    """Physics, command watchdog and packet counters of an emulated robot.

    Args:
        robot: Robot name.
        dynamics: Dynamics params (dict or JSON file).
        command_timeout: Seconds without a valid command before the motors go to damping.
        motion_mode: The motion mode active at start ("" none: low-level commands obeyed).
        release_delay: Seconds a release of the motion mode takes.
        physics: The engine behind the wire: "pybullet" (the training simulator) or
            "mujoco" (the second engine, the judge of transfer).
    """

    def __init__(self, robot: str, dynamics: Mapping | str | Path | None = None,
                 command_timeout: float = 0.1, *, motion_mode: str = "",
                 release_delay: float = 0.0, physics: str = "pybullet") -> None:
        self.physics = check_physics(physics)
        self.sim: Any = make_backend(Connection(PHYSICS[physics]), robot, dynamics=dynamics,
                                     realtime=True)
        self.spec = self.sim.spec
        self.command_timeout = command_timeout
        self.counters: collections.Counter[str] = collections.Counter()
        self.remote = encode_remote()
        """The wireless remote's 40 bytes, as the state stream reports them."""
        self.release_delay = float(release_delay)
        self._mode = check_motion_mode(motion_mode)
        self._release_at: float | None = None
        self._last_command = 0.0
        self._running = False
        self._watchdog: threading.Thread | None = None
        self._damped = False
        self._armed = False  # a low-level command arrived since the last mode change

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
                    and not self._damped and self._armed and not self.motion_mode):
                self.sim.damp()
                self._damped = True
                self.counters["watchdog_damping"] += 1
            time.sleep(0.005)

    def apply(self, cmd: JointCommand) -> None:
        """Apply a decoded, valid motor command (ignored while a motion mode is active)."""
        if not cmd.finite:
            self.counters["dropped_non_finite"] += 1
            return
        if self.motion_mode:
            self.counters["ignored_motion_mode"] += 1
            return
        self.sim.command(cmd)
        self._last_command = time.monotonic()
        self._damped = False
        self._armed = True
        self.counters["commands"] += 1

    # ------------------------------------------------------------------ motion service
    @property
    def motion_mode(self) -> str:
        """The active motion mode ("" once released: low-level commands are obeyed)."""
        if self._release_at is not None and time.monotonic() >= self._release_at:
            self._mode, self._release_at = "", None
            self.counters["motion_mode_released"] += 1
        return self._mode

    def select_mode(self, name: str) -> None:
        """Make motion mode ``name`` active: the robot stands on its own ("": release now).

        Raises:
            MotionModeError: An unknown mode name.
        """
        name = check_motion_mode(name)
        self._release_at = None
        self._armed = False
        if name and not self._mode:
            self.sim.command(JointCommand.position(self.spec.default, self.spec))
        self._mode = name

    def release_mode(self) -> None:
        """Start releasing the motion mode (done after ``release_delay``; no-op if none)."""
        if self._mode and self._release_at is None:
            self._release_at = time.monotonic() + self.release_delay
            self._armed = False
            self._last_command = time.monotonic()

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
        if op == "remote":
            sticks = {k: float(request.get(k, 0.0)) for k in ("lx", "rx", "ry", "l2", "ly")}
            try:
                buttons = request.get("buttons") or ()
                buttons = [buttons] if isinstance(buttons, str) else list(buttons)
                self.remote = encode_remote(buttons, **sticks)
            except RemoteFormatError as exc:
                return {"ok": False, "error": str(exc)}
            return {"ok": True, "buttons": sorted(decode_remote(self.remote).buttons)}
        if op == "motion_mode":
            if "release_delay" in request:
                self.release_delay = float(request["release_delay"])
            if "name" in request:
                try:
                    self.select_mode(str(request["name"]))
                except MotionModeError as exc:
                    return {"ok": False, "error": str(exc)}
            return {"ok": True, "motion_mode": self.motion_mode,
                    "release_delay": self.release_delay}
        if op == "stats":
            state = self.sim.read()
            position, quat = self.sim.base_pose()
            return {"ok": True, "robot": self.spec.name, "physics": self.physics,
                    "counters": dict(self.counters),
                    "time": state.stamp, "roll_pitch": state.roll_pitch.tolist(),
                    "base_height": float(position[2]), "base_position": position.tolist(),
                    "base_yaw": float(yaw_of(quat_to_matrix(quat))),
                    "motion_mode": self.motion_mode,
                    "remote_buttons": sorted(decode_remote(self.remote).buttons)}
        return {"ok": False, "error": f"unknown op {op!r}"}


class ControlServer:
    """The out-of-band channel: JSON requests over UDP on 127.0.0.1 (one reply each)."""

    def __init__(self, core: EmulatorCore, port: int) -> None:
        """Bind ``port`` on 127.0.0.1 (0: any free port).

        Raises:
            RobotConnectionError: The port cannot be bound.
        """
        self.core = core
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((LOOPBACK, port))
        except OSError as exc:
            self.sock.close()
            raise RobotConnectionError(f"cannot bind the control channel to "
                                       f"{LOOPBACK}:{port}: {exc}") from exc
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
