"""Form: answers that develop the call by quoting its bars.

Real folk continuations re-use their opening's material: in the held-out Essen songs about a
quarter of a continuation's 4-note figures and bars were heard before, in the opening or earlier
in the continuation; an LSTM sampled note by note almost never repeats a bar
(``python -m training.form_eval``, docs/EVALUATION.md section ``form``). So at each bar line
inside an answer that starts a pair of bars (the answer's bars 0-1, 2-3, ...), with probability
``quote`` (the live setting of that name, 0-1), the answer re-plays two bars of the call token
for token, in the model's key (C major / A minor); the quoted tokens are fed through the LSTM
like sampled ones, so its state follows what was played, and the LSTM samples again after them.

Why two bars (:data:`QUOTE_BARS`): a real continuation's repeats come in runs, so the share of
its 4-note figures heard before is about the share of its bars. Quoting one bar at a time, a
bar of 2/4 or 3/4 rarely holds a whole 4-note figure, so the answers' figures lag far behind
their bars; quoting two bars at a time keeps the figures across the middle bar line. The
``form`` section of docs/EVALUATION.md measures both (``python -m training.form_eval``).

Which bars: the *parallel* rule. The answer's j-th bar (counted from its first bar line) quotes
the call's j-th full bar, cycling when the answer is longer than the call: the way a folk tune's
second phrase starts like its first (A A', a period). Consecutive quoted bars therefore keep
the call's order, so figures across their bar line repeat too.

Bars are the grid's (live: the engine's meter, bar lines every ``steps_per_bar`` 16th steps from
the grid's origin; ``continue``: the file's time signature at the primer's end). A bar of the
call is one of its *full* bars: a pickup, or a bar the call only partly covers, is never quoted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from livemelody.encoding import Vocabulary, notes_to_tokens, transpose
from livemelody.events import Note

QUOTE_BARS = 2
"""Bars in one quote: the decision is taken at every second bar line of the answer."""


def full_bars(tokens: Sequence[int], bar_line: int, steps_per_bar: int) -> list[tuple[int, ...]]:
    """Every full bar of ``tokens`` (token ``i`` at step ``i``), in order.

    ``bar_line`` is the step of any bar line (it may lie outside the tokens, or be negative);
    bars are the ``steps_per_bar``-step windows between bar lines that lie wholly inside the
    tokens. Raises :class:`ValueError` when ``steps_per_bar`` < 1.
    """
    if steps_per_bar < 1:
        raise ValueError("steps_per_bar must be >= 1")
    first = bar_line % steps_per_bar
    return [tuple(tokens[s : s + steps_per_bar]) for s in range(first, len(tokens) - steps_per_bar + 1, steps_per_bar)]


class Quoter:
    """Decides, step by step along an answer, which steps re-play a bar of the call.

    ``bars``: the call's full bars (token ids in the model's key, :func:`full_bars`).
    ``steps_per_bar``, ``bar_line``: the answer's bar grid, in the frame of the steps given to
    :meth:`forced` (any bar line; the engine's grid has one at step 0). ``quote``: the chance,
    0-1, that a run of ``span`` of the answer's bars (:data:`QUOTE_BARS`) is a quote. ``rng``
    draws one number per run, and only when ``0 < quote < 1``: with ``quote`` 0 the answer is the LSTM's, the sampler's random
    numbers untouched, so a seed gives exactly the answer it gave without this module.

    Raises :class:`ValueError` for ``quote`` outside 0-1 or a bar of the wrong length.
    """

    def __init__(
        self,
        bars: Sequence[Sequence[int]],
        steps_per_bar: int,
        quote: float,
        rng: np.random.Generator,
        bar_line: int = 0,
        span: int = QUOTE_BARS,
    ):
        if not 0.0 <= quote <= 1.0:
            raise ValueError(f"quote must be 0-1, not {quote!r}")
        if span < 1:
            raise ValueError("span must be >= 1")
        if any(len(bar) != steps_per_bar for bar in bars):
            raise ValueError(f"every bar must have {steps_per_bar} steps")
        self.bars = [tuple(bar) for bar in bars]
        self.steps_per_bar = steps_per_bar
        self.quote = quote
        self.rng = rng
        self.bar_line = bar_line
        self.span = span
        self.bar_index = -1
        """The answer's bar (0 = the first after its first bar line; -1 before it)."""
        self.quoted: list[int] = []
        """Answer bars (their index) that were quotes."""
        self._bar: tuple[int, ...] | None = None
        self._quoting = False

    @property
    def active(self) -> bool:
        """Can this quoter ever quote (a chance above 0 and a bar to quote)?"""
        return self.quote > 0 and bool(self.bars)

    def forced(self, step: int) -> int | None:
        """The token the answer plays at ``step`` when it quotes, else None (the LSTM samples).

        Call once per answer step, in order. At the bar line that starts answer bars ``j`` to
        ``j + span - 1`` (``j`` a multiple of ``span``) they become, with probability ``quote``,
        quotes of call bars ``j % len(bars)`` to ``(j + span - 1) % len(bars)``."""
        offset = (step - self.bar_line) % self.steps_per_bar
        if offset == 0:
            self.bar_index += 1
            if self.bar_index % self.span == 0:
                self._quoting = self.active and (self.quote >= 1.0 or self.rng.random() < self.quote)
            self._bar = None
            if self._quoting:
                self._bar = self.bars[self.bar_index % len(self.bars)]
                self.quoted.append(self.bar_index)
        return None if self._bar is None else self._bar[offset]


def call_bars(
    notes: Sequence[Note], shift: int, vocab: Vocabulary, steps_per_bar: int, end: int, bar_line: int = 0
) -> list[tuple[int, ...]]:
    """The full bars of a live call, as token ids in the model's key.

    ``notes`` are the call's line notes (steps on the engine's grid, pitches MIDI in the
    player's key), ``shift`` the semitones that move them to C major / A minor (folded into
    the vocabulary's range, as the streaming LSTM hears them), ``end`` the step after the call's
    last (``end`` >= the last note's end). Bars are the grid's (a bar line at ``bar_line``,
    every ``steps_per_bar`` steps) that lie wholly between the call's first onset and ``end``.
    """
    if not notes:
        return []
    first = min(n.start for n in notes)
    end = max(end, max(n.end for n in notes))
    tokens = notes_to_tokens(transpose(notes, shift), vocab, start=first, end=end)
    return full_bars(tokens, bar_line - first, steps_per_bar)
