"""Held-out measures shared by every model and baseline.

Each model supplies, for every song, a matrix of next-token probabilities ``[T, vocab]``
(row t predicts ``sequence[t + 1]``) and the targets. The measures:

- ``nll_nats``: mean negative log-likelihood per step (every predicted token, the song's
  closing delimiter included), in nats;
- ``pitch_accuracy``: on steps where a note starts, how often the most probable pitch (among
  pitch tokens only) is the actual pitch; ties count as 1/(number tied), so a uniform model
  scores 1/(number of pitches);
- ``pitch_bits``: on the same steps, -log2 of the actual pitch's probability among pitches,
  i.e. p(pitch) / sum of p over pitch tokens: IDyOM's cross-entropy in bits per note.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from livemelody.encoding.vocab import FIRST_PITCH_ID

_FLOOR = 1e-12


@dataclass
class MetricAccumulator:
    """Sums over songs; :meth:`result` gives the means."""

    nll_sum: float = 0.0
    steps: int = 0
    pitch_hits: float = 0.0
    pitch_bits_sum: float = 0.0
    notes: int = 0
    extra: dict = field(default_factory=dict)

    def add(self, probs: np.ndarray, targets: np.ndarray) -> None:
        """Add one song: ``probs`` [T, V] (rows sum to 1), ``targets`` [T] token ids."""
        probs = np.asarray(probs, dtype=np.float64)
        targets = np.asarray(targets, dtype=np.int64)
        rows = np.arange(len(targets))
        self.nll_sum += float(-np.log(np.maximum(probs[rows, targets], _FLOOR)).sum())
        self.steps += len(targets)
        onset = targets >= FIRST_PITCH_ID
        if not onset.any():
            return
        pitch_probs = probs[onset][:, FIRST_PITCH_ID:]
        actual = targets[onset] - FIRST_PITCH_ID
        in_pitch = pitch_probs / np.maximum(pitch_probs.sum(axis=1, keepdims=True), _FLOOR)
        p_actual = in_pitch[np.arange(len(actual)), actual]
        self.pitch_bits_sum += float(-np.log2(np.maximum(p_actual, _FLOOR)).sum())
        best = pitch_probs.max(axis=1, keepdims=True)
        is_best = np.isclose(pitch_probs, best, rtol=1e-9, atol=0)
        hit = is_best[np.arange(len(actual)), actual]
        self.pitch_hits += float((hit / is_best.sum(axis=1)).sum())
        self.notes += int(onset.sum())

    def result(self) -> dict[str, float]:
        return {
            "nll_nats": self.nll_sum / max(self.steps, 1),
            "pitch_accuracy": self.pitch_hits / max(self.notes, 1),
            "pitch_bits": self.pitch_bits_sum / max(self.notes, 1),
            "steps": self.steps,
            "notes": self.notes,
        }
