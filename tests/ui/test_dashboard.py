"""The dashboard with a fake engine handle, driven by Textual's Pilot."""

import asyncio
import re
import time
from dataclasses import replace

from livemelody.config import EngineConfig
from livemelody.live.process import EngineOptions
from livemelody.settings import Settings
from livemelody.ui.app import LiveMelodyApp, PortScreen
from livemelody.ui.logic import setting_bindings
from livemelody.ui.widgets import StatusPanel, TurnLog
from tests.ui.fakes import TURN, FakeHandle

SIZE = (120, 36)


def make_app(saved=None, ports=(["keys A", "keys B"], ["synth X", "synth Y"]), **config):
    options = EngineOptions(config=EngineConfig(**config), api="jack", input=None, output=None)
    saved = [] if saved is None else saved
    return LiveMelodyApp(
        options,
        Settings(options.config),
        start_engine=FakeHandle.start_engine,
        list_ports=lambda: ports,
        save=saved.append,
    )


async def started(pilot, timeout=15.0):
    """Wait for the (fake) engine's first snapshot to reach the app (generous: CI is shared)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.02)
        if pilot.app.handle is not None and pilot.app._engine_config is not None:
            return pilot.app.handle
    raise AssertionError("the fake engine never started")


async def settle(pilot):
    await pilot.pause(0.25)  # a few polls


def press_keys(app, *keys) -> FakeHandle:
    """Start ``app``, press ``keys`` once its engine is up, let the polls settle; its handle."""

    async def run():
        async with app.run_test(size=SIZE) as pilot:
            handle = await started(pilot)
            await pilot.press(*keys)
            await settle(pilot)
            return handle

    return asyncio.run(run())


def test_keys_change_the_engines_settings_and_they_are_saved():
    saved = []
    app = make_app(saved)
    handle = press_keys(app, "t", "t", "T", "s", "p", "a", "a", "e", "b", "k", "m")
    sets = [c[1] for c in handle.calls if c[0] == "set"]
    assert sets[:3] == [{"temperature": 1.1}, {"temperature": 1.2}, {"temperature": 1.1}]
    assert (
        {"style": "han", "blend_with": "deutsch"} in sets  # the style took the blend partner's place
        and {"top_p": 1.0} in sets
        and {"answer_bars": 1} in sets
        and {"answer_bars": 2} in sets
    )
    assert {"end_silence_beats": 1.25} in sets and {"bpm": 105.0} in sets and {"metronome": True} in sets
    assert {"mode": "vary"} in sets
    last = saved[-1].config
    assert (last.temperature, last.style, last.answer_bars, last.bpm) == (1.1, "han", 2, 105.0)


def test_command_line_options_apply_to_this_run_only_and_what_changes_is_saved():
    saved = []
    file_config = EngineConfig(temperature=0.8)  # the settings file
    run_config = file_config.changed(bpm=140.0, metronome=True)  # plus --bpm 140 --metronome
    options = EngineOptions(config=run_config, api="jack", input=None, output=None)
    app = LiveMelodyApp(
        options, Settings(file_config), start_engine=FakeHandle.start_engine, list_ports=None, save=saved.append
    )

    async def run():
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot)
            await settle(pilot)
            assert saved == []  # starting saves nothing
            await pilot.press("t")
            await settle(pilot)
            return str(app.query_one("#status").notice)

    notice = asyncio.run(run())
    app.shutdown()
    last = saved[-1].config
    assert last.temperature == 0.9  # changed in the dashboard: saved
    assert (last.bpm, last.metronome) == (100.0, False)  # the command line's: this run only
    assert notice == "saved: temperature 0.90"


def test_the_demo_is_a_sandbox_that_saves_nothing():
    saved = []
    options = EngineOptions(config=EngineConfig(), api="loopback", input=None, output=None, demo=True)
    app = LiveMelodyApp(
        options, Settings(options.config), start_engine=FakeHandle.start_engine, save=saved.append, demo=True
    )

    async def run():
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot)
            await pilot.press("t", "s", "b", "k")
            await settle(pilot)
            return [c for c in pilot.app.handle.calls if c[0] == "set"]

    sets = asyncio.run(run())
    app.shutdown()
    assert sets and saved == []


def test_panic_and_end_call_reach_the_engine_and_shutdown_stops_it():
    app = make_app()
    handle = press_keys(app, "x", "enter", "escape")
    app.shutdown()  # what run_dashboard does once the app has exited
    names = [c[0] for c in handle.calls]
    assert names[:3] == ["panic", "end_call", "panic"] and names[-1] == "stop"


def test_port_picker_restarts_the_engine_on_the_chosen_ports():
    saved = []
    app = make_app(saved)

    async def run():
        async with app.run_test(size=SIZE) as pilot:
            first = await started(pilot)
            await pilot.press("o")
            await pilot.pause(0.05)
            assert isinstance(app.screen, PortScreen)
            await pilot.press("down", "down", "enter")  # input list: virtual, keys A, keys B
            await pilot.press("down", "enter")  # output list: virtual, synth X
            await pilot.press("a")
            for _ in range(50):
                await pilot.pause(0.02)
                if app.handle is not first and app.handle is not None:
                    break
            return first, app.handle

    first, second = asyncio.run(run())
    app.shutdown()
    assert ("stop",) in first.calls
    assert (second.options.input, second.options.output) == ("keys B", "synth X")
    assert (saved[-1].input, saved[-1].output, saved[-1].api) == ("keys B", "synth X", "jack")


def test_midi_learn_maps_the_next_cc_to_temperature():
    app = make_app()

    async def run():
        async with app.run_test(size=SIZE) as pilot:
            handle = await started(pilot)
            await pilot.press("l")
            await settle(pilot)
            handle.feed_cc(74, 64)
            await settle(pilot)
            return handle

    handle = asyncio.run(run())
    sets = [c[1] for c in handle.calls if c[0] == "set"]
    assert sets[-1]["controls"].temperature == 74 and sets[-1]["controls"].style == 21


def test_help_screen_lists_every_key_and_the_turn_log_fills():
    app = make_app()

    async def run():
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot)
            await settle(pilot)
            rows = app.query_one(TurnLog).row_count
            await pilot.press("question_mark")
            await pilot.pause(0.05)
            return rows, app.screen.lines

    rows, lines = asyncio.run(run())
    assert rows == 1
    joined = "\n".join(lines)
    for key, _, _, _, help_text in setting_bindings():  # every setting key of the table, explained
        assert re.search(rf"^\s*{re.escape(key)}  {re.escape(help_text)}$", joined, re.MULTILINE), key
    for word in ("PANIC", "MIDI-learn", "Ports", "Help", "Quit"):
        assert word in joined


def test_ctrl_c_quits_the_dashboard_like_q():
    app = make_app()

    async def run():
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot)
            await pilot.press("ctrl+c")
            await pilot.pause(0.1)
            return app.is_running

    assert asyncio.run(run()) is False


def test_a_setting_at_its_limit_sends_nothing():
    handle = press_keys(make_app(temperature=2.0), "t")  # already at the top: nothing sent
    assert not [c for c in handle.calls if c[0] == "set"]


def test_an_engine_that_ended_from_outside_is_said():
    app = make_app()

    async def run():
        async with app.run_test(size=SIZE) as pilot:
            handle = await started(pilot)
            handle.calls.append(("stop",))  # the engine process ended (say a SIGTERM from outside)
            await settle(pilot)
            return app.query_one(StatusPanel).notice

    assert asyncio.run(run()) == "engine stopped (o: pick ports to restart)"


def test_at_80_columns_the_turn_log_shows_the_answer_and_the_style_even_blended():
    app = make_app()
    blended = replace(TURN, style="scottish + 0.50 chorale", answer_steps=128)  # the longest shipped names

    async def run():
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            await settle(pilot)
            table = app.query_one(TurnLog)
            table.add_turn(99, blended)
            await settle(pilot)
            shown = [str(c.label) for c in table.columns.values()]
            widths = [c.get_render_width(table) for c in table.columns.values()]
            rows = [[str(v) for v in table.get_row_at(i)] for i in range(table.row_count)]
            return shown, widths, table.scrollable_content_region.width, rows

    shown, widths, visible, rows = asyncio.run(run())
    last = shown.index("style")
    assert shown.index("answer") < last and sum(widths[: last + 1]) <= visible
    assert rows[0][1].endswith(" st") and rows[0][2] == "deutsch/cont"  # the answer's length, style/mode
    assert rows[-1][1] == "128 st" and rows[-1][2] == "scot+chor .50/cont"


def test_at_80_by_24_every_setting_the_message_and_the_knobs_stay_on_the_panel():
    """The engine panel fits a short screen by putting the settings two to a line: no setting,
    message or knobs line falls off its bottom."""
    from livemelody.config import SETTINGS

    app = make_app()

    async def run():
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            await settle(pilot)
            panel = app.query_one(StatusPanel)
            panel.notice = "a message the player must see"
            await settle(pilot)
            lines = [strip.text for strip in panel.render_lines(panel.region.reset_offset.shrink(panel.styles.gutter))]
            return lines, panel.content_region.height

    lines, height = asyncio.run(run())
    shown = " ".join(" ".join(lines[:height]).split())  # a long message wraps over lines
    assert "a message the player must see" in shown and "knobs (CC)" in shown
    for setting in SETTINGS.values():
        if setting.label:
            assert setting.short.lower()[:6] in shown, setting.name
