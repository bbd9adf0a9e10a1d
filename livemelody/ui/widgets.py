"""The dashboard's widgets: they draw what the app sets on them (attributes down) and hold no
engine logic; the cells and the numbers come from :mod:`livemelody.ui.logic`."""

from __future__ import annotations

import itertools

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, Static

from livemelody.config import KNOBS, SETTINGS
from livemelody.encoding.key import PITCH_CLASS_NAMES
from livemelody.live.engine import EngineState
from livemelody.ui.logic import AI_CELL, BAR_CELL, PLAYER_CELL, beat_dots, roll_cells, style_cell

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
        head, settings, tail = self._rows(snap)
        if snap is not None and len(head) + len(settings) + len(tail) > self.size.height > 0:
            # a short screen (80 x 24): the settings two to a line, so nothing falls off the panel
            short = {setting.label: setting.short.lower() for setting in SETTINGS.values() if setting.label}
            paired = [(short[label], value, keys) for label, value, keys in settings]
            return Group(_grid(head), _grid(list(_pairs(paired)), pairs=True), _grid(tail))
        return _grid(head + settings + tail)

    def _rows(self, snap) -> tuple[list[tuple], list[tuple], list[tuple]]:
        """(rows above the settings, one row per shown setting, rows below): (label, value, keys)."""
        hint = self.hints.get
        head: list[tuple] = [("in", self.ports[0], hint("ports")), ("out", self.ports[1], hint("ports"))]
        if self.timing:
            style = "" if self.timing.startswith("realtime") else "yellow"
            head.append(("timing", Text(self.timing, style=style, no_wrap=True, overflow="ellipsis"), ""))
        if snap is None:
            head += [
                ("state", Text("starting the engine…", style="yellow"), ""),
                ("", Text(self.notice, style="red"), ""),
            ]
            return head, [], []
        config = snap.config
        head.append(
            ("state", Text(snap.state.upper(), style=STATE_STYLES.get(snap.state, ""), no_wrap=True), hint("state"))
        )
        if self.learning:  # what the player must act on comes first: never below the fold
            head.append(
                (
                    "MIDI-learn",
                    Text(f"move a knob for {SETTINGS[self.learning].label}…", style="bold yellow reverse"),
                    "",
                )
            )
        message = self.notice or snap.message
        if message and not (self.learning and message.startswith("MIDI-learn")):  # said once, above
            head.append(("", Text(message, style="italic yellow", overflow="fold"), ""))
        key = snap.key or "-"
        if snap.key_confidence is not None:
            key += f" ({'kept: ' if snap.key_kept else ''}sure {snap.key_confidence:.2f})"
        head.append(("key", key, ""))
        clock = "ext clock" if snap.external_clock else "internal"
        head.append(("tempo", f"{snap.bpm:.0f} BPM ({clock})", hint("bpm")))
        dots = beat_dots(snap.step, config.beats_per_bar, config.steps_per_pulse)
        head.append(("beat", Text(f"{dots}  {config.meter}", style="green", no_wrap=True), ""))
        settings = [  # every setting the dashboard shows, as the table says
            (setting.label, setting.show(getattr(config, setting.name)), hint(setting.name))
            for setting in SETTINGS.values()
            if setting.label
        ]
        tail = [("turns", str(snap.turns), ""), ("knobs (CC)", Text(knobs_text(config.controls)), hint("learn"))]
        if snap.last_cc is not None:
            tail.append(("last CC", f"{snap.last_cc[0]} = {snap.last_cc[1]}", ""))
        return head, settings, tail


def _cell(value):
    return Text(value, no_wrap=True, overflow="ellipsis") if isinstance(value, str) else value


def _pairs(rows: list[tuple]):
    """Two (label, value, keys) rows side by side as one six-cell row."""
    for i in range(0, len(rows), 2):
        yield rows[i] + (rows[i + 1] if i + 1 < len(rows) else ("", "", ""))


def _grid(rows: list[tuple], pairs: bool = False) -> Table:
    """Rows as a grid: label (whole), value (gives way; messages wrap), the dim keys at the right;
    ``pairs``: two such triples a line, labels shortened to fit."""
    table = Table.grid(padding=(0, 1), expand=True)
    for _ in range(2 if pairs else 1):
        table.add_column(style="bold", no_wrap=True, width=7 if pairs else 11, overflow="ellipsis")
        table.add_column(ratio=1)
        table.add_column(style="grey50", no_wrap=True, justify="right", width=3)
    for row in rows:
        table.add_row(*(_cell(cell or "") if i % 3 == 1 else (cell or "") for i, cell in enumerate(row)))
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
            style_cell(turn.style, turn.mode),
            f"{turn.key} kept" if turn.key_kept else turn.key,
            f"{turn.call_notes}n {turn.call_steps}st",
            f"{turn.ready_early * 1000:.1f} ms",
        )
        self.scroll_end(animate=False)
