"""The real `livemelody demo` in a terminal (tmux): the call is answered on screen, q quits
cleanly and the session is saved. About 10-15 s: the real engine loads both shipped styles."""

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO


def _tmux(socket, *args, check=True):
    return subprocess.run(["tmux", "-f", "/dev/null", "-L", socket, *args], capture_output=True, text=True, check=check)


def _screen(socket) -> str:
    return _tmux(socket, "capture-pane", "-p", "-t", "demo", check=False).stdout


def _wait_for(socket, predicate, timeout) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = _screen(socket)
        if predicate(text):
            return text
        time.sleep(0.3)
    raise AssertionError(f"not on screen within {timeout} s:\n{text}")


@pytest.fixture
def tmux_socket():
    if shutil.which("tmux") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is not installed: the terminal test must run in CI")
        pytest.skip("tmux is not installed")
    socket = f"livemelody-test-{os.getpid()}"
    yield socket
    _tmux(socket, "kill-server", check=False)


def test_demo_shows_an_answer_and_quits_cleanly(tmux_socket, tmp_path):
    session = tmp_path / "demo.mid"
    env = {"PYTHONPATH": str(REPO), "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_STATE_HOME": str(tmp_path / "state"), "TERM": "xterm-256color"}
    exports = " ".join(f"{k}={v!s}" for k, v in env.items())
    command = (f"cd {REPO} && env {exports} {sys.executable} -m livemelody.cli demo --bpm 240 --no-audio "
               f"--record {session}; echo EXIT=$?; sleep 30")
    _tmux(tmux_socket, "new-session", "-d", "-s", "demo", "-x", "120", "-y", "36", command)
    _tmux(tmux_socket, "resize-window", "-t", "demo", "-x", "120", "-y", "36", check=False)
    # the turn log's first row: the call (14 notes of the tune) and the answer in the call's key, C
    screen = _wait_for(tmux_socket, lambda text: re.search(r"1\s+14 notes/64 st\s+C\s+64 from", text), timeout=40)
    assert "livemelody demo" in screen and "demo call (loopback)" in screen and "deutsch" in screen
    _tmux(tmux_socket, "send-keys", "-t", "demo", "q")
    screen = _wait_for(tmux_socket, lambda text: "EXIT=" in text, timeout=15)
    assert "EXIT=0" in screen and "session saved" in screen and "Traceback" not in screen
    assert session.exists() and session.stat().st_size > 100
