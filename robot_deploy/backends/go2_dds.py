"""The ``go2-dds`` backend: a Unitree Go2 over DDS, through Unitree's own Python SDK.

The Go2 (and the emulator in :mod:`robot_deploy.emulator.go2_dds`) speaks the ``unitree_go``
low-level topics of ``unitree_sdk2``: the robot publishes ``rt/lowstate`` (``LowState_``,
500 Hz) and obeys ``rt/lowcmd`` (``LowCmd_``). Every LowCmd carries a CRC32 (the SDK's
``CRC().Crc(msg)``: the message packed as its C struct, all 32-bit words but the last,
polynomial 0x04C11DB7); the robot ignores a command whose CRC is wrong. Motor ``i`` of the
messages is joint ``i`` of the robot spec (FR, FL, RR, RL × hip, thigh, calf); motors 12..19
are unused on a Go2.

Low-level commands are only obeyed once the robot's own motion service is released: a Go2
starts in sport mode ("normal"), and while a motion mode is active it ignores ``rt/lowcmd``.
So :meth:`Go2DdsBackend.connect` does what Unitree's ``go2_stand_example.py`` does, with the
SDK's ``MotionSwitcherClient`` (RPC service ``motion_switcher``): ``CheckMode``, and while a
mode is active ``ReleaseMode`` and check again, until none is (or ``release_timeout``:
:class:`RobotConnectionError`). It sends no command before. Each ``LowState_`` also carries
the wireless remote (``wireless_remote``, decoded into ``RobotState.remote``).

DDS is set up by the SDK's process-global ``ChannelFactoryInitialize(domain, interface)``:
one domain per process. :func:`init_dds` wraps it and refuses a second, different domain.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from typing import Any

import numpy as np

from quadmimic.core.errors import RobotConnectionError
from quadmimic.core.robots import get_robot
from robot_deploy.network import check_interface
from robot_deploy.remote import decode_remote
from robot_deploy.robot import JointCommand, Robot, RobotState

log = logging.getLogger(__name__)

LOWCMD_TOPIC = "rt/lowcmd"
LOWSTATE_TOPIC = "rt/lowstate"
HEAD = (0xFE, 0xEF)
"""``LowCmd_.head`` of every low-level command."""
LOWLEVEL = 0xFF
"""``LowCmd_.level_flag`` of low-level control."""
MODE_SERVO = 0x01
"""``MotorCmd_.mode``: motor on (FOC servo); 0x00 is motor off."""
N_MOTORS = 12

_dds_lock = threading.Lock()
_dds_config: tuple[int, str] | None = None


def current_dds_domain() -> int | None:
    """The domain the SDK's channel factory already runs on (None if not initialised)."""
    from unitree_sdk2py.core.channel import ChannelFactory

    participant = getattr(ChannelFactory, "_ChannelFactory__participant", None)
    if participant is None:
        return None
    try:
        return int(participant.get_domain_id())
    except Exception:  # an unknown SDK layout: cannot tell
        return None


def init_dds(domain: int, interface: str = "lo") -> None:
    """Initialise the SDK's DDS channel factory on ``domain`` and ``interface`` (once).

    The SDK allows one factory per process; calling again with the same domain is a no-op.

    Raises:
        RobotConnectionError: DDS failed to start, or this process already runs another domain.
        NetworkOptionError: No network interface ``interface`` on this machine.
    """
    global _dds_config
    check_interface(interface)
    from unitree_sdk2py.core.channel import ChannelFactoryInitialize

    with _dds_lock:
        current = current_dds_domain()
        if current is not None:
            if current != domain:
                raise RobotConnectionError(
                    f"this process already runs DDS domain {current}; cannot also join "
                    f"domain {domain} (the Unitree SDK allows one domain per process)")
            if _dds_config is not None and _dds_config[1] != interface:
                raise RobotConnectionError(
                    f"DDS already runs on interface {_dds_config[1]!r}, not {interface!r}")
            return
        try:
            ChannelFactoryInitialize(domain, interface)
        except Exception as exc:
            raise RobotConnectionError(
                f"cannot start DDS on domain {domain}, interface {interface!r}: {exc}") from exc
        _dds_config = (domain, interface)


def dds_entities(channel: object) -> list[Any]:
    """The cyclonedds DataReader/DataWriter inside an SDK ``ChannelSubscriber``/``Publisher``.

    The SDK keeps them private; this finds them by type, not by (name-mangled) attribute.
    """
    from cyclonedds.pub import DataWriter
    from cyclonedds.sub import DataReader

    found: list[Any] = []

    def walk(obj: object, depth: int) -> None:
        for value in getattr(obj, "__dict__", {}).values():
            if isinstance(value, DataReader | DataWriter):
                found.append(value)
            elif depth > 0 and hasattr(value, "__dict__") and not isinstance(value, type):
                walk(value, depth - 1)

    walk(channel, 3)
    return found


