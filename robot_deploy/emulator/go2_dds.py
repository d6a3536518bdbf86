"""A Unitree Go2 on DDS: the real ``unitree_go`` low-level topics over a real-time PyBullet robot.

What the robot does, this does, through the Unitree SDK's own channels and CRC:

* starts in sport mode ("normal") like the robot, and serves the ``motion_switcher`` RPC
  service with the SDK's own server side (``unitree_sdk2py.rpc.server.Server``; the service
  name, API version and API ids of the SDK's ``MotionSwitcherClient``): ``CheckMode`` answers
  ``{"form": "0", "name": <mode>}`` (name "" when released), ``SelectMode`` makes a mode active
  (the robot stands on its own), ``ReleaseMode`` releases it after ``release_delay`` seconds.
  While a mode is active, valid low-level commands are ignored (``ignored_motion_mode``);
* subscribes ``rt/lowcmd`` (``LowCmd_``) and applies the newest command (a newer one replaces
  an unread one, nothing queues): a command whose CRC (``CRC().Crc(msg)``) is wrong is
  dropped and counted (``dropped_crc``), as is one holding NaN or inf in motors 0..11
  (``dropped_non_finite``) or that cannot be decoded (``dropped_malformed``); motor ``i`` in
  mode 0x01 (servo) applies ``tau + kp·(q − q_meas) + kd·(dq − dq_meas)``, any other mode is
  motor off (limp: no gains, no torque); motors 12..19 are ignored;
* publishes ``rt/lowstate`` (``LowState_``) at 500 Hz with a correct CRC and an increasing
  ``tick`` (milliseconds since start, +1 at least per message): IMU quaternion (w, x, y, z),
  gyroscope, accelerometer (gravity included), rpy; motor q, dq, tau_est; ``foot_force``
  (the emulator reports m·g/4 newtons for a foot on the ground, 0 otherwise);
  ``wireless_remote``: the remote the control channel's ``remote`` request holds. Messages are
  packed by :class:`LowStateEncoder` (checked against the SDK at start) because the generic
  serialiser would take half a CPU core;
* the command watchdog of :class:`~robot_deploy.emulator.core.EmulatorCore`: no valid command
  for ``command_timeout`` → damping;
* optionally the out-of-band :class:`~robot_deploy.emulator.core.ControlServer` on its own UDP
  port (reset, shove, set_dynamics, remote, motion_mode, stats).

Run it standalone with ``python -m robot_deploy.emulator.go2_dds --domain 7``.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import struct
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from quadmimic.core.robots import get_robot
from robot_deploy.backends.go2_dds import (
    HEAD,
    LOWCMD_TOPIC,
    LOWLEVEL,
    LOWSTATE_TOPIC,
    MODE_SERVO,
    N_MOTORS,
    channel_reader,
    close_rpc_channels,
    init_dds,
    release,
)
from robot_deploy.emulator.core import (
    MOTION_MODES,
    ControlServer,
    EmulatorCore,
    check_motion_mode,
    check_physics,
    serve_until,
)
from robot_deploy.network import LOOPBACK_INTERFACE, check_interface
from robot_deploy.robot import JointCommand, RobotState
from robot_deploy.timing import Pacer

PROTOCOL = "go2-dds"
SPORT_MODE = "normal"
"""The motion mode a Go2 starts in."""


def motion_switcher_server(core: EmulatorCore) -> Any:
    """The robot side of the ``motion_switcher`` RPC service, on ``core``'s motion mode.

    Built on the SDK's ``Server`` (its request/response topics ``rt/api/motion_switcher/
    request`` and ``/response``, its ``Request_``/``Response_`` messages); call ``Start()``.
    """
    from unitree_sdk2py.comm.motion_switcher.motion_switcher_api import (
        MOTION_SWITCHER_API_ID_CHECK_MODE,
        MOTION_SWITCHER_API_ID_RELEASE_MODE,
        MOTION_SWITCHER_API_ID_SELECT_MODE,
        MOTION_SWITCHER_API_VERSION,
        MOTION_SWITCHER_SERVICE_NAME,
    )
    from unitree_sdk2py.rpc.internal import RPC_ERR_SERVER_API_PARAMETER
    from unitree_sdk2py.rpc.server import Server

    def check_mode(parameter: str) -> tuple[int, str]:
        core.counters["rpc_check_mode"] += 1
        return 0, json.dumps({"form": "0", "name": core.motion_mode})

    def select_mode(parameter: str) -> tuple[int, str]:
        core.counters["rpc_select_mode"] += 1
        try:
            name = str(json.loads(parameter)["name"])
        except (ValueError, KeyError, TypeError):
            return RPC_ERR_SERVER_API_PARAMETER, ""
        if name not in MOTION_MODES:
            return RPC_ERR_SERVER_API_PARAMETER, ""
        core.select_mode(name)
        return 0, ""

    def release_mode(parameter: str) -> tuple[int, str]:
        core.counters["rpc_release_mode"] += 1
        core.release_mode()
        return 0, ""

    server = Server(MOTION_SWITCHER_SERVICE_NAME)
    with contextlib.redirect_stdout(io.StringIO()):  # the SDK prints its set-up
        server._SetApiVersion(MOTION_SWITCHER_API_VERSION)
    server._RegistHandler(MOTION_SWITCHER_API_ID_CHECK_MODE, check_mode, False)
    server._RegistHandler(MOTION_SWITCHER_API_ID_SELECT_MODE, select_mode, False)
    server._RegistHandler(MOTION_SWITCHER_API_ID_RELEASE_MODE, release_mode, False)
    return server


def close_rpc_server(server: Any) -> None:
    """Delete an SDK RPC ``Server``'s DDS reader and writer (its queue thread idles on)."""
    close_rpc_channels(getattr(server, "_ServerBase__serverStub", None),
                       ("_ServerStub__recvChannel", "_ServerStub__sendChannel"))


