"""Go1 low-level UDP (SDK 3.8): wire codecs vs the official SDK, the emulator, the backend.

Everything runs on 127.0.0.1 with ephemeral ports; every loop has a deadline.
"""

from __future__ import annotations

import itertools
import socket
import struct
import threading
import time

import numpy as np
import pytest

from quadmimic.core.errors import QuadmimicError, RobotConnectionError
from robot_deploy.backends.go1_udp import Go1UdpBackend
from robot_deploy.emulator import go1_wire as wire
from robot_deploy.emulator import run_emulator
from robot_deploy.emulator.core import control_request
from robot_deploy.emulator.go1_udp import Go1UdpEmulator
from robot_deploy.network import NetworkOptionError
from robot_deploy.remote import ESTOP_BUTTONS, START_BUTTON, decode_remote
from robot_deploy.robot import JointCommand, Robot, RobotState
from robot_deploy.safety import SafetyConfig, SafetyLayer
from tests.robot_deploy.contract import (
    Recorder,
    assert_damped_within_one_period,
    check_state,
    record_commands,
)

ri = pytest.importorskip("unitree_legged_sdk.robot_interface")

LOOPBACK = "127.0.0.1"


# ---------------------------------------------------------------------------------- helpers
def reference_crc32_core(words: list[int]) -> int:
    """The SDK's crc32_core, bit by bit, as Unitree publishes it."""
    crc = 0xFFFFFFFF
    for data in words:
        xbit = 1 << 31
        for _ in range(32):
            top = crc & 0x80000000
            crc = (crc << 1) & 0xFFFFFFFF
            if top:
                crc ^= 0x04C11DB7
            if data & xbit:
                crc ^= 0x04C11DB7
            xbit >>= 1
    return crc


def listener() -> tuple[socket.socket, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOOPBACK, 0))
    sock.settimeout(2.0)
    return sock, sock.getsockname()[1]


def sdk_client(port: int) -> object:
    return ri.UDP(0xFF, 0, LOOPBACK, port)


def sdk_drain(udp: object) -> tuple[int, int]:
    """Recv until the socket is empty; returns (good packets, CRC errors)."""
    good = bad = 0
    for _ in range(64):
        r = udp.Recv()
        if r == 0:
            good += 1
        elif r == -3:
            bad += 1
        else:
            break
    return good, bad


def wait_for(pred: object, timeout: float, period: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(period)
    return bool(pred())


def dropped(counters: dict[str, int]) -> int:
    return sum(v for k, v in counters.items() if k.startswith("dropped_"))


def standing_state() -> RobotState:
    rng = np.random.default_rng(3)
    quat = rng.normal(size=4)
    quat /= np.linalg.norm(quat)
    return RobotState(q=rng.uniform(-2, 2, 12), dq=rng.uniform(-20, 20, 12),
                      tau=rng.uniform(-30, 30, 12), quat=quat, gyro=rng.normal(size=3),
                      accel=rng.normal(size=3) + [0, 0, 9.81], stamp=1.5,
                      foot_contact=np.array([True, False, True, True]))


@pytest.fixture
def emulator():
    # a generous watchdog: this 2-core machine also trains; test_command_watchdog_damps uses 0.1
    emu = Go1UdpEmulator("go1", port=0, control_port=0, command_timeout=0.5).start()
    yield emu
    emu.stop()


# ---------------------------------------------------------------------------------- CRC, layout
def test_crc32_core_matches_the_sdk_algorithm():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 152, 200):
        data = rng.integers(0, 256, 4 * n, dtype=np.uint8).tobytes()
        assert wire.crc32_core(data) == reference_crc32_core(list(struct.unpack(f"<{n}I", data)))
    assert wire.crc32_core(b"") == 0xFFFFFFFF
    with pytest.raises(ValueError):
        wire.crc32_core(b"abc")