def channel_reader(channel: object) -> Any:
    """The DataReader of an SDK ``ChannelSubscriber`` (after ``Init``).

    Raises:
        RobotConnectionError: None found (an SDK this module does not know).
    """
    from cyclonedds.sub import DataReader

    readers = [e for e in dds_entities(channel) if isinstance(e, DataReader)]
    if len(readers) != 1:
        raise RobotConnectionError("cannot find the DDS reader of the SDK's ChannelSubscriber")
    return readers[0]


def release(channel: object) -> None:
    """Close an SDK ``ChannelPublisher``/``ChannelSubscriber`` and delete its DDS entities.

    The SDK's ``Close`` only drops its Python reference, while cyclonedds keeps every entity
    alive in a registry: a closed reader would go on receiving (and deserialising) samples.
    This deletes the underlying DataReader/DataWriter for real. Idempotent, never raises.
    """
    for entity in dds_entities(channel):
        with contextlib.suppress(Exception):
            # No listener first: this waits for a callback in progress, which would fail
            # (and print) once the entity has left cyclonedds' registry.
            entity.set_listener(None)
        with contextlib.suppress(Exception):
            entity.__del__()  # cyclonedds' own delete: unregisters and calls dds_delete
    with contextlib.suppress(Exception):
        channel.Close()  # type: ignore[attr-defined]


def close_rpc_client(client: object) -> None:
    """Close an SDK RPC client (e.g. ``MotionSwitcherClient``): its DDS entities and thread.

    The SDK has no close: its request writer and response reader (with a listener and a
    reader thread) would live as long as the process. Idempotent, never raises.
    """
    close_rpc_channels(getattr(client, "_ClientBase__stub", None),
                       ("_ClientStub__sendChannel", "_ClientStub__recvChannel"),
                       ("CloseReader", "CloseWriter"))  # these stop the reader thread


def close_rpc_channels(stub: Any, names: tuple[str, ...], closers: tuple[str, ...] = ()) -> None:
    """Delete the DDS entities of an SDK RPC stub's channels (client or server side).

    Args:
        stub: The SDK's client or server stub (None: nothing to do).
        names: Attribute names of its channels.
        closers: Channel methods to call after (e.g. ``CloseReader``). Never raises.
    """
    for name in names:
        channel = getattr(stub, name, None)
        if channel is None:
            continue
        for entity in dds_entities(channel):
            with contextlib.suppress(Exception):
                entity.set_listener(None)
            with contextlib.suppress(Exception):
                entity.__del__()
        for close in closers:
            with contextlib.suppress(Exception):
                getattr(channel, close)()


def release_motion_mode(timeout: float = 10.0, poll: float = 0.25) -> str:
    """Release the robot's motion mode (sport mode) through its ``motion_switcher`` service.

    Unitree's procedure (``go2_stand_example.py``) with the SDK's ``MotionSwitcherClient``:
    ``CheckMode``; while a mode is active, ``ReleaseMode``, wait, check again. DDS must be
    initialised (:func:`init_dds`).

    Args:
        timeout: Seconds until no mode is active.
        poll: Seconds between checks.

    Returns:
        The mode that was active ("" if none was).

    Raises:
        RobotConnectionError: A mode is still active after ``timeout``, or the service
            did not answer.
    """
    from unitree_sdk2py.comm.motion_switcher.motion_switcher_client import (
        MotionSwitcherClient,
    )

    deadline = time.monotonic() + timeout
    client = MotionSwitcherClient()  # joins the service's request/response topics
    try:
        client.SetTimeout(max(0.1, min(1.0, timeout)))
        client.Init()
        released, problem = "", "motion_switcher gave no answer"
        while True:
            name, problem = _check_mode(client, problem)
            if name == "":
                if released:
                    log.info("go2-dds: released motion mode %r", released)
                return released
            if name is not None:
                released = released or name
                problem = f"{name!r} still active"
                client.ReleaseMode()
            left = deadline - time.monotonic()
            if left <= 0:
                raise RobotConnectionError(
                    f"cannot release the motion mode in {timeout:.1f} s: {problem}")
            time.sleep(min(poll, left))
    finally:
        close_rpc_client(client)


def _check_mode(client: Any, problem: str) -> tuple[str | None, str]:
    """``CheckMode``: the active mode's name ("" none), or None and what went wrong."""
    try:
        code, result = client.CheckMode()
        if code != 0:
            return None, f"motion_switcher gave no answer (RPC code {code})"
        return str(result.get("name") or ""), problem
    except Exception as exc:  # an answer that is not the expected JSON
        return None, f"unreadable CheckMode answer ({exc})"


