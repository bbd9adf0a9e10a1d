"""Small immutable values shared by every layer.

Times here are in grid steps (16th notes, ``STEPS_PER_QUARTER`` per quarter note) unless a
name says otherwise; pitches are MIDI note numbers 0-127.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class Note:
    """One note on the 16th-note grid.

    ``start`` and ``duration`` are in steps (``duration`` >= 1); ``pitch`` and ``velocity``
    are MIDI numbers (0-127).
    """

    pitch: int
    start: int
    duration: int
    velocity: int = 80

    @property
    def end(self) -> int:
        """First step after the note (exclusive end), in steps."""
        return self.start + self.duration


PLAYER, AI_SOURCE = "player", "ai"


class RollNote(NamedTuple):
    """One note for a piano roll: ``source`` is "player" or "ai"; ``start`` and ``end`` in
    grid steps (``end`` is None while the note still sounds); ``pitch`` a MIDI number."""

    source: str
    pitch: int
    start: int
    end: int | None
