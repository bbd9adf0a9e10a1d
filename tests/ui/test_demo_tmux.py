"""The real `livemelody demo` in a terminal (tmux): the call is answered on screen, q quits
cleanly and the session is saved. About 10-15 s: the real engine loads both shipped styles."""

import os
import re
import sys

import pytest

from tests.ui.terminal import REPO, Terminal, program_env, require_tmux


@pytest.fixture
def terminal():
    require_tmux()
    terminal = Terminal(f"livemelody-test-{os.getpid()}")
    yield terminal
    terminal.close()


def test_demo_shows_an_answer_and_quits_cleanly(terminal, tmp_path):
    session = tmp_path / "demo.mid"
    terminal.start(
        f"{sys.executable} -m livemelody.cli demo --bpm 240 --no-audio --record {session}",
        program_env(tmp_path),
        str(REPO),
    )
    # the turn log's first row: the answer as long as the call, the style, the call's key C, the call (14 notes)
    screen = terminal.wait_for(
        lambda text: re.search(r"1\s+64 st\s+deutsch/cont\s+C\s+14n 64st", text), 40, "the first turn"
    )
    assert "livemelody demo" in screen and "demo call (loopback)" in screen and "deutsch" in screen
    terminal.keys("q")
    screen = terminal.wait_for(lambda text: "EXIT=" in text, 15, "the exit status")
    assert "EXIT=0" in screen and "session saved" in screen and "Traceback" not in screen
    assert session.exists() and session.stat().st_size > 100
