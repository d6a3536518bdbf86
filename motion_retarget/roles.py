"""Roles files: which joints of an animal's clip play pelvis, neck, hips and toes.

Retargeting needs ten keypoints of a skeleton (see :class:`~motion_retarget.mocap.KeypointRoles`).
The defaults fit the AI4Animation dog; any other skeleton (a cat, a horse, another dog rig) is
mapped from the command line with ``quadmimic retarget CLIP --roles FILE``, a small JSON or
TOML file::

    # horse.toml: joint names of the BVH (or keypoint indices of a text clip)
    pelvis = "pelvis"
    neck = "neck_base"
    hips = ["r_shoulder", "l_shoulder", "r_hip", "l_hip"]   # FR, FL, RR, RL
    toes = ["r_fore_hoof", "l_fore_hoof", "r_hind_hoof", "l_hind_hoof"]
    up = "y"            # optional: the clip's up axis, y or z
    units = "cm"        # optional: m, cm, mm (BVH also auto)
    handedness = "right"  # optional: right or left

Roles left out keep their defaults. A name is matched exactly, else case-insensitively if only
one joint matches; an integer is a keypoint index. A role that names no joint of the clip is
one error line that lists the clip's joints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quadmimic.core.errors import ClipFormatError
from quadmimic.core.fileio import read_table

ROLE_KEYS = ("pelvis", "neck", "hips", "toes")
"""Keys of a roles file that name keypoints."""
OPTION_KEYS = ("up", "units", "handedness")
"""Keys of a roles file that say how to read the clip."""


@dataclass(frozen=True)
class RolesFile:
    """A parsed roles file."""

    roles: dict[str, Any] = field(default_factory=dict)
    """Role -> joint name or keypoint index (``hips``, ``toes``: lists of 4, FR, FL, RR, RL)."""
    up: str | None = None
    """Up axis of the clip (``y`` or ``z``), or None for the loader's default."""
    units: str | None = None
    """Length unit of the clip (``m``, ``cm``, ``mm``, ``auto``), or None for the default."""
    handedness: str | None = None
    """``right`` or ``left``, or None for the loader's default."""
    source: Path | None = None
    """The file it was read from."""


def _check_name(value: object, where: str, path: Path) -> None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ClipFormatError(f"{where} must be a joint name or a keypoint index, got {value!r}",
                              path)


def load_roles(path: str | Path) -> RolesFile:
    """Read and check a roles file (``.toml``, else JSON).

    Args:
        path: The file.

    Returns:
        The roles and options it sets.

    Raises:
        ClipFormatError: Missing file, bad syntax (with its line), an unknown key, a leg list
            that is not 4 entries, or a value of the wrong type.
    """
    path = Path(path)
    if not path.is_file():
        raise ClipFormatError("roles file not found", path)
    data = read_table(path, ClipFormatError, "roles file")
    unknown = sorted(set(data) - set(ROLE_KEYS) - set(OPTION_KEYS))
    if unknown:
        raise ClipFormatError(f"unknown key(s) {', '.join(unknown)}; expected some of "
                              f"{', '.join(ROLE_KEYS + OPTION_KEYS)}", path)
    roles: dict[str, Any] = {}
    for key in ROLE_KEYS:
        if key not in data:
            continue
        value = data[key]
        if key in ("hips", "toes"):
            if not isinstance(value, list) or len(value) != 4:
                raise ClipFormatError(f"{key} must list 4 joints (FR, FL, RR, RL), got {value!r}",
                                      path)
            for i, v in enumerate(value):
                _check_name(v, f"{key}[{i}]", path)
            roles[key] = tuple(value)
        else:
            _check_name(value, key, path)
            roles[key] = value
    options: dict[str, str] = {}
    allowed = {"up": ("y", "z"), "units": ("m", "cm", "mm", "auto"),
               "handedness": ("right", "left")}
    for key in OPTION_KEYS:
        if key in data:
            if data[key] not in allowed[key]:
                raise ClipFormatError(f"{key} must be one of {', '.join(allowed[key])}, got "
                                      f"{data[key]!r}", path)
            options[key] = data[key]
    return RolesFile(roles=roles, source=path, **options)
