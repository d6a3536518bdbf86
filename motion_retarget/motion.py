"""Reference motions in the motion_imitation JSON format: the :class:`Motion` type, I/O, helpers.

A motion file (as read by ``motion_imitation/utilities/motion_data.py``) is a JSON object::

    {
    "LoopMode": "Wrap",
    "FrameDuration": 0.01667,
    "EnableCycleOffsetPosition": true,
    "EnableCycleOffsetRotation": false,

    "Frames":
    [
      [x, y, z, qx, qy, qz, qw, j0, ..., j11],
      ...
    ]
    }

A *frame* (19,) is the root position xyz (m, world frame, z up), the root quaternion xyzw
(world from URDF base link; for Laikago it includes the URDF's built-in base rotation), then 12
joint angles (rad) in the order FR, FL, RR, RL, each (abduction, hip, knee). Frame ``k`` is at
time ``k * frame_duration`` seconds, so a motion of N frames lasts ``(N - 1) * frame_duration``.

Between frames the root position and the joints are interpolated linearly and the root
quaternion by slerp. With ``LoopMode`` "Wrap" a motion repeats; each completed cycle is moved by
the net horizontal root displacement (``EnableCycleOffsetPosition``) and turned by the net
heading change (``EnableCycleOffsetRotation``), so a walk keeps walking instead of jumping back.

This module holds the one definition of these rules and of the reference velocities (central
differences): :class:`MotionSampler` samples pose and velocities at any time, and every stage
(:func:`frame_at`, :func:`resample`, and ``sim_training.reference.ReferenceMotion``, which the
training env, the deployment controller and adaptation query) samples through it.

Quaternion signs are kept as given (``q`` and ``-q`` are the same rotation; the reference files
do flip sign between consecutive frames); every helper here is sign-agnostic.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motion_retarget.errors import MotionFormatError
from motion_retarget.fileio import atomic_write_text

FRAME_SIZE = 19
"""Floats per frame: root position (3), root quaternion xyzw (4), joint angles (12)."""
NUM_JOINTS = 12
"""Joint angles per frame, FR, FL, RR, RL x (abduction, hip, knee)."""
LOOP_MODES = ("Wrap", "Clamp")
"""Valid ``LoopMode`` values (case-sensitive, as in motion_imitation)."""
QUAT_NORM_TOLERANCE = 1e-2
"""How far a stored quaternion's norm may be from 1 before the motion is rejected."""

KEY_LOOP_MODE = "LoopMode"
KEY_FRAME_DURATION = "FrameDuration"
KEY_CYCLE_OFFSET_POSITION = "EnableCycleOffsetPosition"
KEY_CYCLE_OFFSET_ROTATION = "EnableCycleOffsetRotation"
KEY_FRAMES = "Frames"
KEYS = (
    KEY_LOOP_MODE,
    KEY_FRAME_DURATION,
    KEY_CYCLE_OFFSET_POSITION,
    KEY_CYCLE_OFFSET_ROTATION,
    KEY_FRAMES,
)
"""Top-level keys of a motion file, in the order the reference files (and :func:`save_motion`)
write them."""

_POS = slice(0, 3)
_QUAT = slice(3, 7)
_JOINTS = slice(7, FRAME_SIZE)
_SNAP = 1e-9  # relative tolerance for "this time is exactly on a frame"


# --------------------------------------------------------------------------------------------
# The Motion type
# --------------------------------------------------------------------------------------------


def _frames_problem(frames: np.ndarray) -> tuple[str, int | None] | None:
    """Check a frame array; return (reason, offending frame index or None), or None if valid."""
    if frames.ndim != 2 or frames.shape[1] != FRAME_SIZE:
        return f"frames must have shape (N, {FRAME_SIZE}), got {frames.shape}", None
    if frames.shape[0] < 1:
        return "a motion needs at least one frame", None
    bad = ~np.isfinite(frames)
    if bad.any():
        k, j = (int(i) for i in np.argwhere(bad)[0])
        return f"frame {k}: value {j} is not finite ({frames[k, j]})", k
    norms = np.linalg.norm(frames[:, _QUAT], axis=1)
    off = np.abs(norms - 1.0) > QUAT_NORM_TOLERANCE
    if off.any():
        k = int(np.argmax(off))
        return (
            f"frame {k}: root quaternion norm is {norms[k]:.6g}, not 1 "
            f"(tolerance {QUAT_NORM_TOLERANCE})"
        ), k
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
        problem = _frames_problem(frames)
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


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def _line_of(text: str, pos: int | None) -> int | None:
    """1-based line number of character offset ``pos`` (None passes through)."""
    return None if pos is None else text.count("\n", 0, pos) + 1


