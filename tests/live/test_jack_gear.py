"""Input as real gear and DAWs send it (issue 10), through the real engine process over JACK."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from livemelody.live.loop import wait_for
from livemelody.midi.fake import sounding_notes
from livemelody.midi.ports import PortError, RtInput, RtOutput, StampQueue
from tests.live.jack import PERIOD_SECONDS, Listener, Player
from tests.live.test_jack_engine import D_MAJOR, STEP, call_events, next_turn, play_call, start_engine

SYSEX = [0xF0, 0x43, 0x10, 0x4C] + [0x11] * 60 + [0xF7]  # 65 bytes, like a synth's parameter dump


def test_input_stamps_stay_within_a_period_with_sensing_sysex_and_clock(jack, player):
    queue = StampQueue()
    port = RtInput("jack", player.port, queue)
    try:
        time.sleep(0.2)
        sent = []
        for i in range(24):  # between notes: Active Sensing, a sysex burst and clock ticks
            player.send([0xFE])
            for _ in range(8):
                player.send(SYSEX)
            for _ in range(6):
                player.send([0xF8])
                time.sleep(0.01)
            time.sleep(0.05 + 0.01 * (i % 5))
            before = time.monotonic()
            player.rt.send_message([0x90, 60 + i % 12, 100])
            sent.append((before, time.monotonic()))  # a busy machine may pause the player in between
            time.sleep(0.05)
        time.sleep(0.1)
        received = queue.drain()
    finally:
        port.close()
    stamps = [stamp for stamp, data in received if data[0] == 0x90]
    assert len(stamps) == 24 and not any(data[0] == 0xF0 for _, data in received)  # sysex dropped
    assert sum(data == [0xFE] for _, data in received) == 24  # kept, for the engine's watchdog
    # each stamp lies between the send and the end of the JACK period that delivered it
    late = [(stamp - before, stamp - after) for stamp, (before, after) in zip(stamps, sent, strict=True)]
    assert all(-0.0005 <= x and y <= PERIOD_SECONDS + 0.003 for x, y in late), [
        (round(x * 1000, 2), round(y * 1000, 2)) for x, y in late
    ]
    print(f"input stamps: {max(x for x, _ in late) * 1000:.2f} ms after the send at most, {len(late)} notes")


def test_rtmidi_ports_close_once_and_refuse_after(jack, player):
    output, queue = RtOutput("jack", None), StampQueue()
    inp = RtInput("jack", player.port, queue)
    for port in (output, inp):
        port.close()
        port.close()
        assert port.closed
        with pytest.raises(PortError, match="closed"):
            port.list_names()
    with pytest.raises(PortError, match="closed"):
        output.send([0x90, 60, 100])


def in_background(fn, *args):
    thread = threading.Thread(target=fn, args=args, daemon=True)
    thread.start()
    return thread


SENSING_CALLS = int(os.environ.get("LIVEMELODY_GEAR_SENSING_CALLS", "3"))


def test_calls_keep_every_note_under_active_sensing_and_sysex_then_silence_releases(jack, player, listener, tmp_path):
    handle = start_engine(player, listener, tmp_path)
    try:
        snap = handle.snapshot
        first = (snap.step // 16 + 1) * 16
        calls = [first + 40 * i for i in range(SENSING_CALLS)]  # 16 steps of call, 4 of silence, 16 of answer
        events = []
        for start in calls:
            events += call_events(D_MAJOR, start)
            flood = (start - 4) * STEP
            events += [(flood + i * 0.002, SYSEX) for i in range(50)]  # a sysex flood just before the call
        held = (calls[-1] + 48) * STEP
        events += [(held, [0x90, 60, 100])]  # a key held when the cable is pulled
        sensing_until = held + 1.0
        events += [(i * 0.3, [0xFE]) for i in range(int(first * STEP / 0.3) - 1, int(sensing_until / 0.3))]
        player_thread = in_background(player.play, sorted(events, key=lambda e: e[0]), snap.grid_origin)
        turns = [next_turn(handle, seen, timeout=12) for seen in range(SENSING_CALLS)]
        kept = [(t.call_notes, t.call_steps, t.key, t.answer_start_step - c) for t, c in zip(turns, calls, strict=True)]
        print(f"Active Sensing and sysex: {sum(k == (8, 16, 'D', 20) for k in kept)} of {SENSING_CALLS} calls whole")
        assert all(k == (8, 16, "D", 20) for k in kept), kept
        assert wait_for(lambda: "Active Sensing" in handle.snapshot.message, 14), handle.snapshot.message
        turn = next_turn(handle, SENSING_CALLS, timeout=5)  # the released key made a call, answered
        assert turn.call_notes == 1
        player_thread.join()
    finally:
        stats = handle.stop()
    assert stats is not None and handle.died is None


def test_all_notes_off_ends_the_call_like_a_note_off(jack, player, listener, tmp_path):
    handle = start_engine(player, listener, tmp_path)
    try:
        snap = handle.snapshot
        first = (snap.step // 16 + 1) * 16
        notes = [(60, 0, 2), (62, 2, 2), (64, 4, 2), (65, 6, 2)]
        events = call_events(notes, first) + [((first + 8) * STEP, [0x90, 67, 100])]
        events.append(((first + 12) * STEP, [0xB0, 123, 0]))  # a Roland-style release of the last key
        player.play(sorted(events, key=lambda e: e[0]), snap.grid_origin)
        turn = next_turn(handle, 0)
        assert (turn.call_steps, turn.call_notes, turn.answer_start_step) == (12, 5, first + 16)
    finally:
        handle.stop()


def drum_events(first, steps):
    """Hi-hat every 8th, kick every beat, channel 10, 30 ms notes, from step ``first``."""
    events = []
    for step in range(first, first + steps, 2):
        for pitch in (42, 36) if step % 4 == 0 else (42,):
            events += [(step * STEP, [0x99, pitch, 110]), (step * STEP + 0.03, [0x89, pitch, 0])]
    return events


def test_a_drum_machine_under_the_call_is_not_the_melody(jack, player, listener, tmp_path):
    handle = start_engine(player, listener, tmp_path)
    try:
        snap = handle.snapshot
        first = (snap.step // 16 + 1) * 16
        call = call_events([(60, 0, 4), (64, 4, 4), (67, 8, 4), (72, 12, 4)], first + 32)
        events = drum_events(first, 32 + 16 + 8) + call  # two bars of drums alone, then the call over them
        player.play(sorted(events, key=lambda e: e[0]), snap.grid_origin)
        turn = next_turn(handle, 0)
        assert (turn.call_steps, turn.call_notes, turn.key) == (16, 4, "C")
        assert turn.answer_start_step == first + 32 + 20  # the drums alone started no call
        assert handle.snapshot.turns == 1
    finally:
        handle.stop()


TICKS_PER_STEP = 6


def clock_session(runs: int, bpm: float):
    """Timeline of ``runs`` Start/Continue - call - Stop rounds at ``bpm``: after each Stop the
    master either keeps ticking (0.3 s) or pauses (0.5 s) before Continue. Returns (events,
    stop times, the answer start step expected for each call); times from the first message."""
    tick = 60 / bpm / 24
    step = tick * TICKS_PER_STEP
    events, stops, answer_steps = [], [], []
    t, position = 0.0, 0  # time and song position (ticks) of the next tick
    for run in range(runs):
        events.append((t, [0xFA] if run == 0 else [0xFB]))
        origin = t - position * tick  # where song position 0 would be
        first = -(-position // TICKS_PER_STEP) + 2  # the call starts two steps in
        call = [(62, 0, 2), (64, 2, 2), (66, 4, 2), (67, 6, 2)]
        for at, data in call_events(call, first, velocity=90):
            events.append((origin + at / STEP * step + 0.0005, data))
        answer_steps.append(first + 8 + 4)  # 8 steps of call, a beat of silence, answer_start "step"
        stop_position = (first + 8 + 4) * TICKS_PER_STEP + 3  # half a step into the answer
        while position <= stop_position:
            events.append((t, [0xF8]))
            t, position = t + tick, position + 1
        events.append((t - tick + 0.0002, [0xFC]))
        stops.append(t - tick + 0.0002)
        if run % 2 == 0:  # the master keeps ticking while stopped: tempo only, no position
            for _ in range(int(0.3 / tick)):
                events.append((t, [0xF8]))
                t += tick
        else:
            t += 0.5
    return sorted(events, key=lambda e: e[0]), stops, answer_steps


RUNS = int(os.environ.get("LIVEMELODY_GEAR_RUNS", "20"))


def test_clock_stop_releases_the_answer_and_continue_resumes_the_position(jack, player, listener, tmp_path):
    handle = start_engine(player, listener, tmp_path, clock_source="external", answer_start="step", answer_bars=4)
    events, stops, answer_steps = clock_session(RUNS, bpm=240)
    origin = time.monotonic() + 0.1
    thread = in_background(player.play, events, origin)
    turns = []
    try:
        for run in range(RUNS):
            turns.append(next_turn(handle, run, timeout=10))
        thread.join()
        time.sleep(0.1)
    finally:
        stats = handle.stop()
    received = listener.received
    sounding_at_stop, released_after = [], []
    for stop in stops:
        stop += origin
        before = sounding_notes(d for t, d in received if t <= stop and d[0] & 0xF0 in (0x80, 0x90))
        sounding_at_stop.append(bool(before))
        offs = [t for t, d in received if d[0] & 0xF0 == 0x80 or (d[0] & 0xF0 == 0x90 and d[2] == 0)]
        after = sounding_notes(d for t, d in received if t <= stop + 0.03 and d[0] & 0xF0 in (0x80, 0x90))
        released_after.append((not after, (min((t for t in offs if t > stop), default=stop + 9) - stop) * 1000))
    print(f"clock stop: note-off {max(ms for _, ms in released_after):.2f} ms after Stop at most, {RUNS} runs")
    assert all(sounding_at_stop), sounding_at_stop
    assert all(ok for ok, _ in released_after), released_after
    assert [t.answer_start_step for t in turns] == answer_steps  # Continue resumed where Stop paused
    assert all(t.call_notes == 4 for t in turns), [t.call_notes for t in turns]
    assert stats is not None


def _engine_pid(parent: int) -> int:
    """The engine process among ``parent``'s children (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    for pid in children:
        if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return int(pid)
    raise AssertionError(f"no engine process under {parent}: {children}")


