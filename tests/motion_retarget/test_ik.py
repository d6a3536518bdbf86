"""IK: analytic Jacobians against finite differences, convergence, hard constraints."""

from __future__ import annotations

import numpy as np
import pinocchio as pin
import pytest

from motion_retarget import ik
from motion_retarget.kinematics import robot_model

ROBOTS = ["a1", "laikago", "go1", "go2"]


def _random_q(rm, rng):
    frame = np.empty(19)
    frame[:3] = rng.uniform(-0.5, 0.5, 3)
    quat = rng.normal(size=4)
    frame[3:7] = quat / np.linalg.norm(quat)
    frame[7:] = rng.uniform(rm.spec.lower + 0.1, rm.spec.upper - 0.1)
    return rm.q_of(frame)


def _fd_jacobian(rm, q, task, eps=1e-6):
    ik.update_kinematics(rm, q)
    e0, _ = task.compute(rm, q)
    jac = np.zeros((len(e0), rm.model.nv))
    for k in range(rm.model.nv):
        dv = np.zeros(rm.model.nv)
        dv[k] = eps
        qp = pin.integrate(rm.model, q, dv)
        ik.update_kinematics(rm, qp)
        ep, _ = task.compute(rm, qp)
        jac[:, k] = (ep - e0) / eps
    ik.update_kinematics(rm, q)
    return jac


@pytest.mark.parametrize("name", ROBOTS)
def test_task_jacobians_match_finite_differences(name):
    rm = robot_model(name)
    rng = np.random.default_rng(3)
    foot = ik.FramePositionTask(int(rm.foot_ids[2]))
    foot.target = rng.normal(size=3)
    base = ik.BasePoseTask()
    base.target_position = rng.normal(size=3)
    base.target_rotation = pin.rpy.rpyToMatrix(*rng.uniform(-0.4, 0.4, 3))
    posture = ik.PostureTask(rm.spec.default)
    for _ in range(3):
        q = _random_q(rm, rng)
        for task in (foot, base, posture):
            fd = _fd_jacobian(rm, q, task)
            ik.update_kinematics(rm, q)
            _, jac = task.compute(rm, q)
            np.testing.assert_allclose(jac, fd, atol=2e-5)


def test_ground_constraint_is_the_foot_height_jacobian():
    rm = robot_model("a1")
    q = _random_q(rm, np.random.default_rng(5))
    ground = ik.FeetAboveGround(0.02)
    ik.update_kinematics(rm, q)
    g, h = ground.compute(rm, q)
    np.testing.assert_allclose(-h, 0.02 - rm.foot_positions(q)[:, 2], atol=1e-12)
    for f in range(4):
        task = ik.FramePositionTask(int(rm.foot_ids[f]))
        fd = _fd_jacobian(rm, q, task)
        np.testing.assert_allclose(-g[f], fd[2], atol=2e-5)


def test_knee_constraint_is_the_knee_height_jacobian():
    rm = robot_model("a1")
    q = _random_q(rm, np.random.default_rng(6))
    knees = ik.FramesAboveGround(rm.knee_ids, 0.06)
    ik.update_kinematics(rm, q)
    g, h = knees.compute(rm, q)
    heights = np.array([rm.data.oMf[int(f)].translation[2] for f in rm.knee_ids])
    np.testing.assert_allclose(h, heights - 0.06, atol=1e-12)
    for k in range(4):
        fd = _fd_jacobian(rm, q, ik.FramePositionTask(int(rm.knee_ids[k])))
        np.testing.assert_allclose(-g[k], fd[2], atol=2e-5)


@pytest.mark.parametrize("name", ROBOTS)
def test_ik_reaches_a_reachable_pose(name):
    """Targets from a known configuration are met to < 0.1 mm from a perturbed start."""
    rm = robot_model(name)
    rng = np.random.default_rng(11)
    goal = rm.standing_q()
    goal[rm.q_idx] += rng.uniform(-0.25, 0.25, 12)
    goal[rm.q_idx] = np.clip(goal[rm.q_idx], rm.spec.lower, rm.spec.upper)
    goal[2] += 0.1
    feet = [ik.FramePositionTask(int(f), 100.0) for f in rm.foot_ids]
    for task, p in zip(feet, rm.foot_positions(goal), strict=True):
        task.target = p
    base = ik.BasePoseTask(1.0, 1.0)
    base.target_position = goal[:3]
    base.target_rotation = pin.Quaternion(goal[6], *goal[3:6]).toRotationMatrix()
    start = rm.standing_q()
    q, steps = ik.solve(rm, start, [*feet, base, ik.PostureTask(rm.spec.default, 1e-6)],
                        [ik.JointLimits(rm)], iterations=50)
    err = np.linalg.norm(rm.foot_positions(q) - rm.foot_positions(goal), axis=1)
    assert err.max() < 1e-4, err
    assert steps < 50


def test_hard_constraints_hold_against_unreachable_targets():
    """Feet asked to go under the ground and joints past their limits: constraints win."""
    rm = robot_model("go1")
    feet = [ik.FramePositionTask(int(f), 100.0) for f in rm.foot_ids]
    q = rm.standing_q()
    for task, p in zip(feet, rm.foot_positions(q), strict=True):
        task.target = p + np.array([0.0, 0.0, -0.3])  # 30 cm into the ground
    posture = ik.PostureTask(rm.spec.upper + 1.0, 10.0)  # pull past the upper limits
    base = ik.BasePoseTask(1.0, 1.0)
    base.target_position = q[:3]
    q, _ = ik.solve(rm, q, [*feet, base, posture],
                    [ik.JointLimits(rm), ik.FeetAboveGround(rm.spec.foot_radius)],
                    iterations=40)
    joints = q[rm.q_idx]
    assert np.all(joints <= rm.spec.upper) and np.all(joints >= rm.spec.lower)
    assert rm.foot_positions(q)[:, 2].min() > rm.spec.foot_radius - 1e-4


def test_step_is_the_weighted_least_squares_solution_without_constraints():
    """Unconstrained, one step equals the normal-equations solution (hand-built)."""
    rm = robot_model("a1")
    q = _random_q(rm, np.random.default_rng(2))
    task = ik.FramePositionTask(int(rm.foot_ids[0]), 3.0)
    task.target = np.array([0.1, -0.2, 0.05])
    post = ik.PostureTask(rm.spec.default, 0.5)
    ik.update_kinematics(rm, q)
    v = ik.solve_step(rm, q, [task, post], [], damping=1e-3)
    e1, j1 = task.compute(rm, q)
    e2, j2 = post.compute(rm, q)
    h = 3.0 * j1.T @ j1 + 0.5 * j2.T @ j2 + 1e-3 * np.eye(18)
    expected = np.linalg.solve(h, -(3.0 * j1.T @ e1 + 0.5 * j2.T @ e2))
    np.testing.assert_allclose(v, expected, atol=1e-10)
