"""The VAE session and the variation API: contract checks, key and length handling, seeds."""

import json
import shutil

import numpy as np
import pytest

from livemelody.encoding import transpose
from livemelody.encoding.phrase import DURATION_STEPS, PITCH_CLASSES, SILENCE
from livemelody.events import Note
from livemelody.models.metadata import ModelError
from livemelody.models.registry import load_vae
from livemelody.models.vae import VaeSession
from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN
from livemelody.variation import encode_phrase, interpolate, lerp, one_after_another, perturb, slerp, vary
from tests.conftest import TINY_MODELS

LENGTH = 16


class IdentityVae:
    """An in-memory stand-in with VaeSession's contract whose decoder inverts its encoder:
    z holds the ids themselves, so every result is exactly predictable."""

    length = LENGTH
    latent_size = 2 * LENGTH

    def encode(self, pitches, durations):
        mean = np.concatenate([np.atleast_2d(pitches), np.atleast_2d(durations)], axis=1).astype(np.float32)
        return mean, np.full_like(mean, 0.1)

    def decode(self, z):
        ids = np.rint(np.atleast_2d(z)).astype(np.int64)
        return np.clip(ids[:, :LENGTH], 0, PITCH_CLASSES - 1), np.clip(ids[:, LENGTH:], 0, len(DURATION_STEPS) - 1)


def melody(pitches, start=0, length=4):
    return [Note(p, start + i * length, length, 90) for i, p in enumerate(pitches)]


@pytest.mark.parametrize("shift", [0, 3, -4, 6, -12, 19])
def test_amount_zero_gives_the_phrase_back_in_its_key_and_place(shift):
    notes = [Note(n.pitch, n.start + 10, n.duration, 70) for n in transpose(AH_VOUS_DIRAI_JE_MAMAN, shift)]
    phrase, variations = vary(IdentityVae(), notes, 0.0, 2, np.random.default_rng(0))
    assert variations == [notes, notes]
    assert phrase.start == 10 and phrase.velocity == 70 and phrase.events == 14


def test_phrases_an_octave_apart_look_the_same_to_the_model():
    phrases = [encode_phrase(IdentityVae(), transpose(AH_VOUS_DIRAI_JE_MAMAN, octave)) for octave in (-24, -12, 0, 12)]
    assert all(np.array_equal(p.pitches, phrases[2].pitches) for p in phrases)
    assert [p.shift for p in phrases] == [24, 12, 0, -12]


def test_minor_phrase_round_trips():
    e_minor = melody([64, 66, 67, 71, 69, 67, 66, 64, 63, 64])
    phrase, (back,) = vary(IdentityVae(), e_minor, 0.0, 1, np.random.default_rng(0))
    assert str(phrase.key) == "em" and back == e_minor


def test_short_phrase_is_padded_and_trimmed_back_with_rests_kept():
    notes = [Note(60, 0, 4), Note(64, 6, 2), Note(67, 8, 8)]
    phrase = encode_phrase(IdentityVae(), notes)
    assert phrase.events == 4 and phrase.pitches[4:].tolist() == [SILENCE] * 12
    assert vary(IdentityVae(), notes, 0.0, 1, np.random.default_rng(0))[1][0] == notes


def test_long_phrase_is_cut_to_the_model_length():
    notes = melody([60, 62, 64, 65, 67, 65, 64, 62] * 3)  # 24 notes
    phrase, (back,) = vary(IdentityVae(), notes, 0.0, 1, np.random.default_rng(0))
    assert phrase.events_in == 24 and phrase.events == LENGTH and back == notes[:LENGTH]


def test_perturb_is_seeded_and_scaled():
    mean, sigma = np.zeros(4), np.ones(4)
    a = perturb(mean, sigma, 1.0, 3, np.random.default_rng(5))
    assert a.shape == (3, 4) and a.dtype == np.float32
    assert np.array_equal(a, perturb(mean, sigma, 1.0, 3, np.random.default_rng(5)))
    assert np.allclose(perturb(mean, sigma, 2.0, 3, np.random.default_rng(5)), 2 * a)
    assert np.array_equal(perturb(mean + 1, sigma, 0.0, 2, np.random.default_rng(1)), np.ones((2, 4), np.float32))
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="amount"):
            perturb(mean, sigma, bad, 1, np.random.default_rng(0))