def _object_offsets(text: str, pos: int) -> dict[str, int]:
    """Offsets of the values of the JSON object starting at ``pos`` (last duplicate wins)."""
    out: dict[str, int] = {}
    pos = _skip_ws(text, pos) + 1  # past "{"
    while True:
        pos = _skip_ws(text, pos)
        if text[pos] == "}":
            return out
        key, pos = json.decoder.scanstring(text, pos + 1)
        pos = _skip_ws(text, _skip_ws(text, pos) + 1)  # past ":"
        out[key] = pos
        _, pos = _DECODER.raw_decode(text, pos)
        pos = _skip_ws(text, pos)
        if text[pos] == ",":
            pos += 1


def _array_offsets(text: str, pos: int) -> list[int]:
    """Offsets of the elements of the JSON array starting at ``pos``."""
    out: list[int] = []
    pos = _skip_ws(text, pos) + 1  # past "["
    while True:
        pos = _skip_ws(text, pos)
        if text[pos] == "]":
            return out
        out.append(pos)
        _, pos = _DECODER.raw_decode(text, pos)
        pos = _skip_ws(text, pos)
        if text[pos] == ",":
            pos += 1


class _Locator:
    """Finds the line of a key's value, a frame or a frame's value in already-valid JSON text.

    Only used to build error messages; any failure yields None (no line) instead of raising.
    """

    def __init__(self, text: str):
        self._text = text

    def _safe_line(self, find: Callable[[], int]) -> int | None:
        try:
            return _line_of(self._text, find())
        except (ValueError, IndexError, KeyError, StopIteration):
            return None

    def _value_pos(self, key: str) -> int:
        return _object_offsets(self._text, 0)[key]

    def top(self) -> int | None:
        """Line of the first non-blank character."""
        return self._safe_line(lambda: _skip_ws(self._text, 0))

    def key(self, key: str) -> int | None:
        """Line where the value of top-level ``key`` starts."""
        return self._safe_line(lambda: self._value_pos(key))

    def frame(self, k: int, j: int | None = None) -> int | None:
        """Line where frame ``k`` (or its value ``j``) starts."""

        def find() -> int:
            pos = _array_offsets(self._text, self._value_pos(KEY_FRAMES))[k]
            return pos if j is None else _array_offsets(self._text, pos)[j]

        return self._safe_line(find)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_motion(path: str | Path) -> Motion:
    """Read a motion_imitation JSON motion file.

    ``LoopMode``, ``FrameDuration`` and ``Frames`` are required. As in motion_imitation's own
    loader, a missing ``EnableCycleOffsetPosition`` / ``EnableCycleOffsetRotation`` means
    false. Unknown keys are ignored. Positions are taken as stored (motion_imitation's loader
    additionally shifts the clip so frame 0 is at x = y = 0; this function does not).

    Args:
        path: The motion file (UTF-8 JSON, e.g. ``dog_pace.txt``).

    Returns:
        The motion, with normalised root quaternions.

    Raises:
        MotionFormatError: If the file is missing, unreadable, not JSON or not a valid motion.
            The error carries the path and, where it can be located, the 1-based line number.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise MotionFormatError("motion file not found", path) from exc
    except IsADirectoryError as exc:
        raise MotionFormatError("is a directory, not a motion file", path) from exc
    except UnicodeDecodeError as exc:
        raise MotionFormatError(f"not UTF-8 text: {exc.reason}", path) from exc
    except OSError as exc:
        raise MotionFormatError(f"cannot read motion file: {exc.strerror or exc}", path) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MotionFormatError(
            f"not valid JSON: {exc.msg} (column {exc.colno})", path, exc.lineno
        ) from exc
    return _motion_from_json(data, path, _Locator(text))


def _motion_from_json(data: object, path: Path, loc: _Locator) -> Motion:
    """Validate parsed JSON and build the Motion; errors name ``path`` and the line."""

    def fail(reason: str, line: int | None) -> MotionFormatError:
        return MotionFormatError(reason, path, line)

    if not isinstance(data, dict):
        raise fail(f"top level must be a JSON object, got {type(data).__name__}", loc.top())
    for key in (KEY_LOOP_MODE, KEY_FRAME_DURATION, KEY_FRAMES):
        if key not in data:
            raise fail(f'missing key "{key}"', None)

    loop_mode = data[KEY_LOOP_MODE]
    if not isinstance(loop_mode, str) or loop_mode not in LOOP_MODES:
        raise fail(
            f'"{KEY_LOOP_MODE}" must be one of {", ".join(map(json.dumps, LOOP_MODES))}, '
            f"got {json.dumps(loop_mode)}",
            loc.key(KEY_LOOP_MODE),
        )

    frame_duration = data[KEY_FRAME_DURATION]
    if not _is_number(frame_duration):
        raise fail(
            f'"{KEY_FRAME_DURATION}" must be a number, got {json.dumps(frame_duration)}',
            loc.key(KEY_FRAME_DURATION),
        )
    if not (math.isfinite(frame_duration) and frame_duration > 0):
        raise fail(
            f'"{KEY_FRAME_DURATION}" must be finite and > 0, got {frame_duration!r}',
            loc.key(KEY_FRAME_DURATION),
        )

    flags = []
    for key in (KEY_CYCLE_OFFSET_POSITION, KEY_CYCLE_OFFSET_ROTATION):
        value = data.get(key, False)
        if not isinstance(value, bool):
            raise fail(f'"{key}" must be true or false, got {json.dumps(value)}', loc.key(key))
        flags.append(value)

    frames = data[KEY_FRAMES]
    if not isinstance(frames, list):
        raise fail(
            f'"{KEY_FRAMES}" must be a list of frames, got {type(frames).__name__}',
            loc.key(KEY_FRAMES),
        )
    if not frames:
        raise fail(
            f'"{KEY_FRAMES}" is empty: a motion needs at least one frame', loc.key(KEY_FRAMES)
        )
    for k, frame in enumerate(frames):
        if not isinstance(frame, list):
            raise fail(f"frame {k} must be a list of numbers", loc.frame(k))
        if len(frame) != FRAME_SIZE:
            raise fail(
                f"frame {k} has {len(frame)} values, expected {FRAME_SIZE} "
                "(root xyz, root quaternion xyzw, 12 joint angles)",
                loc.frame(k),
            )
        for j, value in enumerate(frame):
            if not _is_number(value):
                raise fail(
                    f"frame {k}, value {j}: not a number: {json.dumps(value)}", loc.frame(k, j)
                )
            if not math.isfinite(value):
                raise fail(f"frame {k}, value {j}: not finite ({value})", loc.frame(k, j))

    array = np.array(frames, dtype=np.float64)
    problem = _frames_problem(array)
    if problem is not None:
        reason, k = problem
        raise fail(reason, None if k is None else loc.frame(k))
    try:
        return Motion(array, float(frame_duration), loop_mode, flags[0], flags[1])
    except MotionFormatError as exc:  # pragma: no cover - everything was checked above
        raise fail(exc.reason, None) from exc


# --------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------


def _number(value: float) -> str:
    """Shortest text that reads back as exactly the same float (valid JSON for finite values)."""
    return repr(float(value))


def motion_to_text(motion: Motion) -> str:
    """The file content :func:`save_motion` writes, laid out like the reference files.

    Keys in the reference order, one frame per line (``  [a, b, ...],``), every float written
    with the shortest representation that reads back exactly.

    Args:
        motion: The motion to format.

    Returns:
        JSON text ending with a newline.
    """
    lines = [
        "{",
        f"{json.dumps(KEY_LOOP_MODE)}: {json.dumps(motion.loop_mode)},",
        f"{json.dumps(KEY_FRAME_DURATION)}: {_number(motion.frame_duration)},",
        f"{json.dumps(KEY_CYCLE_OFFSET_POSITION)}: "
        f"{json.dumps(motion.enable_cycle_offset_position)},",
        f"{json.dumps(KEY_CYCLE_OFFSET_ROTATION)}: "
        f"{json.dumps(motion.enable_cycle_offset_rotation)},",
        "",
        f"{json.dumps(KEY_FRAMES)}:",
        "[",
        ",\n".join("  [" + ", ".join(map(_number, frame)) + "]" for frame in motion.frames),
        "]",
        "}",
        "",
    ]
    return "\n".join(lines)


def save_motion(motion: Motion, path: str | Path) -> Path:
    """Write a motion file atomically (a failed write leaves any existing file untouched).

    ``load_motion(save_motion(m, p)) == m`` up to quaternion renormalisation (<= 1e-15).

    Args:
        motion: The motion to write.
        path: Destination file; its parent folder is created if missing.

    Returns:
        The destination path.

    Raises:
        MotionFormatError: If the file cannot be written (e.g. ``path`` is a directory).
    """
    path = Path(path)
    text = motion_to_text(motion)
    try:
        return atomic_write_text(path, text)
    except OSError as exc:
        raise MotionFormatError(f"cannot write motion file: {exc.strerror or exc}", path) from exc


# --------------------------------------------------------------------------------------------
# Quaternions (xyzw; every helper is sign-agnostic)
# --------------------------------------------------------------------------------------------


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` of xyzw quaternions, broadcasting over leading axes."""
    ax, ay, az, aw = np.moveaxis(a, -1, 0)
    bx, by, bz, bw = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        axis=-1,
    )


