"""The dashboard's logic, without Textual: control steps, MIDI-learn, the piano roll's cells,
and an engine runner that starts and stops the engine off the UI thread.

Everything here is plain Python, tested without a terminal; the widgets only draw it.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import fields, replace

from livemelody.config import KNOBS, SETTINGS, ControlMap, EngineConfig
from livemelody.events import RollNote, Tag

LEARNABLE = KNOBS
"""What MIDI-learn can map: every setting a controller can move (the settings table's knobs)."""


def step_setting(config: EngineConfig, name: str, direction: int, styles: Sequence[str] = ()) -> dict:
    """The change (for ``handle.set(**change)``) that moves setting ``name`` one dashboard step
    in ``direction`` (+1 / -1), as its :class:`~livemelody.config.Setting` says; {} where it is
    already at its limit. Raises KeyError for a name that is not a setting."""
    setting = SETTINGS[name]
    if name == "blend_with":  # blending a style with itself blends nothing: the key skips it
        styles = [s for s in styles if s != config.style]
        if not styles:
            return {}
    value = setting.stepped(getattr(config, name), direction, tuple(styles))
    changes = {} if getattr(config, name) == value else {name: value}
    if name == "style" and value == config.blend_with and len(styles) > 1:
        # the new style was the blend's partner: the partner moves on to the style just left
        changes["blend_with"] = config.style
    return changes


def setting_bindings() -> list[tuple[str, str, int, str, str]]:
    """(key, setting name, direction, footer text, help text) for every dashboard key of the
    settings table: "t T" gives t (+1) and T (-1); one key steps forward (the next choice, or
    on/off)."""
    result = []
    for setting in SETTINGS.values():
        keys = setting.keys.split()
        short, label = setting.short or setting.label, setting.label or setting.name.replace("_", " ")
        if len(keys) == 2:
            result.append((keys[0], setting.name, 1, f"{short}+", f"{label} up"))
            result.append((keys[1], setting.name, -1, f"{short}-", f"{label} down"))
        elif keys:
            what = "on/off" if setting.kind is bool else "next"
            result.append((keys[0], setting.name, 1, short, f"{label}: {what}"))
    return result


def learn_controls(controls: ControlMap, target: str, number: int) -> ControlMap:
    """``controls`` with ``target`` on controller ``number``; a control that used it is unmapped."""
    cleared = {f.name: None for f in fields(controls) if f.name != target and getattr(controls, f.name) == number}
    return replace(controls, **cleared, **{target: number})


class MidiLearn:
    """Arm a control, then the next control change seen on the input maps it.

    The engine counts the CCs it has seen (``snapshot.cc_count``) and reports the last one,
    so :meth:`check` can tell a new CC from an old one.
    """

    def __init__(self) -> None:
        self.target: str | None = None
        self._armed_at = 0

    def cycle(self, cc_count: int) -> str | None:
        """Off -> each knob of the settings table in turn -> off; returns the armed target."""
        order = (None, *LEARNABLE)
        self.target = order[(order.index(self.target) + 1) % len(order)]
        self._armed_at = cc_count
        return self.target

    def cancel(self) -> None:
        self.target = None

    def check(
        self, controls: ControlMap, cc_count: int, last_cc: tuple[int, int] | None
    ) -> tuple[str, ControlMap] | None:
        """(target, new control map) once a new CC arrived while armed; disarms."""
        if self.target is None or cc_count <= self._armed_at or last_cc is None:
            return None
        target, self.target = self.target, None
        return target, learn_controls(controls, target, last_cc[0])


EMPTY, PLAYER_CELL, AI_CELL, BAR_CELL = " ", "p", "a", "|"


def roll_cells(
    notes: Sequence[RollNote], now_step: int, width: int, height: int, steps_per_bar: int = 16
) -> tuple[int, list[str]]:
    """The piano roll as rows of cells, highest pitch first: (lowest pitch, rows).

    One column per 16th step, ``now_step`` in the rightmost column; ``EMPTY``, ``PLAYER_CELL``,
    ``AI_CELL`` or ``BAR_CELL`` (an empty cell on a bar line). The pitch range follows the
    notes (centred, ``height`` semitones; middle C's octave when there are none).
    """
    width, height = max(1, width), max(1, height)
    first = now_step - width + 1
    visible = [n for n in notes if (n.end if n.end is not None else now_step + 1) > first and n.start <= now_step]
    if visible:
        low, high = min(n.pitch for n in visible), max(n.pitch for n in visible)
        bottom = max(0, min(127 - height + 1, (low + high) // 2 - height // 2))
    else:
        bottom = max(0, 60 - height // 2 + 6)
    rows = [[BAR_CELL if (first + c) % steps_per_bar == 0 else EMPTY for c in range(width)] for _ in range(height)]
    for note in visible:
        row = height - 1 - (note.pitch - bottom)
        if not 0 <= row < height:
            continue
        end = note.end if note.end is not None else now_step + 1
        for step in range(max(note.start, first), min(end, now_step + 1)):
            rows[row][step - first] = PLAYER_CELL if note.source == Tag.PLAYER else AI_CELL
    return bottom, ["".join(r) for r in rows]


KEY_SYMBOLS = {"enter": "⏎"}


def key_hints(bindings) -> dict[str, str]:
    """The keys that act on each row of the status panel, from the app's own bindings:
    a setting's name (``step('temperature', 1)`` and its -1 twin give "t T"), ``ports``,
    ``state`` (end the call, panic) and ``learn``. A binding's first key stands for it."""
    rows = {"end_call": "state", "panic": "state", "ports": "ports", "learn": "learn"}
    hints: dict[str, list[str]] = {}
    for binding in bindings:
        match = re.fullmatch(r"step\('(\w+)', -?1\)", binding.action)
        row = match.group(1) if match else rows.get(binding.action)
        if row is not None:
            key = binding.key.split(",")[0]
            hints.setdefault(row, []).append(KEY_SYMBOLS.get(key, key))
    return {row: " ".join(keys) for row, keys in hints.items()}


def status_key(snap) -> tuple:
    """Everything of a snapshot that the status panel shows: redraw only when it changes.

    Snapshots arrive 20 times a second but the panel changes a few times a beat; skipping the
    identical redraws halves the dashboard's CPU (it shares the machine with the engine and
    the synth). Keep this in step with ``StatusPanel.render``.
    """
    return (
        snap.state,
        snap.key,
        round(snap.bpm),
        snap.external_clock,
        snap.step // 4,
        snap.config,
        snap.turns,
        snap.last_cc,
        snap.message,
    )


def roll_key(snap) -> tuple:
    """Everything of a snapshot that the piano roll shows (its size aside)."""
    return snap.step, snap.notes


def beat_dots(step: int, beats_per_bar: int, steps_per_beat: int = 4) -> str:
    """The beat indicator: one dot per beat of the bar (``steps_per_beat`` 16th steps each),
    the current beat filled."""
    beat = (step // steps_per_beat) % beats_per_bar
    return " ".join("●" if b == beat else "○" for b in range(beats_per_bar))


class EngineRunner:
    """Starts, restarts and stops the engine on its own thread, so the UI never waits.

    ``factory(options)`` returns a started handle (``EngineHandle(options).start()``) or raises.
    The runner's thread is created before the dashboard lowers its priority, so engines it
    spawns later inherit the runner's (normal) priority, not the dashboard's.
    """

    def __init__(self, factory: Callable):
        self.factory = factory
        self.handle = None
        self.error: str | None = None
        self.generation = 0
        """Increments whenever a new handle is in place."""
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="engine-runner", daemon=True)
        self._thread.start()

    def start(self, options) -> None:
        """Stop the running engine (it panics on the way out), then start one with ``options``."""
        self._requests.put(("start", options))

    def stop(self, timeout: float = 8.0) -> None:
        """Stop the engine and the runner; waits up to ``timeout`` seconds."""
        done = threading.Event()
        self._requests.put(("stop", done))
        done.wait(timeout)

    def _run(self) -> None:
        while True:
            kind, payload = self._requests.get()
            if self.handle is not None:
                try:
                    self.handle.stop()
                except Exception:  # a dead engine is already silent (or its supervisor panicked)
                    pass
                self.handle = None
            if kind == "stop":
                payload.set()
                return
            try:
                self.handle, self.error = self.factory(payload), None
            except Exception as exc:
                self.handle, self.error = None, str(exc) or type(exc).__name__
            self.generation += 1


STYLE_CELL = 21
"""Characters of the turn log's style cell that stay on screen at 80 columns: the log is 35
columns wide there (the status panel has the rest), less the # and answer columns and the
cells' padding (``tests/ui/test_dashboard.py`` measures it)."""


def style_cell(style: str, mode: str, width: int = STYLE_CELL) -> str:
    """The turn log's style cell, "style/mode" ("deutsch/cont"), at most ``width`` characters
    where it can be: a blended style ("scottish + 0.50 chorale") is written compactly
    ("scot+chor .50/cont"): each name cut to its first four letters, the weight without its 0."""
    cell = f"{style}/{mode[:4]}"
    if len(cell) <= width:
        return cell
    words = [w[:4] if w.isalpha() else w.removeprefix("0") for w in style.split()]
    compact = " ".join(words).replace(" + ", "+")
    if "+" in compact:  # "scot+.50 chor" reads better as "scot+chor .50"
        first, rest = compact.split("+", 1)
        weight, _, partner = rest.partition(" ")
        compact = f"{first}+{partner} {weight}" if partner else compact
    return f"{compact}/{mode[:4]}"[:width]
