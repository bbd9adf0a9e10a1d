"""Key detection (Krumhansl-Schmuckler) and transposition to the models' C major / A minor.

Training and runtime both use this module, so the model sees the same transposition
convention in both: major keys are moved to C, minor keys to A, by the smallest shift
(-6..+5 semitones), which keeps melodies near their original register.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from livemelody.encoding.melody import fold_pitch
from livemelody.events import Note

PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Krumhansl & Kessler (1982) probe-tone profiles, tonic first.
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def _rotations(profile: np.ndarray) -> np.ndarray:
    """[12, 12] matrix: row t is the profile with its tonic on pitch class t."""
    return np.stack([np.roll(profile, t) for t in range(12)])


_TEMPLATES = np.concatenate([_rotations(_MAJOR_PROFILE), _rotations(_MINOR_PROFILE)])  # [24, 12]
_TEMPLATES_CENTRED = _TEMPLATES - _TEMPLATES.mean(axis=1, keepdims=True)


@dataclass(frozen=True)
class Key:
    """A key: ``tonic`` pitch class (0 = C .. 11 = B) and ``mode`` ("major" or "minor")."""

    tonic: int
    mode: str

    def __str__(self) -> str:
        name = PITCH_CLASS_NAMES[self.tonic]
        return name if self.mode == "major" else name.lower() + "m"

    @property
    def reference_tonic(self) -> int:
        """Pitch class the models expect for this mode: C (0) for major, A (9) for minor."""
        return 0 if self.mode == "major" else 9


def _key_scores(pitches: Iterable[int], weights: Iterable[float] | None) -> np.ndarray | None:
    """Correlation of the melody's pitch-class histogram with each of the 24 key profiles
    (majors on C..B, then minors), or None where there is no evidence."""
    pitches = np.asarray(list(pitches), dtype=np.int64)
    w = np.ones(len(pitches)) if weights is None else np.asarray(list(weights), dtype=np.float64)
    if len(pitches) == 0 or w.sum() <= 0:
        return None
    if len(w) != len(pitches):
        raise ValueError("pitches and weights differ in length")
    histogram = np.bincount(pitches % 12, weights=w, minlength=12)
    centred = histogram - histogram.mean()
    denominator = np.linalg.norm(_TEMPLATES_CENTRED, axis=1) * np.linalg.norm(centred)
    if denominator.max() == 0:  # every pitch class equally weighted: no evidence
        return None
    return _TEMPLATES_CENTRED @ centred / np.where(denominator == 0, 1, denominator)


def _key_of(index: int) -> Key:
    return Key(index % 12, "major" if index < 12 else "minor")


def detect_key(pitches: Iterable[int], weights: Iterable[float] | None = None) -> Key:
    """Most likely key of a melody (Krumhansl-Schmuckler correlation).

    ``pitches`` are MIDI numbers; ``weights`` (same length, e.g. durations in steps) weight
    each note, 1 each if omitted. An empty melody gets C major.
    """
    scores = _key_scores(pitches, weights)
    return Key(0, "major") if scores is None else _key_of(int(np.argmax(scores)))


def key_confidence(pitches: Iterable[int], weights: Iterable[float] | None = None) -> tuple[Key, float]:
    """(:func:`detect_key`'s key, how sure it is): the best key's correlation minus the best
    correlation of a key that would transpose the melody differently (a relative major or
    minor transposes alike, so it is no rival), in 0..2; 0 for no evidence.

    Measured on these profiles: a scale or a tune of 5+ notes scores 0.25-0.37; fragments of
    1-4 notes (C-G, C-E-G, D-E-F#-G) 0.0-0.16.
    """
    pitches, weights = list(pitches), None if weights is None else list(weights)
    scores = _key_scores(pitches, weights)
    if scores is None:
        return Key(0, "major"), 0.0
    best = int(np.argmax(scores))
    shift = transposition_to_reference(_key_of(best))
    rivals = [s for i, s in enumerate(scores) if transposition_to_reference(_key_of(i)) != shift]
    return _key_of(best), float(scores[best] - max(rivals))


def transposition_to_reference(key: Key) -> int:
    """Semitones to add to move ``key`` to C major / A minor, in -6..+5."""
    shift = (key.reference_tonic - key.tonic) % 12
    return shift - 12 if shift > 5 else shift


def transpose(notes: Sequence[Note], semitones: int) -> list[Note]:
    """``notes`` moved by ``semitones``; a pitch pushed outside MIDI 0..127 moves back by octaves."""
    return [Note(fold_pitch(n.pitch + semitones, 0, 127), n.start, n.duration, n.velocity) for n in notes]


def to_reference(notes: Sequence[Note]) -> tuple[list[Note], Key, int]:
    """(``notes`` moved to C major / A minor, their detected key, the shift applied in semitones).

    The key is detected from duration-weighted pitches; ``transpose(moved, -shift)`` moves a
    result back to the player's key. Training and runtime both call this, so they agree.
    """
    key = detect_key([n.pitch for n in notes], [n.duration for n in notes])
    shift = transposition_to_reference(key)
    return transpose(notes, shift), key, shift
