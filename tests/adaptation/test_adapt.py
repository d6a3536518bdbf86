"""Adaptation sessions on the sim backend: rollouts, updates, crash and exact resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

from adaptation.adapt import AdaptationSession, AdaptConfig
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
