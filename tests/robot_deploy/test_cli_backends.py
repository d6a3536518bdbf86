"""`quadmimic emulate`, `deploy` and `adapt` as a user runs them: options, robots, errors."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time

import pytest

from adaptation.run import run_adaptation
from quadmimic.core.errors import QuadmimicError, RobotConnectionError
from robot_deploy.backends import backend_robot
from robot_deploy.deploy import default_wait_start, run_policy
from robot_deploy.emulator.core import control_request
from robot_deploy.emulator.go1_udp import Go1UdpEmulator
from robot_deploy.emulator.process import EmulatorProcess, free_udp_port
from robot_deploy.network import NetworkOptionError
from robot_deploy.robot import RobotMismatchError
from tests.conftest import REPO, run_cli


def quadmimic(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return run_cli(*args, timeout=timeout)


def _wait_for_emulator(emulator: subprocess.Popen, control: int) -> float:
    """Wait until an emulator process answers on its control port; the deadline used."""
    deadline = time.monotonic() + 90
    while True:
        assert emulator.poll() is None and time.monotonic() < deadline
        try:
            if control_request(control, {"op": "stats"}, timeout=0.3)["ok"]:
                return deadline
        except (TimeoutError, OSError):
            time.sleep(0.2)


def one_error(proc: subprocess.CompletedProcess) -> str:
    """Exit code 2 and one error (rich may wrap it on the terminal), no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and proc.stderr.count("error:") == 1, proc.stderr
    return " ".join(proc.stderr.split())


@pytest.mark.slow
def test_deploy_through_the_go1_wire_protocol(tiny_policy):
    with EmulatorProcess("a1", max_seconds=60) as emulator:
        port, local = emulator.port, free_udp_port()
        deploy = subprocess.run(
            [sys.executable, "-m", "quadmimic", "deploy", str(tiny_policy), "--backend",
             "go1-udp", "--robot", "a1", "--port", str(port), "--local-port", str(local),
             "--max-seconds", "2"],
            capture_output=True, text=True, timeout=120)
        assert deploy.returncode == 0, deploy.stderr[-2000:]
        text = deploy.stdout + deploy.stderr
        summary = json.loads(text[text.index("{"):text.rindex("}") + 1])
        assert summary["commands"] > 100 and summary["robot"] == "a1"
        assert summary["stopped_by"] in ("time", "safety")
        assert summary["start_wait_s"] is None  # an emulator on loopback: no waiting
        counters = emulator.counters()
        assert counters["commands"] > 100
        assert not any(k.startswith("dropped") and v for k, v in counters.items())


# ------------------------------------------------------------------ the robot a backend drives
def test_the_robot_a_backend_drives():
    assert backend_robot("go2-dds", "go2") == "go2"
    assert backend_robot("go1-udp", "go1") == "go1"
    assert backend_robot("sim", "a1") == "a1"  # the sim builds the policy's robot
    assert backend_robot("go1-udp", "a1", "a1") == "a1"  # an A1 emulator, said so
    for backend, policy_robot, robot in (("go2-dds", "a1", None), ("go1-udp", "a1", None),
                                         ("sim", "a1", "go1"), ("go2-dds", "go2", "go1")):
        with pytest.raises(RobotMismatchError, match=f"policy is for the {policy_robot}"):
            backend_robot(backend, policy_robot, robot)
    with pytest.raises(QuadmimicError, match="unknown backend"):
        backend_robot("carrier-pigeon", "a1")
    with pytest.raises(QuadmimicError, match="spot"):
        backend_robot("sim", "a1", "spot")


