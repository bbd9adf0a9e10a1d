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

    One ``rng.random()`` per draw, on the cumulative distribution in id order. The arithmetic
    works in place with ndarray methods rather than numpy's function wrappers: at a vocabulary
    of 45 the cost is the number of numpy calls, not the arithmetic (21.7 -> 13.9 us a draw,
    and a 64-step continuation p50 6.3 -> 5.3 ms, measured side by side), and every draw is
    the same as before for the same seed (``tests/test_sampling.py`` checks it against the
    straightforward version).
    """
    scores = np.array(logits, dtype=np.float64).reshape(-1)
    if not math.isfinite(scores.sum()):  # a sum of finite float32 values cannot overflow float64
        raise ValueError("model produced non-finite logits")
    if len(banned):
        scores[list(banned)] = -np.inf
    if params.temperature == 0:
        return int(scores.argmax())
    scores /= params.temperature
    if params.top_k and params.top_k < scores.size:
        threshold = np.partition(scores, -params.top_k)[-params.top_k]
        scores[scores < threshold] = -np.inf
    scores -= scores.max()
    probs = np.exp(scores, out=scores)
    probs /= probs.sum()
    if params.top_p < 1.0:
        order = (-probs).argsort(kind="stable")
        cumulative = probs[order].cumsum()
        keep = int(cumulative.searchsorted(params.top_p)) + 1  # smallest set reaching top_p
        probs[order[keep:]] = 0.0
        probs /= probs.sum()
    cumulative = probs.cumsum()
    index = int(cumulative.searchsorted(rng.random() * cumulative[-1], side="right"))
    return min(index, probs.size - 1)
