"""The Go2 over DDS on loopback: the emulator against plain SDK clients, the backend, faults.

The Unitree SDK's DDS factory is process-global (one domain per process), so this process
joins one private random domain once and the emulator runs in a subprocess on the same
domain (``python -m robot_deploy.emulator.go2_dds``), shared by the tests and restarted if a
test killed it. Everything binds to ``lo``; every wait has a deadline.

Like a Go2, the emulator starts in sport mode and ignores low-level commands until its motion
mode is released: plain SDK clients release it with the SDK's ``MotionSwitcherClient`` as
Unitree's ``go2_stand_example.py`` does; the backend does it in ``connect``.
"""

from __future__ import annotations

import collections
import itertools
import json
import random
import socket
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from quadmimic.core.errors import RobotConnectionError
from quadmimic.core.robots import get_robot
from robot_deploy.backends.go2_dds import (
    LOWCMD_TOPIC,
    LOWSTATE_TOPIC,
    Go2DdsBackend,
    close_rpc_client,
    current_dds_domain,
    init_dds,
    release,
)
from robot_deploy.emulator import EMULATORS, check_protocol, emulator_class, run_emulator
from robot_deploy.emulator.core import LOOPBACK, control_request
from robot_deploy.emulator.go1_udp import Go1UdpEmulator
from robot_deploy.emulator.go2_dds import Go2DdsEmulator, LowStateEncoder
from robot_deploy.network import NetworkOptionError
from robot_deploy.remote import ESTOP_BUTTONS, decode_remote
from robot_deploy.robot import JointCommand, RobotState
from robot_deploy.safety import SafetyConfig, SafetyLayer
from tests.conftest import REPO
from tests.robot_deploy.contract import Recorder, assert_damped_within_one_period, check_state

SPEC = get_robot("go2")
STARTUP_TIMEOUT = 60.0  # a loaded 2-core machine imports PyBullet and Pinocchio slowly
RELEASE_DELAY = 0.5  # the emulator's default: a ReleaseMode takes this long


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


class EmulatorProcess:
    """``python -m robot_deploy.emulator.go2_dds`` on a domain, with its control port."""

    def __init__(self, domain: int, log_dir):
        self.domain = domain
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.starts = 0

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ensure(self) -> None:
        if self.alive():
            return
        self.port = _free_udp_port()
        self.starts += 1
        self.log = (self.log_dir / f"emulator{self.starts}.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "robot_deploy.emulator.go2_dds", "--domain",
             str(self.domain), "--control-port", str(self.port), "--max-seconds", "300"],
            cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"emulator exited: {self.log_text()}")
            try:
                if self.request({"op": "stats"}, timeout=0.2)["ok"]:
                    return
            except (TimeoutError, ConnectionError, OSError):
                time.sleep(0.1)
        self.kill()
        pytest.fail(f"emulator did not start within {STARTUP_TIMEOUT} s: {self.log_text()}")

    def log_text(self) -> str:
        self.log.flush()
        return (self.log_dir / f"emulator{self.starts}.log").read_text()[-2000:]

    def request(self, request: dict, timeout: float = 2.0) -> dict:
        return control_request(self.port, request, timeout=timeout)

    def counters(self) -> collections.Counter:
        return collections.Counter(self.request({"op": "stats"})["counters"])

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc is not None:
            self.log.close()


@pytest.fixture(scope="module")
def domain() -> int:
    """This process's DDS domain: a private random one (or the one already joined)."""
    current = current_dds_domain()
    chosen = current if current is not None else random.SystemRandom().randint(1, 200)
    init_dds(chosen, "lo")
    return chosen


@pytest.fixture(scope="module")
def emulators(domain, tmp_path_factory):
    manager = EmulatorProcess(domain, tmp_path_factory.mktemp("go2_dds"))
    yield manager
    manager.stop()


@pytest.fixture
def emu(emulators) -> EmulatorProcess:
    """The running emulator, robot standing in its default pose, watchdog settled."""
    emulators.ensure()
    time.sleep(0.2)  # a previous test's last command: let the watchdog act before the reset
    assert emulators.request({"op": "reset"})["ok"]
    time.sleep(0.3)
    return emulators


@pytest.fixture
def backend(emu):
    robot = Go2DdsBackend("go2", emu.domain, "lo")
    robot.connect(timeout=20.0)
    yield robot
    robot.close()


