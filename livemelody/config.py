"""Every live setting, declared once, and the engine's configuration built from that table.

:data:`SETTINGS` holds one :class:`Setting` per live setting: name, type, range, default, unit,
controller (CC) mapping, dashboard keys and step, command-line option and help. Everything
else derives from it: :class:`EngineConfig` (a frozen dataclass whose fields and validation
come from the table), :class:`ControlMap` (the CC map), the dashboard's key bindings and
hints (:mod:`livemelody.ui.logic`), the command-line options (:mod:`livemelody.cli`) and the
settings file (:mod:`livemelody.settings`). ``tests/test_settings_table.py`` checks that every
setting appears everywhere it should, with the same range.

Adding a live setting is one entry here plus its effect in the engine.

Units: tempo in BPM (quarter notes per minute), lengths in beats, bars or 16th steps as the
names say, channels 0-15 inside (1-16 where a person reads or types them), controller
numbers 0-127.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from livemelody.encoding.vocab import STEPS_PER_QUARTER

DEFAULT_STYLE = "deutsch"
"""The style played when none is chosen (and when a saved one is no longer installed)."""
DEFAULT_BLEND_WITH = "han"
"""The style blended in when none is chosen (the ``blend`` setting decides how much; 0 by default)."""
CC_MAX = 127
METERS = ("2/4", "3/4", "4/4", "5/4", "6/8", "9/8", "12/8")
"""The meters offered: x/4 counts quarter-note beats; x/8 is compound (6/8: two dotted-quarter
beats of three eighths). The tempo (BPM) always counts quarter notes."""
"""Highest controller value and number (MIDI 1.0: 7-bit data bytes)."""


@dataclass(frozen=True)
class Setting:
    """One live setting.

    ``kind`` is bool, int, float or str. Numbers range over ``low..high`` (inclusive); a str
    takes one of ``choices`` (empty for ``style``: the installed styles, known at run time).
    ``none`` names what None means ("all" channels, as long as the "call"); settings without
    it cannot be None. ``one_based`` settings (MIDI channels) are stored 0-15 and shown and
    typed 1-16. ``cc`` is the default controller number (None: no knob); ``keys`` the
    dashboard keys ("t T": up and down; one key: next choice, or toggle), ``step`` their step.
    ``flag`` is the command-line option; ``label`` the dashboard row (empty: not shown there),
    ``short`` its name in the footer and on the knobs line.
    """

    name: str
    kind: type
    default: Any
    help: str
    unit: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    none: str | None = None
    one_based: bool = False
    flag: str | None = None
    cc: int | None = None
    keys: str = ""
    step: float | None = None
    label: str = ""
    short: str = ""
    """A short name for the dashboard's footer and knobs line ("Temp")."""
    none_shown: str = ""
    """How the dashboard shows None, where ``none`` alone would not say it ("as long as the call")."""
    live: bool = True
    """False: chosen when the engine starts (the command line, the settings file), fixed while it plays."""

    # ---- validation --------------------------------------------------------------------
    def problem(self, value) -> str | None:
        """Why ``value`` is not valid for this setting (one phrase), or None if it is."""
        if value is None:
            return None if self.none is not None else f"{self.name} cannot be none"
        if self.kind is bool:
            return None if isinstance(value, bool) else f"{self.name} must be true or false"
        if self.kind is str:
            if not isinstance(value, str):
                return f"{self.name} must be text"
            if self.choices and value not in self.choices:
                return f"{self.name} must be one of {', '.join(self.choices)}"
            return None
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not numeric or (self.kind is int and not float(value).is_integer()) or not math.isfinite(value):
            return f"{self.name} must be a {'whole number' if self.kind is int else 'number'}"
        if not self.low <= value <= self.high:
            return f"{self.name} must be {self.range_text()}"
        return None

    def range_text(self) -> str:
        """The range as a person reads it: "0-2", "1-16 (or all)", "continue, vary"."""
        if self.kind is bool:
            return "on or off"
        if self.kind is str:
            return ", ".join(self.choices) if self.choices else "an installed style"
        offset = 1 if self.one_based else 0
        text = f"{_number_text(self.low + offset)}-{_number_text(self.high + offset)}"
        return f"{text} or {self.none}" if self.none else text

    # ---- the effects of a knob and a key -----------------------------------------------
    def from_cc(self, value: int, styles: tuple[str, ...] = ()):
        """The setting's value for controller value ``value`` (0-127): numbers spread linearly
        over their range (an optional one is None at 0), choices in equal slices, a switch is
        on from 64 (MIDI 1.0's on/off controllers)."""
        value = min(CC_MAX, max(0, int(value)))
        if self.kind is bool:
            return value >= 64
        if self.kind is str:
            options = self.choices or tuple(styles)
            return options[min(len(options) - 1, value * len(options) // (CC_MAX + 1))]
        if self.none is not None:
            if value == 0:
                return None
            fraction = (value - 1) / (CC_MAX - 1)
        else:
            fraction = value / CC_MAX
        result = self.low + fraction * (self.high - self.low)
        return int(round(result)) if self.kind is int else round(result, 3)

    def stepped(self, value, direction: int, styles: tuple[str, ...] = ()):
        """``value`` moved one dashboard step in ``direction`` (+1 / -1), within the range: a
        number by ``step`` (an optional one goes to None below ``low``), a choice to the
        next one (wrapping), a switch toggled."""
        if self.kind is bool:
            return not value
        if self.kind is str:
            options = list(self.choices or styles) or [value]
            index = options.index(value) if value in options else -1
            return options[(index + direction) % len(options)]
        if value is None:
            return self.low if direction > 0 else None
        moved = value + direction * self.step
        if moved < self.low:
            return None if self.none is not None else self.kind(self.low)
        moved = min(self.high, moved)
        return int(moved) if self.kind is int else round(moved, 3)

    def show(self, value) -> str:
        """``value`` as the dashboard and messages show it ("1.00", "on", "all", "2 bars")."""
        if value is None:
            return self.none_shown or self.none or "none"
        if self.kind is bool:
            return "on" if value else "off"
        if self.kind is float:
            text = f"{value:.2f}"
        else:
            text = str(value + 1 if self.one_based else value)
        return f"{text} {self.unit}" if self.unit else text


def _number_text(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Action:
    """A control that does something once rather than holding a value (value >= 64 acts)."""

    name: str
    cc: int | None
    help: str


# fmt: off
SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("temperature", float, 1.0, "sampling temperature (0 = always the likeliest note)",
            low=0.0, high=2.0, flag="--temperature", cc=20, keys="t T", step=0.1, label="temperature", short="Temp"),
    Setting("top_p", float, 0.95, "nucleus sampling: keep the likeliest notes up to this probability mass",
            low=0.5, high=1.0, flag="--top-p", cc=24, keys="p P", step=0.05, label="top-p", short="Top-p"),
    Setting("stm_weight", float, 0.1, "short-term model: prior weight of a PPM of the call and answer so far, "
            "mixed into the LSTM's next-step distribution; at each step the surer of the two counts more than its "
            "prior (IDyOM's entropy weighting; 0 = the LSTM alone, 1 = the PPM alone; docs/EVALUATION.md, ppm)",
            low=0.0, high=1.0, flag="--stm-weight"),
    Setting("style", str, DEFAULT_STYLE, "model style (see `livemelody styles`)",
            flag="--style", cc=21, keys="s", label="style", short="Style"),
    Setting("blend", float, 0.0, "style blend (continue mode): how much of the 'blend with' style's next-note "
            "distribution is mixed into the style's, every step (0 = the style alone, 1 = the other alone; "
            "docs/EVALUATION.md, Style blend)",
            low=0.0, high=1.0, flag="--blend", cc=30, keys="n N", step=0.1, label="blend", short="Blend"),
    Setting("blend_with", str, DEFAULT_BLEND_WITH, "the second style of the blend (see `livemelody styles`)",
            flag="--blend-with", cc=31, keys="w", label="blend with", short="With"),
    Setting("mode", str, "continue", "continue with the LSTM, or vary the call with the VAE",
            choices=("continue", "vary"), flag="--mode", cc=22, keys="m", label="mode", short="Mode"),
    Setting("amount", float, 0.3, "vary mode: how far variations stray, 0 = the call back, 1 = about 60% of "
            "its notes changed, evenly between (measured: docs/EVALUATION.md)",
            low=0.0, high=1.0, flag="--amount", cc=27, keys="v V", step=0.05, label="variation", short="Vary"),
    Setting("quote", float, 0.25, "continue mode: the chance that each pair of the answer's bars re-plays the call's "
            "bars in the same place, so the answer develops the call (0 = the LSTM alone; livemelody/form.py)",
            low=0.0, high=1.0, flag="--quote", cc=29, keys="f F", step=0.05, label="quote", short="Quote"),
    Setting("answer_bars", int, None, "answer length ('call': as long as the call)", unit="bars",
            low=1, high=16, none="call", none_shown="as long as the call", flag="--answer-bars", cc=23, keys="a A", step=1, label="answer",
            short="Answer"),
    Setting("end_silence_beats", float, 1.0, "silence that ends a call", unit="beats",
            low=0.25, high=16.0, flag="--end-silence", keys="e E", step=0.25, label="end silence", short="Silence"),
    Setting("metronome", bool, False, "click on the metronome channel (GM wood blocks)",
            flag="--metronome", keys="k", label="metronome", short="Metronome"),
    Setting("bpm", float, 100.0, "internal tempo", unit="BPM",
            low=20.0, high=400.0, flag="--bpm", keys="b B", step=5.0, short="BPM"),
    Setting("clock_source", str, "internal", "follow MIDI clock on the input with 'external'",
            choices=("internal", "external"), flag="--clock", live=False),
    Setting("meter", str, "4/4", "time signature: the grid's bars, the metronome, lengths in bars, the recording "
            "(x/8 is compound: its beat is a dotted quarter)",
            choices=METERS, flag="--meter", short="Meter"),
    Setting("key_confidence", float, 0.2, "a call whose key is less certain than this keeps the session's key "
            "(0 = always the call's own; a scale or tune scores about 0.3, a fragment of 2-4 notes under 0.16)",
            low=0.0, high=1.0, flag="--key-confidence"),
    Setting("input_channel", int, None, "listen to one MIDI channel",
            low=0, high=15, none="all", one_based=True, flag="--channel"),
    Setting("include_drums", bool, False, "listening on all channels, channel 10 (GM drums) is part of the call too",
            flag="--drums"),
    Setting("output_channel", int, 0, "answer on this MIDI channel",
            low=0, high=15, one_based=True, flag="--out-channel"),
    Setting("metronome_channel", int, 9, "the metronome's MIDI channel",
            low=0, high=15, one_based=True, flag="--metronome-channel"),
    Setting("end_on_sustain_release", bool, False, "releasing the sustain pedal ends the call",
            flag="--sustain-ends-call"),
    Setting("max_call_bars", int, 4, "a call ends after this many bars", unit="bars",
            low=1, high=64, flag="--max-call-bars"),
    Setting("min_call_steps", int, 4, "shorter calls (first onset to last note end) are ignored", unit="steps",
            low=1, high=64, flag="--min-call-steps"),
    Setting("answer_start", str, "beat", "the answer starts on the next step, beat or bar after the call",
            choices=("step", "beat", "bar"), flag="--answer-start"),
    Setting("stop_on_player", bool, True, "the AI stops at once when the player starts a new call",
            flag="--stop-on-play"),
    Setting("thru", bool, False, "MIDI thru: the player's notes go to the output too, on the thru channel",
            flag="--thru", keys="h", label="thru", short="Thru"),
    Setting("thru_channel", int, 1, "the MIDI channel of the player's notes at the output (MIDI thru)",
            low=0, high=15, one_based=True, flag="--thru-channel"),
)}
# fmt: on
"""Every live setting, in the order the dashboard and the settings file list them."""

# fmt: off
ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("end_call", 25, "end the call now and answer"),
    Action("panic", 26, "silence everything (note-offs, sustain off, All Notes Off, All Sound Off)"),
)}
# fmt: on
"""Controls that act once (value >= 64) instead of setting a value."""

