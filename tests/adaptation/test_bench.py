"""The adaptation benchmark (``quadmimic bench adapt``) in short rollouts: real PyBullet runs."""

from __future__ import annotations

import numpy as np

from adaptation.bench import bench_adapt
from tests.conftest import REPO


def test_bench_adapt_scores_prior_nominal_and_each_adaptation_stage(tiny_policy):
    figures = bench_adapt(tiny_policy, REPO / "data" / "dynamics" / "held_out_a1.json",
                          eval_rollouts=1, rollout_seconds=0.2)
    for key in ("prior", "nominal", "adapted_5", "adapted_10", "adapted_20"):
        assert np.isfinite(figures[key]), key
    assert len(figures["adapted_20_z"]) == 8
    assert isinstance(figures["pass"], bool) and "robust" not in figures
