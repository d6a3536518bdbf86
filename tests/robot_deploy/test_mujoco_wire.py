"""MuJoCo behind the real wire: both emulators serve the official SDK clients with MuJoCo
physics, and ``--backend mujoco`` runs a policy sim-to-sim."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from robot_deploy.backends import make_backend
from robot_deploy.backends.go1_udp import Go1UdpBackend
from robot_deploy.backends.go2_dds import Go2DdsBackend
from robot_deploy.emulator.core import control_request
from robot_deploy.emulator.go1_udp import Go1UdpEmulator
from robot_deploy.robot import JointCommand
from tests.conftest import REPO
from tests.robot_deploy.contract import check_state
from tests.robot_deploy.emulators import go2_dds_process


def _stand(backend, seconds: float = 1.0) -> list[float]:
    """Hold the default pose at 500 Hz; the tilts seen."""
    cmd = JointCommand.position(backend.spec.default, backend.spec)
    tilts, next_t = [], time.perf_counter()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        state = backend.read()
        tilts.append(float(np.abs(state.roll_pitch).max()))
        backend.command(cmd)
        next_t += 0.002
        time.sleep(max(0.0, next_t - time.perf_counter()))
    return tilts


def test_go1_udp_emulator_with_mujoco_physics_serves_the_sdk_client():
    emu = Go1UdpEmulator("go1", port=0, control_port=0, command_timeout=0.5,
                         physics="mujoco").start()
    try:
        stats = control_request(emu.control_port, {"op": "stats"})
        assert stats["physics"] == "mujoco" and stats["robot"] == "go1"
        backend = Go1UdpBackend("go1", robot_port=emu.port, local_port=0)
        backend.connect(timeout=5.0)
        try:
            check_state(backend.read())
            assert max(_stand(backend)) < 0.1
            state = backend.read()
            np.testing.assert_allclose(state.q, backend.spec.default, atol=0.1)
            assert state.foot_contact.all() and abs(state.accel[2] - 9.81) < 1.5
            height = control_request(emu.control_port, {"op": "stats"})["base_height"]
            assert 0.22 < height < 0.32
        finally:
            backend.close()
    finally:
        emu.stop()


def test_go2_dds_emulator_with_mujoco_physics_releases_sport_mode_and_stands(tmp_path):
    with go2_dds_process(tmp_path, max_seconds=120, startup_timeout=60.0) as (domain, port,
                                                                              stats):
        assert stats["physics"] == "mujoco" and stats["motion_mode"] == "normal"
        backend = Go2DdsBackend("go2", domain, "lo")
        backend.connect(timeout=20.0)  # releases the sport mode first
        try:
            assert backend.released_mode == "normal"
            assert max(_stand(backend)) < 0.1
            check_state(backend.read())
            after = control_request(port, {"op": "stats"})
            assert after["motion_mode"] == "" and after["counters"]["commands"] > 200
            assert after["counters"].get("ignored_motion_mode", 0) == 0  # none sent before
        finally:
            backend.close()


def test_deploy_on_the_mujoco_backend(tiny_policy, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "quadmimic", "deploy", str(tiny_policy), "--backend", "mujoco",
         "--max-seconds", "0.5", "--log", str(tmp_path / "d.jsonl")],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = (tmp_path / "d.jsonl").read_text().splitlines()
    assert len(lines) >= 10 and "q" in json.loads(lines[0])


def test_registry_builds_a_mujoco_robot_and_refuses_unknown_names():
    robot = make_backend("mujoco", "go2", None, realtime=False)
    robot.connect()
    try:
        check_state(robot.read())
    finally:
        robot.close()
    from quadmimic.core.errors import RobotConnectionError

    with pytest.raises(RobotConnectionError, match="unknown backend"):
        make_backend("gazebo", "go2", None, realtime=False)


def test_eval_on_the_mujoco_backend(tiny_policy, tmp_path):
    """`quadmimic eval --backend mujoco`: the deploy controller on a MuJoCo robot, the
    measurable return, falls and progress, as JSON."""
    out = tmp_path / "e.json"
    proc = subprocess.run(
        [sys.executable, "-m", "quadmimic", "eval", str(tiny_policy), "--backend", "mujoco",
         "--episodes", "2", "--seconds", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["backend"] == "mujoco" and result["robot"] == "a1"
    assert len(result["per_episode"]) == 2 and 0.0 <= result["fall_rate"] <= 1.0
    assert 0.0 < result["mean_return"] <= 1.0
    assert "progress along the reference" in proc.stdout + proc.stderr
