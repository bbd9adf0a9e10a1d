"""One encoder, proven: a call played live and the same notes read from a file give the same
tokens (the guarantee note-seq gives by construction with its single encoder).

Hypothesis draws random monophonic and polyphonic calls on the 16th grid. The live path feeds
them to :class:`~livemelody.live.call.CallTracker` as a musician plays them (note-offs, then
note-ons at each step, each step finalized half a step later); the file path reduces them with
:func:`~livemelody.midi.files.top_line` and encodes them with
:func:`~livemelody.encoding.melody.notes_to_tokens`.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from livemelody.encoding.melody import notes_to_tokens
from livemelody.encoding.vocab import HOLD_ID, REST_ID, Vocabulary
from livemelody.events import Note
from livemelody.live.call import CallTracker
from livemelody.midi.files import top_line

VOCAB = Vocabulary()


@st.composite
def calls(draw, polyphonic: bool):
    """Notes (MIDI pitch inside the vocabulary, start and duration in steps); no two notes of
    one pitch overlap (a MIDI key cannot be pressed twice)."""
    count = draw(st.integers(1, 14))
    notes: list[Note] = []
    start = draw(st.integers(0, 4))
    for _ in range(count):
        pitch = draw(st.integers(VOCAB.low, VOCAB.high))
        duration = draw(st.integers(1, 8))
        if not polyphonic and notes:
            start = max(start, notes[-1].end)
        if all(n.pitch != pitch or n.end <= start or n.start >= start + duration for n in notes):
            notes.append(Note(pitch, start, duration, draw(st.integers(1, 127))))
        start += draw(st.integers(0 if polyphonic else 1, 6))
    return notes


def live_tokens(notes: list[Note], steps: int) -> list[int]:
    """The tokens CallTracker gives for ``notes`` played in time, over ``steps`` steps from
    the first onset (pitch tokens as vocabulary ids)."""
    tracker = CallTracker()
    first = min(n.start for n in notes)
    tokens = []
    for step in range(first, first + steps):
        for note in notes:
            if note.end == step:
                tracker.note_off(step, note.pitch)
        for note in notes:
            if note.start == step:
                tracker.note_on(step, note.pitch, note.velocity)
        token = tracker.finalize(step)
        tokens.append(VOCAB.pitch_id(token.pitch) if token.kind == "note" else token.token_id)
    return tokens


def file_tokens(notes: list[Note]) -> list[int]:
    return notes_to_tokens(top_line(notes), VOCAB)


def check(notes: list[Note]) -> None:
    expected = file_tokens(notes)
    assert live_tokens(notes, len(expected)) == expected


@settings(max_examples=300, deadline=None)
@given(calls(polyphonic=False))
def test_monophonic_calls_give_the_same_tokens_live_and_from_a_file(notes):
    check(notes)


@settings(max_examples=300, deadline=None)
@given(calls(polyphonic=True))
def test_polyphonic_calls_give_the_same_tokens_live_and_from_a_file(notes):
    check(notes)


def test_the_two_paths_agree_on_a_known_call_with_a_chord_and_rests():
    notes = [Note(60, 0, 4), Note(64, 0, 2), Note(67, 2, 2), Note(62, 8, 1)]
    tokens = file_tokens(notes)
    assert tokens[:4] == [VOCAB.pitch_id(64), HOLD_ID, VOCAB.pitch_id(67), HOLD_ID]
    assert tokens[4:8] == [REST_ID, HOLD_ID, HOLD_ID, HOLD_ID]
    check(notes)
