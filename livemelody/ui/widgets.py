"""The dashboard's widgets: they draw what the app sets on them (attributes down) and hold no
engine logic; the cells and the numbers come from :mod:`livemelody.ui.logic`."""

from __future__ import annotations

import itertools

from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, Static

from livemelody.config import KNOBS, SETTINGS
from livemelody.encoding.key import PITCH_CLASS_NAMES
from livemelody.live.engine import EngineState
from livemelody.ui.logic import AI_CELL, BAR_CELL, PLAYER_CELL, beat_dots, roll_cells

STATE_STYLES = {
    EngineState.IDLE: "dim",
    EngineState.LISTENING: "bold cyan",
    EngineState.WAITING: "bold yellow",
    EngineState.ANSWERING: "bold magenta",
}
CELL_STYLES = {PLAYER_CELL: ("█", "cyan"), AI_CELL: ("█", "magenta"), BAR_CELL: ("┊", "grey30")}


def note_name(pitch: int) -> str:
    """Scientific pitch name of MIDI ``pitch`` (60 = C4), spelt as the key line spells keys."""
    return f"{PITCH_CLASS_NAMES[pitch % 12]}{pitch // 12 - 1}"


def knobs_text(controls) -> str:
    """The CC map in a few columns: each mapped knob as its dashboard key and controller
    number ("t20 p24 s21 ..."); the help screen says which key is which."""
    return " ".join(
        f"{SETTINGS[name].keys.split()[0]}{getattr(controls, name)}"
        for name in KNOBS
        if getattr(controls, name) is not None
    )


class StatusPanel(Static):
    """Ports, engine state, key, tempo and beat, and every setting, as a table: label, value,
    and (dim, at the right) the keys that change it."""

    snapshot = reactive(None, always_update=True)
    ports = reactive(("-", "-"))
    timing = reactive("")
    """How the engine's timing thread is scheduled (e.g. "realtime (SCHED_FIFO 5)")."""
    learning = reactive(None)
    notice = reactive("")
    hints: dict[str, str] = {}
    """Row name -> the keys that act on it (``logic.key_hints`` of the app's bindings)."""

    def render(self):
        snap = self.snapshot
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(style="bold", no_wrap=True, width=11)  # labels stay whole; values give way
        table.add_column(ratio=1)  # values: one line each (below); messages wrap
        table.add_column(style="grey50", no_wrap=True, justify="right", width=3)  # the keys that change it

        hint = self.hints.get

        def row(label: str, value, keys: str | None = "") -> None:
            if isinstance(value, str):
                value = Text(value, no_wrap=True, overflow="ellipsis")
            table.add_row(label, value, keys or "")

        row("in", self.ports[0], hint("ports"))
        row("out", self.ports[1], hint("ports"))
        if self.timing:
            style = "" if self.timing.startswith("realtime") else "yellow"
            row("timing", Text(self.timing, style=style, no_wrap=True, overflow="ellipsis"))
        if snap is None:
            row("state", Text("starting the engine…", style="yellow"))
            row("", Text(self.notice, style="red"))
            return table
        config = snap.config
        row("state", Text(snap.state.upper(), style=STATE_STYLES.get(snap.state, ""), no_wrap=True), hint("state"))
        key = snap.key or "-"
        if snap.key_confidence is not None:
            key += f" ({'kept: ' if snap.key_kept else ''}sure {snap.key_confidence:.2f})"
        row("key", key)
        clock = "ext clock" if snap.external_clock else "internal"
        row("tempo", f"{snap.bpm:.0f} BPM ({clock})", hint("bpm"))
        dots = beat_dots(snap.step, config.beats_per_bar, config.steps_per_pulse)
        row("beat", Text(f"{dots}  {config.meter}", style="green", no_wrap=True))
        row("", "")
        for setting in SETTINGS.values():  # every setting the dashboard shows, as the table says
            if setting.label:
                row(setting.label, setting.show(getattr(config, setting.name)), hint(setting.name))
        row("turns", str(snap.turns))
        controls = config.controls
        row("knobs (CC)", Text(knobs_text(controls)), hint("learn"))  # wraps: every knob shown
        if self.learning:
            row("MIDI-learn", Text(f"move a knob for {self.learning}…", style="bold yellow reverse"))
        if snap.last_cc is not None:
            row("last CC", f"{snap.last_cc[0]} = {snap.last_cc[1]}")
        message = self.notice or snap.message
        if message:
            row("", Text(message, style="italic yellow", overflow="fold"))
        return table


class PianoRoll(Widget):
    """The recent notes, one column per 16th step, now at the right; player cyan, AI magenta."""

    snapshot = reactive(None, always_update=True)

    def render(self):
        snap = self.snapshot
        width, height = max(1, self.size.width - 5), max(1, self.size.height)
        notes, step, per_bar = ((), 0, 16) if snap is None else (snap.notes, snap.step, snap.config.steps_per_bar)
        bottom, rows = roll_cells(notes, step, width, height, per_bar)
        text = Text(no_wrap=True, overflow="crop")
        for i, row in enumerate(rows):
            pitch = bottom + height - 1 - i
            text.append(f"{note_name(pitch):>4} " if pitch % 12 in (0, 5) or i == 0 else "     ", style="grey50")
            for cell, run in itertools.groupby(row):  # one span per run of equal cells
                char, style = CELL_STYLES.get(cell, (" ", ""))
                text.append(char * sum(1 for _ in run), style=style)
            if i < len(rows) - 1:
                text.append("\n")
        return text


class TurnLog(DataTable):
    """One row per turn, the columns a player reads first on the left (80 columns show at least
    #, answer and style): the answer's length in 16th steps, style/mode, the key, the call
    (notes, steps), and the compute margin: how long before its due time the answer's first
    note was ready, as measured."""

    can_focus = False  # the main screen's keys are all the app's: nothing there takes focus

    def on_mount(self) -> None:
        self.cursor_type = "none"
        self.add_columns("#", "answer", "style", "key", "call", "margin")

    def add_turn(self, number: int, turn) -> None:
        self.add_row(
            str(number),
            f"{turn.answer_steps} st",
            f"{turn.style}/{turn.mode[:4]}",
            f"{turn.key} kept" if turn.key_kept else turn.key,
            f"{turn.call_notes}n {turn.call_steps}st",
            f"{turn.ready_early * 1000:.1f} ms",
        )
        self.scroll_end(animate=False)
