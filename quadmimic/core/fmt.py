"""Figures as text for tables and reports: a missing figure is a dash."""

from __future__ import annotations

from typing import Any

MISSING = "—"
"""What a table shows where a figure is missing (None)."""


def fig(value: Any, form: str = "{:.2f}") -> str:
    """``value`` formatted with ``form`` (a ``str.format`` pattern), or :data:`MISSING`."""
    return MISSING if value is None else form.format(value)


def percent(value: float | None) -> str:
    """A ratio as a whole percentage (``0.853`` → ``"85 %"``), or :data:`MISSING`."""
    return MISSING if value is None else f"{100 * value:.0f} %"


__all__ = ["MISSING", "fig", "percent"]
