"""The safety limits as pure functions: no robot, no physics."""

from __future__ import annotations

import numpy as np
import pytest

from quadmimic.core.robots import get_robot
from robot_deploy.robot import JointCommand
from robot_deploy.safety import (
    clip_to_joint_limits,
    power_limit,
    rate_limit,
    tilted,
    torque_limit,
)

SPEC = get_robot("go2")


def test_targets_stay_inside_the_joint_limits_less_the_margin():
    q = np.r_[np.asarray(SPEC.upper) + 1.0][:12]
    out = clip_to_joint_limits(q, SPEC.lower, SPEC.upper, 0.02)
    np.testing.assert_allclose(out, np.asarray(SPEC.upper) - 0.02)
    inside = np.asarray(SPEC.default)
    np.testing.assert_array_equal(clip_to_joint_limits(inside, SPEC.lower, SPEC.upper, 0.02),
                                  inside)


def test_rate_limit_moves_at_most_speed_times_dt_and_at_least_one_millisecond_of_it():
    last = np.zeros(12)
    far = np.full(12, 1.0)
    np.testing.assert_allclose(rate_limit(far, last, 12.0, 0.002), 0.024)
    np.testing.assert_allclose(rate_limit(-far, last, 12.0, 0.0), -0.012)  # dt floor 1 ms
    near = np.full(12, 0.001)
    np.testing.assert_array_equal(rate_limit(near, last, 12.0, 0.002), near)


def test_torque_limit_pulls_targets_so_the_unitree_law_stays_within_the_limit():
    cmd = JointCommand.position(np.full(12, 1.0), SPEC)
    q, dq = np.zeros(12), np.zeros(12)
    limit = np.asarray(SPEC.torque_limits)
    q_t, tau = torque_limit(cmd.q, q, dq, cmd, limit)
    np.testing.assert_allclose(np.abs(tau), limit)  # kp = 100 · 1 rad ≫ every limit
    np.testing.assert_allclose(cmd.kp * (q_t - q) + cmd.kd * (cmd.dq - dq) + cmd.tau, tau)
    small = JointCommand.position(np.full(12, 0.01), SPEC)
    q_t, tau = torque_limit(small.q, q, dq, small, limit)
    np.testing.assert_array_equal(q_t, small.q)  # within the limit: untouched
    damping = JointCommand.damping(3.0)  # kp = 0: nothing to pull
    q_t, _ = torque_limit(damping.q, q, np.full(12, 50.0), damping, limit)
    np.testing.assert_array_equal(q_t, damping.q)


@pytest.mark.parametrize(("power_w", "shrinks"), [(100.0, False), (3000.0, True)])
def test_power_limit_shrinks_targets_toward_the_joints(power_w, shrinks):
    q, q_t = np.zeros(12), np.full(12, 0.2)
    dq = np.full(12, 1.0)
    tau = np.full(12, power_w / 12)
    out = power_limit(q_t, q, dq, tau, 1500.0)
    if shrinks:
        np.testing.assert_allclose(out, q_t * 1500.0 / power_w)
    else:
        np.testing.assert_array_equal(out, q_t)


def test_tilt():
    assert not tilted(np.array([0.79, -0.79]), 0.8)
    assert tilted(np.array([0.0, -0.81]), 0.8)
    assert tilted(np.array([0.81, 0.0]), 0.8)
