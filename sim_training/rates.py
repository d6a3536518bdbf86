"""Physics rates of training and evaluation, the one home of both (light: the CLI reads them)."""

from __future__ import annotations

TRAIN_PHYSICS_HZ = 500.0
"""Physics rate of the training envs (Hz): measured 1.6× the samples/s of 1 kHz with the same
standing height (0.2612 m) and a stable PD."""
EVAL_PHYSICS_HZ = 1000.0
"""Physics rate of shipped evaluations and of ``quadmimic eval`` (Hz): the robot backends'.
Evaluating at another rate than training is a check of the transfer."""

__all__ = ["EVAL_PHYSICS_HZ", "TRAIN_PHYSICS_HZ"]
