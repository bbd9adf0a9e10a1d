"""Vocabulary, melody tokens and key detection (numpy only)."""

import pytest

from livemelody.encoding import (
    Key,
    Vocabulary,
    detect_key,
    fold_pitch,
    notes_to_tokens,
    tokens_to_notes,
    transposition_to_reference,
)
from livemelody.encoding.vocab import DELIMITER_ID, HOLD_ID, REST_ID
from livemelody.events import Note

VOCAB = Vocabulary()


def test_id_layout_and_round_trip_of_symbols():
    assert VOCAB.symbols[:3] == ["/", "r", "_"]
    assert VOCAB.size == 3 + VOCAB.high - VOCAB.low + 1
    assert VOCAB.pitch_of(VOCAB.pitch_id(60)) == 60
    assert Vocabulary.from_symbols(VOCAB.symbols) == VOCAB


@pytest.mark.parametrize(
    "symbols",
    [
        ["/", "r"],
        ["r", "/", "_"] + [str(p) for p in range(60, 80)],
        ["/", "r", "_"] + [str(p) for p in range(60, 70)] + ["72", "73", "74"],
    ],
)
def test_bad_vocabularies_are_refused(symbols):
    with pytest.raises(ValueError):
        Vocabulary.from_symbols(symbols)


def test_pitch_outside_range_is_an_error_not_a_wrong_id():
    with pytest.raises(ValueError):
        VOCAB.pitch_id(VOCAB.high + 1)
    with pytest.raises(ValueError):
        VOCAB.pitch_of(HOLD_ID)


def test_notes_to_tokens_matches_the_seed_encoding():
    notes = [Note(60, 0, 4), Note(62, 4, 2), Note(64, 8, 1)]  # quarter, eighth, eighth rest, 16th
    tokens = notes_to_tokens(notes, VOCAB)
    p = VOCAB.pitch_id
    assert tokens == [p(60), HOLD_ID, HOLD_ID, HOLD_ID, p(62), HOLD_ID, REST_ID, HOLD_ID, p(64)]


def test_round_trip_keeps_notes_and_start():
    notes = [Note(67, 5, 3, 80), Note(69, 8, 1, 80), Note(71, 12, 6, 80)]
    back = tokens_to_notes(notes_to_tokens(notes, VOCAB), VOCAB, start=5)
    assert back == notes


def test_overlapping_notes_are_cut_at_the_next_onset():
    tokens = notes_to_tokens([Note(60, 0, 8), Note(64, 4, 4)], VOCAB)
    assert tokens_to_notes(tokens, VOCAB) == [Note(60, 0, 4), Note(64, 4, 4)]


def test_a_chord_keeps_its_top_note_whole():
    tokens = notes_to_tokens([Note(60, 0, 4), Note(64, 0, 4), Note(67, 4, 2)], VOCAB)
    assert tokens_to_notes(tokens, VOCAB) == [Note(64, 0, 4), Note(67, 4, 2)]


def test_folding_by_octaves():
    assert fold_pitch(30, 48, 89) == 54
    assert fold_pitch(100, 48, 89) == 88
    assert fold_pitch(60, 48, 89) == 60
    tokens = notes_to_tokens([Note(100, 0, 1)], VOCAB)
    assert VOCAB.pitch_of(tokens[0]) == 88


def test_decoding_stops_at_delimiter_and_treats_leading_hold_as_silence():
    p = VOCAB.pitch_id
    notes = tokens_to_notes([HOLD_ID, p(60), HOLD_ID, DELIMITER_ID, p(62)], VOCAB)
    assert notes == [Note(60, 1, 2)]


C_MAJOR_SCALE = [60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60]
A_MINOR_PHRASE = [69, 72, 71, 69, 68, 69, 64, 69, 72, 76, 74, 72, 71, 69]


@pytest.mark.parametrize("shift", range(-6, 6))
def test_key_detection_in_every_transposition(shift):
    assert detect_key([p + shift for p in C_MAJOR_SCALE]) == Key((0 + shift) % 12, "major")
    assert detect_key([p + shift for p in A_MINOR_PHRASE]) == Key((9 + shift) % 12, "minor")


def test_transposition_is_the_smallest_shift_to_c_or_a():
    assert transposition_to_reference(Key(7, "major")) == 5  # G -> C: up a fourth
    assert transposition_to_reference(Key(2, "major")) == -2
    assert transposition_to_reference(Key(4, "minor")) == 5  # E minor -> A minor
    assert transposition_to_reference(Key(9, "minor")) == 0
    assert all(-6 <= transposition_to_reference(Key(t, m)) <= 5 for t in range(12) for m in ("major", "minor"))


def test_empty_or_flat_melody_gets_c_major():
    assert detect_key([]) == Key(0, "major")
    assert detect_key(range(60, 72)) == Key(0, "major")


def test_to_reference_moves_to_c_and_transpose_moves_back():
    from livemelody.encoding import to_reference, transpose

    d_major = [Note(p, 4 * i, 4) for i, p in enumerate([62, 64, 66, 67, 69, 71, 73, 74, 69, 66, 62])]
    moved, key, shift = to_reference(d_major)
    assert str(key) == "D" and shift == -2
    assert [n.pitch for n in moved] == [p - 2 for p in (62, 64, 66, 67, 69, 71, 73, 74, 69, 66, 62)]
    assert transpose(moved, -shift) == d_major
    assert [n.pitch for n in transpose([Note(125, 0, 1), Note(2, 0, 1)], 5)] == [118, 7]  # octave-folded into 0..127