def _quat_conj(q: np.ndarray) -> np.ndarray:
    """Conjugate (the inverse, for unit quaternions) of xyzw quaternions (..., 4)."""
    return q * np.array([-1.0, -1.0, -1.0, 1.0])


def _quat_rotvec(q: np.ndarray) -> np.ndarray:
    """Rotation vectors (M, 3) (axis x angle, angle in [0, pi]) of unit quaternions (M, 4).

    ``q`` and ``-q`` give the same vector (the shortest rotation). The angle is
    ``2 atan2(|v|, |w|)``, accurate to rounding for small and large angles alike.
    """
    v = q[:, :3] * np.where(q[:, 3:] < 0.0, -1.0, 1.0)
    w = np.abs(q[:, 3])
    s = np.linalg.norm(v, axis=1)
    angle = 2.0 * np.arctan2(s, w)
    factor = np.where(s > 0.0, angle / np.where(s > 0.0, s, 1.0), 2.0 / np.maximum(w, 1e-300))
    return v * factor[:, None]


# --------------------------------------------------------------------------------------------
# Resampling
# --------------------------------------------------------------------------------------------


def _new_frame_duration_ok(frame_duration: float) -> float:
    try:
        fd = float(frame_duration)
    except (TypeError, ValueError) as exc:
        raise MotionFormatError(f"frame_duration must be a number, got {frame_duration!r}") from exc
    if not (math.isfinite(fd) and fd > 0.0):
        raise MotionFormatError(f"frame_duration must be finite and > 0, got {frame_duration!r}")
    return fd


