"""Detached playing read as meant: a gap shorter than a 16th after a note belongs to the note.

A phrase played with a 90% gate, or humanised by a few milliseconds, leaves small silences
between notes that the player did not mean as rests. Files (:mod:`livemelody.midi.files`)
and the live call (:mod:`livemelody.live.call`) both apply this one rule before a melody
becomes tokens (LSTM) or events (VAE), so a detached phrase gives the same tokens as its
legato original.
"""

from __future__ import annotations

from collections.abc import Sequence

DETACHED_GAP_STEPS = 1.0
"""Longest silence after a note, in 16th steps (exclusive), that still belongs to the note."""


def legato_end(end: float, next_onset: float | None) -> float:
    """End of a note (steps) given the next onset after it (steps; None if none): the next
    onset when the silence between is shorter than ``DETACHED_GAP_STEPS``, else ``end``."""
    if next_onset is not None and 0 < next_onset - end < DETACHED_GAP_STEPS:
        return next_onset
    return end


def legato_ends(spans: Sequence[tuple[float, float]]) -> list[float]:
    """Ends of ``spans`` ((onset, end) in steps, any order) after :func:`legato_end`, each
    against the first onset later than its own; O(n log n)."""
    onsets = sorted({onset for onset, _ in spans})
    index = {onset: i for i, onset in enumerate(onsets)}
    ends = []
    for onset, end in spans:
        i = index[onset] + 1
        ends.append(legato_end(end, onsets[i] if i < len(onsets) else None))
    return ends
