"""A few hundred mutated MIDI files through the fuzz command (tools/fuzz_files.py): no
traceback, no hang, every output file valid and without an invented note. The 10,000-file run
is the command itself; its figures are in docs/DATA.md."""

import random

import mido

from tools.fuzz_files import check_output, make_file, mutate, run, seed_files


def test_a_few_hundred_mutated_files_give_valid_files_or_one_line(tmp_path):
    figures = run(240, [7, 8], "tiny", 10.0, tmp_path)
    assert figures["crashes"] == {} and figures["invalid"] == {} and figures["bad_stderr"] == 0, figures
    # both outcomes occur, or the mutations are too mild or too harsh to test anything
    assert figures["written"] > 24 and figures["refused"] > 5, figures


def test_mutations_change_files_and_repeat_with_their_seed():
    seeds = seed_files()
    first = [make_file(seeds, 3, i) for i in range(30)]
    assert first == [make_file(seeds, 3, i) for i in range(30)]
    assert all(data != seeds.get(name) for name, data in first)
    rng = random.Random(0)
    assert mutate(seeds["tune"], rng) != seeds["tune"]


def test_the_output_check_catches_what_was_broken_before(tmp_path):
    source = seed_files()["tune"]

    def written(*events, tempo=500000):
        midi = mido.MidiFile(type=1, ticks_per_beat=480)
        midi.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo)]))
        midi.tracks.append(mido.MidiTrack(events))
        midi.save(tmp_path / "o.mid")
        return tmp_path / "o.mid"

    pitch, velocity = source[source.index(b"\x90") + 1 : source.index(b"\x90") + 3]
    on = mido.Message("note_on", note=pitch, velocity=velocity)
    off = mido.Message("note_off", note=pitch, time=480)
    assert check_output(written(on, off), source) is None
    assert check_output(written(on), source) == "note left without its note-off"
    assert check_output(written(on, off, tempo=0), source) == "tempo 0"
    assert check_output(written(mido.Message("note_on", note=127, velocity=velocity), off.copy(note=127)), source)
    far = mido.MetaMessage("marker", text="x", time=480 * 1000)
    assert "past its last note" in check_output(written(on, off, far), source)
