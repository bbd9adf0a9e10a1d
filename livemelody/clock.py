"""Clocks (seconds, monotonic) and the tempo grid (beats and 16th steps <-> seconds).

Inject a clock everywhere time is read, so tests can drive time by hand; never evaluate the
time in a default argument.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from livemelody.config import SETTINGS
from livemelody.encoding.vocab import STEPS_PER_QUARTER


class Clock(Protocol):
    """Monotonic time in seconds."""

    def now(self) -> float: ...

    def sleep_until(self, deadline: float) -> None: ...


class MonotonicClock:
    """The real clock: ``time.monotonic``; ``sleep_until`` sleeps, then spins the last 0.3 ms.

    Plain ``time.sleep`` woke 90-120 us late on these machines (measured when the project
    began); sleeping until 0.3 ms before the deadline and spinning the rest gives microsecond
    precision (the engine send lateness rows of docs/BENCHMARKS.md).
    """

    SPIN_SECONDS = 0.0003

    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining > self.SPIN_SECONDS:
            time.sleep(remaining - self.SPIN_SECONDS)
        while time.monotonic() < deadline:
            pass


class ManualClock:
    """A clock for tests: time moves only when ``advance``/``set`` is called (thread-safe)."""

    def __init__(self, start: float = 0.0):
        self._now = start
        self._changed = threading.Condition()

    def now(self) -> float:
        return self._now

    def set(self, value: float) -> None:
        with self._changed:
            self._now = value
            self._changed.notify_all()

    def advance(self, seconds: float) -> None:
        self.set(self._now + seconds)

    def sleep_until(self, deadline: float) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._now >= deadline)


@dataclass(frozen=True)
class Grid:
    """A tempo grid: ``bpm`` quarter notes per minute, 16th-note steps from ``origin`` seconds."""

    bpm: float
    origin: float = 0.0

    def __post_init__(self) -> None:
        problem = SETTINGS["bpm"].problem(self.bpm)
        if problem is not None:
            raise ValueError(problem)

    @property
    def step_seconds(self) -> float:
        """Length of one 16th step, in seconds."""
        return 60.0 / self.bpm / STEPS_PER_QUARTER

    def time_of(self, step: float) -> float:
        """Time (seconds) of a step number."""
        return self.origin + step * self.step_seconds

    def step_at(self, seconds: float) -> float:
        """Fractional step number at a time (seconds)."""
        return (seconds - self.origin) / self.step_seconds

    def nearest_step(self, seconds: float) -> int:
        return round(self.step_at(seconds))
