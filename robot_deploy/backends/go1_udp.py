"""The ``go1-udp`` backend: a Go1 (or the emulator) through the official Unitree SDK 3.8 client.

Everything on the wire goes through the SDK wheel's ``robot_interface`` (``UDP``, ``LowCmd``,
``LowState``, optionally ``Safety``). :meth:`Go1UdpBackend.command` fills the LowCmd and sends
it at once (``SetSend`` + ``Send``); a background thread polls the socket (``Recv`` +
``GetRecv``, non-blocking) at ``poll_hz`` and converts the newest LowState to a
:class:`~robot_deploy.robot.RobotState` stamped with the local monotonic time of its arrival,
so :meth:`read` never blocks; the state's ``remote`` is the LowState's ``wirelessRemote``
decoded (:func:`robot_deploy.remote.decode_remote`: the e-stop and Start). Like the robot,
the backend does not repeat commands on its own: each :meth:`command` is one packet and the
robot answers each packet with one state, so a client that stops commanding gets no fresh
state and the robot's watchdog damps.

The wire format is SDK 3.8's, the Go1's. It drives every robot whose spec names a legged-SDK
type (``RobotSpec.legged_sdk_type``: go1, a1): ``robot="a1"`` selects the A1 spec (limits,
gains, SDK ``Safety`` tables) but a real A1 speaks the older SDK 3.3 format, so it only makes
sense against the emulator.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import numpy as np

from quadmimic.core.errors import RobotConnectionError
from quadmimic.core.robots import get_robot, robot_names
from robot_deploy.network import check_robot_route, parse_robot_ip
from robot_deploy.remote import decode_remote
from robot_deploy.robot import JointCommand, Robot, RobotState

log = logging.getLogger(__name__)

LOWLEVEL = 0xFF
HEAD = (0xFE, 0xEF)
SERVO_MODE = 0x0A
N_JOINTS = 12
# What the SDK's 16-bit fields can carry (tau·256 in int16, Kp·32 and Kd·16 in uint16).
TAU_RANGE = (-128.0, 127.99)
KP_MAX = 2047.9
KD_MAX = 4095.9

_SDK_LOCK = threading.RLock()
"""SDK 3.8 packs commands and unpacks states in process-global buffers: one caller at a time."""


def _sdk() -> object:
    try:
        from unitree_legged_sdk import robot_interface
    except ImportError as exc:  # pragma: no cover - the wheel is a dependency
        raise RobotConnectionError(f"the Unitree legged SDK is not installed: {exc}") from exc
    return robot_interface


class Go1UdpBackend(Robot):
    """A Unitree Go1 (SDK 3.8 low level) behind the :class:`Robot` interface.

    Args:
        robot: Robot spec name: a robot with a legged-SDK type (go1, a1).
        robot_ip: The robot's IPv4 address (the Go1's low-level board is 192.168.123.10;
            the emulator 127.0.0.1).
        robot_port: The robot's UDP port (8007).
        local_port: Local UDP port (Unitree's examples use 8080; 0 = any free port).
        poll_hz: How often the background thread polls for states (Hz).
        contact_threshold: Foot force above which a foot counts as in contact (sensor units;
            the emulator reports newtons).
        power_protect: Apply the SDK's ``Safety.PowerProtect`` with this factor (1..10)
            before each send (None: off; on a trip it switches the motors off).
        position_limit: Apply the SDK's ``Safety.PositionLimit`` (clamp targets to the
            SDK's joint limits) before each send.
        interface: The network interface that faces the robot; if given, ``robot_ip`` must
            be on its network (the SDK's socket itself listens on every interface).

    Raises:
        RobotConnectionError: ``robot``'s spec has no legged-SDK type.
        NetworkOptionError: ``robot_ip`` is not an IPv4 address, or not on ``interface``.
    """

    def __init__(self, robot: str = "go1", *, robot_ip: str = "127.0.0.1",
                 robot_port: int = 8007, local_port: int = 8080, poll_hz: float = 1000.0,
                 contact_threshold: float = 15.0, power_protect: int | None = None,
                 position_limit: bool = False, interface: str | None = None) -> None:
        self.spec = get_robot(robot)
        if self.spec.legged_sdk_type is None:
            drivable = [n for n in robot_names() if get_robot(n).legged_sdk_type is not None]
            raise RobotConnectionError(f"go1-udp backend drives {' or '.join(drivable)}, "
                                       f"not {robot!r}")
        self.robot_ip = parse_robot_ip(robot_ip)
        if interface is not None:
            check_robot_route(self.robot_ip, interface)
        self.interface = interface
        self.robot_port = robot_port
        self.local_port = local_port
        self.poll_period = 1.0 / poll_hz
        self.contact_threshold = contact_threshold
        self.power_protect = power_protect
        self.position_limit = position_limit
        self.stats: dict[str, int] = {"sent": 0, "send_errors": 0, "received": 0,
                                      "crc_errors": 0, "non_finite_commands": 0}
        self._udp = None
        self._cmd = None
        self._low = None
        self._safety = None
        self._state: RobotState | None = None
        self._tick = 0
        self._lock = threading.Lock()
        self._running = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def connect(self, timeout: float = 5.0) -> None:
        """Open the SDK client; send zero-gain commands until a valid LowState arrives.

        Raises:
            RobotConnectionError: No valid LowState within ``timeout`` seconds, or the local
                port is taken.
        """
        if self._udp is not None:
            return
        ri = _sdk()
        if self.local_port:
            # The SDK only prints a bind failure and carries on from a random port.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind(("", self.local_port))
                except OSError as exc:
                    raise RobotConnectionError(
                        f"local UDP port {self.local_port} is in use: {exc}") from exc
        with _SDK_LOCK:
            self._udp = ri.UDP(LOWLEVEL, self.local_port, self.robot_ip, self.robot_port)
            self._cmd = ri.LowCmd()
            self._low = ri.LowState()
            self._udp.InitCmdData(self._cmd)  # servo mode, PosStopF/VelStopF, zero gains
            if self.power_protect is not None or self.position_limit:
                legged = getattr(ri.LeggedType, self.spec.legged_sdk_type)
                self._safety = ri.Safety(legged)
        deadline = time.monotonic() + timeout
        while self._state is None:
            with _SDK_LOCK:
                self._udp.SetSend(self._cmd)
                self._udp.Send()
            self.stats["sent"] += 1
            time.sleep(0.002)
            self._poll()
            if self._state is None and time.monotonic() > deadline:
                self._release()
                raise RobotConnectionError(
                    f"no LowState from {self.robot_ip}:{self.robot_port} within {timeout:.1f} s")
        self._running = True
        self._thread = threading.Thread(target=self._loop, daemon=True, name="go1-udp-recv")
        self._thread.start()

    def close(self) -> None:
        """Stop the receive thread and close the SDK's socket (idempotent)."""
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None
        self._release()

    def _release(self) -> None:
        with _SDK_LOCK:
            self._udp = None  # the SDK's destructor closes the socket
            self._cmd = self._low = self._safety = None
        self._state = None

    # ------------------------------------------------------------------ receive
    def _loop(self) -> None:
        next_t = time.perf_counter()
        while self._running:
            try:
                self._poll()
            except Exception:  # keep receiving whatever one packet did
                log.exception("go1-udp receive")
            next_t += self.poll_period
            delay = next_t - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            else:
                next_t = time.perf_counter()

    def _poll(self) -> None:
        """Drain the socket; keep the newest valid LowState."""
        fresh = False
        with _SDK_LOCK:
            udp = self._udp
            if udp is None:
                return
            for _ in range(64):
                r = udp.Recv()
                if r == 0:
                    fresh = True
                elif r == -3:
                    self.stats["crc_errors"] += 1
                else:  # -1 nothing (or a bad head), -2 timeout, -4 socket error
                    break
            if not fresh:
                return
            stamp = time.monotonic()
            low = self._low
            udp.GetRecv(low)
            state = self._convert(low, stamp)
        if state is not None:
            self.stats["received"] += 1
            with self._lock:
                self._state = state

    def _convert(self, low: object, stamp: float) -> RobotState | None:
        if tuple(low.head) != HEAD or low.levelFlag != LOWLEVEL or low.tick == 0:
            return None
        motors = low.motorState[:N_JOINTS]
        q = np.array([m.q for m in motors])
        dq = np.array([m.dq for m in motors])
        tau = np.array([m.tauEst for m in motors])
        imu = low.imu
        w, x, y, z = imu.quaternion
        self._tick = int(low.tick)
        return RobotState(q=q, dq=dq, tau=tau, quat=np.array([x, y, z, w]),
                          gyro=np.array(imu.gyroscope), accel=np.array(imu.accelerometer),
                          stamp=stamp,
                          foot_contact=np.array(low.footForce) > self.contact_threshold,
                          remote=decode_remote(low.wirelessRemote))

    # ------------------------------------------------------------------ Robot
    def read(self) -> RobotState:
        """The newest LowState as a RobotState (does not block).

        Raises:
            RobotConnectionError: Not connected.
        """
        with self._lock:
            state = self._state
        if state is None:
            raise RobotConnectionError("go1-udp backend is not connected")
        return state

    @property
    def tick(self) -> int:
        """The robot's tick (µs) of the newest state."""
        return self._tick

    def command(self, cmd: JointCommand) -> None:
        """Fill the LowCmd (motors 0..11, servo mode) and send it.

        Gains and torques are clipped into what the SDK's 16-bit fields carry (out of range
        they would wrap). A command with NaN or inf is not sent: damping is sent instead.

        Raises:
            RobotConnectionError: Not connected.
        """
        if not cmd.finite:
            self.stats["non_finite_commands"] += 1
            log.warning("go1-udp: non-finite command replaced by damping")
            cmd = JointCommand.damping(np.asarray(self.spec.kd) * 2.0)
        q = cmd.q.tolist()
        dq = cmd.dq.tolist()
        tau = np.clip(cmd.tau, *TAU_RANGE).tolist()
        kp = np.clip(cmd.kp, 0.0, KP_MAX).tolist()
        kd = np.clip(cmd.kd, 0.0, KD_MAX).tolist()
        with _SDK_LOCK:
            udp, low_cmd = self._udp, self._cmd
            if udp is None:
                raise RobotConnectionError("go1-udp backend is not connected")
            motors = low_cmd.motorCmd  # references into the LowCmd
            for i in range(N_JOINTS):
                m = motors[i]
                m.mode = SERVO_MODE
                m.q = q[i]
                m.dq = dq[i]
                m.tau = tau[i]
                m.Kp = kp[i]
                m.Kd = kd[i]
            if self._safety is not None:
                if self.position_limit:
                    self._safety.PositionLimit(low_cmd)
                if self.power_protect is not None:
                    self._safety.PowerProtect(low_cmd, self._low, int(self.power_protect))
            udp.SetSend(low_cmd)
            sent = udp.Send()
        if sent > 0:
            self.stats["sent"] += 1
        else:
            self.stats["send_errors"] += 1
        self._poll()
