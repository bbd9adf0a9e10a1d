"""Sampling: temperature, top-k, top-p, seeds, and clear errors for bad values."""

import math

import numpy as np
import pytest

from livemelody.sampling import SamplingParams, sample, sample_probabilities

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


def _reference_sample(logits, params, rng, banned=()):
    """The straightforward version (numpy functions, a mask): the fast one must draw the same."""
    scores = np.array(logits, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(scores)):
        raise ValueError("model produced non-finite logits")
    if len(banned):
        scores[list(banned)] = -np.inf
    if params.temperature == 0:
        return int(np.argmax(scores))
    scores = scores / params.temperature
    if params.top_k and params.top_k < scores.size:
        threshold = np.partition(scores, -params.top_k)[-params.top_k]
        scores[scores < threshold] = -np.inf
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    if params.top_p < 1.0:
        order = np.argsort(-probs, kind="stable")
        cumulative = np.cumsum(probs[order])
        keep = int(np.searchsorted(cumulative, params.top_p)) + 1
        mask = np.zeros_like(probs)
        mask[order[:keep]] = 1.0
        probs *= mask
        probs /= probs.sum()
    cumulative = np.cumsum(probs)
    index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return min(index, probs.size - 1)


@pytest.mark.parametrize(
    "params",
    [SamplingParams(1.0, top_p=0.95), SamplingParams(0.7, top_k=5, top_p=0.9), SamplingParams(1.3), SamplingParams(0)],
)
def test_the_fast_sampler_draws_what_the_straightforward_one_draws(params):
    logits_rng = np.random.default_rng(11)
    for seed in range(1500):
        logits = (logits_rng.normal(size=45) * 3).astype(np.float32)
        fast = sample(logits, params, np.random.default_rng(seed), banned=(0,))
        assert fast == _reference_sample(logits, params, np.random.default_rng(seed), banned=(0,))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_any_non_finite_logit_is_refused(bad):
    logits = np.zeros(45, np.float32)
    logits[7] = bad
    with pytest.raises(ValueError, match="non-finite"):
        sample(logits, SamplingParams(), np.random.default_rng(0))


@pytest.mark.parametrize(
    "params", [SamplingParams(1.0, top_p=0.95), SamplingParams(0.7, top_k=5, top_p=0.9), SamplingParams(1.3)]
)
def test_sampling_probabilities_draws_what_sampling_their_logs_draws(params):
    """A mixture's probabilities (the short-term model) are drawn from without a log and exp:
    the same ids as sample() on their logs, up to rounding at a boundary (none in 1,500)."""
    probs_rng = np.random.default_rng(12)
    for seed in range(1500):
        probs = probs_rng.dirichlet(np.full(45, 0.3)) + 1e-9
        fast = sample_probabilities(probs * 3.0, params, np.random.default_rng(seed), banned=(0,))
        assert fast == sample(np.log(probs), params, np.random.default_rng(seed), banned=(0,))


def test_sampling_probabilities_is_greedy_at_zero_bans_ids_and_refuses_bad_distributions():
    probs = np.array([0.5, 0.3, 0.2])
    assert sample_probabilities(probs, SamplingParams(0), np.random.default_rng(0)) == 0
    assert sample_probabilities(probs, SamplingParams(0), np.random.default_rng(0), banned=(0,)) == 1
    assert 0 not in {
        sample_probabilities(probs, SamplingParams(1e6), np.random.default_rng(s), (0,)) for s in range(200)
    }
    for bad in ([0.5, -0.1, 0.6], [0.5, np.nan, 0.5], [np.inf, 0.0, 0.0], [0.0, 0.0, 1.0]):
        with pytest.raises(ValueError, match="probability"):
            sample_probabilities(np.array(bad), SamplingParams(), np.random.default_rng(0), banned=(2,))