class Go2DdsEmulator:
    """An emulated Go2 answering on DDS (``rt/lowcmd`` in, ``rt/lowstate`` out).

    DDS is process-global in the Unitree SDK: one domain per process (see
    :func:`~robot_deploy.backends.go2_dds.init_dds`).

    Args:
        robot: Robot name (``go2``; another spec works if its joints follow motor order).
        dynamics: Dynamics params (dict or JSON file) of the simulated robot.
        control_port: UDP port of the out-of-band control channel on 127.0.0.1 (0: any free
            port, None: no control channel).
        command_timeout: Seconds without a valid command before the motors go to damping.
        physics: Engine behind the wire: "pybullet" or "mujoco".
        interface: Network interface DDS runs on (keep ``lo``: the emulator is for
            127.0.0.1).
        domain: DDS domain id.
        state_hz: ``rt/lowstate`` rate (Hz).
        sport_mode: Motion mode active at start ("normal" like a Go2; "" starts released:
            low-level commands are obeyed at once).
        release_delay: Seconds a ``ReleaseMode`` takes to release the mode.

    Raises:
        RobotSpecError: An unknown robot.
        RobotConnectionError: An unknown physics engine.
        MotionModeError: An unknown ``sport_mode``.
        NetworkOptionError: No network interface ``interface``.
    """

    def __init__(self, robot: str = "go2", *, dynamics: Mapping | str | Path | None = None,
                 control_port: int | None = None, command_timeout: float = 0.1,
                 physics: str = "pybullet", interface: str = LOOPBACK_INTERFACE,
                 domain: int = 0, state_hz: float = 500.0, sport_mode: str = SPORT_MODE,
                 release_delay: float = 0.5) -> None:
        self.physics = check_physics(physics)
        get_robot(robot)  # an unknown name: RobotSpecError
        check_motion_mode(sport_mode)
        self.interface = check_interface(interface)
        self.robot = robot
        self.domain = domain
        self.dynamics = dynamics
        self.requested_control_port = control_port
        self.command_timeout = command_timeout
        self.state_hz = state_hz
        self.sport_mode = sport_mode
        self.release_delay = release_delay
        self.core: EmulatorCore | None = None
        self._server: Any = None
        self.control: ControlServer | None = None
        self._pub: Any = None
        self._sub: Any = None
        self._crc: Any = None
        self._running = False
        self._thread: threading.Thread | None = None
        self._listener: threading.Thread | None = None
        self._nominal_foot_force = 0
        self.fast_path = False
        """Whether rt/lowstate goes through :class:`LowStateEncoder` (else the SDK path)."""

    # ------------------------------------------------------------------ lifecycle
    @property
    def control_port(self) -> int | None:
        """The control channel's UDP port (None without one, or before :meth:`start`)."""
        return None if self.control is None else self.control.port

    @property
    def counters(self) -> dict[str, int]:
        """Packet counters: ``commands``, ``dropped_<reason>``, ``states_published``..."""
        return {} if self.core is None else dict(self.core.counters)

    def start(self) -> Go2DdsEmulator:
        """Start physics, the DDS channels, the state stream and the control channel.

        Returns:
            The emulator.

        Raises:
            RobotConnectionError: DDS would not start (or this process runs another domain),
                or the control port cannot be bound.
        """
        if self.core is not None:
            return self
        from unitree_sdk2py.core.channel import ChannelPublisher, ChannelSubscriber
        from unitree_sdk2py.idl.unitree_go.msg.dds_ import LowCmd_, LowState_
        from unitree_sdk2py.utils.crc import CRC

        init_dds(self.domain, self.interface)
        self._crc = CRC()
        core = EmulatorCore(self.robot, self.dynamics, self.command_timeout,
                            motion_mode=self.sport_mode, release_delay=self.release_delay,
                            physics=self.physics)
        core.start()
        self.core = core
        self._nominal_foot_force = round(core.spec.mass * 9.81 / 4)
        try:
            self._pub = ChannelPublisher(LOWSTATE_TOPIC, LowState_)
            self._pub.Init()
            self._running = True
            self._thread = threading.Thread(target=self._publish_loop, daemon=True,
                                            name="go2-lowstate")
            self._thread.start()
            self._sub = ChannelSubscriber(LOWCMD_TOPIC, LowCmd_)
            self._sub.Init()  # no handler: a plain reader, served by _command_loop
            self._listener = threading.Thread(target=self._command_loop,
                                              args=(channel_reader(self._sub),), daemon=True,
                                              name="go2-lowcmd")
            self._listener.start()
            self._server = motion_switcher_server(core)
            with contextlib.redirect_stdout(io.StringIO()):
                self._server.Start(False)
            if self.requested_control_port is not None:
                self.control = ControlServer(core, self.requested_control_port)
                self.control.start()
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop publishing and listening, then physics (idempotent)."""
        self._running = False
        for thread in (self._listener, self._thread):
            if thread is not None:
                thread.join(timeout=2.0)
        self._listener = self._thread = None
        if self._server is not None:
            close_rpc_server(self._server)
            self._server = None
        if self._sub is not None:
            release(self._sub)
            self._sub = None
        if self._pub is not None:
            release(self._pub)
            self._pub = None
        if self.control is not None:
            self.control.stop()
            self.control = None
        if self.core is not None:
            self.core.stop()

    def __enter__(self) -> Go2DdsEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve(self, max_seconds: float | None = None) -> dict[str, int]:
        """Start if needed and block until ``max_seconds``, Ctrl-C or SIGTERM; then stop.

        Returns:
            The final counters.

        Raises:
            RobotConnectionError: DDS would not start, or the control port cannot be bound.
        """
        return serve_until(self, max_seconds)

    # ------------------------------------------------------------------ rt/lowcmd
    def _command_loop(self, reader: Any) -> None:
        """Serve ``rt/lowcmd``: wake on data, take the newest command, apply it.

        Like the robot, which applies the newest command each cycle, this never queues: DDS
        keeps one sample (keep last 1) and a newer command replaces an unread one. (The SDK's
        listener would deserialise every sample in DDS's receive thread, behind the GIL, and
        fall behind under load.)
        """
        from cyclonedds.core import InstanceState, ReadCondition, SampleState, ViewState, WaitSet
        from cyclonedds.internal import InvalidSample
        from cyclonedds.util import duration

        assert self.core is not None
        condition = ReadCondition(reader, SampleState.NotRead | ViewState.Any | InstanceState.Any)
        waitset = WaitSet(reader.participant)
        waitset.attach(condition)
        timeout = duration(milliseconds=20)
        try:
            while self._running:
                if waitset.wait(timeout) == 0:
                    continue
                try:
                    samples = reader.take(N=8, condition=condition)
                except Exception:  # undecodable bytes
                    self.core.drop("malformed")
                    continue
                for sample in samples:
                    if not isinstance(sample, InvalidSample):
                        self._on_command(sample)
        finally:
            with contextlib.suppress(Exception):
                waitset.detach(condition)
            for entity in (waitset, condition):
                with contextlib.suppress(Exception):
                    entity.__del__()  # delete the DDS entities now (cyclonedds keeps them)

    def _on_command(self, msg: Any) -> None:
        """DDS listener for ``rt/lowcmd``: check, decode and apply; never raises."""
        core = self.core
        if core is None or not self._running:
            return
        try:
            if msg.crc != self._crc.Crc(msg):
                core.drop("crc")
                return
            motors = msg.motor_cmd[:N_MOTORS]
            values = np.array([(m.q, m.dq, m.tau, m.kp, m.kd) for m in motors],
                              dtype=np.float64)
            if values.shape != (N_MOTORS, 5):
                core.drop("malformed")
                return
            if not np.all(np.isfinite(values)):
                core.drop("non_finite")
                return
            off = np.array([m.mode != MODE_SERVO for m in motors])
            values[off, 1:] = 0.0  # motor off: no gains, no torque (limp)
            q, dq, tau, kp, kd = values.T
            cmd = JointCommand(q=np.where(off, 0.0, q), dq=dq, kp=kp, kd=kd, tau=tau)
        except Exception:  # never crash on input
            core.drop("malformed")
            return
        core.apply(cmd)

    # ------------------------------------------------------------------ rt/lowstate
    def _publish_loop(self) -> None:
        from unitree_sdk2py.idl.default import unitree_go_msg_dds__LowState_

        assert self.core is not None
        core = self.core
        encoder = LowStateEncoder(self._crc, self._nominal_foot_force)
        carrier = unitree_go_msg_dds__LowState_()
        try:
            self.fast_path = encoder.self_check(core.state())
        except Exception:
            self.fast_path = False
        if self.fast_path:  # the writer sends our bytes (see LowStateEncoder)
            payload = b""
            carrier.serialize = lambda *_, **__: payload
        pacer = Pacer(1.0 / self.state_hz)
        t0 = time.perf_counter()
        tick = 0
        while self._running:
            try:
                tick = max(tick + 1, int((time.perf_counter() - t0) * 1000.0)) & 0xFFFFFFFF
                if self.fast_path:
                    payload, _ = encoder.encode(core.state(), tick, core.remote)
                else:
                    encoder.fill(carrier, core.state(), tick, core.remote)
                    carrier.crc = self._crc.Crc(carrier)
                if self._pub.Write(carrier):
                    core.counters["states_published"] += 1
                else:
                    core.counters["state_write_failed"] += 1
            except Exception:  # e.g. a value a float32 cannot hold: skip this one
                core.counters["state_errors"] += 1
            pacer.wait()


def _cdr_format(fields: list[tuple[str, int]]) -> str:
    """``struct`` format of a fixed-size struct in little-endian XCDR1 (natural alignment)."""
    fmt, offset = "<", 0
    for code, count in fields:
        size = struct.calcsize("<" + code)
        pad = -offset % size
        fmt += f"{pad}x" * (pad > 0) + f"{count}{code}"
        offset += pad + size * count
    return fmt


# LowState_ field by field (unitree_go/msg/dds_/_LowState_.py and the types it holds).
_LOWSTATE_FIELDS = (
    [("B", 2), ("B", 1), ("B", 1), ("I", 2), ("I", 2), ("H", 1)]  # head..bandwidth
    + [("f", 4), ("f", 3), ("f", 3), ("f", 3), ("B", 1)]  # imu_state
    + [("B", 1), ("f", 7), ("B", 1), ("I", 1), ("I", 2)] * 20  # motor_state[20]
    + [("B", 4), ("i", 1), ("H", 1), ("B", 2), ("B", 2), ("H", 15)]  # bms_state
    + [("h", 4), ("h", 4), ("I", 1), ("B", 40), ("B", 1), ("f", 1), ("B", 1), ("B", 1),
       ("f", 1), ("f", 1), ("H", 4), ("I", 1), ("I", 1)]  # foot_force..crc
)
_CDR_HEADER = b"\x00\x01\x00\x00"  # encapsulation: plain CDR (XCDR1), little-endian
_TEMPERATURE = 35
_NO_REMOTE = bytes(40)


class LowStateEncoder:
    """``LowState_`` messages from robot states, fast.

    cyclonedds' generic Python serialiser and the SDK's CRC cost about 1 ms per LowState_
    (half a CPU core at 500 Hz, taken from the physics thread). This builds the message's
    value list once and packs it twice with ``struct``: in the C layout the SDK's CRC uses
    (its own format string; CRC by the SDK's crc32 core) and in the CDR layout DDS sends.
    :meth:`self_check` proves both against the SDK (``LowState_.deserialize``, ``.serialize``
    and ``CRC().Crc``) before the emulator relies on it; otherwise it falls back to
    :meth:`fill` and the SDK's own path.

    Args:
        crc: The SDK's ``CRC()``.
        foot_force: ``foot_force`` of a foot on the ground.
    """

    def __init__(self, crc: Any, foot_force: int) -> None:
        self.crc = crc
        self.foot_force = int(foot_force)
        self.cdr = struct.Struct(_cdr_format(_LOWSTATE_FIELDS))
        c_format = getattr(crc, "_CRC__packFmtLowState", None)  # the SDK's C layout
        self.c_layout = None if c_format is None else struct.Struct(c_format)

    @staticmethod
    def _imu(state: RobotState) -> list[float]:
        x, y, z, w = state.quat.tolist()
        roll, pitch = state.roll_pitch.tolist()
        yaw = math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
        return [w, x, y, z, *state.gyro.tolist(), *state.accel.tolist(), roll, pitch, yaw]

    def _forces(self, state: RobotState) -> list[int]:
        contact = [] if state.foot_contact is None else state.foot_contact.tolist()
        return [self.foot_force if c else 0 for c in contact] + [0] * (4 - len(contact))

    def values(self, state: RobotState, tick: int, remote: bytes = _NO_REMOTE) -> list[Any]:
        """Every field of the message in declaration order (crc 0; ``remote``: 40 bytes)."""
        v: list[Any] = [*HEAD, LOWLEVEL, 0, 0, 0, 0, 0, 0, *self._imu(state), _TEMPERATURE]
        for q, dq, tau in zip(state.q.tolist(), state.dq.tolist(), state.tau.tolist(),
                              strict=True):
            v += [MODE_SERVO, q, dq, 0.0, tau, q, dq, 0.0, _TEMPERATURE, 0, 0, 0]
        v += [0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0, 0] * (20 - N_MOTORS)
        v += [0, 0, 0, 100, 0, 0, 0, 0, 0, 0] + [0] * 15  # bms_state
        forces = self._forces(state)
        v += [*forces, *forces, tick, *remote] + [0, 0.0, 0, 0, 28.8, 0.0, 0, 0, 0, 0, 0, 0]
        return v

    def encode(self, state: RobotState, tick: int,
               remote: bytes = _NO_REMOTE) -> tuple[bytes, int]:
        """The serialised message (CDR with its header) and its CRC."""
        if self.c_layout is None:
            raise RuntimeError("the SDK's CRC has no LowState_ layout")
        v = self.values(state, tick, remote)
        words = np.frombuffer(self.c_layout.pack(*v), dtype="<u4")[:-1]  # all but the crc
        crc = self.crc._crc_ctypes(words.tolist()) if hasattr(self.crc, "crc_lib") \
            else self.crc._crc_py(words.tolist())
        v[-1] = crc
        return _CDR_HEADER + self.cdr.pack(*v), crc

    def fill(self, msg: Any, state: RobotState, tick: int, remote: bytes = _NO_REMOTE) -> None:
        """Set an SDK ``LowState_`` to the same values (the slow path; crc left to the SDK)."""
        v = self.values(state, tick, remote)
        imu = msg.imu_state
        imu.quaternion, imu.gyroscope = v[9:13], v[13:16]
        imu.accelerometer, imu.rpy, imu.temperature = v[16:19], v[19:22], v[22]
        msg.head, msg.level_flag = list(HEAD), LOWLEVEL
        for i, m in enumerate(msg.motor_state[:N_MOTORS]):
            m.mode, m.q, m.dq, m.ddq, m.tau_est, m.q_raw, m.dq_raw, m.ddq_raw, \
                m.temperature = v[23 + 12 * i:32 + 12 * i]
        msg.bms_state.soc = 100
        forces = self._forces(state)
        msg.foot_force, msg.foot_force_est, msg.tick = forces, list(forces), tick
        msg.wireless_remote = list(remote)
        msg.power_v = 28.8

    def self_check(self, state: RobotState) -> bool:
        """Our bytes and CRC are exactly what the SDK makes of the same message."""
        from unitree_sdk2py.idl.default import unitree_go_msg_dds__LowState_
        from unitree_sdk2py.idl.unitree_go.msg.dds_ import LowState_

        remote = bytes(range(7, 47))
        payload, crc = self.encode(state, 12345, remote)
        decoded = LowState_.deserialize(payload)
        reference = unitree_go_msg_dds__LowState_()
        self.fill(reference, state, 12345, remote)
        reference.crc = self.crc.Crc(reference)
        return (reference.serialize() == payload and reference.crc == crc
                and self.crc.Crc(decoded) == crc == decoded.crc)


def main(argv: list[str] | None = None) -> None:
    """``python -m robot_deploy.emulator.go2_dds``: run the emulator, print its counters."""
    import argparse

    from robot_deploy.emulator import run_emulator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", type=int, default=0)
    parser.add_argument("--robot", default="go2")
    parser.add_argument("--dynamics", default=None, help="dynamics JSON file")
    parser.add_argument("--max-seconds", type=float, default=None)
    parser.add_argument("--control-port", type=int, default=None)
    parser.add_argument("--command-timeout", type=float, default=0.1)
    parser.add_argument("--interface", default="lo")
    parser.add_argument("--physics", default="pybullet", help="pybullet or mujoco")
    parser.add_argument("--sport-mode", default=SPORT_MODE,
                        help="motion mode active at start ('none': released)")
    parser.add_argument("--release-delay", type=float, default=0.5,
                        help="seconds a ReleaseMode takes")
    args = parser.parse_args(argv)
    counters = run_emulator(PROTOCOL, args.robot, max_seconds=args.max_seconds,
                            domain=args.domain, dynamics=args.dynamics,
                            control_port=args.control_port, interface=args.interface,
                            command_timeout=args.command_timeout,
                            sport_mode=sport_mode_option(args.sport_mode),
                            release_delay=args.release_delay, physics=args.physics)
    print(json.dumps(counters), flush=True)


def sport_mode_option(text: str) -> str:
    """A ``--sport-mode`` option: a mode name, or "none" / "" for released.

    Raises:
        MotionModeError: An unknown mode name.
    """
    return check_motion_mode("" if text.strip().lower() in ("", "none") else text.strip())


if __name__ == "__main__":
    main()
