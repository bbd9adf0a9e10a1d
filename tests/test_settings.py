"""Persistent settings: round trip, command-line overrides, broken files never crash."""

from livemelody.config import ControlMap, EngineConfig
from livemelody.settings import Settings, dump_settings, load_settings, parse_settings, save_settings, settings_path


def test_round_trip_keeps_every_field(tmp_path):
    config = EngineConfig(
        style="han",
        mode="continue",
        temperature=0.7,
        top_p=0.9,
        bpm=88.5,
        metronome=True,
        input_channel=3,
        answer_bars=None,
        end_silence_beats=1.5,
        controls=ControlMap(temperature=70, style=None),
    )
    settings = Settings(config, api="jack", input="keys", output='synth "A"')
    path = save_settings(settings, tmp_path / "s.toml")
    assert load_settings(path) == (settings, [])


def test_midi_channels_are_written_1_to_16_as_the_command_line_shows_them():
    text = dump_settings(Settings(EngineConfig(output_channel=0, metronome_channel=9, input_channel=None)))
    assert "format = 2" in text and "output_channel = 1\n" in text and "metronome_channel = 10\n" in text
    assert 'input_channel = "none"' in text
    settings, warnings = parse_settings("format = 2\n[engine]\noutput_channel = 16\n")
    assert settings.config.output_channel == 15 and warnings == []  # MIDI channel 16
    settings, warnings = parse_settings("format = 2\n[engine]\noutput_channel = 0\n")
    assert settings.config.output_channel == EngineConfig().output_channel
    assert warnings == ["settings: setting engine.output_channel = 0 ignored (output_channel must be 1-16)"]


def test_a_file_written_before_the_format_keeps_its_channels():
    settings, warnings = parse_settings("[engine]\noutput_channel = 2\nthru_channel = 15\n")  # stored 0-15 then
    assert (settings.config.output_channel, settings.config.thru_channel, warnings) == (2, 15, [])


def test_the_file_lives_in_the_xdg_config_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert settings_path() == tmp_path / "livemelody" / "settings.toml"
    assert load_settings() == (Settings(), [])  # no file: the defaults, quietly


def test_broken_toml_gives_one_line_and_the_defaults(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[engine\ntemperature = ")
    settings, warnings = load_settings(path)
    assert settings == Settings() and len(warnings) == 1 and "not valid TOML" in warnings[0]
    assert "\n" not in warnings[0]


def test_bad_values_fall_back_one_by_one():
    text = (
        '[engine]\ntemperature = -2\ntop_p = 0.5\nbpm = "fast"\nstyle = 3\nwibble = 1\n'
        "[controls]\nstyle = 200\nmode = 21\n[ports]\ninput = 5\n[extra]\n"
    )
    settings, warnings = parse_settings(text)
    assert settings.config.top_p == 0.5 and settings.config.temperature == 1.0 and settings.config.bpm == 100
    assert settings.config.controls == ControlMap()  # 200 out of range; 21 clashes with style
    joined = " | ".join(warnings)
    for key in (
        "engine.temperature",
        "engine.bpm",
        "engine.style",
        "engine.wibble",
        "controls.style",
        "controls.mode",
        "ports.input",
        "[extra]",
    ):
        assert key in joined


def test_none_is_written_as_the_string_none():
    text = dump_settings(Settings(EngineConfig(answer_bars=None, controls=ControlMap(panic=None))))
    assert 'answer_bars = "none"' in text and 'panic = "none"' in text
    assert parse_settings(text)[0].config.controls.panic is None


def test_ports_come_as_given_else_saved_else_remembered_if_present_else_virtual(tmp_path, monkeypatch):
    from livemelody.live import headless

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    present = (["keys A", "keys B"], ["synth X"])
    monkeypatch.setattr(headless, "list_ports", lambda api: present)
    headless.remember_ports("jack", "keys B", "synth gone")  # what `run` used last time
    assert headless.choose_ports("jack", None, None, False) == ("keys B", None)  # a port that is gone: virtual
    assert headless.choose_ports("jack", None, None, False, saved=("keys A", "synth X")) == ("keys A", "synth X")
    assert headless.choose_ports("jack", None, None, False, saved=("keys gone", None)) == ("keys B", None)
    assert headless.choose_ports("jack", "typed", "typed out", False, saved=("keys A", "synth X")) == (
        "typed",
        "typed out",
    )
    assert headless.choose_ports("jack", None, None, True, saved=("keys A", "synth X")) == (None, None)
