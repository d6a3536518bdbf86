"""Driving from the wireless remote: sticks make commands, buttons switch skills.

The sticks' dead zone and rate limits, command scripts, and a scripted command driving a
steerable policy (warm-started from the shipped Go2 trot, zero weights on the command inputs)
on the MuJoCo backend; end to end, the remote's buttons switch two in-place Go2 skills and
back through the standing pose on a MuJoCo Go2 behind ``go2-dds`` (official SDK client) with
no safety trip; and on a MuJoCo Go1 behind ``go1-udp`` the stick's command reaches a steerable
skill and the buttons switch skills. Driving a figure eight through the wires waits for a
shipped steerable gait.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from quadmimic.core.errors import QuadmimicError
from robot_deploy.backends import Connection
from robot_deploy.commands import RemoteSticks, ScriptedCommands, StickConfig, dead_zoned
from robot_deploy.deploy import run_policy
from robot_deploy.emulator.core import control_request
from robot_deploy.remote import RemoteState
from robot_deploy.skills import parse_skill
from sim_training.commands import CommandConfig, load_command_script
from tests.conftest import REPO
from tests.robot_deploy.emulators import go2_dds_process

POLICIES = REPO / "data" / "policies"
STEER = CommandConfig(enabled=True)


# ---------------------------------------------------------------------- the sticks
def test_sticks_dead_zone_rate_limits_and_release():
    clip = np.array([1.2, 0.0, 0.0])
    sticks = RemoteSticks(STEER, clip, StickConfig(dead_zone=0.1, acceleration=1.0,
                                                   yaw_acceleration=2.0), dt=0.1)
    assert dead_zoned(0.05, 0.1) == 0.0 and dead_zoned(-1.0, 0.1) == -1.0
    assert dead_zoned(0.55, 0.1) == pytest.approx(0.5)
    assert not sticks(0.0, RemoteState(ly=0.08, rx=-0.09)).any()  # inside the dead zone
    full = RemoteState(ly=1.0, rx=1.0)
    np.testing.assert_allclose(sticks.target(full), [1.8, 0.0, -1.0])  # 1.5x clip, right turn
    first = sticks(0.1, full)
    np.testing.assert_allclose(first, [0.1, 0.0, -0.2])  # rate limited
    for k in range(30):
        command = sticks(0.2 + 0.1 * k, full)
    np.testing.assert_allclose(command, [1.8, 0.0, -1.0])
    assert sticks.target(RemoteState(ly=-1.0))[0] == 0.0  # stick back: no reverse gait
    for _ in range(30):
        command = sticks(0.0, RemoteState())  # released
    assert not command.any()
    assert not RemoteSticks(STEER, np.array([0.0, 0.0, 1.5])).target(full)[:2].any()


def test_scripted_commands_and_skill_options(tmp_path):
    script = ScriptedCommands(load_command_script("start_stop", np.array([1.0, 0.0, 0.0])))
    np.testing.assert_allclose(script(0.5, None), [1.0, 0.0, 0.0])
    assert not script(4.0, None).any()
    assert parse_skill("B=data/policies/go2_spin") == ("B", Path("data/policies/go2_spin"))
    for bad in ("B", "Z=x", "A="):
        with pytest.raises(QuadmimicError, match="--skill"):
            parse_skill(bad)


def test_deploy_plays_commands_drawn_as_in_training(go2_steer):
    """``deploy --command random``: the gait's own command settings draw the script."""
    from robot_deploy.commands import command_source
    from sim_training.bundle import PolicyBundle

    bundle = PolicyBundle.load(go2_steer)
    source = command_source("random", bundle)
    assert isinstance(source, ScriptedCommands) and source.script.name == "random"
    commands = np.array([source(t, None) for t in np.arange(0.0, 20.0, 0.5)])
    assert len({tuple(c) for c in commands}) >= 4  # a new command every 2-4 s
    assert np.all(np.abs(commands[:, 2]) <= 1.0 + 1e-9)


def test_remote_and_skills_need_a_remote(go2_steer):
    from quadmimic.core.errors import RobotConnectionError

    with pytest.raises(RobotConnectionError, match="--command remote needs a wireless remote"):
        run_policy(go2_steer, "mujoco", command="remote", max_seconds=1.0)
    with pytest.raises(RobotConnectionError, match="--skill needs a wireless remote"):
        run_policy(go2_steer, "mujoco", skills={"A": go2_steer}, max_seconds=1.0)


