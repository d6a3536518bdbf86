"""Tracking figures of an evaluation: planar speeds, yaw rate, progress along the reference."""

from __future__ import annotations

import numpy as np
import pytest

from sim_training.evaluate import _progress, tracking_figures
from sim_training.geometry import planar_velocity

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
