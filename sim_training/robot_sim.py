"""A robot spec in PyBullet: loading, dynamics params, the motor model, state read-out.

Motor model (per physics step, ``time_step`` s): joint PD toward the current target,
``tau = kp·kp_scale·(q* − q) − kd·kd_scale·q̇``, clipped to ``±torque_limit·motor_strength``
(and, with :meth:`SimRobot.set_torque_speed`, to the actuator's torque–speed curve at
``motor_speed_scale`` × its speeds), minus dry joint friction ``joint_friction·tanh(q̇/0.01)``
and viscous ``joint_damping·q̇``; applied as joint torques. A new target takes effect
``latency_s`` after it was commanded (actuator latency), plus any extra delay the caller adds
(jitter), never before an earlier command.

A centre-of-mass offset (``com_offset_x/y``, a payload off centre) is the gravity moment of
the base body's weight about the shifted point, applied as an external torque every physics
step and turned with the base once per :meth:`SimRobot.step` call (PyBullet cannot move a
loaded body's centre of mass; the inertial coupling of the shift is not modelled). A
compliant foot contact (``contact_compliance`` > 0) is PyBullet's contact stiffness
``k = 1/compliance`` with damping ``2·ζ·√(k·m/4)`` (m: the robot's mass); at 0 the contact
stays PyBullet's rigid default as long as no compliance was set in this client. PyBullet has
no rotor armature (the MuJoCo judge has it, :mod:`quadmimic.core.robots.actuator`).
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Mapping

import numpy as np
import pybullet as pb
import pybullet_data

from quadmimic.core.errors import RobotSpecError
from quadmimic.core.robots import RobotSpec
from quadmimic.core.robots.actuator import ActuatorConfig, torque_speed_limit
from sim_training.dynamics import NOMINAL, dynamics_from


class SimRobot:
    """One robot on a ground plane in its own PyBullet (DIRECT) physics client.

    Args:
        spec: The robot spec.
        time_step: Physics step (s); 0.001 = 1 kHz.
    """

    def __init__(self, spec: RobotSpec, time_step: float = 0.001) -> None:
        self.spec = spec
        self.time_step = float(time_step)
        self.client = pb.connect(pb.DIRECT)
        c = self.client
        pb.setGravity(0, 0, -9.81, physicsClientId=c)
        pb.setTimeStep(self.time_step, physicsClientId=c)
        pb.setPhysicsEngineParameter(deterministicOverlappingPairs=1, physicsClientId=c)
        self.plane = pb.loadURDF(f"{pybullet_data.getDataPath()}/plane.urdf",
                                 physicsClientId=c)
        try:
            self.body = pb.loadURDF(str(spec.resolved_urdf_path()), [0, 0, 1],
                                    flags=pb.URDF_USE_INERTIA_FROM_FILE, physicsClientId=c)
        except pb.error as exc:
            raise RobotSpecError(f"robot {spec.name!r}: PyBullet cannot load its URDF") from exc
        joints, links = {}, {}
        for j in range(pb.getNumJoints(self.body, physicsClientId=c)):
            info = pb.getJointInfo(self.body, j, physicsClientId=c)
            joints[info[1].decode()] = j
            links[info[12].decode()] = j
        self.motor_ids = [joints[n] for n in spec.joint_names]
        self.foot_ids = [links[n] for n in spec.foot_links]
        try:
            self.allowed_contact_ids = set(self.foot_ids) | {
                links[n] for n in spec.ground_contact_links}
        except KeyError as exc:
            raise RobotSpecError(f"robot {spec.name!r}: no link {exc} in the URDF") from exc
        self.num_links = pb.getNumJoints(self.body, physicsClientId=c)
        # Free all joints of PyBullet's default velocity motors: torques only.
        pb.setJointMotorControlArray(self.body, list(range(self.num_links)), pb.VELOCITY_CONTROL,
                                     forces=[0.0] * self.num_links, physicsClientId=c)
        # The base body: the base link and every link fixed to it (Go1's URDF base is a
        # 1 µg dummy with the trunk fixed under it), feet excluded.
        self.base_links = [-1]
        for j in range(self.num_links):
            jinfo = pb.getJointInfo(self.body, j, physicsClientId=c)
            if (jinfo[2] == pb.JOINT_FIXED and jinfo[16] in self.base_links
                    and j not in self.foot_ids):
                self.base_links.append(j)
        info = pb.getDynamicsInfo(self.body, -1, physicsClientId=c)
        self._com_pos, self._com_orn = info[3], info[4]
        self._inv_com = pb.invertTransform(self._com_pos, self._com_orn)
        self._nominal = {link: pb.getDynamicsInfo(self.body, link, physicsClientId=c)[:3]
                         for link in range(-1, self.num_links)}  # mass, friction, inertia
        self.dynamics: dict[str, float] = dict(NOMINAL)
        self.kp = np.asarray(spec.kp)
        self.kd = np.asarray(spec.kd)
        self.torque_limit = np.asarray(spec.torque_limits, dtype=np.float64)
        self.joint_friction = 0.0
        self.joint_damping = 0.0
        self.latency_steps = 0
        self._last_due = 0
        self._com_torque = np.zeros(3)  # base-frame gravity-moment lever × weight, see step
        self._compliant = False
        self._curve: tuple[np.ndarray, np.ndarray] | None = None  # nominal knee, max speeds
        self._speeds: tuple[np.ndarray, np.ndarray] | None = None  # scaled by the dynamics
        self.target = spec.default.copy()
        self._low: tuple | None = None
        self._queue: collections.deque[tuple[int, tuple]] = collections.deque()
        self.steps = 0
        self.last_torque = np.zeros(12)
        self.apply_dynamics(NOMINAL)

    # ------------------------------------------------------------------ dynamics
    def apply_dynamics(self, params: Mapping[str, float]) -> None:
        """Set the physical parameters (a dynamics dict, missing keys nominal)."""
        d = dynamics_from(dict(params))
        c, body = self.client, self.body
        mass = base_mass = 0.0  # kg, as set below
        for link, (nominal, _, inertia) in self._nominal.items():
            on_base = link in self.base_links
            scale = d["base_mass_scale"] if on_base else d["link_mass_scale"]
            pb.changeDynamics(body, link, mass=nominal * scale,
                              localInertiaDiagonal=[v * scale * d["inertia_scale"]
                                                    for v in inertia], physicsClientId=c)
            mass += nominal * scale
            base_mass += nominal * scale if on_base else 0.0
        contact: dict[str, float] = {}
        if d["contact_compliance"] > 0.0 or self._compliant:
            # Once set, PyBullet keeps a link's contact stiffness: "rigid" is then 1e8 N/m.
            k = 1e8 if d["contact_compliance"] <= 0.0 else 1e6 / d["contact_compliance"]
            contact = {"contactStiffness": k, "contactDamping":
                       2.0 * d["contact_damping_ratio"] * float(np.sqrt(k * mass / 4.0))}
            self._compliant = True
        for link in self.foot_ids:
            pb.changeDynamics(body, link, lateralFriction=d["foot_friction"],
                              restitution=d["restitution"], rollingFriction=d["rolling_friction"],
                              spinningFriction=d["spinning_friction"], physicsClientId=c,
                              **contact)
        pb.changeDynamics(self.plane, -1, lateralFriction=1.0, restitution=d["restitution"],
                          physicsClientId=c)
        slope = pb.getQuaternionFromEuler([0.0, -d["ground_slope_rad"], 0.0])
        pb.resetBasePositionAndOrientation(self.plane, [0, 0, 0], slope, physicsClientId=c)
        self.kp = np.asarray(self.spec.kp) * d["kp_scale"]
        self.kd = np.asarray(self.spec.kd) * d["kd_scale"]
        self.torque_limit = np.asarray(self.spec.torque_limits) * d["motor_strength_scale"]
        self.joint_friction = d["joint_friction"]
        self.joint_damping = d["joint_damping"]
        self.latency_steps = round(d["latency_s"] / self.time_step)
        # Weight W = (0, 0, −m·g) acting at the offset δ (base frame): torque R·δ × W.
        self._com_torque = np.array([d["com_offset_x"], d["com_offset_y"], 0.0]) * (
            base_mass * 9.81)
        self.dynamics = d
        self._scale_speeds()

    def set_torque_speed(self, actuator: ActuatorConfig | None) -> None:
        """Clip torques to ``actuator``'s torque–speed curve from now on (None: no curve).

        The curve's speeds are scaled by the dynamics key ``motor_speed_scale``.
        """
        self._curve = None if actuator is None else (actuator.knee_speed_array(self.spec),
                                                     actuator.max_speed_array(self.spec))
        self._scale_speeds()

    def _scale_speeds(self) -> None:
        scale = self.dynamics["motor_speed_scale"]
        self._speeds = None if self._curve is None else (self._curve[0] * scale,
                                                         self._curve[1] * scale)

    @property
    def base_mass(self) -> float:
        """Current mass (kg) of the base body (base link + links fixed to it)."""
        return float(sum(pb.getDynamicsInfo(self.body, link, physicsClientId=self.client)[0]
                         for link in self.base_links))

    @property
    def nominal_base_mass(self) -> float:
        """URDF mass (kg) of the base body."""
        return float(sum(self._nominal[link][0] for link in self.base_links))

    # ------------------------------------------------------------------ state
    def reset(
        self,
        root_pos: np.ndarray,
        root_quat: np.ndarray,
        joints: np.ndarray,
        joint_vel: np.ndarray | None = None,
        lin_vel: np.ndarray | None = None,
        ang_vel: np.ndarray | None = None,
    ) -> None:
        """Teleport the robot: URDF base pose (m, xyzw), joints (rad), velocities (world)."""
        c = self.client
        com_pos, com_orn = pb.multiplyTransforms(root_pos, root_quat, self._com_pos,
                                                 self._com_orn)
        pb.resetBasePositionAndOrientation(self.body, com_pos, com_orn, physicsClientId=c)
        lin = np.zeros(3) if lin_vel is None else np.asarray(lin_vel, dtype=np.float64)
        ang = np.zeros(3) if ang_vel is None else np.asarray(ang_vel, dtype=np.float64)
        lever = np.asarray(com_pos) - np.asarray(root_pos)
        pb.resetBaseVelocity(self.body, (lin + np.cross(ang, lever)).tolist(), ang.tolist(),
                             physicsClientId=c)
        vel = np.zeros(12) if joint_vel is None else joint_vel
        for k, j in enumerate(self.motor_ids):
            pb.resetJointState(self.body, j, float(joints[k]), float(vel[k]),
                               physicsClientId=c)
        self.target = np.array(joints, dtype=np.float64)
        self._low = None
        self._queue.clear()
        self._last_due = 0

    def joint_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Joint angles (12,) rad and speeds (12,) rad/s, project order."""
        states = pb.getJointStates(self.body, self.motor_ids, physicsClientId=self.client)
        q = np.fromiter((s[0] for s in states), np.float64, 12)
        dq = np.fromiter((s[1] for s in states), np.float64, 12)
        return q, dq

    def base_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """URDF base position (3,) m and orientation quaternion (4,) xyzw, world frame."""
        com_pos, com_orn = pb.getBasePositionAndOrientation(self.body, physicsClientId=self.client)
        pos, orn = pb.multiplyTransforms(com_pos, com_orn, *self._inv_com)
        return np.asarray(pos), np.asarray(orn)

    def base_velocity(self) -> tuple[np.ndarray, np.ndarray]:
        """URDF base-frame origin linear velocity (3,) m/s and angular velocity (3,) rad/s.

        World frame. PyBullet reports the centre of mass's velocity; the origin's differs by
        ``ω × (origin − com)``.
        """
        c = self.client
        lin, ang = pb.getBaseVelocity(self.body, physicsClientId=c)
        com_pos, com_orn = pb.getBasePositionAndOrientation(self.body, physicsClientId=c)
        origin, _ = pb.multiplyTransforms(com_pos, com_orn, *self._inv_com)
        w = np.asarray(ang)
        return np.asarray(lin) + np.cross(w, np.subtract(origin, com_pos)), w

    def shove(self, velocity: np.ndarray) -> None:
        """Add a world-frame velocity (3,) m/s to the base: a push."""
        lin, ang = pb.getBaseVelocity(self.body, physicsClientId=self.client)
        pb.resetBaseVelocity(self.body, (np.asarray(lin) + velocity).tolist(), ang,
                             physicsClientId=self.client)

    def foot_positions(self) -> np.ndarray:
        """World positions (4, 3) m of the foot link frames (sphere centres)."""
        states = pb.getLinkStates(self.body, self.foot_ids, computeForwardKinematics=True,
                                  physicsClientId=self.client)
        return np.array([s[4] for s in states])

    def ground_contacts(self) -> tuple[np.ndarray, bool]:
        """Feet touching the ground (4,) bool, and whether a link that must not touches it.

        Links allowed on the ground: the feet and the spec's ``ground_contact_links``.
        """
        points = pb.getContactPoints(self.body, self.plane, physicsClientId=self.client)
        feet = np.zeros(4, dtype=bool)
        other = False
        for p in points:
            link = p[3]
            if link in self.foot_ids:
                feet[self.foot_ids.index(link)] = True
            elif link not in self.allowed_contact_ids:
                other = True
        return feet, other

    # ------------------------------------------------------------------ control
    def command(self, target: np.ndarray, delay_steps: int = 0) -> None:
        """Queue a joint position target (12,) rad with the spec's PD gains.

        It acts after the latency plus ``delay_steps`` physics steps (jitter), and never
        before a target commanded earlier.
        """
        self._queue.append((self._due(delay_steps), (np.asarray(target, np.float64), None)))

    def _due(self, delay_steps: int) -> int:
        due = max(self.steps + self.latency_steps + int(delay_steps), self._last_due)
        self._last_due = due
        return due

    def command_low_level(self, q: np.ndarray, dq: np.ndarray, kp: np.ndarray, kd: np.ndarray,
                          tau: np.ndarray) -> None:
        """Queue a Unitree-style motor command; it acts after the latency.

        Per joint the motor applies ``tau + kp·kp_scale·(q − q_meas) + kd·kd_scale·(dq −
        dq_meas)``, torque-limited.
        """
        arrays = tuple(np.asarray(a, np.float64) for a in (q, dq, kp, kd, tau))
        self._queue.append((self._due(0), arrays))

    def step(self, substeps: int) -> None:
        """Advance ``substeps`` physics steps with the PD motor model."""
        c, body, ids = self.client, self.body, self.motor_ids
        limit, fric, damp = self.torque_limit, self.joint_friction, self.joint_damping
        speeds = self._speeds
        moment = None
        if np.any(self._com_torque):  # the base's tilt over one call's few ms is neglected
            _, orn = pb.getBasePositionAndOrientation(body, physicsClientId=c)
            rot = np.asarray(pb.getMatrixFromQuaternion(orn)).reshape(3, 3)
            moment = np.cross(rot @ self._com_torque, [0.0, 0.0, -1.0]).tolist()
        queue = self._queue
        tau = self.last_torque
        for _ in range(substeps):
            while queue and queue[0][0] <= self.steps:
                self._apply(queue.popleft()[1])
            states = pb.getJointStates(body, ids, physicsClientId=c)
            q = np.fromiter((s[0] for s in states), np.float64, 12)
            dq = np.fromiter((s[1] for s in states), np.float64, 12)
            if self._low is None:
                raw = self.kp * (self.target - q) - self.kd * dq
            else:
                q_t, dq_t, kp_t, kd_t, tau_t = self._low
                raw = tau_t + kp_t * (q_t - q) + kd_t * (dq_t - dq)
            if speeds is None:
                tau = np.minimum(np.maximum(raw, -limit), limit)
            else:
                tau = torque_speed_limit(raw, dq, limit, speeds[0], speeds[1])
            if fric:
                tau -= fric * np.tanh(dq * 100.0)
            if damp:
                tau -= damp * dq
            pb.setJointMotorControlArray(body, ids, pb.TORQUE_CONTROL, forces=tau.tolist(),
                                         physicsClientId=c)
            if moment is not None:
                pb.applyExternalTorque(body, -1, moment, pb.WORLD_FRAME, physicsClientId=c)
            pb.stepSimulation(physicsClientId=c)
            self.steps += 1
        self.last_torque = tau

    def _apply(self, cmd: tuple) -> None:
        """Make a queued command the active one (position target, or low-level)."""
        if cmd[1] is None:
            self.target = cmd[0]
            self._low = None
        else:
            q, dq, kp, kd, tau = cmd
            scale_kp, scale_kd = self.dynamics["kp_scale"], self.dynamics["kd_scale"]
            self._low = (q, dq, kp * scale_kp, kd * scale_kd, tau)

    def close(self) -> None:
        """Disconnect the physics client (idempotent)."""
        if self.client is not None and pb.isConnected(self.client):
            pb.disconnect(self.client)
        self.client = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown: nothing to do
            self.close()

