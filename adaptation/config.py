"""Settings of an adaptation session (light: the command line reads its defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field

from adaptation.awr import AWRConfig


@dataclass(frozen=True)
class AdaptConfig:
    """Settings of an adaptation session: the budget and the safe search's neighbourhood.

    Lengths in z are in units of the training latents' spread: per dimension, the standard
    deviation of the encoder's means of dynamics drawn from the policy's own training ranges
    (:func:`adaptation.adapt.latent_scale`), so that a step is as large in a dimension the
    encoder uses little as in one it uses much.
    """

    rollouts: int = 9
    """Budget: rollouts in total (the start rollout, then rounds of ``2 * pairs``); a round
    that does not fit in what is left is not started. 9 rollouts of 4 s: 36 s of robot time
    plus the ramps."""
    rollout_seconds: float = 4.0
    """Policy time per rollout (s)."""
    ramp_seconds: float = 0.5
    """Start-up ramp to the default pose before each rollout (s)."""
    pairs: int = 2
    """Paired rollouts per round: incumbent and candidate each run once on the same seed
    (where the robot allows seeding its resets), ``pairs`` seeds per round (>= 2: the
    standard error of the paired differences needs two)."""
    challenge_prior: bool = True
    """Round 0's candidate is the prior (z = 0) when the session starts from the estimate or a
    given z, so that the search can end at the prior where paired rollouts show it better
    (``adaptation.adapt``)."""
    spread: float = 0.5
    """Standard deviation of a candidate's draw around the search mean (training spreads)."""
    radius: float = 1.0
    """Half-width of the box around the start z that no candidate or mean leaves (training
    spreads)."""
    max_step: float = 0.25
    """Largest move of the search mean per round, as the root mean square over dimensions of
    the move (training spreads); the spread of the draws is fixed (mean-only steps)."""
    min_gain_se: float = 1.0
    """A candidate replaces the incumbent only when the mean of its paired differences is
    positive and at least this many standard errors of them."""
    min_gain: float = 0.005
    """...and at least this much return (mean step reward): on a seeded, deterministic robot
    (a simulator) the paired differences can all be equal, their standard error 0, and any
    rounding-size gain would otherwise move the search. 0.005 is half a percent of the largest
    return, below what one rollout's noise on a real robot moves."""
    worst_return: float = 0.0
    """The score of a rollout cut short by a safety trip (the lowest return there is: returns
    are mean step rewards in [0, 1])."""
    scale_latents: int = 64
    """Training latents drawn to measure the training spread per dimension."""
    seed: int = 0
    """Seed of the candidates' draws and of the rollout seeds."""
    awr: AWRConfig = field(default_factory=AWRConfig)
    """The weights of the search mean's update (advantage-weighted regression)."""

    def __post_init__(self) -> None:
        """Reject settings that cannot search."""
        if self.rollouts < 1 or self.pairs < 2 or self.scale_latents < 2:
            raise ValueError("rollouts >= 1, pairs >= 2 and scale_latents >= 2 are required")
        if not self.rollout_seconds > 0 or self.ramp_seconds < 0:
            raise ValueError("rollout_seconds > 0 and ramp_seconds >= 0 are required")
        if (min(self.spread, self.radius, self.max_step) <= 0
                or min(self.min_gain_se, self.min_gain) < 0):
            raise ValueError("spread, radius and max_step > 0 and min_gain_se, min_gain >= 0 "
                             "required")

    def rollouts_used(self, budget: int | None = None) -> int:
        """Rollouts a session runs with a budget (default: ``rollouts``): whole rounds only."""
        budget = self.rollouts if budget is None else budget
        round_size = 2 * self.pairs
        return 1 + round_size * ((budget - 1) // round_size) if budget >= 1 else 0


__all__ = ["AdaptConfig"]
