"""Note-level phrases for the VAEs: fixed-length windows of events from the prepared songs.

Songs come from :func:`training.dataset.load_songs` (transposed to C major / A minor, the
LSTM's song-level split), so no held-out song's phrase is ever trained on. Each song becomes
events with the runtime's own :func:`livemelody.encoding.phrase.notes_to_events`, then
windows of ``PHRASE_LENGTH`` events:

- training songs: a window every ``train_hop`` events (default ``TRAIN_HOP``: overlapping,
  more examples; the seed's VAEs get non-overlapping windows, each phrase once per epoch);
- validation and test songs: consecutive windows (hop = length), so each event is scored once.

A window needs at least ``MIN_EVENTS`` events; a shorter last window is padded, so the models
also learn the padding a short phrase from a player gets.

The seed's normalised encoding (:func:`seed_pitch_values`, :func:`seed_duration_values`):
pitch codes 50..97 and silence = 99 map to (code - 50) / 49, duration classes to class / 7,
both in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from livemelody.encoding import Vocabulary
from livemelody.encoding.phrase import (
    DURATION_STEPS,
    PITCH_LOW,
    SILENCE,
    SILENCE_CODE,
    notes_to_events,
    pad_events,
)
from training.dataset import Song, load_songs

PHRASE_LENGTH = 16
"""Events per phrase. The corpora average 3.09 (deutsch) and 2.32 (han) 16th steps per event,
so 16 events span about 49 and 37 steps: 3.1 and 2.3 bars of 4/4, inside the two to four bars
the issue asks for, for both styles (``python -m training.phrases`` prints these figures)."""
TRAIN_HOP = 1
"""A training window starts at every event, so each event is seen at every position (see
``training.train_vae.VaeConfig.train_hop`` for the figures behind it)."""
MIN_EVENTS = 4


@dataclass(frozen=True)
class Phrases:
    """A split's phrases: ``pitches`` and ``durations`` int64 [n, length] ids, ``lengths`` [n]
    real events per phrase (the rest is padding)."""

    pitches: np.ndarray
    durations: np.ndarray
    lengths: np.ndarray

    def __len__(self) -> int:
        return len(self.lengths)


def song_windows(song: Song, length: int, hop: int) -> list[list[tuple[int, int]]]:
    """Windows of ``length`` events every ``hop`` events, each with >= MIN_EVENTS events."""
    events = notes_to_events(song.notes)
    starts = range(0, max(len(events) - MIN_EVENTS + 1, 1), hop)
    return [events[s : s + length] for s in starts if len(events[s : s + length]) >= MIN_EVENTS]


def make_phrases(songs: list[Song], length: int, hop: int) -> Phrases:
    rows = [(*pad_events(window, length), len(window)) for song in songs for window in song_windows(song, length, hop)]
    if not rows:
        empty = np.zeros((0, length), dtype=np.int64)
        return Phrases(empty, empty.copy(), np.zeros(0, dtype=np.int64))
    pitches, durations, lengths = zip(*rows)
    return Phrases(np.stack(pitches), np.stack(durations), np.array(lengths))


def load_phrases(style: str, train_hop: int = TRAIN_HOP, tunes: int | None = None, length: int = PHRASE_LENGTH):
    """(phrases by split, corpus counts, songs by split) for ``style``; see the module doc."""
    splits, counts = load_songs(style, Vocabulary(), tunes)
    phrases = {
        name: make_phrases(songs, length, train_hop if name == "train" else length) for name, songs in splits.items()
    }
    return phrases, counts, splits


SCALE = (0, 2, 4, 5, 7, 9, 11)
"""Pitch classes of C major / A minor."""
DIATONIC_SHIFTS = tuple(range(-3, 4))
"""Scale steps a training phrase may be moved by (augmentation; 0 = unchanged)."""


def diatonic_table(steps: int) -> np.ndarray:
    """Pitch id -> pitch id moved by ``steps`` degrees of the C major scale, -1 where the result
    leaves the phrase range; a chromatic pitch moves with the degree below it; silence stays."""
    table = np.full(SILENCE + 1, -1, dtype=np.int64)
    table[SILENCE] = SILENCE
    for pitch_id in range(SILENCE):
        octave, pc = divmod(PITCH_LOW + pitch_id, 12)
        raised = pc not in SCALE
        degree = octave * 7 + SCALE.index(pc - raised) + steps
        moved = (degree // 7) * 12 + SCALE[degree % 7] + raised
        if PITCH_LOW <= moved < PITCH_LOW + SILENCE:
            table[pitch_id] = moved - PITCH_LOW
    return table


_TABLES = torch.from_numpy(np.stack([diatonic_table(k) for k in DIATONIC_SHIFTS]))


def diatonic_augment(pitches: torch.Tensor, probability: float, generator: torch.Generator) -> torch.Tensor:
    """Move each phrase [batch, length] by a random number of scale steps (-3..3) with
    ``probability``; a phrase that would leave the range stays as it is. The phrases stay in
    C major / A minor, so the pitch ids at each position vary more without leaving the scale."""
    n = pitches.shape[0]
    choice = torch.randint(0, len(DIATONIC_SHIFTS), (n,), generator=generator)
    unchanged = torch.full_like(choice, DIATONIC_SHIFTS.index(0))
    choice = torch.where(torch.rand(n, generator=generator) < probability, choice, unchanged)
    moved = _TABLES[choice.unsqueeze(1), pitches]
    return torch.where((moved < 0).any(1, keepdim=True), pitches, moved)


def seed_pitch_values(pitch_ids: np.ndarray) -> np.ndarray:
    """The seed's normalised pitch: code (50..97, silence 99) -> (code - 50) / 49, float32."""
    codes = np.where(pitch_ids == SILENCE, SILENCE_CODE, pitch_ids + PITCH_LOW)
    return ((codes - PITCH_LOW) / (SILENCE_CODE - PITCH_LOW)).astype(np.float32)


