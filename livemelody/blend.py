"""A live style blend: two styles' next-token distributions mixed at every 16th step.

The blend mixes the two styles' next-token distributions (not their style inputs): every step
the LSTM runs for both styles (the shared model with each style's row; a user's style with its
own model), each with its own state and both fed the token that was drawn, and the token is
drawn from their blend. With weight ``w`` (the ``blend`` setting,
0..1) between style A (the ``style`` setting) and style B (``blend_with``):

- ``mixture`` (arithmetic): p = (1 - w) p_A + w p_B. Each step is A's choice with
  probability 1 - w and B's with probability w.
- ``product`` (geometric, log-linear): p proportional to p_A^(1 - w) p_B^w, a weighted
  product of experts (Hinton 2002, "Training products of experts by minimizing contrastive
  divergence"): a token must be likely in both styles.

:data:`RULE` is the one the runtime uses; ``python -m training.blend_eval`` measures both
(docs/EVALUATION.md, section ``blend``): where an independent style classifier places the
answers of each weight between the two styles.

Temperature, top-k and top-p apply to the blended distribution, as they do to one style's.
A weight of 0 is the style alone: :func:`continue_blended` is not called then (the partner's
model does not run, and the tokens for a seed are exactly those without a blend); at weight 1
only the partner's model runs. The functions work for any number of styles.

Live (:func:`live_logits`, called by :class:`~livemelody.live.engine.EngineCore` for every
answer step): the engine already feeds every loaded style's LSTM every step (so the style knob
can switch mid-answer), so the blend adds no model run, only the mixing of two distributions.
The engine draws the token of step k at the half-step before it (k - 0.5) and reads the
settings as they are then, so a change of the blend (knob, key or command) at time t is heard
from the first step drawn after t: 0.5 to 1.5 steps after the change (75-225 ms at 100 BPM),
never later. Notes already drawn are not re-drawn.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from livemelody.encoding.bars import BarGrid, bar_inputs, bar_of
from livemelody.encoding.vocab import DELIMITER_ID
from livemelody.models.lstm import LstmSession
from livemelody.sampling import Mixture, SamplingParams, sample_mixed

MIXTURE = "mixture"
PRODUCT = "product"
RULES = (MIXTURE, PRODUCT)
RULE = PRODUCT
"""The rule the runtime uses. ``python -m training.blend_eval`` (docs/EVALUATION.md, section
``blend``), with the shared LSTM: the product's midpoint sits nearer halfway between deutsch
and han (position 0.45, 95% interval 0.41-0.50, against the mixture's 0.39, 0.34-0.43; the
difference's interval 0.01-0.12 excludes 0) and the knob moves the classifier more evenly
(0.047 against 0.082). With the per-style LSTMs before it the two were alike (0.47 / 0.48) and
the mixture was kept as the simpler rule."""


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Normalised log-probabilities (nats, float64) of ``logits`` [..., vocab]."""
    scores = np.asarray(logits, dtype=np.float64)
    shifted = scores - scores.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


_TINY = np.finfo(np.float64).tiny
"""The smallest positive float64: a probability that underflows to 0 is logged as this, so
the blend's log-probabilities stay finite (the sampler refuses infinities)."""


def blend_logits(logits: Sequence[np.ndarray], weights: Sequence[float], rule: str = RULE) -> np.ndarray:
    """The blend of several styles' next-token distributions, as log-probabilities [vocab].

    ``logits``: one array [vocab] per style (unnormalised log-probabilities); ``weights``: one
    number >= 0 per style, summing to 1. ``mixture``: log sum_i w_i p_i; ``product``: the
    normalised sum_i w_i log p_i. Where exactly one weight is non-zero its style's ``logits``
    come back unchanged (the same draws as that style alone). Raises :class:`ValueError` for
    mismatched lengths, weights outside that simplex, or an unknown rule.
    """
    if rule not in RULES:
        raise ValueError(f"blend rule must be one of {', '.join(RULES)}, not {rule!r}")
    if len(logits) != len(weights) or not logits:
        raise ValueError("give one weight per style's logits")
    if any(w < 0 for w in weights) or abs(sum(weights) - 1.0) > 1e-9:
        raise ValueError(f"blend weights must be >= 0 and sum to 1, not {list(weights)}")
    used = [(x, w) for x, w in zip(logits, weights) if w > 0]
    if len(used) == 1:
        return np.asarray(used[0][0])
    if rule == PRODUCT:
        return log_softmax(sum(w * log_softmax(x) for x, w in used))
    mixed = sum(w * _softmax(x) for x, w in used)  # a few numpy calls: this runs every live step
    return np.log(np.maximum(mixed, _TINY))


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(np.asarray(logits, dtype=np.float64) - np.max(logits))
    return e / e.sum()


class _Forcing(Protocol):
    def forced(self, step: int) -> int | None: ...


class _ShortTerm(Mixture, Protocol):
    def learn(self, token: int) -> None: ...


@dataclass(frozen=True)
class Blend:
    """The style blend of a continuation: ``weight`` (0..1) of ``partner``'s distribution,
    mixed by ``rule``. Raises :class:`ValueError` for a weight outside 0..1 or an unknown rule."""

    partner: LstmSession
    weight: float
    rule: str = RULE

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"blend must be 0-1, not {self.weight!r}")
        if self.rule not in RULES:
            raise ValueError(f"blend rule must be one of {', '.join(RULES)}, not {self.rule!r}")

    @property
    def active(self) -> bool:
        """Whether the partner's distribution counts at all (weight above 0)."""
        return self.weight > 0


