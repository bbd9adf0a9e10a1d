"""Melodies from multi-part files: the melody part, the file's key, the player's octave, bars
and form, and output safety, through the CLI where a user would meet them."""

import mido
import pytest

from livemelody.cli import _downbeat, main
from livemelody.encoding import Key, detect_key
from livemelody.events import Note
from livemelody.midi.files import MelodyFile, read_melody
from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN as TWINKLE
from livemelody.variation import one_after_another
from testkit.midi import note_track
from tests.conftest import write_midi

TPB = 480


def part_track(notes, channel=0, name=None, program=None):
    """A mido track of (pitch, start step, duration steps) notes; chords allowed."""
    return note_track(notes, channel, name, program, TPB)


def song(path, *tracks, numerator=4, conductor_extra=()):
    midi = mido.MidiFile(type=1, ticks_per_beat=TPB)
    conductor = mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100)),
            mido.MetaMessage("time_signature", numerator=numerator, denominator=4),
            *conductor_extra,
        ]
    )
    midi.tracks.append(conductor)
    midi.tracks.extend(tracks)
    midi.save(path)
    return path


def twinkle(shift=0, delay=0):
    return [(n.pitch + shift, n.start + delay, n.duration) for n in TWINKLE]


def pad_above():  # sustained string chords above the tune, one per bar
    return [(p, bar * 16, 16) for bar in range(4) for p in (76, 79, 84)]


def bass():
    return [(36 + (i % 2) * 7, i * 8, 8) for i in range(8)]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- 2. the melody, not the top of everything ---


def test_the_tune_is_read_not_the_string_pad_above_it(tmp_path):
    path = song(tmp_path / "s.mid", part_track(pad_above(), 1, "Strings"), part_track(twinkle(), 0, "Piano RH"))
    melody = read_melody(path)
    assert [n.pitch for n in melody.notes] == [n.pitch for n in TWINKLE]
    assert 'track 3 "Piano RH" channel 1' in melody.part


def test_bass_and_drums_are_passed_over(tmp_path):
    drums = part_track([(36, i * 4, 1) for i in range(16)], 9, "Drums")
    path = song(tmp_path / "s.mid", part_track(bass(), 1, "Bass"), drums, part_track(twinkle(), 2))
    assert [n.pitch for n in read_melody(path).notes] == [n.pitch for n in TWINKLE]


def test_a_track_named_lead_wins_over_a_countermelody(tmp_path):
    counter = [(72 + i % 3, i * 4, 4) for i in range(16)]
    path = song(tmp_path / "s.mid", part_track(counter, 1, "Flute 2"), part_track(twinkle(), 0, "Lead vocal"))
    assert read_melody(path).part.startswith('melody read from track 3 "Lead vocal"')


def test_channels_of_a_format_0_track_are_parts(tmp_path):
    merged = mido.merge_tracks([part_track(pad_above(), 1), part_track(twinkle(), 3)])
    midi = mido.MidiFile(type=0, ticks_per_beat=TPB)
    midi.tracks.append(merged)
    midi.save(tmp_path / "s.mid")
    melody = read_melody(tmp_path / "s.mid")
    assert melody.channel == 3 and [n.pitch for n in melody.notes] == [n.pitch for n in TWINKLE]


@pytest.mark.parametrize("command", ["continue", "vary", "morph"])
@pytest.mark.parametrize("choice", [["--track", "2"], ["--track", "strings"], ["--channel", "2"]])
def test_track_and_channel_choose_by_hand_on_every_command(tiny_models, tmp_path, capsys, command, choice):
    path = song(tmp_path / "s.mid", part_track(pad_above(), 1, "Strings"), part_track(twinkle(), 0, "Piano"))
    inputs = [path, path] if command == "morph" else [path]
    code, out, err = run(capsys, command, *inputs, "-o", tmp_path / "o.mid", "--style", "tiny", *choice)
    assert code == 0, err
    assert 'melody read from track 2 "Strings" channel 2' in out


def test_a_track_that_is_not_there_is_one_line_listing_the_parts(tiny_models, tmp_path, capsys):
    path = song(tmp_path / "s.mid", part_track(pad_above(), 1, "Strings"), part_track(twinkle(), 0, "Piano"))
    code, _, err = run(capsys, "continue", path, "-o", tmp_path / "o.mid", "--style", "tiny", "--track", "oboe")
    assert code == 2 and err.count("\n") == 1
    assert "no notes in track 'oboe'" in err and 'track 3 "Piano" channel 1' in err


