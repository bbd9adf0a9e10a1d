"""The short-term model's C library (``_stm.c``), compiled on first use and loaded with ctypes.

:class:`~livemelody.ppm.TokenStm` runs on it where it loads (a few microseconds a step) and on
the Python :class:`~livemelody.ppm.PPM` otherwise (the same distributions, about 20 us a step):
built by the package's one builder (:mod:`livemelody.cbuild`); without a compiler :func:`open_stm`
returns None and says why in one log line, once per process.

The C file implements one configuration of the PPM (a bounded order, escape C, no update
exclusion, the textbook blend) and the whole mixture step (softmax, blend, relative entropies,
entropy weights, mixture) in one call; see its header comment for the method (one O(n) pass a
token, no trie) and for how exactly its results equal the Python ones.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from livemelody import cbuild
from livemelody.cbuild import NativeUnavailable, compiler

SOURCE = Path(__file__).with_name("_stm.c")
FLAGS = ("-ffp-contract=off", "-lm")
"""No fused multiply-add where the source has a multiply then an add (numpy's and Python's
arithmetic round each), then libm."""
MAX_ORDER = 255
"""The largest order bound the C file keeps (match lengths in one byte)."""

_lock = threading.Lock()
_lib: ctypes.PyDLL | None = None
_failure: str | None = None
"""Why the library cannot be had in this process, once known (said once in the log)."""
_log = logging.getLogger("livemelody.stm")


def _declare(lib: ctypes.PyDLL) -> ctypes.PyDLL:
    p, i, d, long = ctypes.c_void_p, ctypes.c_int, ctypes.c_double, ctypes.c_long
    signatures = {
        "lm_stm_new": (p, [i, i]),
        "lm_stm_free": (None, [p]),
        "lm_stm_learn": (i, [p, i]),
        "lm_stm_learn_many": (i, [p, p, long]),
        "lm_stm_length": (long, [p]),
        "lm_stm_tokens": (long, [p, p, long]),
        "lm_stm_blend": (None, [p, p]),
        "lm_stm_mix": (None, [p, p, d, d, d, ctypes.c_int, p]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    return lib


def load() -> ctypes.PyDLL:
    """The library, built first if need be (once per process), loaded with ``ctypes.PyDLL``:
    its calls keep the GIL (they return in microseconds; releasing and taking back the GIL can
    wait for another thread's turn, up to the switch interval). Raises NativeUnavailable."""
    global _lib
    with _lock:
        if _lib is None:
            lib, _ = cbuild.open_library(SOURCE, compiler(), FLAGS, kind=ctypes.PyDLL)
            _lib = _declare(lib)
        return _lib


def open_stm(alphabet_size: int, order_bound: int) -> NativeStm | None:
    """A new, empty C model over symbols ``0 .. alphabet_size - 1`` with contexts of up to
    ``order_bound`` (0..MAX_ORDER) symbols, or None where the library cannot be built or loaded
    (said in one warning per process: the caller then uses the Python PPM)."""
    global _failure
    if _failure is None:
        try:
            return NativeStm(load(), alphabet_size, order_bound)
        except NativeUnavailable as exc:
            _failure = str(exc)
            _log.warning("short-term model: the C library is unavailable (%s); using the Python PPM (slower)", exc)
    return None


class NativeStm:
    """One C model (see the module docstring); ``learn`` then ``mix`` or ``blend``. Raises
    :class:`ValueError` for a bad setting or symbol, :class:`MemoryError` when C cannot allocate."""

    def __init__(self, lib: ctypes.PyDLL, alphabet_size: int, order_bound: int):
        if alphabet_size < 1:
            raise ValueError("the alphabet needs at least one symbol")
        if not 0 <= order_bound <= MAX_ORDER:
            raise ValueError(f"the C short-term model takes an order bound in 0..{MAX_ORDER}, not {order_bound!r}")
        handle = lib.lm_stm_new(alphabet_size, order_bound)
        if not handle:
            raise MemoryError("the C short-term model could not allocate its arrays")
        self.alphabet_size = alphabet_size
        self.order_bound = order_bound
        self._handle = handle
        weakref.finalize(self, lib.lm_stm_free, handle)
        self._learn = lib.lm_stm_learn
        self._mix = lib.lm_stm_mix
        self._lib = lib
        self._logits = np.empty(alphabet_size)  # float64: TokenStm's Python path mixes float64 logits
        self._out = np.empty(alphabet_size)
        self._logits_at = self._logits.ctypes.data
        self._out_at = self._out.ctypes.data

    def learn(self, symbol: int) -> None:
        """Append ``symbol`` to the sequence (PPM.learn)."""
        if not 0 <= symbol < self.alphabet_size:
            raise ValueError(f"symbol {symbol} outside the alphabet 0..{self.alphabet_size - 1}")
        if self._learn(self._handle, symbol):
            raise MemoryError("the C short-term model could not grow its sequence")

    def extend(self, symbols: Sequence[int]) -> None:
        """:meth:`learn` each of ``symbols`` in turn, in one call (the primer). Raises ValueError
        (nothing learnt) for a symbol outside the alphabet."""
        array = np.asarray(symbols, dtype=np.int64).reshape(-1)
        if array.size == 0:
            return
        if array.min() < 0 or array.max() >= self.alphabet_size:
            bad = next(int(s) for s in array if not 0 <= s < self.alphabet_size)
            raise ValueError(f"symbol {bad} outside the alphabet 0..{self.alphabet_size - 1}")
        array = array.astype(np.int32)
        if self._lib.lm_stm_learn_many(self._handle, array.ctypes.data, array.size):
            raise MemoryError("the C short-term model could not grow its sequence")

    def mix(self, logits: np.ndarray, weight: float, bias: float, max_share: float, free_from: int) -> np.ndarray:
        """TokenStm.distribution: the mixture [alphabet_size] float64 (a new array, summing to 1)
        of softmax(``logits``) [alphabet_size] (or [1, alphabet_size]; any float dtype) and this
        model's prediction, prior ``weight`` for the model, entropy ``bias``, the model's share
        at most ``max(weight, max_share)`` where its likeliest symbol is below ``free_from``
        (:func:`livemelody.ppm.capped_share`)."""
        self._logits[...] = logits
        self._mix(self._handle, self._logits_at, weight, bias, max_share, free_from, self._out_at)
        return self._out.copy()

    def blend(self) -> np.ndarray:
        """p(next symbol | the sequence) [alphabet_size] float64: PPM.blend_dense's values."""
        out = np.empty(self.alphabet_size)
        self._lib.lm_stm_blend(self._handle, out.ctypes.data)
        return out

    @property
    def sequence(self) -> list[int]:
        """The symbols learnt, in order (a copy)."""
        n = self._lib.lm_stm_length(self._handle)
        out = np.empty(n, dtype=np.int32)
        self._lib.lm_stm_tokens(self._handle, out.ctypes.data, n)
        return out.tolist()
