"""``livemelody demo``: the real engine over an in-process loopback, no MIDI system needed.

A :class:`DemoCaller` thread in the engine process plays the built-in call ("Ah vous dirais-je
maman") into the engine's input queue, stamped on the engine's grid as a musician would play
it, whenever the engine is idle; the engine answers as it would over real ports. The session
is recorded; where FluidSynth and a General MIDI soundfont are installed the recording is
rendered to a WAV file (:func:`livemelody.live.synth.render_wav`: two instruments, a normal level).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from livemelody.events import Note
from livemelody.live.engine import EngineState
from livemelody.midi.spec import note_off, note_on
from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN

RELEASE_BEFORE_END = 0.02
"""Seconds before a note's grid end that the demo lifts the key (as a player would)."""


class DemoCaller:
    """Plays ``notes`` (16th steps from 0) from the next bar line whenever the engine is idle.

    ``loop`` is the :class:`~livemelody.live.loop.RealtimeLoop`; only its core's state and
    grid are read (plain attribute reads from this thread), and messages go in through the
    input queue exactly as from a port. ``rest_bars`` of silence follow each answer.
    """

    def __init__(
        self,
        loop,
        notes: Sequence[Note] = AH_VOUS_DIRAI_JE_MAMAN,
        rest_bars: int = 1,
        turns: int | None = None,
        now=time.monotonic,
        sleep=time.sleep,
    ):
        self.loop, self.notes, self.rest_bars, self.turns = loop, list(notes), rest_bars, turns
        self.now, self.sleep = now, sleep
        self.played = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-caller", daemon=True)

    def start(self) -> DemoCaller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1)

    def events(self, first_step: int) -> list[tuple[float, list[int]]]:
        """(stamp, bytes) of the call starting at grid step ``first_step``, in time order: the
        notes that start within the engine's longest call (``max_call_bars`` bars of its meter;
        4 bars of 3/4 hold 48 of the tune's 64 steps), cut at its end, so the rest of the tune
        does not barge in on the answer."""
        grid = self.loop.core.transport.grid
        config = self.loop.core.config
        limit = config.max_call_bars * config.steps_per_bar
        out = []
        for i, note in enumerate(n for n in self.notes if n.start < limit):
            velocity = min(127, note.velocity + (12 if i % 4 == 0 else 0))
            out.append((grid.time_of(first_step + note.start), note_on(0, note.pitch, velocity)))
            end = min(note.end, limit)
            out.append((grid.time_of(first_step + end) - RELEASE_BEFORE_END, note_off(0, note.pitch)))
        return sorted(out, key=lambda e: e[0])

    def _wait_idle(self, seconds: float) -> bool:
        """Wait until the engine has been idle for ``seconds``; False if stopped."""
        idle_since = None
        while not self._stop.wait(0.05):
            if self.loop.core.state != EngineState.IDLE:
                idle_since = None
            elif idle_since is None:
                idle_since = self.now()
            elif self.now() - idle_since >= seconds:
                return True
        return False

    def _run(self) -> None:
        while self.turns is None or self.played < self.turns:
            grid = self.loop.core.transport.grid
            bar = self.loop.core.config.steps_per_bar
            if not self._wait_idle(0.0 if self.played == 0 else self.rest_bars * bar * grid.step_seconds):
                return
            step_now = grid.step_at(self.now() + 0.1)  # leave time to reach the bar line
            first = (int(step_now) // bar + 1) * bar
            for stamp, data in self.events(first):
                delay = stamp - self.now()
                if delay > 0 and self._stop.wait(delay):
                    return
                self.loop.queue.put(stamp, data)
            self.played += 1
