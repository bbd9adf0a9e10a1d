"""A real terminal for the real program: a private tmux server, one window, read as text.

Used by the terminal tests and by ``tools/capture_ui.py`` (the captures in docs/UI.md).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def program_env(home: Path, extra: dict | None = None) -> dict:
    """The environment for livemelody in the terminal: this checkout on PYTHONPATH, config,
    data and state folders of its own under ``home``, a colour terminal, and ``extra``."""
    return {
        "PYTHONPATH": str(REPO),
        "XDG_CONFIG_HOME": home / "config",
        "XDG_DATA_HOME": home / "data",
        "XDG_STATE_HOME": home / "state",
        "TERM": "xterm-256color",
        **(extra or {}),
    }


def require_tmux() -> None:
    """Skip without tmux, except under CI=true, where the terminal tests must run."""
    if shutil.which("tmux") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is not installed: the terminal tests must run in CI")
        pytest.skip("tmux is not installed")


class Terminal:
    """``command`` running in a ``width`` x ``height`` tmux window; ``screen()`` is its text."""

    def __init__(self, socket: str, width: int = 120, height: int = 36):
        self.socket, self.width, self.height = socket, width, height

    def _tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["tmux", "-f", "/dev/null", "-L", self.socket, *args], capture_output=True, text=True, check=check
        )

    def start(self, command: str, env: dict[str, str], cwd: str) -> Terminal:
        """Run ``command`` (a shell line) with ``env`` added; the window stays after it exits,
        showing ``EXIT=<status>``."""
        exports = " ".join(f"{key}={shlex.quote(str(value))}" for key, value in env.items())
        # COLUMNS / LINES from the caller would override the window size in the program
        line = f"cd {shlex.quote(cwd)} && env -u COLUMNS -u LINES {exports} {command}; echo EXIT=$?; sleep 60"
        self._tmux("new-session", "-d", "-s", "main", "-x", str(self.width), "-y", str(self.height), line)
        self._tmux("resize-window", "-t", "main", "-x", str(self.width), "-y", str(self.height), check=False)
        return self

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "main", check=False).stdout

    def wait_for(self, predicate, timeout: float, what: str = "") -> str:
        """The screen once ``predicate(screen)`` holds; AssertionError with the screen if not in time."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"{what or 'expected text'} not on screen within {timeout} s:\n{text}")

    def keys(self, *keys: str) -> None:
        """Type ``keys`` (tmux key names: "t", "Enter", "Escape", ...)."""
        self._tmux("send-keys", "-t", "main", *keys)

    def close(self) -> None:
        self._tmux("kill-server", check=False)