def test_a_scripted_command_drives_the_mujoco_backend(go2_steer, tmp_path):
    """``deploy --command FILE`` on a simulator: the log carries each step's command."""
    path = tmp_path / "drive.json"
    path.write_text(json.dumps({"segments": [{"seconds": 1.5, "rate": 1.0, "yaw_rate": 0.5},
                                             {"seconds": 1.5}]}))
    log = tmp_path / "log.jsonl"
    result = run_policy(go2_steer, "mujoco", command=str(path), max_seconds=3.0, log=log)
    assert result.trip is None and result.stopped_by == "time" and result.command == str(path)
    commands = [json.loads(line)["command"] for line in log.read_text().splitlines()]
    assert commands[0][2] == 0.5 and commands[-1] == [0.0, 0.0, 0.0]


def test_a_steerable_skill_stops_before_a_switch(go2_steer):
    """Pressing another skill's button: the steerable trot's command comes down to zero under
    the deceleration limit, its reference stands, then the joints ramp to the default pose
    and the other skill runs (a MuJoCo Go2 whose remote presses B at 1.5 s)."""
    from robot_deploy.backends.mujoco import MujocoBackend
    from robot_deploy.remote import key_mask
    from robot_deploy.skills import SkillController
    from sim_training.bundle import PolicyBundle

    class PressesB(MujocoBackend):
        def read(self):  # the remote: B held from 1.5 s to 1.8 s of simulated time
            held = 1.5 + RAMP <= self.now() < 1.8 + RAMP
            return dataclasses.replace(super().read(),
                                       remote=RemoteState(keys=key_mask(["B"]) if held else 0))

    RAMP = 0.5
    robot = PressesB("go2")
    robot.connect()
    try:
        controller = SkillController(
            {"A": PolicyBundle.load(go2_steer),
             "B": PolicyBundle.load(POLICIES / "go2_inplace_steps")}, robot,
            settle_seconds=0.3)
        result = controller.run(8.0, ramp_seconds=RAMP)
    finally:
        robot.close()
    assert result.trip is None and result.stopped_by == "time", result
    [switch] = controller.switches
    assert switch["from"] == "A" and switch["to"] == "B" and switch["stopped"] is True
    assert switch["pressed"] == pytest.approx(1.5, abs=0.07)
    # The trot's commands: the clip's own until the press, then down to zero by at most
    # 1 m/s per s, zero from then on until the ramp.
    a = controller.skills["A"]
    commands = np.array(result.commands_given)
    clip = a.commanded.clip
    at_press = round(switch["pressed"] / a.policy_dt)
    np.testing.assert_allclose(commands[:at_press], np.tile(clip, (at_press, 1)))
    speeds = np.hypot(commands[at_press:, 0], commands[at_press:, 1])
    assert np.all(np.diff(speeds) <= 1e-12)
    assert np.all(-np.diff(speeds) <= 1.0 * a.policy_dt + 1e-9)
    assert speeds[-1] == 0.0 and np.all(commands[-round(0.3 / a.policy_dt):] == 0.0)
    # The ramp starts once the stop took its time: the decline, the blend, the settling.
    assert switch["time"] - switch["pressed"] >= float(np.hypot(*clip[:2])) / 1.0 + 0.3


# ---------------------------------------------------------------------- end to end
SWITCH = [(1.0, ["B"], {}), (1.3, [], {}), (4.5, ["A"], {}), (4.8, [], {})]
"""Switch to skill B and back to A."""


def _stick_script(port: int, log: Path, stop: threading.Event,
                  plan: list[tuple[float, list[str], dict[str, float]]],
                  truth: list[dict]) -> list[str]:
    """Once the policy runs (its log has lines), play ``plan`` (seconds, buttons, sticks) on
    the remote, and poll the emulator's ground truth into ``truth`` every 0.1 s (``at``: the
    plan's clock). Returns what failed (empty: all requests answered)."""
    errors: list[str] = []
    deadline = time.monotonic() + 90.0
    while not (log.is_file() and log.read_text()):
        if stop.is_set() or time.monotonic() > deadline:
            return ["the policy never started"]
        time.sleep(0.05)
    start = time.monotonic()
    pending = list(plan)
    while not stop.is_set():
        now = time.monotonic() - start
        if pending and now >= pending[0][0]:
            at, buttons, sticks = pending.pop(0)
            if not control_request(port, {"op": "remote", "buttons": buttons, **sticks})["ok"]:
                errors.append(f"remote request at {at} s")
            continue
        stats = control_request(port, {"op": "stats"})
        truth.append({"at": now, "position": stats["base_position"], "yaw": stats["base_yaw"]})
        time.sleep(0.1)
    return errors


