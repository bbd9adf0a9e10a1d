"""LstmSession: the exported melody LSTM on onnxruntime, with explicit state.

State is a pair ``(h, c)`` of float32 arrays [1, batch, hidden]; the session itself holds no
state, so one session can serve several independent streams.

Two graphs are read (the metadata's ``inputs`` tell which):

- a style's own model, inputs ``tokens``, ``h``, ``c`` (the seed's LSTM; a user's style);
- the shared model (``style`` "shared" in its file, ``data.styles`` the style names), inputs
  ``tokens``, ``style`` (float32 [batch, styles], a one-hot row), ``bar_pos``, ``bar_len``
  (int64 [batch, time], :mod:`livemelody.encoding.bars`), ``h``, ``c``. The registry offers it
  once per style (its metadata's ``style`` set to that style); a session of it feeds that
  style's row at every step. Sessions of one file share one onnxruntime session.

``bars`` arguments below are (bar_pos, bar_len) int64 arrays [time] or [batch, time], one
value per input step (:func:`livemelody.encoding.bars.bar_inputs`); None means "no meter"
(zeros). A style's own model ignores them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort

from livemelody.encoding import Vocabulary
from livemelody.encoding.bars import NO_METER
from livemelody.models.metadata import SHARED_STYLE, ModelError, ModelMetadata, load_metadata, verified_onnx_path
from livemelody.models.onnx import open_session

State = tuple[np.ndarray, np.ndarray]
Bars = tuple[np.ndarray, np.ndarray]

PLAIN_IO = (["tokens", "h", "c"], ["logits", "h_out", "c_out"])
CONDITIONED_IO = (["tokens", "style", "bar_pos", "bar_len", "h", "c"], ["logits", "h_out", "c_out"])

_OPEN: dict[tuple[str, str], ort.InferenceSession] = {}
_OPEN_LOCK = threading.Lock()


def _session_of(json_path: Path, metadata: ModelMetadata) -> ort.InferenceSession:
    """One onnxruntime session per model file and hash (a shared model serves every style)."""
    onnx_path = verified_onnx_path(json_path, metadata)
    key = (str(onnx_path.resolve()), metadata.onnx_sha256)
    with _OPEN_LOCK:
        if key not in _OPEN:
            _OPEN[key] = open_session(onnx_path)
        return _OPEN[key]


class LstmSession:
    """One loaded LSTM: ``prime(tokens)`` then ``step(token)`` with the state fed back.

    ``json_path``: the model's sidecar; ``metadata``: its contents where already read (the
    registry passes the shared model's with ``style`` set to the style wanted). A shared model
    opened without a style plays its first. Raises :class:`ModelError` (one line) for a file
    that is not an LSTM, I/O names of neither graph, a style the shared model lacks, or
    metadata that does not match the graph.
    """

    def __init__(self, json_path: Path, metadata: ModelMetadata | None = None):
        self.metadata = metadata or load_metadata(json_path)
        if self.metadata.kind != "lstm":
            raise ModelError(f"{json_path} is a {self.metadata.kind} model, not an LSTM")
        io = (self.metadata.inputs, self.metadata.outputs)
        if io not in (PLAIN_IO, CONDITIONED_IO):
            raise ModelError(f"{json_path}: unexpected I/O names {self.metadata.inputs} -> {self.metadata.outputs}")
        self.conditioned = io == CONDITIONED_IO
        """Whether the graph takes a style row and bar inputs (the shared model)."""
        try:  # styles: what this file plays, the shared model's ``data.styles``, else its one style
            self.vocab = Vocabulary.from_symbols(self.metadata.encoding.symbols)
            self.hidden_size = int(self.metadata.dimensions["hidden_size"])
            self.styles: tuple[str, ...] = (
                tuple(str(s) for s in self.metadata.data["styles"]) if self.conditioned else (self.metadata.style,)
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{json_path}: bad metadata ({exc})") from None
        if self.conditioned and self.metadata.style == SHARED_STYLE and self.styles:
            self.metadata = replace(self.metadata, style=self.styles[0])
        if self.metadata.style not in self.styles:
            raise ModelError(f"{json_path}: plays {', '.join(self.styles)}, not {self.metadata.style!r}")
        self.style_row = np.zeros((1, len(self.styles)), np.float32)
        """The ``style`` input [1, styles]: one-hot at this session's style (shared model)."""
        self.style_row[0, self.styles.index(self.metadata.style)] = 1.0
        self._style_rows = {1: self.style_row}
        """The style input by batch size: made once each (the live engine runs batches 12 and 1)."""
        self._session = _session_of(json_path, self.metadata)
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

    def feeds(self, tokens: np.ndarray, state: State, bars: Bars | None = None) -> dict[str, np.ndarray]:
        """The graph's inputs for ``tokens`` [batch, time] int64 from ``state``: for the shared
        model also this style's row for every batch row and ``bars`` (broadcast to [batch,
        time]; zeros where None). Raises :class:`ValueError` for bars of another length."""
        feeds = {"tokens": tokens, "h": state[0], "c": state[1]}
        if self.conditioned:
            batch, time = tokens.shape
            if bars is None:
                pos = length = np.zeros((batch, time), np.int64)
            else:
                pos, length = (
                    np.ascontiguousarray(np.broadcast_to(np.asarray(a, np.int64), (batch, time))) for a in bars
                )
            rows = self._style_rows.get(batch)
            if rows is None:
                rows = self._style_rows[batch] = np.repeat(self.style_row, batch, axis=0)
            feeds.update(style=rows, bar_pos=pos, bar_len=length)
        return feeds

    def run(self, tokens: np.ndarray, state: State, bars: Bars | None = None) -> tuple[np.ndarray, State]:
        """Logits [batch, time, vocab] for ``tokens`` [batch, time] (int64), and the new state."""
        logits, h, c = self._session.run(self._outputs, self.feeds(tokens, state, bars))
        return logits, (h, c)

    def prime(
        self, tokens: Sequence[int], state: State | None = None, bars: Bars | None = None
    ) -> tuple[np.ndarray, State]:
        """Feed a whole primer in one call; returns the last step's logits [vocab] and the state.
        ``bars``: one (bar_pos, bar_len) per token (the step each predicts)."""
        if len(tokens) == 0:
            raise ValueError("cannot prime with no tokens")
        logits, state = self.run(np.asarray([tokens], dtype=np.int64), state or self.zero_state(), bars)
        return logits[0, -1], state

    def step(self, token: int, state: State, bar: tuple[int, int] = NO_METER) -> tuple[np.ndarray, State]:
        """Advance one 16th step with ``token``; returns the next logits [vocab] and the state.
        ``bar``: (bar_pos, bar_len) of the step the logits predict."""
        logits, state = self.run(np.array([[token]], dtype=np.int64), state, _one(bar))
        return logits[0, 0], state

    def stepper(self, tokens: Sequence[int], bars: Bars | None = None) -> Stepper:
        """A :class:`Stepper` primed with ``tokens`` (one stream, stepped in place)."""
        logits, state = self.prime(tokens, bars=bars)
        return Stepper(self, logits, state)


