"""The ``mujoco`` backend: a MuJoCo robot behind the Robot interface, to judge transfer.

The same constructor, clocks and out-of-band controls as the PyBullet ``sim`` backend
(:class:`~robot_deploy.backends.sim.SimBackend`), on a second physics engine: the model comes
from :func:`robot_deploy.mujoco_model.build_model` (same URDF, sphere feet, rotor armature,
joint damping and friction, a torque–speed limit) and the motors from
:class:`~robot_deploy.mujoco_model.UnitreeMotors` (Unitree's low-level law every physics step).

``realtime=False`` (lockstep) advances one command period at every :meth:`MujocoBackend.command`;
``realtime=True`` steps physics in a background thread at wall-clock speed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import mujoco
import numpy as np

from motion_retarget.kinematics import robot_model
from quadmimic.core.errors import RobotConnectionError
from quadmimic.core.geometry import matrix_to_quat
from quadmimic.core.robots.actuator import ActuatorConfig, actuator_config
from robot_deploy.backends.simulated import GRAVITY_UP, SimulatedBackend
from robot_deploy.mujoco_model import ContactModel, ModelIndex, UnitreeMotors, build_model
from robot_deploy.robot import JointCommand, RobotState
from sim_training.dynamics import dynamics_from


class MujocoBackend(SimulatedBackend):
    """A MuJoCo robot standing at the origin in its default pose.

    Args:
        robot: Robot name.
        dynamics: Dynamics params (dict or JSON file; missing keys nominal).
        physics_hz: Physics rate (Hz), at least 1 kHz.
        command_period: Simulated seconds per command in lockstep mode.
        realtime: Step physics in a background thread at wall-clock speed.
        start_height: Extra height (m) above standing at which the robot starts.
        actuator: Armature, damping, friction and torque–speed figures; None = the robot's
            figures (``RobotSpec.actuator``).
        contact: Contact and solver settings (a held-out contact model); its ``physics_hz``,
            when set, replaces ``physics_hz``. None = the project's.

    ``RobotState.tau`` is the motor torque of the last physics step (after the torque and
    torque–speed limits); MuJoCo's joint damping and dry friction act on top of it, unlike
    PyBullet's sim, which folds its joint friction into the reported torque.
    """

    def __init__(self, robot: str = "a1", dynamics: Mapping | str | Path | None = None, *,
                 physics_hz: float = 1000.0, command_period: float = 0.002,
                 realtime: bool = False, start_height: float = 0.0,
                 actuator: ActuatorConfig | None = None,
                 contact: ContactModel | None = None) -> None:
        self.contact = contact or ContactModel()
        if self.contact.physics_hz is not None:
            physics_hz = self.contact.physics_hz
        super().__init__(robot, dynamics, physics_hz=physics_hz, command_period=command_period,
                         realtime=realtime, start_height=start_height)
        self.actuator = actuator if actuator is not None else actuator_config(self.spec)
        self.model: mujoco.MjModel | None = None
        self.data: mujoco.MjData | None = None
        self.index: ModelIndex | None = None
        self.motors: UnitreeMotors | None = None
        self.steps = 0
        self._offset = np.eye(3)  # URDF base frame in the body frame, set on connect

    # ------------------------------------------------------------------ lifecycle
    def connect(self, timeout: float = 5.0) -> None:
        """Build the model and place the robot standing on the ground."""
        if self.model is not None:
            return
        self._offset = robot_model(self.spec.name).base_offset
        self.model = build_model(self.spec, self.dynamics, physics_hz=self.physics_hz,
                                 actuator=self.actuator, contact=self.contact)
        self.data = mujoco.MjData(self.model)
        self.index = ModelIndex.of(self.model, self.spec)
        self.motors = UnitreeMotors(self.spec, self.actuator, self.physics_hz, self.dynamics)
        self.steps = 0
        self._place(self.start_height + self._foot_lift())
        self._start_clock()
        if not self.read().finite:
            raise RobotConnectionError("MuJoCo produced no valid state")

    def _foot_lift(self) -> float:
        """Height (m) the feet of a scaled foot radius add to the standing pose."""
        return (self.contact.foot_radius_scale - 1.0) * self.spec.foot_radius

    def close(self) -> None:
        """Stop the physics thread and drop the model (idempotent)."""
        self._stop_clock()
        self.model = self.data = self.index = self.motors = None

    def _place(self, extra_height: float) -> None:
        """Standing pose at the origin, at rest, holding the default pose with the spec gains."""
        model, data, idx, motors = self.model, self.data, self.index, self.motors
        q = robot_model(self.spec.name).standing_q()
        mujoco.mj_resetData(model, data)
        data.qpos[:3] = q[:3] + [0.0, 0.0, extra_height]
        data.qpos[3:7] = [q[6], q[3], q[4], q[5]]  # xyzw → MuJoCo's wxyz
        data.qpos[idx.qpos_adr] = self.spec.default
        data.time = self.steps / self.physics_hz
        mujoco.mj_forward(model, data)
        motors.reset()
        motors.command(self.steps, self.spec.default, np.zeros(12), np.asarray(self.spec.kp),
                       np.asarray(self.spec.kd), np.zeros(12))
        self._prev_vel = data.qvel[:3].copy()
        self._accel = GRAVITY_UP.copy()

    def _connected(self) -> bool:
        return self.model is not None

    def _apply(self, cmd: JointCommand) -> None:
        self.motors.command(self.steps, cmd.q, cmd.dq, cmd.kp, cmd.kd, cmd.tau)

    def _step(self, n: int) -> None:
        model, data, idx, motors = self.model, self.data, self.index, self.motors
        ctrl = np.empty(model.nu)
        for _ in range(n):
            tau = motors.torque(self.steps, data.qpos[idx.qpos_adr], data.qvel[idx.dof_adr])
            ctrl[idx.actuators] = tau
            data.ctrl[:] = ctrl
            mujoco.mj_step(model, data)
            self.steps += 1
        # free joint: world-frame velocity of the base origin
        self._update_accel(data.qvel[:3].copy(), n)

    # ------------------------------------------------------------------ Robot
    def _require(self) -> mujoco.MjData:
        if self.data is None:
            raise RobotConnectionError("mujoco backend is not connected")
        return self.data

    def now(self) -> float:
        """Simulated time (s)."""
        self._require()
        return self.steps / self.physics_hz

    def base_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """URDF base position (3,) m and orientation quaternion (4,) xyzw, world frame."""
        data = self._require()
        with self._lock:
            w, x, y, z = data.qpos[3:7]
            return data.qpos[:3].copy(), np.array([x, y, z, w]) / np.linalg.norm([x, y, z, w])

    def read(self) -> RobotState:
        """The simulated sensors (IMU in the body frame, joint encoders, foot contacts)."""
        data = self._require()
        with self._lock:
            idx = self.index
            base_rot = data.xmat[idx.root_body].reshape(3, 3)
            body_rot = base_rot @ self._offset.T
            gyro = self._offset @ data.qvel[3:6]  # free joint: angular velocity, base frame
            return RobotState(q=data.qpos[idx.qpos_adr].copy(), dq=data.qvel[idx.dof_adr].copy(),
                              tau=self.motors.last_torque.copy(), quat=matrix_to_quat(body_rot),
                              gyro=gyro, accel=body_rot.T @ self._accel, stamp=self.now(),
                              foot_contact=self._foot_contacts())

    def _foot_contacts(self) -> np.ndarray:
        data, idx = self.data, self.index
        feet = np.zeros(4, dtype=bool)
        if data.ncon:
            pairs = np.column_stack((data.contact.geom1, data.contact.geom2))[:data.ncon]
            for k, geom in enumerate(idx.foot_geoms):
                feet[k] = bool(np.any(((pairs[:, 0] == geom) & (pairs[:, 1] == idx.floor_geom))
                                      | ((pairs[:, 1] == geom) & (pairs[:, 0] == idx.floor_geom))))
        return feet

    # ------------------------------------------------------------------ out of band
    def shove(self, velocity: np.ndarray) -> None:
        """Add a world-frame velocity (m/s) to the base: an operator's push."""
        data = self._require()
        with self._lock:
            data.qvel[:3] += np.asarray(velocity, dtype=np.float64)
            self._prev_vel = data.qvel[:3].copy()

    def set_dynamics(self, dynamics: Mapping | str | Path | None) -> None:
        """Change the physical parameters now (missing keys nominal).

        The model is rebuilt with the new params and the state carried over (a MuJoCo model's
        masses and contact weights are compiled together).
        """
        self._require()
        params = dynamics_from(dynamics)
        model = build_model(self.spec, params, physics_hz=self.physics_hz,
                            actuator=self.actuator, contact=self.contact)
        with self._lock:
            old = self.data
            data = mujoco.MjData(model)
            data.time = old.time
            data.qpos[:] = old.qpos
            data.qvel[:] = old.qvel
            data.qacc_warmstart[:] = old.qacc_warmstart
            mujoco.mj_forward(model, data)
            self.model, self.data = model, data
            self.motors.set_dynamics(params)
            self.dynamics = params

    def reset_pose(self) -> None:
        """Put the robot back on its feet in the default pose (between rollouts)."""
        self._require()
        with self._lock:
            self._place(self._foot_lift())