@pytest.mark.slow
def test_a_bundle_for_another_robot_stops_before_the_first_command(tiny_policy, tmp_path):
    """An A1 policy on the Go1 wire without --robot a1: one line, exit 2, nothing sent."""
    with Go1UdpEmulator("a1", port=0, control_port=0) as emulator:
        proc = quadmimic("deploy", str(tiny_policy), "--backend", "go1-udp", "--port",
                         str(emulator.port), "--local-port", str(free_udp_port()))
        message = one_error(proc)
        assert "policy is for the a1, but go1-udp drives a go1" in message
        time.sleep(0.2)
        counters = emulator.counters
        assert counters.get("commands", 0) == 0 and counters.get("states_sent", 0) == 0
        assert not any(k.startswith("dropped") for k in counters)  # not a packet came
    # a policy for another robot: the shipped A1 policy on the Go2 (nothing needs to run for it)
    proc = quadmimic("deploy", str(REPO / "data" / "policies" / "a1_trot"), "--backend",
                     "go2-dds", "--domain", "231")
    assert "policy is for the a1, but go2-dds drives a go2" in one_error(proc)
    # every backend, and adapt too: the same error before anything connects
    with pytest.raises(RobotMismatchError) as info:
        run_policy(tiny_policy, "sim", robot="go1")
    assert "\n" not in str(info.value)
    with pytest.raises(RobotMismatchError):
        run_adaptation(tiny_policy, tmp_path / "session", backend="go2-dds")
    assert not (tmp_path / "session").exists()


# ------------------------------------------------------------------ network options
def test_network_options_are_one_line_errors(tiny_policy, tmp_path):
    proc = quadmimic("deploy", str(tiny_policy), "--backend", "go1-udp", "--robot", "a1",
                     "--robot-ip", "192.168.123")
    assert "--robot-ip: '192.168.123' is not an IPv4 address" in one_error(proc)
    proc = quadmimic("emulate", "--protocol", "go2-dds", "--interface", "nope0")
    assert "no network interface 'nope0'" in one_error(proc)
    cases = [({"backend": "go2-dds", "robot": "a1", "interface": "nope0"},
              "no network interface 'nope0'"),
             ({"backend": "go1-udp", "robot": "a1", "robot_ip": "192.168.123.10"},
              "not on interface lo"),
             ({"backend": "go1-udp", "robot": "a1", "robot_ip": "::1"}, "not an IPv4")]
    for kwargs, message in cases:
        with pytest.raises(NetworkOptionError, match=message) as info:
            run_policy(tiny_policy, **kwargs)
        assert "\n" not in str(info.value)
    with pytest.raises(NetworkOptionError, match="--robot-ip"):
        run_adaptation(tiny_policy, tmp_path / "never", backend="go1-udp", robot="a1",
                       robot_ip="not-an-ip")
    assert not (tmp_path / "never").exists()


def test_waiting_for_start_is_for_robots_with_a_remote(tiny_policy):
    assert not default_wait_start("go2-dds", "lo")  # the emulator on this machine
    assert default_wait_start("go2-dds", "eth0")  # a Go2 on the network
    assert not default_wait_start("go1-udp", "lo", "127.0.0.1")
    assert default_wait_start("go1-udp", "eth0", "192.168.123.10")
    assert not default_wait_start("sim")
    with pytest.raises(RobotConnectionError, match="--wait-start needs a wireless remote"):
        run_policy(tiny_policy, "sim", wait_start=True)