def _one(bar: tuple[int, int]) -> Bars:
    return np.array([[bar[0]]], np.int64), np.array([[bar[1]]], np.int64)


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
        self._bar_pos = np.zeros((1, 1), np.int64)
        self._bar_len = np.zeros((1, 1), np.int64)
        self._conditioned = session.conditioned
        self._logits = np.zeros((1, 1, session.vocab.size), np.float32)
        self._logits[0, 0] = logits
        self._buffers = [
            tuple(np.array(a, dtype=np.float32) for a in state),  # copies: onnxruntime writes into them
            tuple(np.zeros_like(a, dtype=np.float32) for a in state),
        ]
        token_value = ort.OrtValue.ortvalue_from_numpy(self._token)
        conditioning = {}
        if session.conditioned:
            self._style = session.style_row.copy()
            conditioning = {
                name: ort.OrtValue.ortvalue_from_numpy(array)
                for name, array in (("style", self._style), ("bar_pos", self._bar_pos), ("bar_len", self._bar_len))
            }
        logits_value = ort.OrtValue.ortvalue_from_numpy(self._logits)
        values = [tuple(ort.OrtValue.ortvalue_from_numpy(a) for a in pair) for pair in self._buffers]
        self._session = session._session
        self._bindings = []
        for source, target in ((0, 1), (1, 0)):
            binding = self._session.io_binding()
            binding.bind_ortvalue_input("tokens", token_value)
            for name, value in conditioning.items():
                binding.bind_ortvalue_input(name, value)
            binding.bind_ortvalue_input("h", values[source][0])
            binding.bind_ortvalue_input("c", values[source][1])
            binding.bind_ortvalue_output("logits", logits_value)
            binding.bind_ortvalue_output("h_out", values[target][0])
            binding.bind_ortvalue_output("c_out", values[target][1])
            self._bindings.append(binding)
        self._values = values, conditioning  # the OrtValues must live as long as the bindings
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

    def step(self, token: int, bar: tuple[int, int] = NO_METER) -> np.ndarray:
        """Advance one 16th step with ``token``; returns :attr:`logits`. ``bar``: (bar_pos,
        bar_len) of the step the logits predict (the shared model; ignored otherwise)."""
        self._token[0, 0] = token
        if self._conditioned:
            self._bar_pos[0, 0], self._bar_len[0, 0] = bar
        self._session.run_with_iobinding(self._bindings[self._current])
        self._current ^= 1
        return self._logits[0, 0]
