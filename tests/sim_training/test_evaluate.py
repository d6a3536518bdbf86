"""Tracking figures of an evaluation: planar speeds, yaw rate, progress along the reference."""

from __future__ import annotations

import numpy as np
import pytest

from quadmimic.core.geometry import planar_velocity
from sim_training.evaluate import progress_ratio as _progress
from sim_training.evaluate import tracking_figures

DT = 1.0 / 30.0


def _circle(speed: float, yaw_rate: float, seconds: float, lateral: float = 0.0):
    """Positions and headings of a body moving at (speed, lateral) in its frame, turning."""
    n = round(seconds / DT) + 1
    yaw = yaw_rate * DT * np.arange(n)
    pos = np.zeros((n, 3))
    for i in range(1, n):
        mid = 0.5 * (yaw[i - 1] + yaw[i])
        c, s = np.cos(mid), np.sin(mid)
        pos[i] = pos[i - 1] + DT * np.array([c * speed - s * lateral, s * speed + c * lateral, 0])
    return pos, yaw


@pytest.mark.parametrize(("speed", "lateral", "yaw_rate"),
                         [(1.2, 0.0, 0.0), (0.8, 0.0, 0.6), (0.0, 0.3, 0.0), (-0.5, 0.1, -1.0)])
def test_planar_velocity_recovers_body_frame_speeds(speed, lateral, yaw_rate):
    pos, yaw = _circle(speed, yaw_rate, 3.0, lateral)
    np.testing.assert_allclose(planar_velocity(pos, yaw, DT), [speed, lateral, yaw_rate],
                               atol=1e-9)


def test_heading_wraps_do_not_count_as_turns():
    pos, yaw = _circle(1.0, 2.0, 10.0)  # several full turns
    wrapped = (yaw + np.pi) % (2 * np.pi) - np.pi
    np.testing.assert_allclose(planar_velocity(pos, wrapped, DT), [1.0, 0.0, 2.0], atol=1e-9)


def test_progress_is_distance_along_the_reference_path():
    ref, _ = _circle(1.0, 0.0, 10.0)
    straight, _ = _circle(0.9, 0.0, 10.0)
    assert _progress(straight[:, :2], ref[:, :2], 10.0) == pytest.approx(0.9)
    # The shipped A1 pace's failure: full speed in its own frame, but turning in a circle.
    circling, _ = _circle(1.0, 2 * np.pi / 10.0, 10.0)
    assert abs(_progress(circling[:, :2], ref[:, :2], 10.0)) < 0.05
    standing = np.zeros_like(ref)
    assert _progress(standing[:, :2], standing[:, :2], 10.0) is None


def test_ratios_only_where_the_reference_moves():
    rows = [{"progress": 0.9, "forward_speed": 0.9, "ref_forward_speed": 1.0,
             "lateral_speed": 0.02, "ref_lateral_speed": 0.0, "yaw_rate": 0.5,
             "ref_yaw_rate": 1.0}]
    out = tracking_figures(rows)
    assert out["forward_speed_ratio"] == pytest.approx(0.9)
    assert out["lateral_speed_ratio"] is None
    assert out["yaw_rate_ratio"] == pytest.approx(0.5)
    assert out["progress_ratio"] == pytest.approx(0.9)


def _row(robot_pos, robot_yaw, ref_pos, ref_yaw) -> dict:
    """An episode row as evaluate() writes it, from two planar trajectories."""
    from quadmimic.core.geometry import planar_steps
    from sim_training.evaluate import TRACKING, TRACKING_WINDOW_S, window_sums

    per = round(TRACKING_WINDOW_S / DT)
    sums = window_sums(planar_steps(robot_pos, robot_yaw), planar_steps(ref_pos, ref_yaw), per)
    robot_v, ref_v = planar_velocity(robot_pos, robot_yaw, DT), planar_velocity(ref_pos,
                                                                                  ref_yaw, DT)
    return {"progress": None, "window_seconds": per * DT,
            **{f"window.{k}": v for k, v in sums.items()},
            **{k: float(v) for k, v in zip(TRACKING, robot_v, strict=True)},
            **{f"ref_{k}": float(v) for k, v in zip(TRACKING, ref_v, strict=True)}}