def test_empty_phrase_and_bad_counts_are_refused():
    with pytest.raises(ValueError, match="no notes"):
        vary(IdentityVae(), [], 0.5, 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="count"):
        vary(IdentityVae(), melody([60, 62]), 0.5, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="steps"):
        interpolate(IdentityVae(), melody([60]), melody([62]), 1)
    with pytest.raises(ValueError, match="interpolation"):
        interpolate(IdentityVae(), melody([60]), melody([62]), 3, "cubic")


def test_slerp_and_lerp_meet_both_ends():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(8), rng.standard_normal(8)
    for blend in (lerp, slerp):
        assert np.allclose(blend(a, b, 0.0), a) and np.allclose(blend(a, b, 1.0), b)
    assert np.isclose(np.linalg.norm(slerp(a, 2 * a, 0.5)), 1.5 * np.linalg.norm(a))  # parallel: linear
    unit_a, unit_b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    assert np.isclose(np.linalg.norm(slerp(unit_a, unit_b, 0.3)), 1.0)  # stays on the sphere


@pytest.mark.parametrize("method", ["slerp", "linear"])
def test_interpolation_runs_from_a_to_b_in_a_key(method):
    a = transpose(AH_VOUS_DIRAI_JE_MAMAN, 2)[:8]  # D major, 8 notes
    b = melody([72, 71, 69, 67, 65, 64])  # C major, 6 notes
    pa, pb, path = interpolate(IdentityVae(), a, b, 5, method)
    assert len(path) == 5 and path[0] == a
    assert path[-1] == [Note(n.pitch + 2, n.start, n.duration, pa.velocity) for n in b]  # B, moved to A's key
    assert [len(p) for p in path] == [8, 8, 7, 6, 6]  # event count moves from A's to B's (round half to even)


def test_one_after_another_starts_each_phrase_on_a_bar_line():
    first = [Note(60, 4, 8), Note(62, 12, 12)]  # steps 4..24: bars 0 and 1 of 16 steps
    second = [Note(64, 4, 4)]
    placed = one_after_another([first, second, []], start=4, bar_steps=16)
    assert placed[0] == first and placed[1] == [Note(64, 36, 4)] and placed[2] == []


def test_tiny_session_loads_and_runs(tiny_models):
    session = load_vae("tiny")
    assert session.length == LENGTH and session.latent_size == 8 and session.style == "tiny"
    pitches = np.full((3, LENGTH), SILENCE)
    mean, sigma = session.encode(pitches, np.zeros((3, LENGTH)))
    assert mean.shape == sigma.shape == (3, 8) and (sigma > 0).all()
    p, d = session.decode(mean)
    assert p.shape == d.shape == (3, LENGTH) and p.max() < PITCH_CLASSES and d.max() < len(DURATION_STEPS)
    with pytest.raises(ValueError, match="phrase ids"):
        session.encode(np.zeros((1, 5)), np.zeros((1, 5)))
    with pytest.raises(ValueError, match="z must be"):
        session.decode(np.zeros((1, 3)))


def test_tiny_session_variations_are_seeded(tiny_models):
    session = load_vae("tiny")
    runs = [vary(session, AH_VOUS_DIRAI_JE_MAMAN, 3.0, 4, np.random.default_rng(seed))[1] for seed in (1, 1, 2)]
    assert runs[0] == runs[1] and runs[0] != runs[2]
    reconstruction = vary(session, AH_VOUS_DIRAI_JE_MAMAN, 0.0, 2, np.random.default_rng(3))[1]
    assert reconstruction[0] == reconstruction[1]  # amount 0: the decoded mean, whatever the noise


def _copy_pair(tmp_path):
    for path in TINY_MODELS.glob("vae_tiny_*"):
        shutil.copy(path, tmp_path)
    return tmp_path / "vae_tiny_encoder.json", tmp_path / "vae_tiny_decoder.json"


def test_encoder_and_decoder_of_different_runs_are_refused(tmp_path):
    encoder, decoder = _copy_pair(tmp_path)
    raw = json.loads(decoder.read_text())
    raw["training"]["run_id"] = "0" * 16
    decoder.write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="different training runs"):
        VaeSession(encoder, decoder)


def test_swapped_or_foreign_files_are_refused(tmp_path):
    encoder, decoder = _copy_pair(tmp_path)
    with pytest.raises(ModelError, match="not a vae_encoder"):
        VaeSession(decoder, encoder)
    with pytest.raises(ModelError, match="not a vae_encoder"):
        VaeSession(TINY_MODELS / "lstm_tiny.json", decoder)
    raw = json.loads(encoder.read_text())
    raw["encoding"]["duration_steps"] = [1, 2, 4, 8]
    encoder.write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="phrase encoding"):
        VaeSession(encoder, decoder)