def _drops(counters: collections.Counter) -> int:
    return sum(v for k, v in counters.items() if k.startswith("dropped_"))


def _hold(robot, seconds: float, q=None, period: float = 0.004) -> int:
    """Command a position hold at ~1/period Hz for ``seconds``; the number sent."""
    cmd = JointCommand.position(SPEC.default if q is None else q, SPEC)
    sent, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        robot.command(cmd)
        sent += 1
        time.sleep(period)
    return sent


# ---------------------------------------------------------------------- SDK clients
class SdkClient:
    """A plain Unitree SDK client (not our backend): LowCmd_ out, every LowState_ kept."""

    def __init__(self):
        from unitree_sdk2py.core.channel import ChannelPublisher, ChannelSubscriber
        from unitree_sdk2py.idl.unitree_go.msg.dds_ import LowCmd_, LowState_
        from unitree_sdk2py.utils.crc import CRC

        self.crc = CRC()
        self.states: list = []
        self.lock = threading.Lock()
        self.sub = ChannelSubscriber(LOWSTATE_TOPIC, LowState_)
        self.sub.Init(self._on_state, 0)
        self.pub = ChannelPublisher(LOWCMD_TOPIC, LowCmd_)
        self.pub.Init()

    def _on_state(self, msg):
        with self.lock:
            self.states.append((time.monotonic(), msg))

    def wait_states(self, n: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.states) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.states) >= n, f"only {len(self.states)} rt/lowstate in {timeout} s"

    def lowcmd(self, q, kp, kd, mode=0x01):
        from unitree_sdk2py.idl.default import unitree_go_msg_dds__LowCmd_

        cmd = unitree_go_msg_dds__LowCmd_()
        cmd.head = [0xFE, 0xEF]
        cmd.level_flag = 0xFF
        for i in range(12):
            m = cmd.motor_cmd[i]
            m.mode, m.q, m.kp, m.kd = mode, float(q[i]), float(kp[i]), float(kd[i])
        cmd.crc = self.crc.Crc(cmd)
        return cmd

    def close(self):
        release(self.sub)
        release(self.pub)


