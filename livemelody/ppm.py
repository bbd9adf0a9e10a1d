"""PPM: a variable-order Markov model of symbol sequences, IDyOM's way, and its combinations.

Used two ways: as IDyOM's long-term model (LTM, trained on a corpus) and short-term model
(STM, trained incrementally on the song so far) for the pitch evaluation
(:mod:`training.ppm_eval`), and as a short-term model over the LSTM's own tokens, mixed into
the LSTM's next-token distribution at run time (:class:`TokenStm`). Pure Python dict counting
(no torch, no music21); numpy only for the returned distribution. :class:`TokenStm` runs on a
C implementation of its one configuration where it builds (``_stm.c``, :mod:`livemelody.stm_native`).

What is implemented (sources: Cleary & Witten 1984; Moffat 1990; Cleary & Teahan 1997 and
Bunton 1997 for PPM*; Pearce 2005, PhD thesis, ch. 6; Pearce & Wiggins 2004, JNMR 33(4);
IDyOM's source, ``ppm-star/ppm-star.lisp`` and ``mvs/*.lisp``, github.com/mtpearce/idyom):

- **Contexts** are the symbols before the predicted one, within one sequence (contexts never
  cross from one song to the next). Counts live in a trie of reversed contexts. A context
  seen once is kept as one unexpanded node pointing at its occurrence, expanded only when it
  recurs (the lazy leaves of a suffix tree), so memory grows with the data, not with data
  times order, and an unbounded order (PPM*) is affordable.
- **Order**: ``order_bound=None`` is PPM* (Cleary & Teahan 1997): the prediction starts from
  the shortest *deterministic* matching context (exactly one symbol seen after it), else the
  longest matching context. An integer bound starts from the longest matching context of at
  most that order (PPM).
- **Smoothing**: interpolated ("blending", IDyOM's ``:mixtures t``) from the selected order
  down to order 0, then an order -1 uniform distribution: with ``n`` the context's total
  count, ``t`` its escape count and ``c(s)`` the symbol's count,
  ``p(s | ctx) = w * c(s) / n + (1 - w) * p(s | shorter ctx)``, ``w = n / (n + t)``.
- **Escape**: method C (Moffat 1990): ``t`` = number of distinct symbols seen in the context;
  method X (IDyOM's ``:x``, after Witten & Bell 1991): ``t`` = number of symbols seen exactly
  once + 1.
- **Update exclusion** (optional; Moffat 1990): a symbol's count is incremented in the
  contexts from the longest down to the first (longest) one in which it had already been
  seen, not in shorter ones.
- ``idyom_counts=True`` copies a detail of IDyOM's ``compute-mixture``: at each lower order
  the context's total ``n`` leaves out the counts of symbols seen in the context one order up
  (exclusion applied to the weights only); the order -1 probability is
  ``1 / (|A| + 1 - t(order 0))``; the result is renormalised. ``False`` is the textbook
  blend above with a ``1 / |A|`` order -1 (sums to 1 as it stands).

IDyOM's defaults (``mvs.lisp``): LTM escape C, unbounded order, no update exclusion; STM
escape X, unbounded order, update exclusion; combined by :func:`combine` geometrically with
bias 7.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from livemelody.encoding.vocab import FIRST_PITCH_ID

ESCAPES = ("c", "x")

# A trie node is a list [counts, children, total, origin]: counts {symbol: count}; children
# {older symbol: node} (None while unexpanded); total = sum of counts; origin = (sequence
# index, position of the symbol that followed the context's only occurrence), or None once
# expanded.
_COUNTS, _CHILDREN, _TOTAL, _ORIGIN = 0, 1, 2, 3


class PPM:
    """A PPM model over symbols ``0 .. alphabet_size - 1``; see the module docstring.

    Learn with :meth:`start` (a new sequence) then :meth:`learn` (one symbol at a time), or
    :meth:`fit`; predict with :meth:`distribution` (any context) or :meth:`predict` (the
    sequence being learnt). Raises :class:`ValueError` for a bad setting or symbol.
    """

    def __init__(
        self,
        alphabet_size: int,
        order_bound: int | None = None,
        escape: str = "c",
        update_exclusion: bool = False,
        idyom_counts: bool = True,
    ):
        if alphabet_size < 1:
            raise ValueError("the alphabet needs at least one symbol")
        if order_bound is not None and order_bound < 0:
            raise ValueError("order_bound must be >= 0 or None (unbounded, PPM*)")
        if escape not in ESCAPES:
            raise ValueError(f"escape must be one of {ESCAPES}, not {escape!r}")
        self.alphabet_size = alphabet_size
        self.order_bound = order_bound
        self.escape = escape
        self.update_exclusion = update_exclusion
        self.idyom_counts = idyom_counts
        self.root: list = [{}, {}, 0, None]
        self.sequences: list[list[int]] = [[]]

    # ---- learning ----------------------------------------------------------------------
    def start(self) -> None:
        """Begin a new sequence: later contexts do not reach back into earlier sequences."""
        if self.sequences[-1]:
            self.sequences.append([])

    @property
    def sequence(self) -> list[int]:
        """The sequence being learnt (read only)."""
        return self.sequences[-1]

    def fit(self, sequences: Iterable[Sequence[int]]) -> PPM:
        """Learn each sequence in turn (a new sequence each); returns self."""
        for seq in sequences:
            self.start()
            for symbol in seq:
                self.learn(symbol)
        return self

    def learn(self, symbol: int) -> None:
        """Count ``symbol`` after the current sequence's contexts, then append it."""
        if not 0 <= symbol < self.alphabet_size:
            raise ValueError(f"symbol {symbol} outside the alphabet 0..{self.alphabet_size - 1}")
        history = self.sequences[-1]
        origin = (len(self.sequences) - 1, len(history))
        limit = len(history) if self.order_bound is None else min(self.order_bound, len(history))
        node = self.root
        path = [node]
        depth = 0
        created = False
        while depth < limit:
            children = node[_CHILDREN]
            if children is None:
                children = self._expand(node, depth)
            older = history[-depth - 1]
            child = children.get(older)
            depth += 1
            if child is None:  # a new context: it stands for every longer one too
                child = [{}, None, 0, origin]
                children[older] = child
                path.append(child)
                created = True
                break
            path.append(child)
            node = child
        if not created and node[_CHILDREN] is None:
            self._expand(node, depth)  # it recurs: an unexpanded node stands for one occurrence only
        if self.update_exclusion:
            for node in reversed(path):
                counts = node[_COUNTS]
                seen = counts.get(symbol, 0)
                counts[symbol] = seen + 1
                node[_TOTAL] += 1
                if seen:
                    break
        else:
            for node in path:
                counts = node[_COUNTS]
                counts[symbol] = counts.get(symbol, 0) + 1
                node[_TOTAL] += 1
        history.append(symbol)

    def _expand(self, node: list, depth: int) -> dict:
        """Give an unexpanded node (one occurrence, at ``depth``) its one explicit child."""
        seq_index, position = node[_ORIGIN]
        seq = self.sequences[seq_index]
        children: dict = {}
        if position - depth - 1 >= 0:
            children[seq[position - depth - 1]] = [{seq[position]: 1}, None, 1, (seq_index, position)]
        node[_CHILDREN] = children
        node[_ORIGIN] = None
        return children

    # ---- prediction --------------------------------------------------------------------
    def _chain(self, context: Sequence[int]) -> list[list]:
        """The nodes of the matching contexts, order 0 first, up to the order prediction starts
        from (PPM*: the shortest deterministic one, else the longest; bounded: the longest)."""
        unbounded = self.order_bound is None
        limit = len(context) if unbounded else min(self.order_bound, len(context))
        node = self.root
        chain = [node]
        depth = 0
        while depth < limit:
            if unbounded and depth and len(node[_COUNTS]) == 1:
                break  # the shortest deterministic context
            children = node[_CHILDREN]
            if children is None:  # one occurrence: longer matches have the same single count
                if unbounded:
                    break
                seq_index, position = node[_ORIGIN]
                seq = self.sequences[seq_index]
                while depth < limit and position - depth - 1 >= 0 and seq[position - depth - 1] == context[-depth - 1]:
                    chain.append(node)
                    depth += 1
                break
            node = children.get(context[-depth - 1])
            if node is None:
                break
            chain.append(node)
            depth += 1
        return chain

    def blend(self, context: Sequence[int]) -> tuple[dict[int, float], float, float]:
        """The prediction after ``context`` in sparse form ``(mass, floor, norm)``:
        p(s) = (mass.get(s, 0) + floor) / norm, ``mass`` over the symbols seen in the
        matching contexts (cheap to mix without building the whole distribution)."""
        size = self.alphabet_size
        mass: dict[int, float] = {}
        escape = 1.0
        method_x = self.escape == "x"
        idyom = self.idyom_counts
        higher: dict | None = None
        for node in reversed(self._chain(context)):
            counts = node[_COUNTS]
            if idyom and higher is not None:
                total = sum(c for s, c in counts.items() if s not in higher)
            else:
                total = node[_TOTAL]
            higher = counts
            if total <= 0:
                continue
            escapes = 1 + sum(1 for c in counts.values() if c == 1) if method_x else len(counts)
            weight = total / (total + escapes)
            scale = escape * weight / total
            for s, c in counts.items():
                mass[s] = mass.get(s, 0.0) + scale * c
            escape *= 1.0 - weight
        if idyom:
            floor = escape / (size + 1 - len(self.root[_COUNTS]))
            return mass, floor, sum(mass.values()) + floor * size
        return mass, escape / size, 1.0

    def distribution(self, context: Sequence[int]) -> np.ndarray:
        """p(next symbol | ``context``) [alphabet_size] float64, summing to 1; ``context`` is
        the symbols before, most recent last."""
        mass, floor, norm = self.blend(context)
        result = np.full(self.alphabet_size, floor)
        for s, m in mass.items():
            result[s] += m
        return result / norm if norm != 1.0 else result

    def blend_dense(self, context: Sequence[int]) -> tuple[list[float], float]:
        """:meth:`blend` as a list: ``(values, norm)`` with p(s) = values[s] / norm, values
        [alphabet_size] (the floor included); one list for numpy to take in a single call.
        Without ``idyom_counts`` (the short-term model's setting) the blend is summed straight
        into the list, in the same order as :meth:`blend` sums it."""
        if self.idyom_counts:
            mass, floor, norm = self.blend(context)
            values = [floor] * self.alphabet_size
            for s, m in mass.items():
                values[s] += m
            return values, norm
        values = [0.0] * self.alphabet_size
        escape = 1.0
        method_x = self.escape == "x"
        for node in reversed(self._chain(context)):
            total = node[_TOTAL]
            if total <= 0:
                continue
            counts = node[_COUNTS]
            escapes = 1 + sum(1 for c in counts.values() if c == 1) if method_x else len(counts)
            scale = escape / (total + escapes)  # escape * weight / total, weight = total / (total + escapes)
            for s, c in counts.items():
                values[s] += scale * c
            escape *= escapes / (total + escapes)  # 1 - weight
        floor = escape / self.alphabet_size
        return [v + floor for v in values], 1.0

    def predict(self) -> np.ndarray:
        """p(next symbol | the sequence being learnt) [alphabet_size]."""
        return self.distribution(self.sequences[-1])


