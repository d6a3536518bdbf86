"""Samples to the tracking threshold, from a learning curve."""

from __future__ import annotations

from sim_training.plots import samples_to_threshold

ROWS = [
    {"timesteps": 1000.0, "mean_episode_seconds": 9.8, "reward_terms.pose": 0.7},
    {"timesteps": 2000.0, "mean_episode_seconds": 5.0, "reward_terms.pose": 0.5,
     "eval_nominal_seconds": 10.0, "eval_nominal_fall_rate": 0.5, "eval_nominal_pose": 0.7},
    {"timesteps": 3000.0, "mean_episode_seconds": 6.0, "reward_terms.pose": 0.5,
     "eval_nominal_seconds": 10.0, "eval_nominal_fall_rate": 0.0, "eval_nominal_pose": 0.59},
    {"timesteps": 4000.0, "mean_episode_seconds": 6.0, "reward_terms.pose": 0.5,
     "eval_nominal_seconds": 10.0, "eval_nominal_fall_rate": 0.0, "eval_nominal_pose": 0.61},
]


def test_evaluations_decide_when_the_curve_has_them():
    # Row 1 passes on training figures but has no evaluation; rows 2 and 3 fail (a fall; pose).
    assert samples_to_threshold(ROWS, 9.5, 0.6) == 4000.0
    assert samples_to_threshold(ROWS[:3], 9.5, 0.6) is None


def test_training_figures_are_the_fallback():
    assert samples_to_threshold(ROWS[:1], 9.5, 0.6) == 1000.0
    assert samples_to_threshold(ROWS[:1], 9.9, 0.6) is None
