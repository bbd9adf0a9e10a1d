"""Baselines on the same token sequences: uniform random, unigram, interpolated n-grams.

The n-gram models use interpolated Witten-Bell smoothing (the escape method of PPM-C, close
to what IDyOM uses), backing off to an add-one unigram:

    P_n(w | h) = (c(h, w) + T(h) * P_{n-1}(w | h')) / (c(h) + T(h))

with c the training counts, T(h) the number of distinct tokens seen after context h, and h'
the context shortened by its oldest token. ``n`` counts the predicted token (bigram: n = 2).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np


class UniformModel:
    """The seed's "random generation": every token equally likely."""

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size

    def probabilities(self, sequence: Sequence[int]) -> np.ndarray:
        return np.full((len(sequence) - 1, self.vocab_size), 1.0 / self.vocab_size)


class NgramModel:
    """Interpolated Witten-Bell n-gram of order ``max_order`` (orders 1..max_order kept)."""

    def __init__(self, vocab_size: int, max_order: int):
        if max_order < 1:
            raise ValueError("max_order must be >= 1")
        self.vocab_size = vocab_size
        self.max_order = max_order
        self.unigram = np.ones(vocab_size)
        self.counts: list[dict[tuple, np.ndarray]] = [
            defaultdict(lambda: np.zeros(vocab_size)) for _ in range(max_order)
        ]

    def fit(self, sequences: Iterable[Sequence[int]]) -> NgramModel:
        """Count every context of length 1..max_order-1 in each sequence (no cross-song contexts)."""
        for seq in sequences:
            seq = list(seq)
            for i in range(1, len(seq)):
                target = seq[i]
                self.unigram[target] += 1
                for length in range(1, self.max_order):
                    if i - length < 0:
                        break
                    self.counts[length][tuple(seq[i - length : i])][target] += 1
        self.unigram_probs = self.unigram / self.unigram.sum()
        self._frozen = [dict(c) for c in self.counts]
        return self

    def distributions(self, history: Sequence[int]) -> list[np.ndarray]:
        """P_n(. | history) for n = 1..max_order (index n - 1)."""
        result = [self.unigram_probs]
        p = self.unigram_probs
        for length in range(1, self.max_order):
            if len(history) >= length:
                counts = self._frozen[length].get(tuple(history[len(history) - length :]))
                if counts is not None:
                    total = counts.sum()
                    types = np.count_nonzero(counts)
                    p = (counts + types * p) / (total + types)
            result.append(p)
        return result

    def probabilities_by_order(self, sequence: Sequence[int]) -> list[np.ndarray]:
        """For each order n = 1..max_order, the [len - 1, V] next-token probabilities."""
        rows: list[list[np.ndarray]] = [[] for _ in range(self.max_order)]
        sequence = list(sequence)
        for i in range(1, len(sequence)):
            history = sequence[max(0, i - self.max_order + 1) : i]
            for order, p in enumerate(self.distributions(history)):
                rows[order].append(p)
        return [np.array(r) for r in rows]
