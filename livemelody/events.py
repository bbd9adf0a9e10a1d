"""Small immutable values shared by every layer.

Times here are in grid steps (16th notes, ``STEPS_PER_QUARTER`` per quarter note) unless a
name says otherwise; pitches are MIDI note numbers 0-127.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
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


class Tag(str, Enum):
    """Who a MIDI event belongs to: the scheduler cancels by tag, the recorder files by tag,
    the piano roll colours by tag. A ``str`` enum: its value is the name written in files."""

    PLAYER = "player"
    AI = "ai"
    METRONOME = "metronome"
    PANIC = "panic"

    def __str__(self) -> str:
        return self.value


class RollNote(NamedTuple):
    """One note for a piano roll: ``source`` is :attr:`Tag.PLAYER` or :attr:`Tag.AI`; ``start``
    and ``end`` in grid steps (``end`` is None while the note still sounds); ``pitch`` a MIDI
    number."""

    source: Tag
    pitch: int
    start: int
    end: int | None