KNOBS: tuple[str, ...] = tuple(s.name for s in SETTINGS.values() if s.cc is not None)
"""Settings a controller can move (and MIDI-learn can map), in table order."""


class _ControlMapBase:
    """Controller numbers that steer the engine (None = unmapped); fields from the table.

    Defaults sit on CC 20-27, which General MIDI leaves undefined, so they clash with no synth.
    """

    def __post_init__(self) -> None:
        used = [v for v in (getattr(self, f.name) for f in fields(self)) if v is not None]
        if any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= CC_MAX for v in used):
            raise ValueError("controller numbers must be 0-127")
        if len(set(used)) != len(used):
            raise ValueError("two controls share one controller number")

    def lookup(self, number: int) -> str | None:
        """The setting or action mapped to controller ``number``, if any."""
        for f in fields(self):
            if getattr(self, f.name) == number:
                return f.name
        return None


ControlMap = dataclasses.make_dataclass(
    "ControlMap",
    [(name, "int | None", field(default=SETTINGS[name].cc)) for name in KNOBS]
    + [(a.name, "int | None", field(default=a.cc)) for a in ACTIONS.values()],
    bases=(_ControlMapBase,),
    frozen=True,
)


class _EngineConfigBase:
    """Everything the live engine needs to know: one field per :data:`SETTINGS` entry, plus
    the control map. Invalid values raise ValueError naming every problem. Settings marked
    ``live`` change while playing, through the engine's ``set`` (the tempo at the next step);
    the others are fixed when the engine starts."""

    def __post_init__(self) -> None:
        problems = [p for s in SETTINGS.values() if (p := s.problem(getattr(self, s.name))) is not None]
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def steps_per_beat(self) -> int:
        return STEPS_PER_QUARTER

    @property
    def meter_fraction(self) -> tuple[int, int]:
        """The meter as (numerator, denominator): (6, 8)."""
        numerator, denominator = self.meter.split("/")
        return int(numerator), int(denominator)

    @property
    def steps_per_bar(self) -> int:
        """16th steps in a bar: 16 in 4/4, 12 in 3/4 and 6/8."""
        numerator, denominator = self.meter_fraction
        return numerator * STEPS_PER_QUARTER * 4 // denominator

    @property
    def steps_per_pulse(self) -> int:
        """16th steps in one beat of the meter (metronome clicks, "answer on the beat"): a
        quarter note in x/4, a dotted quarter in compound x/8 (6 steps)."""
        return STEPS_PER_QUARTER if self.meter_fraction[1] == 4 else STEPS_PER_QUARTER * 3 // 2

    @property
    def beats_per_bar(self) -> int:
        """Beats of the meter in a bar (3 in 3/4, 2 in 6/8): the metronome's clicks."""
        return self.steps_per_bar // self.steps_per_pulse

    def changed(self, **changes):
        """A validated copy with ``changes`` applied."""
        return replace(self, **changes)


_ANNOTATIONS = {bool: "bool", int: "int", float: "float", str: "str"}

EngineConfig = dataclasses.make_dataclass(
    "EngineConfig",
    [
        (s.name, _ANNOTATIONS[s.kind] + (" | None" if s.none else ""), field(default=s.default))
        for s in SETTINGS.values()
    ]
    + [("controls", "ControlMap", field(default_factory=ControlMap))],
    bases=(_EngineConfigBase,),
    frozen=True,
)
for _cls, _base in ((EngineConfig, _EngineConfigBase), (ControlMap, _ControlMapBase)):
    _cls.__module__, _cls.__doc__ = __name__, _base.__doc__  # pickled by name (make_dataclass's module= is 3.12+)
