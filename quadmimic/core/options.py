"""Checks of the command line's options at the boundary: numeric ranges and output paths.

Each check is a typer option callback: ``typer.Option(help=..., callback=count)``. A value out
of range, or an output path that exists as the wrong kind (a file where a directory is
wanted), is a usage error, which the ``quadmimic`` command prints as one line naming the
option and the value (exit code 2), before the command reads or writes anything::

    error: Invalid value for '--timesteps': -5 is not >= 1

``None`` (an option left at a ``None`` default) passes every check.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import typer

PORT_RANGE = (1, 65535)
"""UDP/TCP ports a user may give."""
DDS_DOMAIN_RANGE = (0, 232)
"""DDS domain ids (the RTPS port mapping leaves room for 233 domains)."""
RT_PRIORITY_RANGE = (0, 99)
"""SCHED_FIFO priorities (0: normal scheduling)."""


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def at_least(low: float) -> Callable[[float | None], float | None]:
    """A check that the value is ``>= low`` (and finite)."""

    def check(value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and value >= low):
            raise typer.BadParameter(f"{_number(value)} is not >= {_number(low)}")
        return value

    return check


def between(low: float, high: float) -> Callable[[float | None], float | None]:
    """A check that the value is in ``[low, high]``."""

    def check(value: float | None) -> float | None:
        if value is not None and not low <= value <= high:  # NaN fails too
            raise typer.BadParameter(f"{_number(value)} is not in "
                                     f"[{_number(low)}, {_number(high)}]")
        return value

    return check


def positive(value: float | None) -> float | None:
    """A check for durations, rates and distances: finite and ``> 0``."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"{_number(value)} is not > 0")
    return value


count = at_least(1)
"""A count where zero means nothing to do: ``>= 1``."""
non_negative = at_least(0)
"""A count or seed that may be zero: ``>= 0``."""
fraction = between(0.0, 1.0)
"""A fraction: in ``[0, 1]``."""
port_number = between(*PORT_RANGE)
"""A port: ``1..65535``."""
domain_id = between(*DDS_DOMAIN_RANGE)
"""A DDS domain id: ``0..232``."""
sched_priority = between(*RT_PRIORITY_RANGE)
"""A SCHED_FIFO priority: ``0..99``."""


def _no_file_above(path: Path) -> None:
    """The nearest existing ancestor of ``path`` is a directory (one can be created in it)."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise typer.BadParameter(f"{path}: {parent} is a file, not a directory")
            return


def output_file(path: Path | None) -> Path | None:
    """A file to write: not an existing directory, nor below an existing file."""
    if path is not None:
        _no_file_above(path)
        if path.is_dir():
            raise typer.BadParameter(f"{path} is a directory; a file is wanted")
    return path


def output_dir(path: Path | None) -> Path | None:
    """A directory to write (or to resume in): not an existing file, nor below one."""
    if path is not None:
        _no_file_above(path)
        if path.exists() and not path.is_dir():
            raise typer.BadParameter(f"{path} is a file; a directory is wanted")
    return path


def ints_at_least(text: str, option: str, low: int) -> tuple[int, ...]:
    """Comma-separated integers ``>= low`` (e.g. ``--seeds 0,1,2``); empty items skipped.

    Raises:
        typer.BadParameter: An item is not an integer or is below ``low``, named with the
            option.
    """
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise typer.BadParameter(f"comma-separated integers, got {text!r}",
                                 param_hint=f"'{option}'") from None
    bad = [v for v in values if v < low]
    if bad:
        raise typer.BadParameter(f"{bad[0]} is not >= {low}", param_hint=f"'{option}'")
    return values


def positive_floats(text: str, option: str) -> tuple[float, ...]:
    """Comma-separated numbers ``> 0`` (e.g. ``--lrs 3e-4,1e-4``); empty items skipped.

    Raises:
        typer.BadParameter: An item is not a finite number > 0, named with the option.
    """
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise typer.BadParameter(f"comma-separated numbers, got {text!r}",
                                 param_hint=f"'{option}'") from None
    bad = [v for v in values if not (math.isfinite(v) and v > 0)]
    if bad:
        raise typer.BadParameter(f"{bad[0]:g} is not > 0", param_hint=f"'{option}'")
    return values


__all__ = ["at_least", "between", "count", "domain_id", "fraction", "ints_at_least",
           "non_negative", "output_dir", "output_file", "port_number", "positive",
           "positive_floats", "sched_priority"]
