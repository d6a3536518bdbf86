"""The motion file format: motion_imitation's JSON, read (:func:`load_motion`) and written.

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

Each frame is a :class:`~motion_retarget.motion.Motion` frame (19 values: root position,
root quaternion xyzw, 12 joint angles). Unknown keys are ignored; the two cycle-offset flags
default to false, as in motion_imitation's loader.

A bad file is a :class:`~quadmimic.core.errors.MotionFormatError` naming the file and, where it
can be located, the line: json's own position for a syntax error; for a value that parses but
is wrong (a key's value, a frame, a frame's value) :class:`_Locator` finds its line in the text
(json reports no positions of parsed values). The frames are validated once, by
:class:`~motion_retarget.motion.Motion`; the file only adds the types and lengths that
must hold before they form an array.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from motion_retarget.motion import FRAME_SIZE, LOOP_MODES, Motion, frames_problem
from quadmimic.core.errors import MotionFormatError
from quadmimic.core.fileio import atomic_write_text

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

    array = np.array(frames, dtype=np.float64)
    try:
        return Motion(array, float(frame_duration), loop_mode, flags[0], flags[1])
    except MotionFormatError as exc:  # the frames' own check failed: locate the frame
        problem = frames_problem(array)
        k, j = (None, None) if problem is None else problem[1:]
        raise fail(exc.reason, None if k is None else loc.frame(k, j)) from None


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


__all__ = ["KEYS", "KEY_CYCLE_OFFSET_POSITION", "KEY_CYCLE_OFFSET_ROTATION", "KEY_FRAMES",
           "KEY_FRAME_DURATION", "KEY_LOOP_MODE", "load_motion", "motion_to_text",
           "save_motion"]
