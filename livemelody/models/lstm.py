"""LstmSession: the exported melody LSTM on onnxruntime, with explicit state.

State is a pair ``(h, c)`` of float32 arrays [1, batch, hidden]; the session itself holds no
state, so one session can serve several independent streams.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

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

    def stepper(self, tokens: Sequence[int]) -> Stepper:
        """A :class:`Stepper` primed with ``tokens`` (one stream, stepped in place)."""
        logits, state = self.prime(tokens)
        return Stepper(self, logits, state)


class Stepper:
    """One stream of an :class:`LstmSession` stepped in place, for generating token by token.

    :meth:`LstmSession.step` makes new arrays at every step (the token, the logits, the state)
    and goes through ``InferenceSession.run``'s checks; here onnxruntime reads and writes
    buffers bound once (``IOBinding``): the state alternates between two pairs of buffers,
    each direction with its own binding, so a step is one store and one ``run_with_iobinding``.
    The same arithmetic, so the same logits to the bit (``tests/test_lstm_session.py``);
    benchmarks.run measures the two side by side.
    """

    def __init__(self, session: LstmSession, logits: np.ndarray, state: State):
        self._token = np.zeros((1, 1), np.int64)
        self._logits = np.zeros((1, 1, session.vocab.size), np.float32)
        self._logits[0, 0] = logits
        self._buffers = [
            tuple(np.array(a, dtype=np.float32) for a in state),  # copies: onnxruntime writes into them
            tuple(np.zeros_like(a, dtype=np.float32) for a in state),
        ]
        token_value = ort.OrtValue.ortvalue_from_numpy(self._token)
        logits_value = ort.OrtValue.ortvalue_from_numpy(self._logits)
        values = [tuple(ort.OrtValue.ortvalue_from_numpy(a) for a in pair) for pair in self._buffers]
        self._session = session._session
        self._bindings = []
        for source, target in ((0, 1), (1, 0)):
            binding = self._session.io_binding()
            binding.bind_ortvalue_input("tokens", token_value)
            binding.bind_ortvalue_input("h", values[source][0])
            binding.bind_ortvalue_input("c", values[source][1])
            binding.bind_ortvalue_output("logits", logits_value)
            binding.bind_ortvalue_output("h_out", values[target][0])
            binding.bind_ortvalue_output("c_out", values[target][1])
            self._bindings.append(binding)
        self._values = values  # the OrtValues must live as long as the bindings
        self._current = 0

    @property
    def logits(self) -> np.ndarray:
        """The next token's logits [vocab] float32; overwritten by the next :meth:`step`."""
        return self._logits[0, 0]

    @property
    def state(self) -> State:
        """Copies of the current ``(h, c)`` [1, 1, hidden]."""
        h, c = self._buffers[self._current]
        return h.copy(), c.copy()

    def step(self, token: int) -> np.ndarray:
        """Advance one 16th step with ``token``; returns :attr:`logits`."""
        self._token[0, 0] = token
        self._session.run_with_iobinding(self._bindings[self._current])
        self._current ^= 1
        return self._logits[0, 0]
