"""The session recorder: the file read back with mido lands on the grid it was played on."""

import os

import mido
import pytest

from livemelody.clock import Grid
from livemelody.events import Tag
from livemelody.live.loop import wait_for
from livemelody.live.recorder import TICKS_PER_BEAT, SessionRecorder

STEP_TICKS = TICKS_PER_BEAT // 4


def absolute(track) -> list[tuple[int, mido.Message]]:
    """(absolute tick, message) of every message of ``track``."""
    tick, out = 0, []
    for message in track:
        tick += message.time
        out.append((tick, message))
    return out


def notes_on(midi, index) -> list[tuple[int, int]]:
    return [(t, m.note) for t, m in absolute(midi.tracks[index]) if m.type == "note_on" and m.velocity > 0]


def tempos(midi) -> list[tuple[int, float]]:
    return [(t, mido.tempo2bpm(m.tempo)) for t, m in absolute(midi.tracks[0]) if m.type == "set_tempo"]


def test_two_tracks_on_the_grid_with_tempo_and_meter(tmp_path):
    path = tmp_path / "s.mid"
    grid = Grid(120, origin=10.0)
    rec = SessionRecorder(path, grid, (3, 4), flush_seconds=60)
    rec.add(Tag.PLAYER, grid.time_of(12), [0x90, 60, 90])  # bar 2 of 3/4: the file starts there
    rec.add(Tag.PLAYER, grid.time_of(14), [0x80, 60, 0])
    rec.add(Tag.AI, grid.time_of(16), [0x90, 62, 80])
    rec.add(Tag.AI, grid.time_of(18), [0x80, 62, 0])
    rec.add(Tag.AI, grid.time_of(18), [0xF8])  # clock: not recorded
    rec.flush()
    midi = mido.MidiFile(path)
    assert midi.type == 1 and midi.ticks_per_beat == TICKS_PER_BEAT
    assert [t.name for t in midi.tracks[1:]] == ["player", "ai"]
    assert tempos(midi) == [(0, pytest.approx(120, abs=0.01))]
    signature = next(m for m in midi.tracks[0] if m.type == "time_signature")
    assert (signature.numerator, signature.denominator) == (3, 4)
    assert notes_on(midi, 1) == [(0, 60)]  # bar 1 of the file is the grid's bar line
    assert notes_on(midi, 2) == [(4 * STEP_TICKS, 62)]
    assert not path.with_name("s.mid.part").exists()


def test_the_tempo_map_as_played_keeps_notes_on_their_beats(tmp_path):
    path = tmp_path / "s.mid"
    slow = Grid(100, origin=0.0)
    rec = SessionRecorder(path, slow, flush_seconds=60)
    rec.add(Tag.PLAYER, slow.time_of(0), [0x90, 60, 90])
    rec.add(Tag.PLAYER, slow.time_of(4), [0x80, 60, 0])
    change = slow.time_of(16)  # bar 2: 140 BPM from here, the step under the change kept
    fast = Grid(140, origin=change - 16 * Grid(140).step_seconds)
    rec.grid_changed(change, fast)
    for beat in (4, 5, 6, 7):
        rec.add(Tag.PLAYER, fast.time_of(beat * 4) + 0.003, [0x90, 64 + beat, 90])  # a touch late, as played
        rec.add(Tag.PLAYER, fast.time_of(beat * 4 + 2), [0x80, 64 + beat, 0])
    rec.flush()
    midi = mido.MidiFile(path)
    assert tempos(midi) == [(0, pytest.approx(100, abs=0.01)), (16 * STEP_TICKS, pytest.approx(140, abs=0.01))]
    beats = [t / TICKS_PER_BEAT for t, _ in notes_on(midi, 1)]
    assert beats[0] == 0 and beats[1:] == pytest.approx([4, 5, 6, 7], abs=0.02)
    # and a DAW playing the file hears the beats at the times they were played
    seconds, played = 0.0, []
    for message in midi:
        seconds += message.time
        if message.type == "note_on" and message.velocity > 0:
            played.append(seconds)
    assert played[1] - played[0] == pytest.approx(fast.time_of(16) - slow.time_of(0) + 0.003, abs=0.002)


