"""The shared LSTM at run time (issue 12, item 2): one file offered once per style, each style's
row fed at every step, the bar inputs of the steps the model predicts, offline and live alike.

The model is tests/fixtures/shared_models (the shared graph, untrained, two styles)."""

import shutil

import numpy as np
import pytest

from livemelody.encoding.bars import NO_METER, BarGrid, bar_inputs
from livemelody.encoding.vocab import DELIMITER_ID, FIRST_PITCH_ID, HOLD_ID
from livemelody.generate import continue_melody, continue_tokens
from livemelody.live.streaming import SHIFTS, StreamingLstm
from livemelody.models.lstm import LstmSession
from livemelody.models.metadata import ModelError, load_metadata
from livemelody.models.registry import find_model, installed_models, load_lstm
from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN
from livemelody.sampling import SamplingParams, sample_mixed
from tests.conftest import FIXTURES, TINY_MODELS

SHARED_MODELS = FIXTURES / "shared_models"
SHARED_JSON = SHARED_MODELS / "lstm_shared.json"


@pytest.fixture
def shared(monkeypatch):
    monkeypatch.setenv("LIVEMELODY_MODELS", str(SHARED_MODELS))
    return {style: load_lstm(style) for style in ("tinya", "tinyb")}


def _onnx_logits(session: LstmSession, tokens, row, pos, length):
    """The graph run directly with an explicit style row and bar inputs: the reference."""
    zero = np.zeros((1, 1, session.hidden_size), np.float32)
    feeds = {
        "tokens": np.asarray([tokens], np.int64),
        "style": np.asarray([row], np.float32),
        "bar_pos": np.asarray([pos], np.int64),
        "bar_len": np.asarray([length], np.int64),
        "h": zero,
        "c": zero,
    }
    return session._session.run(["logits"], feeds)[0][0]


def test_the_registry_offers_the_shared_model_once_per_style(shared):
    offered = {m.style: p.name for p, m in installed_models("lstm") if p.parent == SHARED_MODELS}
    assert offered == {"tinya": "lstm_shared.json", "tinyb": "lstm_shared.json"}
    assert shared["tinyb"].style == "tinyb" and shared["tinyb"].styles == ("tinya", "tinyb")
    assert shared["tinya"]._session is shared["tinyb"]._session  # one onnxruntime session for the file
    with pytest.raises(ModelError, match="installed styles: .*tinya, tinyb"):
        find_model("lstm", "jazz")