def resample(motion: Motion, frame_duration: float) -> Motion:
    """Resample a motion at a new frame duration (:class:`MotionSampler`: linear, slerp).

    New frames are at ``k * frame_duration`` for every k with ``k * frame_duration <=
    duration`` (within 1e-6 of a frame, the last one is put exactly on ``duration``): the span
    [0, duration] is kept whenever ``duration`` is a multiple of ``frame_duration``; otherwise a
    tail shorter than one new frame is dropped (and with it a little of the cycle offset). The
    loop mode and cycle-offset flags are kept.

    Args:
        motion: The motion to resample.
        frame_duration: New seconds per frame (> 0).

    Returns:
        The resampled motion.

    Raises:
        MotionFormatError: If ``frame_duration`` is not finite and > 0.
    """
    fd = _new_frame_duration_ok(frame_duration)
    duration = motion.duration
    n = math.floor(duration / fd + 1e-6) + 1
    times = np.minimum(np.arange(n) * fd, duration).tolist()
    sampler = MotionSampler(motion)
    frames = np.array([sampler.at_phase(t)[:FRAME_SIZE] for t in times])
    return Motion(
        frames,
        fd,
        motion.loop_mode,
        motion.enable_cycle_offset_position,
        motion.enable_cycle_offset_rotation,
    )


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


