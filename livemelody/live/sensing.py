"""Active Sensing (0xFE): once a device has sent it, silence means the cable or device is gone.

MIDI 1.0: a transmitter that uses Active Sensing sends a message at least every 300 ms
(0xFE when it has nothing else to send); a receiver that has seen 0xFE and then gets nothing
for 300 ms turns its voices off and returns to normal operation (no sensing until the next
0xFE). Input stamps carry arrival jitter (up to a JACK period, a USB frame), so the timeout
allows 10% over the specification's 300 ms.
"""

from __future__ import annotations

ACTIVE_SENSING = 0xFE
SENSING_INTERVAL = 0.300
"""Seconds: the longest gap MIDI 1.0 allows between messages once 0xFE has been sent."""
SENSING_TIMEOUT = 1.1 * SENSING_INTERVAL
"""Seconds of silence after which the input is taken as gone (the interval plus 10% for jitter)."""


class SensingWatchdog:
    """Watches the input's stamps: armed by the first 0xFE, fires once per silence."""

    def __init__(self, timeout: float = SENSING_TIMEOUT):
        self.timeout = timeout
        self.armed = False
        self._last: float | None = None

    def seen(self, stamp: float, status: int) -> None:
        """Any message arrived at ``stamp`` (monotonic seconds); 0xFE arms the watchdog."""
        if status == ACTIVE_SENSING:
            self.armed = True
        if self._last is None or stamp > self._last:
            self._last = stamp

    def deadline(self) -> float | None:
        """When the watchdog fires if nothing arrives before (None while not armed)."""
        return self._last + self.timeout if self.armed and self._last is not None else None

    def expired(self, now: float) -> bool:
        """True once when ``now`` is past the deadline; then disarmed until the next 0xFE."""
        deadline = self.deadline()
        if deadline is None or now <= deadline:
            return False
        self.armed = False
        return True