def relative_entropy(distributions: np.ndarray) -> np.ndarray:
    """``H(p) / log2 |A|`` of each distribution in ``distributions`` [..., alphabet] (each
    summing to 1), floored at 1e-12; 1 for a one-symbol alphabet. Returns [...] float64
    (a 0-d array for one distribution). Entropy in bits, zero probabilities counting 0."""
    p = np.asarray(distributions, dtype=np.float64)
    size = p.shape[-1]
    if size <= 1:
        return np.ones(p.shape[:-1])
    plogp = np.maximum(p, 1e-300)
    np.log2(plogp, out=plogp)
    plogp *= p
    return np.maximum(np.add.reduce(plogp, axis=-1) * (-1.0 / math.log2(size)), 1e-12)


def entropy_weights(relative: Sequence, bias: float, priors: Sequence[float] | None = None) -> list:
    """IDyOM's entropy weights, normalised: ``w_m = prior_m * relative_m ** -bias / sum_k
    (prior_k * relative_k ** -bias)``, so a surer model (lower relative entropy) counts more
    than its prior; ``bias`` 0 leaves the priors alone (a fixed-weight mixture). ``relative``:
    one relative entropy (:func:`relative_entropy`) per model, floats or arrays of any one
    shape; ``priors``: one non-negative weight per model, not all 0 (None: all 1). Returns a
    list, one weight (of ``relative``'s element shape) per model. The one place of the rule,
    for the evaluation (:func:`combine`) and the run-time mixture (:class:`TokenStm`).
    Sources: Pearce, Conklin & Wiggins 2005 (CMMR, LNCS 3310); Pearce 2005, PhD thesis, ch. 6."""
    if priors is None:
        priors = [1.0] * len(relative)
    weights = [prior * r**-bias for r, prior in zip(relative, priors)]
    total = sum(weights)
    return [w / total for w in weights]


