"""Shared test fixtures: locations of the shared data and the default clips."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MOCAP_RAW = SHARED / "mocap_raw"
REFERENCE_MOTIONS = SHARED / "reference_motions"
DEFAULT_CLIPS = REPO / "data" / "mocap"


@pytest.fixture(scope="session")
def trot_clip_path() -> Path:
    return DEFAULT_CLIPS / "dog_trot_joint_pos.txt"
