"""The Textual dashboard: it observes the engine and sends it commands, and never blocks it.

The engine runs in its own process (:class:`~livemelody.live.process.EngineHandle`). The app
polls ``handle.snapshot`` (an immutable value the handle's receiver thread replaces) about 20
times a second, sets the widgets' attributes from it, and sends ``set`` / ``panic`` /
``end_call`` down a pipe: none of these wait for the engine. Starting and stopping the engine
(which can take seconds) happens on the :class:`~livemelody.ui.logic.EngineRunner`'s thread.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import replace

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, OptionList, Static
from textual.widgets.option_list import Option

from livemelody.config import SETTINGS, EngineConfig
from livemelody.live.process import EngineHandle, EngineOptions
from livemelody.settings import Settings, save_settings
from livemelody.ui.logic import (
    EngineRunner,
    MidiLearn,
    key_hints,
    roll_key,
    setting_bindings,
    status_key,
    step_setting,
)
from livemelody.ui.widgets import PianoRoll, StatusPanel, TurnLog

POLL_SECONDS = 0.05
SAVED_NOTICE_SECONDS = 3.0
"""How long the dashboard says "saved: ..." after a change."""
FOOTER_SETTINGS = ("temperature", "style", "mode")
"""Settings whose keys the footer shows (all of them are beside their rows and on the help screen)."""
VIRTUAL = "(virtual port)"


class HelpScreen(ModalScreen):
    """Every key binding of the main screen."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "app.pop_screen", "Close")]

    def __init__(self, bindings: list[Binding]):
        super().__init__()
        names = {"question_mark": "?", "escape": "Esc", "enter": "Enter", "f1": "F1"}
        self.lines = [
            f"{' / '.join(names.get(k, k) for k in b.key.split(',')):>9}  {b.tooltip or b.description}"
            for b in bindings
        ]

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Label("livemelody keys", classes="title")
            with VerticalScroll(id="help-keys"):  # scrolls where the screen is short (80 x 24)
                yield Static("\n".join(self.lines))
            yield Label(
                "MIDI controllers: the 'knobs (CC)' line gives each knob's key and CC number (t20: temperature on CC 20); "
                "MIDI-learn (l) maps a knob. The dim keys beside each setting change it.",
                classes="hint",
            )
            yield Label("Esc closes; arrows and PgUp/PgDn scroll", classes="hint")


