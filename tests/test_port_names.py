"""Ports found again after a re-plug or a reboot: names without their changing numbers."""

import pytest

from livemelody.live import watch
from livemelody.live.headless import choose_ports, remember_ports
from livemelody.midi.names import find_port, stable_name
from livemelody.midi.ports import resolve


@pytest.mark.parametrize(
    "name, stable",
    [
        ("Keyboard:Keyboard MIDI 1 20:0", "Keyboard:Keyboard MIDI 1"),
        ("Keyboard:Keyboard MIDI 1 24:0", "Keyboard:Keyboard MIDI 1"),
        ("synth-01:in", "synth:in"),
        ("synth:in", "synth:in"),
        ("a2j:Keyboard [20] (capture): Keyboard MIDI 1", "a2j:Keyboard (capture): Keyboard MIDI 1"),
        ("FLUID Synth (123):Synth input port (123:0) 128:0", "FLUID Synth (123):Synth input port (123:0)"),
        ("USB-MIDI:USB-MIDI MIDI 1 32:0", "USB-MIDI:USB-MIDI MIDI 1"),
    ],
)
def test_stable_names(name, stable):
    assert stable_name(name) == stable


def test_a_port_is_found_again_under_new_numbers_unless_ambiguous():
    now = ["Midi Through:Midi Through Port-0 14:0", "Keyboard:Keyboard MIDI 1 24:0"]
    assert find_port("Keyboard:Keyboard MIDI 1 20:0", now) == "Keyboard:Keyboard MIDI 1 24:0"
    assert find_port("Keyboard:Keyboard MIDI 1 24:0", now) == "Keyboard:Keyboard MIDI 1 24:0"
    assert find_port("Pads:Pads MIDI 1 20:0", now) is None
    twins = ["Keyboard:Keyboard MIDI 1 24:0", "Keyboard:Keyboard MIDI 1 28:0"]
    assert find_port("Keyboard:Keyboard MIDI 1 20:0", twins) is None  # two alike: numbers are all that differ
    assert resolve("Keyboard:Keyboard MIDI 1 20:0", now, "input") == 1


def test_remembered_ports_are_found_at_start_up_or_the_fallback_is_said(monkeypatch, capsys):
    from livemelody.live import headless

    remember_ports("alsa", "Keyboard:Keyboard MIDI 1 20:0", "synth:in")
    monkeypatch.setattr(headless, "list_ports", lambda api: (["Keyboard:Keyboard MIDI 1 24:0"], ["synth-01:in"]))
    assert choose_ports("alsa", None, None, False) == ("Keyboard:Keyboard MIDI 1 24:0", "synth-01:in")
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(headless, "list_ports", lambda api: ([], []))
    assert choose_ports("alsa", None, None, False) == (None, None)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "remembered input port" in err[0] and "virtual" in err[0]


class FakePort:
    def __init__(self, name, listing, opened=None):
        self.name, self.listing, self.queue, self.closed = name, listing, None, False
        self.opened = [] if opened is None else opened

    def reopen(self, name):  # as RtMidi's ports do: a new port; the watcher closes the old one
        self.opened.append(name)
        return FakePort(name, self.listing, self.opened)

    def list_names(self):
        return list(self.listing)

    def send(self, data):
        pass

    def close(self):
        self.closed = True


class FakeLoop:
    def __init__(self):
        self.submitted = []

    def submit(self, command):
        self.submitted.append((type(command).__name__, command.message))


def test_the_watcher_finds_a_lost_port_back_under_its_new_number():
    listing = ["Synth:Synth MIDI 1 20:0"]
    opened = []
    out = FakePort("Synth:Synth MIDI 1 20:0", listing, opened)
    source = FakePort("Keys:Keys MIDI 1 21:0", ["Keys:Keys MIDI 1 21:0"])
    loop = FakeLoop()
    watcher = watch.PortWatcher("alsa", source, out, loop)
    listing.clear()
    watcher.poll()
    assert loop.submitted[-1] == ("SwapOutput", "output port 'Synth:Synth MIDI 1 20:0' lost; waiting for it")
    listing.append("Synth:Synth MIDI 1 24:0")  # plugged in again: a new ALSA client number
    watcher.poll()
    assert opened == ["Synth:Synth MIDI 1 24:0"] and out.closed
    assert loop.submitted[-1] == ("SwapOutput", "output port 'Synth:Synth MIDI 1 24:0' is back")
    watcher.poll()
    assert len(loop.submitted) == 2  # found, not lost again
