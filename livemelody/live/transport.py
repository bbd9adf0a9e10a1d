"""Where the 16th-step grid is: an internal tempo, or the tempo of incoming MIDI clock.

External clock: 24 ticks (0xF8) per quarter note, i.e. 6 per 16th step; Start (0xFA) resets
the song position to 0, Continue (0xFB) resumes, Stop (0xFC) pauses, Song Position Pointer
(0xF2) sets the position in 16th steps. The tempo and the grid origin are a least-squares
line through the last ``WINDOW`` ticks (time against tick count), which averages out the
jitter of each tick's arrival.
"""

from __future__ import annotations

import collections

import numpy as np

from livemelody.clock import Grid
from livemelody.config import SETTINGS
from livemelody.midi.spec import CLOCKS_PER_QUARTER

TICKS_PER_STEP = CLOCKS_PER_QUARTER // 4
BPM = SETTINGS["bpm"]
"""The tempo range followed: the live setting's."""
WINDOW = 48
"""Ticks in the tempo fit (two beats)."""


class Transport:
    """The grid in force: ``grid.time_of(step)`` in monotonic seconds."""

    def __init__(self, bpm: float, origin: float, external: bool = False):
        self.grid = Grid(bpm, origin)
        self.external = external
        self.running = not external
        self._count = -1  # MIDI clock ticks since song position 0; the next tick is _count + 1
        self._ticks: collections.deque[tuple[int, float]] = collections.deque(maxlen=WINDOW)

    @property
    def bpm(self) -> float:
        return self.grid.bpm

    def set_bpm(self, bpm: float, now: float) -> None:
        """Change the internal tempo keeping the step under ``now`` in place (ignored when following)."""
        if self.external:
            return
        step = self.grid.step_at(now)
        grid = Grid(bpm)
        self.grid = Grid(bpm, now - step * grid.step_seconds)

    def handle(self, status: int, data: list[int], stamp: float) -> bool:
        """Apply one system real-time/common message; True if it was a transport message."""
        if status == 0xF8:
            self._count += 1
            if self.external:
                self._ticks.append((self._count, stamp))
                self._fit()
        elif status == 0xFA:
            self._count, self.running = -1, True
            self._ticks.clear()
        elif status == 0xFB:
            self.running = True
        elif status == 0xFC:
            self.running = False
        elif status == 0xF2 and len(data) >= 3:
            position = data[1] | (data[2] << 7)  # in 16th steps
            self._count = position * TICKS_PER_STEP - 1
            self._ticks.clear()
        else:
            return False
        return True

    def _fit(self) -> None:
        if len(self._ticks) < 3:
            return
        counts = np.array([c for c, _ in self._ticks], dtype=np.float64)
        times = np.array([t for _, t in self._ticks], dtype=np.float64)
        slope, intercept = np.polyfit(counts - counts[-1], times, 1)  # seconds per tick
        if slope <= 0:
            return
        bpm = min(BPM.high, max(BPM.low, 60.0 / (slope * CLOCKS_PER_QUARTER)))
        step_seconds = 60.0 / bpm / 4
        # time of tick count[-1] is intercept; step 0 lies count[-1] / 6 steps before it
        self.grid = Grid(bpm, intercept - counts[-1] / TICKS_PER_STEP * step_seconds)
