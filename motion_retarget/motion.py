"""Reference motions: the :class:`Motion` type, its validation and what follows from its frames.

A *frame* (19,) is the root position xyz (m, world frame, z up), the root quaternion xyzw
(world from URDF base link; for Laikago it includes the URDF's built-in base rotation), then 12
joint angles (rad) in the order FR, FL, RR, RL, each (abduction, hip, knee). Frame ``k`` is at
time ``k * frame_duration`` seconds, so a motion of N frames lasts ``(N - 1) * frame_duration``.
:func:`frames_problem` is the one check of frames (every :class:`Motion` runs it once).

With ``loop_mode`` "Wrap" a motion repeats; each completed cycle is moved by the net
horizontal root displacement (``enable_cycle_offset_position``) and turned by the net heading
change (``enable_cycle_offset_rotation``): :func:`cycle_offset`. The reference velocities are
central differences (:func:`root_linear_velocity`, :func:`root_angular_velocity`,
:func:`joint_velocity`); :mod:`motion_retarget.sampler` samples pose and velocities at any
time, and :mod:`motion_retarget.motion_file` reads and writes the motion_imitation JSON files.

Quaternion signs are kept as given (``q`` and ``-q`` are the same rotation; the reference files
do flip sign between consecutive frames); every helper here is sign-agnostic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from quadmimic.core.errors import MotionFormatError
from quadmimic.core.geometry import quat_conj, quat_mul, quat_rotvec

FRAME_SIZE = 19
"""Floats per frame: root position (3), root quaternion xyzw (4), joint angles (12)."""
NUM_JOINTS = 12
"""Joint angles per frame, FR, FL, RR, RL x (abduction, hip, knee)."""
LOOP_MODES = ("Wrap", "Clamp")
"""Valid ``LoopMode`` values (case-sensitive, as in motion_imitation)."""
QUAT_NORM_TOLERANCE = 1e-2
"""How far a stored quaternion's norm may be from 1 before the motion is rejected."""

_POS = slice(0, 3)
_QUAT = slice(3, 7)
_JOINTS = slice(7, FRAME_SIZE)


def frames_problem(frames: np.ndarray) -> tuple[str, int | None, int | None] | None:
    """What is wrong with a frame array, if anything: the one check of a motion's frames.

    Args:
        frames: (N, 19) candidate frames.

    Returns:
        None if valid, else (reason, offending frame index or None, offending value index
        within that frame or None).
    """
    if frames.ndim != 2 or frames.shape[1] != FRAME_SIZE:
        return f"frames must have shape (N, {FRAME_SIZE}), got {frames.shape}", None, None
    if frames.shape[0] < 1:
        return "a motion needs at least one frame", None, None
    bad = ~np.isfinite(frames)
    if bad.any():
        k, j = (int(i) for i in np.argwhere(bad)[0])
        return f"frame {k}, value {j}: not finite ({frames[k, j]})", k, j
    norms = np.linalg.norm(frames[:, _QUAT], axis=1)
    off = np.abs(norms - 1.0) > QUAT_NORM_TOLERANCE
    if off.any():
        k = int(np.argmax(off))
        return (
            f"frame {k}: root quaternion norm is {norms[k]:.6g}, not 1 "
            f"(tolerance {QUAT_NORM_TOLERANCE})"
        ), k, None
    return None


