"""The project's one exception hierarchy.

Every stage raises a subclass of :class:`QuadmimicError`; the CLI turns any of them into one
clear line and a non-zero exit code. Errors about files carry the path and, where it makes
sense, the 1-based line number so a user can open the file at the right place.
"""

from __future__ import annotations

from pathlib import Path


class QuadmimicError(Exception):
    """Base class of every error this project raises on purpose."""


class _LocatedError(QuadmimicError):
    """An error about the content of a file, with the file and (optionally) the line.

    Attributes:
        path: The offending file, or None when the data did not come from a file.
        line: 1-based line number in that file, or None when not applicable.
        reason: What is wrong, without the location.
    """

    def __init__(self, reason: str, path: str | Path | None = None, line: int | None = None):
        self.path = None if path is None else Path(path)
        self.line = line
        self.reason = reason
        where = ""
        if self.path is not None:
            where = f"{self.path}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(f"{where}{reason}")


class ClipFormatError(_LocatedError):
    """A motion-capture clip (keypoint text or BVH) is missing, malformed or implausible."""


class MotionFormatError(_LocatedError):
    """A reference motion file (motion_imitation JSON) is missing or malformed."""


class RobotSpecError(QuadmimicError):
    """A robot name is unknown or its spec is inconsistent with its URDF."""


class RetargetError(QuadmimicError):
    """Retargeting cannot proceed (e.g. an empty time window or an unusable clip)."""


class DynamicsError(_LocatedError):
    """A dynamics-parameter dict or file has an unknown key or an impossible value."""


class ConfigError(_LocatedError):
    """A settings file (e.g. ``quadmimic train --env-config``) is unreadable or impossible."""


class BundleError(_LocatedError):
    """A policy bundle directory is missing a file or is inconsistent."""


class RobotConnectionError(QuadmimicError):
    """A robot backend could not connect or lost its connection."""


class DocsError(_LocatedError):
    """A generated document (``quadmimic docs``) or the data it reports is missing or malformed."""
