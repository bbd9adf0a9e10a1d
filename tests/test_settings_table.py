"""The settings table is the one source of truth: every live setting appears everywhere it
should (engine config, validation, command line, CC map, dashboard keys and rows, settings
file), with the same range."""

from dataclasses import fields

import pytest

from livemelody.cli import UserError, build_parser, setting_changes
from livemelody.config import ACTIONS, KNOBS, SETTINGS, ControlMap, EngineConfig
from livemelody.live.knobs import Knobs
from livemelody.settings import Settings, dump_settings, parse_settings
from livemelody.ui.app import LiveMelodyApp
from livemelody.ui.logic import LEARNABLE, key_hints, setting_bindings, step_setting

NUMERIC = [s for s in SETTINGS.values() if s.kind in (int, float)]
CHOICES = [s for s in SETTINGS.values() if s.kind is str and s.choices]
STYLES = ("deutsch", "han")


def ids(settings):
    return [s.name for s in settings]


def typed(setting, value) -> str:
    """``value`` as a person types it on the command line (channels 1-16)."""
    return f"{value + (1 if setting.one_based else 0):g}"


def test_the_engine_config_has_one_field_per_setting_with_its_default():
    names = [f.name for f in fields(EngineConfig) if f.name != "controls"]
    assert names == list(SETTINGS)
    config = EngineConfig()
    for setting in SETTINGS.values():
        assert getattr(config, setting.name) == setting.default
        assert setting.problem(setting.default) is None


@pytest.mark.parametrize("setting", NUMERIC, ids=ids(NUMERIC))
def test_numbers_are_checked_against_the_one_range(setting):
    EngineConfig(**{setting.name: setting.kind(setting.low)})
    EngineConfig(**{setting.name: setting.kind(setting.high)})
    span = setting.high - setting.low
    for outside in (setting.low - max(1, span / 10), setting.high + max(1, span / 10)):
        with pytest.raises(ValueError, match=setting.name):
            EngineConfig(**{setting.name: setting.kind(outside)})
    if setting.none is None:
        with pytest.raises(ValueError):
            EngineConfig(**{setting.name: None})


@pytest.mark.parametrize("setting", CHOICES, ids=ids(CHOICES))
def test_choices_are_checked(setting):
    for choice in setting.choices:
        assert getattr(EngineConfig(**{setting.name: choice}), setting.name) == choice
    with pytest.raises(ValueError, match=setting.name):
        EngineConfig(**{setting.name: "nonsense"})


def parse_run(*words):
    return build_parser().parse_args(["run", *words])


@pytest.mark.parametrize("setting", NUMERIC, ids=ids(NUMERIC))
def test_the_command_line_takes_the_same_range(setting):
    for value in (setting.low, setting.high):
        assert setting_changes(parse_run(setting.flag, typed(setting, value))) == {setting.name: value}
    with pytest.raises(UserError, match="must be"):
        parse_run(setting.flag, typed(setting, setting.high + 1))
    with pytest.raises(UserError, match="must be"):
        parse_run(setting.flag, typed(setting, setting.low - 1))
    if setting.none is not None:
        assert setting_changes(parse_run(setting.flag, setting.none)) == {setting.name: None}


def test_every_setting_has_its_command_line_option_and_left_out_means_saved():
    args = parse_run()
    assert setting_changes(args) == {}  # nothing given: the settings file decides
    for setting in SETTINGS.values():
        assert setting.flag is not None and hasattr(args, setting.name)
    for setting in (s for s in SETTINGS.values() if s.kind is bool):
        on, off = setting.flag, "--no-" + setting.flag[2:]
        assert setting_changes(parse_run(on)) == {setting.name: True}
        assert setting_changes(parse_run(off)) == {setting.name: False}
    for setting in CHOICES:
        assert setting_changes(parse_run(setting.flag, setting.choices[-1])) == {setting.name: setting.choices[-1]}


@pytest.mark.parametrize("name", KNOBS)
def test_every_knob_is_in_the_cc_map_and_spans_the_same_range(name):
    setting = SETTINGS[name]
    assert getattr(ControlMap(), name) == setting.cc
    knobs = Knobs()
    bottom = knobs.handle(setting.cc, 0, EngineConfig(), STYLES).changes[name]
    top = knobs.handle(setting.cc, 127, EngineConfig(), STYLES).changes[name]
    if setting.kind is str:
        options = setting.choices or STYLES
        assert (bottom, top) == (options[0], options[-1])
    else:
        assert bottom == (None if setting.none else setting.low) and top == setting.high
    for value in range(128):  # every position is a valid setting
        change = knobs.handle(setting.cc, value, EngineConfig(), STYLES).changes
        EngineConfig(**change)


