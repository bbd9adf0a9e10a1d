"""The session as a two-track standard MIDI file (player, AI), rewritten every few seconds.

A MIDI file's track headers carry their lengths, so it cannot be appended to in place; the
recorder keeps the events in memory and a background thread rewrites the whole file (to a
temporary name, then an atomic rename) every ``flush_seconds``. A crash loses at most that.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import mido

from livemelody.events import Tag

TICKS_PER_BEAT = 480


class SessionRecorder:
    """Collects (seconds, bytes) per track; :meth:`flush` writes the file."""

    def __init__(
        self,
        path: Path,
        bpm: float,
        origin: float,
        flush_seconds: float = 2.0,
        on_error: Callable[[str], None] | None = None,
    ):
        self.path = Path(path)
        self.on_error = on_error
        """Told, in one line, when the file cannot be written (each new problem once)."""
        self.error: str | None = None
        """The last write problem (None once a write succeeds again)."""
        self.bpm = bpm
        self.origin = origin
        self.flush_seconds = flush_seconds
        self._events: dict[Tag, list[tuple[float, list[int]]]] = {Tag.PLAYER: [], Tag.AI: []}
        self._lock = threading.Lock()
        self._dirty = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)

    def start(self) -> SessionRecorder:
        """Start the background writes; a folder that cannot be created is reported (through
        ``on_error``) and retried at each write, never raised: the music goes on."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._report(exc)
        self._thread.start()
        return self

    def add(self, track: Tag, stamp: float, data: list[int]) -> None:
        """Record a channel message (notes, controllers); called from the real-time thread."""
        if data and 0x80 <= data[0] < 0xF0:
            with self._lock:
                self._events[track].append((stamp, list(data)))
                self._dirty = True

    def flush(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            events = {k: list(v) for k, v in self._events.items()}
            self._dirty = False
        midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
        conductor = mido.MidiTrack(
            [
                mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(self.bpm)),
                mido.MetaMessage("time_signature", numerator=4, denominator=4),
            ]
        )
        midi.tracks.append(conductor)
        seconds_per_tick = 60.0 / self.bpm / TICKS_PER_BEAT
        for name, items in events.items():
            track = mido.MidiTrack([mido.MetaMessage("track_name", name=str(name))])
            last = 0
            for stamp, data in sorted(items, key=lambda e: e[0]):
                tick = max(0, round((stamp - self.origin) / seconds_per_tick))
                try:
                    message = mido.Message.from_bytes(data)
                except (ValueError, TypeError):
                    continue
                track.append(message.copy(time=max(0, tick - last)))
                last = max(last, tick)
            midi.tracks.append(track)
        temporary = self.path.with_name(self.path.name + ".part")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        midi.save(str(temporary))
        os.replace(temporary, self.path)
        self.error = None

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self._flush_reporting()

    def _flush_reporting(self) -> None:
        try:
            self.flush()
        except OSError as exc:
            with self._lock:
                self._dirty = True  # try again at the next write
            self._report(exc)

    def _report(self, exc: OSError) -> None:
        message = f"cannot record the session to {self.path}: {exc.strerror or exc}"
        if message != self.error:
            self.error = message
            if self.on_error is not None:
                self.on_error(message)

    def close(self) -> None:
        """Stop the background writes and write what is left (a failure is reported)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._flush_reporting()
