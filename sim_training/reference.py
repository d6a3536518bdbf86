"""The reference motion as the env queries it: O(1) lookups at any time, loops included.

Everything the observation and the reward need per frame is precomputed once per motion
(foot positions by pinocchio forward kinematics, velocities by finite differences), so an env
step only interpolates between two frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from motion_retarget.kinematics import RobotModel
from motion_retarget.motion import Motion
from sim_training.geometry import matrix_to_quat, quat_to_matrix, yaw_matrix, yaw_of


@dataclass(slots=True)
class RefState:
    """The reference at one instant (world frame, z up).

    Attributes:
        root_pos: (3,) base position (m).
        root_rot: (3, 3) body orientation (x forward, z up; the URDF base offset removed).
        joints: (12,) joint angles (rad), project order.
        joint_vel: (12,) joint speeds (rad/s).
        root_lin_vel: (3,) base linear velocity (m/s), world frame.
        root_ang_vel: (3,) base angular velocity (rad/s), world frame.
        feet_local: (4, 3) foot centres relative to the base, in the heading frame (m).
    """

    root_pos: np.ndarray
    root_rot: np.ndarray
    joints: np.ndarray
    joint_vel: np.ndarray
    root_lin_vel: np.ndarray
    root_ang_vel: np.ndarray
    feet_local: np.ndarray


class ReferenceMotion:
    """A motion with precomputed per-frame quantities, queried by time.

    Wrap motions repeat forever; each completed cycle adds the cycle offset (horizontal
    displacement, and heading change if ``enable_cycle_offset_rotation``), as in the
    motion_imitation format. Clamp motions hold their last frame.

    Args:
        motion: The motion file's content.
        robot: Kinematic model of the robot the motion is for.
    """

    def __init__(self, motion: Motion, robot: RobotModel) -> None:
        self.motion = motion
        frames = np.asarray(motion.frames, dtype=np.float64)
        self.num_frames = len(frames)
        self.dt = float(motion.frame_duration)
        self.duration = self.dt * (self.num_frames - 1)
        self.wrap = motion.loop_mode == "Wrap" and self.num_frames > 1
        self.pos = frames[:, :3].copy()
        base_rot = quat_to_matrix(frames[:, 3:7])
        self.rot = base_rot @ robot.base_offset.T  # body frame (x forward, z up)
        quats = np.array([matrix_to_quat(r) for r in self.rot])
        signs = np.sign(np.sum(quats[1:] * quats[:-1], axis=1))  # keep neighbours close
        self.quat = quats * np.r_[1.0, np.cumprod(np.where(signs == 0, 1.0, signs))][:, None]
        self.joints = frames[:, 7:].copy()
        self.yaw = np.unwrap(yaw_of(self.rot))
        feet = robot.feet_of_frames(frames)
        rel = feet - self.pos[:, None, :]
        heading = yaw_matrix(self.yaw)  # (N, 3, 3)
        self.feet_local = np.einsum("nji,nfj->nfi", heading, rel)
        if self.num_frames > 1:
            self.joint_vel = np.gradient(self.joints, self.dt, axis=0)
            self.lin_vel = np.gradient(self.pos, self.dt, axis=0)
            self.ang_vel = self._angular_velocity()
        else:
            self.joint_vel = np.zeros_like(self.joints)
            self.lin_vel = np.zeros_like(self.pos)
            self.ang_vel = np.zeros_like(self.pos)
        offset_on = motion.enable_cycle_offset_position and self.wrap
        self.cycle_shift = (self.pos[-1] - self.pos[0]) * [1.0, 1.0, 0.0] if offset_on else (
            np.zeros(3))
        self.cycle_yaw = (float(self.yaw[-1] - self.yaw[0])
                          if motion.enable_cycle_offset_rotation and self.wrap else 0.0)
        # One packed row per frame, so a lookup interpolates once: pos 0:3, quat 3:7,
        # joints 7:19, joint_vel 19:31, lin_vel 31:34, ang_vel 34:37, feet_local 37:49.
        self._packed = np.concatenate([self.pos, self.quat, self.joints, self.joint_vel,
                                       self.lin_vel, self.ang_vel,
                                       self.feet_local.reshape(-1, 12)], axis=1)

    def _angular_velocity(self) -> np.ndarray:
        """World angular velocity (N, 3) by central differences of the body rotations."""
        r = self.rot
        nxt = np.concatenate([r[1:], r[-1:]])
        prv = np.concatenate([r[:1], r[:-1]])
        span = np.full(len(r), 2.0 * self.dt)
        span[0] = span[-1] = self.dt
        # ω^ ≈ (R_next − R_prev) R^T / span, take the skew part.
        w = (nxt - prv) @ np.swapaxes(r, -1, -2) / span[:, None, None]
        return 0.5 * np.stack([w[:, 2, 1] - w[:, 1, 2], w[:, 0, 2] - w[:, 2, 0],
                               w[:, 1, 0] - w[:, 0, 1]], axis=-1)

    def cycle_and_phase(self, t: float) -> tuple[int, float]:
        """Completed cycles and time within the cycle (s) at time ``t`` (s)."""
        if not self.wrap:
            return 0, float(np.clip(t, 0.0, self.duration))
        cycles = int(np.floor(t / self.duration))
        return cycles, t - cycles * self.duration

    def state(self, t: float) -> RefState:
        """The reference at time ``t`` (s), interpolated between frames, loops included.

        Runs in the env's inner loop (six calls per env step), hence the scalar code: about
        15 µs a call against 200 µs with generic vectorised helpers.
        """
        cycles, phase = self.cycle_and_phase(t)
        last = self.num_frames - 1
        if last == 0:
            i, j, a = 0, 0, 0.0
        else:
            x = phase / self.dt
            i = min(int(x), last - 1)
            j, a = i + 1, x - i
        row = (1.0 - a) * self._packed[i] + a * self._packed[j]
        pos, lin, ang = row[0:3], row[31:34], row[34:37]
        qx, qy, qz, qw = row[3:7].tolist()
        n = 1.0 / math.sqrt(qx * qx + qy * qy + qz * qz + qw * qw)
        qx, qy, qz, qw = qx * n, qy * n, qz * n, qw * n
        rot = np.array([
            [1 - 2 * (qy * qy + qz * qz), 2 * (qx * qy - qw * qz), 2 * (qx * qz + qw * qy)],
            [2 * (qx * qy + qw * qz), 1 - 2 * (qx * qx + qz * qz), 2 * (qy * qz - qw * qx)],
            [2 * (qx * qz - qw * qy), 2 * (qy * qz + qw * qx), 1 - 2 * (qx * qx + qy * qy)]])
        if cycles:
            if self.cycle_yaw == 0.0:
                pos = pos + cycles * self.cycle_shift
            else:
                turn = yaw_matrix(cycles * self.cycle_yaw)
                pos = turn @ (pos - self.pos[0]) + self.pos[0]
                # Cycle k starts where cycle k-1 ended, each shift turned by the turns so far.
                pos = pos + sum(yaw_matrix(k * self.cycle_yaw) @ self.cycle_shift
                                for k in range(cycles))
                rot = turn @ rot
                lin, ang = turn @ lin, turn @ ang
        return RefState(pos, rot, row[7:19], row[19:31], lin, ang, row[37:49].reshape(4, 3))