def _side_steps(amplitude: float, seconds: float = 6.0, period: float = 2.0, lag: float = 0.0):
    """A body stepping left and back (sinusoidal lateral motion), heading fixed."""
    t = np.arange(round(seconds / DT) + 1) * DT - lag
    pos = np.zeros((len(t), 3))
    pos[:, 1] = amplitude * np.sin(2 * np.pi * t / period)
    return pos, np.zeros(len(t))


def test_tracking_judges_motions_that_go_and_come_back():
    ref = _side_steps(0.3)
    # Mean lateral speed is ~0, yet the windowed ratio sees the robot side-step 80 % as far.
    out = tracking_figures([_row(*_side_steps(0.24), *ref)])
    assert abs(out["ref_lateral_speed"]) < 0.02
    assert out["lateral_speed_ratio"] == pytest.approx(0.8, abs=1e-6)
    assert out["forward_speed_ratio"] is None and out["yaw_rate_ratio"] is None
    assert out["tracking_min"] == pytest.approx(0.8, abs=1e-6)
    # Standing still, or stepping half a period late, is not tracking.
    still = np.zeros_like(ref[0]), np.zeros_like(ref[1])
    assert tracking_figures([_row(*still, *ref)])["lateral_speed_ratio"] == pytest.approx(0.0)
    late = tracking_figures([_row(*_side_steps(0.3, lag=1.0), *ref)])
    assert late["lateral_speed_ratio"] < -0.5


def test_tracking_of_a_spin_and_of_a_steady_gait():
    spin_ref = _circle(0.0, 2.0, 6.0)
    out = tracking_figures([_row(*_circle(0.0, 1.8, 6.0), *spin_ref)])
    assert out["yaw_rate_ratio"] == pytest.approx(0.9, abs=1e-6)
    assert out["forward_speed_ratio"] is None
    gait = tracking_figures([_row(*_circle(0.9, 0.0, 6.0), *_circle(1.0, 0.0, 6.0))])
    assert gait["forward_speed_ratio"] == pytest.approx(0.9, abs=1e-6)  # = the speed ratio


def test_threshold_needs_tracking_and_a_full_length():
    from sim_training.bundle import threshold_figures

    good = {"eval_nominal_seconds": 10.0, "eval_nominal_fall_rate": 0.0,
            "eval_nominal_pose": 0.7, "eval_nominal_tracking": 0.9, "eval_nominal_length": 1.0}
    curve = [{**good, "timesteps": 1, "wall_seconds": 1.0, "eval_nominal_tracking": 0.5},
             {**good, "timesteps": 2, "wall_seconds": 2.0, "eval_nominal_length": 0.5},
             {**good, "timesteps": 3, "wall_seconds": 3.0}]
    out = threshold_figures(curve, 10.0)
    assert out["samples_to_threshold"] == 3 and out["wall_seconds_to_threshold"] == 3.0
    # A one-shot motion's full length is its own: 2 s of a 10 s limit is complete.
    clamp = [{**good, "timesteps": 5, "wall_seconds": 5.0, "eval_nominal_seconds": 2.0}]
    assert threshold_figures(clamp, 10.0)["samples_to_threshold"] == 5


def test_a_one_shot_motion_is_judged_over_its_own_length(tmp_path):
    from motion_retarget.motion import Motion
    from motion_retarget.motion_file import load_motion, save_motion
    from motion_retarget.sampler import MotionSampler
    from sim_training.bundle import PolicyBundle
    from sim_training.evaluate import evaluate
    from tests.conftest import REPO

    bundle = PolicyBundle.load(REPO / "data" / "policies" / "go2_trot")
    trot = load_motion(bundle.motion_path)
    sampler = MotionSampler(trot)
    n = 3 * (trot.num_frames - 1) + 1  # three strides, played once
    frames = np.array([sampler.sample(k * trot.frame_duration)[:19] for k in range(n)])
    once = Motion(frames=frames, frame_duration=trot.frame_duration, loop_mode="Clamp")
    path = save_motion(once, tmp_path / "once.txt")
    out = evaluate(bundle, motion=path, episodes=2, seed=3)
    assert out["episode_limit_seconds"] == pytest.approx(once.duration)
    assert out["fall_rate"] == 0.0
    for row in out["per_episode"]:  # from the start to the end, whatever the seed
        assert row["seconds"] == pytest.approx(once.duration, abs=1.5 / 30.0)
    assert out["forward_speed_ratio"] > 0.7
