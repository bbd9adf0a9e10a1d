"""Logits -> one token id: temperature, top-k, top-p (nucleus), seeded; no model knowledge.

Temperature 0 is greedy (argmax). Invalid settings raise :class:`ValueError` when the
:class:`SamplingParams` is built, so a bad value is reported before any note is played.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

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
    works in place with ndarray methods rather than numpy's function wrappers, and nothing is
    normalised that a cumulative sum's last value can stand for: at a vocabulary of 45 the
    cost is the number of numpy calls, not the arithmetic (21.7 -> 13.9 us a draw with the
    in-place methods, measured side by side when they came in), and the draws are those of the
    straightforward version for the same seed (``tests/test_sampling.py`` checks it).
    """
    scores = np.array(logits, dtype=np.float64).reshape(-1)
    if not math.isfinite(scores.sum()):  # a sum of finite float32 values cannot overflow float64
        raise ValueError("model produced non-finite logits")
    for index in banned:
        scores[index] = -np.inf
    if params.temperature == 0:
        return int(scores.argmax())
    if params.temperature != 1:
        scores /= params.temperature
    if params.top_k and params.top_k < scores.size:
        threshold = np.partition(scores, -params.top_k)[-params.top_k]
        scores[scores < threshold] = -np.inf
    scores -= scores.max()
    return _draw(np.exp(scores, out=scores), params.top_p, rng)


def sample_probabilities(
    probs: np.ndarray,
    params: SamplingParams,
    rng: np.random.Generator,
    banned: Sequence[int] = (),
) -> int:
    """Draw one id from a distribution given as probabilities [vocab] (>= 0, any positive
    total), such as a mixture of models (:meth:`livemelody.ppm.TokenStm.distribution`).

    The same draw as :func:`sample` on ``log(probs)`` up to rounding: temperature ``T`` raises
    the probabilities to ``1 / T`` (``exp(log p / T)``), then top-k, top-p and one
    ``rng.random()`` on the cumulative distribution in id order, with no log and exp in
    between. Raises :class:`ValueError` for a negative, NaN or infinite probability or an
    all-zero distribution (once ``banned`` ids are taken out)."""
    probs = np.array(probs, dtype=np.float64).reshape(-1)
    total = probs.sum()
    if not math.isfinite(total) or probs.min() < 0:
        raise ValueError("the distribution holds a negative or non-finite probability")
    for index in banned:
        probs[index] = 0.0
    largest = probs.max()
    if not largest > 0:
        raise ValueError("the distribution has no probability left to draw from")
    if params.temperature == 0:
        return int(probs.argmax())
    if params.temperature != 1:
        probs /= largest  # the largest becomes 1: the power can neither overflow nor lose it
        probs **= 1.0 / params.temperature
    if params.top_k and params.top_k < probs.size:
        threshold = np.partition(probs, -params.top_k)[-params.top_k]
        probs[probs < threshold] = 0.0
    return _draw(probs, params.top_p, rng)


class Mixture(Protocol):
    """Something mixed into a model's distribution (the short-term model,
    :class:`~livemelody.ppm.TokenStm`)."""

    def distribution(self, logits: np.ndarray) -> np.ndarray: ...


def sample_mixed(
    logits: np.ndarray,
    params: SamplingParams,
    rng: np.random.Generator,
    banned: Sequence[int] = (),
    mixture: Mixture | None = None,
) -> int:
    """:func:`sample` on ``logits`` [vocab], or with a ``mixture``
    :func:`sample_probabilities` on ``mixture.distribution(logits)``."""
    if mixture is None:
        return sample(logits, params, rng, banned)
    return sample_probabilities(mixture.distribution(logits), params, rng, banned)


def _draw(probs: np.ndarray, top_p: float, rng: np.random.Generator) -> int:
    """One id from ``probs`` [vocab] (>= 0, not normalised; changed in place): the smallest
    set of most probable ids whose mass reaches ``top_p`` of the total, then one
    ``rng.random()`` on the cumulative sum in id order."""
    if top_p < 1.0:
        order = (-probs).argsort(kind="stable")
        cumulative = probs[order].cumsum()
        keep = int(cumulative.searchsorted(top_p * cumulative[-1])) + 1  # smallest set reaching top_p
        probs[order[keep:]] = 0.0
    cumulative = probs.cumsum()
    index = int(cumulative.searchsorted(rng.random() * cumulative[-1], side="right"))
    return min(index, probs.size - 1)