# --------------------------------------------------------------------------------------------
# Velocities
# --------------------------------------------------------------------------------------------


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
    deployment controller and adaptation all read it through :class:`MotionSampler`).
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
    return _quat_rotvec(_quat_mul(nxt, _quat_conj(prv))) / _spans(n, motion.frame_duration)[:, None]


def joint_velocity(motion: Motion) -> np.ndarray:
    """Joint velocities at each frame, by central differences (as :func:`root_linear_velocity`).

    Args:
        motion: The motion.

    Returns:
        (N, 12) joint velocities (rad/s), same order as :attr:`Motion.joints`; one-sided at
        the first and last frame; zeros for a one-frame motion.
    """
    return _central_difference(motion.joints, motion.frame_duration)


# --------------------------------------------------------------------------------------------
# Looping
# --------------------------------------------------------------------------------------------


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
    x, y, z, w = _quat_mul(np.asarray(q_to, float), _quat_conj(np.asarray(q_from, float)))
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


# --------------------------------------------------------------------------------------------
# Sampling: the one sampler of a motion at any time
# --------------------------------------------------------------------------------------------

ROW_POS = slice(0, 3)
"""Sample row columns of the root position xyz (m, world frame)."""
ROW_QUAT = slice(3, 7)
"""Sample row columns of the root quaternion xyzw."""
ROW_JOINTS = slice(7, 19)
"""Sample row columns of the 12 joint angles (rad)."""
ROW_JOINT_VEL = slice(19, 31)
"""Sample row columns of the 12 joint velocities (rad/s)."""
ROW_LIN_VEL = slice(31, 34)
"""Sample row columns of the root linear velocity (m/s, world frame)."""
ROW_ANG_VEL = slice(34, 37)
"""Sample row columns of the root angular velocity (rad/s, world frame)."""
ROW_SIZE = 37
"""Sample row columns before the caller's extra columns (which start here)."""