def test_actions_and_knobs_share_one_control_map_without_clashes():
    controls = ControlMap()
    numbers = [getattr(controls, f.name) for f in fields(controls)]
    assert len(set(numbers)) == len(numbers)
    assert {f.name for f in fields(controls)} == set(KNOBS) | set(ACTIONS)
    assert LEARNABLE == KNOBS


KEYED = [s for s in SETTINGS.values() if s.keys]


@pytest.mark.parametrize("setting", KEYED, ids=ids(KEYED))
def test_every_dashboard_key_steps_its_setting_within_the_same_range(setting):
    bound = {b.key: b.action for b in LiveMelodyApp.BINDINGS}
    keys = setting.keys.split()
    assert bound[keys[0]] == f"step('{setting.name}', 1)"
    assert key_hints(LiveMelodyApp.BINDINGS)[setting.name] == setting.keys
    if len(keys) == 2:
        assert bound[keys[1]] == f"step('{setting.name}', -1)"
        top = EngineConfig(**{setting.name: setting.kind(setting.high)})
        assert step_setting(top, setting.name, 1) == {}  # at the top: nothing to send
        bottom = EngineConfig(**{setting.name: setting.kind(setting.low)})
        below = step_setting(bottom, setting.name, -1)
        assert below == ({setting.name: None} if setting.none else {})
        up = step_setting(bottom, setting.name, 1)[setting.name]
        assert up == pytest.approx(setting.low + setting.step)


def test_dashboard_keys_are_unique_and_each_setting_row_is_shown():
    keys = [key for key, *_ in setting_bindings()]
    assert len(keys) == len(set(keys))
    other = {k for b in LiveMelodyApp.BINDINGS if not b.action.startswith("step(") for k in b.key.split(",")}
    assert not set(keys) & other
    labels = [s.label for s in SETTINGS.values() if s.label]
    assert len(labels) == len(set(labels))


def test_the_settings_file_holds_every_setting_and_checks_the_same_range():
    extreme = {s.name: (s.kind(s.high) if s.kind in (int, float) else s.default) for s in SETTINGS.values()}
    extreme.update({s.name: s.choices[-1] for s in CHOICES})
    extreme.update({s.name: not s.default for s in SETTINGS.values() if s.kind is bool})
    config = EngineConfig(**extreme)
    text = dump_settings(Settings(config))
    for name in SETTINGS:
        assert f"\n{name} = " in text
    loaded, warnings = parse_settings(text)
    assert warnings == [] and loaded.config == config
    for setting in NUMERIC:
        _, warnings = parse_settings(f"[engine]\n{setting.name} = {setting.high + 1000}\n")
        assert len(warnings) == 1 and setting.name in warnings[0] and "must be" in warnings[0]


def test_a_setting_fixed_at_start_is_refused_while_playing_and_live_ones_are_not():
    from livemelody.live.engine import EngineCore
    from livemelody.live.scheduler import Scheduler
    from livemelody.models.lstm import LstmSession
    from tests.conftest import TINY_JSON

    core = EngineCore(EngineConfig(style="tiny"), {"tiny": LstmSession(TINY_JSON)}, Scheduler(print, float), 0.0)
    fixed = [s for s in SETTINGS.values() if not s.live]
    assert [s.name for s in fixed] == ["clock_source"]
    with pytest.raises(ValueError, match="clock_source is chosen when the engine starts"):
        core.set(clock_source="external")
    core.set(clock_source="internal", meter="3/4", input_channel=4)  # unchanged, or live: fine
    assert core.config.beats_per_bar == 3 and core.config.input_channel == 4


def test_continue_takes_the_quote_setting_with_its_range_and_default():
    """`livemelody continue --quote` is the live ``quote`` setting: one range, one default."""
    quote = SETTINGS["quote"]
    parse = build_parser().parse_args
    assert parse(["continue", "in.mid", "-o", "out.mid"]).quote == quote.default
    assert parse(["continue", "in.mid", "-o", "out.mid", quote.flag, f"{quote.high:g}"]).quote == quote.high
    with pytest.raises(UserError, match="must be"):
        parse(["continue", "in.mid", "-o", "out.mid", quote.flag, f"{quote.high + 0.5:g}"])
