"""Synchronous melody continuation with an LSTM session: no threads, no MIDI.

The player's notes (any key) are moved to the models' C major / A minor, primed in one call,
continued step by step with the sampler, and moved back to the player's key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from livemelody.blend import Blend, continue_blended
from livemelody.encoding import Key, notes_to_tokens, to_reference, tokens_to_notes, transpose
from livemelody.encoding.bars import BarGrid, bar_inputs, bar_of, meter_grid
from livemelody.encoding.phrase import register_shift
from livemelody.encoding.vocab import DELIMITER_ID
from livemelody.events import Note
from livemelody.form import Quoter, full_bars
from livemelody.models.lstm import LstmSession
from livemelody.ppm import TokenStm
from livemelody.sampling import SamplingParams, sample_mixed


@dataclass(frozen=True)
class Continuation:
    """A continuation in the player's key; ``notes`` start at the primer's end (steps)."""

    notes: list[Note]
    key: Key
    shift: int
    """Semitones added to move the primer to C major / A minor and the models' register."""
    tokens: list[int]
    """The generated tokens, in the model's key."""


PRIMER_STEPS = 256
"""The model is primed with the primer's last 256 steps (16 bars of 4/4) only: the LSTM's
answer depends little on what came earlier, and a 100,000-note file stays quick."""


def primer_tokens(notes: Sequence[Note], session: LstmSession, key: Key | None = None) -> tuple[list[int], Key, int]:
    """(tokens of the primer's last ``PRIMER_STEPS`` steps, its key, shift to C/Am plus whole
    octaves to the models' register).

    ``key`` is the primer's key where known (a file's key from all its notes), else detected
    from ``notes``. The octaves bring the primer's mean pitch nearest
    :data:`~livemelody.encoding.phrase.REGISTER_CENTRE`, so a flute two octaves up is heard
    in the register the model knows and answered back where it was played.
    """
    if not notes:
        raise ValueError("the primer has no notes")
    end = max(n.end for n in notes)
    window = [n for n in notes if n.end > end - PRIMER_STEPS]
    moved, key, shift = to_reference(window, key)
    octaves = register_shift(moved)
    start = max(min(n.start for n in window), end - PRIMER_STEPS)
    return notes_to_tokens(transpose(moved, octaves), session.vocab, start=start, end=end), key, shift + octaves


def continue_tokens(
    session: LstmSession,
    primer: Sequence[int],
    steps: int,
    params: SamplingParams,
    rng: np.random.Generator,
    quoter: Quoter | None = None,
    blend: Blend | None = None,
    stm_weight: float = 0.0,
    grid: BarGrid | None = None,
    start: int = 0,
) -> list[int]:
    """``steps`` tokens after ``primer`` (the delimiter is prepended, never sampled): sampled,
    except where ``quoter`` (its steps counted from 0 at the primer's end) re-plays a bar of
    the primer (:mod:`livemelody.form`); quoted tokens are fed to the model like sampled ones.
    With an active ``blend``, sampled from the blend of two styles (:mod:`livemelody.blend`).

    ``stm_weight`` in [0, 1] mixes in the short-term model of the song so far (primer and
    every token after it, quoted or sampled: :class:`~livemelody.ppm.TokenStm`); 0 samples
    the LSTM (or the blend) alone.

    ``grid``: the bar grid of the primer's steps, the primer's first token being step
    ``start`` (the shared model's bar inputs, :mod:`livemelody.encoding.bars`); None: no meter."""
    stm = TokenStm(session.vocab.size, stm_weight, [DELIMITER_ID, *primer]) if stm_weight else None
    if blend is not None and blend.active:
        return continue_blended(session, blend, primer, steps, params, rng, quoter, stm, grid, start)
    if steps < 0:
        raise ValueError("steps must be >= 0")
    stream = session.stepper([DELIMITER_ID, *primer], bar_inputs(grid, start, len(primer) + 1))
    logits = stream.logits
    end = start + len(primer)
    out: list[int] = []
    for i in range(steps):
        token = None if quoter is None else quoter.forced(i)
        if token is None:
            token = sample_mixed(logits, params, rng, (DELIMITER_ID,), stm)
        out.append(token)
        if i + 1 < steps:
            logits = stream.step(token, bar_of(grid, end + i + 1))
            if stm is not None:
                stm.learn(token)
    return out


def continue_melody(
    session: LstmSession,
    notes: Sequence[Note],
    steps: int,
    params: SamplingParams,
    rng: np.random.Generator,
    key: Key | None = None,
    quote: float = 0.0,
    meter: tuple[int, int] | None = None,
    blend: Blend | None = None,
    stm_weight: float = 0.0,
) -> Continuation:
    """Continue ``notes`` for ``steps`` 16th steps, in their key (``key``, else detected) and
    register, starting at their end; ``blend`` mixes in a second style (:mod:`livemelody.blend`).

    ``meter`` is (steps per bar, the step of a bar line) of the notes' bar grid; with it and a
    ``quote`` above 0, each pair of the continuation's bars re-plays, with probability
    ``quote``, the primer's bars in the same place among its last full bars (as many as the
    continuation has bars: the parallel rule of :class:`~livemelody.form.Quoter`). Without
    ``meter`` nothing is quoted. The same grid gives the shared model its bar inputs (none
    without ``meter``, or for a bar longer than :data:`~livemelody.encoding.bars.MAX_BAR_LEN`).
    ``stm_weight`` as :func:`continue_tokens` takes it."""
    tokens, key, shift = primer_tokens(notes, session, key)
    end = max(n.end for n in notes)
    grid = None if meter is None else meter_grid(*meter)
    quoter = None
    if meter is not None and quote > 0:
        steps_per_bar, bar_line = meter
        bars = full_bars(tokens, bar_line - (end - len(tokens)), steps_per_bar)
        bars = bars[-max(1, steps // steps_per_bar) :]
        quoter = Quoter(bars, steps_per_bar, quote, rng, bar_line=bar_line - end)
    generated = continue_tokens(session, tokens, steps, params, rng, quoter, blend, stm_weight, grid, end - len(tokens))
    velocity = int(round(np.mean([n.velocity for n in notes])))
    raw = tokens_to_notes(generated, session.vocab, start=end, velocity=velocity)
    return Continuation(transpose(raw, -shift), key, shift, generated)
