"""The shipped policy bundles pass their own evaluation and do what they are shipped for."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

from quadmimic.core.geometry import planar_steps, yaw_of
from sim_training.bundle import PolicyBundle
from sim_training.estimator import choose_z
from sim_training.evaluate import (
    TRACKING_THRESHOLD,
    TRACKING_WINDOW_S,
    evaluate,
    window_sums,
)
from sim_training.rates import EVAL_PHYSICS_HZ
from tests.conftest import REPO

SHIPPED = sorted(p for p in (REPO / "data" / "policies").iterdir() if p.is_dir())
PROGRESS = 0.85
"""Distance walked along the reference over the reference's, at least (travelling gaits)."""
LATERAL_NOT_TRACKED = {
    "a1_trot": "the A1 trot clip drifts sideways at 0.20 m/s and the policy follows 62 % of it "
               "acting with its estimate (52 % with the encoder's z of the nominal dynamics), "
               "measured on 2026-12-06 when its eval.json first recorded tracking; progress "
               "94 % and forward tracking 100 % hold",
    "go2_trot_real": "the Go2 trot clip drifts sideways and the trot trained for real robots' "
                     "differences follows 84 % of it acting with its estimate, measured on "
                     "2026-12-07; progress 88 % and forward tracking 88 % hold",
}
"""Travelling bundles measured to follow less than the threshold of their reference's small
sideways drift (strict: a fixed one fails here, and leaves this list)."""
REPRODUCED = 0.02
"""Relative agreement of a re-run episode's return with the bundle's eval.json: twenty times
the largest drift measured between two CPUs (0.1 %)."""
BASELINES = {"a1_trot_robust"}
"""Robust baselines kept for comparison only, not held to the progress criterion: the A1's
turns at 0.09 rad/s (progress 0.80); see data/policies/README.md."""


def test_the_robots_people_own_have_policies():
    names = {p.name for p in SHIPPED}
    assert {"a1_trot", "a1_pace", "go2_trot", "go2_pace", "go2_trot_robust",
            "go1_trot"} <= names


def test_the_go2_skill_catalogue():
    """The Go2 catalogue: six skills besides the trot, spin, side-steps and hop-turn among them."""
    skills = {p.name.removeprefix("go2_") for p in SHIPPED if p.name.startswith("go2_")}
    others = skills - {"trot", "trot_robust"}
    assert {"spin", "sidesteps", "hopturn"} <= others
    assert len(others) >= 6


@pytest.mark.parametrize("bundle_dir", SHIPPED, ids=lambda p: p.name)
def test_shipped_bundle_tracks_its_motion_at_nominal_dynamics(bundle_dir):
    """No fall over full-length episodes, pose term >= 0.6, progress where the reference
    travels and tracking where it moves, as its eval.json says (here its first 2 episodes are
    re-run and reproduced)."""
    for name in ("eval.json", "rollout.gif", "learning_curve.png", "curve.json"):
        assert (bundle_dir / name).is_file(), name
    saved = json.loads((bundle_dir / "eval.json").read_text())
    assert saved["fall_rate"] == 0.0 and saved["reward_terms.pose"] >= 0.6
    assert saved["physics_hz"] == EVAL_PHYSICS_HZ and saved["episodes"] >= 10
    held = bundle_dir.name not in BASELINES
    # Every skill moves somehow: along a path (progress), or turning / stepping (tracking).
    assert saved["progress_ratio"] is not None or saved.get("tracking_min") is not None
    if held and saved["progress_ratio"] is not None:
        assert saved["progress_ratio"] >= PROGRESS
    if bundle_dir.name in LATERAL_NOT_TRACKED:
        assert saved["lateral_speed_ratio"] < TRACKING_THRESHOLD  # strict: see the list
        assert min(v for k, v in saved.items() if k.endswith("_speed_ratio") and v is not None
                   and k != "lateral_speed_ratio") >= TRACKING_THRESHOLD
    elif held and saved.get("tracking_min") is not None:
        assert saved["tracking_min"] >= TRACKING_THRESHOLD
    # Its first two episodes again, as `quadmimic eval BUNDLE` runs them (the bundle's own z):
    # the same figures, episode by episode. Bit-exact on the machine that wrote eval.json; on
    # another CPU the SIMD paths of numpy, torch and the physics round differently and the
    # walk drifts: up to 0.1 % of an episode's return on 2026-12-07 (go2_trot, 199.71 against
    # 199.91), hence REPRODUCED.
    bundle = PolicyBundle.load(bundle_dir)
    choice = choose_z(bundle, None)
    result = evaluate(bundle, episodes=2, seed=0, physics_hz=EVAL_PHYSICS_HZ,
                      z=None if choice is None else choice.z,
                      estimator=None if choice is None else choice.estimator)
    assert saved.get("z_source") == (None if choice is None else choice.kind)
    for again, before in zip(result["per_episode"], saved["per_episode"][:2], strict=False):
        assert again["steps"] == before["steps"]
        assert again["return"] == pytest.approx(before["return"], rel=REPRODUCED)
    assert result["fall_rate"] == 0.0
    assert result["mean_episode_seconds"] >= 0.99 * result["episode_limit_seconds"]
    assert result["reward_terms.pose"] >= 0.6
    if held and result["progress_ratio"] is not None:
        assert result["progress_ratio"] >= PROGRESS - 0.05  # 2 episodes of the 10
    if held and "tracking_min" in saved and bundle_dir.name not in LATERAL_NOT_TRACKED:
        assert result["tracking_min"] >= TRACKING_THRESHOLD - 0.05


