"""The answer's dynamics: the call's velocity contour, stretched over the answer.

A call played getting louder is answered getting louder: each answer note takes the velocity
of the call at the same relative position (linear between the call's note-ons), instead of
one mean velocity for the whole answer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from livemelody.events import Note

Contour = tuple[tuple[float, ...], tuple[float, ...]]
"""(relative onsets in 0..1, velocities 1-127), in onset order."""


def contour(notes: Sequence[Note]) -> Contour:
    """The call's contour: each note-on's position in the call (0 = first onset, 1 = end of
    the last note) and its velocity. Raises ValueError for no notes."""
    if not notes:
        raise ValueError("a contour needs at least one note")
    first, end = notes[0].start, max(n.end for n in notes)
    length = max(1, end - first)
    ordered = sorted(notes, key=lambda n: n.start)
    return tuple((n.start - first) / length for n in ordered), tuple(float(n.velocity) for n in ordered)


def velocity_at(shape: Contour, position: float) -> int:
    """The velocity (1-127) at ``position`` (0..1 of the answer's length) of ``shape``."""
    onsets, velocities = shape
    return int(min(127, max(1, round(float(np.interp(position, onsets, velocities))))))