@dataclass(frozen=True, eq=False)
class Motion:
    """A reference motion: N frames sampled every ``frame_duration`` seconds.

    Construction validates and copies: ``frames`` is stored as a new read-only float64 array
    whose root quaternions are normalised. Two motions compare equal (``==``) when every field
    is exactly equal.

    Attributes:
        frames: (N, 19) float64, N >= 1: root position xyz (m, world, z up), root quaternion
            xyzw, 12 joint angles (rad) FR, FL, RR, RL x (abduction, hip, knee). Read-only.
        frame_duration: Seconds between consecutive frames (finite, > 0).
        loop_mode: "Wrap" (the motion repeats) or "Clamp" (it holds its last frame).
        enable_cycle_offset_position: Wrap only: each cycle is shifted by the horizontal root
            displacement of one cycle.
        enable_cycle_offset_rotation: Wrap only: each cycle is turned (about z) by the heading
            change of one cycle.

    Raises:
        MotionFormatError: (with no path) if any field is invalid.
    """

    frames: np.ndarray
    frame_duration: float
    loop_mode: str
    enable_cycle_offset_position: bool = True
    enable_cycle_offset_rotation: bool = False

    def __post_init__(self) -> None:
        try:
            frames = np.array(self.frames, dtype=np.float64)  # always a copy
        except (TypeError, ValueError) as exc:
            raise MotionFormatError(f"frames are not a numeric array: {exc}") from exc
        problem = frames_problem(frames)
        if problem is not None:
            raise MotionFormatError(problem[0])
        frames[:, _QUAT] /= np.linalg.norm(frames[:, _QUAT], axis=1, keepdims=True)
        frames.flags.writeable = False

        fd = self.frame_duration
        if isinstance(fd, bool) or not isinstance(fd, (int, float, np.integer, np.floating)):
            raise MotionFormatError(f"frame_duration must be a number, got {fd!r}")
        fd = float(fd)
        if not (math.isfinite(fd) and fd > 0.0):
            raise MotionFormatError(f"frame_duration must be finite and > 0, got {fd!r}")
        if not isinstance(self.loop_mode, str) or self.loop_mode not in LOOP_MODES:
            raise MotionFormatError(
                f"loop_mode must be one of {', '.join(LOOP_MODES)}, got {self.loop_mode!r}"
            )
        flags = {}
        for name in ("enable_cycle_offset_position", "enable_cycle_offset_rotation"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise MotionFormatError(f"{name} must be a bool, got {value!r}")
            flags[name] = bool(value)

        object.__setattr__(self, "frames", frames)
        object.__setattr__(self, "frame_duration", fd)
        for name, value in flags.items():
            object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Motion):
            return NotImplemented
        return (
            self.frame_duration == other.frame_duration
            and self.loop_mode == other.loop_mode
            and self.enable_cycle_offset_position == other.enable_cycle_offset_position
            and self.enable_cycle_offset_rotation == other.enable_cycle_offset_rotation
            and np.array_equal(self.frames, other.frames)
        )

    def __repr__(self) -> str:
        return (
            f"Motion(num_frames={self.num_frames}, frame_duration={self.frame_duration!r}, "
            f"loop_mode={self.loop_mode!r}, "
            f"enable_cycle_offset_position={self.enable_cycle_offset_position}, "
            f"enable_cycle_offset_rotation={self.enable_cycle_offset_rotation})"
        )

    @property
    def num_frames(self) -> int:
        """Number of frames N."""
        return int(self.frames.shape[0])

    @property
    def duration(self) -> float:
        """Length of one cycle in seconds: ``(N - 1) * frame_duration`` (0 for one frame)."""
        return (self.num_frames - 1) * self.frame_duration

    @property
    def fps(self) -> float:
        """Frames per second, ``1 / frame_duration``."""
        return 1.0 / self.frame_duration

    @property
    def root_pos(self) -> np.ndarray:
        """(N, 3) root positions (m, world frame, z up); read-only view."""
        return self.frames[:, _POS]

    @property
    def root_quat(self) -> np.ndarray:
        """(N, 4) unit root quaternions xyzw (world from base); read-only view."""
        return self.frames[:, _QUAT]

    @property
    def joints(self) -> np.ndarray:
        """(N, 12) joint angles (rad), FR, FL, RR, RL x (abduction, hip, knee); read-only view."""
        return self.frames[:, _JOINTS]

    @property
    def times(self) -> np.ndarray:
        """(N,) time of each frame (s), ``k * frame_duration``."""
        return np.arange(self.num_frames) * self.frame_duration


def window(motion: Motion, start_s: float, end_s: float) -> Motion:
    """The frames whose time t satisfies ``start_s <= t <= end_s`` (1e-9 s tolerance).

    Frames are not interpolated or moved: the result's frame 0 is the first selected frame
    (its time becomes 0); positions stay in the same world frame. Loop mode and flags are kept.

    Args:
        motion: The source motion.
        start_s: Window start (s).
        end_s: Window end (s), >= ``start_s``.

    Returns:
        The windowed motion.

    Raises:
        MotionFormatError: If the bounds are not finite, ``end_s < start_s``, or no frame falls
            inside the window.
    """
    start, end = float(start_s), float(end_s)
    if not (math.isfinite(start) and math.isfinite(end)) or end < start:
        raise MotionFormatError(f"invalid time window [{start_s}, {end_s}] s")
    times = motion.times
    keep = (times >= start - 1e-9) & (times <= end + 1e-9)
    if not keep.any():
        raise MotionFormatError(
            f"time window [{start}, {end}] s contains no frame "
            f"(motion has frames at 0 .. {motion.duration:.6g} s)"
        )
    return Motion(
        motion.frames[keep],
        motion.frame_duration,
        motion.loop_mode,
        motion.enable_cycle_offset_position,
        motion.enable_cycle_offset_rotation,
    )


def _spans(n: int, dt: float) -> np.ndarray:
    """(n,) time spans (s) of the central differences: 2 dt inside, dt at the two ends."""
    span = np.full(n, 2.0 * dt)
    span[0] = span[-1] = dt
    return span


def _central_difference(values: np.ndarray, dt: float) -> np.ndarray:
    """Rates (N, W) of per-frame ``values`` (N, W): central inside, one-sided at the ends."""
    if len(values) == 1:
        return np.zeros(values.shape)
    return np.gradient(values, dt, axis=0)


