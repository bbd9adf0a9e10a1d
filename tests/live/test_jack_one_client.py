"""The engine's JACK ports in one JACK client whose process callback is C (livemelody.midi.jackports,
_jackmidi.c), chosen by LIVEMELODY_JACK_PORTS=client. Real JACK; under CI=true a test that cannot run fails."""

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from livemelody.midi import native
from livemelody.midi.jackports import JackInput, JackOutput
from livemelody.midi.ports import JACK_PORTS_ENV, PortError, RtInput, RtOutput, StampQueue, open_ports
from testkit.jack import PERIOD_SECONDS, JackServer, Listener, Player
from testkit.waiting import wait_for
from tests.live.test_jack_engine import jack_connections, next_turn, play_call, start_engine


@pytest.fixture
def native_ports(jack, monkeypatch):
    """The one-client JACK ports (the engine process inherits the choice), with the native
    library built (or a failure under CI=true: the one-client path must be tested there)."""
    monkeypatch.setenv(JACK_PORTS_ENV, "client")
    try:
        native.load()
    except native.NativeUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the one-client JACK library cannot be built in CI: {exc}")
        pytest.skip(f"the one-client JACK library cannot be built here: {exc}")


def jack_clients(jack) -> set[str]:
    return {name.split(":", 1)[0] for name in jack_connections(jack)}


def test_the_engines_ports_are_one_jack_client(jack, player, listener, tmp_path, native_ports):
    handle = start_engine(player, listener, tmp_path)
    try:
        ports = jack_connections(jack)
        own = {name: links for name, links in ports.items() if name.startswith("livemelody")}
        assert own == {"livemelody:livemelody in": [player.port], "livemelody:livemelody out": [listener.port]}, ports
        assert "livemelody-01" not in jack_clients(jack)
        play_call(handle, player)
        turn = next_turn(handle, 0)
        assert turn.call_notes == 8 and turn.key == "D"  # every note of the call came in
        assert wait_for(lambda: listener.notes(), 3), "the answer arrives through the one client"
    finally:
        stats = handle.stop()
    assert handle.exitcode == 0 and handle.died is None and stats is not None and stats["sent"] > 0
    assert not any(name.startswith("livemelody") for name in jack_connections(jack)), "the client is gone after stop"


def test_notes_in_and_out_carry_their_times(jack, player, listener, native_ports):
    queue = StampQueue()
    inp, out = open_ports("jack", player.port, listener.port, queue)
    assert isinstance(inp, JackInput) and isinstance(out, JackOutput)
    try:
        time.sleep(0.1)
        sent_in, sent_out = [], []
        for i in range(16):
            before = time.monotonic()
            player.rt.send_message([0x90, 60 + i, 100])
            sent_in.append((before, time.monotonic()))
            time.sleep(0.02)
            before = time.monotonic()
            out.send([0x90, 72 + i, 90])
            sent_out.append((before, time.monotonic()))
            time.sleep(0.02)
        assert wait_for(lambda: len(listener.notes()) == 16, 2), listener.notes()
        received = queue.drain()
    finally:
        out.close()
        inp.close()
    assert [data for _, data in received] == [[0x90, 60 + i, 100] for i in range(16)]
    assert [data for _, data in listener.notes()] == [[0x90, 72 + i, 90] for i in range(16)]

    def within_a_period(stamps, sent):
        # each stamp lies between the send and the end of the JACK period that delivered it
        late = [(stamp - before, stamp - after) for stamp, (before, after) in zip(stamps, sent, strict=True)]
        return all(-0.0005 <= x and y <= PERIOD_SECONDS + 0.003 for x, y in late), [
            (round(x * 1000, 2), round(y * 1000, 2)) for x, y in late
        ]

    ok, late = within_a_period([stamp for stamp, _ in received], sent_in)
    assert ok, ("input", late)
    ok, late = within_a_period([stamp for stamp, _ in listener.notes()], sent_out)
    assert ok, ("output", late)


