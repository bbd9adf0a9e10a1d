"""Sound without a DAW: the demo's render (two GM instruments, a normal level) and --synth's hint."""

import shutil
import wave

import mido
import numpy as np
import pytest

from livemelody.clock import Grid
from livemelody.events import Tag
from livemelody.live.recorder import SessionRecorder
from livemelody.live.synth import AI_PROGRAM, PEAK_DBFS, PLAYER_PROGRAM, Synth, SynthError, render_wav, two_timbres

needs_fluidsynth = pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="FluidSynth is not installed")


def session(path, seconds_per_part=2.0):
    """A recorded session: the player's phrase (channel 1), then the AI's (channel 1 too, as the demo records)."""
    grid = Grid(120)
    rec = SessionRecorder(path, grid, flush_seconds=3600)
    steps = int(seconds_per_part / grid.step_seconds)
    for tag, first, pitches in ((Tag.PLAYER, 0, (60, 64, 67, 72)), (Tag.AI, steps, (72, 67, 64, 60))):
        for i, pitch in enumerate(pitches):
            start = first + i * steps // 4
            rec.add(tag, grid.time_of(start), [0x90, pitch, 100])
            rec.add(tag, grid.time_of(start + steps // 4 - 1), [0x80, pitch, 0])
    rec.close(grid.time_of(2 * steps))
    return grid.time_of(steps)


def test_the_two_parts_get_two_instruments_on_two_channels(tmp_path):
    session(tmp_path / "s.mid")
    two_timbres(tmp_path / "s.mid", tmp_path / "r.mid")
    midi = mido.MidiFile(tmp_path / "r.mid")
    parts = {}
    for track in midi.tracks[1:]:
        programs = {(m.channel, m.program) for m in track if m.type == "program_change"}
        notes = {m.channel for m in track if m.type == "note_on"}
        parts[track.name] = programs, notes
    (player_programs, player_channels), (ai_programs, ai_channels) = parts["player"], parts["ai"]
    assert {p for _, p in player_programs} == {PLAYER_PROGRAM} and {p for _, p in ai_programs} == {AI_PROGRAM}
    assert player_channels == {c for c, _ in player_programs} and ai_channels == {c for c, _ in ai_programs}
    assert not player_channels & ai_channels  # each part its own channel, so its own instrument


@needs_fluidsynth
def test_the_demo_render_has_both_parts_at_a_normal_level(tmp_path):
    split = session(tmp_path / "s.mid")
    wav = render_wav(tmp_path / "s.mid", tmp_path / "s.wav")
    if wav is None:
        pytest.skip("no General MIDI soundfont installed")
    with wave.open(str(wav), "rb") as reader:
        rate, channels = reader.getframerate(), reader.getnchannels()
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2").reshape(-1, channels)
    samples = samples.astype(np.float64) / 32768
    peak_dbfs = 20 * np.log10(np.abs(samples).max())
    assert peak_dbfs == pytest.approx(PEAK_DBFS, abs=0.2)  # near -3 dBFS, not -28

    def rms_dbfs(first, last):
        part = samples[int(first * rate) : int(last * rate)]
        return 20 * np.log10(np.sqrt(np.mean(part**2)))

    player, ai = rms_dbfs(0.1, split - 0.1), rms_dbfs(split + 0.1, 2 * split - 0.1)
    print(f"render: peak {peak_dbfs:.2f} dBFS, RMS player {player:.1f} dBFS, AI {ai:.1f} dBFS")
    assert player > -30 and ai > -30  # both parts audible


def test_synth_without_fluidsynth_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no fluidsynth on the path
    with pytest.raises(SynthError, match="apt install fluidsynth fluid-soundfont-gm"):
        Synth("jack", {0: AI_PROGRAM}, lambda: []).start()
