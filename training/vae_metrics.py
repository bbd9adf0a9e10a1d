"""Held-out measures for the VAEs, on phrases of (pitch id, duration id) events.

Reconstruction (decoder output for z = mean, compared with the input phrase):

- ``pitch``, ``duration``: share of the phrase's real events (padding excluded) whose pitch
  id (a pitch or silence), resp. duration id, is exact;
- ``note``: share of real events where both are exact;
- ``phrase``: share of phrases whose real events are all exact (what a player hears: the
  output is trimmed back to the input's length).

Prior samples (z ~ N(0, I), decoded, trailing silence trimmed) against real phrases:
share of pitched events in the C major / A minor scale, share of valid durations, notes per
phrase, pitch range and melodic intervals (semitones between consecutive notes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from livemelody.encoding.phrase import PITCH_LOW, SILENCE, trim_padding

SCALE_PITCH_CLASSES = frozenset({0, 2, 4, 5, 7, 9, 11})
"""C major / A minor (the white keys)."""


def real_mask(lengths: np.ndarray, length: int) -> np.ndarray:
    """[n, length] True on each phrase's real events."""
    return np.arange(length)[None, :] < np.asarray(lengths)[:, None]


def reconstruction(pred_pitches, pred_durations, pitches, durations, lengths) -> dict[str, float]:
    """Exact pitch, duration, note and whole-phrase shares (0..1) over real events; see the module doc."""
    mask = real_mask(lengths, pitches.shape[1])
    p_ok, d_ok = (pred_pitches == pitches) & mask, (pred_durations == durations) & mask
    n_ok = p_ok & d_ok
    total = mask.sum()
    return {
        "pitch": float(p_ok.sum() / total),
        "duration": float(d_ok.sum() / total),
        "note": float(n_ok.sum() / total),
        "phrase": float(np.mean(n_ok.sum(1) == mask.sum(1))),
        "phrases": int(len(lengths)),
        "events": int(total),
    }


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance between two sequences (insert, delete, substitute: cost 1 each)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def melody_statistics(phrases: Sequence[Sequence[tuple[int, int]]], valid_durations: float = 1.0) -> dict[str, float]:
    """Scale, range and interval figures of event lists (trailing silence already trimmed).

    ``valid_durations`` is passed through (it depends on how the model emits durations).
    """
    in_scale = pitched = 0
    ranges, notes, intervals = [], [], []
    for events in phrases:
        pitches = [PITCH_LOW + p for p, _ in events if p != SILENCE]
        notes.append(len(pitches))
        pitched += len(pitches)
        in_scale += sum(p % 12 in SCALE_PITCH_CLASSES for p in pitches)
        if pitches:
            ranges.append(max(pitches) - min(pitches))
        intervals += [abs(b - a) for a, b in zip(pitches, pitches[1:])]
    steps = np.array(intervals) if intervals else np.zeros(0)
    return {
        "in_scale": in_scale / max(pitched, 1),
        "valid_durations": valid_durations,
        "notes_per_phrase": float(np.mean(notes)) if notes else 0.0,
        "pitch_range": float(np.mean(ranges)) if ranges else 0.0,
        "mean_abs_interval": float(steps.mean()) if steps.size else 0.0,
        "repeats": float(np.mean(steps == 0)) if steps.size else 0.0,
        "steps_1_2": float(np.mean((steps >= 1) & (steps <= 2))) if steps.size else 0.0,
        "leaps_5_up": float(np.mean(steps >= 5)) if steps.size else 0.0,
        "phrases": len(phrases),
    }


def phrase_events(
    pitches: np.ndarray, durations: np.ndarray, lengths: np.ndarray | None = None
) -> list[list[tuple[int, int]]]:
    """Event lists from id arrays [n, length]: cut to ``lengths`` if given, else trailing silence trimmed."""
    out = []
    for i in range(len(pitches)):
        events = [(int(p), int(d)) for p, d in zip(pitches[i], durations[i])]
        out.append(events[: int(lengths[i])] if lengths is not None else trim_padding(events))
    return out
