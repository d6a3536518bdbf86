"""The safe search on a real simulated robot (PyBullet behind the sim backend): its start from
the estimate, paired rounds, the incumbent rule, trips, the neighbourhood, resume."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from adaptation.adapt import (
    AdaptationSession,
    accepts,
    paired_gain,
    replay,
    session_latent,
)
from adaptation.config import AdaptConfig
from robot_deploy.backends.sim import SimBackend
from robot_deploy.remote import ESTOP_BUTTONS, RemoteState, key_mask
from robot_deploy.robot import RobotWrapper
from sim_training.estimator import ZChoice
from tests.conftest import REPO

MOTION = str(REPO / "data" / "motions" / "a1_trot.txt")
CFG = AdaptConfig(rollouts=5, pairs=2, rollout_seconds=0.4, ramp_seconds=0.1)
"""The start rollout and one round of two pairs."""


@pytest.fixture
def backend():
    robot = SimBackend("a1", dynamics={"base_mass_scale": 1.3})
    robot.connect()
    yield robot
    robot.close()


def _session(policy, path, backend, config=CFG, **kwargs):
    seeds = []

    def reset(seed: int) -> None:
        seeds.append(seed)
        backend.reset_pose()

    session = AdaptationSession(policy, backend, path, config, reset_robot=reset, **kwargs)
    session.seeds = seeds
    return session


def test_the_search_starts_from_the_estimate_centred_on_its_mean_and_pairs_its_rounds(
        tiny_bundle_with_estimator, tmp_path, backend):
    session = _session(tiny_bundle_with_estimator, tmp_path / "s", backend)
    assert session.start_kind == "estimate"  # the bundle carries an estimator
    state = session.run()
    records = [json.loads(x) for x in (tmp_path / "s" / "rollouts.jsonl").read_text()
               .splitlines()]
    assert [r["kind"] for r in records] == ["start", "incumbent", "candidate", "candidate",
                                            "incumbent"]
    # The centre of the search is the start rollout's ẑ averaged once its window is full.
    start = np.load(tmp_path / "s" / records[0]["file"])
    window = session.estimator.window
    assert start["z_hat"].shape == (records[0]["steps"], 8)
    np.testing.assert_allclose(records[0]["z"], start["z_hat"][window - 1:].mean(axis=0))
    np.testing.assert_allclose(state.start, records[0]["z"])
    # The incumbent is the estimate itself: its rollouts act with the estimator, each
    # recording its own mean ẑ; the candidates act with fixed z.
    acted = [r["acted_with"] for r in records]
    assert acted == ["estimate", "estimate", "fixed", "fixed", "estimate"]
    assert state.rounds[0].incumbent is None
    assert state.rounds[0].to_json()["incumbent"] == "estimate"
    # Incumbent and candidate share each pair's seed; the robot's resets got them.
    assert session.seeds == [0, 1, 1, 2, 2]
    assert [r["seed"] for r in records] == session.seeds
    # From the estimate, the first challenger is the prior.
    cand = np.asarray(records[2]["z"])
    assert session.challenges_prior
    np.testing.assert_array_equal(cand, np.zeros(8))
    assert records[2]["z"] == records[3]["z"]
    # The result is the incumbent the rule gives.
    rnd = state.rounds[0]
    gain, se = paired_gain([records[1]["score"], records[4]["score"]],
                           [records[2]["score"], records[3]["score"]])
    assert (rnd.gain, rnd.gain_se) == (gain, se)
    if accepts(gain, se, rnd.incumbent_trips, rnd.candidate_trips):
        np.testing.assert_allclose(state.incumbent, cand)
        np.testing.assert_allclose(session_latent(tmp_path / "s"), cand)
    else:  # the result is the estimate: no z frozen from it
        assert state.estimating and state.incumbent is None
        assert session_latent(tmp_path / "s") is None


class EStopDuringCandidates(RobotWrapper):
    """An operator who holds L2 + B on the remote a little into every candidate rollout."""

    def __init__(self, inner, after_commands: int = 80) -> None:
        super().__init__(inner)
        self.candidate = False
        self.after = after_commands
        self.commands = 0

    def start_rollout(self, candidate: bool) -> None:
        self.candidate, self.commands = candidate, 0

    def command(self, cmd) -> None:
        self.commands += 1
        self.inner.command(cmd)

    def read(self):
        state = self.inner.read()
        if self.candidate and self.commands > self.after:
            return dataclasses.replace(state, remote=RemoteState(keys=key_mask(ESTOP_BUTTONS)))
        return state


def test_a_candidate_that_trips_is_cut_short_scored_worst_and_never_the_incumbent(
        tiny_policy, tmp_path, backend):
    robot = EStopDuringCandidates(backend)
    session = AdaptationSession(tiny_policy, robot, tmp_path / "s", CFG)

    def reset(seed: int) -> None:
        backend.reset_pose()
        plan = session.plan(len(session.records), session.search_state())
        robot.start_rollout(plan.kind == "candidate")

    session.reset_robot = reset
    assert session.start_kind == "prior"  # no estimator: the search starts from z = 0
    state = session.run()
    cands = [r for r in session.records if r["kind"] == "candidate"]
    assert len(cands) == 2
    for rec in cands:
        assert rec["trip"] == "estop" and rec["stopped_by"] == "safety"
        assert rec["steps"] < rec["planned_steps"]  # cut short
        assert rec["score"] == CFG.worst_return and rec["return"] > rec["score"]
    assert not state.rounds[0].accepted and state.rounds[0].candidate_trips == 2
    np.testing.assert_array_equal(state.incumbent, np.zeros(8))
    np.testing.assert_array_equal(session_latent(tmp_path / "s"), np.zeros(8))


def _records(start, rounds, pairs=2, acted_with="fixed"):
    """Records of a session: the start (acting with a fixed z or the estimate), then rounds of
    (candidate z, incumbent scores, candidate scores, candidate trips)."""
    out = [{"kind": "start", "z": list(start), "score": 0.5, "trip": None,
            "acted_with": acted_with}]
    for z, inc, cand, trips in rounds:
        for p in range(pairs):
            out.append({"kind": "incumbent", "pair": p, "seed": p, "z": None,
                        "score": inc[p], "trip": None})
            out.append({"kind": "candidate", "pair": p, "seed": p, "z": list(z),
                        "score": cand[p], "trip": "tilt" if p < trips else None})
    return out


def test_the_incumbent_changes_only_on_a_gain_of_one_standard_error():
    cfg = AdaptConfig(pairs=2)
    z0, z1, z2 = np.zeros(3), np.full(3, 0.1), np.full(3, -0.1)
    # Mean gain 0.01 with standard error 0.02: not significant, whatever its best rollout.
    noisy = replay(_records(z0, [(z1, [0.50, 0.50], [0.53, 0.49], 0)]), cfg)
    assert not noisy.rounds[0].accepted
    np.testing.assert_array_equal(noisy.incumbent, z0)  # never the single best rollout
    # A gain of 0.02 ± 0.01: accepted, and the next round compares against z1.
    both = replay(_records(z0, [(z1, [0.50, 0.50], [0.51, 0.53], 0),
                                (z2, [0.52, 0.52], [0.40, 0.60], 0)]), cfg)
    assert [r.accepted for r in both.rounds] == [True, False]
    np.testing.assert_array_equal(both.rounds[1].incumbent, z1)
    np.testing.assert_array_equal(both.incumbent, z1)
    # A clear gain but more trips: refused (never more falls).
    tripped = replay(_records(z0, [(z1, [0.20, 0.20], [0.60, 0.70], 1)]), cfg)
    assert not tripped.rounds[0].accepted
    assert paired_gain([0.5], [0.9])[1] == float("inf")  # one pair has no standard error
    assert not accepts(0.0, 0.0, 0, 0)  # no gain is no gain, even without noise
    # A deterministic robot: equal differences have no error; a rounding-size gain is not
    # enough, one of at least min_gain is.
    assert paired_gain([0.5, 0.6], [0.501, 0.601]) == pytest.approx((0.001, 0.0))
    assert not accepts(0.001, 0.0, 0, 0)
    assert accepts(cfg.min_gain, 0.0, 0, 0)
    flat = replay(_records(z0, [(z1, [0.50, 0.60], [0.501, 0.601], 0)]), cfg)
    assert not flat.rounds[0].accepted


def test_the_estimate_stays_the_incumbent_until_a_fixed_z_beats_it():
    cfg = AdaptConfig(pairs=2)
    centre, z1, z2 = np.zeros(3), np.full(3, 0.1), np.full(3, -0.1)
    lost = replay(_records(centre, [(z1, [0.50, 0.50], [0.53, 0.49], 0)],
                           acted_with="estimate"), cfg, np.ones(3))
    assert lost.estimating and lost.incumbent is None and not lost.rounds[0].accepted
    np.testing.assert_array_equal(lost.start, centre)  # the search stays centred on ẑ
    assert lost.mean is not None and np.all(lost.mean > 0)  # and moves toward the better try
    won = replay(_records(centre, [(z1, [0.50, 0.50], [0.51, 0.53], 0),
                                   (z2, [0.52, 0.52], [0.40, 0.60], 0)],
                          acted_with="estimate"), cfg)
    assert [r.accepted for r in won.rounds] == [True, False]
    assert won.rounds[0].incumbent is None  # the estimate lost its first round
    np.testing.assert_array_equal(won.rounds[1].incumbent, z1)
    assert not won.estimating
    np.testing.assert_array_equal(won.incumbent, z1)
    assert not replay([], cfg).started and not replay([], cfg).estimating


def test_after_the_prior_every_candidate_is_drawn_in_the_neighbourhood(
        tiny_bundle_with_estimator, tmp_path, backend):
    cfg = dataclasses.replace(CFG, rollouts=9)
    session = _session(tiny_bundle_with_estimator, tmp_path / "s", backend, cfg)
    state = session.run()
    cands = [np.asarray(r["z"]) for r in session.records if r["kind"] == "candidate"]
    assert len(cands) == 4 and len(state.rounds) == 2
    np.testing.assert_array_equal(cands[0], np.zeros(8))  # round 0: the prior
    np.testing.assert_array_equal(cands[2], cands[3])  # round 1: one draw, on both seeds
    assert cands[2].any()
    assert np.all(np.abs(cands[2] - state.centre) <= cfg.radius * session.scale + 1e-9)
    if state.rounds[0].accepted:  # the prior won: the box moved onto it
        np.testing.assert_array_equal(state.centre, np.zeros(8))
    else:
        np.testing.assert_array_equal(state.centre, state.start)
    # A session started from the prior is not challenged by it.
    prior = _session(tiny_bundle_with_estimator, tmp_path / "p", backend, cfg,
                     start=ZChoice("prior", np.zeros(8), None, "prior"))
    assert not prior.challenges_prior
    assert prior.plan(2, state).z.any()  # round 0, given a search state: a draw, not z = 0


def test_a_prior_that_beats_the_estimate_becomes_the_centre_of_the_search():
    cfg = AdaptConfig(pairs=2, radius=1.0)
    scale = np.ones(3)
    start, prior, far = np.full(3, 2.0), np.zeros(3), np.full(3, -5.0)
    # The prior wins round 0 against the estimate; the box moves onto it, so the mean's
    # steps toward a far better-looking try stay within prior ± radius.
    won = replay(_records(start, [(prior, [0.30, 0.35], [0.50, 0.52], 0)]
                          + [(far, [0.5, 0.5], [0.9, 0.4], 0)] * 10,
                          acted_with="estimate"), cfg, scale)
    assert won.rounds[0].accepted and not won.estimating
    np.testing.assert_array_equal(won.incumbent, prior)
    np.testing.assert_array_equal(won.centre, prior)
    np.testing.assert_array_equal(won.start, start)  # the start is still recorded as it was
    assert np.all(np.abs(won.mean - prior) <= cfg.radius + 1e-12) and np.all(won.mean < 0)
    # A prior that does not win leaves the box on the start.
    lost = replay(_records(start, [(prior, [0.50, 0.52], [0.30, 0.35], 0)],
                           acted_with="estimate"), cfg, scale)
    assert lost.estimating
    np.testing.assert_array_equal(lost.centre, start)


def test_the_search_mean_takes_capped_steps_inside_the_neighbourhood():
    cfg = AdaptConfig(pairs=2, max_step=0.25, radius=1.0)
    scale = np.array([1.0, 0.1, 0.01])
    far = np.array([5.0, 5.0, 5.0])  # a candidate far outside the box
    # Better, but not significantly: the mean moves toward it, by a capped step.
    state = replay(_records(np.zeros(3), [(far, [0.5, 0.5], [0.9, 0.4], 0)]), cfg, scale)
    step = state.mean / scale
    assert np.sqrt(np.mean(step ** 2)) == pytest.approx(cfg.max_step)
    assert np.all(step > 0)
    # Twenty such rounds never take the mean out of the box.
    state = replay(_records(np.zeros(3), [(far, [0.5, 0.5], [0.9, 0.4], 0)] * 20), cfg, scale)
    assert np.all(np.abs(state.mean) <= cfg.radius * scale + 1e-12)
    np.testing.assert_array_equal(state.incumbent, np.zeros(3))


def test_the_budget_runs_whole_rounds_only():
    assert AdaptConfig(rollouts=10, pairs=2).rollouts_used() == 9
    assert AdaptConfig(rollouts=5, pairs=2).rollouts_used() == 5
    assert AdaptConfig(rollouts=4, pairs=2).rollouts_used() == 1
    assert AdaptConfig().rollouts <= 10 and AdaptConfig().rollout_seconds <= 5
    with pytest.raises(ValueError):
        AdaptConfig(pairs=1)


class _Crash(Exception):
    pass


def test_a_killed_session_resumes_in_the_same_state(tiny_bundle_with_estimator, tmp_path,
                                                    backend):
    session = _session(tiny_bundle_with_estimator, tmp_path / "s", backend)
    original = backend.command
    count = {"n": 0}

    def flaky(cmd):
        count["n"] += 1
        if len(session.records) == 3 and count["n"] > 60:  # mid-rollout 3, a candidate
            raise _Crash
        original(cmd)

    backend.command = flaky
    with pytest.raises(_Crash):
        session.run()
    assert len(session.records) == 3
    expected = session.plan(3, session.search_state())
    backend.command = original
    log = tmp_path / "s" / "rollouts.jsonl"
    with log.open("a") as f:  # a power cut in the middle of writing a record's line
        f.write('{"index": 3, "file": "rollouts/00003.npz", "kind": "cand')
    resumed = _session(tiny_bundle_with_estimator, tmp_path / "s", backend)  # a new process
    assert len(resumed.records) == 3 and resumed.start_kind == "estimate"
    again = resumed.plan(3, resumed.search_state())
    assert (again.kind, again.seed) == (expected.kind, expected.seed) == ("candidate", 2)
    np.testing.assert_array_equal(again.z, expected.z)
    state = resumed.run()
    records = [json.loads(x) for x in log.read_text().splitlines()]  # the torn line: gone
    assert [r["index"] for r in records] == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(records[3]["z"], expected.z)
    assert len(_session(tiny_bundle_with_estimator, tmp_path / "s", backend).records) == 5
    result = session_latent(tmp_path / "s")
    assert (result is None) == state.estimating
    if result is not None:
        np.testing.assert_allclose(result, state.incumbent)


def test_a_signal_stops_the_session_and_drops_only_the_cut_rollout(tiny_policy, tmp_path,
                                                                   backend):
    """SIGTERM mid-rollout (a real signal to this process): the robot is damped, the cut
    rollout is not recorded, no further rollout starts, and the session resumes from there."""
    import os
    import signal

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
    assert [json.loads(x)["index"] for x in lines] == [0, 1, 2, 3, 4]


@pytest.mark.slow
def test_ctrl_c_on_quadmimic_adapt_says_how_to_resume(tiny_policy, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    session = tmp_path / "s"
    proc = subprocess.Popen([sys.executable, "-m", "quadmimic", "adapt", str(tiny_policy),
                             "--session", str(session), "--rollouts", "200",
                             "--rollout-seconds", "2"], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    log = session / "rollouts.jsonl"
    deadline = time.monotonic() + 120
    while not (log.is_file() and log.read_text().count("\n") >= 1):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    status = Path(f"/proc/{proc.pid}/status")  # how the process takes SIGINT, in case it
    masks = ([line for line in status.read_text().splitlines()  # does not stop (Linux)
              if line.startswith(("SigBlk", "SigIgn", "SigCgt"))] if status.exists() else [])
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # say where it hangs: faulthandler dumps every thread
        proc.send_signal(signal.SIGABRT)
        out, err = proc.communicate(timeout=30)
        pytest.fail(f"adapt did not exit within 60 s of SIGINT; its threads:\n{err[-6000:]}")
    assert proc.returncode == 130, f"signal masks at SIGINT (bit 2 is SIGINT): {masks}\n{err}"
    said = (out + err).replace("\n", "")  # the console may write to either stream
    assert "resume with" in said and str(session) in said
    recorded = log.read_text().splitlines()
    assert 1 <= len(recorded) < 200
    assert all(json.loads(x)["stopped_by"] != "signal" for x in recorded)  # the cut one: dropped


@pytest.mark.slow
def test_a_session_that_keeps_the_estimate_writes_a_bundle_acting_with_it(
        tiny_bundle_with_estimator, tmp_path):
    """One start rollout (no round): the result is the online estimate, not a z frozen from it;
    the adapted bundle carries no z.json and acts with its estimator, as eval --session."""
    import subprocess
    import sys

    session, out = tmp_path / "s", tmp_path / "adapted"
    cmd = [sys.executable, "-m", "quadmimic"]
    proc = subprocess.run([*cmd, "adapt", str(tiny_bundle_with_estimator), "--session",
                           str(session), "--rollouts", "1", "--rollout-seconds", "0.4",
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((session / "summary.json").read_text())
    assert (summary["start"], summary["final"], summary["final_z"]) == ("estimate", "estimate",
                                                                          None)
    assert len(summary["start_z"]) == 8  # the centre of the search: the start rollout's ẑ
    said = "".join((proc.stdout + proc.stderr).split())  # either stream, wrapped anywhere
    assert "theonlineestimate(nofixedzbeatit)" in said
    assert not (out / "z.json").exists() and (out / "estimator.pt").is_file()
    assert json.loads((out / "manifest.json").read_text())["adapted_result"] == "estimate"
    from sim_training.bundle import PolicyBundle
    from sim_training.estimator import choose_z

    assert choose_z(PolicyBundle.load(out), None).kind == "estimate"
    proc = subprocess.run([*cmd, "eval", str(tiny_bundle_with_estimator), "--session",
                           str(session), "--episodes", "1"], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    said = "".join((proc.stdout + proc.stderr).split())
    assert "z:estimate" in said and "nofixedzbeattheonlineestimate" in said
