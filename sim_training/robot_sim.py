"""A robot spec in PyBullet: loading, dynamics params, the motor model, state read-out.

Motor model (per physics step, ``time_step`` s): joint PD toward the current target,
``tau = kp·kp_scale·(q* − q) − kd·kd_scale·q̇``, clipped to ``±torque_limit·motor_strength``,
minus dry joint friction ``joint_friction·tanh(q̇/0.01)``; applied as joint torques. A new target
takes effect ``latency_s`` after it was commanded (actuator latency).

PyBullet places a body by its centre of mass; every pose in and out of this class is the URDF
base frame (what the motion files and pinocchio use), converted here.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Mapping

import numpy as np
import pybullet as pb
import pybullet_data

from motion_retarget.errors import RobotSpecError
from motion_retarget.robots import RobotSpec
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
        self.latency_steps = 0
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
        for link, (mass, _, inertia) in self._nominal.items():
            scale = d["base_mass_scale"] if link in self.base_links else d["link_mass_scale"]
            pb.changeDynamics(body, link, mass=mass * scale,
                              localInertiaDiagonal=[v * scale * d["inertia_scale"]
                                                    for v in inertia], physicsClientId=c)
        for link in self.foot_ids:
            pb.changeDynamics(body, link, lateralFriction=d["foot_friction"],
                              restitution=d["restitution"], physicsClientId=c)
        pb.changeDynamics(self.plane, -1, lateralFriction=1.0, restitution=d["restitution"],
                          physicsClientId=c)
        slope = pb.getQuaternionFromEuler([0.0, -d["ground_slope_rad"], 0.0])
        pb.resetBasePositionAndOrientation(self.plane, [0, 0, 0], slope, physicsClientId=c)
        self.kp = np.asarray(self.spec.kp) * d["kp_scale"]
        self.kd = np.asarray(self.spec.kd) * d["kd_scale"]
        self.torque_limit = np.asarray(self.spec.torque_limits) * d["motor_strength_scale"]
        self.joint_friction = d["joint_friction"]
        self.latency_steps = round(d["latency_s"] / self.time_step)
        self.dynamics = d

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
    def command(self, target: np.ndarray) -> None:
        """Queue a joint position target (12,) rad with the spec's PD gains (after latency)."""
        self._queue.append((self.steps + self.latency_steps,
                            (np.asarray(target, np.float64), None)))

    def command_low_level(self, q: np.ndarray, dq: np.ndarray, kp: np.ndarray, kd: np.ndarray,
                          tau: np.ndarray) -> None:
        """Queue a Unitree-style motor command; it acts after the latency.

        Per joint the motor applies ``tau + kp·kp_scale·(q − q_meas) + kd·kd_scale·(dq −
        dq_meas)``, torque-limited.
        """
        arrays = tuple(np.asarray(a, np.float64) for a in (q, dq, kp, kd, tau))
        self._queue.append((self.steps + self.latency_steps, arrays))

    def step(self, substeps: int) -> None:
        """Advance ``substeps`` physics steps with the PD motor model."""
        c, body, ids = self.client, self.body, self.motor_ids
        limit, fric = self.torque_limit, self.joint_friction
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
            tau = np.minimum(np.maximum(raw, -limit), limit)
            if fric:
                tau -= fric * np.tanh(dq * 100.0)
            pb.setJointMotorControlArray(body, ids, pb.TORQUE_CONTROL, forces=tau.tolist(),
                                         physicsClientId=c)
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

