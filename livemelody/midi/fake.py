"""In-memory MIDI ports for tests and the demo: same contract as the rtmidi ones."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from livemelody.midi.ports import PortError, StampQueue


def sounding_notes(messages: Iterable[list[int]]) -> set[tuple[int, int]]:
    """(channel, note) pairs a synth would still sound after ``messages`` (raw bytes, in order);
    All Notes Off (CC123) and All Sound Off (CC120) clear their channel."""
    on: set[tuple[int, int]] = set()
    for data in messages:
        status, channel = data[0] & 0xF0, data[0] & 0x0F
        if status == 0x90 and data[2] > 0:
            on.add((channel, data[1]))
        elif status in (0x80, 0x90):
            on.discard((channel, data[1]))
        elif status == 0xB0 and data[1] in (120, 123):
            on = {(c, n) for c, n in on if c != channel}
    return on


class FakeInput:
    """An input whose messages are injected by :meth:`play` (stamped by the caller)."""

    def __init__(self, queue: StampQueue | None = None, name: str = "fake in"):
        self.queue = queue or StampQueue()
        self.name = name

    def play(self, stamp: float, data: list[int]) -> None:
        self.queue.put(stamp, list(data))

    def pending(self):
        return self.queue.drain()

    def close(self) -> None:
        pass


class FakeOutput:
    """An output that records (time sent, bytes) using ``now``."""

    def __init__(self, now: Callable[[], float], name: str = "fake out"):
        self.name = name
        self._now = now
        self.sent: list[tuple[float, list[int]]] = []
        self.closed = False

    def send(self, data: list[int]) -> None:
        """Record ``data``; raises PortError after :meth:`close`, as the rtmidi output does."""
        if self.closed:
            raise PortError(f"MIDI port {self.name!r} is closed")
        self.sent.append((self._now(), list(data)))

    def close(self) -> None:
        self.closed = True

    def sounding(self) -> set[tuple[int, int]]:
        """(channel, note) pairs left on after everything sent so far."""
        return sounding_notes(data for _, data in self.sent)


class NullOutput:
    """An output that sends nowhere (the demo's loopback when no synth is attached)."""

    def __init__(self, name: str = "demo out (loopback)"):
        self.name = name

    def send(self, data: list[int]) -> None:
        pass

    def close(self) -> None:
        pass
