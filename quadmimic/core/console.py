"""The console every command prints to, and its progress bar (both on stderr).

stdout stays free for what a command outputs as data (JSON, Markdown tables).
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True)
"""The one rich console of the project's commands, on stderr."""


def progress_bar() -> Progress:
    """A rich progress bar with count, elapsed time and rate, on stderr.

    Tasks carry a ``rate`` field (text shown after the elapsed time): ``bar.add_task(name,
    total=n, rate="")``.
    """
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[rate]}"), console=console,
                    transient=False)


__all__ = ["console", "progress_bar"]
