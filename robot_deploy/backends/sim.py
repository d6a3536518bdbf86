"""The ``sim`` backend: a PyBullet robot with fixed dynamics params behind the Robot interface.

Lockstep or real time, as every simulated backend (:mod:`robot_deploy.backends.simulated`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from motion_retarget.kinematics import robot_model
from quadmimic.core.errors import RobotConnectionError
from quadmimic.core.geometry import matrix_to_quat, quat_to_matrix
from quadmimic.core.robots.actuator import ActuatorConfig
from robot_deploy.backends.simulated import SimulatedBackend
from robot_deploy.robot import JointCommand, RobotState
from sim_training.dynamics import dynamics_from
from sim_training.robot_sim import SimRobot


class SimBackend(SimulatedBackend):
    """A PyBullet robot standing at the origin in its default pose.

    Arguments as :class:`~robot_deploy.backends.simulated.SimulatedBackend`, and
    ``torque_speed``: an actuator whose torque–speed curve limits the motors (as a training
    env with ``torque_speed_curve`` has it; speeds × the dynamics' ``motor_speed_scale``);
    None (default): torque limits only.
    """

    engine = "pybullet"

    def __init__(self, *args: Any, torque_speed: ActuatorConfig | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.torque_speed = torque_speed
        self.sim: SimRobot | None = None
        self._offset_t = np.eye(3)  # URDF base frame → body frame, set on connect

    # ------------------------------------------------------------------ lifecycle
    def connect(self, timeout: float = 5.0) -> None:
        """Build the simulation and place the robot standing on the ground."""
        if self.sim is not None:
            return
        self._offset_t = robot_model(self.spec.name).base_offset.T
        sim = SimRobot(self.spec, time_step=1.0 / self.physics_hz)
        sim.set_torque_speed(self.torque_speed)
        sim.apply_dynamics(self.dynamics)
        q = robot_model(self.spec.name).standing_q()
        sim.reset(q[:3] + [0.0, 0.0, self.start_height], q[3:7], self.spec.default)
        sim.command_low_level(self.spec.default, np.zeros(12), np.asarray(self.spec.kp),
                              np.asarray(self.spec.kd), np.zeros(12))
        self.sim = sim
        self._prev_vel = sim.base_velocity()[0]
        self._start_clock()
        if not self.read().finite:
            raise RobotConnectionError("simulation produced no valid state")

    def close(self) -> None:
        """Stop the physics thread and the simulation (idempotent)."""
        self._stop_clock()
        if self.sim is not None:
            self.sim.close()
            self.sim = None

    def _connected(self) -> bool:
        return self.sim is not None

    def _step(self, n: int) -> None:
        assert self.sim is not None
        self.sim.step(n)
        self._update_accel(self.sim.base_velocity()[0], n)

    def _apply(self, cmd: JointCommand) -> None:
        assert self.sim is not None
        self.sim.command_low_level(cmd.q, cmd.dq, cmd.kp, cmd.kd, cmd.tau)

    # ------------------------------------------------------------------ Robot
    def _require(self) -> SimRobot:
        if self.sim is None:
            raise RobotConnectionError("sim backend is not connected")
        return self.sim

    def base_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """URDF base position (3,) m and orientation quaternion (4,) xyzw, world frame.

        The operator's ground truth, not a sensor.
        """
        sim = self._require()
        with self._lock:
            return sim.base_pose()

    def now(self) -> float:
        """Simulated time (s)."""
        sim = self._require()
        return sim.steps / self.physics_hz

    def read(self) -> RobotState:
        """The simulated sensors (IMU in the body frame, joint encoders, foot contacts)."""
        sim = self._require()
        with self._lock:
            q, dq = sim.joint_state()
            _, quat = sim.base_pose()
            body_rot = quat_to_matrix(quat) @ self._offset_t
            _, ang = sim.base_velocity()
            feet, _ = sim.ground_contacts()
            return RobotState(q=q, dq=dq, tau=sim.last_torque, quat=matrix_to_quat(body_rot),
                              gyro=body_rot.T @ ang, accel=body_rot.T @ self._accel,
                              stamp=self.now(), foot_contact=feet)


    # ------------------------------------------------------------------ out of band
    def shove(self, velocity: np.ndarray) -> None:
        """Add a world-frame velocity (m/s) to the base: an operator's push."""
        sim = self._require()
        with self._lock:
            sim.shove(np.asarray(velocity, dtype=np.float64))
            self._prev_vel = sim.base_velocity()[0]

    def set_dynamics(self, dynamics: Mapping | str | Path | None) -> None:
        """Change the physical parameters now (missing keys nominal)."""
        sim = self._require()
        params = dynamics_from(dynamics)
        with self._lock:
            sim.apply_dynamics(params)
            self.dynamics = params

    def reset_pose(self) -> None:
        """Put the robot back on its feet in the default pose (between rollouts)."""
        sim = self._require()
        with self._lock:
            q = robot_model(self.spec.name).standing_q()
            sim.reset(q[:3], q[3:7], self.spec.default)
            sim.command_low_level(self.spec.default, np.zeros(12), np.asarray(self.spec.kp),
                                  np.asarray(self.spec.kd), np.zeros(12))
            self._prev_vel = sim.base_velocity()[0]