def _drive(connection: Connection, port: int, skills: dict[str, Path], tmp_path: Path,
           plan: list[tuple[float, list[str], dict[str, float]]], seconds: float = 10.0
           ) -> tuple[object, list[dict], list[dict]]:
    """Run the skills with the remote while the stick script plays: the result, the deploy
    log's lines and the ground truth polled meanwhile."""
    log = tmp_path / "deploy.jsonl"
    stop = threading.Event()
    errors: list[str] = []
    truth: list[dict] = []
    thread = threading.Thread(
        target=lambda: errors.extend(_stick_script(port, log, stop, plan, truth)))
    thread.start()
    try:
        result = run_policy(next(iter(skills.values())), connection, skills=skills,
                            command="remote", max_seconds=seconds, log=log)
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    return result, lines, truth


@pytest.fixture
def go2_dds_emulator(tmp_path):
    """A MuJoCo Go2 behind the DDS wire (a process): (connection, control port)."""
    with go2_dds_process(tmp_path, max_seconds=300, startup_timeout=90.0) as (domain, port, _):
        yield Connection("go2-dds", domain=domain), port


@pytest.fixture
def go1_udp_emulator(tmp_path):
    """A MuJoCo Go1 behind the Go1 UDP wire (a process): (connection, control port)."""
    from robot_deploy.emulator.process import EmulatorProcess, free_udp_port

    with EmulatorProcess("go1", log=tmp_path / "emu.log", max_seconds=300,
                         physics="mujoco") as emu:
        yield (Connection("go1-udp", robot="go1", port=emu.port, local_port=free_udp_port()),
               emu.control_port)


GO1_STEER = REPO / "data" / "training" / "go1_trot_steer"
"""The steerable Go1 trot in training: it drives straight and stands; it is not shipped, as
it tipped over in steady turns behind the wire."""
GO1_DRIVE = [(1.0, [], {"ly": 0.3}), (3.0, [], {}), (5.0, ["B"], {}), (5.3, [], {}),
             (8.0, ["A"], {}), (8.3, [], {})]
"""The left stick a third forward for 2 s, released; then skill B and back to A."""


@pytest.mark.slow
def test_the_remote_drives_and_switches_a_go1_through_go1_udp(go1_udp_emulator, tmp_path):
    """The Go1's wireless remote through the official ``unitree_legged_sdk`` client: the
    stick's command reaches the steerable Go1 trot in training (``data/training``; rate
    limited, back to zero on release), and B and A switch skills through the standing pose on
    the MuJoCo Go1, with no trip."""
    result, lines, _ = _drive(*go1_udp_emulator, {"A": GO1_STEER,
                                                  "B": POLICIES / "go1_trot"},
                              tmp_path, GO1_DRIVE, seconds=11.0)
    assert result.trip is None and result.stopped_by == "time", result
    assert [s["to"] for s in result.skill_switches] == ["B", "A"]
    steered = [line for line in lines if "command" in line]
    forward = np.array([line["command"][0] for line in steered])
    assert forward.max() > 0.3  # the stick's speed arrived
    peak = int(np.argmax(forward))
    dt = np.diff([line["t"] for line in steered[:peak + 1]])
    rises = np.diff(forward[:peak + 1])
    assert np.all(rises <= StickConfig().acceleration * dt + 1e-3)  # the acceleration limit
    assert forward[-1] == 0.0  # released sticks: stand


@pytest.mark.slow
def test_remote_buttons_switch_skills_through_the_standing_pose(go2_dds_emulator, tmp_path):
    """In-place skills on the MuJoCo Go2 behind ``go2-dds``: B, then back to A, no trip."""
    result, _, _ = _drive(*go2_dds_emulator, {"A": POLICIES / "go2_inplace_steps",
                                              "B": POLICIES / "go2_spin"}, tmp_path, SWITCH)
    assert result.trip is None and result.stopped_by == "time", result
    assert [s["to"] for s in result.skill_switches] == ["B", "A"]
