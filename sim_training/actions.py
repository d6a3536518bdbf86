"""Policy action → joint position target: the one definition shared by the env and deploy."""

from __future__ import annotations

import numpy as np

from quadmimic.core.robots import RobotSpec


class ActionToTarget:
    """Clip, low-pass filter and scale actions into joint targets (12,) rad.

    ``residual`` mode: target = reference pose + action_scale · filtered action;
    ``absolute`` mode: target = default pose + action_scale · filtered action. Targets are
    clipped to the joint limits. The filter is first order with cut-off ``filter_hz`` at the
    policy period ``dt``.

    Args:
        spec: The robot spec (limits, default pose).
        mode: "residual" or "absolute".
        scale: Radians per unit action.
        filter_hz: Cut-off (Hz); 0 disables the filter.
        dt: Policy period (s).
    """

    def __init__(self, spec: RobotSpec, mode: str, scale: float, filter_hz: float,
                 dt: float) -> None:
        self.spec = spec
        self.mode = mode
        self.scale = scale
        self.alpha = 1.0 if filter_hz <= 0 else 1.0 - np.exp(-2 * np.pi * filter_hz * dt)
        self.filtered = np.zeros(12)
        self.last_action = np.zeros(12)

    def reset(self) -> None:
        """Forget the filter state (episode start)."""
        self.filtered = np.zeros(12)
        self.last_action = np.zeros(12)

    def __call__(self, action: np.ndarray, reference_joints: np.ndarray) -> np.ndarray:
        """The target (12,) for ``action`` (12,) given the reference pose at the target time.

        Raises:
            ValueError: The action is not 12 finite numbers.
        """
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != (12,) or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be 12 finite numbers, got shape {action.shape}")
        action = np.clip(action, -1.0, 1.0)
        self.filtered += self.alpha * (action - self.filtered)
        self.last_action = action
        base = reference_joints if self.mode == "residual" else self.spec.default
        return np.clip(base + self.scale * self.filtered, self.spec.lower, self.spec.upper)
