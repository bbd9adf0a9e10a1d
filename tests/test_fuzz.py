"""Thousands of mutated MIDI files through `livemelody continue` and `vary`: errors, never exceptions."""

import random

import mido
import pytest

from livemelody.cli import main
from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN
from tests.conftest import write_midi

FILES = 3000


def seed_files(tmp_path):
    """Valid starting points: the primer, a chordal type-1 file with tempo changes, a type-0 file."""
    first = write_midi(tmp_path / "s1.mid", AH_VOUS_DIRAI_JE_MAMAN, bpm=90, tpb=96)
    chords = mido.MidiFile(type=1, ticks_per_beat=120)
    chords.tracks.append(
        mido.MidiTrack(
            [
                mido.MetaMessage("set_tempo", tempo=600000),
                mido.MetaMessage("key_signature", key="Eb"),
                mido.MetaMessage("time_signature", numerator=3, denominator=4),
                mido.MetaMessage("set_tempo", tempo=400000, time=360),
            ]
        )
    )
    track = mido.MidiTrack()
    for i, root in enumerate([51, 55, 58, 56, 53, 51]):
        for j, p in enumerate((root, root + 4, root + 7)):
            track.append(mido.Message("note_on", channel=i % 3, note=p, velocity=60 + j, time=0))
        for j, p in enumerate((root, root + 4, root + 7)):
            track.append(mido.Message("note_off", channel=i % 3, note=p, time=120 if j == 0 else 0))
    track.append(mido.Message("control_change", control=64, value=127))
    track.append(mido.Message("pitchwheel", pitch=100))
    chords.tracks.append(track)
    chords.save(tmp_path / "s2.mid")
    single = mido.MidiFile(type=0, ticks_per_beat=480)
    single.tracks.append(mido.merge_tracks(mido.MidiFile(first).tracks))
    single.save(tmp_path / "s3.mid")
    return [p.read_bytes() for p in (first, tmp_path / "s2.mid", tmp_path / "s3.mid")]


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        kind = rng.random()
        pos = rng.randrange(len(buf)) if buf else 0
        if kind < 0.45 and buf:
            buf[pos] = rng.randrange(256)
        elif kind < 0.6 and buf:
            buf[pos] ^= 1 << rng.randrange(8)
        elif kind < 0.7:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif kind < 0.8 and buf:
            del buf[pos : pos + rng.randint(1, 8)]
        elif kind < 0.9:
            buf = buf[: rng.randrange(len(buf) + 1)]
        else:  # header fields: format, track count, time division
            field = rng.choice([8, 9, 10, 11, 12, 13])
            if len(buf) > field:
                buf[field] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)])
    return bytes(buf)


@pytest.mark.slow
@pytest.mark.parametrize("command, files", [("continue", FILES), ("vary", FILES // 3)])
def test_mutated_files_never_raise(tiny_models, tmp_path, capsys, command, files):
    rng = random.Random(1234)
    seeds = seed_files(tmp_path)
    outcomes = {0: 0, 2: 0}
    path, out = tmp_path / "fuzz.mid", tmp_path / "out.mid"
    options = ["--bars", "1"] if command == "continue" else ["--amount", "1", "--count", "2"]
    for i in range(files):
        path.write_bytes(mutate(rng.choice(seeds), rng))
        code = main([command, str(path), "-o", str(out), "--style", "tiny", *options, "--seed", str(i)])
        assert code in outcomes, f"file {i}: exit {code}"
        outcomes[code] += 1
        _, err = capsys.readouterr()
        assert "Traceback" not in err and err.count("\n") <= 1
    # both outcomes must occur, or the mutations are too mild or too harsh to test anything
    assert outcomes[0] > files // 20 and outcomes[2] > files // 20, outcomes
