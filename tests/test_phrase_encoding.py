"""Notes <-> note-level phrase events: classes, rests, splitting, folding, padding."""

import numpy as np

from livemelody.encoding.phrase import (
    DURATION_STEPS,
    PAD_DURATION,
    PITCH_LOW,
    PITCH_SYMBOLS,
    SILENCE,
    events_to_notes,
    notes_to_events,
    pad_events,
    register_shift,
    trim_padding,
)
from livemelody.events import Note
from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN


def test_layout_is_the_seeds():
    assert DURATION_STEPS == (1, 2, 3, 4, 6, 8, 12, 16)  # 0.25 .. 4 quarters
    assert PITCH_LOW == 50 and SILENCE == 48 and PITCH_SYMBOLS[0] == "50" and PITCH_SYMBOLS[47] == "97"
    assert PITCH_SYMBOLS[SILENCE] == "silence" and PAD_DURATION == 7


def test_round_trip_of_a_melody_with_rests():
    notes = [Note(60, 0, 4), Note(62, 4, 2), Note(64, 8, 8), Note(65, 20, 12), Note(67, 32, 1)]
    events = notes_to_events(notes)
    assert events == [(10, 3), (12, 1), (SILENCE, 1), (14, 5), (SILENCE, 3), (15, 6), (17, 0)]
    assert events_to_notes(events) == notes


def test_twinkle_round_trips_from_its_start():
    shifted = [Note(n.pitch, n.start + 6, n.duration, n.velocity) for n in AH_VOUS_DIRAI_JE_MAMAN]
    assert events_to_notes(notes_to_events(shifted), start=6) == shifted


def test_lengths_outside_the_classes_keep_every_onset():
    notes = [Note(60, 0, 5), Note(62, 5, 20), Note(64, 30, 1)]  # 5 and 20 steps are no class; a 5-step rest
    events = notes_to_events(notes)
    assert events == [(10, 3), (SILENCE, 0), (12, 7), (SILENCE, 3), (SILENCE, 3), (SILENCE, 0), (14, 0)]
    assert [n.start for n in events_to_notes(events)] == [0, 5, 30]


def test_pitches_fold_into_range_and_overlaps_resolve():
    notes = [Note(40, 0, 4), Note(110, 4, 4), Note(72, 8, 8), Note(60, 8, 4), Note(65, 12, 4)]
    events = notes_to_events(notes)
    assert [PITCH_LOW + p for p, _ in events] == [
        52,
        98 - 12,
        72,
        65,
    ]  # 40 -> 52, 110 -> 86; the chord keeps 72, cut at 12
    assert [DURATION_STEPS[d] for _, d in events] == [4, 4, 4, 4]


def test_pad_cut_and_trim():
    events = [(10, 3), (SILENCE, 1), (12, 3)]
    pitches, durations = pad_events(events, 5)
    assert pitches.tolist() == [10, SILENCE, 12, SILENCE, SILENCE] and durations.tolist() == [3, 1, 3, 7, 7]
    assert pitches.dtype == np.int64
    assert pad_events(events, 2)[0].tolist() == [10, SILENCE]
    assert trim_padding(list(zip(pitches.tolist(), durations.tolist()))) == [(10, 3), (SILENCE, 1), (12, 3)][:3]
    assert notes_to_events([]) == [] and pad_events([], 3)[0].tolist() == [SILENCE] * 3


def test_register_shift_moves_by_octaves_towards_the_centre():
    assert register_shift(AH_VOUS_DIRAI_JE_MAMAN) == 0  # mean 64.6, nearest 70 as it is
    assert register_shift([Note(p, 0, 1) for p in (50, 53, 57)]) == 12  # mean 53.3 -> 65.3
    assert register_shift([Note(p, 0, 1) for p in (48, 52, 55)]) == 24  # mean 51.7 -> 75.7 beats 63.7
    assert register_shift([Note(84, 0, 1)]) == -12 and register_shift([]) == 0