def test_a_styles_own_model_earlier_in_the_search_wins(monkeypatch, tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    for name in ("lstm_tiny.json", "lstm_tiny.onnx"):
        shutil.copy(TINY_MODELS / name, own / name)
    meta = load_metadata(own / "lstm_tiny.json")
    (own / "lstm_tiny.json").write_text(
        (own / "lstm_tiny.json").read_text().replace('"style": "tiny"', '"style": "tinya"')
    )
    assert meta.style == "tiny"
    monkeypatch.setenv("LIVEMELODY_MODELS", f"{own}:{SHARED_MODELS}")
    found = {m.style: p for p, m in installed_models("lstm")}
    assert found["tinya"].parent == own and found["tinyb"].parent == SHARED_MODELS
    assert not load_lstm("tinya").conditioned and load_lstm("tinyb").conditioned


def test_each_style_feeds_its_own_row_and_the_bars_reach_the_graph(shared):
    tokens = [DELIMITER_ID, FIRST_PITCH_ID + 12, HOLD_ID, FIRST_PITCH_ID + 14, HOLD_ID]
    grid = BarGrid(12, bar_line=-3)
    pos, length = bar_inputs(grid, 5, len(tokens))
    assert pos.tolist() == [8, 9, 10, 11, 0] and set(length.tolist()) == {12}
    for index, session in enumerate(shared.values()):
        row = np.eye(2, dtype=np.float32)[index]
        logits, _ = session.prime(tokens, bars=(pos, length))
        np.testing.assert_allclose(logits, _onnx_logits(session, tokens, row, pos, length)[-1], rtol=1e-5, atol=1e-6)
    a, _ = shared["tinya"].prime(tokens, bars=(pos, length))
    b, _ = shared["tinyb"].prime(tokens, bars=(pos, length))
    no_meter, _ = shared["tinya"].prime(tokens)
    assert np.abs(a - b).max() > 1e-3 and np.abs(a - no_meter).max() > 1e-3


def test_the_stepper_takes_the_bar_inputs_like_a_step(shared):
    session = shared["tinyb"]
    stepper = session.stepper([DELIMITER_ID, FIRST_PITCH_ID], bar_inputs(BarGrid(16), 0, 2))
    logits, state = session.prime([DELIMITER_ID, FIRST_PITCH_ID], bars=bar_inputs(BarGrid(16), 0, 2))
    for i, token in enumerate([HOLD_ID, FIRST_PITCH_ID + 2, HOLD_ID, HOLD_ID]):
        bar = (2 + i, 16)
        logits, state = session.step(token, state, bar)
        np.testing.assert_array_equal(stepper.step(token, bar), logits)
    assert np.abs(session.step(HOLD_ID, state, (6, 16))[0] - session.step(HOLD_ID, state, (0, 12))[0]).max() > 1e-4


def test_continue_feeds_the_bar_of_each_predicted_step(shared, monkeypatch):
    """The delimiter carries the primer's first step's place, each token the next step's,
    from the file's time signature grid (meter = steps per bar, a bar line)."""
    session = shared["tinya"]
    seen = []
    run = session.run

    def recording(tokens, state, bars=None):
        seen.append(
            None if bars is None else (np.asarray(bars[0]).reshape(-1).tolist(), np.asarray(bars[1]).reshape(-1)[0])
        )
        return run(tokens, state, bars)

    monkeypatch.setattr(session, "run", recording)
    notes = AH_VOUS_DIRAI_JE_MAMAN[:6]
    end = max(n.end for n in notes)
    params = SamplingParams(temperature=1.0)
    continue_melody(session, notes, 8, params, np.random.default_rng(0), meter=(12, 0))
    primed = seen[0]
    start = end - len(primed[0]) + 1
    assert primed[0] == [(s % 12) for s in range(start, end + 1)] and primed[1] == 12
    # the Stepper binds its inputs once, so its steps do not go through run(): replay them with
    # step() and each predicted step's bar, drawing with the same generator
    monkeypatch.setattr(session, "run", run)
    primer, grid = [FIRST_PITCH_ID] * 8, BarGrid(12, bar_line=5)
    made = continue_tokens(session, primer, 16, params, np.random.default_rng(1), grid=grid, start=3)
    rng = np.random.default_rng(1)
    logits, state = session.prime([DELIMITER_ID, *primer], bars=bar_inputs(grid, 3, 9))
    replayed = []
    for i in range(16):
        replayed.append(sample_mixed(logits, params, rng, (DELIMITER_ID,), None))
        logits, state = session.step(replayed[-1], state, (grid.position(3 + 8 + i + 1), 12))
    assert made == replayed
    later = continue_tokens(session, primer, 16, params, np.random.default_rng(1), grid=BarGrid(12, 17), start=15)
    assert later == made  # a whole bar later is the same place in the bar
    shifted = continue_tokens(session, primer, 16, params, np.random.default_rng(1), grid=BarGrid(12, 11), start=3)
    assert shifted != made  # half a bar off is another place: the bars reach every step


def test_live_priming_equals_offline_priming_for_the_chosen_key(shared):
    """The streaming model's row for a shift, fed step by step with each next step's bar,
    ends where one offline prime of the same tokens and bars ends."""
    session = shared["tinyb"]
    live = StreamingLstm(session)
    grid = BarGrid(16)
    first = 6
    live.reset((grid.position(first), 16))
    call = [(None, 60), (HOLD_ID, None), (None, 64), (HOLD_ID, None), (None, 67), (HOLD_ID, None)]
    for i, (token, pitch) in enumerate(call):
        live.feed_call(token, pitch, (grid.position(first + i + 1), 16))
    shift = SHIFTS[3]
    live.choose(shift)
    offline, _ = session.prime(live.tokens, bars=bar_inputs(grid, first, len(live.tokens)))
    np.testing.assert_allclose(live.logits, offline, rtol=1e-4, atol=1e-5)
    live.reset(NO_METER)  # another place in the bar: another start, the first one kept
    assert len(live._starts) == 2


def test_a_plain_model_ignores_bar_inputs(tiny_models):
    session = load_lstm("tiny")
    tokens = [DELIMITER_ID, FIRST_PITCH_ID, HOLD_ID]
    with_bars, _ = session.prime(tokens, bars=bar_inputs(BarGrid(16), 0, 3))
    np.testing.assert_array_equal(with_bars, session.prime(tokens)[0])


def test_a_shared_sidecar_naming_a_style_it_lacks_is_refused(tmp_path):
    for name in ("lstm_shared.json", "lstm_shared.onnx"):
        shutil.copy(SHARED_MODELS / name, tmp_path / name)
    meta = load_metadata(tmp_path / "lstm_shared.json")
    from dataclasses import replace

    with pytest.raises(ModelError, match="plays tinya, tinyb, not 'jazz'"):
        LstmSession(tmp_path / "lstm_shared.json", replace(meta, style="jazz"))


def test_bar_grid_refuses_bars_the_model_cannot_encode():
    with pytest.raises(ValueError, match="1-48"):
        BarGrid(64)
    assert BarGrid(12, 5).position(5) == 0 and BarGrid(12, 5).position(4) == 11


def test_the_live_engine_feeds_each_step_its_place_in_the_meters_bar(shared, monkeypatch):
    """In 3/4 the call's delimiter carries its first step's place, and every call and answer
    step the next step's: positions run on by one, modulo 12, with bar length 12."""
    from tests.test_live_engine import D_MAJOR_CALL, STEP, make, perform, play

    core, sched, out, clock = make(shared, style="tinya", meter="3/4", answer_bars=1)
    fed = []
    session = shared["tinyb"]
    run = session.run

    def recording(tokens, state, bars=None):
        fed.append((int(np.asarray(bars[0]).flat[0]), int(np.asarray(bars[1]).flat[0])))
        return run(tokens, state, bars)

    monkeypatch.setattr(session, "run", recording)
    perform(core, sched, clock, play(core, D_MAJOR_CALL), until=80 * STEP)
    assert core.turns and core.turns[-1].answer_steps == 12
    first = D_MAJOR_CALL[0][1]
    assert fed[0] == (first % 12, 12)  # the delimiter: the call's first step
    positions = [p for p, _ in fed]
    assert {n for _, n in fed} == {12} and len(fed) > 16 + 12
    assert all(b == (a + 1) % 12 for a, b in zip(positions, positions[1:]))


def test_a_styles_own_lstm_that_hides_the_shared_one_is_said(monkeypatch, tmp_path, capsys):
    """An old per-style LSTM earlier in the search order plays that style instead of the shared
    one (no meter inputs): `styles` says so, and so does `continue` with that style."""
    from livemelody.cli import main
    from tests.conftest import REPO

    own = tmp_path / "own"
    own.mkdir()
    for name in ("lstm_tiny.json", "lstm_tiny.onnx"):
        shutil.copy(TINY_MODELS / name, own / name)
    text = (own / "lstm_tiny.json").read_text().replace('"style": "tiny"', '"style": "tinya"')
    (own / "lstm_tiny.json").write_text(text)
    monkeypatch.setenv("LIVEMELODY_MODELS", f"{own}:{SHARED_MODELS}")
    from livemelody.models.registry import hidden_models

    lines = hidden_models()
    assert list(lines) == ["tinya"] and lines["tinya"].startswith("style 'tinya' plays")
    assert "lstm_shared.json" in lines["tinya"]
    assert main(["styles"]) == 0
    assert "hides" in capsys.readouterr().err
    example = REPO / "examples" / "ah_vous_dirai_je_maman.mid"
    out = tmp_path / "a.mid"
    assert main(["continue", str(example), "-o", str(out), "--style", "tinya", "--blend-with", "tinyb"]) == 0
    assert "hides" in capsys.readouterr().err
    assert main(["continue", str(example), "-o", str(out), "--style", "tinyb", "--force"]) == 0
    assert "hides" not in capsys.readouterr().err


def test_a_damaged_sidecar_is_named_when_its_style_is_asked_for(monkeypatch, tmp_path):
    for name in ("lstm_shared.json", "lstm_shared.onnx"):
        shutil.copy(SHARED_MODELS / name, tmp_path / name)
    (tmp_path / "lstm_shared.json").write_text("{ not json")
    monkeypatch.setenv("LIVEMELODY_MODELS", str(tmp_path))
    with pytest.raises(ModelError, match="lstm_shared.json is not valid JSON"):
        find_model("lstm", "tinya", [tmp_path])
