"""The real engine process over a real JACK server: a test client plays, another listens."""

import os
import signal
import time

import numpy as np
import pytest

from livemelody.config import EngineConfig
from livemelody.live.process import EngineHandle, EngineOptions
from livemelody.live.transport import WINDOW
from testkit.jack import PERIOD_SECONDS, Listener
from testkit.waiting import wait_for

BPM = 120.0
STEP = 60 / BPM / 4
D_MAJOR = [(62, 0, 2), (64, 2, 2), (66, 4, 2), (67, 6, 2), (69, 8, 2), (71, 10, 2), (73, 12, 2), (74, 14, 2)]


def start_engine(player, listener, tmp_path, **changes) -> EngineHandle:
    config = EngineConfig(
        **{"style": "deutsch", "bpm": BPM, "answer_start": "beat", "end_silence_beats": 1.0, **changes}
    )
    options = EngineOptions(
        config=config,
        api="jack",
        input=player.port,
        output=listener.port,
        record=tmp_path / "session.mid",
        seed=5,
        styles=("deutsch", "han"),
    )
    handle = EngineHandle(options).start()
    assert wait_for(lambda: handle.snapshot is not None, 5)
    return handle


def call_events(notes, first_step, velocity=100):
    events = []
    for pitch, start, length in notes:
        events.append(((first_step + start) * STEP, [0x90, pitch, velocity]))
        events.append(((first_step + start + length) * STEP - 0.02, [0x80, pitch, 0]))
    return sorted(events, key=lambda e: e[0])


