"""Adaptation sessions on the sim backend: rollouts, updates, crash and exact resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

from adaptation.adapt import AdaptationSession
from adaptation.config import AdaptConfig
from robot_deploy.backends.sim import SimBackend
from tests.conftest import REPO

MOTION = str(REPO / "data" / "motions" / "a1_trot.txt")
CFG = AdaptConfig(rollouts=4, rollouts_per_update=2, rollout_seconds=0.4, ramp_seconds=0.1)




def _session(tiny_policy, path, backend):
    return AdaptationSession(tiny_policy, backend, path, CFG, reset_robot=backend.reset_pose)


def test_session_rolls_out_updates_and_logs(tiny_policy, tmp_path):
    backend = SimBackend("a1", dynamics={"base_mass_scale": 1.3})
    backend.connect()
    state = _session(tiny_policy, tmp_path / "s", backend).run()
    lines = (tmp_path / "s" / "rollouts.jsonl").read_text().splitlines()
    assert [json.loads(x)["index"] for x in lines] == [0, 1, 2, 3]
    for x in lines:
        rec = json.loads(x)
        assert 0.0 <= rec["return"] <= 1.0 and len(rec["z"]) == 8
        data = np.load(tmp_path / "s" / rec["file"])
        assert data["q"].shape == (rec["steps"], 12) and np.all(np.isfinite(data["reward"]))
    assert not np.allclose(state.mean, 0.0)  # two AWR updates happened
    assert state.best_return == max(json.loads(x)["return"] for x in lines)
    backend.close()


class _Crash(Exception):
    pass


def test_killed_session_resumes_without_lost_or_duplicated_rollouts(tiny_policy, tmp_path):
    backend = SimBackend("a1")
    backend.connect()
    session = _session(tiny_policy, tmp_path / "s", backend)
    original = backend.command
    count = {"n": 0}

    def flaky(cmd):
        count["n"] += 1
        if len(session.records) == 2 and count["n"] > 40:  # mid-rollout 2
            raise _Crash
        original(cmd)

    backend.command = flaky
    with pytest.raises(_Crash):
        session.run()
    assert len(session.records) == 2
    expected_z = session.latent_for(2, session.search_state())
    backend.command = original
    resumed = _session(tiny_policy, tmp_path / "s", backend)  # a new process would do the same
    assert len(resumed.records) == 2
    resumed.run()
    records = [json.loads(x) for x in (tmp_path / "s" / "rollouts.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records] == [0, 1, 2, 3]
    np.testing.assert_allclose(records[2]["z"], expected_z)
    backend.close()


def test_a_signal_stops_the_session_and_drops_only_the_cut_rollout(tiny_policy, tmp_path):
    """SIGTERM mid-rollout (a real signal to this process): the robot is damped, the cut
    rollout is not recorded, no further rollout starts, and the session resumes from there."""
    import os
    import signal

    backend = SimBackend("a1")
    backend.connect()
    session = _session(tiny_policy, tmp_path / "s", backend)
    original = backend.command
    count = {"n": 0}

    def terminate_mid_rollout_2(cmd):
        if len(session.records) == 2:
            count["n"] += 1
            if count["n"] == 60:  # in the policy part of rollout 2
                os.kill(os.getpid(), signal.SIGTERM)
        original(cmd)

    backend.command = terminate_mid_rollout_2
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        with pytest.raises(KeyboardInterrupt):
            session.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    lines = (tmp_path / "s" / "rollouts.jsonl").read_text().splitlines()
    assert len(session.records) == 2 and len(lines) == 2
    assert all(json.loads(x)["stopped_by"] != "signal" for x in lines)
    backend.command = original
    _session(tiny_policy, tmp_path / "s", backend).run()
    lines = (tmp_path / "s" / "rollouts.jsonl").read_text().splitlines()
    assert [json.loads(x)["index"] for x in lines] == [0, 1, 2, 3]
    backend.close()


@pytest.mark.slow
def test_ctrl_c_on_quadmimic_adapt_says_how_to_resume(tiny_policy, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    session = tmp_path / "s"
    proc = subprocess.Popen([sys.executable, "-m", "quadmimic", "adapt", str(tiny_policy),
                             "--session", str(session), "--rollouts", "200",
                             "--rollout-seconds", "2"], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log = session / "rollouts.jsonl"
    deadline = time.monotonic() + 120
    while not (log.is_file() and log.read_text().count("\n") >= 1):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    said = (out + err).replace("\n", "")  # the console may write to either stream
    assert "resume with" in said and str(session) in said
    recorded = log.read_text().splitlines()
    assert 1 <= len(recorded) < 200
    assert all(json.loads(x)["stopped_by"] != "signal" for x in recorded)  # the cut one: dropped
