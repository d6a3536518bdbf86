"""Fixed-rate loops for the real-time parts (sim physics thread, emulator state streams)."""

from __future__ import annotations

import time


class Pacer:
    """Sleep until the next tick of a fixed period; skip ahead instead of bursting.

    After falling more than ``max_lag`` seconds behind (a stalled machine), the schedule
    restarts from now rather than running a burst of ticks to catch up.

    Args:
        period: Tick period (s).
        max_lag: Largest lag (s) still caught up.
    """

    def __init__(self, period: float, max_lag: float = 0.05) -> None:
        self.period = period
        self.max_lag = max_lag
        self.next_t = time.perf_counter()

    def wait(self) -> None:
        """Block until the next tick."""
        self.next_t += self.period
        delay = self.next_t - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        elif delay < -self.max_lag:
            self.next_t = time.perf_counter()
