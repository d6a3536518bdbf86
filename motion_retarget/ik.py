"""Differential inverse kinematics in the style of mink: tasks, constraints, one QP per step.

Each :class:`Task` gives an error ``e(q)`` (m,) and its Jacobian ``J(q)`` (m, nv) with respect
to pinocchio's tangent ``v`` (base twist in the base frame, then joint velocities). A step solves

    min_v  sum_k w_k |J_k v + e_k|^2 + damping |v|^2    s.t.  G v <= h

with the constraints' linear inequalities (joint limits, feet above the ground), using the
dense QP solver ``quadprog`` (an 18-variable QP takes ~15 µs: no reason for a custom solver),
then moves ``q`` along ``v`` on the configuration manifold.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np
import pinocchio as pin
import quadprog

from motion_retarget.kinematics import RobotModel

_WORLD_ALIGNED = pin.ReferenceFrame.LOCAL_WORLD_ALIGNED


class Task(abc.ABC):
    """A quantity driven to zero: error (m,) and Jacobian (m, nv), weighted per row."""

    weight: np.ndarray

    @abc.abstractmethod
    def compute(self, robot: RobotModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Error (m,) and Jacobian (m, nv) at ``q``, kinematics already updated for ``q``."""


class Constraint(abc.ABC):
    """Linear inequalities ``G v <= h`` on the step ``v``."""

    @abc.abstractmethod
    def compute(self, robot: RobotModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``G`` (k, nv) and ``h`` (k,) at ``q``, kinematics already updated for ``q``."""


class FramePositionTask(Task):
    """Move a frame's origin to a world position (m).

    Args:
        frame_id: pinocchio frame id.
        weight: Scalar weight of the three rows (1/m²).
    """

    def __init__(self, frame_id: int, weight: float = 1.0):
        self.frame_id = int(frame_id)
        self.target = np.zeros(3)
        self.weight = np.full(3, float(weight))

    def compute(self, robot: RobotModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Error = position − target (3,); Jacobian = world-aligned linear frame Jacobian."""
        err = robot.data.oMf[self.frame_id].translation - self.target
        jac = pin.getFrameJacobian(robot.model, robot.data, self.frame_id, _WORLD_ALIGNED)[:3]
        return err, jac


class BasePoseTask(Task):
    """Move the floating base to a target position (m) and orientation.

    Args:
        position_weight: Weight of the 3 position rows (1/m²).
        orientation_weight: Weight of the 3 orientation rows (1/rad²).
    """

    def __init__(self, position_weight: float = 1.0, orientation_weight: float = 1.0):
        self.target_position = np.zeros(3)
        self.target_rotation = np.eye(3)
        self.weight = np.r_[np.full(3, position_weight), np.full(3, orientation_weight)]

    def compute(self, robot: RobotModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Error = [p − p*, log(R*ᵀ R)] (6,); Jacobian from the base twist block."""
        rot = robot.data.oMi[1].rotation
        err = np.empty(6)
        err[:3] = q[:3] - self.target_position
        r_err = self.target_rotation.T @ rot
        err[3:] = pin.log3(r_err)
        jac = np.zeros((6, robot.model.nv))
        jac[:3, :3] = rot  # d p_world / d v_lin(base frame)
        jac[3:, 3:6] = pin.Jlog3(r_err)
        return err, jac


class PostureTask(Task):
    """Pull the 12 joints toward a target pose (rad): the regulariser."""

    def __init__(self, target: np.ndarray, weight: float = 1e-2):
        self.target = np.asarray(target, dtype=np.float64).copy()
        self.weight = np.full(12, float(weight))
        self._jac: np.ndarray | None = None

    def compute(self, robot: RobotModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Error = joints − target (12,), Jacobian selects the joint columns."""
        if self._jac is None:
            self._jac = np.zeros((12, robot.model.nv))
            self._jac[np.arange(12), robot.v_idx] = 1.0
        return q[robot.q_idx] - self.target, self._jac


@dataclass(frozen=True)
class JointLimits(Constraint):
    """Keep every joint inside its spec limits, shrunk by ``margin`` (rad)."""

    margin: float = 1e-3

    def compute(self, robot: RobotModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``lo − q <= v_j <= hi − q`` as 24 rows."""
        nv = robot.model.nv
        g = np.zeros((24, nv))
        g[np.arange(12), robot.v_idx] = 1.0
        g[12 + np.arange(12), robot.v_idx] = -1.0
        qj = q[robot.q_idx]
        hi = robot.spec.upper - self.margin - qj
        lo = qj - (robot.spec.lower + self.margin)
        return g, np.r_[np.maximum(hi, 0.0), np.maximum(lo, 0.0)]


@dataclass(frozen=True)
class FeetAboveGround(Constraint):
    """Keep every foot centre at or above ``height`` (m): the foot sphere never enters z = 0."""

    height: float

    def compute(self, robot: RobotModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``−(z + J_z v) <= −height`` per foot, linearised at ``q``."""
        rows, rhs = [], []
        for fid in robot.foot_ids:
            jz = pin.getFrameJacobian(robot.model, robot.data, int(fid), _WORLD_ALIGNED)[2]
            rows.append(-jz)
            rhs.append(robot.data.oMf[int(fid)].translation[2] - self.height)
        return np.array(rows), np.array(rhs)


def update_kinematics(robot: RobotModel, q: np.ndarray) -> None:
    """Compute joint placements, joint Jacobians and frame placements for ``q``."""
    pin.computeJointJacobians(robot.model, robot.data, q)
    pin.updateFramePlacements(robot.model, robot.data)


def solve_step(
    robot: RobotModel,
    q: np.ndarray,
    tasks: list[Task],
    constraints: list[Constraint],
    damping: float = 1e-6,
) -> np.ndarray:
    """One differential IK step: the QP's minimiser ``v`` (nv,) at ``q``.

    Kinematics must be up to date for ``q`` (see :func:`update_kinematics`). If the linearised
    constraints are inconsistent (can happen far from feasibility), the step is solved again
    with joint limits only, which are always feasible from a configuration inside the limits.
    """
    nv = robot.model.nv
    hess = damping * np.eye(nv)
    grad = np.zeros(nv)
    for task in tasks:
        err, jac = task.compute(robot, q)
        wj = jac * task.weight[:, None]
        hess += jac.T @ wj
        grad += wj.T @ err
    blocks = [c.compute(robot, q) for c in constraints]
    for attempt in range(2):
        if blocks:
            g = np.vstack([b[0] for b in blocks])
            h = np.concatenate([b[1] for b in blocks])
            # quadprog: min ½ vᵀHv − aᵀv  s.t.  Cᵀv >= b   ⇔   −G v >= −h
            try:
                return quadprog.solve_qp(hess, -grad, -g.T, -h, 0)[0]
            except ValueError:
                if attempt == 1:
                    raise
                blocks = [c.compute(robot, q) for c in constraints if isinstance(c, JointLimits)]
        else:
            return np.linalg.solve(hess, -grad)
    raise AssertionError("unreachable")


def solve(
    robot: RobotModel,
    q0: np.ndarray,
    tasks: list[Task],
    constraints: list[Constraint],
    *,
    iterations: int = 4,
    tolerance: float = 1e-5,
    damping: float = 1e-6,
) -> tuple[np.ndarray, int]:
    """Iterate :func:`solve_step` from ``q0`` until the step is below ``tolerance``.

    Args:
        robot: The robot model (its data is used as scratch).
        q0: Start configuration (19,), e.g. the previous frame's solution (warm start).
        tasks: Tasks with their targets set.
        constraints: Inequality constraints.
        iterations: Maximum number of steps.
        tolerance: Stop when ``|v|_inf`` is below this (rad or m per step).
        damping: Levenberg–Marquardt damping on ``|v|^2``.

    Returns:
        The configuration (19,) and the number of steps taken.
    """
    q = q0.copy()
    for it in range(1, iterations + 1):
        update_kinematics(robot, q)
        v = solve_step(robot, q, tasks, constraints, damping)
        q = pin.integrate(robot.model, q, v)
        if np.max(np.abs(v)) < tolerance:
            return q, it
    return q, iterations
