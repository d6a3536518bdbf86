"""Reward terms: 1 on the reference, hand-computed values off it, monotone fall-off."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from sim_training import rewards as rw
from sim_training.geometry import yaw_matrix


def test_each_term_is_one_on_the_reference():
    rng = np.random.default_rng(0)
    q, dq, feet = rng.normal(size=12), rng.normal(size=12), rng.normal(size=(4, 3))
    p, rot = rng.normal(size=3), yaw_matrix(0.7)
    v, w = rng.normal(size=3), rng.normal(size=3)
    assert rw.pose_reward(q, q, 5.0) == 1.0
    assert rw.velocity_reward(dq, dq, 0.1) == 1.0
    assert rw.end_effector_reward(feet, feet, 40.0) == 1.0
    assert rw.root_pose_reward(p, rot, p, rot, 20.0, 10.0) == pytest.approx(1.0)
    assert rw.root_velocity_reward(v, w, v, w, 2.0, 0.2) == 1.0
    state = {"joints": q, "joint_vel": dq, "feet_local": feet, "root_pos": p, "root_rot": rot,
             "lin_vel": v, "ang_vel": w}
    total, terms = rw.imitation_reward(rw.RewardConfig(), state, state)
    assert total == pytest.approx(1.0) and all(t == pytest.approx(1.0) for t in terms.values())


def test_hand_computed_values():
    q = np.zeros(12)
    off = q.copy()
    off[0], off[5] = 0.1, -0.2  # Σ err² = 0.05
    assert rw.pose_reward(off, q, 5.0) == pytest.approx(math.exp(-0.25))
    feet = np.zeros((4, 3))
    moved = feet.copy()
    moved[2] = [0.03, 0.0, 0.04]  # 5 cm on one foot
    assert rw.end_effector_reward(moved, feet, 40.0) == pytest.approx(math.exp(-40 * 0.0025))
    # 0.1 m off and turned 0.2 rad about z: exp(-20·0.01 - 10·0.04)
    got = rw.root_pose_reward(np.array([0.1, 0, 0]), yaw_matrix(0.2), np.zeros(3), np.eye(3),
                             20.0, 10.0)
    assert got == pytest.approx(math.exp(-0.2 - 0.4))
    got = rw.root_velocity_reward(np.array([1.0, 0, 0]), np.array([0, 0, 2.0]), np.zeros(3),
                                 np.zeros(3), 2.0, 0.2)
    assert got == pytest.approx(math.exp(-2.0 - 0.8))


def test_terms_fall_off_monotonically():
    q = np.zeros(12)
    values = [rw.pose_reward(q + d, q, 5.0) for d in (0.0, 0.05, 0.1, 0.2, 0.4)]
    assert all(a > b for a, b in itertools.pairwise(values))
    values = [rw.root_pose_reward(np.zeros(3), yaw_matrix(a), np.zeros(3), np.eye(3), 20, 10)
              for a in (0.0, 0.1, 0.5, 1.0, 3.0)]
    assert all(a > b for a, b in itertools.pairwise(values))


def test_weights_sum_to_one_and_bad_config_is_rejected():
    assert sum(rw.RewardConfig().weights.values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="pose_scale"):
        rw.RewardConfig(pose_scale=-1.0)
