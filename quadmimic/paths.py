"""Where the project's data lies: the repo's own ``data/`` and the ``shared/`` folder beside it."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
"""The repository root (this file is ``quadmimic/paths.py``)."""
DATA = REPO / "data"
"""Shipped data: default clips, policies, dynamics files."""
DEFAULT_CLIPS = DATA / "mocap"
"""The project's default dog clips (see ``data/mocap/SOURCE.md``)."""
SHARED = REPO.parent / "shared"
"""The shared folder beside the repo (raw clips, reference motions), when present."""
RUNS = REPO / "runs"
"""Default output folder (git-ignored)."""
