"""A JACK dummy server per test session, and player/listener clients that talk to livemelody.

Under CI=true a missing jackd is a failure, never a skip: real MIDI must be tested.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time

import pytest
import rtmidi

from livemelody.midi.fake import sounding_notes

PERIOD_FRAMES = 64
RATE = 48000
PERIOD_SECONDS = PERIOD_FRAMES / RATE


def require_jack():
    if shutil.which("jackd") is None:
        message = "jackd is not installed (apt-get install jackd2)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + ": real-MIDI tests must run in CI")
        pytest.skip(message)


def _die_with_parent() -> None:
    """In the child before exec: end jackd if the test process dies (a killed run leaves no server)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class JackServer:
    """``jackd -n NAME -d dummy``; clients find it through JACK_DEFAULT_SERVER.

    ``realtime`` runs it the way JACK runs by default (SCHED_FIFO, priority 70; its clients'
    process threads get realtime priority too), which needs permission (see
    ``livemelody.live.priority.realtime_permitted``); otherwise ``--no-realtime``, which any
    user may, and which drops whole cycles (xruns) when the machine is busy.
    """

    def __init__(self, name: str, log_path: str, period: int = PERIOD_FRAMES, realtime: bool = False):
        self.name = name
        self.period = period
        self.log_path = log_path
        self.realtime = realtime
        """With realtime scheduling (JACK's own default; needs permission), as on a stage machine."""
        self.process: subprocess.Popen | None = None

    def start(self) -> JackServer:
        # jackd logs every xrun: to a file, never a pipe nobody drains (a full pipe hangs jackd)
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [
                "jackd",
                "-n",
                self.name,
                *(["--realtime", "-P", "70"] if self.realtime else ["--no-realtime"]),
                "-d",
                "dummy",
                "-r",
                str(RATE),
                "-p",
                str(self.period),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if subprocess.run(["jack_lsp"], capture_output=True, env=self.env()).returncode == 0:
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"jackd exited: {open(self.log_path, errors='replace').read()[-500:]}")
            time.sleep(0.1)
        raise RuntimeError("jackd did not come up in 10 s")

    @contextlib.contextmanager
    def as_default(self):
        """This server (and the JACK API) for everything in this process, restored afterwards."""
        saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER", "LIVEMELODY_MIDI_API")}
        os.environ.update(
            {"JACK_DEFAULT_SERVER": self.name, "JACK_NO_START_SERVER": "1", "LIVEMELODY_MIDI_API": "jack"}
        )
        try:
            yield self
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def client_env(self) -> dict:
        """What a client process needs to find this server (and livemelody to use JACK)."""
        return {"JACK_DEFAULT_SERVER": self.name, "JACK_NO_START_SERVER": "1", "LIVEMELODY_MIDI_API": "jack"}

    def env(self) -> dict:
        return {**os.environ, **self.client_env()}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def connect(self, source: str, destination: str) -> None:
        subprocess.run(["jack_connect", source, destination], check=True, env=self.env(), capture_output=True)

    def ports(self) -> list[str]:
        return subprocess.run(["jack_lsp"], capture_output=True, text=True, env=self.env()).stdout.split("\n")


class Player:
    """A test client with an output port ("tester:player") that plays stamped messages."""

    def __init__(self, client: str = "tester"):
        self.rt = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=client)
        self.rt.open_virtual_port("player")
        self.port = f"{client}:player"

    def send(self, data: list[int]) -> float:
        stamp = time.monotonic()
        self.rt.send_message(data)
        return stamp

    def play(self, events: list[tuple[float, list[int]]], origin: float) -> list[float]:
        """Send each (seconds after origin, bytes) at its time (sleep, then spin); returns when
        each was really sent (monotonic seconds): on a busy machine a send can be late."""
        sent = []
        for at, data in events:
            due = origin + at
            while time.monotonic() < due - 0.0005:
                time.sleep(min(0.001, max(0.0, due - 0.0005 - time.monotonic())))
            while time.monotonic() < due:
                pass
            self.rt.send_message(data)
            sent.append(time.monotonic())
        return sent

    def play_notes(self, notes: list[tuple[int, int]], step_seconds: float, velocity: int = 100) -> None:
        """Play ``notes`` ((MIDI pitch, length in steps), one after another) from now, each
        released 20 ms before the next; the engine quantises them to its own grid."""
        origin, at, events = time.monotonic() + 0.05, 0, []
        for pitch, length in notes:
            events += [
                (at * step_seconds, [0x90, pitch, velocity]),
                ((at + length) * step_seconds - 0.02, [0x80, pitch, 0]),
            ]
            at += length
        self.play(events, origin)

    def close(self) -> None:
        self.rt.close_port()
        self.rt.delete()


class Listener:
    """A test client with an input port ("listener:in") that records what it receives.

    It polls instead of using an RtMidi callback: a Python callback runs on JACK's process
    thread and waits for the GIL, which overruns JACK cycles and loses events for every
    client. Times: RtMidi's inter-message deltas (from JACK's clock) summed, anchored by the
    smallest (poll time - summed time) seen, i.e. the poll that came soonest after a message.
    """

    def __init__(self, client: str = "listener"):
        self._raw: list[tuple[float, float, list[int]]] = []  # (poll time, summed deltas, bytes)
        self._sum = 0.0
        self._visible_from = 0
        self.rt = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=client)
        self.rt.ignore_types(sysex=True, timing=False, active_sense=True)
        self.rt.open_virtual_port("in")
        self.port = f"{client}:in"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.0005):
            while True:
                message = self.rt.get_message()
                if message is None:
                    break
                data, delta = message
                self._sum += delta if self._raw else 0.0
                self._raw.append((time.monotonic(), self._sum, data))

    @property
    def received(self) -> list[tuple[float, list[int]]]:
        raw = list(self._raw)
        if not raw:
            return []
        offset = min(poll - summed for poll, summed, _ in raw)
        return [(summed + offset, data) for _, summed, data in raw[self._visible_from :]]

    def clear(self) -> None:
        """Forget what was received so far (its timing still anchors later messages)."""
        self._visible_from = len(self._raw)

    def notes(self, channel: int | None = None) -> list[tuple[float, list[int]]]:
        return [
            (t, d)
            for t, d in self.received
            if d[0] & 0xF0 in (0x80, 0x90) and (channel is None or d[0] & 0x0F == channel)
        ]

    def sounding(self) -> set[tuple[int, int]]:
        return sounding_notes(data for _, data in self.received)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        self.rt.close_port()
        self.rt.delete()