MUJOCO_FALLS: dict[str, str] = {}
"""Bundles measured to fall (or not to travel) in MuJoCo at nominal dynamics (strict: a fixed
one fails here)."""


def _mujoco_cases() -> list:
    return [pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=MUJOCO_FALLS[p.name]))
            if p.name in MUJOCO_FALLS else p for p in SHIPPED]


MUJOCO_TRACKING = 0.75
"""Lateral and yaw tracking a skill keeps in MuJoCo where its reference moves that way (the
windowed ratio of ``quadmimic eval``; another engine, so below the PyBullet threshold)."""

MUJOCO_TRACKS_LESS: dict[str, str] = {
    "go2_trot_real": "the trot clip's small sideways drift: 59 % of it in MuJoCo (84 % in "
                     "PyBullet), measured on 2026-12-07; it walks the 10 s without a trip",
}
"""Bundles measured to track less than :data:`MUJOCO_TRACKING` in MuJoCo (strict)."""


@functools.cache
def _mujoco_run(bundle_dir: Path) -> dict:
    """10 s of the bundle on a MuJoCo robot at nominal dynamics, through the deploy controller
    (from standing, after its ramp): the result, the displacement and the planar track."""
    from robot_deploy.backends.mujoco import MujocoBackend
    from robot_deploy.controller import PolicyController

    bundle = PolicyBundle.load(bundle_dir)
    robot = MujocoBackend(bundle.robot)
    robot.connect()
    track: list[tuple] = []
    try:
        start = robot.base_pose()[0].copy()
        controller = PolicyController(bundle, robot)

        def on_step(t: float, state, action) -> None:
            ref = controller.ref.state(t)
            track.append((robot.base_pose()[0].copy(), state.yaw, ref.root_pos.copy(),
                          float(yaw_of(ref.root_rot))))

        result = controller.run(10.0, ramp_seconds=1.0, on_step=on_step)
        moved = robot.base_pose()[0] - start
    finally:
        robot.close()
    robot_pos, robot_yaw, ref_pos, ref_yaw = (np.array(v) for v in zip(*track, strict=True))
    sums = window_sums(planar_steps(robot_pos, robot_yaw), planar_steps(ref_pos, ref_yaw),
                       round(TRACKING_WINDOW_S / controller.policy_dt))
    return {"result": result, "moved": moved, "sums": sums}


@pytest.mark.slow
@pytest.mark.parametrize("bundle_dir", _mujoco_cases(), ids=lambda p: p.name)
def test_shipped_bundle_walks_10_s_in_mujoco(bundle_dir):
    """The second engine: 10 s at nominal dynamics without a safety trip; a gait that travels
    in PyBullet travels there too."""
    saved = json.loads((bundle_dir / "eval.json").read_text())
    run = _mujoco_run(bundle_dir)
    result, moved = run["result"], run["moved"]
    assert result.trip is None and result.stopped_by == "time"
    assert result.seconds >= 10.0 - 1e-6
    if saved["progress_ratio"] is not None:
        assert float(np.hypot(moved[0], moved[1])) > 3.0  # a gait that travels, travels


def _tracking_cases() -> list:
    cases = []
    for p in SHIPPED:
        saved = json.loads((p / "eval.json").read_text())
        if "tracking_min" not in saved or p.name in MUJOCO_FALLS:
            continue  # an older evaluation, or a bundle that does not stand there
        if saved.get("lateral_speed_ratio") is None and saved.get("yaw_rate_ratio") is None:
            continue  # moves only forward: the distance above judges it
        marks = ([pytest.mark.xfail(strict=True, reason=MUJOCO_TRACKS_LESS[p.name])]
                 if p.name in MUJOCO_TRACKS_LESS else [])
        cases.append(pytest.param(p, marks=marks))
    return cases


@pytest.mark.slow
@pytest.mark.parametrize("bundle_dir", _tracking_cases(), ids=lambda p: p.name)
def test_shipped_skill_turns_and_side_steps_in_mujoco(bundle_dir):
    """A skill that turns or side-steps in PyBullet does so in MuJoCo too (same 10 s run)."""
    saved = json.loads((bundle_dir / "eval.json").read_text())
    sums = _mujoco_run(bundle_dir)["sums"]
    for k in ("lateral_speed", "yaw_rate"):
        if saved.get(f"{k}_ratio") is None:
            continue  # the reference does not move that way
        ratio = sums[f"dot.{k}"] / sums[f"ref2.{k}"]
        assert ratio >= MUJOCO_TRACKING, (k, ratio)
