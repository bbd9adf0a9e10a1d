"""Standard MIDI files <-> monophonic melodies on the 16th-note grid.

Reading repairs what can be repaired (:mod:`livemelody.midi.repair`), lets mido parse the
result, picks the melody part (:mod:`livemelody.midi.parts`), reads the key from every
pitched note of the file, and reduces the part to its top line quantised to 16th steps.
Writing puts the primer and the answer on separate tracks after a conductor track that
carries the source's tempo map and signatures at their original ticks, so the result plays
at the source's tempo; with ``keep`` the source's other tracks come along.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mido

from livemelody.encoding import STEPS_PER_QUARTER, Key, detect_key
from livemelody.encoding.detached import release_step
from livemelody.events import Note
from livemelody.midi.parts import Part, choose_part, describe_part
from livemelody.midi.repair import END_OF_TRACK, SmfError, encode_vlq, repair_smf
from livemelody.midi.spec import DRUM_CHANNEL, NOTE_OFF, NOTE_ON

MAX_STEPS = 200_000
"""Notes starting later (about 2 hours at 100 BPM) are ignored with a warning: a broken file."""
MAX_NOTE_STEPS = 256
"""Longest note kept, in steps (16 bars of 4/4); longer ones are cut with a warning."""
CONDUCTOR_TYPES = ("set_tempo", "time_signature", "key_signature")
DEFAULT_STEPS_PER_BAR = 16
MAX_TICKS_PER_BEAT = 0x7FFF


class MidiFileError(Exception):
    """A MIDI file cannot be read or written; the message is one line for the user."""


@dataclass(frozen=True)
class MelodyFile:
    """A file's melody line and what is needed to write an answer in the same time frame."""

    notes: list[Note]
    ticks_per_beat: int
    conductor: list[tuple[int, mido.MetaMessage]] = field(default_factory=list)
    """(absolute tick, message) for every tempo, time and key signature in the source."""
    key: Key | None = None
    """Key of every pitched note of the file, duration-weighted (None: detect from ``notes``)."""
    warnings: list[str] = field(default_factory=list)
    """One line per repair or cut made while reading."""
    part: str = ""
    """Which track and channel the melody was read from, in words ("" for a one-part file)."""
    channel: int = 0
    """MIDI channel (0-15) the melody was played on."""
    others: list[list[tuple[int, mido.Message]]] = field(default_factory=list)
    """The source's other tracks as (absolute tick, message), without the melody's notes,
    conductor events and End of Track (for ``--keep-tracks``)."""

    def meter(self) -> list[tuple[int, int]]:
        """(first step, steps per bar) of each time signature in force; bars restart at each."""
        segments = [(0, DEFAULT_STEPS_PER_BAR)]
        for tick, message in self.conductor:
            if message.type != "time_signature":
                continue
            bar = message.numerator * STEPS_PER_QUARTER * 4 // max(message.denominator, 1)
            bar = bar if 1 <= bar <= 64 else DEFAULT_STEPS_PER_BAR
            step = self.tick_to_step(tick)
            if step == segments[-1][0]:
                segments[-1] = (step, bar)
            else:
                segments.append((step, bar))
        return segments

    def steps_per_bar(self, at_step: int) -> int:
        """Bar length in 16th steps from the time signature in force at ``at_step``."""
        return next(bar for start, bar in reversed(self.meter()) if start <= at_step)

    def bar_line_at_or_after(self, step: int) -> int:
        """The first bar line (in steps) at or after ``step``."""
        segments = self.meter()
        for i, (start, bar) in enumerate(segments):
            limit = segments[i + 1][0] if i + 1 < len(segments) else None
            line = start + math.ceil(max(0, step - start) / bar) * bar
            if limit is None or line < limit:
                return line
        raise AssertionError("unreachable: the last segment has no limit")

    def continuation(self, bars: int) -> tuple[int, tuple[int, int]]:
        """(steps, meter) of a continuation from the melody's end: it fills the last bar, then
        ``bars`` bars of the time signature in force at the end, so it ends on a bar line;
        meter = (steps per bar, the bar line at or after the end), as
        :func:`~livemelody.generate.continue_melody` takes it."""
        end = max(n.end for n in self.notes)
        line = self.bar_line_at_or_after(end)
        steps_per_bar = self.steps_per_bar(end)
        return line + bars * steps_per_bar - end, (steps_per_bar, line)

    def tick_to_step(self, tick: int) -> int:
        return round(tick * STEPS_PER_QUARTER / self.ticks_per_beat)

    def step_to_tick(self, step: int) -> int:
        return round(step * self.ticks_per_beat / STEPS_PER_QUARTER)