def test_sdk_low_cmd_bytes_decode_to_what_was_set():
    sock, port = listener()
    with sock:
        udp = sdk_client(port)
        cmd = ri.LowCmd()
        udp.InitCmdData(cmd)
        rng = np.random.default_rng(1)
        want = {"q": rng.uniform(-3, 3, 20), "dq": rng.uniform(-20, 20, 20),
                "tau": rng.uniform(-30, 30, 20), "Kp": rng.uniform(0, 150, 20),
                "Kd": rng.uniform(0, 8, 20)}
        want["q"][5], want["dq"][6] = wire.POS_STOP_F, wire.VEL_STOP_F
        modes = [wire.SERVO_MODE] * 20
        modes[7] = 0
        for i, m in enumerate(cmd.motorCmd):
            m.mode = modes[i]
            for name, values in want.items():
                setattr(m, name, float(values[i]))
        cmd.wirelessRemote = list(range(40))
        udp.SetSend(cmd)
        assert udp.Send() == wire.LOW_CMD_LENGTH
        data, _ = sock.recvfrom(4096)
        udp = None  # closes the SDK socket
    assert len(data) == 614 == wire.LOW_CMD_LENGTH
    assert struct.unpack_from("<I", data, 610)[0] == reference_crc32_core(
        list(struct.unpack_from("<152I", data)))
    pkt = wire.decode_low_cmd(data)
    assert pkt.level_flag == 0xFF and pkt.mode.tolist() == modes
    np.testing.assert_array_equal(pkt.q, want["q"].astype(np.float32))
    np.testing.assert_array_equal(pkt.dq, want["dq"].astype(np.float32))
    # 16-bit fields: truncated toward zero in steps of 1/256, 1/32, 1/16
    np.testing.assert_array_equal(pkt.tau, np.trunc(want["tau"].astype(np.float32) * 256) / 256)
    np.testing.assert_array_equal(pkt.kp, np.trunc(want["Kp"].astype(np.float32) * 32) / 32)
    np.testing.assert_array_equal(pkt.kd, np.trunc(want["Kd"].astype(np.float32) * 16) / 16)
    assert pkt.wireless_remote.tolist() == list(range(40))
    # our encoder produces the very same bytes
    mine = bytearray(wire.encode_low_cmd(want["q"], want["dq"], want["tau"], want["Kp"],
                                         want["Kd"], mode=np.array(modes)))
    mine[566:606] = bytes(range(40))
    mine[-4:] = wire.packet_crc(mine).to_bytes(4, "little")
    assert bytes(mine) == data


def test_sdk_quantization_wraps_and_encoder_agrees():
    sock, port = listener()
    with sock:
        udp = sdk_client(port)
        cmd = ri.LowCmd()
        udp.InitCmdData(cmd)
        tau = [200.0, -200.0, -0.001, 127.99, -128.0, float("nan")]
        kp = [-1.0, 3000.0, 0.03, 2047.9, 1e12, 5.0]
        for i, m in enumerate(cmd.motorCmd[:6]):
            m.tau, m.Kp, m.Kd = tau[i], kp[i], kp[i] / 2
        udp.SetSend(cmd)
        udp.Send()
        data, _ = sock.recvfrom(4096)
        udp = None  # closes the SDK socket
    assert wire.encode_low_cmd(tau=tau, kp=kp, kd=np.array(kp) / 2) == data
    pkt = wire.decode_low_cmd(data)
    assert pkt.tau[0] == 200.0 - 256.0  # the SDK wraps: out-of-range values are dangerous
    assert pkt.kp[0] == 2047.0


def test_joint_command_semantics():
    q = np.linspace(-1, 1, 12)
    q[1] = wire.POS_STOP_F
    dq = np.full(12, 0.5)
    dq[2] = wire.VEL_STOP_F
    mode = np.full(20, wire.SERVO_MODE)
    mode[3] = 0
    pkt = wire.decode_low_cmd(wire.encode_low_cmd(q, dq, np.full(12, 1.5), np.full(12, 40.0),
                                                  np.full(12, 2.0), mode=mode))
    cmd = pkt.joint_command()
    assert cmd.finite
    assert cmd.kp[1] == 0 and cmd.q[1] == 0 and cmd.kd[1] == 2.0  # PosStopF: no position term
    assert cmd.kd[2] == 0 and cmd.dq[2] == 0 and cmd.kp[2] == 40.0  # VelStopF: no velocity term
    assert cmd.kp[3] == cmd.kd[3] == cmd.tau[3] == 0  # motor off
    np.testing.assert_allclose(cmd.q[4:], q[4:], atol=1e-6)
    assert np.all(cmd.tau[[0, 1, 2, 4]] == 1.5)
    # InitCmdData's command (what connect sends) leaves every joint limp
    limp = wire.decode_low_cmd(wire.encode_low_cmd()).joint_command()
    assert not limp.kp.any() and not limp.kd.any() and not limp.tau.any()


