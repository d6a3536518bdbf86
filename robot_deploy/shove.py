"""A planned push: a Robot that wraps a simulated backend and shoves its base once.

:class:`ShovedRobot` follows the :class:`~robot_deploy.safety.SafetyLayer` pattern (a Robot
around a Robot): commands pass through, and after the first command at or past the planned
time on the backend's clock the base gets the planned horizontal velocity added, as an
operator's push would (``shove`` of the simulated backends). ``bench transfer`` shoves every
evaluation rollout with it and ``bench robustness`` every start-and-shove run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from robot_deploy.robot import JointCommand, RobotWrapper

if TYPE_CHECKING:
    from robot_deploy.backends.mujoco import MujocoBackend
    from robot_deploy.backends.sim import SimBackend


class ShovedRobot(RobotWrapper):
    """A simulated backend that applies one planned shove when its clock reaches a time.

    Args:
        inner: A simulated backend (it has ``shove``).
    """

    def __init__(self, inner: SimBackend | MujocoBackend) -> None:
        super().__init__(inner)
        self._plan: tuple[float, np.ndarray] | None = None
        self.shoves = 0

    def plan(self, at: float, velocity: np.ndarray) -> None:
        """Add ``velocity`` (3,) m/s to the base once the clock passes ``at`` (s)."""
        self._plan = (at, np.asarray(velocity, dtype=np.float64))

    def command(self, cmd: JointCommand) -> None:
        """Send the command, then shove if the planned time has come."""
        self.inner.command(cmd)
        if self._plan is not None and self.inner.now() >= self._plan[0]:
            self.inner.shove(self._plan[1])
            self._plan = None
            self.shoves += 1