# --- 3. the key from every pitched note ---


def test_block_chords_in_g_are_in_g(tiny_models, tmp_path, capsys):
    chords = [(55, 59, 62), (60, 64, 67), (62, 66, 69), (55, 59, 62)] * 2
    notes = [(p, i * 8, 8) for i, chord in enumerate(chords) for p in chord]
    path = song(tmp_path / "g.mid", part_track(notes, 0, "Piano"))
    melody = read_melody(path)
    top = [n.pitch for n in melody.notes]
    assert detect_key(top, [n.duration for n in melody.notes]) != Key(7, "major")  # the top line alone misleads
    assert melody.key == Key(7, "major")
    code, out, err = run(capsys, "continue", path, "-o", tmp_path / "o.mid", "--style", "tiny", "--seed", "1")
    assert code == 0 and "primer notes in G," in out, err
    code, out, err = run(capsys, "vary", path, "-o", tmp_path / "v.mid", "--style", "tiny", "--seed", "1")
    assert code == 0 and " in G, then" in out, err


# --- 4. the player's octave ---


@pytest.mark.parametrize("octaves", [-2, 2])
def test_continue_answers_in_the_primers_octave(tiny_models, tmp_path, capsys, octaves):
    path = write_midi(tmp_path / "p.mid", [Note(n.pitch + 12 * octaves, n.start, n.duration) for n in TWINKLE])
    out = tmp_path / "o.mid"
    for seed in range(3):
        code, _, err = run(capsys, "continue", path, "-o", out, "--style", "tiny", "--seed", seed, "--bars", "4")
        assert code == 0, err
        answer = [m.note for m in mido.MidiFile(out).tracks[2] if m.type == "note_on"]
        primer_mean = sum(n.pitch for n in TWINKLE) / len(TWINKLE) + 12 * octaves
        assert answer and abs(sum(answer) / len(answer) - primer_mean) < 15, (answer, primer_mean)


# --- 6. bars and form ---


def pickup_file(tmp_path):
    """A 1/4 pickup bar, then 4/4: the tune's first note is a beat before the bar line."""
    four = mido.MetaMessage("time_signature", numerator=4, denominator=4, time=TPB)
    path = song(
        tmp_path / "pickup.mid", part_track([(55, 0, 4)] + twinkle(delay=4)), numerator=1, conductor_extra=[four]
    )
    return path


def test_a_pickup_keeps_its_place_before_the_bar_line_in_every_variation(tmp_path):
    melody = read_melody(pickup_file(tmp_path))
    assert melody.bar_line_at_or_after(1) == 4 and melody.steps_per_bar(4) == 16
    bar, downbeat = _downbeat(melody, 0)
    placed = one_after_another([melody.notes, melody.notes[:5], melody.notes], 0, bar, downbeat)
    for phrase in placed:
        first = phrase[0].start
        assert melody.bar_line_at_or_after(first + 1) - first == 4  # a beat before a bar line, every time


def test_vary_writes_each_pickup_a_beat_before_a_bar_line(tiny_models, tmp_path, capsys):
    path = pickup_file(tmp_path)
    code, _, err = run(capsys, "vary", path, "-o", tmp_path / "v.mid", "--style", "tiny", "--amount", "0")
    assert code == 0, err
    midi = mido.MidiFile(tmp_path / "v.mid")
    melody = read_melody(path)
    for track in midi.tracks[1:]:
        tick = 0
        for m in track:
            tick += m.time
            if m.type == "note_on":
                break
        step = tick // (midi.ticks_per_beat // 4)
        assert melody.bar_line_at_or_after(step + 1) - step in (4, 16), step  # a variation may begin with a rest


