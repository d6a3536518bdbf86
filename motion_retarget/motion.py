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
# Interpolation
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


def _slerp(q0: np.ndarray, q1: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Shortest-path slerp of unit xyzw quaternions (M, 4) at fractions ``u`` (M,) in [0, 1].

    The result's sign follows ``q0`` for u < 0.5 and ``q1`` otherwise, so u = 0 and u = 1 give
    ``q0`` and ``q1`` exactly as stored, whatever their relative sign.
    """
    u = u[:, None]
    dot = np.sum(q0 * q1, axis=1, keepdims=True)
    flip = np.where(dot < 0.0, -1.0, 1.0)
    q1s = q1 * flip
    cos_t = np.clip(np.abs(dot), 0.0, 1.0)
    theta = np.arccos(cos_t)
    sin_t = np.sin(theta)
    small = sin_t < 1e-8
    safe = np.where(small, 1.0, sin_t)
    w0 = np.where(small, 1.0 - u, np.sin((1.0 - u) * theta) / safe)
    w1 = np.where(small, u, np.sin(u * theta) / safe)
    q = w0 * q0 + w1 * q1s
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q = np.where(u >= 0.5, q * flip, q)
    q = np.where(u == 0.0, q0, q)
    return np.where(u == 1.0, q1, q)


def _interpolate(motion: Motion, t: np.ndarray) -> np.ndarray:
    """Frames (M, 19) at times ``t`` (M,) s, clamped to [0, duration]; no cycle offsets."""
    frames = motion.frames
    n = motion.num_frames
    t = np.asarray(t, dtype=np.float64)
    if n == 1:
        return np.repeat(frames[:1], t.shape[0], axis=0)
    s = np.clip(t / motion.frame_duration, 0.0, n - 1.0)
    nearest = np.round(s)
    s = np.where(np.abs(s - nearest) <= _SNAP * np.maximum(1.0, s), nearest, s)
    i = np.minimum(np.floor(s).astype(np.int64), n - 2)
    u = s - i
    f0, f1 = frames[i], frames[i + 1]
    out = (1.0 - u)[:, None] * f0 + u[:, None] * f1
    out[:, _QUAT] = _slerp(f0[:, _QUAT], f1[:, _QUAT], u)
    # Exactly on a frame: return it untouched (no 1-ulp rounding from the blend).
    on0, on1 = u == 0.0, u == 1.0
    out[on0] = f0[on0]
    out[on1] = f1[on1]
    return out


def _new_frame_duration_ok(frame_duration: float) -> float:
    try:
        fd = float(frame_duration)
    except (TypeError, ValueError) as exc:
        raise MotionFormatError(f"frame_duration must be a number, got {frame_duration!r}") from exc
    if not (math.isfinite(fd) and fd > 0.0):
        raise MotionFormatError(f"frame_duration must be finite and > 0, got {frame_duration!r}")
    return fd


def resample(motion: Motion, frame_duration: float) -> Motion:
    """Resample a motion at a new frame duration (linear position/joints, slerp rotation).

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
    t = np.minimum(np.arange(n) * fd, duration)
    return Motion(
        _interpolate(motion, t),
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


def _forward_difference(deltas: np.ndarray, n: int, dt: float, width: int) -> np.ndarray:
    """(n, width) rates from the (n-1, width) per-step ``deltas``; last row repeats."""
    out = np.zeros((n, width))
    if n > 1:
        out[:-1] = deltas / dt
        out[-1] = out[-2]
    return out


def root_linear_velocity(motion: Motion) -> np.ndarray:
    """Root linear velocity by forward differences.

    Args:
        motion: The motion.

    Returns:
        (N, 3) velocity (m/s, world frame): row k is ``(p[k+1] - p[k]) / frame_duration``; the
        last row repeats the one before; zeros for a one-frame motion.
    """
    pos = motion.root_pos
    return _forward_difference(np.diff(pos, axis=0), motion.num_frames, motion.frame_duration, 3)


def root_angular_velocity(motion: Motion) -> np.ndarray:
    """Root angular velocity by forward differences of the root rotation.

    Args:
        motion: The motion.

    Returns:
        (N, 3) angular velocity (rad/s, world frame): row k is the rotation vector of
        ``R[k+1] * R[k]^-1`` (shortest way, so quaternion sign flips do not matter) divided by
        ``frame_duration``; the last row repeats the one before; zeros for one frame.
    """
    n = motion.num_frames
    if n == 1:
        return np.zeros((1, 3))
    from scipy.spatial.transform import Rotation  # lazy: 0.3 s import, rarely needed

    rot = Rotation.from_quat(motion.root_quat)
    deltas = (rot[1:] * rot[:-1].inv()).as_rotvec()
    return _forward_difference(deltas, n, motion.frame_duration, 3)


def joint_velocity(motion: Motion) -> np.ndarray:
    """Joint velocities by forward differences.

    Args:
        motion: The motion.

    Returns:
        (N, 12) joint velocities (rad/s), same order as :attr:`Motion.joints`; the last row
        repeats the one before; zeros for a one-frame motion.
    """
    return _forward_difference(
        np.diff(motion.joints, axis=0), motion.num_frames, motion.frame_duration, NUM_JOINTS
    )


# --------------------------------------------------------------------------------------------
# Looping
# --------------------------------------------------------------------------------------------


def heading_change(q_from: np.ndarray, q_to: np.ndarray) -> float:
    """Heading change (rad, about world z, in (-pi, pi]) from one root orientation to another.

    It is the heading of the relative rotation ``R_to * R_from^-1``: the yaw of that rotation's
    image of the x axis, projected on the ground plane. Because it uses only the relative
    rotation, a constant built-in base rotation (Laikago's URDF) cancels out.

    Args:
        q_from: (4,) xyzw start orientation (world from base).
        q_to: (4,) xyzw end orientation.

    Returns:
        The heading change in radians (0.0 if the image of x is vertical).
    """
    from scipy.spatial.transform import Rotation  # lazy: 0.3 s import, rarely needed

    rel = Rotation.from_quat(np.asarray(q_to)) * Rotation.from_quat(np.asarray(q_from)).inv()
    x = rel.apply([1.0, 0.0, 0.0])
    if math.hypot(x[0], x[1]) < 1e-12:
        return 0.0
    return float(math.atan2(x[1], x[0]))


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


def frame_at(motion: Motion, t: float) -> np.ndarray:
    """The pose at time ``t`` seconds, interpolated between frames (linear / slerp).

    Clamp: ``t`` is clamped to [0, duration] (no cycle offsets). Wrap: ``t`` is split into
    ``c = floor(t / duration)`` completed cycles and a phase in [0, duration); the phase pose
    is then moved by the cycle offsets (:func:`cycle_offset`, ``delta`` and heading ``h``)
    ``c`` times: rotated by ``c * h`` about the vertical through frame 0's root and shifted by
    ``sum_{j<c} Rz(j * h) @ delta``; the root quaternion is pre-multiplied by ``Rz(c * h)``.
    Negative ``t`` runs through earlier cycles the same way (c < 0). With the Laikago files,
    whose first frame is at x = y = 0, this matches motion_imitation's ``calc_frame``.
    A one-frame motion always returns its frame.

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
    duration = motion.duration
    if motion.num_frames == 1:
        return motion.frames[0].copy()
    if motion.loop_mode == "Clamp":
        return _interpolate(motion, np.array([t]))[0]

    cycles = math.floor(t / duration)
    phase = min(max(t - cycles * duration, 0.0), duration)
    frame = _interpolate(motion, np.array([phase]))[0]
    if cycles == 0:
        return frame
    delta, h = cycle_offset(motion)
    if not delta.any() and h == 0.0:
        return frame
    # Rigid motion T^c with T(p) = pivot + Rz(h) (p - pivot) + delta, in complex xy.
    pivot = complex(*motion.root_pos[0, :2])
    turn = complex(math.cos(cycles * h), math.sin(cycles * h))
    if h == 0.0:
        shift = cycles * complex(*delta[:2])
    else:
        # sum_{j=0}^{c-1} e^{ijh} = e^{i(c-1)h/2} sin(ch/2) / sin(h/2), also right for c < 0.
        half = (cycles - 1) * h / 2.0
        ratio = math.sin(cycles * h / 2.0) / math.sin(h / 2.0)
        shift = complex(*delta[:2]) * complex(math.cos(half), math.sin(half)) * ratio
    xy = pivot + turn * (complex(*frame[:2]) - pivot) + shift
    frame[0], frame[1] = xy.real, xy.imag
    if h != 0.0:
        a = cycles * h / 2.0
        frame[_QUAT] = _quat_mul(np.array([0.0, 0.0, math.sin(a), math.cos(a)]), frame[_QUAT])
    return frame
