"""Monophonic melodies <-> fixed-length note-level phrases (the seed's VAE encoding, as ids).

A phrase is a sequence of *events*, one per note or rest, each a (pitch id, duration id) pair:

==============  =====================================================================
pitch id        meaning
==============  =====================================================================
0 .. 47         a note of MIDI pitch ``PITCH_LOW + id`` (50 .. 97, the seed's range;
                other octaves are folded in)
48              silence (the seed's code 99): a rest, or padding after the phrase
==============  =====================================================================

Duration id ``d`` lasts ``DURATION_STEPS[d]`` 16th steps: the seed's quarter lengths
0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4 as classes 0..7. A phrase shorter than the model's length is
padded with silences lasting a whole note (class 7), as in the seed.

Lengths outside the classes are made exact without moving any onset: a note keeps the
longest class that fits and the rest of its length becomes a rest; a rest is split into
classes, longest first. (0.06% of deutsch and 0.3% of han notes are affected.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from livemelody.encoding.melody import fold_pitch, next_onsets
from livemelody.events import Note

PITCH_LOW = 50
"""Lowest MIDI pitch a phrase holds (the seed's range is 50..97)."""
PITCH_HIGH = 97
SILENCE_CODE = 99
"""The seed's number for silence, kept for its normalised encoding (training only)."""
SILENCE = PITCH_HIGH - PITCH_LOW + 1
"""Pitch id of a rest or padding (48)."""
PITCH_CLASSES = SILENCE + 1
"""Number of pitch ids: 48 pitches and silence."""
DURATION_STEPS = (1, 2, 3, 4, 6, 8, 12, 16)
"""Length of each duration id in 16th steps (quarter lengths 0.25 .. 4)."""
PAD_DURATION = len(DURATION_STEPS) - 1
"""Duration id of padding: a whole note."""
PITCH_SYMBOLS = [str(p) for p in range(PITCH_LOW, PITCH_HIGH + 1)] + ["silence"]
"""Symbol of every pitch id, recorded in VAE metadata as ``encoding.symbols``."""
REGISTER_CENTRE = 70
"""MIDI pitch a player's phrase is moved towards, by whole octaves, before encoding. The
training songs' notes average 68.8 (deutsch) and 70.6 (han) after transposition to C/Am;
the shipped VAEs reconstruct Twinkle in every key at 60..69 but miss notes an octave lower
or higher, where few training phrases lie."""

Event = tuple[int, int]
"""(pitch id, duration id)."""


def _split(steps: int) -> list[int]:
    """Duration ids summing to ``steps`` (> 0), longest first."""
    ids = []
    while steps > 0:
        d = max(i for i, s in enumerate(DURATION_STEPS) if s <= steps)
        ids.append(d)
        steps -= DURATION_STEPS[d]
    return ids


def notes_to_events(notes: Sequence[Note]) -> list[Event]:
    """Events of ``notes`` from the first onset to the last note's end (steps, MIDI numbers).

    Overlaps are resolved as in :func:`~livemelody.encoding.melody.notes_to_tokens`: of notes
    with the same onset the highest is kept, and a note is cut at the next onset.
    """
    ordered = sorted(notes, key=lambda n: (n.start, -n.pitch))
    events: list[Event] = []
    position = ordered[0].start if ordered else 0
    following = next_onsets(ordered)
    for i, note in enumerate(ordered):
        if note.start < position:
            continue
        if note.start > position:
            events += [(SILENCE, d) for d in _split(note.start - position)]
        end = note.end if following[i] is None else min(note.end, following[i])
        first, *rest = _split(end - note.start)
        events.append((fold_pitch(note.pitch, PITCH_LOW, PITCH_HIGH) - PITCH_LOW, first))
        events += [(SILENCE, d) for d in rest]
        position = end
    return events


def events_to_notes(events: Sequence[Event], start: int = 0, velocity: int = 80) -> list[Note]:
    """Notes of ``events``, the first event starting at step ``start``; rests leave gaps."""
    notes, position = [], start
    for pitch_id, duration_id in events:
        steps = DURATION_STEPS[int(duration_id)]
        if int(pitch_id) != SILENCE:
            notes.append(Note(PITCH_LOW + int(pitch_id), position, steps, velocity))
        position += steps
    return notes


def pad_events(events: Sequence[Event], length: int) -> tuple[np.ndarray, np.ndarray]:
    """(pitch ids, duration ids), int64 [length]: ``events`` cut to ``length`` or padded."""
    pitches = np.full(length, SILENCE, dtype=np.int64)
    durations = np.full(length, PAD_DURATION, dtype=np.int64)
    kept = list(events)[:length]
    if kept:
        pitches[: len(kept)], durations[: len(kept)] = zip(*kept)
    return pitches, durations


def trim_padding(events: Sequence[Event]) -> list[Event]:
    """``events`` without trailing silences (padding, or a rest nothing follows)."""
    events = list(events)
    while events and events[-1][0] == SILENCE:
        events.pop()
    return events


def register_shift(notes: Sequence[Note]) -> int:
    """Semitones (a multiple of 12) that bring the mean pitch of ``notes`` nearest REGISTER_CENTRE."""
    if not notes:
        return 0
    mean = sum(n.pitch for n in notes) / len(notes)
    return 12 * round((REGISTER_CENTRE - mean) / 12)
