"""Engine settings and the MIDI control map, as frozen dataclasses (changed by replacing).

Units: tempo in BPM (quarter notes per minute), lengths in beats, bars or 16th steps as the
names say, channels 0-15, controller numbers 0-127.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

MODES = ("continue", "vary")
ANSWER_STARTS = ("step", "beat", "bar")
CLOCK_SOURCES = ("internal", "external")


DEFAULT_STYLE = "deutsch"
"""The style played when none is chosen (and when a saved one is no longer installed)."""


@dataclass(frozen=True)
class ControlMap:
    """Controller numbers that steer the engine (None = unmapped).

    Defaults sit on CC 20-27, which General MIDI leaves undefined, so they clash with no synth.
    ``end_call`` ends the call at once; ``panic`` (value >= 64) silences everything.
    """

    temperature: int | None = 20
    style: int | None = 21
    mode: int | None = 22
    answer_bars: int | None = 23
    top_p: int | None = 24
    end_call: int | None = 25
    panic: int | None = 26
    amount: int | None = 27

    def __post_init__(self) -> None:
        used = [v for v in (getattr(self, f.name) for f in fields(self)) if v is not None]
        if any(not 0 <= v <= 127 for v in used):
            raise ValueError("controller numbers must be 0-127")
        if len(set(used)) != len(used):
            raise ValueError("two controls share one controller number")

    def lookup(self, number: int) -> str | None:
        """The control mapped to controller ``number``, if any."""
        for f in fields(self):
            if getattr(self, f.name) == number:
                return f.name
        return None


@dataclass(frozen=True)
class EngineConfig:
    """Everything the live engine needs to know; every field can be changed while playing."""

    style: str = DEFAULT_STYLE
    mode: str = "continue"
    temperature: float = 1.0
    top_p: float = 0.95
    amount: float = 3.0
    """Vary mode: how far variations stray, z = mean + amount * sigma * eps (0 = the call back).
    The shipped VAE changes little below 1 and about 15% of notes at 3 (docs/VAE.md)."""
    bpm: float = 100.0
    clock_source: str = "internal"
    beats_per_bar: int = 4
    input_channel: int | None = None
    """Listen to one channel (0-15) or all (None)."""
    include_drums: bool = False
    """Listening on all channels, also take channel 10 (General MIDI drums) as part of the call."""
    output_channel: int = 0
    metronome: bool = False
    metronome_channel: int = 9
    end_silence_beats: float = 1.0
    """The call ends after this much silence (beats)."""
    end_on_sustain_release: bool = False
    max_call_bars: int = 4
    min_call_steps: int = 4
    """Calls shorter than this (16th steps, first onset to last note end) are ignored."""
    answer_start: str = "beat"
    """The answer starts on the next ``step``, ``beat`` or ``bar`` after the call ends."""
    answer_bars: int | None = None
    """Answer length in bars; None = as long as the call."""
    stop_on_player: bool = True
    """The AI stops at once when the player starts a new call."""
    controls: ControlMap = field(default_factory=ControlMap)

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in MODES:
            problems.append(f"mode must be one of {', '.join(MODES)}")
        if self.answer_start not in ANSWER_STARTS:
            problems.append(f"answer start must be one of {', '.join(ANSWER_STARTS)}")
        if self.clock_source not in CLOCK_SOURCES:
            problems.append(f"clock must be one of {', '.join(CLOCK_SOURCES)}")
        if not (
            isinstance(self.temperature, (int, float)) and math.isfinite(self.temperature) and self.temperature >= 0
        ):
            problems.append("temperature must be a finite number >= 0")
        if not 0 < self.top_p <= 1:
            problems.append("top-p must be in (0, 1]")
        if not (isinstance(self.amount, (int, float)) and 0 <= self.amount <= 8):
            problems.append("variation amount must be 0-8")
        if not 20 <= self.bpm <= 400:
            problems.append("tempo must be 20-400 BPM")
        if not 1 <= self.beats_per_bar <= 16:
            problems.append("beats per bar must be 1-16")
        for name in ("output_channel", "metronome_channel"):
            if not 0 <= getattr(self, name) <= 15:
                problems.append(f"{name.replace('_', ' ')} must be 0-15")
        if self.input_channel is not None and not 0 <= self.input_channel <= 15:
            problems.append("input channel must be 0-15")
        if not 0.25 <= self.end_silence_beats <= 16:
            problems.append("end silence must be 0.25-16 beats")
        if not 1 <= self.max_call_bars <= 64:
            problems.append("max call length must be 1-64 bars")
        if self.answer_bars is not None and not 1 <= self.answer_bars <= 64:
            problems.append("answer length must be 1-64 bars")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def steps_per_beat(self) -> int:
        return 4

    @property
    def steps_per_bar(self) -> int:
        return 4 * self.beats_per_bar

    def changed(self, **changes) -> EngineConfig:
        """A validated copy with ``changes`` applied."""
        return replace(self, **changes)