def play_call(handle, player, notes=D_MAJOR, velocity=100):
    """Play ``notes`` from the next bar line of the engine's grid; returns the first step."""
    snap = handle.snapshot
    first = (snap.step // 16 + 1) * 16
    player.play(call_events(notes, first, velocity), snap.grid_origin)
    return first


def next_turn(handle, seen, timeout=5.0):
    assert wait_for(lambda: handle.snapshot.turns > seen and handle.snapshot.last_turn is not None, timeout), (
        handle.snapshot
    )
    return handle.snapshot.last_turn


def test_answer_starts_on_the_grid_in_key_and_stops_cleanly(jack, player, listener, tmp_path):
    handle = start_engine(player, listener, tmp_path)
    try:
        first = play_call(handle, player)
        turn = next_turn(handle, 0)
        assert turn.key == "D" and turn.call_steps == 16
        assert turn.answer_start_step == first + 20  # 16 steps of call, 4 of silence: next beat
        assert wait_for(lambda: listener.notes(), 3)
        first_on = next(t for t, d in listener.notes() if d[0] & 0xF0 == 0x90 and d[2] > 0)
        lateness = first_on - turn.answer_start_time
        assert -0.0005 <= lateness <= PERIOD_SECONDS + 0.002, (
            f"first answer note {lateness * 1000:.2f} ms from its grid time"
        )
        assert wait_for(lambda: handle.snapshot.state == "idle", 5)
    finally:
        stats = handle.stop()
    time.sleep(0.1)
    assert listener.sounding() == set()
    ons = [d for _, d in listener.notes() if d[0] & 0xF0 == 0x90 and d[2] > 0]
    offs = [d for _, d in listener.notes() if d[0] & 0xF0 == 0x80 or (d[0] & 0xF0 == 0x90 and d[2] == 0)]
    assert len(ons) >= 1 and len(offs) >= len(ons)
    assert stats and stats["sent"] >= len(ons)  # timing figures are for the benchmark, not a test
    assert (tmp_path / "session.mid").stat().st_size > 50


def test_temperature_cc_takes_effect(jack, player, listener, tmp_path):
    handle = start_engine(player, listener, tmp_path, temperature=1.5)
    try:
        player.send([0xB0, 20, 0])  # temperature knob to 0: greedy
        assert wait_for(lambda: handle.snapshot.config.temperature == 0.0, 2)
        answers, turns = [], 0
        while len(answers) < 2 and turns < 5:
            listener.clear()
            play_call(handle, player)
            turn = next_turn(handle, turns)
            turns += 1
            assert wait_for(lambda: handle.snapshot.state == "idle", 5)
            if turn.call_notes == len(D_MAJOR):  # a call JACK dropped a note of (an xrun) proves nothing
                answers.append([d[1] for _, d in listener.notes() if d[0] & 0xF0 == 0x90 and d[2] > 0])
        assert len(answers) == 2 and answers[0] == answers[1] and answers[0]  # greedy: same call, same answer
    finally:
        handle.stop()


def test_panic_cc_and_sigkill_leave_nothing_sounding(jack, player, listener, tmp_path):
    handle = start_engine(player, listener, tmp_path, answer_bars=4)
    try:
        play_call(handle, player)
        next_turn(handle, 0)
        assert wait_for(lambda: listener.sounding(), 2)
        player.send([0xB0, 26, 127])  # panic
        assert wait_for(lambda: not listener.sounding(), 1)
        assert any(d[:2] == [0xB0, 120] for _, d in listener.received)
        listener.clear()
        play_call(handle, player)
        next_turn(handle, 1)
        assert wait_for(lambda: listener.sounding(), 2)
        os.kill(handle.pid, signal.SIGKILL)  # the supervisor must silence what the dead engine left on
        assert wait_for(lambda: not listener.sounding(), 3), listener.sounding()
        assert "unexpectedly" in (handle.died or "")
    finally:
        handle.stop()


def test_double_ctrl_c_during_an_answer_leaves_nothing_sounding(jack, player, listener, tmp_path):
    handle = start_engine(player, listener, tmp_path, answer_bars=4)
    play_call(handle, player)
    next_turn(handle, 0)
    assert wait_for(lambda: listener.sounding(), 2)
    os.kill(handle.pid, signal.SIGINT)
    os.kill(handle.pid, signal.SIGINT)
    handle.stop()
    assert wait_for(lambda: listener.sounding() == set(), 1), (listener.received[-8:], handle.died, handle.final_stats)


@pytest.mark.parametrize("kind", ["client", "rtmidi"])
def test_output_port_lost_and_regained(jack, player, tmp_path, monkeypatch, kind):
    from livemelody.midi.ports import JACK_PORTS_ENV

    monkeypatch.setenv(JACK_PORTS_ENV, kind)  # both ways of holding the JACK ports (the engine inherits it)
    listener = Listener("synth")
    handle = start_engine(player, listener, tmp_path)
    try:
        listener.close()
        assert wait_for(lambda: "lost" in handle.snapshot.message, 2.5), handle.snapshot.message
        listener = Listener("synth")
        assert wait_for(lambda: "back" in handle.snapshot.message, 2.5), handle.snapshot.message
        play_call(handle, player)
        next_turn(handle, 0)
        assert wait_for(lambda: listener.notes(), 3), "the answer reaches the returned port"
    finally:
        stats = handle.stop()
        listener.close()
    assert handle.exitcode == 0 and handle.died is None  # once: SIGSEGV closing the replaced port twice
    assert stats is not None and stats["sent"] > 0  # the final figures arrive


def test_external_clock_is_followed(jack, player, listener, tmp_path):
    handle = start_engine(player, listener, tmp_path, clock_source="external")
    try:
        tick = 60 / 90 / 24
        origin = time.monotonic() + 0.05
        sent = player.play([(0, [0xFA])] + [(i * tick, [0xF8]) for i in range(96)], origin)[1:]
        # The tempo the ticks really had: on a busy machine the player sends some late, and the
        # engine must follow what it was sent (its fit: the last WINDOW ticks).
        slope, _ = np.polyfit(np.arange(WINDOW), np.array(sent[-WINDOW:]), 1)
        sent_bpm = 60 / (slope * 24)
        assert abs(sent_bpm - 90) < 5, f"the player was too late to test anything ({sent_bpm:.1f} BPM)"
        assert wait_for(lambda: handle.snapshot.external_clock and abs(handle.snapshot.bpm - sent_bpm) < 0.5, 2), (
            handle.snapshot.bpm,
            sent_bpm,
        )
        expected_origin = sent[-1] - 95 * 60 / handle.snapshot.bpm / 24  # the line through the ticks sent
        assert handle.snapshot.grid_origin == pytest.approx(expected_origin, abs=0.005)
    finally:
        handle.stop()


def test_vary_mode_switched_by_cc_answers_with_a_variation(jack, player, listener, tmp_path):
    handle = start_engine(player, listener, tmp_path)
    try:
        player.send([0xB0, 22, 127])  # mode knob: vary (the shipped VAE)
        assert wait_for(lambda: handle.snapshot.config.mode == "vary", 2), handle.snapshot.message
        play_call(handle, player)
        turn = next_turn(handle, 0)
        assert turn.mode == "vary" and turn.key == "D"
        assert wait_for(lambda: handle.snapshot.state == "idle", 6)
        assert wait_for(lambda: not listener.sounding(), 1)  # the last note-off is due at the answer's end
        ons = [d[1] for _, d in listener.notes() if d[0] & 0xF0 == 0x90 and d[2] > 0]
        assert len(ons) >= 4
    finally:
        handle.stop()


def test_a_session_recorded_following_a_clock_lands_on_the_masters_beats(jack, player, listener, tmp_path):
    import mido

    from livemelody.live.recorder import TICKS_PER_BEAT

    config = EngineConfig(style="deutsch", bpm=100.0, clock_source="external", end_silence_beats=4.0)
    path = tmp_path / "session.mid"
    options = EngineOptions(config=config, api="jack", input=player.port, output=listener.port, record=path, seed=5)
    handle = EngineHandle(options).start()
    try:
        assert wait_for(lambda: handle.snapshot is not None, 5)
        beat = 60 / 140  # the master plays 140 BPM; the engine was started at 100
        events = [(0, [0xFA])] + [(i * beat / 24, [0xF8]) for i in range(24 * 10)]
        for n, pitch in zip((4, 5, 6, 7), (60, 62, 64, 65)):
            events += [(n * beat + 0.002, [0x90, pitch, 100]), ((n + 0.5) * beat, [0x80, pitch, 0])]
        events.append((8 * beat, [0x90, 67, 100]))  # still held when the session stops
        player.play(sorted(events, key=lambda e: e[0]), time.monotonic() + 0.1)
    finally:
        handle.stop()
    midi = mido.MidiFile(path)
    tick, sounding, onsets, tempo = 0, set(), [], None
    for message in midi.tracks[0]:
        if message.type == "set_tempo" and tempo is None:
            tempo = mido.tempo2bpm(message.tempo)
    for message in midi.tracks[1]:
        tick += message.time
        if message.type == "note_on" and message.velocity > 0:
            onsets.append(tick / TICKS_PER_BEAT)
            sounding.add(message.note)
        elif message.type in ("note_on", "note_off"):
            sounding.discard(message.note)
    # margins for a busy machine: the test client's clock ticks and notes are sent by a sleeping thread
    assert tempo == pytest.approx(140, abs=2), tempo
    assert onsets == pytest.approx([4, 5, 6, 7, 8], abs=0.1), onsets  # the master's beats, not the engine's start
    assert not sounding  # the held note got its note-off at stop


def test_a_killed_session_keeps_all_but_its_last_two_seconds(jack, player, listener, tmp_path):
    import mido

    handle = start_engine(player, listener, tmp_path, stop_on_player=False)
    path = tmp_path / "session.mid"
    try:
        sent = []  # (monotonic time, pitch) of each note played
        for i in range(40):  # 6 s of eighth notes (120 BPM), one long call
            pitch = 48 + i % 24
            sent.append((player.send([0x90, pitch, 90]), pitch))
            time.sleep(0.1)
            player.send([0x80, pitch, 0])
            time.sleep(0.05)
        killed = time.monotonic()
        os.kill(handle.pid, signal.SIGKILL)
        assert wait_for(lambda: not handle.alive(), 3)
    finally:
        handle.stop()
    recorded = [m.note for m in mido.MidiFile(path).tracks[1] if m.type == "note_on" and m.velocity > 0]
    older = [pitch for stamp, pitch in sent if stamp < killed - 2.0]
    assert recorded[: len(older)] == older  # everything played up to 2 s before the kill is on disk
    print(
        f"kill: {len(sent) - len(recorded)} of {len(sent)} notes lost, the last {killed - sent[len(recorded) - 1][0]:.2f} s"
    )


def jack_connections(jack) -> dict[str, list[str]]:
    """Every JACK port and the ports it is connected to (``jack_lsp -c``)."""
    import subprocess

    lines = subprocess.run(["jack_lsp", "-c"], capture_output=True, text=True, env=jack.env()).stdout.splitlines()
    ports: dict[str, list[str]] = {}
    current = ""
    for line in lines:
        if line.startswith((" ", "\t")):
            ports[current].append(line.strip())
        elif line:
            current = line
            ports[current] = []
    return ports


def test_one_jack_client_holds_both_ports_and_connects_them(jack, player, listener, tmp_path, monkeypatch):
    from livemelody.midi.ports import JACK_PORTS_ENV

    monkeypatch.setenv(JACK_PORTS_ENV, "client")  # the engine process inherits it
    handle = start_engine(player, listener, tmp_path)
    try:
        ports = jack_connections(jack)
        own = {name: links for name, links in ports.items() if name.split(":", 1)[1].startswith("livemelody ")}
        assert own == {"livemelody:livemelody in": [player.port], "livemelody:livemelody out": [listener.port]}, ports
        play_call(handle, player)
        next_turn(handle, 0)
        assert wait_for(lambda: listener.notes(), 3), "the answer arrives through the one client"
    finally:
        stats = handle.stop()
    assert handle.exitcode == 0 and stats is not None and stats["sent"] > 0
    assert not any(":livemelody " in name for name in jack_connections(jack)), "the client is gone after stop"
