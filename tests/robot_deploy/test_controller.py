"""The control loop on the sim backend: start-up, observations, stop paths, SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from quadmimic.core.errors import RobotConnectionError
from robot_deploy.backends.sim import SimBackend
from robot_deploy.controller import PolicyController
from sim_training.bundle import PolicyBundle
from sim_training.env import ImitationEnv
from tests.conftest import REPO
from tests.robot_deploy.contract import record_commands

MOTION = str(REPO / "data" / "motions" / "a1_trot.txt")




def test_run_ramps_then_runs_the_policy_and_ends_damped(tiny_policy):
    bundle = PolicyBundle.load(tiny_policy)
    backend = SimBackend("a1")
    sent = record_commands(backend)
    controller = PolicyController(bundle, backend)
    result = controller.run(1.0, ramp_seconds=0.2)
    assert result.stopped_by in ("time", "safety")
    ramp = 100  # 0.2 s at 500 Hz
    assert len(sent) >= ramp and result.commands == len(sent) - 1  # + the final damping
    np.testing.assert_allclose(sent[ramp - 1].q, backend.spec.default, atol=1e-6)
    assert sent[-1].kp.max() == 0.0 and sent[-1].kd.min() > 0  # damping at the end
    if result.stopped_by == "time":
        dt = bundle.config.env.policy_dt
        steps = int(np.ceil(1.0 / dt - 1e-9))
        assert result.policy_steps == steps and abs(result.seconds - steps * dt) < 1e-9
    assert all(c.finite for c in sent)
    backend.close()


def test_observation_matches_the_env(tiny_policy):
    """The deploy loop builds the same observation the env builds from the same robot."""
    bundle = PolicyBundle.load(tiny_policy)
    env = ImitationEnv(bundle.motion_path, robot="a1", randomize=False,
                       config=bundle.config.env)
    obs_env, _ = env.reset(seed=0, options={"phase": 0.0})
    backend = SimBackend("a1")
    backend.connect()
    controller = PolicyController(bundle, backend)
    # Put the backend's robot exactly where the env's is, then build the deploy observation.
    pos, quat = env.robot.base_pose()
    q, dq = env.robot.joint_state()
    lin, ang = env.robot.base_velocity()
    backend.sim.reset(pos, quat, q, dq, lin, ang)
    state = backend.read()
    controller.builder.reset(controller._proprio(state))
    ref = controller.ref
    obs_dep = controller.builder.build(ref.state(0.0), [ref.state(k * controller.policy_dt)
                                                       for k in controller.builder.future_steps])
    np.testing.assert_allclose(obs_dep, obs_env["obs"], atol=1e-5)
    env.close()
    backend.close()


def test_wrong_robot_is_refused(tiny_policy):
    with pytest.raises(RobotConnectionError, match="policy is for a1"):
        PolicyController(PolicyBundle.load(tiny_policy), SimBackend("go1"))


@pytest.mark.slow
def test_sigterm_mid_run_damps_and_exits_cleanly(tiny_policy, tmp_path):
    log = tmp_path / "run.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "quadmimic", "deploy", str(tiny_policy), "--backend", "sim",
         "--realtime", "--max-seconds", "30", "--log", str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and (not log.exists() or log.stat().st_size == 0):
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    text = out + err  # the summary is printed on stderr with the progress
    summary = json.loads(text[text.index("{"):text.rindex("}") + 1])
    assert summary["stopped_by"] in ("signal", "safety")
    assert summary["seconds"] < 30


def test_dry_run_sends_only_damping(tiny_policy):
    from robot_deploy.deploy import DryRun

    bundle = PolicyBundle.load(tiny_policy)
    backend = SimBackend("a1")
    sent = record_commands(backend)
    controller = PolicyController(bundle, DryRun(backend))
    result = controller.run(0.3, ramp_seconds=0.1)
    assert result.commands > 50 and result.policy_steps > 0  # the policy did run
    assert sent and all(c.kp.max() == 0.0 for c in sent)  # but no motor got a position gain
    backend.close()


def test_a_signal_that_meets_a_trip_still_stops_a_loop_over_runs(tiny_policy):
    """Ctrl-C as the robot trips (a falling policy, a user reaching for the keyboard): the run
    keeps the trip and says "signal", so an adaptation session or a bench stops instead of
    starting its next rollout."""
    from robot_deploy.safety import SafetyLayer

    robot = SafetyLayer(SimBackend("a1"))
    controller = PolicyController(PolicyBundle.load(tiny_policy), robot)

    def trip_then_ctrl_c(t: float, state, action) -> None:
        robot._trip("tilt", "a fall, for the test")
        raise KeyboardInterrupt

    result = controller.run(1.0, ramp_seconds=0.1, on_step=trip_then_ctrl_c)
    assert result.trip == "tilt" and result.stopped_by == "signal"
    with pytest.raises(KeyboardInterrupt):
        result.raise_if_interrupted()
    robot.close()


def test_raise_if_interrupted_only_after_a_signal():
    from robot_deploy.controller import RunResult

    for reason in ("time", "safety", "error", "no_start"):
        RunResult(stopped_by=reason).raise_if_interrupted()
    with pytest.raises(KeyboardInterrupt):
        RunResult(stopped_by="signal").raise_if_interrupted()
