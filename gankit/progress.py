"""How long a long step has left, as its progress lines say (``make course``, ``grade_class``)."""

from __future__ import annotations

import time
from collections.abc import Callable


class Pace:
    """Time left, from the pace of the work done since the first wave finished.

    Neither the start-up (cluster, kernels, caches) nor the first students, who all start at once
    and finish together, say how fast the rest will go: timing from the start, the first estimate
    of ``make course`` was four times the real time. So nothing is estimated until ``parallel``
    items are done; after that, the rate is the items done since then over the time since then."""

    def __init__(self, parallel: int = 1, clock: Callable[[], float] = time.perf_counter):
        self.parallel = max(1, parallel)
        self.clock = clock
        self.wave_done_at: float | None = None

    def left(self, done: int, total: int) -> float | None:
        """Seconds left once ``done`` of ``total`` are done (None while there is no pace to go by).
        Call it at every item done."""
        now = self.clock()
        if done >= self.parallel and self.wave_done_at is None:
            self.wave_done_at = now
        if self.wave_done_at is None or done <= self.parallel:
            return None
        return (now - self.wave_done_at) / (done - self.parallel) * (total - done)