def root_linear_velocity(motion: Motion) -> np.ndarray:
    """Root linear velocity at each frame, by central differences.

    This is the one definition of the reference's root velocity (the training env, the
    deployment controller and adaptation all read it through
    :class:`~motion_retarget.sampler.MotionSampler`).
    Central differences are second-order accurate at the frame times; forward differences,
    which this function computed before the samplers were merged, lag half a frame.

    Args:
        motion: The motion.

    Returns:
        (N, 3) velocity (m/s, world frame): row k is ``(p[k+1] - p[k-1]) / (2 dt)`` inside,
        ``(p[1] - p[0]) / dt`` and ``(p[N-1] - p[N-2]) / dt`` at the ends (``dt`` =
        ``frame_duration``); zeros for a one-frame motion.
    """
    return _central_difference(motion.root_pos, motion.frame_duration)


def root_angular_velocity(motion: Motion) -> np.ndarray:
    """Root angular velocity at each frame, by central differences of the root rotation.

    Args:
        motion: The motion.

    Returns:
        (N, 3) angular velocity (rad/s, world frame): row k is the rotation vector of
        ``R[k+1] R[k-1]^-1`` (the shortest way, so quaternion sign flips do not matter)
        divided by ``2 dt`` inside, of ``R[1] R[0]^-1`` and ``R[N-1] R[N-2]^-1`` divided by
        ``dt`` at the ends; exact for a constant rate; zeros for a one-frame motion. The same
        for any constant base rotation ``R[k] C`` (Laikago's URDF offset, the body frame).
        (The env's own estimate before the samplers were merged, the skew part of
        ``(R[k+1] - R[k-1]) R[k]^T / (2 dt)``, reads ``sin(w dt) / dt`` for a rate ``w``: 3 %
        low, 0.30 rad/s, at the 10 rad/s turn of the shipped hopturn clip.)
    """
    n = motion.num_frames
    if n == 1:
        return np.zeros((1, 3))
    q = motion.root_quat
    nxt = q[np.r_[1:n, n - 1]]
    prv = q[np.r_[0, 0 : n - 1]]
    return quat_rotvec(quat_mul(nxt, quat_conj(prv))) / _spans(n, motion.frame_duration)[:, None]


def joint_velocity(motion: Motion) -> np.ndarray:
    """Joint velocities at each frame, by central differences (as :func:`root_linear_velocity`).

    Args:
        motion: The motion.

    Returns:
        (N, 12) joint velocities (rad/s), same order as :attr:`Motion.joints`; one-sided at
        the first and last frame; zeros for a one-frame motion.
    """
    return _central_difference(motion.joints, motion.frame_duration)


def heading_change(q_from: np.ndarray, q_to: np.ndarray) -> float:
    """Heading change (rad, about world z, in (-pi, pi]) from one root orientation to another.

    It is the heading of the relative rotation ``R_to * R_from^-1``: the yaw of that rotation's
    image of the x axis, projected on the ground plane (motion_imitation's
    ``calc_heading(quaternion_multiply(rot_end, conjugate(rot_start)))``). Because it uses
    only the relative rotation, a constant built-in base rotation (Laikago's URDF) cancels out.

    Args:
        q_from: (4,) xyzw start orientation (world from base).
        q_to: (4,) xyzw end orientation.

    Returns:
        The heading change in radians (0.0 if the image of x is vertical).
    """
    x, y, z, w = quat_mul(np.asarray(q_to, float), quat_conj(np.asarray(q_from, float)))
    scale = x * x + y * y + z * z + w * w  # the image of x, unnormalised by |q|^2
    hx = w * w + x * x - y * y - z * z
    hy = 2.0 * (x * y + w * z)
    if math.hypot(hx, hy) < 1e-12 * scale:
        return 0.0
    return float(math.atan2(hy, hx))


def cycle_offset(motion: Motion) -> tuple[np.ndarray, float]:
    """Net change of the root over one cycle (first to last frame), as used when wrapping.

    Args:
        motion: The motion.

    Returns:
        ``(position, heading)``: position (3,) (m, world frame) is the horizontal root
        displacement ``p[-1] - p[0]`` with z = 0 if ``enable_cycle_offset_position``, else
        zeros; heading (rad, about z) is :func:`heading_change` from the first to the last
        root orientation if ``enable_cycle_offset_rotation``, else 0.0.
    """
    position = np.zeros(3)
    if motion.enable_cycle_offset_position:
        position[:2] = motion.root_pos[-1, :2] - motion.root_pos[0, :2]
    heading = 0.0
    if motion.enable_cycle_offset_rotation:
        heading = heading_change(motion.root_quat[0], motion.root_quat[-1])
    return position, heading


__all__ = ["FRAME_SIZE", "LOOP_MODES", "NUM_JOINTS", "QUAT_NORM_TOLERANCE", "Motion",
           "cycle_offset", "frames_problem", "heading_change", "joint_velocity",
           "root_angular_velocity", "root_linear_velocity", "window"]
