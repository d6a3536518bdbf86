"""Settings of an adaptation session (light: the command line reads its defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field

from adaptation.awr import AWRConfig


@dataclass(frozen=True)
class AdaptConfig:
    """Settings of an adaptation session."""

    rollouts: int = 20
    """Rollouts in total."""
    rollouts_per_update: int = 4
    """Rollouts between AWR updates of the search distribution."""
    rollout_seconds: float = 4.0
    """Policy time per rollout (s)."""
    ramp_seconds: float = 0.5
    """Start-up ramp to the default pose before each rollout (s)."""
    init_std: float = 1.0
    """Initial search standard deviation (the encoder's prior is N(0, I))."""
    seed: int = 0
    """Seed of the latent draws."""
    awr: AWRConfig = field(default_factory=AWRConfig)
    """The AWR update's settings."""


__all__ = ["AdaptConfig"]
