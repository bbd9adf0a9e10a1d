"""The session as a type-1 standard MIDI file (conductor, player, AI), on the grid it was played on.

Positions come from the engine's tempo grid, not from seconds since the recorder started: an
event's tick is its grid step (16th notes, ``TICKS_PER_BEAT // 4`` ticks each), so the file's
beats are the grid's beats, whatever the tempo did. The conductor track carries the tempo
map as played (a ``set_tempo`` wherever the internal tempo was changed or a followed MIDI
clock moved by more than ``TEMPO_TOLERANCE``) and the meter (``time_signature``). The file's
time 0 is a bar line of the grid: the song position 0 of a followed clock (notes played on
the master's beats 4-7 sit on beats 4-7 of the file), else the bar line before the first
recorded event. A backward jump of the grid (the master pressed Start again) moves on by
whole bars, so bars stay bars.

Cost on the real-time thread: :meth:`add` and :meth:`grid_changed` append one tuple to a
deque (no lock, no encoding). A background thread encodes only what arrived since its last
turn, appending to one byte buffer per track (SMF track data: delta time, event), and about
every ``flush_seconds`` writes header + buffers to a temporary name and renames it over the
file (atomic: the file on disk is always whole). Nothing is ever re-sorted or re-encoded, so
a write costs the same at minute 1 and hour 3; a killed session loses at most
``flush_seconds`` plus one write.

Write problems (folder missing and not creatable, read-only, disk full) are reported at once
through ``on_error`` (one line, each new problem once), the music goes on, the buffers keep
everything, and the write is retried every turn. At :meth:`close` every note still sounding
gets its note-off (and a held sustain pedal its release).
"""

from __future__ import annotations

import collections
import logging
import math
import os
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

import mido
from mido.midifiles.meta import encode_variable_int

from livemelody.clock import Grid
from livemelody.events import Tag
from livemelody.midi.spec import CONTROL_CHANGE, NOTE_OFF, NOTE_ON, SUSTAIN

log = logging.getLogger("livemelody.recorder")

TICKS_PER_BEAT = 480
"""SMF division: ticks per quarter note."""
TICKS_PER_STEP = TICKS_PER_BEAT // 4
TEMPO_TOLERANCE = 0.002
"""A followed clock's tempo is written again when it moves by more than this fraction (0.2%:
0.28 BPM at 140), so the jitter of each clock tick's arrival does not fill the tempo map."""
FLUSH_SECONDS = 1.0
"""How often the file is rewritten: the most a killed session loses (plus one write)."""
TRACKS = (Tag.PLAYER, Tag.AI)
_END_OF_TRACK = b"\x00\xff\x2f\x00"
_DATA_BYTES = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
"""Data bytes after each channel voice status (MIDI 1.0)."""
_GRID, _EVENT, _METER = 0, 1, 2


def _meta(message: mido.MetaMessage) -> bytes:
    return bytes(message.bytes())


class _Track:
    """One SMF track's data as it grows: bytes, the tick of its last event, what still sounds."""

    def __init__(self, name: str):
        self.data = bytearray(_meta(mido.MetaMessage("track_name", name=name)))
        self.data[0:0] = b"\x00"  # delta time 0
        self.tick = 0
        self.sounding: set[tuple[int, int]] = set()  # (channel, pitch)
        self.sustained: set[int] = set()  # channels with the pedal down

    def append(self, tick: int, event: bytes) -> None:
        tick = max(tick, self.tick)  # a track's events never go back in time
        self.data += bytes(encode_variable_int(tick - self.tick))
        self.data += event
        self.tick = tick

    def chunk(self) -> bytes:
        body = bytes(self.data) + _END_OF_TRACK
        return b"MTrk" + struct.pack(">I", len(body)) + body