def read_melody(path: Path | str, track: str | None = None, channel: int | None = None) -> MelodyFile:
    """Read ``path`` and reduce it to a quantised melody line; :class:`MidiFileError` if unusable.

    ``track`` (a 1-based track number or part of a track's name) and ``channel`` (1-16)
    choose the part by hand; otherwise :func:`livemelody.midi.parts.choose_part` does.
    Damaged files are repaired and each repair is listed in ``warnings``; a file is refused
    only when no note can be found in it.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MidiFileError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise MidiFileError(f"{path} is a folder, not a MIDI file") from None
    except OSError as exc:
        raise MidiFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        repaired = repair_smf(data)
        midi = mido.MidiFile(file=io.BytesIO(repaired.data))
    except SmfError as exc:
        raise MidiFileError(f"cannot read MIDI file {path}: {exc}") from None
    except Exception as exc:  # the repair layer makes every file mido-readable; say so if not
        raise MidiFileError(f"cannot read MIDI file {path}: {type(exc).__name__} after repair") from None
    return melody_from(midi, path, list(repaired.warnings), track, channel, repaired.cut_tracks)


def melody_from(
    midi: mido.MidiFile,
    path: Path,
    warnings: list[str],
    track: str | None = None,
    channel: int | None = None,
    cut_tracks: set[int] = frozenset(),
) -> MelodyFile:
    """The melody of a parsed file (see :func:`read_melody`); in ``cut_tracks`` (1-based) a
    note-on without its note-off was cut short and is left out."""
    tpb = midi.ticks_per_beat
    parts, conductor, timed_tracks = _collect(midi.tracks, cut_tracks)
    pitched = [p for p in parts if p.channel != DRUM_CHANNEL]
    if not any(p.notes for p in parts):
        raise MidiFileError(f"{path}: no notes found (empty or truncated file)")
    if not pitched and channel is None:
        raise MidiFileError(
            f"{path}: no notes found outside the drums (channel 10); --channel 10 reads the drums as the melody"
        )
    try:
        chosen = choose_part(parts, track, None if channel is None else channel - 1)
    except ValueError as exc:
        raise MidiFileError(f"{path}: {exc}") from None
    longest = MAX_NOTE_STEPS * tpb // STEPS_PER_QUARTER  # a broken note does not outweigh the tune
    weights = [(n[0], min(max(n[2] - n[1], 1), longest)) for p in pitched for n in p.notes]
    key = detect_key([p for p, _ in weights], [w for _, w in weights]) if weights else None
    notes, cut = _quantise(chosen.notes, tpb)
    if cut:
        warnings.append(cut)
    if not notes:
        raise MidiFileError(f"{path}: no notes found before step {MAX_STEPS} (empty or truncated file)")
    others = _other_tracks(timed_tracks, chosen)
    several = len([p for p in parts if p.notes]) > 1
    return MelodyFile(
        top_line(notes),
        tpb,
        conductor,
        key,
        warnings,
        describe_part(chosen, parts) if several else "",
        chosen.channel,
        others,
    )


def _collect(tracks: Sequence[mido.MidiTrack], cut_tracks: set[int] = frozenset()):
    """Parts (one per track and channel, notes as (pitch, start tick, end tick, velocity)),
    conductor events, and every track as (absolute tick, message)."""
    parts: list[Part] = []
    conductor = []
    timed_tracks = []
    for number, track in enumerate(tracks, 1):
        tick = 0
        name = ""
        by_channel: dict[int, list[tuple[int, int, int, int]]] = {}
        open_notes: dict[tuple[int, int], list[tuple[int, int]]] = {}
        timed = []
        for message in track:
            tick += message.time
            timed.append((tick, message))
            if message.is_meta:
                if message.type in CONDUCTOR_TYPES:
                    conductor.append((tick, message))
                elif message.type in ("track_name", "instrument_name") and not name:
                    name = message.name.strip()
                continue
            if message.type not in ("note_on", "note_off"):
                continue
            key = (message.channel, message.note)
            if message.type == "note_on" and message.velocity > 0:
                open_notes.setdefault(key, []).append((tick, message.velocity))
            elif open_notes.get(key):
                start, velocity = open_notes[key].pop(0)
                by_channel.setdefault(message.channel, []).append((message.note, start, tick, velocity))
        for (ch, pitch), starts in open_notes.items():  # never released: end with the track
            if number in cut_tracks:
                continue  # its note-off was cut away: not a complete note
            by_channel.setdefault(ch, []).extend((pitch, s, max(tick, s + 1), v) for s, v in starts)
        for ch in sorted(by_channel):
            parts.append(Part(number, ch, name, sorted(by_channel[ch], key=lambda n: (n[1], -n[0]))))
        timed_tracks.append(timed)
    conductor.sort(key=lambda item: item[0])
    return parts, conductor, timed_tracks


def _quantise(raw: Sequence[tuple[int, int, int, int]], tpb: int) -> tuple[list[Note], str]:
    """Notes on the 16th grid: onsets to the nearest step, ends by the detached-playing rule
    (:func:`livemelody.encoding.detached.release_step`), lengths capped; and a warning about
    what was cut ("" if nothing)."""
    per_step = STEPS_PER_QUARTER / tpb
    notes, late, long = [], 0, 0
    for pitch, start_tick, end_tick, velocity in raw:
        start = round(start_tick * per_step)
        if start > MAX_STEPS:
            late += 1
            continue
        duration = max(1, release_step(end_tick * per_step) - start)
        if duration > MAX_NOTE_STEPS:
            long += 1
            duration = MAX_NOTE_STEPS
        notes.append(Note(pitch, start, duration, velocity))
    said = []
    if late:
        said.append(f"{late} note{'s' if late != 1 else ''} after step {MAX_STEPS} (about 2 hours) ignored")
    if long:
        said.append(f"{long} note{'s' if long != 1 else ''} longer than {MAX_NOTE_STEPS} steps cut to that length")
    return notes, "; ".join(said)


def _other_tracks(timed_tracks, chosen: Part) -> list[list[tuple[int, mido.Message]]]:
    """Every track without the chosen part's notes, conductor events and End of Track."""
    others = []
    for number, timed in enumerate(timed_tracks, 1):
        kept = [
            (tick, m)
            for tick, m in timed
            if not (m.is_meta and (m.type in CONDUCTOR_TYPES or m.type == "end_of_track"))
            and not (number == chosen.track and m.type in ("note_on", "note_off") and m.channel == chosen.channel)
        ]
        if any(not m.is_meta for _, m in kept):
            others.append(kept)
    return others


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
    path: Path | str,
    source: MelodyFile,
    tracks: Sequence[tuple[str, Sequence[Note]]],
    channel: int = 0,
    keep: bool = False,
    end_step: int | None = None,
) -> None:
    """Write a type-1 file: the source's conductor track, then one track per (name, notes) on
    MIDI ``channel`` (0-15), then (``keep``) the source's other tracks, all ending at
    ``end_step`` (default: the end of the last note written, in steps).

    Tempo, time and key signatures after that end are left out; the resolution is raised to
    a multiple of 4 ticks per beat where possible, so every 16th step is a whole tick and no
    note loses its note-off. Events are serialised here (mido gives each message's bytes):
    building a checked mido message per note took 4 s for 100,000 notes.
    :class:`MidiFileError` if the file cannot be written.
    """
    tpb = source.ticks_per_beat
    factor = 4 // math.gcd(tpb, 4)
    factor = factor if tpb * factor <= MAX_TICKS_PER_BEAT else 1
    out_tpb = tpb * factor
    last = max((n.end for _, notes in tracks for n in notes), default=0)
    end_step = last if end_step is None else max(end_step, last)
    end_tick = round(end_step * out_tpb / STEPS_PER_QUARTER)
    conductor = [
        (at * factor, bytes(m.bytes()))
        for at, m in source.conductor
        if at * factor <= end_tick and not (m.type == "set_tempo" and m.tempo <= 0)
    ]
    chunks = [_track_chunk(conductor, end_tick)]
    for name, notes in tracks:
        chunks.append(_track_chunk(_note_events(name, notes, out_tpb, channel), end_tick))
    if keep:
        for timed in source.others:
            chunks.append(_track_chunk(_kept_events([(at * factor, m) for at, m in timed], end_tick), end_tick))
    head = b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big") + len(chunks).to_bytes(2, "big")
    try:
        Path(path).write_bytes(head + out_tpb.to_bytes(2, "big") + b"".join(chunks))
    except OSError as exc:
        raise MidiFileError(f"cannot write {path}: {exc.strerror or exc}") from None


