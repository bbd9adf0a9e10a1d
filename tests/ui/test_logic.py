"""The dashboard's plain logic: control steps, MIDI-learn, the roll's cells, the runner."""

import time

import pytest

from livemelody.config import ControlMap, EngineConfig
from livemelody.events import RollNote
from livemelody.ui.app import LiveMelodyApp
from livemelody.ui.logic import EngineRunner, MidiLearn, beat_dots, key_hints, learn_controls, roll_cells, step_setting


@pytest.mark.parametrize(
    "name, direction, config, expected",
    [
        ("temperature", 1, {}, {"temperature": 1.1}),
        ("temperature", 1, {"temperature": 2.0}, {}),
        ("temperature", -1, {"temperature": 0.05}, {"temperature": 0.0}),
        ("top_p", 1, {}, {"top_p": 1.0}),
        ("answer_bars", -1, {"answer_bars": 1}, {"answer_bars": None}),
        ("answer_bars", 1, {}, {"answer_bars": 1}),
        ("answer_bars", 1, {"answer_bars": 16}, {}),
        ("bpm", -1, {"bpm": 20.0}, {}),
        ("end_silence_beats", -1, {}, {"end_silence_beats": 0.75}),
        ("mode", 1, {}, {"mode": "vary"}),
        ("metronome", 1, {}, {"metronome": True}),
    ],
)
def test_step_setting(name, direction, config, expected):
    assert step_setting(EngineConfig(**config), name, direction) == expected


def test_style_cycles_through_the_loaded_styles():
    config = EngineConfig(style="han")
    assert step_setting(config, "style", 1, ("deutsch", "han")) == {"style": "deutsch"}
    assert step_setting(config, "style", 1, ("han",)) == {}


def test_learning_a_cc_takes_it_from_the_control_that_had_it():
    controls = learn_controls(ControlMap(), "temperature", 21)  # 21 was style's
    assert controls.temperature == 21 and controls.style is None


def test_midi_learn_waits_for_a_new_cc_and_disarms():
    learn = MidiLearn()
    assert learn.cycle(cc_count=5) == "temperature"
    assert learn.check(ControlMap(), 5, (74, 1)) is None  # the CC seen before arming
    target, controls = learn.check(ControlMap(), 6, (74, 1))
    assert target == "temperature" and controls.temperature == 74 and learn.target is None
    assert [learn.cycle(0) for _ in range(10)] == [
        "temperature",
        "top_p",
        "style",
        "blend",
        "blend_with",
        "mode",
        "amount",
        "quote",
        "answer_bars",
        None,
    ]


def test_roll_cells_place_player_and_ai_notes_with_now_at_the_right():
    notes = [RollNote("player", 60, 0, 4), RollNote("ai", 62, 4, None)]
    bottom, rows = roll_cells(notes, now_step=7, width=8, height=3)
    assert bottom == 60 and rows == ["|   aaaa", "|       ", "pppp    "]  # step 0 is a bar line
    _, rows = roll_cells([], now_step=15, width=4, height=1, steps_per_bar=16)
    assert rows == ["    "]
    _, rows = roll_cells([], now_step=16, width=4, height=1, steps_per_bar=16)
    assert rows == ["   |"]


def test_beat_dots():
    assert beat_dots(4, 4) == "○ ● ○ ○" and beat_dots(15, 3) == "● ○ ○"


def test_runner_restarts_and_reports_errors():
    started, stopped = [], []

    class Handle:
        def __init__(self, options):
            if options == "bad":
                raise RuntimeError("no such port")
            started.append(options)

        def stop(self):
            stopped.append(self)

    runner = EngineRunner(Handle)
    for options in ("a", "bad", "b"):
        generation = runner.generation
        runner.start(options)
        deadline = time.monotonic() + 2
        while runner.generation == generation and time.monotonic() < deadline:
            time.sleep(0.005)
        if options == "bad":
            assert runner.handle is None and runner.error == "no such port"
    assert started == ["a", "b"] and len(stopped) == 1
    runner.stop()
    assert len(stopped) == 2


def test_each_settings_keys_are_hinted_from_the_apps_own_bindings():
    hints = key_hints(LiveMelodyApp.BINDINGS)
    assert (hints["temperature"], hints["state"], hints["ports"], hints["learn"]) == ("t T", "⏎ x", "o", "l")
    for binding in LiveMelodyApp.BINDINGS:  # every setting's key, both directions, stands beside it
        if binding.action.startswith("step("):
            name = binding.action.split("'")[1]
            assert binding.key in hints[name].split(), (binding.key, hints.get(name))


def test_the_blend_partner_key_skips_the_style_itself_and_a_style_change_swaps_the_pair():
    styles = ("chorale", "deutsch", "han", "irish")
    config = EngineConfig(style="han", blend_with="deutsch")
    assert step_setting(config, "blend_with", 1, styles) == {"blend_with": "irish"}  # han skipped
    config = EngineConfig(style="deutsch", blend_with="han")
    assert step_setting(config, "style", 1, styles) == {"style": "han", "blend_with": "deutsch"}
    assert step_setting(EngineConfig(style="deutsch"), "blend_with", 1, ("deutsch",)) == {}


def test_the_style_cell_fits_at_80_columns_and_stays_whole_where_it_can():
    from livemelody.ui.logic import STYLE_CELL, style_cell

    assert style_cell("deutsch", "continue") == "deutsch/cont"
    assert style_cell("irish + 0.10 han", "vary") == "irish + 0.10 han/vary"  # 21: it fits as it is
    assert style_cell("scottish + 0.50 chorale", "continue") == "scot+chor .50/cont"
    assert style_cell("deutsch + 1.00 scottish", "vary") == "deut+scot 1.00/vary"
    assert len(style_cell("a_very_long_user_style_name", "continue")) == STYLE_CELL
