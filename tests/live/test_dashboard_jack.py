"""The real dashboard (`livemelody dashboard`) in a terminal, on real JACK ports: a test client
plays calls, another is the synth. Every control is used while it plays, and each change is
read back from the screen, which shows the engine's own snapshot of its settings (so a change
on screen has reached the engine). About 30 s."""

import os
import re
import sys
import time

import pytest

from livemelody.config import SETTINGS
from testkit.jack import Listener, Player
from testkit.terminal import REPO, Terminal, program_env, require_tmux
from testkit.waiting import wait_for

STEP = 60 / 120 / 4
AMOUNT = SETTINGS["amount"]
D_MAJOR = [(pitch, 2) for pitch in (62, 64, 66, 67, 69, 71, 73, 74)]
"""The scale of D major in eighth notes: (MIDI pitch, steps)."""


def answer_notes(listener: Listener) -> list:
    return [d for _, d in listener.notes(channel=0) if d[0] & 0xF0 == 0x90 and d[2] > 0]


@pytest.fixture
def rig(jack, tmp_path):
    require_tmux()
    player, synth = Player("kbd"), Listener("synth")
    terminal = Terminal(f"livemelody-dash-{os.getpid()}", 120, 36)
    terminal.start(
        f"{sys.executable} -m livemelody.cli dashboard --api jack --in kbd:player --out synth:in "
        f"--bpm 120 --answer-bars 2 --no-record",
        program_env(tmp_path, jack.client_env()),
        str(REPO),
    )
    try:
        yield terminal, player, synth, tmp_path
    finally:
        terminal.close()
        player.close()
        synth.close()


def test_dashboard_over_jack_with_every_control_live(rig):
    terminal, player, synth, tmp_path = rig
    screen = terminal.wait_for(lambda s: re.search(r"state\s+IDLE", s), 30, "the engine, idle")
    assert "kbd:player" in screen and "synth:in" in screen and re.search(r"timing\s+(realtime|nice)", screen)

    player.play_notes(D_MAJOR, STEP)  # a call in D: the answer comes, in D, and the turn is logged
    screen = terminal.wait_for(
        lambda s: re.search(r"\b1\s+\d+ st\s+\S+\s+D( kept)?\s+\d+n \d+st", s), 10, "the first turn"
    )
    assert wait_for(lambda: answer_notes(synth), 5)

    for key, shown in (
        ("t", r"temperature\s+1\.10"),
        ("s", r"style\s+han"),
        ("p", r"top-p\s+1\.00"),
        ("a", r"answer\s+3 bars"),
        ("e", r"end silence\s+1\.25 beats"),
        ("v", rf"variation\s+{re.escape(AMOUNT.show(AMOUNT.default + AMOUNT.step))}"),
        ("b", r"tempo\s+125 BPM"),
        ("k", r"metronome\s+on"),
    ):
        terminal.keys(key)
        terminal.wait_for(lambda s, shown=shown: re.search(shown, s), 5, f"the effect of {key!r}")
    assert wait_for(lambda: synth.notes(channel=9), 3)  # the metronome clicks on channel 10

    terminal.keys("l")  # MIDI-learn: arm temperature, then move a knob
    terminal.wait_for(lambda s: re.search(r"MIDI-learn\s+move a knob", s), 5, "MIDI-learn armed")
    player.send([0xB0, 74, 64])
    terminal.wait_for(lambda s: "t74 " in s, 5, "the learned knob")
    player.send([0xB0, 74, 0])
    terminal.wait_for(lambda s: re.search(r"temperature\s+0\.00", s), 5, "the knob's temperature")

    terminal.keys("m")  # vary mode: the next answer is a variation of the call
    terminal.wait_for(lambda s: re.search(r"mode\s+vary", s), 5, "vary mode")
    synth.clear()
    player.play_notes(D_MAJOR, STEP)
    terminal.wait_for(lambda s: re.search(r"\b2\s+\d+ st\s+han/vary\s+D( kept)?\s+\d+n \d+st", s), 10, "the vary turn")
    assert wait_for(lambda: answer_notes(synth), 5)

    for _attempt in range(3):  # panic while the variation plays (again if a JACK xrun dropped it)
        terminal.keys("x")
        if wait_for(lambda: any(d[:2] == [0xB0, 123] for _, d in synth.received), 1.5):
            break
    else:
        raise AssertionError(f"no All Notes Off received:\n{terminal.screen()}")
    time.sleep(0.2)
    assert synth.sounding() == set()

    terminal.keys("q")
    screen = terminal.wait_for(lambda s: "EXIT=" in s, 15, "the exit status")
    assert "EXIT=0" in screen and "Traceback" not in screen
    assert synth.sounding() == set()
    saved = (tmp_path / "config" / "livemelody" / "settings.toml").read_text()
    assert 'style = "han"' in saved and 'mode = "vary"' in saved