def test_the_continuation_ends_on_a_bar_line(tiny_models, tmp_path, capsys):
    path = write_midi(tmp_path / "p.mid", TWINKLE[:3])  # ends at step 12, inside bar 1
    out = tmp_path / "o.mid"
    code, text, err = run(capsys, "continue", path, "-o", out, "--style", "tiny", "--bars", "1", "--seed", "3")
    assert code == 0, err
    midi = mido.MidiFile(out)
    for track in midi.tracks:
        assert sum(m.time for m in track) == 32 * (midi.ticks_per_beat // 4)  # bar 1 filled, then 1 bar
    assert "(20 steps, ending on a bar line)" in text


def test_keep_tracks_keeps_bass_drums_and_programs_under_the_continuation(tiny_models, tmp_path, capsys):
    drums = part_track([(36, i * 4, 1) for i in range(40)], 9, "Drums")  # runs past the output's end
    melody = part_track(twinkle(), 2, "Flute", program=73)
    path = song(tmp_path / "s.mid", melody, part_track(bass(), 1, "Bass", program=33), drums)
    out = tmp_path / "o.mid"
    code, _, err = run(capsys, "continue", path, "-o", out, "--style", "tiny", "--bars", "1", "--keep-tracks")
    assert code == 0, err
    midi = mido.MidiFile(out)
    messages = [m for t in midi.tracks for m in t if not m.is_meta]
    assert any(m.type == "program_change" and (m.channel, m.program) == (1, 33) for m in messages)
    assert any(m.type == "program_change" and (m.channel, m.program) == (2, 73) for m in messages)
    assert {m.channel for m in messages if m.type == "note_on"} == {1, 2, 9}  # answer on the flute's channel
    end = 80 * (midi.ticks_per_beat // 4)  # 4 bars of primer, 1 bar continued
    for track in midi.tracks:
        assert sum(m.time for m in track) == end
        ons = sum(1 for m in track if m.type == "note_on" and m.velocity > 0)
        offs = sum(1 for m in track if m.type == "note_off" or (m.type == "note_on" and m.velocity == 0))
        assert ons == offs  # no stuck note where the drums were cut


# --- 7. output safety ---


def test_writing_over_the_input_needs_force(tiny_models, twinkle_mid, capsys):
    before = twinkle_mid.read_bytes()
    code, _, err = run(capsys, "continue", twinkle_mid, "-o", twinkle_mid, "--style", "tiny")
    assert code == 2 and "is the input file" in err and "--force" in err and err.count("\n") == 1
    assert twinkle_mid.read_bytes() == before
    code, _, err = run(capsys, "vary", twinkle_mid, "-o", twinkle_mid, "--style", "tiny", "--force")
    assert code == 0 and twinkle_mid.read_bytes() != before, err


@pytest.mark.parametrize("command", ["continue", "vary", "morph"])
def test_a_folder_or_a_missing_folder_is_one_line_before_any_work(tmp_path, twinkle_mid, capsys, command):
    inputs = [twinkle_mid, twinkle_mid] if command == "morph" else [twinkle_mid]
    # an unknown style would fail later: the output is checked first
    code, _, err = run(capsys, command, *inputs, "-o", tmp_path, "--style", "klingon")
    assert code == 2 and "is a folder" in err and err.count("\n") == 1
    code, _, err = run(capsys, command, *inputs, "-o", tmp_path / "no" / "o.mid", "--style", "klingon")
    assert code == 2 and "does not exist" in err and err.count("\n") == 1


def test_debug_works_before_or_after_the_command(tmp_path, capsys):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not midi")
    for argv in (
        ["--debug", "continue", bad, "-o", tmp_path / "o.mid"],
        ["continue", bad, "-o", tmp_path / "o.mid", "--debug"],
    ):
        with pytest.raises(Exception, match="not a MIDI file"):
            main([str(a) for a in argv])


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.startswith("livemelody ")


def test_plurals_are_right(tiny_models, tmp_path, capsys):
    path = write_midi(tmp_path / "one.mid", [Note(60, 0, 4)])
    code, out, err = run(capsys, "continue", path, "-o", tmp_path / "o.mid", "--style", "tiny", "--bars", "1")
    assert code == 0 and "1 primer note in" in out and "over 1 bar (" in out, err
    code, out, err = run(capsys, "vary", path, "-o", tmp_path / "v.mid", "--style", "tiny", "--count", "1")
    assert code == 0 and "1 note in" in out and "then 1 variation at" in out, err
    assert MelodyFile([], 480).steps_per_bar(0) == 16
