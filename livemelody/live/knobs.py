"""What a control change on the input means: a setting moved, an action, or the sustain pedal.

The controller numbers come from the configuration's :class:`~livemelody.config.ControlMap`,
the value each position gives from the settings table (:meth:`Setting.from_cc`). Nothing here
changes the engine: :meth:`Knobs.handle` says what to do, the engine does it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from livemelody.config import ACTIONS, SETTINGS, EngineConfig
from livemelody.midi.spec import SUSTAIN

SUSTAIN_RELEASE = "sustain_release"
"""The action a released sustain pedal gives (the engine ends the call where configured)."""
ON = 64
"""Switch controllers and actions are on from this value (MIDI 1.0)."""


@dataclass(frozen=True)
class KnobEffect:
    """``changes`` for the engine's ``set`` (may be empty), or an ``action`` name
    (:data:`~livemelody.config.ACTIONS`, or :data:`SUSTAIN_RELEASE`)."""

    changes: dict = field(default_factory=dict)
    action: str | None = None


class Knobs:
    """Reads control changes; remembers the pedal and the last CC (for MIDI-learn)."""

    def __init__(self) -> None:
        self.sustain = False
        self.last_cc: tuple[int, int] | None = None
        """(controller number, value) of the last control change seen."""
        self.cc_count = 0
        """How many control changes the input has carried (tells a repeated CC from none)."""

    def handle(self, number: int, value: int, config: EngineConfig, styles: tuple[str, ...]) -> KnobEffect | None:
        """The effect of controller ``number`` moving to ``value`` (0-127), or None."""
        self.last_cc = (number, value)
        self.cc_count += 1
        if number == SUSTAIN:
            released = self.sustain and value < ON
            self.sustain = value >= ON
            return KnobEffect(action=SUSTAIN_RELEASE) if released else None
        control = config.controls.lookup(number)
        if control is None:
            return None
        if control in ACTIONS:
            return KnobEffect(action=control) if value >= ON else None
        return KnobEffect(changes={control: SETTINGS[control].from_cc(value, styles)})