def quat_wxyz_to_xyzw(q: Any) -> np.ndarray:
    """Unitree's IMU quaternion (w, x, y, z) as this project's (x, y, z, w)."""
    w, x, y, z = (float(v) for v in q)
    return np.array([x, y, z, w])


class Go2DdsBackend(Robot):
    """A Go2 (or its emulator) over DDS with the Unitree SDK's channels.

    States are not handled in a DDS listener: the SDK's listener deserialises every
    ``LowState_`` in Python in DDS's receive thread, and when the process is busy (the GIL)
    samples queue up in the socket and arrive late while looking fresh (measured: 0.9 s behind
    with a busy control loop). Instead DDS keeps only the newest sample (the reader's default
    history, keep last 1) and :meth:`read` takes and decodes it. Its ``stamp`` is the local
    monotonic time of its reception, estimated as "now minus how much later than usual it
    is": the lateness ``local wall clock − source timestamp`` (robot clock) minus its running
    minimum (the clock offset plus the best-case latency; allowed to creep up by 1 ms/s for
    clock drift). A sample that sat unread, or arrived late, is stamped old.

    Args:
        robot: Robot name (its spec gives the joint order and gains; ``go2``).
        domain: DDS domain id (the Go2 uses 0).
        interface: Network interface DDS binds to (``lo`` for the emulator; the robot's
            Ethernet interface on hardware).
        contact_threshold: A foot touches the ground when its ``foot_force`` exceeds this
            (raw sensor units on the Go2; newtons in the emulator).
        check_crc: Validate the CRC of every state read; a bad one is counted and skipped
            (the previous state, with its older stamp, stays the newest).
        release_timeout: Seconds :meth:`connect` may take to release the robot's motion
            mode (see the module doc).
    """

    LATENCY_DRIFT = 1e-3
    """How fast (s/s) the lateness baseline may creep up (clock drift robot vs. computer)."""

    def __init__(self, robot: str = "go2", domain: int = 0, interface: str = "lo", *,
                 contact_threshold: float = 20.0, check_crc: bool = True,
                 release_timeout: float = 10.0) -> None:
        self.spec = get_robot(robot)
        self.domain = domain
        self.interface = interface
        self.contact_threshold = contact_threshold
        self.check_crc = check_crc
        self.release_timeout = release_timeout
        self.released_mode: str | None = None
        """The motion mode :meth:`connect` released ("" none was active; None not yet)."""
        self.counters: Counter[str] = Counter()
        """``states_received``, ``states_bad_crc``, ``states_malformed``, ``commands_sent``,
        ``write_failed``."""
        self._lock = threading.Lock()
        self._cmd_lock = threading.Lock()
        self._state: RobotState | None = None
        self._baseline: float | None = None
        self._baseline_time = 0.0
        self._sub: Any = None
        self._reader: Any = None
        self._pub: Any = None
        self._crc: Any = None
        self._cmd: Any = None
        self._open = False

    # ------------------------------------------------------------------ lifecycle
    def connect(self, timeout: float = 5.0) -> None:
        """Join the DDS domain, wait for a first valid state, release the motion mode.

        Subscribes ``rt/lowstate``; once a valid state arrived, releases the robot's motion
        mode (up to ``release_timeout`` more seconds). No command is sent.

        Raises:
            RobotConnectionError: DDS would not start, no valid state within ``timeout``, or
                the motion mode could not be released.
            NetworkOptionError: No network interface ``interface`` on this machine.
        """
        if self._open:
            return
        from unitree_sdk2py.core.channel import ChannelPublisher, ChannelSubscriber
        from unitree_sdk2py.idl.default import unitree_go_msg_dds__LowCmd_
        from unitree_sdk2py.idl.unitree_go.msg.dds_ import LowCmd_, LowState_
        from unitree_sdk2py.utils.crc import CRC

        deadline = time.monotonic() + timeout
        init_dds(self.domain, self.interface)
        self._crc = CRC()
        self._cmd = unitree_go_msg_dds__LowCmd_()
        self._cmd.head = list(HEAD)
        self._cmd.level_flag = LOWLEVEL
        self._state, self._baseline = None, None
        self._open = True
        try:
            self._sub = ChannelSubscriber(LOWSTATE_TOPIC, LowState_)
            self._sub.Init()  # no handler: a plain reader, polled by read()
            self._reader = channel_reader(self._sub)
            self._pub = ChannelPublisher(LOWCMD_TOPIC, LowCmd_)
            self._pub.Init()
        except Exception as exc:
            self.close()
            if isinstance(exc, RobotConnectionError):
                raise
            raise RobotConnectionError(f"cannot open the Go2 DDS channels: {exc}") from exc
        while time.monotonic() < deadline:
            if self._update() is not None:
                try:
                    self.released_mode = release_motion_mode(self.release_timeout)
                except RobotConnectionError:
                    self.close()
                    raise
                return
            time.sleep(0.005)
        self.close()
        raise RobotConnectionError(
            f"no valid {LOWSTATE_TOPIC} on DDS domain {self.domain} ({self.interface}) within "
            f"{timeout:.1f} s (robot off, wrong interface or domain?)")

    def close(self) -> None:
        """Delete the DDS reader and writer (idempotent; the process keeps its domain)."""
        self._open = False
        with self._lock:
            for channel in (self._sub, self._pub):
                if channel is not None:
                    release(channel)
            self._sub = self._pub = self._reader = None

    # ------------------------------------------------------------------ Robot
    def _stamp(self, info: Any) -> float:
        """Local monotonic time at which the sample with ``info`` arrived (estimated)."""
        now = time.monotonic()
        source = getattr(info, "source_timestamp", None)
        if not isinstance(source, int) or source <= 0:
            return now  # no source clock: when we first saw it
        lateness = (time.time_ns() - source) * 1e-9
        if self._baseline is None:
            self._baseline = lateness
        else:
            self._baseline = min(
                self._baseline + self.LATENCY_DRIFT * (now - self._baseline_time), lateness)
        self._baseline_time = now
        return now - max(0.0, lateness - self._baseline)

    def _update(self) -> RobotState | None:
        """Take the newest sample, if any (CRC checked); return the newest valid state."""
        from cyclonedds.internal import InvalidSample

        with self._lock:
            if self._reader is None:
                return self._state
            try:
                samples = self._reader.take(N=8)  # history keeps 1: at most one, the newest
            except Exception:
                self.counters["states_malformed"] += 1
                return self._state
            valid = [s for s in samples if not isinstance(s, InvalidSample)]
            if not valid:
                return self._state
            msg = valid[-1]
            stamp = self._stamp(getattr(msg, "sample_info", None))
            if self._state is not None:  # never older than the state before
                stamp = max(stamp, self._state.stamp)
            self.counters["states_received"] += 1
            try:
                if self.check_crc and msg.crc != self._crc.Crc(msg):
                    self.counters["states_bad_crc"] += 1
                    return self._state
                state = self._decode(msg, stamp)
            except Exception:
                self.counters["states_malformed"] += 1
                return self._state
            self._state = state
            return state

    def _decode(self, msg: Any, stamp: float) -> RobotState:
        motors = msg.motor_state[:N_MOTORS]
        imu = msg.imu_state
        force = np.asarray(msg.foot_force, dtype=np.float64)
        return RobotState(
            q=np.array([m.q for m in motors], dtype=np.float64),
            dq=np.array([m.dq for m in motors], dtype=np.float64),
            tau=np.array([m.tau_est for m in motors], dtype=np.float64),
            quat=quat_wxyz_to_xyzw(imu.quaternion),
            gyro=np.asarray(imu.gyroscope, dtype=np.float64),
            accel=np.asarray(imu.accelerometer, dtype=np.float64),
            stamp=stamp,
            foot_contact=force > self.contact_threshold,
            remote=decode_remote(msg.wireless_remote),
        )

    def read(self) -> RobotState:
        """The newest valid state (see the class doc for its ``stamp``).

        Raises:
            RobotConnectionError: Not connected.
        """
        if not self._open:
            raise RobotConnectionError("go2-dds backend is not connected")
        state = self._update()
        if state is None:
            raise RobotConnectionError("go2-dds backend has no state yet")
        return state

    def command(self, cmd: JointCommand) -> None:
        """Publish one LowCmd_ (motors 0..11 in servo mode, CRC set) on ``rt/lowcmd``.

        Raises:
            RobotConnectionError: Not connected.
            ValueError: ``cmd`` holds NaN or inf (never sent to a motor).
        """
        if not self._open or self._pub is None:
            raise RobotConnectionError("go2-dds backend is not connected")
        if not cmd.finite:
            raise ValueError("refusing to send a non-finite motor command")
        q, dq, tau, kp, kd = (a.tolist() for a in (cmd.q, cmd.dq, cmd.tau, cmd.kp, cmd.kd))
        with self._cmd_lock:
            msg = self._cmd
            for i in range(N_MOTORS):
                m = msg.motor_cmd[i]
                m.mode = MODE_SERVO
                m.q, m.dq, m.tau, m.kp, m.kd = q[i], dq[i], tau[i], kp[i], kd[i]
            msg.crc = self._crc.Crc(msg)
            ok = self._pub.Write(msg)
        self.counters["commands_sent" if ok else "write_failed"] += 1
