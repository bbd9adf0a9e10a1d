"""Time-ordered MIDI output that owns every note it starts: nothing it plays can be left on.

The scheduler sends each event when the loop calls :meth:`Scheduler.send_due` at (or just
after) its due time, keeps the set of sounding notes, and on :meth:`panic` sends note-offs for
all of them, then sustain off (CC64 = 0), All Notes Off (CC123) and All Sound Off (CC120) on
every channel it used: CC123 alone does not release notes held by the sustain pedal.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable

from livemelody.events import Tag
from livemelody.live.timings import Timings
from livemelody.midi.spec import NOTE_OFF, NOTE_ON, note_off, panic_messages

log = logging.getLogger("livemelody.scheduler")
STALL_SECONDS = 0.002
"""A send later than this is a stall: counted and logged (docs/BENCHMARKS.md's targets)."""

Send = Callable[[list[int]], None]


class Scheduler:
    """Owns the output's timing and its sounding notes (one thread: the real-time loop's)."""

    def __init__(
        self, send: Send, now: Callable[[], float], on_sent: Callable[[float, list[int], Tag], None] | None = None
    ):
        self._send = send
        self._now = now
        self._on_sent = on_sent
        self._heap: list[tuple[float, int, list[int], Tag]] = []
        self._order = itertools.count()
        self.sounding: dict[tuple[int, int], Tag] = {}  # (channel, note) -> tag
        self.channels: set[int] = set()
        self.lateness = Timings()
        """Seconds each event was sent after its due time (since the start or a reset)."""
        self.send_errors = 0
        self.stalls = 0
        """Events sent more than STALL_SECONDS late (each is logged)."""

    def schedule(self, due: float, data: list[int], tag: Tag) -> None:
        heapq.heappush(self._heap, (due, next(self._order), data, tag))

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def send_due(self, now: float) -> int:
        """Send every event due by ``now``; returns how many were sent."""
        sent = 0
        while self._heap and self._heap[0][0] <= now:
            due, _, data, tag = heapq.heappop(self._heap)
            late = self._now() - due
            self.lateness.append(late)
            if late > STALL_SECONDS:
                self.stalls += 1
                log.warning("stall: a %s event sent %.2f ms late", tag, late * 1000)
            self._emit(data, tag)
            sent += 1
        return sent

    def cancel(self, tag: Tag, now: float) -> None:
        """Drop pending events of ``tag`` and release its sounding notes now."""
        self._heap = [e for e in self._heap if e[3] != tag]
        heapq.heapify(self._heap)
        for (channel, note), owner in list(self.sounding.items()):
            if owner == tag:
                self._emit(note_off(channel, note), tag)

    def panic(self, now: float | None = None) -> None:
        """Silence everything this scheduler ever played; pending events are dropped."""
        self._heap.clear()
        for data in panic_messages(self.channels, list(self.sounding)):
            self._emit(data, Tag.PANIC)

    def _emit(self, data: list[int], tag: Tag) -> None:
        status = data[0] & 0xF0
        channel = data[0] & 0x0F
        if status == NOTE_ON and data[2] > 0:
            self.sounding[(channel, data[1])] = tag
            self.channels.add(channel)
        elif status in (NOTE_OFF, NOTE_ON):
            self.sounding.pop((channel, data[1]), None)
        try:
            self._send(data)
        except Exception:  # a vanished port: keep the books right, the watcher reports it
            self.send_errors += 1
        if self._on_sent is not None:
            self._on_sent(self._now(), data, tag)

    def lateness_stats(self) -> dict[str, float]:
        """p50 / p99 / p99.9 / max lateness in milliseconds over the recorded sends, and the
        stall count (sends later than STALL_SECONDS)."""
        late = self.lateness
        if not late:
            return {}
        return {
            "late_p50_ms": late.percentile_ms(50),
            "late_p99_ms": late.percentile_ms(99),
            "late_p999_ms": late.percentile_ms(99.9),
            "late_max_ms": late.max * 1000,
            "sent": len(late),
            "stalls": late.count_over(STALL_SECONDS),
        }
