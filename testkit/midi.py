"""Standard MIDI file tracks written from (pitch, start step, duration steps) triples, for
tests and tools that need files with several parts."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import mido


def note_track(
    notes: Iterable[tuple[int, int, int]],
    channel: int = 0,
    name: str | None = None,
    program: int | None = None,
    ticks_per_beat: int = 480,
    velocity: Callable[[int], int] = lambda pitch: 80,
) -> mido.MidiTrack:
    """A mido track of ``notes`` (MIDI pitch, start and duration in 16th steps; chords allowed)
    on ``channel``, named ``name``, with a program change first if ``program`` is given;
    note-offs before note-ons at the same tick. ``velocity(pitch)`` gives each note's velocity."""
    step = ticks_per_beat // 4
    events = []
    for pitch, start, duration in notes:
        events.append((start * step, 1, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity(pitch))))
        events.append(((start + duration) * step, 0, mido.Message("note_off", channel=channel, note=pitch)))
    events.sort(key=lambda e: (e[0], e[1]))
    track = mido.MidiTrack()
    if name:
        track.append(mido.MetaMessage("track_name", name=name))
    if program is not None:
        track.append(mido.Message("program_change", channel=channel, program=program))
    tick = 0
    for at, _, message in events:
        track.append(message.copy(time=at - tick))
        tick = at
    return track
