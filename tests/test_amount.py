"""The variation amount knob: its map to the VAE's noise scale, and that it spans its range on a real model."""

import numpy as np
import pytest

from livemelody.config import SETTINGS
from livemelody.models.registry import load_vae
from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN
from livemelody.variation import AMOUNT_CURVE, encode_phrase, noise_scale, vary
from training.vae_metrics import edit_distance


def test_the_setting_is_the_knob_from_nothing_to_most_of_the_notes():
    amount = SETTINGS["amount"]
    assert (amount.low, amount.high) == (0.0, 1.0) and amount.low <= amount.default <= amount.high
    assert amount.cc is not None


def test_noise_scale_goes_through_the_curve_and_rises():
    for knob, scale in AMOUNT_CURVE:
        assert noise_scale(knob) == pytest.approx(scale)
    values = [noise_scale(a) for a in np.linspace(0, 1.5, 31)]
    assert values[0] == 0.0 and all(b > a for a, b in zip(values, values[1:]))
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="amount"):
            noise_scale(bad)


def _changed(session, notes, amount, draws=24):
    phrase, variations = vary(session, notes, amount, draws, np.random.default_rng(1))
    original = list(zip(phrase.pitches[: phrase.events].tolist(), phrase.durations[: phrase.events].tolist()))
    shares = []
    for variation in variations:
        again = encode_phrase(session, variation, phrase.key)
        events = list(zip(again.pitches[: again.events].tolist(), again.durations[: again.events].tolist()))
        shares.append(edit_distance(original, events) / len(original))
    return float(np.mean(shares))


def test_the_knob_spans_nearly_the_same_to_very_different_on_a_shipped_vae():
    session = load_vae("deutsch")
    low, middle, high = (_changed(session, AH_VOUS_DIRAI_JE_MAMAN, a) for a in (0.05, 0.5, 1.0))
    assert low < 0.1 and high > 0.3 and low < middle < high


def test_fitted_knots_invert_the_measured_curve():
    from training.amount_curve import KNOTS, SCALES, fitted_curve

    share = {s: 0.02 + 0.08 * s for s in SCALES}  # a made-up straight line: 2% at s = 0, 82% at 10
    knots = fitted_curve({"a": {"by_scale": share}, "b": {"by_scale": share}}, top=0.62)
    assert [a for a, _ in knots] == list(KNOTS) and knots[0] == (0.0, 0.0)
    for amount, scale in knots[1:]:
        assert share_at(scale) == pytest.approx(0.02 + amount * 0.6, abs=1e-3)


def share_at(scale):
    return 0.02 + 0.08 * scale
