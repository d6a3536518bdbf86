"""The Robot contract every backend's test checks its states against."""

from __future__ import annotations

import numpy as np

from robot_deploy.robot import JointCommand, Robot, RobotState


def check_state(state: RobotState, quat_tolerance: float = 1e-5) -> None:
    """Shapes, dtypes, finite values, foot contacts and a unit quaternion."""
    for name, n in (("q", 12), ("dq", 12), ("tau", 12), ("quat", 4), ("gyro", 3),
                    ("accel", 3)):
        value = getattr(state, name)
        assert value.shape == (n,) and value.dtype == np.float64, name
    assert state.finite
    assert state.foot_contact is not None and state.foot_contact.shape == (4,)
    assert state.foot_contact.dtype == bool
    assert abs(np.linalg.norm(state.quat) - 1.0) < quat_tolerance


def record_commands(backend: Robot) -> list[JointCommand]:
    """Make ``backend`` keep every command it receives; returns that list."""
    sent: list[JointCommand] = []
    original = backend.command
    backend.command = lambda cmd: (sent.append(cmd), original(cmd))[1]
    return sent
