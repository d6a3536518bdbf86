"""Pinocchio model of a robot spec: floating base + 12 joints, foot frames, index maps.

Configuration ``q`` (19,) is pinocchio's: base position xyz (m), base quaternion xyzw (the URDF
base frame, world from base), then joint angles in the URDF's own order. A motion *frame* (19,)
is the same root, then the 12 joints in project order (FR, FL, RR, RL); :meth:`RobotModel.q_of`
and :meth:`RobotModel.frame_of` convert. Tangent vectors ``v`` (18,) are pinocchio's: base
linear and angular velocity in the base frame, then joint velocities.
"""

from __future__ import annotations

import functools

import numpy as np
import pinocchio as pin

from quadmimic.core.errors import RobotSpecError
from quadmimic.core.robots import RobotSpec, get_robot


class RobotModel:
    """Kinematic model of one robot, built from its spec with pinocchio.

    Attributes:
        spec: The robot spec.
        model: pinocchio model with a free-flyer root joint.
        data: pinocchio data (scratch; not thread-safe).
        q_idx: (12,) indices in ``q`` of the joints, project order.
        v_idx: (12,) indices in ``v`` of the joints, project order.
        foot_ids: (4,) pinocchio frame ids of the feet, FR, FL, RR, RL.
        hip_anchors: (4, 3) position (m) in the body frame (x forward, z up) of each leg's hip
            flexion joint at zero abduction: where a leg's reach is measured from.
        base_offset: (3, 3) rotation of the URDF base frame in the body frame.
    """

    def __init__(self, spec: RobotSpec):
        self.spec = spec
        try:
            self.model = pin.buildModelFromUrdf(str(spec.urdf_path), pin.JointModelFreeFlyer())
        except (RuntimeError, ValueError) as exc:
            raise RobotSpecError(f"robot {spec.name!r}: pinocchio cannot load URDF: {exc}") from exc
        self.data = self.model.createData()
        q_idx, v_idx, joint_ids = [], [], []
        for name in spec.joint_names:
            if not self.model.existJointName(name):
                raise RobotSpecError(f"robot {spec.name!r}: URDF has no joint {name!r}")
            jid = self.model.getJointId(name)
            joint_ids.append(jid)
            q_idx.append(self.model.joints[jid].idx_q)
            v_idx.append(self.model.joints[jid].idx_v)
        self.q_idx = np.array(q_idx)
        self.v_idx = np.array(v_idx)
        self.joint_ids = np.array(joint_ids)
        feet = []
        for link in spec.foot_links:
            if not self.model.existFrame(link):
                raise RobotSpecError(f"robot {spec.name!r}: URDF has no foot link {link!r}")
            feet.append(self.model.getFrameId(link))
        self.foot_ids = np.array(feet)
        # Knee = the origin of each leg's third joint (the shank's frame).
        self.knee_ids = np.array([self.model.getFrameId(spec.joint_names[3 * leg + 2])
                                  for leg in range(4)])
        x, y, z, w = spec.base_rotation_offset
        self.base_offset = pin.Quaternion(w, x, y, z).toRotationMatrix()
        # Hip flexion joint origin at q = 0 (base frame), turned into the body frame.
        pin.forwardKinematics(self.model, self.data, pin.neutral(self.model))
        anchors = [self.data.oMi[int(joint_ids[3 * leg + 1])].translation for leg in range(4)]
        self.hip_anchors = (self.base_offset @ np.array(anchors).T).T

    # ----------------------------------------------------------------- conversions
    def q_of(self, frame: np.ndarray) -> np.ndarray:
        """Pinocchio configuration (19,) of a motion frame (19,)."""
        q = np.empty(self.model.nq)
        q[:7] = frame[:7]
        q[self.q_idx] = frame[7:19]
        return q

    def frame_of(self, q: np.ndarray) -> np.ndarray:
        """Motion frame (19,) of a pinocchio configuration (19,)."""
        frame = np.empty(19)
        frame[:7] = q[:7]
        frame[7:] = q[self.q_idx]
        return frame

    def body_quat_to_base(self, body_rotation: np.ndarray) -> np.ndarray:
        """Quaternion xyzw of the URDF base for a body orientation (3, 3) (x fwd, z up)."""
        quat = pin.Quaternion(body_rotation @ self.base_offset)
        quat.normalize()
        return quat.coeffs().copy()

    def body_rotations(self, base_quats: np.ndarray) -> np.ndarray:
        """Body orientations (T, 3, 3) (x fwd, z up) of URDF base quaternions (T, 4) xyzw.

        The inverse of :meth:`body_quat_to_base`: ``R_body = R_base · offset^T``.
        """
        q = np.asarray(base_quats, dtype=np.float64).reshape(-1, 4)
        return np.array([pin.Quaternion(w, x, y, z).normalized().toRotationMatrix()
                         for x, y, z, w in q]) @ self.base_offset.T

    # ----------------------------------------------------------------- kinematics
    def foot_positions(self, q: np.ndarray) -> np.ndarray:
        """World positions (4, 3) m of the foot centres, FR, FL, RR, RL, for configuration q."""
        pin.framesForwardKinematics(self.model, self.data, q)
        return np.array([self.data.oMf[int(f)].translation for f in self.foot_ids])

    def feet_of_frames(self, frames: np.ndarray) -> np.ndarray:
        """Foot centre positions (N, 4, 3) m for motion frames (N, 19)."""
        return np.array([self.foot_positions(self.q_of(f)) for f in frames])

    def standing_q(self) -> np.ndarray:
        """Configuration at the default pose, body level, feet centres at foot_radius height."""
        frame = np.zeros(19)
        frame[3:7] = self.body_quat_to_base(np.eye(3))
        frame[7:] = self.spec.default
        q = self.q_of(frame)
        q[2] = self.spec.foot_radius - self.foot_positions(q)[:, 2].mean()
        return q


@functools.cache
def robot_model(name: str) -> RobotModel:
    """Cached :class:`RobotModel` of the robot called ``name``."""
    return RobotModel(get_robot(name))
