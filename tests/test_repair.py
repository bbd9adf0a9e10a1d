"""The repair layer on files damaged on purpose, one kind at a time (livemelody.midi.repair)."""

import io

import mido
import pytest

from livemelody.midi.files import MidiFileError, read_melody
from livemelody.midi.repair import SmfError, encode_vlq, repair_smf

MELODY = [60, 62, 64, 65, 67, 65, 64, 62]


def chunk(kind: bytes, body: bytes, length: int | None = None) -> bytes:
    return kind + (len(body) if length is None else length).to_bytes(4, "big") + body


def header(fmt=1, tracks=2, division=480) -> bytes:
    return chunk(b"MThd", fmt.to_bytes(2, "big") + tracks.to_bytes(2, "big") + division.to_bytes(2, "big"))


def conductor(extra: bytes = b"") -> bytes:
    return b"\x00\xff\x51\x03\x07\xa1\x20" + extra + b"\x00\xff\x2f\x00"  # 120 BPM


def notes_track(pitches=MELODY, channel=0, gap=b"\x00", end=True) -> bytes:
    body = b""
    for p in pitches:
        body += gap + bytes((0x90 | channel, p, 90)) + b"\x83\x60" + bytes((0x80 | channel, p, 0))
    return body + (b"\x00\xff\x2f\x00" if end else b"")


def good() -> bytes:
    return header() + chunk(b"MTrk", conductor()) + chunk(b"MTrk", notes_track())


def pitches(data: bytes, tmp_path) -> tuple[list[int], list[str]]:
    path = tmp_path / "x.mid"
    path.write_bytes(data)
    melody = read_melody(path)
    return [n.pitch for n in melody.notes], melody.warnings


def test_a_good_file_passes_unchanged_in_meaning_and_without_warnings(tmp_path):
    repaired = repair_smf(good())
    assert repaired.warnings == []
    strict = mido.MidiFile(file=io.BytesIO(good()))
    again = mido.MidiFile(file=io.BytesIO(repaired.data))
    assert [list(t) for t in strict.tracks] == [list(t) for t in again.tracks]


@pytest.mark.parametrize(
    "meta, said",
    [
        (b"\x00\xff\x59\x02\x14\x00", "key signature"),  # 20 sharps
        (b"\x00\xff\x59\x02\x00\x05", "key signature"),  # mode 5
        (b"\x00\xff\x59\x00", "key signature"),  # no data
        (b"\x00\xff\x58\x04\x00\x02\x18\x08", "time signature 0/"),  # 0 beats
        (b"\x00\xff\x58\x04\x04\x09\x18\x08", "time signature 4/2^9"),
        (b"\x00\xff\x58\x01\x04", "time signature"),  # one data byte
        (b"\x00\xff\x51\x03\x00\x00\x00", "tempo 0"),
        (b"\x00\xff\x51\x00", "tempo"),
        (b"\x00\xff\x54\x05\xff\x00\x00\x00\x00", "SMPTE offset"),
    ],
)
def test_impossible_meta_events_are_ignored_with_one_warning(tmp_path, meta, said):
    data = header() + chunk(b"MTrk", conductor(meta)) + chunk(b"MTrk", notes_track())
    found, warnings = pitches(data, tmp_path)
    assert found == MELODY
    assert len(warnings) == 1 and "impossible data ignored" in warnings[0] and said in warnings[0]


@pytest.mark.parametrize("error", [+3, +40, -2, -7])
def test_a_wrong_track_length_is_read_to_end_of_track(tmp_path, error):
    body = conductor()
    data = header() + chunk(b"MTrk", body, len(body) + error) + chunk(b"MTrk", notes_track())
    found, warnings = pitches(data, tmp_path)
    assert found == MELODY and any("wrong length" in w for w in warnings)


def test_the_last_track_length_past_the_end_of_file(tmp_path):
    body = notes_track()
    data = header() + chunk(b"MTrk", conductor()) + chunk(b"MTrk", body, len(body) + 1000)
    found, warnings = pitches(data, tmp_path)
    assert found == MELODY and warnings and "wrong length" in warnings[0]


@pytest.mark.parametrize("count, said", [(5, "header counts 5 tracks, 2 found"), (1, "header counts 1 track, 2")])
def test_a_wrong_track_count_keeps_the_tracks_that_are_there(tmp_path, count, said):
    data = header(tracks=count) + chunk(b"MTrk", conductor()) + chunk(b"MTrk", notes_track())
    found, warnings = pitches(data, tmp_path)
    assert found == MELODY and warnings == [said] or said in warnings[0]


@pytest.mark.parametrize("where", ["before", "between", "after"])
def test_unknown_chunks_are_skipped_by_length(tmp_path, where):
    vendor = chunk(b"XYZW", b"\x90\x7f\x7f" * 5)  # looks like notes: must not be read as notes
    parts = [chunk(b"MTrk", conductor()), chunk(b"MTrk", notes_track())]
    parts.insert({"before": 0, "between": 1, "after": 2}[where], vendor)
    found, warnings = pitches(header() + b"".join(parts), tmp_path)
    assert found == MELODY and warnings == ["1 unknown chunk skipped by length (first: 'XYZW', 15 bytes)"]


def test_a_file_cut_anywhere_never_raises_and_keeps_only_complete_notes(tmp_path):
    data = good()
    first_note_end = len(header()) + len(chunk(b"MTrk", conductor())) + 8 + 9  # after the first note-off
    for cut in range(len(data) - 1, 13, -1):
        path = tmp_path / "cut.mid"
        path.write_bytes(data[:cut])
        if cut < first_note_end:  # no complete note: refused in words
            with pytest.raises(MidiFileError, match="no notes found"):
                read_melody(path)
            continue
        melody = read_melody(path)
        found = [n.pitch for n in melody.notes]
        complete = (cut - first_note_end) // 9 + 1  # each note is 9 bytes; a note-on alone is not a note
        assert found == MELODY[: min(complete, len(MELODY))]
        assert any("cut short" in w or "without End of Track" in w for w in melody.warnings)


