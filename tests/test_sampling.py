"""Sampling: temperature, top-k, top-p, seeds, and clear errors for bad values."""

import math

import numpy as np
import pytest

from livemelody.sampling import SamplingParams, sample

LOGITS = np.log(np.array([0.5, 0.3, 0.15, 0.05]))


def draws(params, n=4000, seed=0, banned=()):
    rng = np.random.default_rng(seed)
    return np.bincount([sample(LOGITS, params, rng, banned) for _ in range(n)], minlength=4) / n


def test_temperature_one_follows_the_distribution():
    freq = draws(SamplingParams(1.0))
    assert np.allclose(freq, [0.5, 0.3, 0.15, 0.05], atol=0.03)


def test_temperature_zero_is_greedy():
    assert draws(SamplingParams(0.0), n=50).tolist() == [1.0, 0, 0, 0]


def test_low_temperature_sharpens_high_flattens():
    assert draws(SamplingParams(0.3))[0] > 0.8
    assert draws(SamplingParams(5.0))[3] > 0.15


def test_top_k_and_top_p_cut_the_tail():
    assert draws(SamplingParams(1.0, top_k=2))[2:].sum() == 0
    freq = draws(SamplingParams(1.0, top_p=0.75))  # 0.5 + 0.3 reach 0.75
    assert freq[2:].sum() == 0 and freq[1] > 0.3
    assert draws(SamplingParams(1.0, top_p=0.4)).tolist() == [1.0, 0, 0, 0]


def test_banned_tokens_are_never_drawn_even_when_greedy():
    assert draws(SamplingParams(1.0), banned=(0,))[0] == 0
    assert draws(SamplingParams(0.0), n=10, banned=(0,)).tolist() == [0, 1.0, 0, 0]


def test_same_seed_same_draws():
    a = [sample(LOGITS, SamplingParams(1.0), np.random.default_rng(7)) for _ in range(20)]
    b = [sample(LOGITS, SamplingParams(1.0), np.random.default_rng(7)) for _ in range(20)]
    assert a == b


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(temperature=-0.1),
        dict(temperature=math.nan),
        dict(temperature=math.inf),
        dict(top_k=-1),
        dict(top_k=1.5),
        dict(top_p=0),
        dict(top_p=1.2),
        dict(top_p=math.nan),
    ],
)
def test_bad_values_are_refused(kwargs):
    with pytest.raises(ValueError):
        SamplingParams(**kwargs)


def test_non_finite_logits_raise_instead_of_returning_garbage():
    with pytest.raises(ValueError, match="non-finite"):
        sample(np.array([0.0, np.nan]), SamplingParams(), np.random.default_rng(0))


def test_extreme_temperatures_never_give_nan():
    rng = np.random.default_rng(0)
    for t in (1e-6, 1e6):
        assert 0 <= sample(LOGITS * 1000, SamplingParams(t), rng) < 4
