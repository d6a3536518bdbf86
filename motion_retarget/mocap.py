"""Motion-capture clip loaders: keypoint text files and BVH, as one :class:`Clip` type.

Every loader returns world positions of keypoints in metres, in a right-handed frame with
Z up, together with the *roles* of a few keypoints (pelvis, neck, four shoulders/hips and
four toes, legs in the robot order FR, FL, RR, RL) that retargeting needs.

Keypoint text (``*_joint_pos.txt``, see ``data/mocap/SOURCE.md``): one frame per line,
81 comma-separated values = 27 keypoints x (x, y, z), Y up, 60 Hz; optionally a leading time
stamp column (82 values). Keypoint names are those of the AI4Animation dog skeleton.

Left/right and handedness: the text clips come from AI4Animation, a Unity project, and Unity's
frame is left-handed (x right, y up, z forward). They are therefore read as *left-handed* Y-up
and turned into a right-handed Z-up frame by a reflection, (x, y, z) -> (x, z, y). In that
frame the leg mapping of ``data/mocap/SOURCE.md`` (shoulders/hips 6, 11, 16, 20 and
toes 10, 15, 19, 23 = FR, FL, RR, RL; the mapping holds, not the skeleton's names) is geometrically
right: FR/RR keypoints lie on the body's right, and a body frame built with left = FL - FR
points up. Reading the clips right-handed instead (motion_imitation's +90 deg rotation about x,
``handedness="right"``) puts those keypoints on the body's left; its A1 config used
that rotation with the same leg mapping (so its legs were mirrored against its body frame),
and its Laikago config, which made ``data/reference_motions``, used the names instead.
Our motions are hence mirror images of those references (left and right legs swapped, turns
reversed), a fact the retargeting tests check against ``dog_pace.txt``.

BVH: every joint and end site, in hierarchy order, evaluated by forward kinematics. A BVH is
taken to be right-handed, so its ``Right*`` joints are the robot's right legs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from quadmimic.core.errors import ClipFormatError

__all__ = [
    "AI4ANIMATION_BVH_NAMES",
    "AI4ANIMATION_NAMES",
    "AI4ANIMATION_ROLES",
    "Clip",
    "KeypointRoles",
    "load_bvh",
    "load_clip",
    "load_keypoint_txt",
]

#: Scale from each accepted ``units`` value to metres.
_UNIT_SCALE = {"m": 1.0, "cm": 0.01, "mm": 0.001}
_UNIT_WORDS = {"m": "metres", "cm": "centimetres", "mm": "millimetres"}
#: Plausible typical pelvis height above the lowest toe (m), and largest plausible coordinate.
_MIN_HEIGHT, _MAX_HEIGHT, _MAX_COORD = 0.03, 3.0, 1e3
#: Relative spread of time steps below which a time-stamped clip counts as uniform.
_UNIFORM_TOL = 0.01
#: Slack (s) on the bounds of :meth:`Clip.window`, against rounding in ``k / fps``.
_WINDOW_EPS = 1e-9


@dataclass(frozen=True)
class KeypointRoles:
    """Which keypoints of a clip play the roles retargeting needs.

    Attributes:
        pelvis: Index of the pelvis (root) keypoint.
        neck: Index of the neck keypoint (with the pelvis, it gives the heading).
        hips: Shoulder/hip keypoints in robot leg order FR, FL, RR, RL.
        toes: Toe keypoints in robot leg order FR, FL, RR, RL.
    """

    pelvis: int
    neck: int
    hips: tuple[int, int, int, int]
    toes: tuple[int, int, int, int]

    def __post_init__(self) -> None:
        for name in ("hips", "toes"):
            value = tuple(int(i) for i in getattr(self, name))
            if len(value) != 4:
                raise ValueError(f"KeypointRoles.{name} needs 4 indices (FR, FL, RR, RL)")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "pelvis", int(self.pelvis))
        object.__setattr__(self, "neck", int(self.neck))
        if min(self.indices()) < 0:
            raise ValueError(f"negative keypoint index in {self}")

    def indices(self) -> tuple[int, ...]:
        """All role indices: pelvis, neck, the four hips, the four toes."""
        return (self.pelvis, self.neck, *self.hips, *self.toes)


#: Names of the 27 keypoints of the text clips (AI4Animation dog skeleton), in file order. Read
#: left-handed (see the module docstring), "Left*" keypoints are the robot's right legs.
AI4ANIMATION_NAMES: tuple[str, ...] = (
    "Hips", "Spine", "Spine1", "Neck", "Head", "HeadSite",
    "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand", "LeftHandSite",
    "RightShoulder", "RightArm", "RightForeArm", "RightHand", "RightHandSite",
    "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftFootSite",
    "RightUpLeg", "RightLeg", "RightFoot", "RightFootSite",
    "Tail", "Tail1", "Tail1Site",
)  # fmt: skip

#: Parent of each of the 27 keypoints (-1: the root), as the BVH skeleton nests them.
AI4ANIMATION_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 3, 4, 3, 6, 7, 8, 9, 3, 11, 12, 13, 14,
                                         0, 16, 17, 18, 0, 20, 21, 22, 0, 24, 25)

#: Roles of the text clips (SOURCE.md's mapping), legs FR, FL, RR, RL: shoulders/hips 6, 11,
#: 16, 20 and toes 10, 15, 19, 23.
AI4ANIMATION_ROLES = KeypointRoles(pelvis=0, neck=3, hips=(6, 11, 16, 20), toes=(10, 15, 19, 23))

#: The same roles by name (for roles files that override some of them).
AI4ANIMATION_TEXT_NAMES: dict[str, str | tuple[str, ...]] = {
    "pelvis": AI4ANIMATION_NAMES[AI4ANIMATION_ROLES.pelvis],
    "neck": AI4ANIMATION_NAMES[AI4ANIMATION_ROLES.neck],
    "hips": tuple(AI4ANIMATION_NAMES[i] for i in AI4ANIMATION_ROLES.hips),
    "toes": tuple(AI4ANIMATION_NAMES[i] for i in AI4ANIMATION_ROLES.toes),
}

#: Default role names for BVH files (AI4Animation dog skeleton; a BVH is taken as
#: right-handed, so "Right*" are the robot's right legs). End sites are named after their
#: joint plus "Site".
AI4ANIMATION_BVH_NAMES: dict[str, str | tuple[str, ...]] = {
    "pelvis": "Hips",
    "neck": "Neck",
    "hips": ("RightShoulder", "LeftShoulder", "RightUpLeg", "LeftUpLeg"),
    "toes": ("RightHandSite", "LeftHandSite", "RightFootSite", "LeftFootSite"),
}


@dataclass(frozen=True, eq=False)
class Clip:
    """Keypoint trajectories of one motion-capture clip.

    Attributes:
        positions: (T, K, 3) float64 world positions in metres; right-handed, Z up. Stored as
            a read-only copy.
        fps: Frame rate (Hz), > 0.
        names: The K keypoint names.
        roles: Role indices into the K keypoints.
        source: File the clip was read from, or None.
        start_frame: Index of ``positions[0]`` in the source file's frames (0 unless the clip
            is a :meth:`window`; also 0 after resampling a non-uniformly time-stamped file).
        parents: Parent index of each keypoint (-1 for a root), for drawing the skeleton;
            None if unknown.

    Raises:
        ClipFormatError: (on construction) bad shape, non-finite values, fps <= 0, names or
            roles inconsistent with K.
    """

    positions: np.ndarray = field(repr=False)
    fps: float
    names: tuple[str, ...] = field(repr=False)
    roles: KeypointRoles
    source: Path | None = None
    start_frame: int = 0
    parents: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        src = None if self.source is None else Path(self.source)
        object.__setattr__(self, "source", src)
        pos = np.array(self.positions, dtype=np.float64, copy=True)
        if pos.ndim != 3 or pos.shape[2] != 3 or pos.shape[0] < 1 or pos.shape[1] < 1:
            raise ClipFormatError(f"positions must be (T>=1, K>=1, 3), got {pos.shape}", src)
        if not np.all(np.isfinite(pos)):
            raise ClipFormatError("positions contain NaN or infinite values", src)
        pos.setflags(write=False)
        object.__setattr__(self, "positions", pos)
        fps = float(self.fps)
        if not (math.isfinite(fps) and fps > 0):
            raise ClipFormatError(f"fps must be finite and > 0, got {self.fps}", src)
        object.__setattr__(self, "fps", fps)
        names = tuple(str(n) for n in self.names)
        if len(names) != pos.shape[1]:
            raise ClipFormatError(f"{len(names)} names for {pos.shape[1]} keypoints", src)
        object.__setattr__(self, "names", names)
        if max(self.roles.indices()) >= pos.shape[1]:
            raise ClipFormatError(
                f"role index out of range for {pos.shape[1]} keypoints: {self.roles}", src)
        if int(self.start_frame) < 0:
            raise ClipFormatError(f"start_frame must be >= 0, got {self.start_frame}", src)
        object.__setattr__(self, "start_frame", int(self.start_frame))
        if self.parents is not None:
            parents = tuple(int(i) for i in self.parents)
            if len(parents) != pos.shape[1] or max(parents) >= pos.shape[1]:
                raise ClipFormatError(f"parents {parents} do not fit {pos.shape[1]} keypoints",
                                      src)
            object.__setattr__(self, "parents", parents)

    def __repr__(self) -> str:
        return (f"Clip({self.num_frames} frames x {self.positions.shape[1]} keypoints, "
                f"fps={self.fps:g}, start_frame={self.start_frame}, source={self.source})")

    @property
    def num_frames(self) -> int:
        """Number of frames T."""
        return int(self.positions.shape[0])

    @property
    def duration_s(self) -> float:
        """Time from the first to the last frame (s): ``(T - 1) / fps``."""
        return (self.num_frames - 1) / self.fps

    @property
    def times(self) -> np.ndarray:
        """(T,) time of each frame (s), measured from the clip's first frame."""
        return np.arange(self.num_frames, dtype=np.float64) / self.fps

    def window(self, start_s: float | None = None, end_s: float | None = None) -> Clip:
        """The frames with ``start_s <= t <= end_s`` (t from this clip's first frame).

        Args:
            start_s: First time (s) to keep; None means the beginning.
            end_s: Last time (s) to keep, inclusive; None means the end.

        Returns:
            A new clip; its ``start_frame`` still counts frames of the source file.

        Raises:
            ClipFormatError: ``start_s > end_s`` or no frame lies in the window.
        """
        lo = -math.inf if start_s is None else float(start_s)
        hi = math.inf if end_s is None else float(end_s)
        if math.isnan(lo) or math.isnan(hi) or lo > hi:
            raise ClipFormatError(f"bad time window: start {start_s} s > end {end_s} s",
                                  self.source)
        t = self.times
        keep = np.flatnonzero((t >= lo - _WINDOW_EPS) & (t <= hi + _WINDOW_EPS))
        if keep.size == 0:
            raise ClipFormatError(
                f"time window [{start_s}, {end_s}] s holds no frame (clip spans 0 to "
                f"{self.duration_s:.4g} s)", self.source)
        a, b = int(keep[0]), int(keep[-1]) + 1
        return Clip(positions=self.positions[a:b], fps=self.fps, names=self.names,
                    roles=self.roles, source=self.source, start_frame=self.start_frame + a,
                    parents=self.parents)

    def pelvis(self) -> np.ndarray:
        """(T, 3) pelvis positions."""
        return self.positions[:, self.roles.pelvis]

    def neck(self) -> np.ndarray:
        """(T, 3) neck positions."""
        return self.positions[:, self.roles.neck]

    def hips(self) -> np.ndarray:
        """(T, 4, 3) shoulder/hip positions, legs FR, FL, RR, RL."""
        return self.positions[:, list(self.roles.hips)]

    def toes(self) -> np.ndarray:
        """(T, 4, 3) toe positions, legs FR, FL, RR, RL."""
        return self.positions[:, list(self.roles.toes)]


