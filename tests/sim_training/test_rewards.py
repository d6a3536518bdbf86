"""Reward terms: 1 on the reference, hand-computed values off it, monotone fall-off."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from quadmimic.core.geometry import yaw_matrix
from sim_training import rewards as rw


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


def _state(rng: np.random.Generator) -> dict:
    return {"joints": rng.normal(size=12), "joint_vel": rng.normal(size=12),
            "feet_local": rng.normal(size=(4, 3)), "root_pos": rng.normal(size=3),
            "root_rot": yaw_matrix(0.3), "lin_vel": rng.normal(size=3),
            "ang_vel": rng.normal(size=3)}


def test_action_rate_term_hand_computed_and_one_for_a_steady_command():
    assert rw.action_rate_reward(np.zeros(12), 0.1) == 1.0
    change = np.zeros(12)
    change[3], change[7] = 2.0, -1.0  # a jump from -1 to 1 on one joint: Σ = 5
    assert rw.action_rate_reward(change, 0.1) == pytest.approx(math.exp(-0.5))
    values = [rw.action_rate_reward(np.full(12, d), 0.1) for d in (0.0, 0.1, 0.5, 1.0, 2.0)]
    assert all(a > b for a, b in itertools.pairwise(values))


def test_unweighted_action_rate_leaves_the_paper_reward_exactly():
    rng = np.random.default_rng(1)
    robot, ref = _state(rng), _state(rng)
    paper, paper_terms = rw.imitation_reward(rw.RewardConfig(), robot, ref)
    robot["action_change"] = rng.uniform(-2, 2, size=12)
    total, terms = rw.imitation_reward(rw.RewardConfig(), robot, ref)
    assert total == paper  # exactly: a 0 weight adds nothing
    assert set(terms) == set(paper_terms) | {"action_rate"}
    assert terms["action_rate"] == rw.action_rate_reward(robot["action_change"], 0.1)


def test_weighted_action_rate_is_renormalised_and_needs_the_action():
    rng = np.random.default_rng(2)
    robot, ref = _state(rng), _state(rng)
    cfg = rw.RewardConfig(action_rate_weight=0.25)
    paper, _ = rw.imitation_reward(rw.RewardConfig(), robot, ref)
    robot["action_change"] = np.full(12, 0.5)  # Σ = 3
    total, terms = rw.imitation_reward(cfg, robot, ref)
    assert terms["action_rate"] == pytest.approx(math.exp(-0.3))
    assert total == pytest.approx((paper + 0.25 * math.exp(-0.3)) / 1.25)
    assert 0.0 < total <= 1.0
    del robot["action_change"]
    with pytest.raises(KeyError, match="action_change"):
        rw.imitation_reward(cfg, robot, ref)


def test_yaw_rate_term_hand_computed_and_blind_to_roll_and_pitch_rates():
    assert rw.yaw_rate_reward(np.array([0.3, -0.2, 0.5]), np.array([0.3, -0.2, 0.5]), 4.0) == 1.0
    # a 0.3 rad/s heading-rate error: exp(-4 * 0.09)
    assert rw.yaw_rate_reward(np.zeros(3), np.array([0.0, 0.0, 0.3]), 4.0) == pytest.approx(
        math.exp(-0.36))
    assert rw.yaw_rate_reward(np.array([2.0, -1.5, 0.1]), np.array([0.0, 0.0, 0.1]), 4.0) == 1.0
    errors = [rw.yaw_rate_reward(np.zeros(3), np.array([0.0, 0.0, e]), 4.0)
              for e in (0.0, 0.1, 0.3, 1.0)]
    assert all(a > b for a, b in itertools.pairwise(errors))


def test_the_yaw_rate_term_is_reported_and_counts_only_when_weighted():
    rng = np.random.default_rng(3)
    robot, ref = _state(rng), _state(rng)
    paper, terms = rw.imitation_reward(rw.RewardConfig(), robot, ref)
    expected = rw.yaw_rate_reward(robot["ang_vel"], ref["ang_vel"], 4.0)
    assert terms["yaw_rate"] == expected
    weights = rw.RewardConfig().weights
    assert paper == pytest.approx(sum(weights[k] * v for k, v in terms.items())
                                  / sum(weights[k] for k in terms))
    total, _ = rw.imitation_reward(rw.RewardConfig(yaw_rate_weight=0.2), robot, ref)
    norm = sum(weights[k] for k in terms)
    assert total == pytest.approx((paper * norm + 0.2 * expected) / (norm + 0.2))


def test_mean_velocity_term_hand_computed_and_needs_its_quantity():
    assert rw.mean_velocity_reward(np.array([1.0, 0.2]), np.array([1.0, 0.2]), 10.0) == 1.0
    # a 0.2 m/s lag: exp(-10 * 0.04)
    assert rw.mean_velocity_reward(np.array([1.0, 0.0]), np.array([1.2, 0.0]), 10.0) == (
        pytest.approx(math.exp(-0.4)))
    rng = np.random.default_rng(4)
    robot, ref = _state(rng), _state(rng)
    paper, paper_terms = rw.imitation_reward(rw.RewardConfig(), robot, ref)
    assert "mean_velocity" not in paper_terms  # without the averaged velocities: not reported
    robot["mean_planar_vel"], ref["mean_planar_vel"] = np.array([0.9, 0.1]), np.array([1.2, 0.0])
    total, terms = rw.imitation_reward(rw.RewardConfig(), robot, ref)
    assert total == paper and terms["mean_velocity"] == pytest.approx(math.exp(-10 * 0.1))
    cfg = rw.RewardConfig(mean_velocity_weight=0.5)
    weighted, _ = rw.imitation_reward(cfg, robot, ref)
    norm = sum(rw.RewardConfig().weights[k] for k in paper_terms)
    assert weighted == pytest.approx((paper * norm + 0.5 * math.exp(-1.0)) / (norm + 0.5))
    del robot["mean_planar_vel"]
    with pytest.raises(KeyError, match="mean_planar_vel"):
        rw.imitation_reward(cfg, robot, ref)
