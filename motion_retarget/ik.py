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
        return err, frame_jacobian(robot, self.frame_id)[:3]


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


class JointLimits(Constraint):
    """Keep every joint inside its spec limits, shrunk by ``margin`` (rad)."""

    def __init__(self, robot: RobotModel, margin: float = 1e-3) -> None:
        self.margin = margin
        self._g = np.zeros((24, robot.model.nv))
        self._g[np.arange(12), robot.v_idx] = 1.0
        self._g[12 + np.arange(12), robot.v_idx] = -1.0
        self._hi = robot.spec.upper - margin
        self._lo = robot.spec.lower + margin

    def compute(self, robot: RobotModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``lo − q <= v_j <= hi − q`` as 24 rows (never infeasible: bounds clipped at 0)."""
        qj = q[robot.q_idx]
        h = np.concatenate([self._hi - qj, qj - self._lo])
        return self._g, np.maximum(h, 0.0)

    def active(
        self, robot: RobotModel, q: np.ndarray, reach: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Only the rows of limits within ``reach`` (rad) of ``q``.

        A step whose size is capped at ``reach`` cannot cross the others, and a smaller QP
        solves faster (28 → typically 4-8 rows; measured 1.2× faster retargeting).
        """
        g, h = self.compute(robot, q)
        keep = h < reach
        return g[keep], h[keep]


class FramesAboveGround(Constraint):
    """Keep the origins of some frames at or above ``height`` (m) over the ground z = 0.

    Args:
        frame_ids: Pinocchio frame ids.
        height: Lowest allowed height of each origin (m).
    """

    def __init__(self, frame_ids: np.ndarray, height: float) -> None:
        self.frame_ids = [int(f) for f in frame_ids]
        self.height = height

    def compute(self, robot: RobotModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``−(z + J_z v) <= −height`` per frame, linearised at ``q``."""
        g = np.array([-frame_jacobian(robot, f)[2] for f in self.frame_ids])
        z = np.array([robot.data.oMf[f].translation[2] for f in self.frame_ids])
        return g, z - self.height


class FeetAboveGround(FramesAboveGround):
    """Keep every foot centre at or above ``height`` (m): the foot sphere never enters z = 0."""

    def __init__(self, height: float) -> None:
        super().__init__(np.zeros(0), height)

    def compute(self, robot: RobotModel, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``−(z + J_z v) <= −height`` per foot, linearised at ``q``."""
        self.frame_ids = [int(f) for f in robot.foot_ids]
        return super().compute(robot, q)


_jacobians: dict[int, dict[int, np.ndarray]] = {}


def update_kinematics(robot: RobotModel, q: np.ndarray) -> None:
    """Compute joint placements, joint Jacobians and frame placements for ``q``."""
    pin.computeJointJacobians(robot.model, robot.data, q)
    pin.updateFramePlacements(robot.model, robot.data)
    _jacobians[id(robot)] = {}


def frame_jacobian(robot: RobotModel, frame_id: int) -> np.ndarray:
    """World-aligned Jacobian (6, nv) of a frame, computed once per :func:`update_kinematics`."""
    cache = _jacobians.setdefault(id(robot), {})
    jac = cache.get(frame_id)
    if jac is None:
        jac = pin.getFrameJacobian(robot.model, robot.data, frame_id, _WORLD_ALIGNED)
        cache[frame_id] = jac
    return jac


def solve_step(
    robot: RobotModel,
    q: np.ndarray,
    tasks: list[Task],
    constraints: list[Constraint],
    damping: float = 1e-6,
    max_step: float | None = None,
) -> np.ndarray:
    """One differential IK step: the QP's minimiser ``v`` (nv,) at ``q``.

    With ``max_step`` (the caller caps ``|v|_inf`` at it afterwards), joint-limit rows farther
    than that from ``q`` are left out of the QP: the capped step cannot reach them.

    Kinematics must be up to date for ``q`` (see :func:`update_kinematics`). If the linearised
    constraints are inconsistent (can happen far from feasibility), the step is solved again
    with joint limits only, which are always feasible from a configuration inside the limits.
    """
    nv = robot.model.nv
    parts = [task.compute(robot, q) for task in tasks]
    jac = np.concatenate([p[1] for p in parts])
    err = np.concatenate([p[0] for p in parts])
    weight = np.concatenate([task.weight for task in tasks])
    wj = jac * weight[:, None]
    hess = jac.T @ wj
    hess.flat[:: nv + 1] += damping
    grad = wj.T @ err
    blocks = [c.active(robot, q, max_step) if isinstance(c, JointLimits) and max_step else
              c.compute(robot, q) for c in constraints]
    g = np.vstack([b[0] for b in blocks]) if blocks else np.zeros((0, nv))
    h = np.concatenate([b[1] for b in blocks]) if blocks else np.zeros(0)
    if len(h) == 0:
        return np.linalg.solve(hess, -grad)
    # quadprog: min ½ vᵀHv − aᵀv  s.t.  Cᵀv >= b   ⇔   −G v >= −h
    try:
        return quadprog.solve_qp(hess, -grad, -g.T, -h, 0)[0]
    except ValueError:
        # Inconsistent linearised constraints (far from feasible): joint limits alone are
        # always feasible from inside the limits.
        limits = [c.compute(robot, q) for c in constraints if isinstance(c, JointLimits)]
        if not limits:
            raise
        return quadprog.solve_qp(hess, -grad, -limits[0][0].T, -limits[0][1], 0)[0]


def solve(
    robot: RobotModel,
    q0: np.ndarray,
    tasks: list[Task],
    constraints: list[Constraint],
    *,
    iterations: int = 4,
    tolerance: float = 1e-5,
    damping: float = 1e-6,
    max_step: float = 0.2,
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
        max_step: Trust region: a step with ``|v|_inf`` above this (rad or m) is scaled down
            to it, so the linearisation stays valid. Scaling keeps the linear constraints
            satisfied whenever ``q`` already satisfies them (``v = 0`` is feasible then).

    Returns:
        The configuration (19,) and the number of steps taken.
    """
    q = q0.copy()
    for it in range(1, iterations + 1):
        update_kinematics(robot, q)
        v = solve_step(robot, q, tasks, constraints, damping, max_step)
        size = np.max(np.abs(v))
        if size > max_step:
            v *= max_step / size
        q = pin.integrate(robot.model, q, v)
        if size < tolerance:
            return q, it
    return q, iterations