def seed_pitch_ids(values: np.ndarray) -> np.ndarray:
    """Inverse of :func:`seed_pitch_values` for network outputs: the nearest valid code
    (50..97 or silence 99; 98 and above read as silence), as pitch ids."""
    codes = np.rint(np.asarray(values, dtype=np.float64) * (SILENCE_CODE - PITCH_LOW) + PITCH_LOW)
    return np.where(codes >= SILENCE_CODE - 1, SILENCE, np.clip(codes, PITCH_LOW, SILENCE_CODE - 2) - PITCH_LOW).astype(
        np.int64
    )


def seed_duration_values(duration_ids: np.ndarray) -> np.ndarray:
    """The seed's normalised duration: class 0..7 -> class / 7, float32."""
    return (duration_ids / (len(DURATION_STEPS) - 1)).astype(np.float32)


def seed_duration_ids(values: np.ndarray) -> np.ndarray:
    """Inverse of :func:`seed_duration_values` for network outputs: the nearest class."""
    top = len(DURATION_STEPS) - 1
    return np.clip(np.rint(np.asarray(values, dtype=np.float64) * top), 0, top).astype(np.int64)


def steps_per_event(songs: dict[str, list[Song]]) -> float:
    """Mean length of an event (note or rest) in 16th steps over every song of every split."""
    steps = sum(s.notes[-1].end - s.notes[0].start for split in songs.values() for s in split)
    return steps / sum(len(notes_to_events(s.notes)) for split in songs.values() for s in split)


def main() -> None:
    """Print the figures behind PHRASE_LENGTH and the phrase counts per split."""
    from training.corpus import STYLE_SOURCES

    for style in STYLE_SOURCES:
        phrases, _, songs = load_phrases(style)
        per_event = steps_per_event(songs)
        print(
            f"{style}: {per_event:.2f} steps per event -> {PHRASE_LENGTH} events = {PHRASE_LENGTH * per_event:.0f} steps "
            f"= {PHRASE_LENGTH * per_event / 16:.1f} bars of 4/4; phrases "
            + ", ".join(f"{k} {len(v)}" for k, v in phrases.items())
        )


if __name__ == "__main__":
    main()