class SdkMotionSwitcher:
    """The SDK's own MotionSwitcherClient, used as Unitree's go2_stand_example.py does."""

    def __init__(self):
        from unitree_sdk2py.comm.motion_switcher.motion_switcher_client import (
            MotionSwitcherClient,
        )

        self.client = MotionSwitcherClient()
        self.client.SetTimeout(3.0)
        self.client.Init()

    def mode(self) -> str:
        code, result = self.client.CheckMode()
        assert code == 0, f"CheckMode failed: {code}"
        return result["name"]

    def select(self, name: str) -> None:
        assert self.client.SelectMode(name)[0] == 0
        assert self.mode() == name

    def release(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.mode():
            assert time.monotonic() < deadline, "the motion mode was not released"
            self.client.ReleaseMode()
            time.sleep(0.1)

    def close(self) -> None:
        close_rpc_client(self.client)


@pytest.fixture(scope="module")
def switcher(domain):
    client = SdkMotionSwitcher()
    yield client
    client.close()


@pytest.fixture
def sdk(emu, switcher):
    """A plain SDK client, the robot's sport mode released (low-level commands obeyed)."""
    switcher.release()
    client = SdkClient()
    yield client
    client.close()


def test_sdk_client_moves_a_joint_and_reads_valid_states(emu, sdk):
    before = emu.counters()
    sdk.wait_states(20)
    target = SPEC.default.copy()
    target[0] = 0.3  # FR hip abduction
    cmd = sdk.lowcmd(target, SPEC.kp, SPEC.kd)
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        assert sdk.pub.Write(cmd)
        time.sleep(0.004)
    with sdk.lock:
        states = list(sdk.states)
    after = emu.counters()
    newest = states[-1][1]
    assert newest.motor_state[0].q > 0.2  # moved from 0 toward 0.3
    assert abs(newest.motor_state[3].q) < 0.1  # FL hip held
    assert all(msg.crc == sdk.crc.Crc(msg) for _, msg in states)
    ticks = [msg.tick for _, msg in states]
    assert all(b > a for a, b in itertools.pairwise(ticks))
    assert list(newest.head) == [0xFE, 0xEF] and sum(newest.foot_force) > 0
    w, x, y, z = newest.imu_state.quaternion
    assert abs(w) > 0.95 and abs(np.linalg.norm([w, x, y, z]) - 1) < 1e-4
    assert after["commands"] - before["commands"] > 50
    assert _drops(after) == _drops(before)
    # the state stream: ~500 Hz (loaded machine: allow a lot)
    span = states[-1][0] - states[0][0]
    assert len(states) / span > 100  # this listener runs behind the GIL: see test_state_rate


def test_state_rate(emu):
    """rt/lowstate at 500 Hz of the emulator's clock, and close to it on the wall clock."""
    first, t0 = emu.counters()["states_published"], time.monotonic()
    time.sleep(2.0)
    rate = (emu.counters()["states_published"] - first) / (time.monotonic() - t0)
    print(f"rt/lowstate: {rate:.0f} Hz")
    assert 250 < rate < 560


# ---------------------------------------------------------------------- our backend


def test_backend_contract_and_standing(emu):
    robot = Go2DdsBackend("go2", emu.domain, "lo")
    with pytest.raises(RobotConnectionError):
        robot.read()
    robot.connect(timeout=20.0)
    try:
        state = robot.read()
        check_state(state)
        assert state.quat[3] > 0.95  # xyzw: upright
        assert state.foot_contact.all()
        assert abs(state.accel[2] - 9.81) < 1.0
        np.testing.assert_allclose(state.q, SPEC.default, atol=0.1)
        assert abs(robot.now() - state.stamp) < 0.5
        time.sleep(0.05)
        assert robot.read().stamp > state.stamp
        sent = _hold(robot, 1.0)
        state = robot.read()
        check_state(state)
        assert robot.now() - state.stamp < 0.05
        assert np.all(np.abs(state.roll_pitch) < 0.1) and state.foot_contact.all()
        np.testing.assert_allclose(state.q, SPEC.default, atol=0.1)
        stats = emu.request({"op": "stats"})
        assert stats["base_height"] > 0.2
        assert robot.counters["commands_sent"] == sent
        assert robot.counters["states_bad_crc"] == 0
        with pytest.raises(ValueError):
            robot.command(JointCommand(q=np.full(12, np.nan)))
        robot.damp()
    finally:
        robot.close()
    robot.close()  # idempotent
    with pytest.raises(RobotConnectionError):
        robot.read()


def test_backend_refuses_a_second_domain(domain):
    other = domain % 200 + 1
    with pytest.raises(RobotConnectionError, match="already runs DDS domain"):
        Go2DdsBackend("go2", other, "lo").connect(timeout=1.0)


def test_backend_refuses_an_unknown_interface():
    with pytest.raises(NetworkOptionError, match="no network interface 'nope0'") as info:
        init_dds(0, "nope0")
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------------- sport mode
def test_sport_mode_ignores_low_level_commands_until_the_backend_releases_it(emu, switcher):
    switcher.select("normal")  # the robot's own motion service in charge, as at power-on
    client = SdkClient()
    try:
        client.wait_states(5)
        before = emu.counters()
        target = SPEC.default.copy()
        target[0] = 0.3
        cmd = client.lowcmd(target, SPEC.kp, SPEC.kd)
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            client.pub.Write(cmd)
            time.sleep(0.004)
        time.sleep(0.1)
        ignored = emu.counters()
        assert ignored["commands"] == before["commands"]  # none applied...
        assert ignored["ignored_motion_mode"] - before["ignored_motion_mode"] > 20  # ...seen
        assert abs(client.states[-1][1].motor_state[0].q) < 0.1  # FR hip did not move
    finally:
        client.close()
    assert emu.request({"op": "stats"})["motion_mode"] == "normal"

    robot = Go2DdsBackend("go2", emu.domain, "lo")
    t0 = time.monotonic()
    robot.connect(timeout=20.0)
    try:
        print(f"connect with release: {time.monotonic() - t0:.2f} s")
        assert robot.released_mode == "normal"
        released = emu.counters()
        assert released["rpc_release_mode"] > ignored["rpc_release_mode"]
        assert released["motion_mode_released"] == ignored["motion_mode_released"] + 1
        assert released["commands"] == ignored["commands"]  # the backend sent nothing yet
        assert switcher.mode() == ""
        sent = _hold(robot, 0.5)
        deadline = time.monotonic() + 2.0  # a loaded emulator reads late, not never
        while (emu.counters()["commands"] - released["commands"] < 0.8 * sent
               and time.monotonic() < deadline):
            time.sleep(0.05)
        after = emu.counters()
        # every command of the backend came after the release: all applied, none ignored
        assert after["ignored_motion_mode"] == released["ignored_motion_mode"]
        assert 0.8 * sent <= after["commands"] - released["commands"] <= sent, (sent, after)
        assert robot.counters["commands_sent"] == sent
    finally:
        robot.close()
    # already released: the next connect finds no mode and releases nothing
    robot = Go2DdsBackend("go2", emu.domain, "lo")
    robot.connect(timeout=20.0)
    robot.close()
    assert robot.released_mode == ""


def test_a_sport_mode_that_will_not_release_is_a_one_line_error(emu, switcher):
    switcher.select("normal")
    assert emu.request({"op": "motion_mode", "release_delay": 1e6})["ok"]  # a stuck service
    try:
        robot = Go2DdsBackend("go2", emu.domain, "lo", release_timeout=1.5)
        before = emu.counters()
        t0 = time.monotonic()
        with pytest.raises(RobotConnectionError,
                           match=r"release the motion mode in 1\.5 s: 'normal' still") as info:
            robot.connect(timeout=20.0)
        elapsed = time.monotonic() - t0
        assert "\n" not in str(info.value)
        assert 1.5 <= elapsed < 8.0, elapsed
        after = emu.counters()
        assert after["rpc_release_mode"] > before["rpc_release_mode"]  # it did ask
        assert after["commands"] == before["commands"]  # and never commanded
        with pytest.raises(RobotConnectionError, match="not connected"):
            robot.read()
        # no motion_switcher at all (a robot without the service) is the same kind of error
        from robot_deploy.backends.go2_dds import release_motion_mode

        emu.kill()
        with pytest.raises(RobotConnectionError, match="motion_switcher gave no answer"):
            release_motion_mode(timeout=1.0)
    finally:
        if emu.alive():
            emu.request({"op": "motion_mode", "release_delay": RELEASE_DELAY})


# ---------------------------------------------------------------------- the remote
def test_the_remote_reaches_sdk_clients_and_the_backend(emu, backend):
    client = SdkClient()
    try:
        reply = emu.request({"op": "remote", "buttons": ["start", "A"], "lx": 0.5,
                             "ly": -0.25})
        assert reply["ok"] and reply["buttons"] == ["A", "start"]
        # Under load the SDK reader can run a few dozen states behind the 500 Hz stream:
        # wait for the first state published after the press, not a fixed count.
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            client.wait_states(len(client.states) + 1)
            raw = client.states[-1][1].wireless_remote  # what the SDK got: 40 uint8
            if raw[2] or raw[3]:
                break
        assert len(raw) == 40 and raw[2] == 0x04 and raw[3] == 0x01  # start = bit 2, A = 8
        remote = decode_remote(raw)
        assert remote.buttons == {"start", "A"} and (remote.lx, remote.ly) == (0.5, -0.25)
        assert client.states[-1][1].crc == client.crc.Crc(client.states[-1][1])
        assert backend.read().remote == remote
        assert emu.request({"op": "remote", "buttons": []})["ok"]
        time.sleep(0.1)
        assert not backend.read().remote.buttons
        bad = emu.request({"op": "remote", "buttons": ["A", "turbo"]})
        assert not bad["ok"] and "turbo" in bad["error"]
    finally:
        client.close()
        emu.request({"op": "remote", "buttons": []})


def test_estop_on_the_remote_damps_within_one_command_period(emu, backend, caplog):
    recorder = Recorder(backend)
    safe = SafetyLayer(backend, SafetyConfig(max_state_age=0.2))
    cmd = JointCommand.position(SPEC.default, SPEC)
    period = 0.004
    pressed_at = None
    end = time.monotonic() + 5.0
    with caplog.at_level("WARNING", logger="robot_deploy.safety"):
        while time.monotonic() < end and not safe.tripped:
            safe.read()
            safe.command(cmd)
            if pressed_at is None and time.monotonic() > end - 4.5:
                assert emu.request({"op": "remote", "buttons": list(ESTOP_BUTTONS)})["ok"]
                pressed_at = time.monotonic()
            time.sleep(period)
        for _ in range(10):  # the loop goes on: only damping reaches the motors
            safe.read()
            safe.command(cmd)
            time.sleep(period)
    emu.request({"op": "remote", "buttons": []})
    assert safe.tripped == "estop", safe.events
    assert [e.kind for e in safe.events] == ["estop"] and "L2+B" in safe.events[0].detail
    assert any("safety trip: estop" in r.getMessage() for r in caplog.records)
    print(f"trip {safe.events[0].time - pressed_at:.3f} s after the control request")
    assert_damped_within_one_period(recorder, period)
    assert backend.counters["write_failed"] == 0


# ---------------------------------------------------------------------- faults
def test_bad_crc_and_nan_are_dropped_and_the_emulator_keeps_serving(emu, sdk):
    sdk.wait_states(5)
    good = sdk.lowcmd(SPEC.default, SPEC.kp, SPEC.kd)
    initial = emu.counters()
    start = initial["commands"]
    deadline = time.monotonic() + 10.0  # the robot is being commanded (DDS has matched)
    while emu.counters()["commands"] < start + 20 and time.monotonic() < deadline:
        for _ in range(10):
            sdk.pub.Write(good)
            time.sleep(0.004)
    time.sleep(0.05)
    before = emu.counters()
    bad_crc = sdk.lowcmd(SPEC.default, SPEC.kp, SPEC.kd)
    bad_crc.crc ^= 0x1
    nan = sdk.lowcmd(SPEC.default, SPEC.kp, SPEC.kd)
    nan.motor_cmd[4].q = float("nan")
    nan.motor_cmd[7].tau = float("inf")
    nan.crc = sdk.crc.Crc(nan)  # a correct CRC: the values themselves are refused
    end = time.monotonic() + 0.4  # only bad packets for 0.4 s: none may feed the watchdog
    n = 0
    while time.monotonic() < end:
        sdk.pub.Write(bad_crc if n % 2 == 0 else nan)
        n += 1
        time.sleep(0.004)
    time.sleep(0.1)
    after = emu.counters()
    assert after["commands"] == before["commands"]
    assert 0 < after["dropped_crc"] - before["dropped_crc"] <= (n + 1) // 2
    assert 0 < after["dropped_non_finite"] - before["dropped_non_finite"] <= n // 2
    # bad packets do not feed the watchdog: it has damped the robot since the last good one
    assert after["watchdog_damping"] >= max(before["watchdog_damping"],
                                            initial["watchdog_damping"] + 1)
    # still serving: states keep coming, good commands are applied again
    count = len(sdk.states)
    for _ in range(25):
        sdk.pub.Write(good)
        time.sleep(0.004)
    assert emu.counters()["commands"] > after["commands"]
    assert len(sdk.states) > count + 20
    assert sdk.states[-1][1].crc == sdk.crc.Crc(sdk.states[-1][1])


def test_watchdog_damps_when_commands_stop(emu, backend):
    _hold(backend, 0.5)
    before = emu.counters()["watchdog_damping"]
    height = emu.request({"op": "stats"})["base_height"]
    last = time.monotonic()
    backend.command(JointCommand.position(SPEC.default, SPEC))
    detected = None
    while time.monotonic() - last < 2.0:
        if emu.counters()["watchdog_damping"] > before:
            detected = time.monotonic() - last
            break
        time.sleep(0.005)
    print(f"watchdog damping seen {detected} s after the last command")
    assert detected is not None and 0.08 < detected < 0.35
    time.sleep(0.5)
    assert emu.request({"op": "stats"})["base_height"] < height - 0.03  # limp: it sags


def test_control_channel(emu, backend):
    assert emu.port not in (7400, 7410, 7411)  # not a DDS port: its own UDP socket
    stats = emu.request({"op": "stats"})
    assert stats["ok"] and stats["counters"]["states_published"] > 0
    assert stats["base_height"] > 0.2 and max(map(abs, stats["roll_pitch"])) < 0.1
    assert not emu.request({"op": "fly"})["ok"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:  # garbage: an error reply
        sock.settimeout(2.0)
        sock.sendto(b"\xff{not json", (LOOPBACK, emu.port))
        assert not json.loads(sock.recvfrom(65536)[0])["ok"]
    # shove sideways while the robot stands on its own (no commands): it rolls over
    assert emu.request({"op": "shove", "velocity": [0.0, 3.0, 0.0]})["ok"]
    tilted = 0.0
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        tilted = max(tilted, float(np.abs(backend.read().roll_pitch).max()))
        time.sleep(0.01)
    assert tilted > 0.2
    assert emu.request({"op": "reset"})["ok"]
    time.sleep(0.3)
    state = backend.read()
    assert np.all(np.abs(state.roll_pitch) < 0.1) and state.foot_contact.all()
    assert emu.request({"op": "stats"})["base_height"] > 0.2


def test_safety_trips_stale_state_when_the_emulator_dies(emu, backend):
    # 0.2 s, not the default 0.05 s: on a loaded 2-core machine the emulator's state stream
    # has gaps of 50-60 ms now and then (a real trip of the default, not a test artefact)
    safe = SafetyLayer(backend, SafetyConfig(max_state_age=0.2))
    cmd = JointCommand.position(SPEC.default, SPEC)
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        safe.read()
        safe.command(cmd)
        time.sleep(0.004)
    assert safe.tripped is None
    emu.kill()  # no more rt/lowstate (a crash, not a clean stop)
    killed = time.monotonic()
    tripped_after = None
    while time.monotonic() - killed < 2.0:
        safe.read()
        safe.command(cmd)
        if safe.tripped:
            tripped_after = time.monotonic() - killed
            break
        time.sleep(0.004)
    assert safe.tripped == "stale_state", safe.events
    print(f"stale_state {tripped_after} s after the emulator died")
    assert tripped_after is not None and tripped_after < 0.6
    safe.command(cmd)  # tripped: damping goes out, nothing raises
    assert backend.counters["write_failed"] == 0
    with pytest.raises(RobotConnectionError, match="no valid"):
        Go2DdsBackend("go2", emu.domain, "lo").connect(timeout=0.5)


# ---------------------------------------------------------------------- in process
def test_stamp_is_reception_time_from_the_source_clock():
    robot = Go2DdsBackend()
    offset = 3_000_000_000  # the robot's clock runs 3 s ahead of ours

    def info(late: float) -> SimpleNamespace:
        return SimpleNamespace(source_timestamp=time.time_ns() + offset - int(late * 1e9))

    assert robot._stamp(info(0.002)) == pytest.approx(time.monotonic(), abs=0.01)
    assert robot._stamp(info(0.001)) == pytest.approx(time.monotonic(), abs=0.01)
    # a sample that sat unread (or came late) for 0.3 s more than the best case is 0.3 s old
    assert robot._stamp(info(0.301)) == pytest.approx(time.monotonic() - 0.3, abs=0.01)
    assert robot._stamp(info(0.001)) == pytest.approx(time.monotonic(), abs=0.01)
    assert robot._stamp(SimpleNamespace()) == pytest.approx(time.monotonic(), abs=0.01)


class _FakeCore:
    def __init__(self):
        self.counters = collections.Counter()
        self.applied: list[JointCommand] = []

    def apply(self, cmd):
        self.applied.append(cmd)

    def drop(self, reason):
        self.counters[f"dropped_{reason}"] += 1


def test_command_decoding_never_crashes():
    from unitree_sdk2py.utils.crc import CRC

    emulator = Go2DdsEmulator()
    emulator.core, emulator._running, emulator._crc = _FakeCore(), True, CRC()
    client = SdkClient.__new__(SdkClient)
    client.crc = CRC()
    q = np.arange(12) * 0.1
    cmd = client.lowcmd(q, np.full(12, 20.0), np.full(12, 0.5))
    cmd.motor_cmd[2].mode = 0x00  # motor off
    cmd.motor_cmd[2].tau = 5.0
    cmd.crc = client.crc.Crc(cmd)
    emulator._on_command(cmd)
    applied = emulator.core.applied[-1]
    np.testing.assert_allclose(applied.q[[0, 1, 3]], q[[0, 1, 3]], atol=1e-6)
    assert applied.kp[2] == applied.kd[2] == applied.tau[2] == 0.0  # limp
    assert applied.kp[0] == pytest.approx(20.0) and applied.kd[0] == pytest.approx(0.5)
    cmd.crc += 1
    emulator._on_command(cmd)
    emulator._on_command(object())  # not a LowCmd_ at all
    emulator._on_command(None)
    assert len(emulator.core.applied) == 1
    assert emulator.core.counters == {"dropped_crc": 1, "dropped_malformed": 2}


def test_lowstate_encoder_matches_the_sdk():
    from unitree_sdk2py.idl.unitree_go.msg.dds_ import LowState_
    from unitree_sdk2py.utils.crc import CRC

    rng = np.random.default_rng(0)
    quat = rng.normal(size=4)
    state = RobotState(q=rng.normal(size=12), dq=rng.normal(size=12), tau=rng.normal(size=12),
                       quat=quat / np.linalg.norm(quat), gyro=rng.normal(size=3),
                       accel=rng.normal(size=3), stamp=1.0,
                       foot_contact=np.array([True, False, True, True]))
    encoder = LowStateEncoder(CRC(), 39)
    assert encoder.self_check(state)
    payload, crc = encoder.encode(state, 4242)
    msg = LowState_.deserialize(payload)
    assert msg.crc == crc == CRC().Crc(msg) and msg.tick == 4242
    assert list(msg.foot_force) == [39, 0, 39, 39]
    np.testing.assert_allclose([m.q for m in msg.motor_state[:12]], state.q, rtol=1e-6)
    x, y, z, w = state.quat
    np.testing.assert_allclose(msg.imu_state.quaternion, [w, x, y, z], rtol=1e-6)


def test_the_registry_refuses_an_unknown_protocol():
    assert emulator_class("go2-dds") is Go2DdsEmulator
    assert emulator_class("go1-udp") is Go1UdpEmulator
    assert check_protocol("go2-dds") == "go2-dds"
    for name in ("can-bus", "go2-udp", ""):
        with pytest.raises(RobotConnectionError, match="unknown protocol") as info:
            run_emulator(name, max_seconds=0.1)
        assert "go1-udp, go2-dds" in str(info.value) and "\n" not in str(info.value)


SHARED_OPTIONS = ("dynamics", "control_port", "command_timeout", "physics", "interface")


def test_both_emulators_share_one_interface():
    import inspect

    classes = [entry.load() for entry in EMULATORS.values()]
    assert classes == [Go1UdpEmulator, Go2DdsEmulator]
    signatures = [inspect.signature(cls) for cls in classes]
    for sig, entry in zip(signatures, EMULATORS.values(), strict=True):
        params = list(sig.parameters.values())
        assert params[0].name == "robot" and params[0].default == entry.robot
        assert params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[1:])
        assert [p.name for p in params[1:len(SHARED_OPTIONS) + 1]] == list(SHARED_OPTIONS)
    for name in SHARED_OPTIONS:  # same defaults for the shared options
        assert len({sig.parameters[name].default for sig in signatures}) == 1, name
    for cls in classes:
        for member in ("start", "stop", "serve", "__enter__", "__exit__"):
            assert callable(getattr(cls, member)), (cls, member)
        assert list(inspect.signature(cls.serve).parameters) == ["self", "max_seconds"]


@pytest.mark.parametrize("cls", [Go1UdpEmulator, Go2DdsEmulator])
def test_both_emulators_raise_the_same_errors(cls):
    from quadmimic.core.errors import RobotSpecError

    with pytest.raises(RobotSpecError, match="spot"):
        cls("spot")
    with pytest.raises(RobotConnectionError, match="unknown physics 'bullet'") as info:
        cls(physics="bullet")
    assert "\n" not in str(info.value)
    with pytest.raises(NetworkOptionError, match="no network interface 'nope0'"):
        cls(interface="nope0")
    with pytest.raises(TypeError):  # the shared options are keyword-only
        cls("go2", None)


def test_both_emulators_refuse_a_wire_they_cannot_use(domain):
    other = domain % 200 + 1  # this process already runs DDS on `domain`
    with pytest.raises(RobotConnectionError, match="already runs DDS domain") as info:
        Go2DdsEmulator(domain=other).start()
    assert "\n" not in str(info.value)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind((LOOPBACK, 0))
        emulator = Go1UdpEmulator(port=busy.getsockname()[1])
        with pytest.raises(RobotConnectionError, match="cannot bind") as info:
            emulator.start()
        assert "\n" not in str(info.value)
        emulator.stop()
