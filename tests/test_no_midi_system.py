"""No MIDI system (no ALSA sequencer, no JACK server): one line naming the fixes, exit 2."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

NO_SERVER = {"JACK_DEFAULT_SERVER": "livemelody-no-such-server", "JACK_NO_START_SERVER": "1"}


def livemelody(tmp_path, *argv, env=None):
    folders = {k: str(tmp_path / k) for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")}
    environment = {**os.environ, **folders, **NO_SERVER, **(env or {})}
    environment.pop("LIVEMELODY_MIDI_API", None)
    return subprocess.run(
        [sys.executable, "-m", "livemelody", *argv],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_naming_the_fixes(result):
    assert result.returncode == 2, result
    assert result.stdout == ""  # no dashboard drawn
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # no ALSA or JACK library noise
    assert lines[0].startswith("livemelody: error: ")
    assert "start JACK" in lines[0] and "--api" in lines[0] and "livemelody demo" in lines[0]


@pytest.mark.parametrize("command", ["run", "dashboard"])
def test_no_jack_server_is_one_line_naming_the_fixes(tmp_path, command):
    result = livemelody(tmp_path, command, "--api", "jack")
    assert_one_line_naming_the_fixes(result)
    assert "no JACK server" in result.stderr


@pytest.mark.parametrize("command", ["run", "dashboard"])
def test_an_unknown_api_is_one_line_and_exit_2(tmp_path, command):
    result = livemelody(tmp_path, command, "--api", "klingon")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "unknown MIDI API" in result.stderr


@pytest.mark.skipif(Path("/dev/snd/seq").exists(), reason="this machine has an ALSA sequencer")
@pytest.mark.parametrize("argv", [(), ("run",), ("dashboard",)])
def test_no_midi_system_at_all(tmp_path, argv):
    result = livemelody(tmp_path, *argv)
    assert_one_line_naming_the_fixes(result)
    assert "no MIDI system" in result.stderr


def test_the_api_is_remembered_with_the_ports(monkeypatch, tiny_models):
    import livemelody.cli as cli
    import livemelody.midi.ports as ports
    from livemelody.live.headless import remember_ports, remembered_api

    monkeypatch.delenv("LIVEMELODY_MIDI_API", raising=False)
    probed = []

    def probe(api):
        probed.append(api)
        if api != "jack":
            raise ports.PortError(f"cannot use the {api} MIDI API")

    monkeypatch.setattr(ports, "probe_api", probe)
    assert remembered_api() is None
    remember_ports("jack", "livemelody in (virtual)", "livemelody out (virtual)")
    assert remembered_api() == "jack"
    _, options = cli._engine_options_from(cli.build_parser().parse_args(["dashboard", "--style", "tiny"]))
    assert options.api == "jack" and probed == ["jack"]
    with pytest.raises(ports.PortError, match="alsa"):  # a named API that does not work is never swapped
        cli._engine_options_from(cli.build_parser().parse_args(["run", "--api", "alsa", "--style", "tiny"]))


def test_with_no_api_named_a_working_one_is_used(monkeypatch):
    import livemelody.midi.ports as ports

    monkeypatch.setattr(ports, "probe_api", lambda api: None if api == "jack" else ports._client(None, "nope"))
    assert ports.working_api("alsa", others=True) == "jack"
    with pytest.raises(ports.PortError):
        ports.working_api("alsa", others=False)


def test_ports_with_no_midi_system_is_one_line_naming_the_fixes(tmp_path):
    result = livemelody(tmp_path, "ports")
    if not Path("/dev/snd/seq").exists():
        assert_one_line_naming_the_fixes(result)


def test_ports_with_no_api_named_lists_the_one_that_works(monkeypatch, capsys):
    """Like run and the dashboard: JACK running, no ALSA sequencer, nothing remembered."""
    import livemelody.cli as cli
    import livemelody.live.headless as headless
    import livemelody.midi.ports as ports

    monkeypatch.delenv("LIVEMELODY_MIDI_API", raising=False)
    monkeypatch.setattr(headless, "remembered_api", lambda: None)
    monkeypatch.setattr(ports, "default_api", lambda: "alsa")
    monkeypatch.setattr(ports, "probe_api", lambda api: None if api == "jack" else ports._client(None, "nope"))
    monkeypatch.setattr(headless, "list_ports", lambda api: ([f"{api} keys"], [f"{api} synth"]))
    assert cli.main(["ports"]) == 0
    assert capsys.readouterr().out.splitlines()[:3] == ["MIDI API: jack", "inputs:", "  0: jack keys"]
    with pytest.raises(ports.PortError):  # a named API is never swapped
        cli.cmd_ports(cli.build_parser().parse_args(["ports", "--api", "alsa"]))
    monkeypatch.setattr(ports, "probe_api", lambda api: None)  # both work: the one used last comes first
    monkeypatch.setattr(headless, "remembered_api", lambda: "jack")
    monkeypatch.setattr(ports, "default_api", lambda: "alsa")
    assert cli.main(["ports"]) == 0 and capsys.readouterr().out.startswith("MIDI API: jack")