def test_following_a_clock_the_file_starts_at_its_song_position_zero(tmp_path):
    path = tmp_path / "s.mid"
    grid = Grid(140, origin=5.0)  # song position 0 at 5 s
    rec = SessionRecorder(path, grid, song_position=True, flush_seconds=60)
    rec.add(Tag.PLAYER, grid.time_of(4 * 4), [0x90, 60, 90])  # beat 4 of the master
    rec.add(Tag.PLAYER, grid.time_of(5 * 4), [0x80, 60, 0])
    restarted = Grid(140, origin=9.0)  # the master pressed Start again: song position 0 at 9 s
    rec.grid_changed(9.0, restarted)
    rec.add(Tag.PLAYER, restarted.time_of(2), [0x90, 62, 90])
    rec.close(restarted.time_of(3))
    ticks = [t for t, _ in notes_on(mido.MidiFile(path), 1)]
    bar = 4 * TICKS_PER_BEAT
    assert ticks[0] == 4 * TICKS_PER_BEAT
    assert ticks[1] >= ticks[0] and ticks[1] % bar == 2 * STEP_TICKS  # on by whole bars, not back in time


def test_six_eight_bars_are_twelve_steps(tmp_path):
    path = tmp_path / "s.mid"
    grid = Grid(90, origin=0.0)
    rec = SessionRecorder(path, grid, (6, 8), flush_seconds=60)
    rec.add(Tag.AI, grid.time_of(12 * 3 + 6), [0x90, 67, 70])  # bar 4, second dotted-quarter beat
    rec.close(grid.time_of(50))
    midi = mido.MidiFile(path)
    signature = next(m for m in midi.tracks[0] if m.type == "time_signature")
    assert (signature.numerator, signature.denominator) == (6, 8)
    assert notes_on(midi, 2) == [(6 * STEP_TICKS, 67)]


def test_every_note_still_sounding_at_stop_gets_its_note_off(tmp_path):
    path = tmp_path / "s.mid"
    grid = Grid(120)
    rec = SessionRecorder(path, grid, flush_seconds=60)
    rec.add(Tag.PLAYER, grid.time_of(0), [0x90, 60, 90])
    rec.add(Tag.PLAYER, grid.time_of(1), [0x91, 64, 90])
    rec.add(Tag.PLAYER, grid.time_of(1), [0xB1, 64, 127])  # the pedal held too
    rec.add(Tag.PLAYER, grid.time_of(2), [0x80, 60, 0])
    rec.add(Tag.AI, grid.time_of(3), [0x90, 70, 80])
    rec.close(grid.time_of(8))
    rec.add(Tag.PLAYER, grid.time_of(9), [0x90, 72, 90])  # after stop: ignored
    midi = mido.MidiFile(path)
    for index in (1, 2):
        sounding = set()
        for tick, m in absolute(midi.tracks[index]):
            if m.type == "note_on" and m.velocity > 0:
                sounding.add((m.channel, m.note))
            elif m.type in ("note_off", "note_on"):
                sounding.discard((m.channel, m.note))
                assert tick <= 8 * STEP_TICKS
        assert not sounding
    pedal = [m.value for m in midi.tracks[1] if m.type == "control_change" and m.control == 64]
    assert pedal == [127, 0]
    assert 72 not in [m.note for m in midi.tracks[1] if m.type == "note_on"]