class MotionSampler:
    """The motion at any time: pose and velocities, interpolated between frames, loops included.

    This is the one implementation of sampling a reference motion: :func:`frame_at` and
    :func:`resample` use it, and so does ``sim_training.reference.ReferenceMotion``, which the
    training env, the deployment controller and adaptation query.

    A sample is a row: root position (3), root quaternion xyzw (4), joints (12) (a motion
    frame's 19 values), then joint velocities (12), root linear velocity (3) and root angular
    velocity (3) (:func:`joint_velocity`, :func:`root_linear_velocity`,
    :func:`root_angular_velocity` at the frames), then the caller's ``extra`` columns. Between
    frames k and k+1, at fraction u, the root quaternion is slerped along the shorter arc (its
    sign follows frame k for u < 0.5 and frame k+1 otherwise) and every other column is
    interpolated linearly; a time within 1e-9 (relative) of a frame gives that frame's row
    exactly.

    Time is mapped to (cycles, phase) by :meth:`cycle_and_phase`. Clamp motions (and one-frame
    motions) hold their first / last frame outside [0, duration]. Wrap motions repeat; after
    ``c`` completed cycles (``c < 0`` before time 0) the sample is moved by the cycle offset
    (:func:`cycle_offset`: displacement ``delta``, heading ``h``) applied ``c`` times: the
    position turned by ``c h`` about the vertical through frame 0's root and shifted by
    ``sum_{j<c} Rz(j h) delta``; the root quaternion pre-multiplied by ``Rz(c h)``; the linear
    and angular velocities turned by ``Rz(c h)``; joints, joint velocities and extra columns
    kept. This matches motion_imitation's ``calc_frame`` for files whose frame 0 is at
    x = y = 0.

    Cost (timeit, best of 5, 2-core dev machine under training load): building one takes
    ~0.1 ms for 33 frames, 0.15 ms for 208; :meth:`sample` is scalar Python over per-frame
    tables and per-segment slerp constants, 2.2 µs a call, where the vectorised numpy
    interpolation this replaced took 36 µs for one time. Slerp rather than nlerp: its two
    ``sin`` calls cost under 0.1 µs of the ~1.9 µs :meth:`at_phase` takes, and nlerp strays
    from the slerp arc by up to 3.6e-4 rad on the shipped hopturn clip (25 deg per frame).
    ``ReferenceMotion.state`` has the env's figures.

    Args:
        motion: The motion.
        extra: Optional (N, K) per-frame values, interpolated linearly and appended to each
            row (not moved by the cycle offsets: they must be heading-frame or joint-space).
        base_to_body: Optional (4,) xyzw rotation ``C``: the sampled orientation is that of
            ``R_base C`` (e.g. the robot body frame from the URDF base link). Slerp, the
            angular velocity and the cycle heading are unchanged by a constant ``C``.

    Attributes:
        motion: The motion.
        table: (N, 37 + K) read-only per-frame rows (the samples at the frame times).
        num_frames: N.
        dt: Seconds per frame.
        duration: Seconds per cycle, ``(N - 1) * dt``.
        wrap: True for a Wrap motion with at least two frames (it repeats).
        cycle_position: (3,) displacement per cycle (m, world; z = 0), zeros unless ``wrap``.
        cycle_heading: Heading change per cycle (rad, (-pi, pi]), 0.0 unless ``wrap``.
    """

    def __init__(self, motion: Motion, extra: np.ndarray | None = None,
                 base_to_body: np.ndarray | None = None) -> None:
        n = motion.num_frames
        self.motion = motion
        self.num_frames = n
        self.dt = motion.frame_duration
        self.duration = motion.duration
        self.wrap = motion.loop_mode == "Wrap" and n > 1
        quats = motion.root_quat
        if base_to_body is not None:
            c = np.asarray(base_to_body, dtype=np.float64)
            quats = _quat_mul(quats, np.broadcast_to(c / np.linalg.norm(c), quats.shape))
        parts = [motion.root_pos, quats, motion.joints, joint_velocity(motion),
                 root_linear_velocity(motion), root_angular_velocity(motion)]
        if extra is not None:
            parts.append(np.asarray(extra, dtype=np.float64).reshape(n, -1))
        table = np.concatenate(parts, axis=1)
        table.flags.writeable = False
        self.table = table
        self._delta = np.diff(table, axis=0)
        self._last = n - 1
        # Slerp constants of each segment k -> k+1: sign aligning q[k+1] with q[k], angle
        # theta (half the rotation angle, accurate at any size), 1 / sin(theta) (0: linear).
        q0, q1 = quats[:-1], quats[1:]
        flip = np.where(np.sum(q0 * q1, axis=1) < 0.0, -1.0, 1.0)
        q1s = q1 * flip[:, None]
        theta = 2.0 * np.arctan2(np.linalg.norm(q1s - q0, axis=1),
                                 np.linalg.norm(q1s + q0, axis=1))
        sin = np.sin(theta)
        inv_sin = np.where(sin < 1e-8, 0.0, 1.0 / np.where(sin < 1e-8, 1.0, sin))
        self._quats = quats.tolist()
        self._segments = list(zip(flip.tolist(), theta.tolist(), inv_sin.tolist(), strict=True))
        if self.wrap:
            self.cycle_position, self.cycle_heading = cycle_offset(motion)
        else:
            self.cycle_position, self.cycle_heading = np.zeros(3), 0.0
        self._moves = bool(self.cycle_position.any() or self.cycle_heading != 0.0)
        self._pivot = tuple(motion.root_pos[0, :2].tolist())
        self._shift = tuple(self.cycle_position[:2].tolist())

    def cycle_and_phase(self, t: float) -> tuple[int, float]:
        """Completed cycles and time within the cycle at time ``t``.

        Args:
            t: Time (s).

        Returns:
            ``(cycles, phase)``: ``floor(t / duration)`` and ``t - cycles * duration`` in
            [0, duration] (s) for a Wrap motion; ``(0, t clamped to [0, duration])`` otherwise.
        """
        if not self.wrap:
            return 0, min(max(t, 0.0), self.duration)
        cycles = math.floor(t / self.duration)
        return cycles, min(max(t - cycles * self.duration, 0.0), self.duration)

    def at_phase(self, phase: float) -> np.ndarray:
        """The row at ``phase`` seconds into a cycle (no cycle offsets).

        Args:
            phase: Time within the cycle (s), in [0, duration].

        Returns:
            (37 + K,) new row (layout in the class docstring).
        """
        x = phase / self.dt
        k = round(x)
        if abs(x - k) <= _SNAP * max(1.0, x):
            return self.table[k].copy()
        i = min(int(x), self._last - 1)
        u = x - i
        row = self.table[i] + u * self._delta[i]
        flip, theta, inv_sin = self._segments[i]
        if inv_sin == 0.0:
            a, b = 1.0 - u, u * flip
        else:
            a = math.sin((1.0 - u) * theta) * inv_sin
            b = math.sin(u * theta) * inv_sin * flip
        x0, y0, z0, w0 = self._quats[i]
        x1, y1, z1, w1 = self._quats[i + 1]
        qx, qy, qz, qw = a * x0 + b * x1, a * y0 + b * y1, a * z0 + b * z1, a * w0 + b * w1
        norm = 1.0 / math.sqrt(qx * qx + qy * qy + qz * qz + qw * qw)
        if u >= 0.5:
            norm *= flip
        row[3:7] = (qx * norm, qy * norm, qz * norm, qw * norm)
        return row

    def sample(self, t: float) -> np.ndarray:
        """The row at time ``t``, loops and cycle offsets included.

        Args:
            t: Time (s), finite.

        Returns:
            (37 + K,) new row (layout in the class docstring).
        """
        cycles, phase = self.cycle_and_phase(t)
        row = self.at_phase(phase)
        if cycles and self._moves:
            self._move(row, cycles)
        return row

    def _move(self, row: np.ndarray, cycles: int) -> None:
        """Apply the cycle offset ``cycles`` times to ``row``, in place."""
        dx, dy = self._shift
        h = self.cycle_heading
        if h == 0.0:
            row[0] += cycles * dx
            row[1] += cycles * dy
            return
        # Rigid motion T^c with T(p) = pivot + Rz(h) (p - pivot) + delta. Its shift is
        # sum_{j=0}^{c-1} Rz(jh) delta = Rz((c-1)h/2) delta sin(ch/2) / sin(h/2), also for c < 0.
        turn = cycles * h
        c, s = math.cos(turn), math.sin(turn)
        half = 0.5 * (cycles - 1) * h
        ratio = math.sin(0.5 * turn) / math.sin(0.5 * h)
        ch, sh = math.cos(half) * ratio, math.sin(half) * ratio
        px, py = self._pivot
        x, y, _, qx, qy, qz, qw = row[0:7].tolist()
        x, y = x - px, y - py
        row[0] = px + c * x - s * y + ch * dx - sh * dy
        row[1] = py + s * x + c * y + sh * dx + ch * dy
        hz, hw = math.sin(0.5 * turn), math.cos(0.5 * turn)
        row[3:7] = (hw * qx - hz * qy, hw * qy + hz * qx, hw * qz + hz * qw, hw * qw - hz * qz)
        for j in (31, 34):  # linear and angular velocity, xy
            vx, vy = row[j : j + 2].tolist()
            row[j : j + 2] = (c * vx - s * vy, s * vx + c * vy)


