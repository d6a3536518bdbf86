"""Cut a loopable cycle out of a long motion (``quadmimic retarget … --cycle auto``).

A reference motion loops (``LoopMode: Wrap``): after its last frame the first comes again,
moved by the cycle's displacement and, with ``EnableCycleOffsetRotation``, turned by its heading
change. A long clip (a dog walking, turning, stopping) does not loop as it is; one stride of it
does if its last frame looks like its first. :func:`find_cycle` finds the pair of frames
``a < b`` whose body states agree best (joints, body height, roll and pitch, and the velocities
in the heading frame), with ``b - a`` within the allowed cycle lengths; :func:`cut_cycle` keeps
frames ``a..b``, spreads what is left of the seam over the cycle (so the loop has no jump) and
keeps the heading change of the cycle: a turning stride loops as a turn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from motion_retarget.kinematics import robot_model
from motion_retarget.motion import Motion, heading_change
from quadmimic.core.errors import RetargetError

HEADING_TOLERANCE = 0.05
"""A cycle turning less than this (rad) is written without cycle-offset rotation, so a
straight gait does not slowly circle from round-off in its heading."""


@dataclass(frozen=True)
class Cycle:
    """A loopable cycle of a motion.

    Attributes:
        start: First frame (index into the source motion).
        end: Last frame (inclusive); it plays the role of the next cycle's first frame.
        seconds: Cycle length (s).
        heading_change: Heading change over the cycle (rad, about z).
        seam_error: Root-mean-square difference of the joints between the two frames (rad),
            before it was spread over the cycle.
    """

    start: int
    end: int
    seconds: float
    heading_change: float
    seam_error: float


def _features(motion: Motion, robot: str) -> np.ndarray:
    """(T, F) per-frame state: joints, body height, roll/pitch, heading-frame velocities."""
    r_body = robot_model(robot).body_rotations(motion.root_quat)
    up = r_body[:, 2, :]  # world z in body coordinates: its x and y are pitch and roll
    heading = np.unwrap(np.arctan2(r_body[:, 1, 0], r_body[:, 0, 0]))
    dt = motion.frame_duration
    vel = np.gradient(motion.root_pos[:, :2], dt, axis=0)
    c, s = np.cos(heading), np.sin(heading)
    v_fwd = c * vel[:, 0] + s * vel[:, 1]
    v_lat = -s * vel[:, 0] + c * vel[:, 1]
    yaw_rate = np.gradient(heading, dt)
    # Weights: 1 rad of joint ~ 0.1 m of height ~ 0.5 m/s ~ 2 rad/s of yaw rate.
    return np.column_stack([motion.joints, 10.0 * motion.root_pos[:, 2], up[:, :2],
                            2.0 * v_fwd, 2.0 * v_lat, 0.5 * yaw_rate])


def find_cycle(motion: Motion, robot: str, min_seconds: float = 0.3,
               max_seconds: float = 1.2) -> Cycle:
    """The best loopable cycle of ``motion`` (see the module docstring).

    Args:
        motion: A motion of ``robot``.
        robot: The robot's name (for its body frame).
        min_seconds: Shortest cycle allowed (s).
        max_seconds: Longest cycle allowed (s).

    Returns:
        The cycle whose end state is closest to its start state.

    Raises:
        RetargetError: The motion is shorter than ``min_seconds``.
    """
    dt = motion.frame_duration
    lo = max(2, round(min_seconds / dt))
    hi = round(max_seconds / dt)
    n = motion.num_frames
    if n - 1 < lo:
        raise RetargetError(f"--cycle auto: the motion lasts {motion.duration:.2f} s, shorter "
                            f"than the shortest cycle ({min_seconds:g} s)")
    f = _features(motion, robot)
    best = (np.inf, 0, lo)
    for length in range(lo, min(hi, n - 1) + 1):
        d = np.sum((f[length:] - f[:-length]) ** 2, axis=1)
        a = int(np.argmin(d))
        if d[a] < best[0]:
            best = (float(d[a]), a, a + length)
    _, a, b = best
    seam = float(np.sqrt(np.mean((motion.joints[b] - motion.joints[a]) ** 2)))
    h = heading_change(motion.root_quat[a], motion.root_quat[b])
    return Cycle(start=a, end=b, seconds=(b - a) * dt, heading_change=h, seam_error=seam)


def cut_cycle(motion: Motion, cycle: Cycle, robot: str) -> Motion:
    """Frames ``cycle.start..cycle.end`` as a looping motion that starts at the origin.

    The joints' and the body height's seam (last minus first frame) is removed linearly over
    the cycle, so the last frame has the first frame's joints and height exactly.

    Args:
        motion: The source motion.
        cycle: From :func:`find_cycle`.
        robot: The robot's name (the blended joints stay within its limits).

    Returns:
        A Wrap motion with cycle-offset position, and rotation if the cycle turns by at least
        :data:`HEADING_TOLERANCE`.
    """
    frames = motion.frames[cycle.start: cycle.end + 1].copy()
    ramp = np.linspace(0.0, 1.0, len(frames))[:, None]
    frames[:, 7:] -= ramp * (frames[-1, 7:] - frames[0, 7:])
    frames[:, 2] -= ramp[:, 0] * (frames[-1, 2] - frames[0, 2])
    frames[:, :2] -= frames[0, :2]
    spec = robot_model(robot).spec
    frames[:, 7:] = np.clip(frames[:, 7:], spec.lower, spec.upper)
    return Motion(frames=frames, frame_duration=motion.frame_duration, loop_mode="Wrap",
                  enable_cycle_offset_position=True,
                  enable_cycle_offset_rotation=abs(cycle.heading_change) >= HEADING_TOLERANCE)
