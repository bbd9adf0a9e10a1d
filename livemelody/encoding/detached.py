"""Detached playing read as meant: a gap shorter than a 16th after a note belongs to the note.

A phrase played with a 90% gate, or humanised by a few milliseconds, leaves small silences
before the next step that the player did not mean as rests. The rule, in one place for files
(:mod:`livemelody.midi.files`) and the live call (:mod:`livemelody.live.call`), for the LSTM's
tokens and the VAE's events alike: a note-off ends its note on the first step boundary at or
after it, unless it comes at most ``LATE_RELEASE_STEPS`` after the previous boundary (a legato
note released a few milliseconds late does not gain a step). Onsets are quantised to the
nearest step, so when the next note starts on the grid, any silence shorter than
``1 - LATE_RELEASE_STEPS`` of a 16th before it is part of the note.

It is causal: the end is known at the note-off, so the live tracker gives each step's token
as soon as the step is final, exactly as the file path gives it.
"""

from __future__ import annotations

import math

LATE_RELEASE_STEPS = 0.1
"""How late (in 16th steps) a note-off may come after a step boundary and still end the note
there: 10 ms at 150 BPM, the jitter of a humanised or live performance."""


def release_step(end: float) -> int:
    """The step (an int) a note-off at ``end`` (fractional steps) ends its note on: the first
    step boundary at or after ``end - LATE_RELEASE_STEPS``. An int ``end`` is returned as is."""
    return math.ceil(end - LATE_RELEASE_STEPS)