# ---------------------------------------------------------------------------------------------
# Shared helpers


def _check_options(path: Path, up: str, units: str, allow_auto: bool) -> None:
    if up not in ("y", "z"):
        raise ClipFormatError(f"unknown --up {up!r}: expected 'y' or 'z'", path)
    allowed = [*_UNIT_SCALE, "auto"] if allow_auto else list(_UNIT_SCALE)
    if units not in allowed:
        raise ClipFormatError(f"unknown --units {units!r}: expected one of {allowed}", path)


def _read_text(path: Path) -> str:
    if not path.exists():
        raise ClipFormatError("file not found", path)
    if not path.is_file():
        raise ClipFormatError("not a regular file", path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ClipFormatError(f"cannot read the file: {exc.strerror or exc}", path) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ClipFormatError("not a UTF-8 text file", path, line) from exc


def _to_z_up(positions: np.ndarray, up: str, handedness: str) -> np.ndarray:
    """Positions in a right-handed Z-up frame.

    Right-handed Y up: rotate +90 deg about x, (x, y, z) -> (x, -z, y). Left-handed Y up
    (Unity): reflect, (x, y, z) -> (x, z, y). Right-handed Z up: kept. Left-handed Z up:
    (x, y, z) -> (x, -y, z).
    """
    x, y, z = positions[..., 0], positions[..., 1], positions[..., 2]
    if up == "z":
        return positions if handedness == "right" else np.stack([x, -y, z], axis=-1)
    if handedness == "right":
        return np.stack([x, -z, y], axis=-1)
    return np.stack([x, z, y], axis=-1)


def _check_handedness(path: Path, handedness: str) -> None:
    if handedness not in ("left", "right"):
        raise ClipFormatError(f"handedness must be 'left' or 'right', got {handedness!r}", path)


def _pelvis_height(positions: np.ndarray, roles: KeypointRoles) -> float:
    """Typical pelvis height above the lowest toe level (same units as ``positions``).

    "Typical" is the 90th percentile over frames: the standing height, even in clips that are
    mostly sitting or lying (the median pelvis height of dog_run00 is only 0.08 m).
    """
    ground = float(np.min(positions[:, list(roles.toes), 2]))
    return float(np.percentile(positions[:, roles.pelvis, 2], 90)) - ground


def _infer_units(height: float) -> str | None:
    """Units that make a pelvis height (file units) plausible, nearest 0.5 m; None if none."""
    fits = [u for u, s in _UNIT_SCALE.items() if _MIN_HEIGHT <= height * s <= _MAX_HEIGHT]
    if not fits:
        return None
    return min(fits, key=lambda u: abs(math.log(height * _UNIT_SCALE[u] / 0.5)))


def _check_size(positions_m: np.ndarray, roles: KeypointRoles, units: str, path: Path,
                asked: str | None = None) -> None:
    """Raise if the clip (already in metres per ``units``) has an implausible size.

    ``asked`` is the units option as the user gave it (e.g. "auto"), for the message.
    """
    height = _pelvis_height(positions_m, roles)
    extent = float(np.max(np.abs(positions_m)))
    if _MIN_HEIGHT <= height <= _MAX_HEIGHT and extent <= _MAX_COORD:
        return
    raw_height = height / _UNIT_SCALE[units]
    guess = _infer_units(raw_height)
    if guess is not None and guess != units:
        hint = f"values look like {_UNIT_WORDS[guess]}: try --units {guess}"
    elif guess == units:
        hint = "the skeleton size is plausible but the clip lies implausibly far from the origin"
    else:
        hint = ("no --units value gives a plausible size; check --up and the keypoint roles "
                "(pelvis and toes)")
    raise ClipFormatError(
        f"implausible size with --units {asked or units}: typical pelvis height above the "
        f"lowest toe is {height:.4g} m (expected {_MIN_HEIGHT}-{_MAX_HEIGHT} m), largest "
        f"coordinate {extent:.4g} m (limit {_MAX_COORD:g} m); {hint}", path)


def _scale_and_check(positions: np.ndarray, roles: KeypointRoles, units: str,
                     path: Path) -> np.ndarray:
    """Apply ``units`` (resolving "auto" from the skeleton size) and check the size."""
    asked = units
    if units == "auto":
        # None: no unit fits, and the check below fails with the diagnosis.
        units = _infer_units(_pelvis_height(positions, roles)) or "m"
    out = positions * _UNIT_SCALE[units]
    _check_size(out, roles, units, path, asked)
    return out


# ---------------------------------------------------------------------------------------------
# Keypoint text files


def _scan_rows(rows: list[str], line_nos: list[int], path: Path) -> None:
    """Slow per-line scan that raises a located error for the first bad line."""
    expected = None
    for text, line in zip(rows, line_nos, strict=True):
        tokens = text.split(",")
        count = len(tokens)
        if expected is None:
            if count not in (81, 82):
                raise ClipFormatError(
                    f"expected 81 values (27 keypoints x xyz) or 82 (time + 81), found {count}",
                    path, line)
            expected = count
        elif count != expected:
            raise ClipFormatError(
                f"expected {expected} values like the first frame, found {count}", path, line)
        for col, tok in enumerate(tokens, start=1):
            try:
                float(tok)
            except ValueError:
                raise ClipFormatError(
                    f"value {col} is not a number: {tok.strip()!r}", path, line) from None


def _parse_keypoint_rows(text: str, path: Path) -> tuple[np.ndarray, list[int]]:
    """Parse the numeric table; returns (rows, 1-based line number of each row)."""
    rows: list[str] = []
    line_nos: list[int] = []
    for i, ln in enumerate(text.splitlines()):
        if ln.strip():
            rows.append(ln)
            line_nos.append(i + 1)
    if not rows:
        raise ClipFormatError("empty file: no frames", path)
    try:
        data = np.loadtxt(rows, delimiter=",", comments=None, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        _scan_rows(rows, line_nos, path)
        raise ClipFormatError(f"cannot parse the file: {exc}", path) from exc  # safety net
    if data.shape[1] not in (81, 82):
        raise ClipFormatError(
            f"expected 81 values (27 keypoints x xyz) or 82 (time + 81), found {data.shape[1]}",
            path, line_nos[0])
    bad = ~np.isfinite(data)
    if bad.any():
        r, c = (int(v) for v in np.argwhere(bad)[0])
        raise ClipFormatError(f"value {c + 1} is not finite ({data[r, c]})", path, line_nos[r])
    return data, line_nos


def _resample_uniform(times: np.ndarray, values: np.ndarray, dt: float) -> np.ndarray:
    """Linearly resample ``values`` (T, D) given at increasing ``times`` to steps of ``dt``."""
    n = math.floor((times[-1] - times[0]) / dt + 1e-6) + 1
    new_t = times[0] + dt * np.arange(n)
    idx = np.clip(np.searchsorted(times, new_t, side="right") - 1, 0, len(times) - 2)
    w = ((new_t - times[idx]) / (times[idx + 1] - times[idx]))[:, None]
    return values[idx] * (1.0 - w) + values[idx + 1] * w


def load_keypoint_txt(
    path: str | Path,
    *,
    up: str = "y",
    units: str = "m",
    fps: float = 60.0,
    roles: KeypointRoles = AI4ANIMATION_ROLES,
    handedness: str | None = None,
) -> Clip:
    """Load a keypoint text clip (``*_joint_pos.txt``) as a Z-up clip in metres.

    Each non-blank line is one frame of comma-separated numbers (the shipped files use
    comma + tab): 81 values = 27 keypoints x (x, y, z), or 82 = a time stamp (s) followed by
    the 81. With time stamps, they must be strictly increasing; ``fps`` is then taken from
    their median step (the argument is ignored unless the file has a single frame) and, if the
    steps are not uniform within 1 %, the clip is linearly resampled to that step (then
    ``start_frame`` no longer maps to file lines).

    Parsing uses ``np.loadtxt`` on the lines (numpy >= 1.23 parses in C: about 0.1 s for the
    4336-line dog_walk09 here); only if it fails does a per-line scan locate the bad line.

    Args:
        path: The text file.
        up: The file's up axis, "y" or "z".
        units: Length unit of the file: "m", "cm", "mm" (or "auto": inferred from the
            pelvis height).
        fps: Frame rate of files without a time column (Hz).
        roles: Keypoint roles; the default is SOURCE.md's mapping (see the module docstring).
        handedness: "left" or "right"; None = "left" for Y-up files (the AI4Animation clips
            are Unity exports) and "right" for Z-up ones. See the module docstring.

    Returns:
        The clip, with the 27 AI4Animation keypoint names.

    Raises:
        ClipFormatError: Missing or empty file, wrong column count, non-numeric or non-finite
            value, non-increasing time stamps (all with the 1-based line), bad option values,
            or an implausible size for ``units`` (the message suggests the units that fit).
    """
    path = Path(path)
    _check_options(path, up, units, allow_auto=True)
    if handedness is None:
        handedness = "left" if up == "y" else "right"
    _check_handedness(path, handedness)
    if not (math.isfinite(fps) and fps > 0):
        raise ClipFormatError(f"fps must be finite and > 0, got {fps}", path)
    data, line_nos = _parse_keypoint_rows(_read_text(path), path)
    if data.shape[1] == 82:
        times, values = data[:, 0], data[:, 1:]
        if len(times) > 1:
            steps = np.diff(times)
            bad = np.flatnonzero(steps <= 0)
            if bad.size:
                i = int(bad[0]) + 1
                raise ClipFormatError(
                    f"time stamps must increase strictly: {times[i]:g} s follows "
                    f"{times[i - 1]:g} s", path, line_nos[i])
            dt = float(np.median(steps))
            if np.max(np.abs(steps - dt)) > _UNIFORM_TOL * dt:
                values = _resample_uniform(times, values, dt)
            fps = 1.0 / dt
    else:
        values = data
    positions = _to_z_up(values.reshape(len(values), 27, 3), up, handedness)
    positions = _scale_and_check(positions, roles, units, path)
    return Clip(positions=positions, fps=fps, names=AI4ANIMATION_NAMES, roles=roles,
                source=path, parents=AI4ANIMATION_PARENTS)


# ---------------------------------------------------------------------------------------------
# BVH


@dataclass
class _BvhNode:
    """One keypoint of a BVH skeleton: a joint or an end site."""

    name: str
    parent: int  # index into the node list, -1 for the root
    offset: np.ndarray  # (3,) in the parent's frame
    rot_axes: str = ""  # e.g. "ZXY": rotation channels in file order
    rot_cols: list[int] = field(default_factory=list)  # motion columns of those channels
    pos_cols: dict[int, int] = field(default_factory=dict)  # axis -> motion column
    is_site: bool = False


_AXES = {"x": 0, "y": 1, "z": 2}


def _bvh_motion_header(lines: list[str], path: Path) -> tuple[int, int, float]:
    """Locate MOTION / Frames / Frame Time; returns (index of Frame Time line, frames, dt).

    This must pass before bvhio sees the file: bvhio's reader loops forever when it reaches
    the end of the file early (e.g. a file without a MOTION section).
    """
    nonblank = [i for i, ln in enumerate(lines) if ln.strip()]
    if not nonblank or lines[nonblank[0]].split() != ["HIERARCHY"]:
        raise ClipFormatError("malformed BVH: the first line must be HIERARCHY", path,
                              nonblank[0] + 1 if nonblank else None)
    k = next((j for j, i in enumerate(nonblank) if lines[i].split() == ["MOTION"]), None)
    if k is None:
        raise ClipFormatError("malformed BVH: no MOTION section", path)
    if k + 1 >= len(nonblank):
        raise ClipFormatError("malformed BVH: MOTION must be followed by 'Frames: N'", path,
                              nonblank[k] + 1)
    i_frames = nonblank[k + 1]
    tok = lines[i_frames].split()
    if len(tok) != 2 or tok[0] != "Frames:":
        raise ClipFormatError("malformed BVH: expected 'Frames: N' after MOTION", path,
                              i_frames + 1)
    try:
        frames = int(tok[1])
    except ValueError:
        raise ClipFormatError(f"malformed BVH: frame count {tok[1]!r} is not an integer", path,
                              i_frames + 1) from None
    if k + 2 >= len(nonblank):
        raise ClipFormatError("malformed BVH: expected 'Frame Time: dt' after 'Frames:'", path,
                              i_frames + 1)
    i_time = nonblank[k + 2]
    tok = lines[i_time].split()
    if len(tok) != 3 or tok[:2] != ["Frame", "Time:"]:
        raise ClipFormatError("malformed BVH: expected 'Frame Time: dt' after 'Frames:'", path,
                              i_time + 1)
    try:
        dt = float(tok[2])
    except ValueError:
        raise ClipFormatError(f"malformed BVH: frame time {tok[2]!r} is not a number", path,
                              i_time + 1) from None
    if frames <= 0:
        raise ClipFormatError(f"BVH has no frames (Frames: {frames})", path, i_frames + 1)
    if not (math.isfinite(dt) and dt > 0):
        raise ClipFormatError(f"BVH frame time must be > 0, got {tok[2]}", path, i_time + 1)
    return i_time, frames, dt


def _scan_offsets(lines: list[str]) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Full-precision OFFSETs of joints and end sites, keyed by joint declaration ordinal.

    bvhio stores offsets as float32 (``glm.vec3``) and gives every joint an end site
    (default (0, 1, 0)) whether or not the file declares one; this scan, run once bvhio has
    accepted the hierarchy, tells which joints declare an End Site and reads the offsets as
    float64.
    """
    joints: dict[int, np.ndarray] = {}
    sites: dict[int, np.ndarray] = {}
    stack: list[tuple[str, int]] = []  # open blocks: ("joint", ordinal) or ("site", owner)
    pending: tuple[str, int] | None = None
    count = 0
    for ln in lines:
        tok = ln.split()
        if not tok:
            continue
        if tok[0] in ("ROOT", "JOINT"):
            pending = ("joint", count)
            count += 1
        elif tok[0] == "End":
            owners = [i for kind, i in stack if kind == "joint"]
            pending = ("site", owners[-1]) if owners else None
        elif tok[0] == "{":
            stack.append(pending if pending is not None else ("none", -1))
            pending = None
        elif tok[0] == "}" and stack:
            stack.pop()
        elif tok[0] == "OFFSET" and stack and len(tok) == 4:
            kind, i = stack[-1]
            try:
                value = np.array([float(v) for v in tok[1:]])
            except ValueError:
                continue
            if kind == "joint":
                joints[i] = value
            elif kind == "site":
                sites[i] = value
        elif tok[0] == "MOTION":
            break
    return joints, sites


def _read_bvh_hierarchy(path: Path, lines: list[str]) -> object:
    """The bvhio root joint (structure only), with bvhio's errors as ClipFormatError."""
    with warnings.catch_warnings():  # PyGLM's "import glm" deprecation notice, from bvhio
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import bvhio  # local import: only BVH users pay for it

    try:
        return bvhio.readAsBvh(str(path), loadKeyFrames=False).Root
    except Exception as exc:  # bvhio raises SyntaxError, IndexError, ValueError, ...
        reason, line = str(exc), None
        if isinstance(exc, SyntaxError) and exc.args:
            reason = str(exc.args[0])
            info = exc.args[1] if len(exc.args) > 1 else None
            if isinstance(info, tuple) and len(info) == 4 and isinstance(info[3], str):
                # bvhio's own line numbers restart inside every joint; find the offending
                # text instead, when it is unambiguous.
                bad = info[3].strip()
                hits = [i + 1 for i, ln in enumerate(lines) if ln.strip() == bad]
                if len(hits) == 1:
                    line = hits[0]
                else:
                    reason += f" (at {bad!r})"
        raise ClipFormatError(f"malformed BVH: {reason}", path, line) from exc


def _bvh_nodes(root: object, lines: list[str], path: Path) -> tuple[list[_BvhNode], int]:
    """Flatten the bvhio hierarchy into joints and end sites; returns (nodes, channels)."""
    joint_offsets, site_offsets = _scan_offsets(lines)
    nodes: list[_BvhNode] = []
    names: set[str] = set()
    col = 0
    ordinal = 0

    def visit(joint: object, parent: int) -> None:
        nonlocal col, ordinal
        my_ordinal = ordinal
        ordinal += 1
        offset = joint_offsets.get(my_ordinal)
        if offset is None:  # pragma: no cover - the scan reads every offset bvhio accepted
            offset = np.array(joint.Offset.to_list(), dtype=np.float64)
        node = _BvhNode(name=str(joint.Name), parent=parent, offset=offset)
        for ch in joint.Channels:
            c = ch.lower()
            if len(c) != 9 or c[0] not in _AXES or c[1:] not in ("position", "rotation"):
                raise ClipFormatError(f"unknown BVH channel {ch!r} of joint {joint.Name!r}",
                                      path)
            if c[1:] == "position":
                node.pos_cols[_AXES[c[0]]] = col
            else:
                node.rot_axes += c[0]
                node.rot_cols.append(col)
            col += 1
        index = len(nodes)
        nodes.append(node)
        names.add(node.name)
        for child in joint.Children:
            visit(child, index)
        if my_ordinal in site_offsets:
            site = f"{node.name}Site"
            if site in names:
                site = f"{node.name}_EndSite"
            nodes.append(_BvhNode(name=site, parent=index, offset=site_offsets[my_ordinal],
                                  is_site=True))
            names.add(site)

    visit(root, -1)
    return nodes, col


def _axis_rotations(axis: str, radians: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotation matrices about one axis."""
    c, s = np.cos(radians), np.sin(radians)
    out = np.zeros((len(radians), 3, 3))
    i = _AXES[axis]
    j, k = (i + 1) % 3, (i + 2) % 3
    out[:, i, i] = 1.0
    out[:, j, j] = c
    out[:, k, k] = c
    out[:, j, k] = -s
    out[:, k, j] = s
    return out


def _forward_kinematics(nodes: list[_BvhNode], motion: np.ndarray) -> np.ndarray:
    """(T, K, 3) world positions of all nodes, vectorised over frames.

    Rotation channels compose intrinsically in file order (``Zrotation Xrotation Yrotation``
    gives Rz @ Rx @ Ry), as bvhio does; position channels replace the matching components of
    the OFFSET (bvhio's convention), and are expressed in the parent's frame.
    """
    num = motion.shape[0]
    pos = np.empty((num, len(nodes), 3))
    world_rot: list[np.ndarray | None] = []
    for k, node in enumerate(nodes):
        parent_rot = world_rot[node.parent] if node.parent >= 0 else None
        local = np.broadcast_to(node.offset, (num, 3))
        if node.pos_cols:
            local = local.copy()
            for axis, col in node.pos_cols.items():
                local[:, axis] = motion[:, col]
        step = local if parent_rot is None else np.einsum("tij,tj->ti", parent_rot, local)
        pos[:, k] = step if node.parent < 0 else pos[:, node.parent] + step
        rot = parent_rot
        for axis, col in zip(node.rot_axes, node.rot_cols, strict=True):
            r = _axis_rotations(axis, np.radians(motion[:, col]))
            rot = r if rot is None else rot @ r
        world_rot.append(rot)
    return pos


def resolve_roles(names: Sequence[str], overrides: Mapping[str, object] | None,
                  path: Path | None, defaults: Mapping[str, object] | None = None
                  ) -> KeypointRoles:
    """Keypoint roles from joint names (exact, else the one case-insensitive match) or indices.

    Args:
        names: The clip's keypoint names.
        overrides: Role -> name or index (``hips`` and ``toes``: 4 of them, FR, FL, RR, RL)
            replacing ``defaults``.
        path: The clip, for messages.
        defaults: Role -> name(s); :data:`AI4ANIMATION_BVH_NAMES` if None.

    Raises:
        ClipFormatError: An unknown role, a leg list of the wrong length, or a name or index
            that is not in the clip (the message lists the clip's joints).
    """
    return _resolve_bvh_roles(names, overrides, path, defaults)


def _resolve_bvh_roles(names: Sequence[str], overrides: Mapping[str, object] | None,
                       path: Path | None, defaults: Mapping[str, object] | None = None
                       ) -> KeypointRoles:
    spec: dict[str, object] = dict(AI4ANIMATION_BVH_NAMES if defaults is None else defaults)
    if overrides:
        unknown = set(overrides) - set(spec)
        if unknown:
            raise ClipFormatError(
                f"unknown role(s) {sorted(unknown)} in names; expected {sorted(spec)}", path)
        spec.update(overrides)
    exact = {}
    folded: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        exact.setdefault(n, i)
        folded.setdefault(n.lower(), []).append(i)
    missing: list[str] = []

    def find(name: object) -> int:
        if isinstance(name, int) and not isinstance(name, bool):
            if 0 <= name < len(names):
                return name
            missing.append(f"index {name}")
            return 0
        n = str(name)
        if n in exact:
            return exact[n]
        hits = folded.get(n.lower(), [])
        if len(hits) == 1:
            return hits[0]
        missing.append(n)
        return 0

    resolved: dict[str, object] = {}
    for role in ("pelvis", "neck"):
        resolved[role] = find(spec[role])
    for role in ("hips", "toes"):
        value = spec[role]
        if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 4:
            raise ClipFormatError(
                f"role {role!r} must list 4 joints (FR, FL, RR, RL), got {value!r}", path)
        resolved[role] = tuple(find(v) for v in value)
    if missing:
        raise ClipFormatError(
            f"the clip has no joint {', '.join(repr(m) for m in missing)} (needed for the "
            f"keypoint roles; map them with a roles file). Its joints: {', '.join(names)}",
            path)
    return KeypointRoles(**resolved)  # type: ignore[arg-type]


def load_bvh(
    path: str | Path,
    *,
    up: str = "y",
    units: str = "auto",
    roles: KeypointRoles | None = None,
    names: Mapping[str, str | Sequence[str]] | None = None,
    handedness: str = "right",
) -> Clip:
    """Load a BVH file as a Z-up clip in metres: every joint and end site, hierarchy order.

    The hierarchy (names, channels, structure) is read with ``bvhio``; offsets are re-read
    as float64 (bvhio keeps float32), the motion block is parsed with numpy and the forward
    kinematics is vectorised over frames. bvhio's own path is too slow for long clips: for a
    27-joint dog with 4336 frames (5.7 MB), ``readAsHierarchy`` takes about 5.3 s here and
    ``loadPose`` + ``PositionWorld`` for every frame another 0.75 s, against about 0.2 s for
    this loader (same positions within 1e-6 m). bvhio also loops forever on a file without a
    MOTION section or with fewer motion lines than ``Frames:``; those are caught first.

    Conventions: rotation channels compose intrinsically in file order (``Zrotation Xrotation
    Yrotation`` = Rz Rx Ry); position channels replace the OFFSET components (as bvhio does);
    an end site is a keypoint named ``<joint>Site``. The file is taken to be right-handed by
    default (the BVH convention), so ``Right*`` joints are the robot's right legs.

    Args:
        path: The BVH file.
        up: The file's up axis, "y" or "z".
        units: "auto" (m, cm or mm, whichever makes the pelvis height most dog-like), or
            "m", "cm", "mm".
        roles: Role indices into the keypoints; overrides name-based resolution.
        names: Role -> joint name(s) overrides of :data:`AI4ANIMATION_BVH_NAMES`, e.g.
            ``{"pelvis": "Hips", "toes": [FR, FL, RR, RL]}``; not with ``roles``.
        handedness: "right" (default) or "left" (e.g. a Unity export); see the module
            docstring.

    Returns:
        The clip; fps = 1 / Frame Time.

    Raises:
        ClipFormatError: Missing file, malformed BVH, zero frames, Frame Time <= 0, wrong
            number of motion values (with the 1-based line where known), role names not in
            the file (listing the available names), or an implausible size.
    """
    path = Path(path)
    _check_options(path, up, units, allow_auto=True)
    _check_handedness(path, handedness)
    if roles is not None and names is not None:
        raise ClipFormatError("pass either roles or names, not both", path)
    lines = _read_text(path).splitlines()
    i_time, frames, dt = _bvh_motion_header(lines, path)
    root = _read_bvh_hierarchy(path, lines)
    nodes, channels = _bvh_nodes(root, lines, path)
    if channels == 0:
        raise ClipFormatError("BVH declares no channels", path)

    rows, line_nos = [], []
    for i in range(i_time + 1, len(lines)):
        if lines[i].strip():
            rows.append(lines[i])
            line_nos.append(i + 1)
    if len(rows) < frames:
        raise ClipFormatError(f"'Frames: {frames}' but only {len(rows)} motion lines follow",
                              path, (line_nos[-1] if line_nos else i_time + 1))
    if len(rows) > frames:
        raise ClipFormatError(f"more motion lines than 'Frames: {frames}'", path,
                              line_nos[frames])
    try:
        motion = np.loadtxt(rows, comments=None, dtype=np.float64, ndmin=2)
        ok = motion.shape[1] == channels
    except ValueError:
        ok = False
    if not ok or not np.all(np.isfinite(motion)):
        for text, line in zip(rows, line_nos, strict=True):
            tokens = text.split()
            if len(tokens) != channels:
                raise ClipFormatError(
                    f"expected {channels} motion values (one per channel), found {len(tokens)}",
                    path, line)
            for col, tok in enumerate(tokens, start=1):
                try:
                    value = float(tok)
                except ValueError:
                    raise ClipFormatError(f"motion value {col} is not a number: {tok!r}",
                                          path, line) from None
                if not math.isfinite(value):
                    raise ClipFormatError(f"motion value {col} is not finite: {tok!r}",
                                          path, line)
        raise ClipFormatError("cannot parse the motion data", path, line_nos[0])

    positions = _to_z_up(_forward_kinematics(nodes, motion), up, handedness)
    node_names = [n.name for n in nodes]
    if roles is None:
        roles = _resolve_bvh_roles(node_names, names, path)
    elif max(roles.indices()) >= len(nodes):
        raise ClipFormatError(f"role index out of range for {len(nodes)} keypoints", path)
    positions = _scale_and_check(positions, roles, units, path)
    return Clip(positions=positions, fps=1.0 / dt, names=tuple(node_names), roles=roles,
                source=path, parents=tuple(n.parent for n in nodes))


def load_clip(path: str | Path, **kwargs: object) -> Clip:
    """Load a clip, choosing the loader by suffix: ``.bvh`` -> :func:`load_bvh`, else text.

    Keyword arguments that are None are dropped (so a CLI can pass its unset options), the
    rest go to the loader.
    """
    path = Path(path)
    kw = {k: v for k, v in kwargs.items() if v is not None}
    if path.suffix.lower() == ".bvh":
        return load_bvh(path, **kw)  # type: ignore[arg-type]
    return load_keypoint_txt(path, **kw)  # type: ignore[arg-type]
