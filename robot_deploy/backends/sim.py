"""The ``sim`` backend: a PyBullet robot with fixed dynamics params behind the Robot interface.

Two clocks: ``realtime=False`` (lockstep, as fast as possible) advances the simulation by one
command period at every :meth:`SimBackend.command`, so a control loop and the robot share one
simulated clock; ``realtime=True`` steps physics in a background thread at 1 kHz of wall time,
like hardware, and commands take effect whenever they arrive.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from motion_retarget.errors import RobotConnectionError
from motion_retarget.kinematics import robot_model
from motion_retarget.robots import get_robot
from robot_deploy.robot import JointCommand, Robot, RobotState
from robot_deploy.timing import Pacer
from sim_training.dynamics import dynamics_from
from sim_training.geometry import matrix_to_quat, quat_to_matrix
from sim_training.robot_sim import SimRobot


class SimBackend(Robot):
    """A simulated robot standing at the origin in its default pose.

    Args:
        robot: Robot name.
        dynamics: Dynamics params (dict or JSON file; missing keys nominal).
        physics_hz: Physics rate (Hz).
        command_period: Simulated seconds per command in lockstep mode.
        realtime: Step physics in a background thread at wall-clock speed.
        start_height: Extra height (m) above standing at which the robot starts.
    """

    def __init__(self, robot: str = "a1", dynamics: Mapping | str | Path | None = None, *,
                 physics_hz: float = 1000.0, command_period: float = 0.002,
                 realtime: bool = False, start_height: float = 0.0) -> None:
        self.spec = get_robot(robot)
        self.dynamics = dynamics_from(dynamics)
        self.physics_hz = physics_hz
        self.substeps = max(1, round(command_period * physics_hz))
        self.realtime = realtime
        self.start_height = start_height
        self.sim: SimRobot | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._running = False
        self._prev_vel = np.zeros(3)  # base velocity after the last physics step
        self._offset_t = np.eye(3)  # URDF base frame → body frame, set on connect
        self._accel = np.array([0.0, 0.0, 9.81])

    # ------------------------------------------------------------------ lifecycle
    def connect(self, timeout: float = 5.0) -> None:
        """Build the simulation and place the robot standing on the ground."""
        if self.sim is not None:
            return
        self._offset_t = robot_model(self.spec.name).base_offset.T
        sim = SimRobot(self.spec, time_step=1.0 / self.physics_hz)
        sim.apply_dynamics(self.dynamics)
        q = robot_model(self.spec.name).standing_q()
        sim.reset(q[:3] + [0.0, 0.0, self.start_height], q[3:7], self.spec.default)
        sim.command_low_level(self.spec.default, np.zeros(12), np.asarray(self.spec.kp),
                              np.asarray(self.spec.kd), np.zeros(12))
        self.sim = sim
        self._prev_vel = sim.base_velocity()[0]
        if self.realtime:
            self._running = True
            self._thread = threading.Thread(target=self._loop, daemon=True, name="sim-1khz")
            self._thread.start()
        if not self.read().finite:
            raise RobotConnectionError("simulation produced no valid state")

    def close(self) -> None:
        """Stop the physics thread and the simulation (idempotent)."""
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self.sim is not None:
            self.sim.close()
            self.sim = None

    def _loop(self) -> None:
        pacer = Pacer(1.0 / self.physics_hz)
        while self._running:
            with self._lock:
                self._step(1)
            pacer.wait()

    def _step(self, n: int) -> None:
        assert self.sim is not None
        self.sim.step(n)
        after = self.sim.base_velocity()[0]
        self._accel = (after - self._prev_vel) * self.physics_hz / n + np.array([0.0, 0.0, 9.81])
        self._prev_vel = after

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

    def command(self, cmd: JointCommand) -> None:
        """Apply a motor command; in lockstep mode also advance one command period."""
        sim = self._require()
        with self._lock:
            sim.command_low_level(cmd.q, cmd.dq, cmd.kp, cmd.kd, cmd.tau)
            if not self.realtime:
                self._step(self.substeps)

    # ------------------------------------------------------------------ out of band
    def shove(self, velocity: np.ndarray) -> None:
        """Add a world-frame velocity (m/s) to the base: an operator's push."""
        import pybullet as pb

        sim = self._require()
        with self._lock:
            lin, ang = pb.getBaseVelocity(sim.body, physicsClientId=sim.client)
            pb.resetBaseVelocity(sim.body, (np.asarray(lin) + velocity).tolist(), ang,
                                 physicsClientId=sim.client)
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
