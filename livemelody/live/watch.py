"""Noticing ports that vanish and return: ``send()`` does not fail when a device goes, so
the port list is polled about once a second, and a lost port is reopened by name (the same
name with other ALSA numbers or JACK suffix counts: :mod:`livemelody.midi.names`).

Listing goes through the engine's own port clients: with JACK every extra client is another
thread woken every period, which an idle engine should not pay for."""

from __future__ import annotations

import threading

from livemelody.live.protocol import InputLost, Notice, SwapOutput
from livemelody.midi.names import find_port
from livemelody.midi.ports import PortError

POLL_SECONDS = 1.0


class PortWatcher:
    """Polls the port list on its own thread; tells the loop through its command queue."""

    def __init__(self, api: str, midi_in, midi_out, loop):
        self.api, self.midi_in, self.midi_out, self.loop = api, midi_in, midi_out, loop
        self.in_name = None if midi_in.name.endswith("(virtual)") else midi_in.name
        self.out_name = None if midi_out.name.endswith("(virtual)") else midi_out.name
        self.lost = {"input": False, "output": False}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="port-watcher", daemon=True)

    def start(self) -> PortWatcher:
        if self.in_name or self.out_name:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2 * POLL_SECONDS)

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self.poll()

    def poll(self) -> None:
        """Look at the port lists once (the thread does this every POLL_SECONDS)."""
        if self.out_name:
            self._check("output", find_port(self.out_name, _names(self.midi_out)))
        if self.in_name:
            self._check("input", find_port(self.in_name, _names(self.midi_in)))

    def _check(self, direction: str, current: str | None) -> None:
        """``current``: the watched port's name now (its numbers may have changed), or None."""
        present = current is not None
        if not present and not self.lost[direction]:
            self.lost[direction] = True
            if direction == "output":
                self.loop.submit(SwapOutput(_discard, f"output port {self.out_name!r} lost; waiting for it"))
            else:
                self.loop.submit(InputLost(f"input port {self.in_name!r} lost; waiting for it"))
        elif present and self.lost[direction]:
            try:
                if direction == "output":
                    old, self.midi_out = self.midi_out, self.midi_out.reopen(current)
                    self.loop.submit(SwapOutput(self.midi_out.send, f"output port {current!r} is back"))
                    new = self.midi_out
                else:
                    old, self.midi_in = self.midi_in, self.midi_in.reopen(current)
                    self.loop.submit(Notice(f"input port {current!r} is back"))
                    new = self.midi_in
                self.lost[direction] = False
                if new is not old:  # RtMidi opens a new client; one JACK client reconnects its port
                    _close_quietly(old)
            except PortError:
                pass  # listed but not openable yet: try again next poll


def _names(port) -> list[str]:
    try:
        return port.list_names()
    except PortError:  # e.g. the server went away: nothing is present
        return []


def _discard(data: list[int]) -> None:
    pass


def _close_quietly(port) -> None:
    try:
        port.close()
    except Exception:
        pass