def test_low_state_round_trip_and_sdk_accepts_it():
    state = standing_state()
    data = wire.encode_low_state(state, tick=123_456_789, foot_force=[40, 0, 35.4, 60])
    assert len(data) == 807 == wire.LOW_STATE_LENGTH
    pkt = wire.decode_low_state(data)
    assert pkt.tick == 123_456_789
    x, y, z, w = state.quat
    np.testing.assert_allclose(pkt.quaternion, [w, x, y, z], atol=1e-7)
    np.testing.assert_allclose(pkt.q[:12], state.q, atol=1e-6)
    np.testing.assert_allclose(pkt.dq[:12], state.dq, atol=1e-5)
    np.testing.assert_allclose(pkt.tau_est[:12], state.tau, atol=1 / 512)
    np.testing.assert_allclose(pkt.rpy[:2], state.roll_pitch, atol=1e-6)
    assert pkt.foot_force.tolist() == [40, 0, 35, 60]
    back = pkt.robot_state(stamp=2.0, contact_threshold=15)
    np.testing.assert_allclose(back.quat, state.quat, atol=1e-7)
    assert back.foot_contact.tolist() == [True, False, True, True]

    # the SDK client takes it: 807 bytes with a valid CRC; rejects a flipped bit or a short one
    srv, port = listener()
    with srv:
        udp = sdk_client(port)
        cmd = ri.LowCmd()
        udp.InitCmdData(cmd)
        udp.SetSend(cmd)
        udp.Send()
        _, addr = srv.recvfrom(4096)
        bad = bytearray(data)
        bad[100] ^= 1
        for packet, want in ((bytes(bad), -3), (data[:-1], -3), (data, 0)):
            srv.sendto(packet, addr)
            assert wait_for(lambda want=want: udp.Recv() == want, 1.0)
        low = ri.LowState()
        udp.GetRecv(low)
        udp = None  # closes the SDK socket
    assert low.tick == 123_456_789 and low.levelFlag == 0xFF and list(low.head) == [0xFE, 0xEF]
    np.testing.assert_allclose(low.imu.quaternion, [w, x, y, z], atol=1e-7)
    np.testing.assert_allclose(low.imu.accelerometer, state.accel, atol=1e-5)
    np.testing.assert_allclose([m.q for m in low.motorState[:12]], state.q, atol=1e-6)
    np.testing.assert_allclose([m.tauEst for m in low.motorState[:12]], state.tau, atol=1 / 512)
    assert list(low.footForce) == [40, 0, 35, 60]
    assert low.bms.SOC == 90


def test_decode_errors_are_typed():
    good = wire.encode_low_cmd(np.zeros(12))
    with pytest.raises(wire.PacketSizeError):
        wire.decode_low_cmd(good[:-1])
    with pytest.raises(wire.PacketSizeError):
        wire.decode_low_cmd(b"")
    bad = bytearray(good)
    bad[30] ^= 0x40
    with pytest.raises(wire.PacketCrcError):
        wire.decode_low_cmd(bytes(bad))
    high = wire.encode_low_cmd(np.zeros(12), level_flag=wire.HIGHLEVEL)
    with pytest.raises(wire.PacketHeaderError):
        wire.decode_low_cmd(high)
    with pytest.raises(wire.PacketSizeError):
        wire.decode_low_state(good)
    for cls in (wire.PacketSizeError, wire.PacketCrcError, wire.PacketHeaderError):
        assert issubclass(cls, wire.WireError) and issubclass(cls, QuadmimicError)


# ---------------------------------------------------------------------------------- emulator
def test_official_sdk_client_drives_the_emulator(emulator):
    spec = emulator.spec
    udp = sdk_client(emulator.port)
    cmd, low = ri.LowCmd(), ri.LowState()
    udp.InitCmdData(cmd)
    target = -0.3  # FR hip (motor 0) abducts
    goal = np.array(spec.default, dtype=float)
    goal[0] = target
    for i, m in enumerate(cmd.motorCmd[:12]):
        m.q, m.dq, m.Kp, m.Kd, m.tau = float(goal[i]), 0.0, float(spec.kp[i]), \
            float(spec.kd[i]), 0.0
    good = bad = 0
    first_q0 = None
    ticks = []
    t_end = time.monotonic() + 1.0
    next_t = time.perf_counter()
    while time.monotonic() < t_end:
        udp.SetSend(cmd)
        udp.Send()
        next_t += 0.002
        time.sleep(max(0.0, next_t - time.perf_counter()))
        g, b = sdk_drain(udp)
        good, bad = good + g, bad + b
        if g:
            udp.GetRecv(low)
            ticks.append(low.tick)
            if first_q0 is None:
                first_q0 = low.motorState[0].q
    watchdog = emulator.counters.get("watchdog_damping", 0)  # before it may legitimately fire
    # on a loaded machine the in-process emulator may lag: let it catch up
    wait_for(lambda: sdk_drain(udp)[0] == 0 and _answered(emulator.counters), 3.0, period=0.02)
    udp.GetRecv(low)
    udp = None  # closes the SDK socket
    # A backlog (this in-process emulator shares the GIL with the client) is answered once.
    assert bad == 0 and good > 5 and first_q0 is not None, (good, bad)
    q = np.array([m.q for m in low.motorState[:12]])
    assert abs(q[0] - target) < 0.5 * abs(first_q0 - target) and abs(q[0] - target) < 0.1
    np.testing.assert_allclose(q[1:], goal[1:], atol=0.2)
    assert all(b > a for a, b in itertools.pairwise(ticks))
    assert list(low.head) == [0xFE, 0xEF] and low.levelFlag == 0xFF
    quat = np.array(low.imu.quaternion)
    assert abs(np.linalg.norm(quat) - 1) < 1e-4 and quat[0] > 0.95  # w first, upright
    assert 7.0 < low.imu.accelerometer[2] < 12.5
    assert np.all(np.abs(low.imu.rpy[:2]) < 0.2)
    assert sum(f > 0 for f in low.footForce) >= 3
    assert all(m.mode == wire.SERVO_MODE for m in low.motorState[:12])
    assert np.all(np.isfinite([m.tauEst for m in low.motorState[:12]]))
    counters = emulator.counters
    assert counters["commands"] >= 400  # 1 s at 500 Hz: none lost
    assert _answered(counters) and counters["states_sent"] >= good
    assert dropped(counters) == 0 and watchdog == 0, counters