def _track_chunk(events: Sequence[tuple[int, bytes]], end_tick: int) -> bytes:
    """An MTrk chunk of (absolute tick, event bytes) sorted by tick, End of Track at ``end_tick``."""
    body, tick = [], 0
    for at, event in events:
        body.append(encode_vlq(at - tick) + event)
        tick = at
    body.append(encode_vlq(max(0, end_tick - tick)) + END_OF_TRACK)
    data = b"".join(body)
    return b"MTrk" + len(data).to_bytes(4, "big") + data


def _note_events(name: str, notes: Sequence[Note], tpb: int, channel: int) -> list[tuple[int, bytes]]:
    """Track name, then note-ons and note-offs, note-offs first at the same tick."""
    events = []  # (tick, order, bytes): note-offs (0) before note-ons (1) at the same tick
    on, off = NOTE_ON | channel, NOTE_OFF | channel
    for note in notes:
        start = round(note.start * tpb / STEPS_PER_QUARTER)
        end = max(start + 1, round(note.end * tpb / STEPS_PER_QUARTER))
        events.append((start, 1, bytes((on, note.pitch, note.velocity))))
        events.append((end, 0, bytes((off, note.pitch, 0))))
    events.sort(key=lambda e: (e[0], e[1]))
    named = bytes(mido.MetaMessage("track_name", name=name).bytes())
    return [(0, named)] + [(at, data) for at, _, data in events]


def _kept_events(timed: Sequence[tuple[int, mido.Message]], end_tick: int) -> list[tuple[int, bytes]]:
    """A source track cut at ``end_tick``: later events dropped, notes still sounding released."""
    kept, sounding = [], {}
    for at, m in timed:
        if at > end_tick:
            break
        if m.type == "note_on" and m.velocity > 0:
            sounding[(m.channel, m.note)] = sounding.get((m.channel, m.note), 0) + 1
        elif m.type in ("note_on", "note_off") and sounding.get((m.channel, m.note)):
            sounding[(m.channel, m.note)] -= 1
        kept.append((at, _event_bytes(m)))
    for (ch, pitch), count in sorted(sounding.items()):
        kept += [(end_tick, bytes((NOTE_OFF | ch, pitch, 0)))] * count
    return kept


def _event_bytes(message: mido.Message) -> bytes:
    """The bytes of ``message`` as a track event (a sysex carries its length, SMF 1.0)."""
    if message.is_meta:
        return bytes(message.bytes())
    if message.type == "sysex":
        body = bytes(message.data) + b"\xf7"
        return b"\xf0" + encode_vlq(len(body)) + body
    return bytes(message.bin())
