"""Synchronous phrase variation and interpolation with a VAE session: no threads, no MIDI.

The player's notes (any key) are moved to C major / A minor as in the LSTM path
(:func:`livemelody.encoding.to_reference`) and by whole octaves towards the register the
models were trained in (:func:`livemelody.encoding.phrase.register_shift`), encoded as events
(notes and rests) and cut or padded to the model's phrase length; results are decoded,
trimmed back to the phrase's length and moved back to the player's key and octave, starting
where the phrase starts.

- variation: ``z = mean + s * sigma * eps``, ``eps ~ N(0, I)``, where the noise scale
  ``s = noise_scale(amount)`` comes from the variation amount (0..1, the knob): amount 0 is
  the reconstruction, and the share of events changed rises about evenly with the amount up to
  about 60% of the phrase at 1 (see :data:`AMOUNT_CURVE`);
- interpolation: from ``mean(A)`` to ``mean(B)``, linear or spherical (slerp).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from livemelody.encoding import Key, to_reference, transpose
from livemelody.encoding.phrase import events_to_notes, notes_to_events, pad_events, register_shift, trim_padding
from livemelody.events import Note
from livemelody.models.vae import VaeSession

INTERPOLATIONS = ("slerp", "linear")
AMOUNT_CURVE = ((0.0, 0.0), (0.1, 2.24), (0.3, 3.48), (0.5, 4.49), (0.7, 5.53), (0.9, 6.78), (1.0, 7.57))
"""(variation amount, noise scale s) knots; :func:`noise_scale` is linear between them and
beyond the last. Fitted by ``python -m training.amount_curve`` (``fitted_curve``) to the five
shipped styles' held-out test phrases, so that the mean share of events changed rises linearly
from the reconstruction error (3%, amount 0) to 60% (amount 1); the measured curve, per style,
is in docs/EVALUATION.md. Up to s = 1.5 the decoder gives a phrase back nearly unchanged (it
learnt to absorb the posterior's own noise), which is why the former knob (s itself, 0-6)
changed almost nothing below 1.5."""


@dataclass(frozen=True)
class EncodedPhrase:
    """A player's phrase as the VAE sees it, and what is needed to give results back."""

    pitches: np.ndarray
    """Pitch ids [length] in C major / A minor, padded."""
    durations: np.ndarray
    """Duration ids [length], padded."""
    events: int
    """Real events kept (notes and rests; at most the model's length)."""
    events_in: int
    """Events in the player's phrase before cutting."""
    key: Key
    shift: int
    """Semitones added to move the phrase to C major / A minor and the models' register."""
    start: int
    """First onset, in steps."""
    velocity: int


def encode_phrase(session: VaeSession, notes: Sequence[Note], key: Key | None = None) -> EncodedPhrase:
    """Move ``notes`` to C/Am (``key``, else detected from the phrase) and cut or pad their
    events to ``session.length``. Only the first ``session.length`` onsets are encoded (they
    fill the phrase); the events of the rest are only counted."""
    if not notes:
        raise ValueError("the phrase has no notes")
    ordered = sorted(notes, key=lambda n: (n.start, -n.pitch))
    onsets = sorted({n.start for n in ordered})
    head = ordered if len(onsets) <= session.length else [n for n in ordered if n.start < onsets[session.length]]
    moved, key, shift = to_reference(head, key)
    octaves = register_shift(moved)
    events = notes_to_events(transpose(moved, octaves))
    events_in = len(events) if len(head) == len(ordered) else len(notes_to_events(ordered))
    pitches, durations = pad_events(events, session.length)
    velocity = int(round(np.mean([n.velocity for n in head])))
    return EncodedPhrase(
        pitches,
        durations,
        min(len(events), session.length),
        events_in,
        key,
        shift + octaves,
        ordered[0].start,
        velocity,
    )


def to_notes(
    phrase: EncodedPhrase, pitches: np.ndarray, durations: np.ndarray, events: int | None = None
) -> list[Note]:
    """Decoded ids [length] -> notes in the phrase's key from its start, cut to ``events``
    (default: the phrase's own count), trailing silence dropped."""
    count = phrase.events if events is None else events
    kept = trim_padding(list(zip(pitches[:count].tolist(), durations[:count].tolist())))
    return transpose(events_to_notes(kept, phrase.start, phrase.velocity), -phrase.shift)


def noise_scale(amount: float) -> float:
    """The variation amount (0..1; more is allowed) -> the noise scale s of :func:`perturb`,
    piecewise linear through :data:`AMOUNT_CURVE`. Raises ValueError for a negative or
    non-finite amount."""
    if not np.isfinite(amount) or amount < 0:
        raise ValueError(f"amount must be a finite number >= 0, not {amount!r}")
    (a0, s0), (a1, s1) = AMOUNT_CURVE[-2:]
    if amount >= a1:
        return float(s1 + (amount - a1) * (s1 - s0) / (a1 - a0))
    knobs, scales = zip(*AMOUNT_CURVE)
    return float(np.interp(amount, knobs, scales))


def perturb(mean: np.ndarray, sigma: np.ndarray, scale: float, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` latents [count, latent]: mean + scale * sigma * eps (mean, sigma [latent] or
    [1, latent]); ``scale`` is the noise scale s (see :func:`noise_scale`)."""
    if not np.isfinite(scale) or scale < 0:
        raise ValueError(f"amount must be a finite number >= 0, not {scale!r}")
    mean, sigma = np.reshape(mean, (1, -1)), np.reshape(sigma, (1, -1))
    eps = rng.standard_normal((count, mean.shape[1]))
    return (mean + scale * sigma * eps).astype(np.float32)


def vary(
    session: VaeSession,
    notes: Sequence[Note],
    amount: float,
    count: int,
    rng: np.random.Generator,
    key: Key | None = None,
) -> tuple[EncodedPhrase, list[list[Note]]]:
    """(the encoded phrase, ``count`` variations of ``notes`` in their key, ``key`` where
    given); ``amount``: the variation amount (0 = the reconstruction, 1 = about 60% of the
    events changed; see :func:`noise_scale`)."""
    if count < 1:
        raise ValueError("count must be >= 1")
    scale = noise_scale(amount)
    phrase = encode_phrase(session, notes, key)
    mean, sigma = session.encode(phrase.pitches, phrase.durations)
    pitches, durations = session.decode(perturb(mean, sigma, scale, count, rng))
    return phrase, [to_notes(phrase, p, d) for p, d in zip(pitches, durations)]


def lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return (1 - t) * a + t * b


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation (Shoemake) of two vectors; linear where they are (anti)parallel."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return lerp(a, b, t)
    omega = np.arccos(np.clip(np.dot(a / na, b / nb), -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return lerp(a, b, t)
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def interpolate(
    session: VaeSession,
    a: Sequence[Note],
    b: Sequence[Note],
    steps: int,
    method: str = "slerp",
    keys: tuple[Key | None, Key | None] = (None, None),
) -> tuple[EncodedPhrase, EncodedPhrase, list[list[Note]]]:
    """(A, B encoded, ``steps`` phrases from A's reconstruction to B's at t = 0 .. 1).

    ``keys`` are A's and B's keys where known (else detected from each phrase). The whole
    path is in A's key and starts where A starts; the phrase at t has
    round((1 - t) * events(A) + t * events(B)) events.
    """
    if steps < 2:
        raise ValueError("steps must be >= 2 (the path includes both ends)")
    if method not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {method!r}; choose {' or '.join(INTERPOLATIONS)}")
    pa, pb = encode_phrase(session, a, keys[0]), encode_phrase(session, b, keys[1])
    means, _ = session.encode(np.stack([pa.pitches, pb.pitches]), np.stack([pa.durations, pb.durations]))
    blend = slerp if method == "slerp" else lerp
    ts = np.linspace(0.0, 1.0, steps)
    z = np.stack([blend(means[0], means[1], t) for t in ts]).astype(np.float32)
    pitches, durations = session.decode(z)
    path = [
        to_notes(pa, p, d, int(round((1 - t) * pa.events + t * pb.events))) for t, p, d in zip(ts, pitches, durations)
    ]
    return pa, pb, path


def one_after_another(
    phrases: Sequence[Sequence[Note]], start: int, bar_steps: int, downbeat: int | None = None
) -> list[list[Note]]:
    """Phrases that all start at ``start``, shifted so they play in turn: phrase k moves by
    k blocks, a block being the whole bars (of ``bar_steps``) that cover the longest phrase
    from the bar line at or before ``start``. Bars are counted from ``downbeat`` (a bar line,
    in steps; default 0), so a pickup before it keeps its place before the bar line in every
    phrase."""
    first_bar = start - (start - (downbeat or 0)) % bar_steps
    end = max((n.end for phrase in phrases for n in phrase), default=start + 1)
    block = max(1, -(-(end - first_bar) // bar_steps)) * bar_steps
    return [
        [Note(n.pitch, n.start + k * block, n.duration, n.velocity) for n in phrase] for k, phrase in enumerate(phrases)
    ]
