"""Logits -> one token id: temperature, top-k, top-p (nucleus), seeded; no model knowledge.

Temperature 0 is greedy (argmax). Invalid settings raise :class:`ValueError` when the
:class:`SamplingParams` is built, so a bad value is reported before any note is played.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SamplingParams:
    """``temperature`` >= 0 (0 = greedy); ``top_k`` >= 0 (0 = off); ``top_p`` in (0, 1] (1 = off)."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if (
            not isinstance(self.temperature, (int, float))
            or not math.isfinite(self.temperature)
            or self.temperature < 0
        ):
            raise ValueError(f"temperature must be a finite number >= 0, not {self.temperature!r}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise ValueError(f"top-k must be a whole number >= 0, not {self.top_k!r}")
        if not isinstance(self.top_p, (int, float)) or not (0 < self.top_p <= 1):
            raise ValueError(f"top-p must be in (0, 1], not {self.top_p!r}")


def sample(
    logits: np.ndarray,
    params: SamplingParams,
    rng: np.random.Generator,
    banned: Sequence[int] = (),
) -> int:
    """Draw one id from ``logits`` [vocab] (unnormalised log-probabilities).

    ``banned`` ids are never drawn (e.g. the song delimiter during a continuation).
    Raises :class:`ValueError` if the logits hold NaN or infinity.
    """
    scores = np.array(logits, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(scores)):
        raise ValueError("model produced non-finite logits")
    if len(banned):
        scores[list(banned)] = -np.inf
    if params.temperature == 0:
        return int(np.argmax(scores))
    scores = scores / params.temperature
    if params.top_k and params.top_k < scores.size:
        threshold = np.partition(scores, -params.top_k)[-params.top_k]
        scores[scores < threshold] = -np.inf
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    if params.top_p < 1.0:
        order = np.argsort(-probs, kind="stable")
        cumulative = np.cumsum(probs[order])
        keep = int(np.searchsorted(cumulative, params.top_p)) + 1  # smallest set reaching top_p
        mask = np.zeros_like(probs)
        mask[order[:keep]] = 1.0
        probs *= mask
        probs /= probs.sum()
    cumulative = np.cumsum(probs)
    index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return min(index, probs.size - 1)
