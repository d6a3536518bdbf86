"""Advantage-weighted regression over the latent: the pure update of the search distribution.

The search distribution over z is a diagonal Gaussian N(mean, std²). From K latents z_k with
returns R_k, AWR fits the distribution to the latents weighted by exp(A_k / temperature),
A_k = R_k − mean(R) (Peng et al. 2019, 2020): the weighted maximum-likelihood update

    A_k = (R_k − R̄) / s,   w_k = exp(A_k / temperature) / Σ_j exp(A_j / temperature)
    mean' = Σ_k w_k z_k,    std'² = (1 − λ) std² + λ Σ_k w_k (z_k − mean')²,

where s is the returns' standard deviation when ``normalize`` (so the temperature does not
depend on the reward's scale; else 1), λ is ``std_step`` (a partial step on the spread: a
full refit collapses the search onto the first lucky samples), std' is floored at
``min_std``, and each weight is capped at ``max_weight`` before renormalising so one lucky
rollout cannot take over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AWRConfig:
    """Settings of the latent search."""

    temperature: float = 1.0
    """β of exp(A/β); with ``normalize`` in units of the returns' standard deviation."""
    normalize: bool = True
    """Divide advantages by the returns' standard deviation."""
    std_step: float = 0.5
    """λ: how far the spread moves toward the weighted refit each update (0..1)."""
    min_std: float = 0.05
    """Floor of the search standard deviation."""
    max_weight: float = 0.5
    """Largest normalised weight one rollout may get (before renormalising)."""


def awr_weights(returns: np.ndarray, temperature: float, max_weight: float = 1.0,
                normalize: bool = False) -> np.ndarray:
    """Normalised AWR weights (K,) of returns (K,) (see the module docstring)."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1 or r.size == 0 or not np.all(np.isfinite(r)):
        raise ValueError("returns must be a non-empty vector of finite numbers")
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    scale = float(r.std()) if normalize and r.std() > 1e-12 else 1.0
    a = (r - r.mean()) / (scale * temperature)
    w = np.exp(a - a.max())
    w /= w.sum()
    if max_weight < 1.0 and r.size > 1:
        cap = max(max_weight, 1.0 / r.size)
        for _ in range(r.size):  # cap, renormalise, until nothing exceeds the cap
            over = w > cap + 1e-12
            if not over.any():
                break
            excess = (w[over] - cap).sum()
            w[over] = cap
            rest = w[~over].sum()
            w[~over] += excess * (w[~over] / rest if rest > 0 else 1.0 / (~over).sum())
    return w


def awr_update(
    mean: np.ndarray,
    std: np.ndarray,
    latents: np.ndarray,
    returns: np.ndarray,
    config: AWRConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """One AWR step of the search distribution.

    Args:
        mean: (Z,) current mean (only its shape is used: the update is a refit).
        std: (Z,) current standard deviation (shape check).
        latents: (K, Z) latents rolled out.
        returns: (K,) their returns.
        config: Temperature, std floor, weight cap.

    Returns:
        The new mean (Z,) and standard deviation (Z,).
    """
    z = np.asarray(latents, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != np.shape(mean)[0] or np.shape(std) != np.shape(mean):
        raise ValueError("latents must be (K, Z) with Z the size of mean and std")
    if z.shape[0] != np.shape(returns)[0] or not np.all(np.isfinite(z)):
        raise ValueError("one finite latent per return is needed")
    w = awr_weights(returns, config.temperature, config.max_weight, config.normalize)
    new_mean = w @ z
    var = (1.0 - config.std_step) * np.asarray(std, np.float64) ** 2 + config.std_step * (
        w @ (z - new_mean) ** 2)
    return new_mean, np.maximum(np.sqrt(var), config.min_std)
