"""Monophonic melodies <-> 16th-step tokens (the seed's text encoding, as ids).

A note of pitch p lasting d steps becomes ``[id(p)] + [HOLD] * (d - 1)``; a silence of d
steps becomes ``[REST] + [HOLD] * (d - 1)``. Pitches outside the vocabulary are folded in by
octaves. See :mod:`livemelody.encoding.vocab` for the id layout.
"""

from __future__ import annotations

from collections.abc import Sequence

from livemelody.encoding.vocab import DELIMITER_ID, HOLD_ID, REST_ID, Vocabulary
from livemelody.events import Note


def fold_pitch(pitch: int, low: int, high: int) -> int:
    """Move ``pitch`` by whole octaves into ``low..high`` (MIDI numbers; range >= 12 wide)."""
    if high - low < 11:
        raise ValueError(f"range {low}..{high} is narrower than an octave")
    while pitch < low:
        pitch += 12
    while pitch > high:
        pitch -= 12
    return pitch


def next_onsets(ordered: Sequence[Note]) -> list[int | None]:
    """For notes sorted by onset: the first onset later than each note's own (None for the
    last onset); one pass from the end, O(n)."""
    result: list[int | None] = [None] * len(ordered)
    later: int | None = None
    i = len(ordered) - 1
    while i >= 0:
        j = i
        while j >= 0 and ordered[j].start == ordered[i].start:
            result[j] = later
            j -= 1
        later = ordered[i].start
        i = j
    return result


def notes_to_tokens(
    notes: Sequence[Note], vocab: Vocabulary, start: int | None = None, end: int | None = None
) -> list[int]:
    """Token ids for ``notes`` from step ``start`` (default: first onset) to ``end`` (exclusive).

    Notes must not overlap (reduce polyphony first); a note that runs past the next onset is
    cut there. ``end`` defaults to the end of the last note; a later ``end`` adds a rest.
    """
    ordered = sorted(notes, key=lambda n: (n.start, -n.pitch))
    if not ordered:
        return []
    position = ordered[0].start if start is None else start
    stop = max(n.end for n in ordered) if end is None else end
    tokens: list[int] = []
    following = next_onsets(ordered)
    for i, note in enumerate(ordered):
        if note.start < position:  # same onset as an earlier note, or starts before `start`
            continue
        if note.start >= stop:
            break
        if note.start > position:
            tokens += [REST_ID] + [HOLD_ID] * (note.start - position - 1)
        next_onset = stop if following[i] is None else following[i]
        note_end = min(note.end, max(next_onset, note.start + 1), stop)
        tokens += [vocab.pitch_id(fold_pitch(note.pitch, vocab.low, vocab.high))]
        tokens += [HOLD_ID] * (note_end - note.start - 1)
        position = note_end
    if stop > position:
        tokens += [REST_ID] + [HOLD_ID] * (stop - position - 1)
    return tokens


def tokens_to_notes(tokens: Sequence[int], vocab: Vocabulary, start: int = 0, velocity: int = 80) -> list[Note]:
    """Notes encoded by ``tokens``, the first token at step ``start``.

    A hold with nothing before it, and a rest, are silence; a delimiter ends the melody.
    """
    notes: list[Note] = []
    current: tuple[int, int] | None = None  # (pitch, onset step) of the sounding note
    step = start  # the step after the last token, once the loop has run (an empty melody: start)
    for step_offset, token in enumerate(tokens):
        step = start + step_offset
        if token == HOLD_ID:
            continue
        if current is not None:
            notes.append(Note(current[0], current[1], step - current[1], velocity))
            current = None
        if token == DELIMITER_ID:
            return notes
        if token == REST_ID:
            continue
        current = (vocab.pitch_of(int(token)), step)
    if current is not None:
        end = start + len(tokens)
        notes.append(Note(current[0], current[1], end - current[1], velocity))
    return notes