class SessionRecorder:
    """Records (stamp, bytes) per track on the engine's grid; see the module docstring.

    ``grid`` is the tempo grid in force at the start (:class:`~livemelody.clock.Grid`; None:
    the first :meth:`grid_changed` gives it, before any event),
    ``meter`` (numerator, denominator) the time signature, ``song_position``: True when the
    grid follows an external clock (the file's time 0 is its song position 0), False to
    start the file at the bar line before the first event.
    """

    def __init__(
        self,
        path: Path,
        grid: Grid | None = None,
        meter: tuple[int, int] = (4, 4),
        *,
        song_position: bool = False,
        flush_seconds: float = FLUSH_SECONDS,
        on_error: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.path = Path(path)
        self.on_error = on_error
        """Told, in one line, when the file cannot be written (each new problem once)."""
        self.error: str | None = None
        """The last write problem (None once a write succeeds again)."""
        self.flush_seconds = flush_seconds
        self.song_position = song_position
        self.writes = 0
        """Files written so far."""
        self.write_seconds = 0.0
        """The longest write so far (encode the increment, join, write, rename), in seconds."""
        self._clock = clock
        self._pending: collections.deque = collections.deque()
        self._grid = grid
        self._meter = meter
        self._offset: int | None = None  # file tick - grid tick (whole bars); None before the first event
        self._end = 0  # the latest tick written in any track
        self._tempo_us: int | None = None  # the last tempo written (microseconds per quarter)
        self._meter_written: tuple[int, int] | None = None
        self._conductor = _Track("livemelody")
        self._tracks = {tag: _Track(str(tag)) for tag in TRACKS}
        self._encode_lock = threading.Lock()
        self._dirty = True
        self._stop = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)

    # ---- the real-time thread: one append each ---------------------------------------------
    def add(self, track: Tag, stamp: float, data: list[int]) -> None:
        """Record a channel message (notes, controllers, program changes) heard or sent at
        ``stamp`` (monotonic seconds); anything else is ignored."""
        if data and 0x80 <= data[0] < 0xF0 and not self._closed:
            self._pending.append((_EVENT, track, stamp, tuple(data)))

    def grid_changed(self, stamp: float, grid: Grid) -> None:
        """The tempo grid in force from ``stamp`` on (a tempo change, a followed clock's new fit)."""
        self._pending.append((_GRID, None, stamp, grid))

    def meter_changed(self, stamp: float, meter: tuple[int, int]) -> None:
        """The time signature (numerator, denominator) from the next bar line on."""
        self._pending.append((_METER, None, stamp, meter))

    # ---- the background thread ---------------------------------------------------------
    def start(self) -> SessionRecorder:
        """Write the (empty) file at once, so a folder that cannot be written is said at once,
        then keep writing in the background. Never raises: the music goes on."""
        self._thread.start()
        return self

    def _run(self) -> None:
        self._flush_reporting()
        while not self._stop.wait(self.flush_seconds):
            self._flush_reporting()

    def _bar_ticks(self) -> int:
        numerator, denominator = self._meter
        return numerator * TICKS_PER_BEAT * 4 // denominator

    def _position(self, stamp: float) -> int:
        """The file tick of ``stamp`` on the grid in force (fixing the bar offset on first use)."""
        raw = round(self._grid.step_at(stamp) * TICKS_PER_STEP)
        bar = self._bar_ticks()
        if self._offset is None:
            first_bar = math.floor(raw / bar) * bar
            self._offset = -min(first_bar, 0) if self.song_position else -first_bar
        tick = raw + self._offset
        if tick < self._end - bar:  # the grid jumped back (Start again, SPP): on by whole bars
            self._offset += math.ceil((self._end - tick) / bar) * bar
            tick = raw + self._offset
        return tick

    def _tempo_event(self, tick: int) -> None:
        tempo = mido.bpm2tempo(self._grid.bpm)
        if self._tempo_us is None or abs(tempo - self._tempo_us) > TEMPO_TOLERANCE * self._tempo_us:
            self._conductor.append(tick, _meta(mido.MetaMessage("set_tempo", tempo=tempo)))
            self._tempo_us = tempo

    def _meter_event(self, tick: int) -> None:
        if self._meter != self._meter_written:
            numerator, denominator = self._meter
            message = mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator)
            self._conductor.append(tick, _meta(message))
            self._meter_written = self._meter

    def _encode(self) -> None:
        """Encode what arrived since the last call (only that): the increment."""
        with self._encode_lock:
            while self._pending:
                kind, tag, stamp, item = self._pending.popleft()
                self._dirty = True
                if kind == _GRID:
                    self._grid = item
                    if self._offset is not None:
                        self._tempo_event(max(self._conductor.tick, self._position(stamp)))
                elif kind == _METER:
                    self._meter = item
                    if self._offset is not None:
                        bar = self._bar_ticks()
                        self._meter_event(-(-max(self._end, self._conductor.tick) // bar) * bar)
                else:
                    self._event(tag, stamp, item)

    def _event(self, tag: Tag, stamp: float, data: tuple[int, ...]) -> None:
        status = data[0] & 0xF0
        if len(data) < 1 + _DATA_BYTES[status] or self._grid is None:  # no grid yet: no place for it
            return
        first = self._offset is None
        tick = self._position(stamp)
        if first:  # the conductor starts at time 0: the tempo and meter the file opens with
            self._tempo_event(0)
            self._meter_event(0)
        track = self._tracks[tag]
        channel = data[0] & 0x0F
        if status == NOTE_ON and data[2] > 0:
            track.sounding.add((channel, data[1]))
        elif status in (NOTE_ON, NOTE_OFF):
            track.sounding.discard((channel, data[1]))
        elif status == CONTROL_CHANGE and data[1] == SUSTAIN:
            (track.sustained.add if data[2] >= 64 else track.sustained.discard)(channel)
        track.append(tick, bytes(data[: 1 + _DATA_BYTES[status]]))
        self._end = max(self._end, track.tick)

    def flush(self) -> None:
        """Encode the increment and write the whole file atomically; raises OSError."""
        self._encode()
        with self._encode_lock:
            if not self._dirty:
                return
            header = b"MThd" + struct.pack(">IHHH", 6, 1, 1 + len(self._tracks), TICKS_PER_BEAT)
            chunks = [self._conductor.chunk()] + [t.chunk() for t in self._tracks.values()]
            self._dirty = False
        temporary = self.path.with_name(self.path.name + ".part")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as file:
                file.write(header)
                for chunk in chunks:
                    file.write(chunk)
            os.replace(temporary, self.path)
        except OSError:
            self._dirty = True  # try again at the next turn
            try:
                temporary.unlink(missing_ok=True)  # never leave an unreadable .part behind
            except OSError:
                pass
            raise
        self.writes += 1
        self.error = None

    def _flush_reporting(self) -> None:
        started = self._clock()
        try:
            self.flush()
        except OSError as exc:
            self._report(exc)
        except Exception as exc:  # a bug must not end the recording silently: say it, keep trying
            log.exception("the session recorder failed")
            self._report(exc)
        self.write_seconds = max(self.write_seconds, self._clock() - started)

    def _report(self, exc: Exception) -> None:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        message = f"cannot record the session to {self.path}: {reason}; playing on, retrying"
        if message != self.error:
            self.error = message
            if self.on_error is not None:
                self.on_error(message)

    def close(self, stamp: float | None = None) -> None:
        """Stop: release every note still sounding (and a held pedal) at ``stamp`` (default:
        now), write the file a last time (a failure is reported). Later events are ignored."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        stamp = self._clock() if stamp is None else stamp
        self._encode()
        with self._encode_lock:
            self._closed = True
            for tag, track in self._tracks.items():
                for channel, pitch in sorted(track.sounding):
                    self._pending.append((_EVENT, tag, stamp, (NOTE_OFF | channel, pitch, 0)))
                for channel in sorted(track.sustained):
                    self._pending.append((_EVENT, tag, stamp, (CONTROL_CHANGE | channel, SUSTAIN, 0)))
        self._flush_reporting()
