"""Synchronous melody continuation with an LSTM session: no threads, no MIDI.

The player's notes (any key) are moved to the models' C major / A minor, primed in one call,
continued step by step with the sampler, and moved back to the player's key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from livemelody.encoding import Key, notes_to_tokens, to_reference, tokens_to_notes, transpose
from livemelody.encoding.vocab import DELIMITER_ID
from livemelody.events import Note
from livemelody.models.lstm import LstmSession
from livemelody.sampling import SamplingParams, sample


@dataclass(frozen=True)
class Continuation:
    """A continuation in the player's key; ``notes`` start at the primer's end (steps)."""

    notes: list[Note]
    key: Key
    shift: int
    """Semitones added to move the primer to C major / A minor."""
    tokens: list[int]
    """The generated tokens, in the model's key."""


def primer_tokens(notes: Sequence[Note], session: LstmSession) -> tuple[list[int], Key, int]:
    """(tokens from the first onset to the last note's end, detected key, shift to C/Am)."""
    if not notes:
        raise ValueError("the primer has no notes")
    moved, key, shift = to_reference(notes)
    return notes_to_tokens(moved, session.vocab), key, shift


def continue_tokens(
    session: LstmSession,
    primer: Sequence[int],
    steps: int,
    params: SamplingParams,
    rng: np.random.Generator,
) -> list[int]:
    """``steps`` sampled tokens after ``primer`` (the delimiter is prepended, never sampled)."""
    if steps < 0:
        raise ValueError("steps must be >= 0")
    logits, state = session.prime([DELIMITER_ID, *primer])
    out: list[int] = []
    for i in range(steps):
        token = sample(logits, params, rng, banned=(DELIMITER_ID,))
        out.append(token)
        if i + 1 < steps:
            logits, state = session.step(token, state)
    return out


def continue_melody(
    session: LstmSession,
    notes: Sequence[Note],
    steps: int,
    params: SamplingParams,
    rng: np.random.Generator,
) -> Continuation:
    """Continue ``notes`` for ``steps`` 16th steps, in their key, starting at their end."""
    tokens, key, shift = primer_tokens(notes, session)
    generated = continue_tokens(session, tokens, steps, params, rng)
    end = max(n.end for n in notes)
    velocity = int(round(np.mean([n.velocity for n in notes])))
    raw = tokens_to_notes(generated, session.vocab, start=end, velocity=velocity)
    return Continuation(transpose(raw, -shift), key, shift, generated)