def _answered(counters: dict[str, int]) -> bool:
    """Every good command was applied and answered, or superseded by a newer one."""
    return counters["states_sent"] + counters.get("commands_superseded", 0) == \
        counters["commands"]


def test_zero_gains_leave_the_robot_limp(emulator):
    h0 = control_request(emulator.control_port, {"op": "stats"})["base_height"]
    udp = sdk_client(emulator.port)
    cmd = ri.LowCmd()
    udp.InitCmdData(cmd)  # servo mode, PosStopF/VelStopF, Kp = Kd = tau = 0
    t_end = time.monotonic() + 3.0
    h1 = h0
    while time.monotonic() < t_end and h1 > h0 - 0.05:
        for _ in range(25):
            udp.SetSend(cmd)
            udp.Send()
            time.sleep(0.004)
            sdk_drain(udp)
        h1 = control_request(emulator.control_port, {"op": "stats"})["base_height"]
    udp = None  # closes the SDK socket
    assert h1 < h0 - 0.05  # collapsed
    assert emulator.counters.get("watchdog_damping", 0) == 0  # limp by command, not watchdog


def test_fault_injection_is_counted_and_dropped(emulator):
    good = wire.encode_joint_command(JointCommand.position(emulator.spec.default, emulator.spec))
    rng = np.random.default_rng(7)
    packets: list[bytes] = [good[:-1], good + b"\0", b"", good[:100], good * 2]
    for _ in range(10):
        bad = bytearray(good)
        bad[int(rng.integers(0, 608))] ^= 1 << int(rng.integers(0, 8))
        packets.append(bytes(bad))  # corrupted: CRC mismatch
    bad = bytearray(good)
    bad[610] ^= 0xFF
    packets.append(bytes(bad))
    packets.append(wire.encode_low_cmd(np.zeros(12), head=(0x00, 0x00)))  # valid CRC, bad head
    for _ in range(200):  # random garbage, some exactly 614 bytes long
        n = 614 if rng.random() < 0.2 else int(rng.integers(1, 1400))
        packets.append(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
    before = emulator.counters
    sock, _ = listener()
    with sock:
        for p in packets:
            sock.sendto(p, (LOOPBACK, emulator.port))
            time.sleep(0.0002)
        assert wait_for(lambda: dropped(emulator.counters) - dropped(before) >= len(packets), 5.0)
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recvfrom(4096)  # no reply to anything bad
        sock.settimeout(2.0)
        sock.sendto(good, (LOOPBACK, emulator.port))  # still serving
        reply, _ = sock.recvfrom(4096)
    state = wire.decode_low_state(reply)
    assert state.tick > 0 and np.all(np.isfinite(state.q))
    after = emulator.counters
    assert dropped(after) - dropped(before) == len(packets)
    assert after.get("dropped_crc", 0) >= 11 and after.get("dropped_size", 0) >= 5
    assert after.get("dropped_header", 0) >= 1 and "dropped_internal_error" not in after
    assert after["commands"] == before.get("commands", 0) + 1


def test_a_backlog_is_served_by_its_newest_good_command(emulator):
    """Packets queued while the server was busy: all counted, the newest good one applied."""
    spec = emulator.spec
    older = wire.encode_joint_command(JointCommand.position(spec.default, spec))
    newest_q = np.asarray(spec.default) + 0.3
    newest = wire.encode_joint_command(JointCommand.position(newest_q, spec))
    corrupt = bytearray(newest)
    corrupt[20] ^= 1
    sock, port = listener()
    before = emulator.counters
    with sock:
        emulator._handle_batch([(older, (LOOPBACK, port)), (newest, (LOOPBACK, port)),
                                (bytes(corrupt), (LOOPBACK, port))])
        sock.settimeout(2.0)
        reply, _ = sock.recvfrom(4096)
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recvfrom(4096)  # one answer for the batch
    after = emulator.counters
    assert after["commands"] - before.get("commands", 0) == 2
    assert after["commands_superseded"] - before.get("commands_superseded", 0) == 1
    assert after["dropped_crc"] - before.get("dropped_crc", 0) == 1
    assert wire.decode_low_state(reply).tick > 0
    time.sleep(0.3)  # the joints follow the newest target (+0.3 rad), not the older one
    assert np.mean(emulator.core.state().q - np.asarray(spec.default)) > 0.15


def test_command_watchdog_damps():
    with Go1UdpEmulator("go1", port=0, control_port=0, command_timeout=0.1) as emulator:
        udp = sdk_client(emulator.port)
        cmd = ri.LowCmd()
        udp.InitCmdData(cmd)
        spec = emulator.spec
        for i, m in enumerate(cmd.motorCmd[:12]):
            m.q, m.Kp, m.Kd = float(spec.default[i]), float(spec.kp[i]), float(spec.kd[i])
        t_end = time.monotonic() + 0.4
        while time.monotonic() < t_end:
            udp.SetSend(cmd)
            udp.Send()
            time.sleep(0.004)
            sdk_drain(udp)
        t_stop = time.monotonic()
        # (a loaded machine may have stalled the sender > 0.1 s already: count from here)
        before = emulator.counters.get("watchdog_damping", 0)
        assert wait_for(lambda: emulator.counters.get("watchdog_damping", 0) > before, 2.0,
                        period=0.002)
        elapsed = time.monotonic() - t_stop
        assert 0.08 < elapsed < 0.5, elapsed  # 0.1 s timeout; margin for a loaded machine
        h0 = control_request(emulator.control_port, {"op": "stats"})["base_height"]
        assert wait_for(lambda: control_request(emulator.control_port, {"op": "stats"})
                        ["base_height"] < h0 - 0.03, 3.0, period=0.05)  # damping: it sinks
        # commands again: the robot obeys again
        udp.SetSend(cmd)
        udp.Send()
        assert wait_for(lambda: sdk_drain(udp)[0] > 0, 1.0)
        udp = None  # closes the SDK socket
        assert dropped(emulator.counters) == 0


def test_control_channel_on_its_own_port(emulator):
    port, ctrl = emulator.port, emulator.control_port
    assert ctrl is not None and ctrl != port
    stats = control_request(ctrl, {"op": "stats"})
    assert stats["ok"] and abs(stats["roll_pitch"][0]) < 0.05
    h0 = stats["base_height"]
    sim = emulator.core.sim.sim
    y0 = sim.base_pose()[0][1]
    assert control_request(ctrl, {"op": "shove", "velocity": [0.0, 1.5, 0.0]})["ok"]
    assert wait_for(lambda: abs(sim.base_pose()[0][1] - y0) > 0.05
                    or abs(control_request(ctrl, {"op": "stats"})["roll_pitch"][0]) > 0.1,
                    3.0, period=0.02)
    assert control_request(ctrl, {"op": "reset"})["ok"]
    stats = control_request(ctrl, {"op": "stats"})
    assert abs(stats["base_height"] - h0) < 0.03 and np.all(np.abs(stats["roll_pitch"]) < 0.05)
    assert abs(sim.base_pose()[0][1]) < 0.02
    assert not control_request(ctrl, {"op": "fly"})["ok"]
    # the channels do not mix: JSON on the wire port is a dropped packet, a LowCmd on the
    # control port an error reply
    before = emulator.counters.get("dropped_size", 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2.0)
        sock.sendto(b'{"op": "stats"}', (LOOPBACK, port))
        sock.sendto(wire.encode_low_cmd(np.zeros(12)), (LOOPBACK, ctrl))
        reply, _ = sock.recvfrom(65536)
    assert b'"ok": false' in reply
    assert wait_for(lambda: emulator.counters.get("dropped_size", 0) == before + 1, 1.0)


def test_run_emulator_blocks_and_returns_counters():
    t0 = time.monotonic()
    counters = run_emulator("go1-udp", port=0, max_seconds=0.3)
    assert isinstance(counters, dict) and 0.3 <= time.monotonic() - t0 < 5.0
    with pytest.raises(RobotConnectionError, match="unknown protocol 'carrier-pigeon'"):
        run_emulator("carrier-pigeon", port=0, max_seconds=0.1)


def test_emulator_binds_the_interface_address():
    with Go1UdpEmulator("go1", port=0, interface="lo") as emulator:
        assert emulator.host == "127.0.0.1" and emulator.sock.getsockname()[0] == "127.0.0.1"
        assert emulator.control_port is None
    with pytest.raises(NetworkOptionError, match="no network interface 'nope0'"):
        Go1UdpEmulator(interface="nope0")


def test_emulator_port_in_use():
    sock, port = listener()
    with sock, pytest.raises(RobotConnectionError):
        Go1UdpEmulator(port=port).start()


# ---------------------------------------------------------------------------------- backend


def test_backend_contract_and_standing(emulator):
    b = Go1UdpBackend("go1", robot_port=emulator.port, local_port=0)
    assert isinstance(b, Robot)
    with pytest.raises(RobotConnectionError):
        b.read()
    with pytest.raises(RobotConnectionError):
        b.command(JointCommand.damping(1.0))
    b.connect(timeout=3.0)
    try:
        state = b.read()
        check_state(state)
        assert state.foot_contact.all() and b.tick > 0
        stamps, tilts = [state.stamp], []
        cmd = JointCommand.position(b.spec.default, b.spec)
        t_end = time.monotonic() + 1.0
        next_t = time.perf_counter()
        while time.monotonic() < t_end:
            state = b.read()
            stamps.append(state.stamp)
            tilts.append(np.abs(state.roll_pitch).max())
            b.command(cmd)
            next_t += 0.002
            time.sleep(max(0.0, next_t - time.perf_counter()))
        time.sleep(0.05)
        state = b.read()
        check_state(state)
        assert np.all(np.diff(stamps) >= 0) and len(set(stamps)) > 20  # fresh states flow
        assert state.stamp <= time.monotonic() and time.monotonic() - state.stamp < 0.2
        assert max(tilts) < 0.1  # standing
        np.testing.assert_allclose(state.q, b.spec.default, atol=0.1)
        assert state.foot_contact.all()
        assert abs(state.accel[2] - 9.81) < 1.5
        assert b.stats["sent"] > 100 and b.stats["crc_errors"] == 0
        b.damp()
    finally:
        b.close()
    b.close()  # idempotent
    with pytest.raises(RobotConnectionError):
        b.read()
    assert dropped(emulator.counters) == 0


def test_backend_connect_times_out():
    sock, port = listener()
    with sock:  # a "robot" that never answers
        b = Go1UdpBackend("go1", robot_port=port, local_port=0)
        t0 = time.monotonic()
        with pytest.raises(RobotConnectionError):
            b.connect(timeout=0.3)
        assert time.monotonic() - t0 < 2.0
        sock.settimeout(0.5)
        data, _ = sock.recvfrom(4096)
    limp = wire.decode_low_cmd(data).joint_command()  # connect sends zero-gain commands
    assert not limp.kp.any() and not limp.kd.any() and not limp.tau.any()
    b.close()
    with pytest.raises(RobotConnectionError):
        Go1UdpBackend("go2")


def test_backend_local_port_in_use():
    sock, port = listener()
    with sock, pytest.raises(RobotConnectionError):
        Go1UdpBackend("go1", robot_port=9, local_port=port).connect(timeout=0.2)


def test_backend_packets_on_the_wire():
    """Against a fake robot made of the codec: what the backend sends, exactly."""
    robot, port = listener()
    with robot:
        b = Go1UdpBackend("a1", robot_port=port, local_port=0)
        state = standing_state()

        def answer() -> bytes:
            data, addr = robot.recvfrom(4096)
            robot.sendto(wire.encode_low_state(state, tick=42, foot_force=[50, 0, 50, 50]),
                         addr)
            return data

        replies: list[bytes] = []
        t = threading.Thread(target=lambda: replies.append(answer()))
        t.start()
        b.connect(timeout=2.0)
        t.join(2.0)
        got = b.read()
        np.testing.assert_allclose(got.q, state.q, atol=1e-6)
        np.testing.assert_allclose(got.quat, state.quat, atol=1e-7)
        assert got.foot_contact.tolist() == [True, False, True, True] and b.tick == 42
        # drain anything else connect sent
        robot.settimeout(0.05)
        with pytest.raises(TimeoutError):
            while True:
                robot.recvfrom(4096)
        robot.settimeout(2.0)
        q = np.linspace(-0.5, 0.5, 12)
        b.command(JointCommand(q=q, dq=np.full(12, 0.25), kp=np.full(12, 5000.0),
                               kd=np.full(12, -1.0), tau=np.full(12, 300.0)))
        pkt = wire.decode_low_cmd(robot.recvfrom(4096)[0])
        np.testing.assert_allclose(pkt.q[:12], q, atol=1e-6)
        assert np.all(pkt.mode[:12] == wire.SERVO_MODE)
        assert np.all(pkt.kp[:12] > 2000) and np.all(pkt.kd[:12] == 0)  # clipped, not wrapped
        assert np.all(pkt.tau[:12] > 127)
        assert np.all(pkt.q[12:] == np.float32(wire.POS_STOP_F))  # unused motors untouched
        bad = JointCommand(q=np.full(12, np.nan))
        b.command(bad)  # never on the wire: damping instead
        pkt = wire.decode_low_cmd(robot.recvfrom(4096)[0])
        assert np.all(np.isfinite(pkt.q)) and not pkt.kp.any()
        np.testing.assert_allclose(pkt.kd[:12], np.asarray(b.spec.kd) * 2, atol=1 / 16)
        assert b.stats["non_finite_commands"] == 1
        b.close()


def test_safety_layer_trips_on_stale_state_when_the_robot_vanishes(emulator):
    b = Go1UdpBackend("go1", robot_port=emulator.port, local_port=0)
    safe = SafetyLayer(b)
    safe.connect(timeout=3.0)
    try:
        cmd = JointCommand.position(b.spec.default, b.spec)

        def step() -> None:
            safe.read()
            safe.command(cmd)
            time.sleep(0.004)

        t_end = time.monotonic() + 0.4
        while time.monotonic() < t_end:
            step()
        assert b.stats["received"] > 10
        # Only a stalled machine trips here (states > 50 ms apart); start the real check clean.
        assert safe.tripped in (None, "stale_state"), safe.events
        safe.rearm()
        emulator.stop()
        t_stop = time.monotonic()
        while safe.tripped is None and time.monotonic() - t_stop < 2.0:
            step()
        assert safe.tripped == "stale_state"
        trip = safe.events[-1]
        assert trip.kind == "stale_state" and t_stop <= trip.time < t_stop + 0.5
        for _ in range(20):  # damping into the void: nothing raises
            step()
        assert b.stats["send_errors"] >= 0
    finally:
        safe.close()


def test_start_after_a_pause_fetches_a_fresh_state_first(emulator):
    """The Go1 answers only commands: after a pause its newest state is old. The controller's
    start-up must elicit a fresh one (with damping) rather than trip the stale-state watchdog."""
    from robot_deploy.controller import wait_for_state

    robot = SafetyLayer(Go1UdpBackend("go1", robot_port=emulator.port, local_port=0))
    robot.connect(timeout=3.0)
    try:
        time.sleep(0.3)  # no commands: nothing comes back
        assert robot.now() - robot.read().stamp > 0.25
        state = wait_for_state(robot, timeout=3.0)
        assert robot.now() - state.stamp <= 0.02
        assert robot.tripped is None
        robot.command(JointCommand.position(robot.spec.default, robot.spec))
        assert robot.tripped is None  # the first real command passes the watchdog
    finally:
        robot.close()


# ---------------------------------------------------------------------------------- remote
def test_remote_reaches_the_official_sdk_client_and_the_backend(emulator):
    ctrl = emulator.control_port
    reply = control_request(ctrl, {"op": "remote", "buttons": ["start", "B"], "rx": 0.75})
    assert reply["ok"] and reply["buttons"] == ["B", "start"]
    udp = sdk_client(emulator.port)
    cmd, low = ri.LowCmd(), ri.LowState()
    udp.InitCmdData(cmd)
    udp.SetSend(cmd)
    udp.Send()
    assert wait_for(lambda: sdk_drain(udp)[0] > 0, 2.0)
    udp.GetRecv(low)
    udp = None  # closes the SDK socket
    raw = list(low.wirelessRemote)  # the SDK's own decoding of the 807 bytes
    assert len(raw) == 40 and raw[2] == 0x04 and raw[3] == 0x02  # start = bit 2, B = bit 9
    remote = decode_remote(raw)
    assert remote.buttons == {"start", "B"} and remote.rx == 0.75
    b = Go1UdpBackend("go1", robot_port=emulator.port, local_port=0)
    b.connect(timeout=3.0)
    try:
        assert b.read().remote == remote
        assert control_request(ctrl, {"op": "remote", "buttons": []})["ok"]
        b.command(JointCommand.damping(1.0))  # the Go1 answers each command with a state
        assert wait_for(lambda: not b.read().remote.buttons, 1.0)
    finally:
        b.close()


def test_backend_checks_the_robot_address_and_interface():
    for bad in ("192.168.123", "300.1.2.3", "robot", ""):
        with pytest.raises(NetworkOptionError, match="--robot-ip") as info:
            Go1UdpBackend("go1", robot_ip=bad)
        assert "\n" not in str(info.value)
    with pytest.raises(NetworkOptionError, match="not on interface lo"):
        Go1UdpBackend("go1", robot_ip="192.168.123.10", interface="lo")
    with pytest.raises(NetworkOptionError, match="no network interface 'nope0'"):
        Go1UdpBackend("go1", robot_ip="127.0.0.1", interface="nope0")
    assert Go1UdpBackend("go1", robot_ip=" 127.0.0.1", interface="lo").robot_ip == "127.0.0.1"


# ---------------------------------------------------------------------------------- a policy
def _run_in_thread(controller, **kwargs) -> tuple[threading.Thread, list]:
    results: list = []
    thread = threading.Thread(target=lambda: results.append(controller.run(**kwargs)),
                              daemon=True)
    thread.start()
    return thread, results


@pytest.mark.slow
def test_start_gates_the_policy_and_the_estop_damps_it(tiny_policy):
    """Stand up, hold until Start is pressed (a press, not a held button), run the policy;
    L2+B stops it: damping within one command period, a logged safety trip."""
    from robot_deploy.controller import PolicyController
    from sim_training.bundle import PolicyBundle

    bundle = PolicyBundle.load(tiny_policy)
    with Go1UdpEmulator("a1", port=0, control_port=0, command_timeout=0.5) as emulator:
        ctrl = emulator.control_port
        backend = Go1UdpBackend("a1", robot_port=emulator.port, local_port=0)
        recorder = Recorder(backend)
        safe = SafetyLayer(backend, SafetyConfig(max_state_age=0.2))  # a loaded 2-core box
        controller = PolicyController(bundle, safe, realtime=True)
        steps: list[float] = []
        # Start held before the wait begins: it must be released and pressed again
        assert control_request(ctrl, {"op": "remote", "buttons": [START_BUTTON]})["ok"]
        thread, results = _run_in_thread(controller, seconds=10.0, ramp_seconds=0.3,
                                         wait_start=True, start_timeout=30.0,
                                         on_step=lambda t, s, a: steps.append(t))
        try:
            assert wait_for(lambda: controller.phase == "wait_start", 20.0), controller.phase
            sent = emulator.counters["commands"]
            time.sleep(0.5)
            assert controller.phase == "wait_start" and not steps  # held Start: no go
            assert emulator.counters["commands"] - sent > 100  # it stands, commanded at 500 Hz
            assert control_request(ctrl, {"op": "remote", "buttons": []})["ok"]
            time.sleep(0.3)
            assert controller.phase == "wait_start" and not steps
            assert control_request(ctrl, {"op": "remote", "buttons": [START_BUTTON]})["ok"]
            assert wait_for(lambda: len(steps) >= 2, 5.0), controller.phase
            control_request(ctrl, {"op": "remote", "buttons": []})
            assert control_request(ctrl, {"op": "remote", "buttons": list(ESTOP_BUTTONS)})["ok"]
            thread.join(15.0)
            assert not thread.is_alive()
        finally:
            controller.stop_requested = True
            thread.join(15.0)
            backend.close()
        result = results[0]
        assert result.start_wait_s is not None and result.start_wait_s > 0.8
        assert result.policy_steps >= 2 and result.seconds < 5.0
        assert result.stopped_by == "safety" and result.trip == "estop", safe.events
        assert [e.kind for e in safe.events] == ["estop"]
        assert_damped_within_one_period(recorder, controller.command_dt)


@pytest.mark.slow
def test_no_start_within_the_timeout_stops_in_damping(tiny_policy):
    from robot_deploy.controller import PolicyController
    from sim_training.bundle import PolicyBundle

    bundle = PolicyBundle.load(tiny_policy)
    with Go1UdpEmulator("a1", port=0, control_port=0, command_timeout=0.5) as emulator:
        backend = Go1UdpBackend("a1", robot_port=emulator.port, local_port=0)
        sent = record_commands(backend)
        controller = PolicyController(bundle, SafetyLayer(backend, SafetyConfig(
            max_state_age=0.2)), realtime=True)
        try:
            result = controller.run(5.0, ramp_seconds=0.2, wait_start=True, start_timeout=0.4)
        finally:
            backend.close()
    assert result.stopped_by == "no_start" and result.policy_steps == 0
    assert 0.4 <= result.start_wait_s < 2.0
    assert sent[-1].kp.max() == 0.0 and sent[-1].kd.min() > 0  # ends in damping