def frame_at(motion: Motion, t: float) -> np.ndarray:
    """The pose at time ``t`` seconds, as :class:`MotionSampler` samples it.

    Clamp: ``t`` is clamped to [0, duration] (no cycle offsets). Wrap: ``t`` is split into
    ``c = floor(t / duration)`` completed cycles and a phase in [0, duration); the phase pose
    is then moved by the cycle offsets (:func:`cycle_offset`, ``delta`` and heading ``h``)
    ``c`` times: rotated by ``c * h`` about the vertical through frame 0's root and shifted by
    ``sum_{j<c} Rz(j * h) @ delta``; the root quaternion is pre-multiplied by ``Rz(c * h)``.
    Negative ``t`` runs through earlier cycles the same way (c < 0). With the Laikago files,
    whose first frame is at x = y = 0, this matches motion_imitation's ``calc_frame``.
    A one-frame motion always returns its frame. Builds a sampler per call (~0.1 ms); keep a
    :class:`MotionSampler` to sample one motion many times.

    Args:
        motion: The motion.
        t: Time in seconds (finite).

    Returns:
        (19,) frame: root position (m, world), root quaternion xyzw, 12 joint angles (rad).

    Raises:
        MotionFormatError: If ``t`` is not finite.
    """
    t = float(t)
    if not math.isfinite(t):
        raise MotionFormatError(f"time must be finite, got {t}")
    return MotionSampler(motion).sample(t)[:FRAME_SIZE].copy()
