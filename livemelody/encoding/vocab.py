"""The token vocabulary shared by every style, so styles can be mixed later.

Id layout (documented here once, recorded in every model's metadata as ``symbols``):

=====  ==========  ==========================================================
id     symbol      meaning
=====  ==========  ==========================================================
0      ``/``       song delimiter: starts every sequence, ends every song
1      ``r``       a rest starts on this step
2      ``_``       hold: the previous note or rest goes on through this step
3 ...  ``"60"``    a note of that MIDI pitch starts on this step, one id per
                   pitch from ``low`` to ``high`` inclusive
=====  ==========  ==========================================================

One token is one 16th-note step (``STEPS_PER_QUARTER`` = 4 steps per quarter note).
"""

from __future__ import annotations

from dataclasses import dataclass

STEPS_PER_QUARTER = 4
"""Grid resolution: steps per quarter note (16th notes)."""

DELIMITER = "/"
REST = "r"
HOLD = "_"

DELIMITER_ID = 0
REST_ID = 1
HOLD_ID = 2
FIRST_PITCH_ID = 3

DEFAULT_LOW = 48
"""Lowest MIDI pitch of the shipped vocabulary (C3). Chosen from the corpus: see docs/DATA.md."""
DEFAULT_HIGH = 89
"""Highest MIDI pitch of the shipped vocabulary (F6)."""


@dataclass(frozen=True)
class Vocabulary:
    """Tokens <-> ids for pitches ``low``..``high`` (MIDI numbers, inclusive) plus 3 controls."""

    low: int = DEFAULT_LOW
    high: int = DEFAULT_HIGH

    def __post_init__(self) -> None:
        if not (0 <= self.low <= self.high <= 127):
            raise ValueError(f"bad pitch range {self.low}..{self.high}: need 0 <= low <= high <= 127")
        if self.high - self.low < 11:
            raise ValueError(f"pitch range {self.low}..{self.high} is narrower than an octave")

    @property
    def size(self) -> int:
        """Number of ids."""
        return FIRST_PITCH_ID + self.high - self.low + 1

    @property
    def symbols(self) -> list[str]:
        """Symbol of every id, in id order."""
        return [DELIMITER, REST, HOLD] + [str(p) for p in range(self.low, self.high + 1)]

    def pitch_id(self, pitch: int) -> int:
        """Id of a note onset at MIDI ``pitch`` (must lie in range: fold first)."""
        if not self.low <= pitch <= self.high:
            raise ValueError(f"pitch {pitch} outside the vocabulary's range {self.low}..{self.high}")
        return FIRST_PITCH_ID + pitch - self.low

    def is_pitch(self, token_id: int) -> bool:
        """True for the id of a note onset."""
        return FIRST_PITCH_ID <= token_id < self.size

    def pitch_of(self, token_id: int) -> int:
        """MIDI pitch of a note-onset id."""
        if not self.is_pitch(token_id):
            raise ValueError(f"id {token_id} is not a pitch")
        return token_id - FIRST_PITCH_ID + self.low

    @classmethod
    def from_symbols(cls, symbols: list[str]) -> Vocabulary:
        """Rebuild from a metadata ``symbols`` list, checking it has this module's layout."""
        if len(symbols) < FIRST_PITCH_ID + 12 or symbols[:FIRST_PITCH_ID] != [DELIMITER, REST, HOLD]:
            raise ValueError(f"unknown vocabulary layout: {symbols[:6]}...")
        try:
            pitches = [int(s) for s in symbols[FIRST_PITCH_ID:]]
        except ValueError as exc:
            raise ValueError(f"bad pitch symbol in vocabulary: {exc}") from None
        vocab = cls(pitches[0], pitches[-1])
        if vocab.symbols != list(symbols):
            raise ValueError("vocabulary pitches are not a contiguous ascending range")
        return vocab
