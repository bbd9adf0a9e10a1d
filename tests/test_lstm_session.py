"""LstmSession on the tiny stand-in model: loading, integrity check, priming, streaming."""

import json
import shutil

import numpy as np
import pytest

from livemelody.generate import continue_melody, continue_tokens
from livemelody.models.lstm import LstmSession
from livemelody.models.metadata import ModelError, load_metadata
from livemelody.models.registry import find_model, load_lstm
from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN
from livemelody.sampling import SamplingParams
from tests.conftest import TINY_JSON, TINY_MODELS


@pytest.fixture(scope="module")
def session():
    return LstmSession(TINY_JSON)


def test_prime_in_one_call_equals_streaming_step_by_step(session):
    tokens = [0, 10, 2, 2, 2, 14, 2, 1, 2, 20]
    logits_once, (h1, c1) = session.prime(tokens)
    state = session.zero_state()
    for token in tokens:
        logits, state = session.step(token, state)
    assert np.abs(logits - logits_once).max() < 1e-5
    assert np.abs(state[0] - h1).max() < 1e-5 and np.abs(state[1] - c1).max() < 1e-5


def test_the_stepper_gives_the_steps_logits_and_state_to_the_bit(session):
    primer = [0, 10, 2, 2]
    stepper = session.stepper(primer)
    logits, state = session.prime(primer)
    assert np.array_equal(stepper.logits, logits)
    for token in (14, 2, 1, 2, 20, 10, 10):  # odd and even steps: both of its bindings
        logits, state = session.step(token, state)
        assert np.array_equal(stepper.step(token), logits)
        assert all(np.array_equal(a, b) for a, b in zip(stepper.state, state))
    from livemelody.models.lstm import Stepper

    given = session.prime([0, 10])[1]
    kept = tuple(a.copy() for a in given)
    own = Stepper(session, logits, given)
    own.step(2), own.step(2)  # both of its buffers written
    assert all(np.array_equal(a, b) for a, b in zip(given, kept))  # the caller's state is not one of them
    other = session.stepper([0, 11])  # a second stream on the same session keeps its own buffers
    stepper.step(2)
    logits, state = session.step(2, state)
    assert np.array_equal(stepper.logits, logits) and not np.array_equal(other.logits, logits)


def test_state_is_explicit_and_batch_is_dynamic(session):
    tokens = np.array([[0, 10, 2], [0, 11, 2]], dtype=np.int64)
    logits, (h, c) = session.run(tokens, session.zero_state(batch=2))
    assert logits.shape == (2, 3, session.vocab.size)
    assert h.shape == (1, 2, session.hidden_size)
    assert not np.allclose(logits[0], logits[1])


def test_continuation_is_seeded_and_never_emits_the_delimiter(session):
    params = SamplingParams(temperature=1.5)
    a = continue_tokens(session, [10, 2, 2], 200, params, np.random.default_rng(3))
    b = continue_tokens(session, [10, 2, 2], 200, params, np.random.default_rng(3))
    assert a == b and len(a) == 200 and 0 not in a


def test_continue_melody_in_the_players_key(session):
    moved = [n.__class__(n.pitch + 2, n.start, n.duration, 100) for n in AH_VOUS_DIRAI_JE_MAMAN]  # D major
    result = continue_melody(session, moved, 32, SamplingParams(0.0), np.random.default_rng(0))
    assert str(result.key) == "D" and result.shift == -2
    assert all(n.start >= 64 for n in result.notes) and all(n.velocity == 100 for n in result.notes)
    back_in_model_key = [n.pitch + result.shift for n in result.notes]
    assert all(session.vocab.low <= p <= session.vocab.high for p in back_in_model_key)


def test_corrupted_onnx_is_refused_with_a_clear_error(tmp_path):
    for name in ("lstm_tiny.json", "lstm_tiny.onnx"):
        shutil.copy(TINY_MODELS / name, tmp_path / name)
    with open(tmp_path / "lstm_tiny.onnx", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    with pytest.raises(ModelError, match="does not match its metadata"):
        LstmSession(tmp_path / "lstm_tiny.json")


def test_bad_metadata_is_refused(tmp_path):
    raw = json.loads(TINY_JSON.read_text())
    raw["schema_version"] = 99
    (tmp_path / "m.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="schema version"):
        load_metadata(tmp_path / "m.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_metadata(tmp_path / "bad.json")


def test_registry_finds_styles_and_names_the_installed_ones(tiny_models):
    path, meta = find_model("lstm", "tiny")
    assert meta.style == "tiny" and path == TINY_JSON
    with pytest.raises(ModelError, match="installed styles: .*tiny"):
        find_model("lstm", "klingon")
    assert load_lstm("tiny").hidden_size == 16
