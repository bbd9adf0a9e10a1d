"""Standard MIDI files <-> monophonic melodies on the 16th-note grid.

Reading reduces any file to its top line (highest sounding note, drums on channel 10
ignored) quantised to 16th steps; writing puts the primer and the continuation on separate
tracks after a conductor track that carries the source's tempo map and time signatures at
their original ticks, so the result plays at the source's tempo.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mido

from livemelody.encoding import STEPS_PER_QUARTER
from livemelody.events import Note

DRUM_CHANNEL = 9  # channel 10 in 1-based numbering
MAX_STEPS = 200_000  # about 2 hours at 100 BPM: longer means a broken file
CONDUCTOR_TYPES = ("set_tempo", "time_signature", "key_signature")
DEFAULT_STEPS_PER_BAR = 16


class MidiFileError(Exception):
    """A MIDI file cannot be read or written; the message is one line for the user."""


@dataclass(frozen=True)
class MelodyFile:
    """A file's top line and what is needed to write an answer in the same time frame."""

    notes: list[Note]
    ticks_per_beat: int
    conductor: list[tuple[int, mido.MetaMessage]] = field(default_factory=list)
    """(absolute tick, message) for every tempo, time and key signature in the source."""

    def steps_per_bar(self, at_step: int) -> int:
        """Bar length in 16th steps from the time signature in force at ``at_step``."""
        steps = DEFAULT_STEPS_PER_BAR
        for tick, message in self.conductor:
            if message.type == "time_signature" and self.tick_to_step(tick) <= at_step:
                candidate = message.numerator * STEPS_PER_QUARTER * 4 // max(message.denominator, 1)
                steps = candidate if 1 <= candidate <= 64 else DEFAULT_STEPS_PER_BAR
        return steps

    def tick_to_step(self, tick: int) -> int:
        return round(tick * STEPS_PER_QUARTER / self.ticks_per_beat)

    def step_to_tick(self, step: int) -> int:
        return round(step * self.ticks_per_beat / STEPS_PER_QUARTER)


def read_melody(path: Path | str) -> MelodyFile:
    """Read ``path`` and reduce it to a quantised top line; :class:`MidiFileError` if unusable."""
    path = Path(path)
    try:
        midi = mido.MidiFile(path, clip=True)
    except FileNotFoundError:
        raise MidiFileError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise MidiFileError(f"{path} is a folder, not a MIDI file") from None
    except Exception as exc:  # mido raises OSError, EOFError, ValueError, KeySignatureError, ...
        raise MidiFileError(f"cannot read MIDI file {path}: {_describe(exc)}") from None
    tpb = midi.ticks_per_beat
    if not isinstance(tpb, int) or not 0 < tpb < 0x8000:
        raise MidiFileError(f"{path}: unsupported time division {tpb!r} (SMPTE timing or corrupt header)")
    raw, conductor = _collect(midi.tracks)
    melody = MelodyFile([], tpb, conductor)
    quantised = []
    for pitch, start, end, velocity in raw:
        s = melody.tick_to_step(start)
        quantised.append(Note(pitch, s, max(1, melody.tick_to_step(end) - s), velocity))
    if not quantised:
        raise MidiFileError(f"{path}: no notes found (drums on channel 10 are ignored)")
    if max(n.end for n in quantised) > MAX_STEPS:
        raise MidiFileError(f"{path}: notes run past {MAX_STEPS} 16th steps; is the file corrupt?")
    return MelodyFile(top_line(quantised), tpb, conductor)


def _describe(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _collect(tracks: Iterable[mido.MidiTrack]):
    """Notes as (pitch, start tick, end tick, velocity) and conductor events, from all tracks."""
    notes, conductor = [], []
    for track in tracks:
        tick = 0
        open_notes: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for message in track:
            tick += message.time
            if message.is_meta:
                if message.type in CONDUCTOR_TYPES:
                    conductor.append((tick, message))
                continue
            if message.type not in ("note_on", "note_off") or message.channel == DRUM_CHANNEL:
                continue
            key = (message.channel, message.note)
            if message.type == "note_on" and message.velocity > 0:
                open_notes.setdefault(key, []).append((tick, message.velocity))
            elif open_notes.get(key):
                start, velocity = open_notes[key].pop(0)
                notes.append((message.note, start, tick, velocity))
        for (_, pitch), starts in open_notes.items():  # never released: end with the track
            notes += [(pitch, start, max(tick, start + 1), velocity) for start, velocity in starts]
    conductor.sort(key=lambda item: item[0])
    return notes, conductor


def top_line(notes: Sequence[Note]) -> list[Note]:
    """Reduce to one line: at each onset the highest new note wins; a higher onset cuts the
    sounding note, a lower one under a sounding note is dropped (MIDI numbers, steps)."""
    result: list[Note] = []
    current: Note | None = None
    for note in sorted(notes, key=lambda n: (n.start, -n.pitch)):
        if current is not None and note.start == current.start:
            continue  # a lower note of the same chord
        if current is not None and current.end > note.start:
            if note.pitch < current.pitch:
                continue
            current = Note(current.pitch, current.start, note.start - current.start, current.velocity)
        if current is not None:
            result.append(current)
        current = note
    if current is not None:
        result.append(current)
    return result


def write_melodies(
    path: Path | str, source: MelodyFile, tracks: Sequence[tuple[str, Sequence[Note]]], channel: int = 0
) -> None:
    """Write a type-1 file: the source's conductor track, then one track per (name, notes)."""
    midi = mido.MidiFile(type=1, ticks_per_beat=source.ticks_per_beat)
    conductor = mido.MidiTrack()
    tick = 0
    for at, message in source.conductor:
        conductor.append(message.copy(time=at - tick))
        tick = at
    conductor.append(mido.MetaMessage("end_of_track", time=0))
    midi.tracks.append(conductor)
    for name, notes in tracks:
        midi.tracks.append(_note_track(name, notes, source, channel))
    try:
        midi.save(str(path))
    except OSError as exc:
        raise MidiFileError(f"cannot write {path}: {exc.strerror or exc}") from None


def _note_track(name: str, notes: Sequence[Note], frame: MelodyFile, channel: int) -> mido.MidiTrack:
    events = []  # (tick, order, message): note-offs (0) before note-ons (1) at the same tick
    for note in notes:
        start, end = frame.step_to_tick(note.start), frame.step_to_tick(note.end)
        events.append((start, 1, mido.Message("note_on", channel=channel, note=note.pitch, velocity=note.velocity)))
        events.append((end, 0, mido.Message("note_off", channel=channel, note=note.pitch, velocity=0)))
    events.sort(key=lambda e: (e[0], e[1]))
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
    tick = 0
    for at, _, message in events:
        track.append(message.copy(time=at - tick))
        tick = at
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track
