"""Latency figures kept in a fixed histogram: O(1) to add, a few microseconds to summarize.

The real-time loop records every send's lateness and every answer step's generation time.
Keeping raw values and running ``np.percentile`` over 20,000 of them once a second held the
GIL (and the loop's own thread) for about a millisecond each time; a histogram of 10 us bins
answers the same percentiles to within one bin, for a whole set rather than the last 20,000.
"""

from __future__ import annotations

import numpy as np

BIN_SECONDS = 1e-5
"""Histogram resolution: 10 us (percentiles are the upper edge of their bin)."""
BINS = 10_000
"""Bins up to 100 ms; later values count in the last bin (the exact maximum is kept apart)."""


class Timings:
    """Durations in seconds: :meth:`append` one, :meth:`summary` in milliseconds."""

    def __init__(self):
        self.counts = np.zeros(BINS + 1, dtype=np.int64)
        self.total = 0
        self.max = 0.0

    def append(self, seconds: float) -> None:
        index = int(seconds / BIN_SECONDS)
        self.counts[min(BINS, max(0, index))] += 1
        self.total += 1
        if seconds > self.max:
            self.max = seconds

    def clear(self) -> None:
        self.counts[:] = 0
        self.total, self.max = 0, 0.0

    def __len__(self) -> int:
        return self.total

    def percentile_ms(self, q: float) -> float:
        """The ``q``-th percentile (0-100) in milliseconds, to within one bin (0 when empty)."""
        if not self.total:
            return 0.0
        index = int(np.searchsorted(np.cumsum(self.counts), q / 100 * self.total))
        return min((index + 1) * BIN_SECONDS, self.max) * 1000

    def count_over(self, seconds: float) -> int:
        """How many values exceeded ``seconds`` (to within one bin)."""
        return int(self.counts[int(seconds / BIN_SECONDS) + 1 :].sum())
