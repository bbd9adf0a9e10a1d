"""The real-world case files (tests/fixtures/cases/CASES.md) through the CLI: each right value."""

import mido
import pytest

from livemelody.cli import main
from livemelody.midi.files import read_melody
from tests.conftest import FIXTURES

CASES = FIXTURES / "cases"
TWINKLE = [60, 60, 67, 67, 69, 69, 67, 65, 65, 64, 64, 62, 62, 60]


def run_continue(capsys, tmp_path, name):
    out = tmp_path / "out.mid"
    code = main(["continue", str(CASES / name), "-o", str(out), "--style", "tiny", "--seed", "1", "--bars", "2"])
    stdout, stderr = capsys.readouterr()
    return code, stdout, stderr, out


def primer(out):
    return [m.note for m in mido.MidiFile(out).tracks[1] if m.type == "note_on" and m.velocity > 0]


@pytest.mark.parametrize(
    "name, warning",
    [
        ("keysig_ok.mid", None),
        ("keysig_mode255.mid", "key signature"),
        ("keysig_18flats.mid", "key signature"),
        ("keysig_len0.mid", "key signature"),
        ("tracklen_too_long.mid", "wrong length read to End of Track"),
        ("tracklen_last_too_long.mid", "wrong length read to End of Track"),
        ("ntrks_too_many.mid", "header counts 3 tracks, 2 found"),
        ("vendor_chunk.mid", "unknown chunk skipped by length"),
        ("corrupt_pitch_253.mid", "data byte above 127 skipped"),
        ("smpte_25fps_40tpf.mid", "SMPTE time division"),
    ],
)
def test_damaged_twinkles_give_the_14_notes_in_c(tiny_models, tmp_path, capsys, name, warning):
    code, out, err, written = run_continue(capsys, tmp_path, name)
    assert code == 0, err
    assert "14 primer notes in C," in out
    assert primer(written) == TWINKLE  # never a clipped 127 or a stray note
    lines = err.splitlines()
    if warning is None:
        assert err == ""
    else:
        assert len(lines) == 1 and lines[0].startswith("livemelody: warning:") and warning in lines[0], err


def test_smpte_file_is_read_in_seconds_as_120_bpm(tiny_models, tmp_path, capsys):
    code, _, err, written = run_continue(capsys, tmp_path, "smpte_25fps_40tpf.mid")
    assert code == 0, err
    melody = read_melody(CASES / "smpte_25fps_40tpf.mid")
    assert [n.start for n in melody.notes[:3]] == [0, 4, 8]  # quarter notes 0.5 s apart at 120 BPM
    tempos = [m.tempo for m in mido.MidiFile(written).tracks[0] if m.type == "set_tempo"]
    assert tempos == [500_000]


def test_truncated_file_keeps_the_12_complete_notes_and_says_so(tiny_models, tmp_path, capsys):
    code, out, err, written = run_continue(capsys, tmp_path, "truncated_mid_track.mid")
    assert code == 0, err
    assert "12 primer notes" in out and primer(written) == TWINKLE[:12]
    assert err.count("\n") == 1 and "cut short" in err


def test_format_2_patterns_are_a_sequence_never_stacked(tiny_models, tmp_path, capsys):
    code, out, err, written = run_continue(capsys, tmp_path, "type2_two_patterns.mid")
    assert code == 0, err
    assert "16 primer notes" in out and "format 2" in err and "one after another" in err
    melody = read_melody(CASES / "type2_two_patterns.mid")
    starts = [n.start for n in melody.notes]
    assert starts == sorted(set(starts))  # nothing stacked at the same onset
    assert [n.pitch for n in melody.notes[:8]] == [60, 62, 64, 65, 67, 69, 71, 72]  # pattern A (C major) first
    assert {n.pitch % 12 for n in melody.notes[8:]} <= {7, 11, 2}  # then pattern B (G arpeggio)


def test_corrupt_data_bytes_are_skipped_not_clipped(tmp_path):
    melody = read_melody(CASES / "corrupt_pitch_253.mid")
    assert 127 not in [n.pitch for n in melody.notes]
    assert [n.pitch for n in melody.notes] == [n.pitch for n in read_melody(CASES / "keysig_ok.mid").notes]
