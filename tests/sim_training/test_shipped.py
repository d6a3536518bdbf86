"""The shipped policy bundles pass their own evaluation (and what the issue asks of them)."""

from __future__ import annotations

import json

import pytest

from sim_training.bundle import PolicyBundle
from sim_training.cli import EVAL_PHYSICS_HZ
from sim_training.evaluate import evaluate
from tests.conftest import REPO

SHIPPED = sorted(p for p in (REPO / "data" / "policies").iterdir() if p.is_dir())


def test_the_trot_and_the_pace_are_shipped():
    assert {"a1_trot", "a1_pace"} <= {p.name for p in SHIPPED}


@pytest.mark.parametrize("bundle_dir", SHIPPED, ids=lambda p: p.name)
def test_shipped_bundle_tracks_its_motion_at_nominal_dynamics(bundle_dir):
    """No fall over 10 s and pose term >= 0.6, as its eval.json says (here re-run: 2 phases)."""
    for name in ("eval.json", "rollout.gif", "learning_curve.png", "curve.json"):
        assert (bundle_dir / name).is_file(), name
    saved = json.loads((bundle_dir / "eval.json").read_text())
    assert saved["fall_rate"] == 0.0 and saved["reward_terms.pose"] >= 0.6
    assert saved["physics_hz"] == EVAL_PHYSICS_HZ and saved["episodes"] >= 10
    result = evaluate(PolicyBundle.load(bundle_dir), episodes=2, seed=7,
                      physics_hz=EVAL_PHYSICS_HZ)
    assert result["fall_rate"] == 0.0
    assert result["mean_episode_seconds"] >= 9.9
    assert result["reward_terms.pose"] >= 0.6