def test_a_file_with_no_note_left_is_refused_in_words(tmp_path):
    path = tmp_path / "x.mid"
    path.write_bytes(good()[: len(header()) + len(chunk(b"MTrk", conductor())) + 12])
    with pytest.raises(MidiFileError, match="no notes found \\(empty or truncated file\\)") as info:
        read_melody(path)
    assert "Error" not in str(info.value)


def test_data_bytes_above_127_skip_the_event_and_keep_its_time(tmp_path):
    body = notes_track(MELODY[:4]).removesuffix(b"\x00\xff\x2f\x00")
    body += b"\x60\x91\xfd\x40" + b"\x00\x90\x43\x5a\x83\x60\x80\x43\x00" + b"\x00\xff\x2f\x00"
    data = header() + chunk(b"MTrk", conductor()) + chunk(b"MTrk", body)
    path = tmp_path / "x.mid"
    path.write_bytes(data)
    melody = read_melody(path)
    assert [n.pitch for n in melody.notes] == MELODY[:4] + [67]
    assert melody.notes[-1].start == 16 + 1  # the skipped event's 96 ticks (a 16th at 480) are kept
    assert len(melody.warnings) == 1 and "data byte above 127" in melody.warnings[0]


def test_running_status_is_kept(tmp_path):
    body = b"\x00\x90\x3c\x50\x83\x60\x3c\x00\x00\x3e\x50\x83\x60\x3e\x00\x00\xff\x2f\x00"
    found, warnings = pitches(header(tracks=1) + chunk(b"MTrk", body), tmp_path)
    assert found == [60, 62] and warnings == []


def test_delta_times_over_4_bytes_end_the_track_at_once(tmp_path):
    body = notes_track(MELODY[:3], end=False) + b"\x80" * 1_000_000 + b"\x00\x90\x40\x40"
    data = header(tracks=1) + chunk(b"MTrk", body)
    found, warnings = pitches(data, tmp_path)
    assert found == MELODY[:3] and "delta time over 4 bytes" in warnings[0]


@pytest.mark.parametrize("fps, per_frame, bpm_ticks", [(25, 40, 500), (24, 4, 48), (30, 80, 1200), (25, 1, 25)])
def test_smpte_division_is_read_in_seconds(tmp_path, fps, per_frame, bpm_ticks):
    division = ((256 - fps) << 8) | per_frame
    per_second = fps * per_frame
    half = encode_vlq(per_second // 2) if per_second % 2 == 0 else None
    if half is None:  # an odd tick rate: quarter notes are 1 s apart, read as 2 beats at 120 BPM
        half = encode_vlq(per_second)
    body = b""
    for p in MELODY:
        body += b"\x00" + bytes((0x90, p, 90)) + half + bytes((0x80, p, 0))
    data = header(tracks=1, division=division) + chunk(
        b"MTrk", b"\x00\xff\x51\x03\x0f\x42\x40" + body + b"\x00\xff\x2f\x00"
    )
    path = tmp_path / "x.mid"
    path.write_bytes(data)
    melody = read_melody(path)
    assert [n.pitch for n in melody.notes] == MELODY
    steps = 4 if per_second % 2 == 0 else 8
    assert [n.start for n in melody.notes[:2]] == [0, steps]
    assert [m.tempo for _, m in melody.conductor if m.type == "set_tempo"] == [500_000]
    assert "SMPTE" in melody.warnings[0]


def test_format_2_patterns_are_joined_in_time(tmp_path):
    data = header(fmt=2, tracks=2) + chunk(b"MTrk", notes_track([60, 62])) + chunk(b"MTrk", notes_track([70, 72]))
    path = tmp_path / "x.mid"
    path.write_bytes(data)
    melody = read_melody(path)
    assert [(n.pitch, n.start) for n in melody.notes] == [(60, 0), (62, 4), (70, 8), (72, 12)]


def test_bytes_before_the_header_are_skipped(tmp_path):
    found, warnings = pitches(b"RIFF\x00\x00\x00\x00RMIDdata\x00\x00\x00\x00" + good(), tmp_path)
    assert found == MELODY and "bytes before the MIDI header skipped" in warnings[0]


@pytest.mark.parametrize("data, said", [(b"", "empty file"), (b"hello", "not a MIDI file"), (b"MThd\x00", "truncated")])
def test_what_is_not_a_midi_file_is_said_in_words(data, said):
    with pytest.raises(SmfError, match=said):
        repair_smf(data)


def test_a_system_exclusive_message_with_a_byte_above_127_is_skipped(tmp_path):
    sysex = b"\x00\xf0\x05\x7e\x7f\x99\x01\xf7"  # 0x99 inside: not a data byte
    data = header() + chunk(b"MTrk", conductor(sysex)) + chunk(b"MTrk", notes_track())
    found, warnings = pitches(data, tmp_path)
    assert found == MELODY and len(warnings) == 1 and "system exclusive" in warnings[0]
    good_sysex = b"\x00\xf0\x05\x7e\x7f\x09\x01\xf7"
    found, warnings = pitches(
        header() + chunk(b"MTrk", conductor(good_sysex)) + chunk(b"MTrk", notes_track()), tmp_path
    )
    assert found == MELODY and warnings == []