class PortScreen(ModalScreen[tuple[str | None, str | None] | None]):
    """Pick an input and an output: Enter picks in a list, ``a`` applies, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("a", "apply", "Apply")]

    def __init__(self, inputs: list[str], outputs: list[str], current: tuple[str, str]):
        super().__init__()
        self.inputs, self.outputs = [VIRTUAL, *inputs], [VIRTUAL, *outputs]
        self.chosen = list(current)

    def compose(self) -> ComposeResult:
        with Vertical(id="ports"):
            yield Label("MIDI ports: Enter picks, Tab switches list, a applies, Esc cancels", classes="title")
            with Horizontal():
                with Vertical():
                    yield Label("input", classes="hint")
                    yield OptionList(*[Option(n, id=f"in-{i}") for i, n in enumerate(self.inputs)], id="inputs")
                with Vertical():
                    yield Label("output", classes="hint")
                    yield OptionList(*[Option(n, id=f"out-{i}") for i, n in enumerate(self.outputs)], id="outputs")
            yield Label(self._chosen_text(), id="chosen")

    def _chosen_text(self) -> str:
        return f"in: {self.chosen[0]}   out: {self.chosen[1]}"

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id == "inputs":
            self.chosen[0] = self.inputs[event.option_index]
            self.query_one("#outputs").focus()
        else:
            self.chosen[1] = self.outputs[event.option_index]
        self.query_one("#chosen", Label).update(self._chosen_text())

    def action_apply(self) -> None:
        self.dismiss(tuple(None if c == VIRTUAL or c.endswith("(virtual)") else c for c in self.chosen))

    def action_cancel(self) -> None:
        self.dismiss(None)


def _start_engine(options: EngineOptions):
    return EngineHandle(options).start()


class LiveMelodyApp(App):
    """The dashboard. ``start_engine(options)`` returns a started handle (a fake in tests);
    ``list_ports()`` returns (inputs, outputs); ``save(settings)`` persists the settings."""

    CSS_PATH = "app.tcss"
    TITLE = "livemelody"
    ENABLE_COMMAND_PALETTE = False  # every action has its key; the footer must fit 80 columns
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    """Below 100 columns the status panel narrows (app.tcss), so the roll keeps some room."""
    BINDINGS = [
        *(
            Binding(key, f"step('{name}', {direction})", footer, show=name in FOOTER_SETTINGS, tooltip=help_text)
            for key, name, direction, footer, help_text in setting_bindings()
        ),
        Binding("enter", "end_call", "End call"),
        Binding("x,escape", "panic", "PANIC"),
        Binding("l", "learn", "Learn", tooltip="MIDI-learn: arm a control, then move a knob"),
        Binding("o", "ports", "Ports"),
        Binding("question_mark,f1", "help", "Help"),
        Binding("q,ctrl+c", "quit", "Quit", tooltip="Quit: the engine stops with its panic (Ctrl-C too)"),
    ]
    """The settings' keys come from the settings table (:func:`~livemelody.ui.logic.setting_bindings`).
    Ctrl-C quits, as it stops ``run``: Textual's own Ctrl-C only says to press Ctrl-Q."""

    def __init__(
        self,
        options: EngineOptions,
        settings: Settings | None = None,
        *,
        start_engine: Callable = _start_engine,
        list_ports: Callable | None = None,
        save: Callable[[Settings], object] | None = save_settings,
        demo: bool = False,
        lower_priority: bool = False,
    ):
        super().__init__()
        self.options = options
        self.settings = settings or Settings(options.config)
        self.config: EngineConfig = options.config
        self.list_ports = list_ports
        self.save = save
        self.demo = demo
        self.lower_priority = lower_priority
        self.runner = EngineRunner(start_engine)
        self.learn = MidiLearn()
        self._generation = 0
        self._engine_config: EngineConfig | None = None
        self._turns_seen = 0
        self._warnings_seen = 0
        self._shown: tuple = (None, None)
        """(status_key, roll_key) of the snapshot the widgets show."""

    # ---- layout ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        title = "livemelody demo: a built-in call, answered by the real engine" if self.demo else "livemelody"
        yield Label(title, id="title")
        with Horizontal(id="main"):
            yield StatusPanel(id="status")
            with Vertical(id="right"):
                yield PianoRoll(id="roll")
                yield TurnLog(id="turns")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        status = self.query_one(StatusPanel)
        status.border_title = "engine"
        status.hints = key_hints(self.BINDINGS)
        self.query_one(PianoRoll).border_title = "roll: player cyan, AI magenta"
        self.query_one(TurnLog).border_title = "turns"
        self.runner.start(self.options)
        if self.lower_priority:
            # The engine must win the CPU: the dashboard only draws. nice() is per thread on
            # Linux; the runner's thread already exists, so engines it spawns keep its priority.
            try:
                os.nice(5)
            except OSError:
                pass
        self.set_interval(POLL_SECONDS, self.poll)

    # ---- observing ---------------------------------------------------------------------
    @property
    def handle(self):
        return self.runner.handle

    def poll(self) -> None:
        """Read the latest snapshot and set the widgets from it (never waits for the engine)."""
        try:
            status = self.query_one(StatusPanel)
        except NoMatches:  # the app is closing: a last tick after its widgets went
            return
        if self.runner.generation != self._generation:
            self._generation = self.runner.generation
            self._turns_seen = self._warnings_seen = 0
            self._shown = (None, None)
            if self.handle is not None:
                info = self.handle.info
                status.ports = (info.input, info.output)
                status.timing = info.priority
                status.notice = ""
            else:
                status.notice = f"engine: {self.runner.error}"
        handle = self.handle
        if handle is None:
            return
        if handle.died:
            status.notice = f"engine stopped: {handle.died} (o: pick ports to restart)"
        elif not handle.alive():  # ended cleanly, but not by us (a SIGTERM from outside)
            status.notice = "engine stopped (o: pick ports to restart)"
        elif len(handle.warnings) > self._warnings_seen:  # e.g. the session file cannot be written
            self._warnings_seen = len(handle.warnings)
            status.notice = handle.warnings[-1]
        snap = handle.snapshot
        if snap is None:
            return
        if snap.config != self._engine_config:  # changed here, or by a knob on the engine side
            previous, self._engine_config = self._engine_config, snap.config
            self.config = snap.config
            if previous is not None:  # what changed while playing is saved; the command line's options never are
                self._persist(previous, snap.config)
        learned = self.learn.check(self.config.controls, snap.cc_count, snap.last_cc)
        if learned is not None:
            target, controls = learned
            self._set(controls=controls)
            status.notice = f"{target} now follows CC {getattr(controls, target)}"
        status.learning = self.learn.target
        shown = (status_key(snap), roll_key(snap))
        if shown[0] != self._shown[0]:  # redraw only what changed
            status.snapshot = snap
        if shown[1] != self._shown[1]:
            self.query_one(PianoRoll).snapshot = snap
        self._shown = shown
        if snap.turns > self._turns_seen and snap.last_turn is not None:
            self._turns_seen = snap.turns
            self.query_one(TurnLog).add_turn(snap.turns, snap.last_turn)

    # ---- commands ----------------------------------------------------------------------
    def _set(self, **changes) -> None:
        if not changes or self.handle is None:
            return
        try:
            self.handle.set(**changes)
        except ValueError as exc:
            self.query_one(StatusPanel).notice = str(exc)
            return
        self.config = self.config.changed(**changes)
        self.query_one(StatusPanel).notice = ""

    def _persist(self, before: EngineConfig, after: EngineConfig) -> None:
        """Save the settings that changed from ``before`` to ``after`` (keys, knobs, MIDI-learn)
        over the saved ones: options given on the command line apply to this run only."""
        names = [n for n in (*SETTINGS, "controls") if getattr(after, n) != getattr(before, n)]
        if not names:
            return
        config = self.settings.config.changed(**{n: getattr(after, n) for n in names})
        what = ", ".join(f"{n} {SETTINGS[n].show(getattr(after, n))}" if n in SETTINGS else n for n in names)
        self._save(self.settings.changed(config=config), what)

    def _save(self, settings: Settings, what: str) -> None:
        """Remember ``settings``; write them unless this is the demo (a sandbox: never saved)."""
        self.settings = settings
        if self.save is None or self.demo:
            return
        status = self.query_one(StatusPanel)
        try:
            self.save(settings)
        except OSError as exc:
            status.notice = f"settings not saved: {exc}"
            return
        notice = status.notice = f"saved: {what}"
        self.set_timer(SAVED_NOTICE_SECONDS, lambda: self._clear_notice(notice))

    def _clear_notice(self, notice: str) -> None:
        try:
            status = self.query_one(StatusPanel)
        except NoMatches:
            return
        if status.notice == notice:
            status.notice = ""

    def action_step(self, name: str, direction: int) -> None:
        styles = self.handle.snapshot.styles if self.handle is not None and self.handle.snapshot else ()
        self._set(**step_setting(self.config, name, direction, styles))

    def action_end_call(self) -> None:
        if self.handle is not None:
            self.handle.end_call()

    def action_panic(self) -> None:
        if self.handle is not None:
            self.handle.panic()
        self.learn.cancel()
        self.query_one(StatusPanel).notice = "PANIC sent"

    def action_learn(self) -> None:
        snap = self.handle.snapshot if self.handle is not None else None
        target = self.learn.cycle(snap.cc_count if snap is not None else 0)
        label = SETTINGS[target].label if target else None
        self.query_one(StatusPanel).notice = f"MIDI-learn: move a knob for {label}" if target else "MIDI-learn off"

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.BINDINGS))

    def action_ports(self) -> None:
        if self.demo or self.list_ports is None:
            self.query_one(StatusPanel).notice = "the demo plays over a loopback: no ports to pick"
            return
        try:
            inputs, outputs = self.list_ports()
        except Exception as exc:  # PortError and friends: one line, never a crash
            self.query_one(StatusPanel).notice = f"cannot list ports: {exc}"
            return
        own = ("livemelody:", "livemelody-", "livemelody scan")  # the engine's own clients: not choices
        inputs, outputs = ([n for n in names if not n.startswith(own)] for names in (inputs, outputs))
        info = self.handle.info if self.handle is not None else None
        current = (info.input, info.output) if info is not None else (VIRTUAL, VIRTUAL)
        self.push_screen(PortScreen(inputs, outputs, current), self._ports_chosen)

    def _ports_chosen(self, chosen) -> None:
        if chosen is None:
            return
        self.options = replace(self.options, input=chosen[0], output=chosen[1], config=self.config)
        self._save(self.settings.changed(api=self.options.api, input=chosen[0], output=chosen[1]), "ports")
        status = self.query_one(StatusPanel)
        status.snapshot, status.notice = None, "restarting the engine on the new ports…"
        self.runner.start(self.options)  # the old engine stops first, with its panic

    def shutdown(self) -> dict | None:
        """Stop the engine (with its panic); call after the app has exited."""
        handle = self.runner.handle
        stats = None
        self.runner.stop()
        if handle is not None:
            stats = handle.final_stats
        return stats


def run_dashboard(
    options: EngineOptions, settings: Settings | None = None, list_ports: Callable | None = None, demo: bool = False
) -> int:
    # multiprocessing's resource tracker is started on the first spawn with sys.stderr's file
    # descriptor, which Textual has replaced by then ("bad value(s) in fds_to_keep"): start it now.
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    app = LiveMelodyApp(options, settings, list_ports=list_ports, demo=demo, lower_priority=True)
    try:
        app.run()
    finally:
        app.shutdown()
    if app.runner.error:
        print(f"livemelody: error: {app.runner.error}", file=sys.stderr)
        return 1
    return 0


__all__ = ["LiveMelodyApp", "run_dashboard"]