def _run_and_end_engine(jack, player, listener, tmp_path, how: signal.Signals):
    """``livemelody run`` with a named output; an answer sounds; the engine gets ``how``.
    Returns (exit code, stderr, notes left sounding once `run` has exited)."""
    folders = {k: str(tmp_path / k) for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")}
    command = [sys.executable, "-m", "livemelody", "run", "--api", "jack", "--in", player.port]
    command += ["--out", listener.port, "--bpm", "240", "--answer-start", "step", "--answer-bars", "8"]
    command += ["--no-record", "--seed", "3", "--end-silence", "0.5"]
    run = subprocess.Popen(
        command, env={**jack.env(), **folders}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert "listening on" in run.stdout.readline()
        listener.clear()
        player.play_notes([(62, 2), (64, 2), (66, 2), (67, 2)], step_seconds=60 / 240 / 4)
        assert wait_for(lambda: listener.sounding(), 5), "an answer note sounds"
        os.kill(_engine_pid(run.pid), how)
        code = run.wait(15)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    time.sleep(0.02)  # the listener's own polling (0.5 ms) and one JACK period
    return code, run.stderr.read(), listener.sounding()


KILL_RUNS = int(os.environ.get("LIVEMELODY_GEAR_KILL_RUNS", "20"))


def test_a_killed_engine_under_run_leaves_nothing_sounding(jack, player, listener, tmp_path):
    left = []
    for run in range(KILL_RUNS):
        code, stderr, sounding = _run_and_end_engine(jack, player, listener, tmp_path / str(run), signal.SIGKILL)
        assert code == 1 and "ended unexpectedly (killed by SIGKILL)" in stderr, (code, stderr)
        left.append(sounding)
    print(f"SIGKILL under run: {sum(bool(s) for s in left)} of {KILL_RUNS} runs left a note sounding")
    assert not any(left), left


def test_a_terminated_engine_under_run_is_a_clean_stop(jack, player, listener, tmp_path):
    code, stderr, sounding = _run_and_end_engine(jack, player, listener, tmp_path, signal.SIGTERM)
    assert code == 0 and "unexpectedly" not in stderr, (code, stderr)
    assert sounding == set()


def test_a_synth_back_under_a_new_jack_client_name_is_found(jack, player, tmp_path):
    synth = Listener("synth")
    handle = start_engine(player, synth, tmp_path)
    squatter = None
    try:
        synth.close()
        assert wait_for(lambda: "lost" in handle.snapshot.message, 2.5), handle.snapshot.message
        squatter = Player("synth")  # takes the client name: the synth comes back as "synth-01"
        synth = Listener("synth")
        assert "synth-01:in" in jack.ports()
        assert wait_for(lambda: "'synth-01:in' is back" in handle.snapshot.message, 2.5), handle.snapshot.message
        play_call(handle, player)
        next_turn(handle, 0)
        assert wait_for(lambda: synth.notes(), 3), "the answer reaches the synth under its new name"
    finally:
        handle.stop()
        synth.close()
        if squatter is not None:
            squatter.close()
    assert handle.exitcode == 0
