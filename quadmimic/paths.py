"""Where the project's data lies: the repository's own ``data/``."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
"""The repository root (this file is ``quadmimic/paths.py``)."""
DATA = REPO / "data"
"""Shipped data: default clips, policies, dynamics files."""
DEFAULT_CLIPS = DATA / "mocap"
"""The fifteen raw dog clips (see ``data/mocap/SOURCE.md``); the demo uses the trot."""
REFERENCE_MOTIONS = DATA / "reference_motions"
"""The paper code's ten Laikago motions (see ``data/reference_motions/SOURCE.md``)."""
RUNS = REPO / "runs"
"""Default output folder (git-ignored)."""
