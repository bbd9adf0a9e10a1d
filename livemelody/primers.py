"""Built-in melodies (MIDI numbers, 16th steps), for examples, evaluation and the demo."""

from livemelody.encoding.bars import BarGrid
from livemelody.events import Note

# "Ah vous dirais-je maman" (Twinkle Twinkle), the seed's European primer: four 4/4 bars in C.
_TWINKLE = [
    (60, 4),
    (60, 4),
    (67, 4),
    (67, 4),
    (69, 4),
    (69, 4),
    (67, 8),
    (65, 4),
    (65, 4),
    (64, 4),
    (64, 4),
    (62, 4),
    (62, 4),
    (60, 8),
]


def _line(pitches_and_lengths, velocity: int = 80) -> list[Note]:
    notes, step = [], 0
    for pitch, length in pitches_and_lengths:
        notes.append(Note(pitch, step, length, velocity))
        step += length
    return notes


AH_VOUS_DIRAI_JE_MAMAN: list[Note] = _line(_TWINKLE)

PRIMER_GRID = BarGrid(16, 0)
"""The bar grid of the built-in primers: 4/4, the first note on a downbeat at step 0."""
"""Four bars of 4/4 at 16 steps a bar, C major, quarter notes and two half notes."""
