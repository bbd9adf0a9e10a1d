"""The metronome: a click on every beat, accented on the downbeat (General MIDI wood blocks)."""

from __future__ import annotations

from livemelody.clock import Grid
from livemelody.midi.spec import note_off, note_on

NOTES = (76, 77)
"""GM percussion: hi wood block on the downbeat, low wood block on the other beats."""
VELOCITY = 90
CLICK_SECONDS = 0.03
"""How long each click's note lasts."""


def clicks(
    step: int, steps_per_beat: int, beats_per_bar: int, channel: int, grid: Grid
) -> list[tuple[float, list[int]]]:
    """(due time in seconds, bytes) of the click that sounds at grid ``step`` (16th steps; step
    0 is a downbeat; a beat of the meter is ``steps_per_beat`` steps: 4 in x/4, 6 in compound
    x/8, see :attr:`EngineConfig.steps_per_pulse`): a note-on and its note-off ``CLICK_SECONDS`` later if ``step`` starts a
    beat, nothing otherwise."""
    if step % steps_per_beat != 0:
        return []
    beat = step // steps_per_beat
    note = NOTES[0 if beat % beats_per_bar == 0 else 1]
    due = grid.time_of(step)
    return [(due, note_on(channel, note, VELOCITY)), (due + CLICK_SECONDS, note_off(channel, note))]