def continue_blended(
    session: LstmSession,
    blend: Blend,
    primer: Sequence[int],
    steps: int,
    params: SamplingParams,
    rng: np.random.Generator,
    quoter: _Forcing | None = None,
    stm: _ShortTerm | None = None,
    grid: BarGrid | None = None,
    start: int = 0,
) -> list[int]:
    """``steps`` tokens after ``primer``, each drawn from the blend of ``session``'s style
    (weight 1 - ``blend.weight``) and ``blend.partner``'s, except where ``quoter`` forces one
    (:class:`~livemelody.form.Quoter`: a bar of the primer re-played); every token is fed to
    both models. A model whose weight is 0 does not run. ``stm`` (a
    :class:`~livemelody.ppm.TokenStm` that has learnt the primer) is mixed into the blend and
    learns every token. ``grid`` and ``start``: the bar inputs, as
    :func:`~livemelody.generate.continue_tokens` takes them. Raises :class:`ValueError` if the
    two models' vocabularies differ."""
    if steps < 0:
        raise ValueError("steps must be >= 0")
    if session.vocab != blend.partner.vocab:
        raise ValueError(f"cannot blend {session.style} with {blend.partner.style}: their vocabularies differ")
    pairs = [(s, w) for s, w in ((session, 1.0 - blend.weight), (blend.partner, blend.weight)) if w > 0]
    models = [s for s, _ in pairs]
    weights = [w for _, w in pairs]
    bars = bar_inputs(grid, start, len(primer) + 1)
    streams = [m.stepper([DELIMITER_ID, *primer], bars) for m in models]
    end = start + len(primer)
    out: list[int] = []
    for i in range(steps):
        token = None if quoter is None else quoter.forced(i)
        if token is None:
            logits = blend_logits([stream.logits for stream in streams], weights, blend.rule)
            token = sample_mixed(logits, params, rng, (DELIMITER_ID,), stm)
        out.append(token)
        if i + 1 < steps:
            bar = bar_of(grid, end + i + 1)
            for stream in streams:
                stream.step(token, bar)
            if stm is not None:
                stm.learn(token)
    return out


class _Streaming(Protocol):
    @property
    def logits(self) -> np.ndarray: ...


def live_logits(models: Mapping[str, _Streaming], style: str, partner: str, weight: float) -> np.ndarray:
    """The live engine's next-token logits [vocab] from each loaded style's streaming model
    (``models[s].logits``): ``style``'s alone at ``weight`` 0, with ``partner`` being
    ``style``, or with ``partner`` not loaded; else their blend by :data:`RULE`. The engine
    feeds every loaded style's model every step, so the blend needs no extra model run."""
    if weight <= 0 or partner == style or partner not in models:
        return models[style].logits
    return blend_logits((models[style].logits, models[partner].logits), (1.0 - weight, weight))


def blend_name(config, loaded: Container[str]) -> str:
    """The style and blend of an engine configuration as the turn log shows them: the style
    alone ("deutsch") where the blend is off or its partner not ``loaded``, else
    "deutsch + 0.50 han" (the weight of the other style)."""
    if config.blend <= 0 or config.blend_with == config.style or config.blend_with not in loaded:
        return config.style
    return f"{config.style} + {config.blend:.2f} {config.blend_with}"