def capped_share(share, prior: float, max_share: float, stm: np.ndarray, free_from: int):
    """The short-term model's share of the run-time mixture after :func:`entropy_weights`:
    unchanged where the STM's likeliest token (``stm`` [..., V], its probabilities) is a pitch
    (id >= ``free_from``), else at most ``max(prior, max_share)``. ``share``: a float, or an
    array of ``stm``'s leading shape with a trailing 1.

    Why: generating, the STM learns the answer's own tokens, so a run of holds makes it ever
    surer of "hold", and the entropy rule would hand it the answer (4-bar answers of one held
    note or none: 31% of 400 answers uncapped, 0.2% capped; ``python -m tools.silent_answers``).
    Capping only the rhythm tokens (hold, rest, the delimiter) leaves the STM the motifs' pitches
    and the LSTM, which hears the meter, the rhythm; on the held-out songs it costs nothing
    (the shared LSTM's test NLL: deutsch 0.5952 against 0.5964 uncapped, han 0.9420 against
    0.9426)."""
    rhythm = np.argmax(stm, axis=-1) < free_from
    capped = np.minimum(share, max(prior, max_share))
    if np.ndim(share) == 0:
        return float(capped) if rhythm else share
    return np.where(rhythm[..., None], capped, share)


def combine(
    distributions: np.ndarray, bias: float, geometric: bool = True, priors: Sequence[float] | None = None
) -> np.ndarray:
    """IDyOM's entropy-weighted combination of ``distributions`` [models, alphabet] (or
    [models, steps, alphabet]): weights by :func:`entropy_weights` (``w_m ∝ prior_m *
    (H(p_m) / log2 |A|) ** -bias``, priors all 1 unless given), so a surer model counts
    more; geometric ``prod_m p_m ** w_m`` renormalised, or arithmetic ``sum_m w_m p_m``
    (Pearce, Conklin & Wiggins 2005, CMMR LNCS 3310; IDyOM's ``geometric-combination`` /
    ``arithmetic-combination``; the priors are this project's, for the run-time mixture).
    Returns [(steps,) alphabet], summing to 1. Raises :class:`ValueError` for a prior < 0 or
    priors all 0."""
    p = np.maximum(np.asarray(distributions, dtype=np.float64), 1e-300)
    if priors is not None and (min(priors) < 0 or not sum(priors) > 0):
        raise ValueError(f"priors must be >= 0 and not all 0, not {priors!r}")
    weights = np.stack(entropy_weights(relative_entropy(p)[..., None], bias, priors))
    if geometric:
        combined = np.exp((weights * np.log(p)).sum(axis=0))
    else:
        combined = (weights * p).sum(axis=0)
    return combined / combined.sum(axis=-1, keepdims=True)


