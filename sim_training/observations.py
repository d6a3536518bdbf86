"""The policy's observation, built the same way in training (env) and on a robot (deploy).

Layout of the flat ``obs`` vector (float32), for ``history`` H and ``future_steps`` F:

1. H proprioception frames, newest first, each 28 values:
   roll, pitch (rad); roll rate, pitch rate (rad/s, body frame); 12 joint angles (rad,
   project order); 12 previous actions (the policy's raw outputs, unitless).
2. For each k in F, the reference k policy steps ahead, 18 values:
   root displacement from the reference's *current* root, in its current heading frame (m,
   3); heading change (rad, 1); roll, pitch (rad, 2); 12 joint angles (rad). With heading
   feedback (``EnvConfig.heading_feedback``) the heading frame and the heading change are
   the robot's (IMU yaw) instead of the reference's: the robot sees how far it has turned
   away from the reference.
3. A steerable policy only (``EnvConfig.commands.enabled``), 3 values: the command, forward
   speed (m/s), lateral speed (m/s, left positive), yaw rate (rad/s), robot heading frame
   (:mod:`sim_training.commands`). Last, so a policy trained without it is widened by zero
   weights for these inputs (``sim_training.train.widen_command_inputs``).

Everything in it is measurable on hardware (IMU, encoders) or known from the motion: no
global position is needed. The dynamics parameters are a separate key (``dynamics``) that
only the encoder reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim_training.reference import RefState

PROPRIO_SIZE = 28
"""Values per proprioception frame."""
FUTURE_SIZE = 18
"""Values per future reference frame."""
COMMAND_SIZE = 3
"""Values of the command block (steerable policies)."""


def observation_size(history: int, future_steps: tuple[int, ...],
                     commands: bool = False) -> int:
    """Length of the ``obs`` vector (``commands``: with the command block)."""
    return (history * PROPRIO_SIZE + len(future_steps) * FUTURE_SIZE
            + (COMMAND_SIZE if commands else 0))


def observation_layout(history: int, future_steps: tuple[int, ...],
                       commands: bool = False) -> list[tuple[str, int, str]]:
    """(name, size, unit) of each block of the ``obs`` vector, in order."""
    out: list[tuple[str, int, str]] = []
    for h in range(history):
        out += [(f"proprio[-{h}].roll_pitch", 2, "rad"),
                (f"proprio[-{h}].roll_pitch_rate", 2, "rad/s"),
                (f"proprio[-{h}].joints", 12, "rad"),
                (f"proprio[-{h}].previous_action", 12, "1")]
    for k in future_steps:
        out += [(f"ref[+{k}].root_displacement", 3, "m"), (f"ref[+{k}].heading_change", 1, "rad"),
                (f"ref[+{k}].roll_pitch", 2, "rad"), (f"ref[+{k}].joints", 12, "rad")]
    if commands:
        out += [("command.forward_speed", 1, "m/s"), ("command.lateral_speed", 1, "m/s"),
                ("command.yaw_rate", 1, "rad/s")]
    return out


def proprio_frame(roll_pitch: np.ndarray, gyro: np.ndarray, joints: np.ndarray,
                  previous_action: np.ndarray) -> np.ndarray:
    """One proprioception frame (28,) from IMU (roll/pitch, body gyro), joints and action."""
    return np.concatenate([roll_pitch, gyro[:2], joints, previous_action])


def future_frames(now: RefState, future: list[RefState],
                  heading_error: float = 0.0) -> np.ndarray:
    """Future reference frames (len(future) × 18,) relative to the current reference root.

    Args:
        now: The reference now.
        future: The reference at each future step.
        heading_error: The reference's heading now minus the robot's (rad). Displacements and
            heading changes are then expressed in the robot's heading frame, so a robot that
            turned away from the reference sees it (0: the reference's own heading frame).
    """
    r = now.root_rot
    yaw_now = math.atan2(r[1, 0], r[0, 0]) - heading_error
    c, s = math.cos(yaw_now), math.sin(yaw_now)
    out = np.empty(len(future) * FUTURE_SIZE)
    px, py, pz = now.root_pos.tolist()
    for k, ref in enumerate(future):
        x, y, z = ref.root_pos.tolist()
        (r00, _, _), (r10, _, _), (r20, r21, r22) = ref.root_rot.tolist()
        dx, dy = x - px, y - py
        o = k * FUTURE_SIZE
        out[o:o + 6] = (c * dx + s * dy, -s * dx + c * dy, z - pz,
                        (math.atan2(r10, r00) - yaw_now + math.pi) % (2 * math.pi) - math.pi,
                        math.atan2(r21, r22), -math.asin(min(1.0, max(-1.0, r20))))
        out[o + 6:o + 18] = ref.joints
    return out


@dataclass
class ObservationBuilder:
    """Keeps the proprioception history and assembles the ``obs`` vector.

    Args:
        history: Proprioception frames kept (newest first in the vector).
        future_steps: Policy steps ahead of each future reference frame.
        commands: The vector ends with the command (a steerable policy).
    """

    history: int
    future_steps: tuple[int, ...]
    commands: bool = False

    def __post_init__(self) -> None:
        """Start with an empty history."""
        self._frames: list[np.ndarray] = []

    @property
    def size(self) -> int:
        """Length of the ``obs`` vector."""
        return observation_size(self.history, self.future_steps, self.commands)

    def reset(self, frame: np.ndarray) -> None:
        """Fill the whole history with one proprioception frame (28,)."""
        self._frames = [frame] * self.history

    def push(self, frame: np.ndarray) -> None:
        """Add the newest proprioception frame (28,)."""
        self._frames = [frame, *self._frames[: self.history - 1]]

    def build(self, now: RefState, future: list[RefState],
              heading_error: float = 0.0, command: np.ndarray | None = None) -> np.ndarray:
        """The ``obs`` vector (size,) float32 from the history and the reference.

        ``heading_error``: see :func:`future_frames`. ``command`` (3,): forward speed (m/s),
        lateral speed (m/s), yaw rate (rad/s), required with ``commands``.
        """
        parts = [*self._frames, future_frames(now, future, heading_error)]
        if self.commands:
            if command is None:
                raise ValueError("a steerable policy's observation needs a command")
            parts.append(np.asarray(command, dtype=np.float64))
        out = np.concatenate(parts).astype(np.float32)
        if out.shape != (self.size,) or not np.all(np.isfinite(out)):
            raise ValueError(f"observation has shape {out.shape} or non-finite values")
        return out