def test_close_twice_and_send_after_close_are_harmless(jack, player, listener, native_ports):
    inp, out = open_ports("jack", player.port, listener.port, StampQueue())
    out.close()
    out.close()
    with pytest.raises(PortError, match="closed"):
        out.send([0x90, 60, 100])
    with pytest.raises(PortError, match="closed"):
        out.list_names()
    assert player.port in inp.list_names()  # the client stays open for the other port
    inp.close()
    inp.close()
    assert inp.owner.closed
    with pytest.raises(PortError, match="closed"):
        inp.list_names()
    assert not any(name.startswith("livemelody") for name in jack_connections(jack))


def test_the_server_gone_mid_run_is_handled(jack, native_ports, tmp_path):
    server = JackServer(f"livemelody-gone-{os.getpid()}", str(tmp_path / "jackd.log")).start()
    try:
        with server.as_default():
            player, listener = Player("gone-player"), Listener("gone-listener")
            queue = StampQueue()
            inp, out = open_ports("jack", player.port, listener.port, queue)
            out.send([0x90, 60, 100])
            assert wait_for(lambda: listener.notes(), 2)
            player.close()
            listener.close()
            server.stop()
            assert wait_for(lambda: inp.owner.server_gone, 5), "JACK's shutdown reached the client"
            out.send([0x80, 60, 0])  # nobody takes it: dropped, no error, no crash
            with pytest.raises(PortError, match="gone away"):
                inp.list_names()  # the port watcher then sees nothing present
            out.close()
            inp.close()
            inp.close()
            assert inp.owner.closed
    finally:
        server.stop()


def test_the_engine_outlives_its_jack_server_and_stops_cleanly(jack, native_ports, tmp_path):
    server = JackServer(f"livemelody-gone-{os.getpid()}", str(tmp_path / "jackd.log")).start()
    try:
        with server.as_default():
            player, listener = Player("gone-player"), Listener("gone-listener")
            handle = start_engine(player, listener, tmp_path)
            try:
                play_call(handle, player)
                next_turn(handle, 0)
                player.close()
                listener.close()
                server.stop()
                assert wait_for(lambda: "lost" in handle.snapshot.message, 5), handle.snapshot.message
                assert handle.alive()
            finally:
                stats = handle.stop()
    finally:
        server.stop()
    assert handle.exitcode == 0 and handle.died is None and stats is not None


def test_without_a_compiler_the_ports_fall_back_to_rtmidi_in_one_log_line(jack, player, monkeypatch, caplog):
    monkeypatch.setenv(JACK_PORTS_ENV, "client")
    monkeypatch.setattr(native, "_lib", None)
    monkeypatch.setattr(native, "compiler", lambda: None)
    with caplog.at_level(logging.WARNING, logger="livemelody.jack"):
        inp, out = open_ports("jack", player.port, None, StampQueue())
    try:
        assert isinstance(inp, RtInput) and isinstance(out, RtOutput)
    finally:
        inp.close()
        out.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "livemelody.jack"]
    assert len(lines) == 1 and "no C compiler" in lines[0] and "RtMidi" in lines[0], lines


def test_without_libjack_the_ports_fall_back_to_rtmidi(jack, player, native_ports, tmp_path):
    script = (
        "import logging, sys\n"
        "from livemelody.midi import native\n"
        "from livemelody.midi.ports import StampQueue, open_ports\n"
        "logging.basicConfig(stream=sys.stdout, format='%(message)s')\n"
        "native.libjack_name = lambda: 'libjack-not-here.so.0'\n"
        f"inp, out = open_ports('jack', {player.port!r}, None, StampQueue())\n"
        "print(type(inp).__name__, type(out).__name__)\n"
        "inp.close(); out.close()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=jack.env(), timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "RtInput RtOutput" and "libjack-not-here" in lines[0] and len(lines) == 2, done.stdout


def test_the_library_is_built_on_first_use_into_the_cache_and_reused(tmp_path, native_ports):
    script = "from livemelody.midi import native\nnative.load()\nprint(native.library_path(native.compiler()))\n"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}

    def load_in_a_new_process():
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return Path(done.stdout.strip())

    target = load_in_a_new_process()
    assert target.is_relative_to(tmp_path) and target.exists()
    built = target.stat().st_mtime_ns
    assert load_in_a_new_process() == target and target.stat().st_mtime_ns == built  # not compiled again
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary file left
