"""Reading MIDI files to a quantised top line, and writing the answer beside the primer."""

import mido
import pytest

from livemelody.events import Note
from livemelody.midi.files import MidiFileError, read_melody, top_line, write_melodies
from tests.conftest import write_midi


def test_round_trip_through_a_file(tmp_path):
    notes = [Note(60, 0, 4, 90), Note(62, 4, 2, 70), Note(67, 8, 8, 100)]
    melody = read_melody(write_midi(tmp_path / "a.mid", notes, tpb=96))
    assert melody.notes == notes and melody.ticks_per_beat == 96


def test_off_grid_notes_are_quantised_to_16ths(tmp_path):
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    # onsets at 130 ticks (~1.08 steps) and 470 ticks (~3.9 steps), lengths of 100 ticks
    track += [
        mido.Message("note_on", note=60, velocity=64, time=130),
        mido.Message("note_off", note=60, time=100),
        mido.Message("note_on", note=62, velocity=64, time=240),
        mido.Message("note_on", note=62, velocity=0, time=100),
    ]
    midi.tracks.append(track)
    midi.save(tmp_path / "q.mid")
    assert read_melody(tmp_path / "q.mid").notes == [Note(60, 1, 1, 64), Note(62, 4, 1, 64)]


def test_polyphony_reduces_to_the_top_line():
    # a chord, a higher note that cuts it, a lower onset under it (dropped), then a line again
    notes = [
        Note(48, 0, 16),
        Note(64, 0, 8),
        Note(67, 0, 4),
        Note(72, 4, 4),
        Note(55, 6, 2),
        Note(55, 8, 4),
        Note(65, 12, 4),
    ]
    assert top_line(notes) == [Note(67, 0, 4), Note(72, 4, 4), Note(55, 8, 4), Note(65, 12, 4)]


def test_drums_are_ignored(tmp_path):
    midi = mido.MidiFile()
    midi.tracks.append(
        mido.MidiTrack(
            [
                mido.Message("note_on", channel=9, note=36, velocity=100),
                mido.Message("note_off", channel=9, note=36, time=240),
            ]
        )
    )
    midi.save(tmp_path / "drums.mid")
    with pytest.raises(MidiFileError, match="no notes"):
        read_melody(tmp_path / "drums.mid")


def test_written_file_keeps_tempo_and_puts_primer_and_answer_on_tracks(tmp_path):
    source = read_melody(write_midi(tmp_path / "in.mid", [Note(60, 0, 4)], bpm=72, numerator=3))
    write_melodies(tmp_path / "out.mid", source, [("primer", source.notes), ("answer", [Note(62, 4, 4)])])
    out = mido.MidiFile(tmp_path / "out.mid")
    assert len(out.tracks) == 3
    tempos = [m.tempo for m in out.tracks[0] if m.type == "set_tempo"]
    assert tempos == [mido.bpm2tempo(72)]
    assert source.steps_per_bar(0) == 12
    names = [next(m.name for m in t if m.type == "track_name") for t in out.tracks[1:]]
    assert names == ["primer", "answer"]


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        (b"", "cannot read"),
        (b"MThd\x00\x00", "cannot read"),
        (b"hello world, not midi", "cannot read"),
    ],
)
def test_unreadable_files_give_one_line_errors(tmp_path, content, message):
    path = tmp_path / "x.mid"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MidiFileError, match=message) as info:
        read_melody(path)
    assert "\n" not in str(info.value)