# ------------------------------------------------------------------ emulate
@pytest.mark.slow
def test_emulate_go2_dds_serves_the_robot_asked_for():
    control, domain = free_udp_port(), random.SystemRandom().randint(201, 230)
    proc = subprocess.Popen(
        [sys.executable, "-m", "quadmimic", "emulate", "--protocol", "go2-dds", "--robot", "a1",
         "--domain", str(domain), "--interface", "lo", "--control-port", str(control),
         "--max-seconds", "120"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        cwd=REPO)
    try:
        stats = None
        deadline = time.monotonic() + 90
        while stats is None and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            try:
                stats = control_request(control, {"op": "stats"}, timeout=0.3)
            except (TimeoutError, OSError):
                time.sleep(0.2)
        assert stats is not None and stats["ok"]
        assert stats["robot"] == "a1"  # --robot was ignored before
        assert stats["motion_mode"] == "normal"  # a Go2 starts in sport mode
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "go2-dds emulator (a1, pybullet, normal) on domain" in out


# ------------------------------------------------------------------ the Go2 path, end to end
@pytest.mark.slow
def test_deploy_on_the_go2_emulator_waits_for_start_and_stops_on_the_estop(tiny_policy):
    """`quadmimic emulate` (sport mode on) and `quadmimic deploy --wait-start` as two
    processes on DDS: release, stand up, Start, policy, L2+B → damping."""
    control, domain = free_udp_port(), random.SystemRandom().randint(201, 230)
    emulator = subprocess.Popen(
        [sys.executable, "-m", "quadmimic", "emulate", "--protocol", "go2-dds", "--robot", "a1",
         "--domain", str(domain), "--control-port", str(control), "--max-seconds", "240"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    deploy = None
    try:
        deadline = _wait_for_emulator(emulator, control)

        def counters() -> dict:
            return control_request(control, {"op": "stats"})["counters"]

        deploy = subprocess.Popen(
            [sys.executable, "-m", "quadmimic", "deploy", str(tiny_policy), "--backend",
             "go2-dds", "--robot", "a1", "--domain", str(domain), "--wait-start",
             "--max-seconds", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=REPO)
        # the 1 s stand-up ramp is 500 commands at 500 Hz: beyond 750 it stands, waiting
        while counters().get("commands", 0) < 750:
            assert deploy.poll() is None, deploy.stderr.read()[-2000:]
            assert time.monotonic() < deadline + 60
            time.sleep(0.1)
        stats = counters()
        assert stats["motion_mode_released"] == 1 and stats.get("ignored_motion_mode", 0) == 0
        time.sleep(0.5)
        assert deploy.poll() is None  # still standing there: no Start yet
        assert control_request(control, {"op": "remote", "buttons": ["start"]})["ok"]
        time.sleep(0.15)
        assert control_request(control, {"op": "remote", "buttons": ["L2", "B"]})["ok"]
        out, err = deploy.communicate(timeout=60)
    finally:
        if deploy is not None and deploy.poll() is None:
            deploy.kill()
        emulator.terminate()
        emulator.wait(timeout=30)
    assert deploy.returncode == 0, err[-2000:]
    text = out + err
    summary = json.loads(text[text.index("{"):text.rindex("}") + 1])
    assert summary["robot"] == "a1" and summary["start_wait_s"] > 0.4
    assert summary["stopped_by"] == "safety" and summary["trip"] == "estop", summary
    assert summary["policy_steps"] > 0 and summary["seconds"] < 5
    assert "safety layer: 1 trip (estop 1)" in err  # the run's summary line (trips: the log)


@pytest.mark.slow
@pytest.mark.parametrize(("bundle", "protocol"), [("go2_trot", "go2-dds"),
                                                  ("go1_trot", "go1-udp")])
def test_shipped_policy_walks_10_s_on_its_robots_emulator(bundle, protocol):
    """`quadmimic emulate --protocol P --robot R` + `quadmimic deploy data/policies/R_trot
    --backend P`: the Go2's sport mode released first, 10 s of walking, no trip."""
    control = free_udp_port()
    wire = (["--domain", str(random.SystemRandom().randint(170, 200))] if protocol == "go2-dds"
            else ["--port", str(free_udp_port())])
    robot = bundle.split("_")[0]
    emulator = subprocess.Popen(
        [sys.executable, "-m", "quadmimic", "emulate", "--protocol", protocol, "--robot", robot,
         "--control-port", str(control), "--max-seconds", "240", *wire],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    try:
        _wait_for_emulator(emulator, control)
        start = control_request(control, {"op": "stats"})["base_position"]
        extra = ["--local-port", str(free_udp_port())] if protocol == "go1-udp" else []
        proc = quadmimic("deploy", str(REPO / "data" / "policies" / bundle), "--backend",
                         protocol, "--max-seconds", "10", *wire, *extra, timeout=180)
        stats = control_request(control, {"op": "stats"})
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout + proc.stderr
    summary = json.loads(text[text.index("{"):text.rindex("}") + 1])
    assert summary["robot"] == robot and summary["trip"] is None, summary
    assert summary["stopped_by"] == "time" and summary["seconds"] >= 10.0 - 1e-6
    if protocol == "go2-dds":
        assert stats["counters"]["motion_mode_released"] == 1
        assert stats["counters"].get("ignored_motion_mode", 0) == 0
    walked = ((stats["base_position"][0] - start[0]) ** 2
              + (stats["base_position"][1] - start[1]) ** 2) ** 0.5
    assert walked > 5.0  # the references trot at 1.3 m/s
