"""AWR over z: hand-computed weights and update, and convergence on a known objective."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adaptation.awr import AWRConfig, awr_update, awr_weights


def test_weights_by_hand():
    # returns 0, 1, 2 → advantages -1, 0, 1; temperature 1 → weights ∝ e^-1, 1, e
    w = awr_weights(np.array([0.0, 1.0, 2.0]), temperature=1.0)
    z = math.exp(-1) + 1 + math.e
    np.testing.assert_allclose(w, [math.exp(-1) / z, 1 / z, math.e / z], rtol=1e-12)
    np.testing.assert_allclose(awr_weights(np.array([5.0, 5.0]), 0.1), [0.5, 0.5])


def test_update_by_hand():
    latents = np.array([[0.0, 0.0], [2.0, 4.0]])
    returns = np.array([0.0, math.log(3.0)])  # temperature 1 → weights 1/4, 3/4
    cfg = AWRConfig(temperature=1.0, min_std=0.0, max_weight=1.0, normalize=False,
                    std_step=1.0)
    mean, std = awr_update(np.zeros(2), np.ones(2), latents, returns, cfg)
    np.testing.assert_allclose(mean, [1.5, 3.0])
    # var = 1/4·(0 − m)² + 3/4·(z − m)²: dim 0: 1/4·2.25 + 3/4·0.25 = 0.75
    np.testing.assert_allclose(std, [math.sqrt(0.75), math.sqrt(3.0)])
    # Half a step on the spread from std 1: var = ½·1 + ½·0.75
    half = AWRConfig(temperature=1.0, min_std=0.0, max_weight=1.0, normalize=False)
    _, std = awr_update(np.zeros(2), np.ones(2), latents, returns, half)
    np.testing.assert_allclose(std[0], math.sqrt(0.875))
    # Normalised advantages: returns scaled ×10 give the same weights.
    np.testing.assert_allclose(awr_weights(returns * 10, 1.0, normalize=True),
                               awr_weights(returns, 1.0, normalize=True))


def test_weight_cap_and_std_floor():
    w = awr_weights(np.array([0.0, 0.0, 0.0, 10.0]), 0.01, max_weight=0.5)
    assert w.max() == pytest.approx(0.5) and w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(w[:3], 0.5 / 3)
    _, std = awr_update(np.zeros(1), np.ones(1), np.array([[1.0], [1.0]]), np.array([0.0, 1.0]),
                        AWRConfig(min_std=0.05, std_step=1.0))
    assert std[0] == 0.05


def test_finds_the_best_latent_of_a_known_objective():
    rng = np.random.default_rng(0)
    target = np.array([0.7, -1.2, 0.3])
    mean, std = np.zeros(3), np.ones(3)
    cfg = AWRConfig(min_std=0.02)
    for _ in range(25):
        z = mean + std * rng.standard_normal((8, 3))
        returns = -np.sum((z - target) ** 2, axis=1)
        mean, std = awr_update(mean, std, z, returns, cfg)
    assert np.linalg.norm(mean - target) < 0.1


@pytest.mark.parametrize("bad", [np.array([]), np.array([1.0, np.nan])])
def test_bad_returns_are_errors(bad):
    with pytest.raises(ValueError):
        awr_weights(bad, 1.0)