class TokenStm:
    """The run-time short-term model: a PPM over the LSTM's tokens of the song so far
    (primer, then every generated token), mixed into the LSTM's distribution.

    The mixture is IDyOM's entropy-weighted arithmetic combination (:func:`combine`,
    ``geometric=False``) with ``weight`` as the STM's prior: ``w_LSTM = (1 - weight) *
    Hrel(p_LSTM) ** -BIAS``, ``w_STM = weight * Hrel(p_STM) ** -BIAS``, ``p = (w_LSTM p_LSTM
    + w_STM p_STM) / (w_LSTM + w_STM)``, ``Hrel`` the entropy over ``log2(vocab_size)``
    (:func:`relative_entropy`): whichever model is surer at this step counts more than its
    prior, except that where the STM's likeliest token is a hold, a rest or the delimiter its
    share stops at :attr:`MAX_SHARE` (:func:`capped_share`). ``weight`` in [0, 1]: 0 is the LSTM alone (callers then pass no mixture to
    :func:`~livemelody.sampling.sample_mixed`), 1 the STM alone. ``bias`` (default
    :attr:`BIAS`) and the ``stm_weight`` setting's default are chosen on the validation
    songs by ``python -m training.ppm_eval`` (docs/EVALUATION.md, section ppm). Raises
    :class:`ValueError` for a weight outside 0..1 or a negative bias.

    Runs on the C library ``_stm.c`` (:mod:`livemelody.stm_native`: learn and mix in a few
    microseconds a step, O(tokens so far)) where it can be built, else on the Python
    :class:`PPM` (about 20 us a step; one log line says so); :attr:`native` says which. Both
    give the same distributions (to a few units in the last place).
    """

    ORDER_BOUND = 16
    """Contexts of up to 16 tokens (a 4/4 bar), escape C, no update exclusion, textbook blend:
    the best by the mean of both styles' validation NLL among the variants that
    ``python -m training.ppm_eval`` compares (order 32 is within 0.001 nats/step;
    docs/EVALUATION.md, section ppm)."""
    ESCAPE = "c"
    UPDATE_EXCLUSION = False
    IDYOM_COUNTS = False
    MAX_SHARE = 0.5
    """The most the entropy rule may give the STM where its likeliest token is a hold, a rest
    or the delimiter (:func:`capped_share`). Generating 4-bar continuations of 10 primers in 5
    styles, 8 seeds each (400 answers, the shared LSTM; ``python -m tools.silent_answers``
    measures it for any files), the share of answers with at most one note: uncapped 31%;
    every token capped at 0.7: 6.5%, 0.6: 1.5%, 0.5: 0.2%; the rhythm tokens capped at 0.5:
    0.2%; the fixed-weight rule 0%."""
    BIAS = 0.5
    """The entropy bias of the mixture: chosen with the ``stm_weight`` setting's default on the
    validation songs of every style ``python -m training.ppm_eval`` covers (docs/EVALUATION.md,
    section ppm)."""

    NATIVE = True
    """Run on the C library where it loads; False: always the Python :class:`PPM` (the
    benchmarks' side-by-side rows, the tests' reference)."""

    def __init__(self, vocab_size: int, weight: float, tokens: Sequence[int] = (), bias: float | None = None):
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"the short-term model's weight must be in 0..1, not {weight!r}")
        bias = self.BIAS if bias is None else bias
        if not bias >= 0.0:
            raise ValueError(f"the short-term model's bias must be >= 0, not {bias!r}")
        self.weight = weight
        self.bias = bias
        self.vocab_size = vocab_size
        self._native = None
        self._model: PPM | None = None
        if self._fits_native():
            from livemelody import stm_native

            self._native = stm_native.open_stm(vocab_size, self.ORDER_BOUND)
        if self._native is not None:
            self._native.extend(tokens)
        else:
            self._model = PPM(vocab_size, self.ORDER_BOUND, self.ESCAPE, self.UPDATE_EXCLUSION, self.IDYOM_COUNTS)
            for token in tokens:
                self._model.learn(token)

    @classmethod
    def _fits_native(cls) -> bool:
        """Whether the C library implements this class's configuration (a subclass may change it)."""
        from livemelody.stm_native import MAX_ORDER

        bounded = cls.ORDER_BOUND is not None and 0 <= cls.ORDER_BOUND <= MAX_ORDER
        return cls.NATIVE and bounded and cls.ESCAPE == "c" and not cls.UPDATE_EXCLUSION and not cls.IDYOM_COUNTS

    @property
    def native(self) -> bool:
        """True where this model runs on the C library (:mod:`livemelody.stm_native`), False on
        the Python :class:`PPM` (no C compiler here; the same distributions, slower)."""
        return self._native is not None

    @property
    def model(self) -> PPM:
        """The Python :class:`PPM` of the tokens so far: the one the model runs on without the C
        library; with it, a copy built from the C model's tokens when asked (for inspection)."""
        if self._native is None:
            return self._model
        model = PPM(self.vocab_size, self.ORDER_BOUND, self.ESCAPE, self.UPDATE_EXCLUSION, self.IDYOM_COUNTS)
        return model.fit([self._native.sequence])

    def learn(self, token: int) -> None:
        """The song went on with ``token``. Raises :class:`ValueError` for a token outside the
        vocabulary."""
        if self._native is not None:
            self._native.learn(token)
        else:
            self._model.learn(token)

    def distribution(self, logits: np.ndarray) -> np.ndarray:
        """The mixture's probabilities [vocab] float64 (summing to 1) after ``logits`` [vocab]
        (the LSTM's, any float dtype, or [1, vocab]), for
        :func:`~livemelody.sampling.sample_probabilities` (its temperature and top-p apply to
        the mixture). The C path equals the Python one to a few units in the last place (numpy's
        exp and log2 against libm's; the PPM's blend itself to the bit)."""
        if self._native is not None:
            return self._native.mix(logits, self.weight, self.bias, self.MAX_SHARE, FIRST_PITCH_ID)
        model = self._model
        both = np.empty((2, model.alphabet_size))
        both[0] = logits
        dense, norm = model.blend_dense(model.sequence)
        both[1] = dense
        lstm, stm = both
        lstm -= lstm.max()
        np.exp(lstm, out=lstm)
        lstm /= lstm.sum()
        if norm != 1.0:
            stm /= norm
        weight = self.weight
        _, w_stm = entropy_weights(relative_entropy(both).tolist(), self.bias, (1.0 - weight, weight))
        w_stm = capped_share(w_stm, weight, self.MAX_SHARE, stm, FIRST_PITCH_ID)
        lstm *= 1.0 - w_stm
        stm *= w_stm
        return lstm + stm
