"""LstmSession: the exported melody LSTM on onnxruntime, with explicit state.

State is a pair ``(h, c)`` of float32 arrays [1, batch, hidden]; the session itself holds no
state, so one session can serve several independent streams.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from livemelody.encoding import Vocabulary
from livemelody.models.metadata import ModelError, ModelMetadata, load_metadata, verified_onnx_path
from livemelody.models.onnx import open_session

State = tuple[np.ndarray, np.ndarray]


class LstmSession:
    """One loaded LSTM: ``prime(tokens)`` then ``step(token)`` with the state fed back."""

    def __init__(self, json_path: Path, metadata: ModelMetadata | None = None):
        self.metadata = metadata or load_metadata(json_path)
        if self.metadata.kind != "lstm":
            raise ModelError(f"{json_path} is a {self.metadata.kind} model, not an LSTM")
        expected = (["tokens", "h", "c"], ["logits", "h_out", "c_out"])
        if (self.metadata.inputs, self.metadata.outputs) != expected:
            raise ModelError(f"{json_path}: unexpected I/O names {self.metadata.inputs} -> {self.metadata.outputs}")
        try:
            self.vocab = Vocabulary.from_symbols(self.metadata.encoding.symbols)
            self.hidden_size = int(self.metadata.dimensions["hidden_size"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{json_path}: bad metadata ({exc})") from None
        self._session = open_session(verified_onnx_path(json_path, self.metadata))
        self._outputs = list(self.metadata.outputs)
        self._check_graph(json_path)

    def _check_graph(self, json_path: Path) -> None:
        """One step from the zero state: the graph must take the metadata's hidden size and
        give one logit per vocabulary symbol; the vocabulary must be the range the metadata
        names. Raises :class:`ModelError` (one line) otherwise."""
        encoding, dims = self.metadata.encoding, self.metadata.dimensions
        problems = []
        if (self.vocab.low, self.vocab.high) != (encoding.pitch_low, encoding.pitch_high):
            problems.append(
                f"vocabulary pitches {self.vocab.low}-{self.vocab.high}, pitch range {encoding.pitch_low}-{encoding.pitch_high}"
            )
        if "vocab_size" in dims and dims["vocab_size"] != self.vocab.size:
            problems.append(f"vocab_size {dims['vocab_size']}, {self.vocab.size} symbols")
        try:
            logits, (h, c) = self.run(np.zeros((1, 1), np.int64), self.zero_state())
        except Exception as exc:  # onnxruntime's own error types: a hidden size the graph refuses
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            problems.append(f"hidden_size {self.hidden_size} refused by the graph ({first[:120]})")
        else:
            if logits.shape[-1] != self.vocab.size:
                problems.append(f"the graph gives {logits.shape[-1]} logits for {self.vocab.size} symbols")
            if h.shape[-1] != self.hidden_size:
                problems.append(f"the graph's hidden size is {h.shape[-1]}, metadata says {self.hidden_size}")
        if problems:
            raise ModelError(f"{json_path}: model metadata does not match its graph: {'; '.join(problems)}")

    @property
    def style(self) -> str:
        return self.metadata.style

    def zero_state(self, batch: int = 1) -> State:
        shape = (1, batch, self.hidden_size)
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)

    def run(self, tokens: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """Logits [batch, time, vocab] for ``tokens`` [batch, time] (int64), and the new state."""
        logits, h, c = self._session.run(self._outputs, {"tokens": tokens, "h": state[0], "c": state[1]})
        return logits, (h, c)

    def prime(self, tokens: Sequence[int], state: State | None = None) -> tuple[np.ndarray, State]:
        """Feed a whole primer in one call; returns the last step's logits [vocab] and the state."""
        if len(tokens) == 0:
            raise ValueError("cannot prime with no tokens")
        logits, state = self.run(np.asarray([tokens], dtype=np.int64), state or self.zero_state())
        return logits[0, -1], state

    def step(self, token: int, state: State) -> tuple[np.ndarray, State]:
        """Advance one 16th step with ``token``; returns the next logits [vocab] and the state."""
        logits, state = self.run(np.array([[token]], dtype=np.int64), state)
        return logits[0, 0], state
