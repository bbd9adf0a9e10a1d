"""One style's LSTM, stepped along a live call in all 12 transpositions at once.

The call's key is only known when the call ends, but the model must already be primed then
(answering never re-encodes the call). So the call runs through the model as a batch of 12,
one row per transposition shift (-6..+5 semitones); when the call ends and its key is
detected, the row of that key's shift becomes the answer's state. One onnxruntime call per
step serves all 12 rows.

The shared model also takes each step's place in the bar (:mod:`livemelody.encoding.bars`):
the engine gives, with every token, the (bar_pos, bar_len) of the step after it, the step the
model predicts next, from its grid and meter; and at :meth:`StreamingLstm.reset` the call's
first step's.
"""

from __future__ import annotations

import numpy as np

from livemelody.encoding import fold_pitch
from livemelody.encoding.bars import NO_METER
from livemelody.encoding.vocab import DELIMITER_ID
from livemelody.models.lstm import LstmSession
from livemelody.ppm import TokenStm

SHIFTS = tuple(range(-6, 6))
STM_STEPS = 256
"""The short-term model learns at most the call's last 256 steps (as ``continue`` primes)."""


class StreamingLstm:
    """Batched priming during the call, then one row (the chosen shift) during the answer."""

    def __init__(self, session: LstmSession):
        self.session = session
        self.vocab = session.vocab
        self._warm_up()
        self._starts: dict[tuple[int, int], tuple] = {}
        """(state, logits) of every row after the song delimiter, by the bar inputs of the
        call's first step: where each call starts (computed once per bar position)."""
        self.reset()

    def _warm_up(self) -> None:
        """Run each input shape the engine uses once, so onnxruntime plans them before the first
        call is played rather than during it (the first run of a new shape takes milliseconds)."""
        for batch in (len(SHIFTS), 1):
            for _ in range(3):
                self.session.run(np.full((batch, 1), DELIMITER_ID, dtype=np.int64), self.session.zero_state(batch))

    def reset(self, bar: tuple[int, int] = NO_METER) -> None:
        """Start a call whose first step has the bar inputs ``bar`` (bar_pos, bar_len): every
        row sees the song delimiter. A model run only the first time a bar position is seen:
        the arrays are never written into, only replaced, so a start state is shared, not copied."""
        if not self.session.conditioned:
            bar = NO_METER
        if bar not in self._starts:
            tokens = np.full((len(SHIFTS), 1), DELIMITER_ID, dtype=np.int64)
            logits, state = self.session.run(tokens, self.session.zero_state(len(SHIFTS)), _bars(bar))
            self._starts[bar] = state, logits[:, -1]
        self._state, self._logits = self._starts[bar]
        self.shift: int | None = None
        self._call: list[tuple[int | None, int | None]] = []
        self.tokens: list[int] = []
        """The song so far in the model's key after :meth:`choose`: delimiter, call, answer."""
        self._stm: TokenStm | None = None

    def feed_call(self, token_id: int | None, pitch: int | None, bar: tuple[int, int] = NO_METER) -> None:
        """One call step: a note (``pitch`` in the player's key) or a hold/rest ``token_id``;
        ``bar``: (bar_pos, bar_len) of the next step."""
        if pitch is not None:
            ids = [self.vocab.pitch_id(fold_pitch(pitch + s, self.vocab.low, self.vocab.high)) for s in SHIFTS]
        else:
            ids = [token_id] * len(SHIFTS)
        self._call.append((token_id, pitch))
        self._run(np.array(ids, dtype=np.int64).reshape(-1, 1), bar)

    def choose(self, shift: int) -> None:
        """Keep only the row of ``shift`` (semitones that move the call to C major / A minor)."""
        row = SHIFTS.index(shift)
        h, c = self._state
        self._state = (np.ascontiguousarray(h[:, row : row + 1]), np.ascontiguousarray(c[:, row : row + 1]))
        self._logits = self._logits[row : row + 1]
        self.shift = shift
        low, high = self.vocab.low, self.vocab.high
        self.tokens = [DELIMITER_ID] + [
            token if pitch is None else self.vocab.pitch_id(fold_pitch(pitch + shift, low, high))
            for token, pitch in self._call[-STM_STEPS:]
        ]

    def feed(self, token_id: int, bar: tuple[int, int] = NO_METER) -> None:
        """One answer step, in the model's key (after :meth:`choose`); ``bar``: (bar_pos,
        bar_len) of the next step."""
        self._run(np.array([[token_id]], dtype=np.int64), bar)
        self.tokens.append(token_id)
        if self._stm is not None:
            self._stm.learn(token_id)

    def short_term(self, stm_weight: float) -> TokenStm | None:
        """The short-term model of the call and answer so far at ``stm_weight`` (built at the
        first use, then learning each fed token), to mix into this row's logits (or a style
        blend's) with :func:`~livemelody.sampling.sample_mixed`; None at weight 0."""
        if stm_weight == 0.0:
            return None
        if self._stm is None:
            self._stm = TokenStm(self.vocab.size, stm_weight, self.tokens)
        self._stm.weight = stm_weight
        return self._stm

    @property
    def logits(self) -> np.ndarray:
        """Next-token logits [vocab] of the chosen row."""
        if self.shift is None:
            raise RuntimeError("choose a transposition first")
        return self._logits[0]

    def _run(self, tokens: np.ndarray, bar: tuple[int, int]) -> None:
        logits, self._state = self.session.run(tokens, self._state, _bars(bar))
        self._logits = logits[:, -1]


def _bars(bar: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One step's bar inputs as [1, 1] arrays (broadcast to every row)."""
    return np.array([[bar[0]]], np.int64), np.array([[bar[1]]], np.int64)