def test_writes_append_increments_and_the_file_is_always_whole(tmp_path):
    path = tmp_path / "s.mid"
    grid = Grid(120)
    rec = SessionRecorder(path, grid, flush_seconds=0.05).start()
    try:
        for i in range(200):
            rec.add(Tag.PLAYER, grid.time_of(i), [0x90, 60 + i % 12, 90])
            rec.add(Tag.PLAYER, grid.time_of(i + 0.5), [0x80, 60 + i % 12, 0])
        assert wait_for(lambda: path.exists() and len(notes_on(mido.MidiFile(path), 1)) == 200, 10)
        before = bytes(rec._tracks[Tag.PLAYER].data)
        rec.add(Tag.PLAYER, grid.time_of(300), [0x90, 61, 90])
        assert wait_for(lambda: len(notes_on(mido.MidiFile(path), 1)) == 201, 10)
        assert bytes(rec._tracks[Tag.PLAYER].data).startswith(before)  # appended, never re-encoded
    finally:
        rec.close()
    assert rec.writes >= 2 and rec.error is None


def test_a_folder_that_cannot_be_written_is_said_at_once_and_retried(tmp_path):
    folder = tmp_path / "sessions"
    folder.mkdir()
    os.chmod(folder, 0o500)  # read-only
    blocked = None
    if os.access(folder, os.W_OK):  # running as root, permissions do not bind: a folder where the file goes
        blocked = folder / "s.mid"
        blocked.mkdir()
        (blocked / "x").write_text("x")
    problems = []
    grid = Grid(120)
    rec = SessionRecorder(folder / "s.mid", grid, flush_seconds=0.05, on_error=problems.append).start()
    try:
        assert wait_for(lambda: problems, 5)  # before anything is played
        assert "cannot record the session" in problems[0] and "retrying" in problems[0]
        rec.add(Tag.PLAYER, grid.time_of(0), [0x90, 60, 90])
        rec.add(Tag.PLAYER, grid.time_of(2), [0x80, 60, 0])
        os.chmod(folder, 0o700)  # the problem goes away: the next write succeeds, nothing lost
        if blocked is not None:
            (blocked / "x").unlink()
            blocked.rmdir()
        assert wait_for(lambda: rec.error is None and (folder / "s.mid").exists(), 5)
    finally:
        os.chmod(folder, 0o700)
        rec.close()
    assert len(problems) == 1
    assert notes_on(mido.MidiFile(folder / "s.mid"), 1) == [(0, 60)]
    assert not list(folder.glob("*.part"))


def test_a_folder_that_cannot_be_created_is_reported_not_raised(tmp_path):
    blocker = tmp_path / "not a folder"
    blocker.write_text("a file where the sessions folder should be")
    problems = []
    grid = Grid(100)
    rec = SessionRecorder(blocker / "session.mid", grid, flush_seconds=3600, on_error=problems.append).start()
    assert wait_for(lambda: problems, 5)
    rec.add(Tag.PLAYER, grid.time_of(0), [0x90, 60, 100])
    rec._flush_reporting()
    assert len(problems) == 1 and str(blocker) in problems[0]
    blocker.unlink()
    rec.close()
    assert rec.error is None
    assert [n for _, n in notes_on(mido.MidiFile(blocker / "session.mid"), 1)] == [60]


def test_a_full_disk_is_said_and_the_next_write_keeps_everything(tmp_path, monkeypatch):
    import errno

    from livemelody.live import recorder as module

    def full(path, mode="r", *args, **kwargs):
        handle = open(path, mode, *args, **kwargs)
        handle.close()  # the .part is created, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    problems = []
    grid = Grid(120)
    rec = SessionRecorder(tmp_path / "s.mid", grid, flush_seconds=3600, on_error=problems.append)
    rec.add(Tag.PLAYER, grid.time_of(0), [0x90, 60, 90])
    monkeypatch.setattr(module, "open", full, raising=False)
    rec._flush_reporting()
    assert problems and "No space left on device" in problems[0]
    assert not list(tmp_path.iterdir())  # neither a file nor an unreadable .part left
    monkeypatch.undo()
    rec.add(Tag.PLAYER, grid.time_of(2), [0x80, 60, 0])
    rec.close(grid.time_of(4))
    assert rec.error is None and notes_on(mido.MidiFile(tmp_path / "s.mid"), 1) == [(0, 60)]
