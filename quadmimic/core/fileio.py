"""Files: atomic writing and reading the small tables users write.

Writing: no reader sees a half-written file; a failed write keeps the old one. Reading: the
JSON or TOML tables of dynamics, roles and env settings, each error located in its file.
"""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Write a file atomically: into a temporary file in the same folder, then rename it.

    Args:
        path: Destination file. Its parent folder is created if missing.
        write: Callback that writes the whole content to the binary file object it is given.

    Returns:
        The destination path.

    If ``write`` raises, the temporary file is removed, the destination is left untouched and
    the exception propagates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a written file is a normal file
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write`."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def read_table(path: str | Path, error: Callable[..., Exception], what: str) -> dict[str, Any]:
    """A user-written table: a JSON object, or TOML when the name ends in ``.toml``.

    Args:
        path: The file.
        error: Located error class raised as ``error(reason, path[, line])``.
        what: What the file holds, for the messages ("dynamics file", ...).

    Raises:
        The ``error`` class: missing or unreadable file, bad syntax (with its line for JSON),
        or a document that is not one table.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror}", path) from None
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise error(f"not valid TOML: {exc}", path) from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise error(f"not valid JSON: {exc.msg}", path, exc.lineno) from None
    if not isinstance(data, dict):
        raise error(f"a {what} holds one JSON object (a TOML table)", path)
    return data
