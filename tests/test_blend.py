"""The style blend (livemelody.blend): the mixture's arithmetic, continuations with and without
it, the live engine's knob, and the `continue` command's flags; on the shipped deutsch and han
LSTMs (two real, different distributions)."""

import copy

import mido
import numpy as np
import pytest

from livemelody.blend import (
    MIXTURE,
    PRODUCT,
    RULE,
    Blend,
    blend_logits,
    blend_name,
    continue_blended,
    log_softmax,
)
from livemelody.cli import main
from livemelody.clock import ManualClock
from livemelody.config import EngineConfig
from livemelody.encoding import Vocabulary
from livemelody.encoding.vocab import DELIMITER_ID
from livemelody.form import Quoter
from livemelody.generate import continue_tokens, primer_tokens
from livemelody.live import engine as engine_module
from livemelody.live.engine import ANSWERING, EngineCore
from livemelody.live.scheduler import Scheduler
from livemelody.midi.fake import FakeOutput
from livemelody.models.registry import load_lstm
from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN
from livemelody.sampling import SamplingParams, sample
from tests.conftest import REPO

PARAMS = SamplingParams(1.0, top_p=0.95)


@pytest.fixture(scope="module")
def deutsch():
    return load_lstm("deutsch", [REPO / "exported_models"])


@pytest.fixture(scope="module")
def han():
    return load_lstm("han", [REPO / "exported_models"])


@pytest.fixture(scope="module")
def primer(deutsch):
    return primer_tokens(AH_VOUS_DIRAI_JE_MAMAN, deutsch)[0]


def counting(session, monkeypatch):
    """Count the model runs of ``session``."""
    calls = []
    original = session.run

    def run(tokens, state, bars=None):
        calls.append(tokens.shape)
        return original(tokens, state, bars)

    monkeypatch.setattr(session, "run", run)
    return calls


def todays_continuation(session, primer, steps, params, rng):
    """The continuation loop as it was before the blend, written out independently."""
    logits, state = session.prime([DELIMITER_ID, *primer])
    out = []
    for _ in range(steps):
        token = sample(logits, params, rng, banned=(DELIMITER_ID,))
        out.append(token)
        logits, state = session.step(token, state)
    return out


def test_blend_0_gives_exactly_todays_tokens_and_never_runs_the_other_style(deutsch, han, primer, monkeypatch):
    expected = todays_continuation(deutsch, primer, 96, PARAMS, np.random.default_rng(11))
    partner_runs = counting(han, monkeypatch)
    for blend in (None, Blend(han, 0.0), Blend(han, 0.0, PRODUCT)):
        assert continue_tokens(deutsch, primer, 96, PARAMS, np.random.default_rng(11), blend=blend) == expected
    assert partner_runs == []
    blended = continue_tokens(deutsch, primer, 96, PARAMS, np.random.default_rng(11), blend=Blend(han, 0.5))
    assert blended != expected and len(partner_runs) > 0  # a blend does change the answer, at a cost


@pytest.mark.parametrize("rule", [MIXTURE, PRODUCT])
@pytest.mark.parametrize("weight", [0.1, 0.25, 0.5, 0.9])
def test_the_blend_is_a_normalised_distribution_between_the_two(deutsch, han, primer, rule, weight):
    a, _ = deutsch.prime([DELIMITER_ID, *primer])
    b, _ = han.prime([DELIMITER_ID, *primer])
    mixed = blend_logits([a, b], [1 - weight, weight], rule)
    assert mixed.shape == a.shape and np.all(np.isfinite(mixed))
    assert np.exp(mixed).sum() == pytest.approx(1.0, abs=1e-9)  # log-probabilities, normalised
    pa, pb = np.exp(log_softmax(a)), np.exp(log_softmax(b))
    if rule == MIXTURE:
        np.testing.assert_allclose(np.exp(mixed), (1 - weight) * pa + weight * pb, rtol=1e-9, atol=1e-15)
    else:
        geometric = pa ** (1 - weight) * pb**weight
        np.testing.assert_allclose(np.exp(mixed), geometric / geometric.sum(), rtol=1e-9, atol=1e-15)
    # between the two: closer to B's distribution than A's is, and closer to A's than B's is
    kl = lambda p, q: float(np.sum(p * (np.log(p) - np.log(q))))  # noqa: E731
    pm = np.exp(mixed)
    assert kl(pb, pm) < kl(pb, pa) and kl(pa, pm) < kl(pa, pb)


def test_blend_1_is_the_other_styles_distribution_and_its_tokens(deutsch, han, primer, monkeypatch):
    a, _ = deutsch.prime([DELIMITER_ID, *primer])
    b, _ = han.prime([DELIMITER_ID, *primer])
    for rule in (MIXTURE, PRODUCT):
        assert np.array_equal(blend_logits([a, b], [0.0, 1.0], rule), b)
        nearly = np.exp(blend_logits([a, b], [1e-9, 1 - 1e-9], rule))
        np.testing.assert_allclose(nearly, np.exp(log_softmax(b)), atol=1e-7)
    own_runs = counting(deutsch, monkeypatch)
    as_han = continue_tokens(deutsch, primer, 64, PARAMS, np.random.default_rng(3), blend=Blend(han, 1.0))
    assert own_runs == []  # weight 0 for the style itself: its model does not run
    assert as_han == continue_tokens(han, primer, 64, PARAMS, np.random.default_rng(3))


def test_a_blended_answer_still_quotes_the_call(deutsch, han, primer):
    bar = tuple(primer[-16:])
    quoter = Quoter([bar], 16, 1.0, np.random.default_rng(0))  # quote every bar
    out = continue_tokens(deutsch, primer, 48, PARAMS, np.random.default_rng(5), quoter, Blend(han, 0.5))
    assert out == list(bar) * 3  # the quoter forces every step, the blend samples none
    half = Quoter([bar], 16, 0.5, np.random.default_rng(1))
    out = continue_tokens(deutsch, primer, 128, PARAMS, np.random.default_rng(5), half, Blend(han, 0.5))
    quoted = set(half.quoted)
    assert quoted and len(quoted) < 8  # some pairs of bars quoted, some blended
    for index in range(8):
        assert (tuple(out[16 * index : 16 * index + 16]) == bar) or index not in quoted


def test_bad_blends_are_refused(deutsch, han, primer):
    with pytest.raises(ValueError, match="blend must be 0-1"):
        Blend(han, 1.5)
    with pytest.raises(ValueError, match="rule"):
        Blend(han, 0.5, "average")
    with pytest.raises(ValueError, match="sum to 1"):
        blend_logits([np.zeros(3), np.zeros(3)], [0.5, 0.6])
    with pytest.raises(ValueError, match="one weight per"):
        blend_logits([np.zeros(3)], [0.5, 0.5])
    other = copy.copy(han)
    other.vocab = Vocabulary(36, 96)  # a model of another pitch range: its ids mean other notes
    with pytest.raises(ValueError, match="vocabularies differ"):
        continue_blended(deutsch, Blend(other, 0.5), primer, 4, PARAMS, np.random.default_rng(0))


# ---- the live engine -----------------------------------------------------------------------
BPM = 120.0
STEP = 60 / BPM / 4
CALL = [(62, 8), (64, 10), (66, 12), (67, 14), (69, 16), (71, 18), (73, 20), (74, 22)]  # D major, 2 steps each


def test_the_engine_plays_a_blend_change_from_the_next_step_it_generates(deutsch, han, monkeypatch):
    clock = ManualClock()
    out = FakeOutput(clock.now)
    sched = Scheduler(out.send, clock.now)
    # stm_weight 0: the logits drawn from are the blend's alone (the short-term model mixes on top)
    config = EngineConfig(style="deutsch", blend_with="han", blend=0.0, bpm=BPM, answer_bars=4, stm_weight=0.0)
    core = EngineCore(config, {"deutsch": deutsch, "han": han}, sched, 0.0, seed=1)
    draws = []  # (time, logits drawn from, each style's logits then)

    def recording_sample(logits, params, rng, banned=(), mixture=None):
        assert mixture is None  # stm_weight 0
        draws.append((clock.now(), np.array(logits), {s: m.logits.copy() for s, m in core.models.items()}))
        return sample(logits, params, rng, banned)

    monkeypatch.setattr(engine_module, "sample_mixed", recording_sample)

    def run_until(t):
        while clock.now() < t:
            clock.set(round(clock.now() + 0.005, 6))
            core.advance(clock.now())
            sched.send_due(clock.now())

    for pitch, start in CALL:
        run_until(start * STEP)
        core.handle(start * STEP, [0x90, pitch, 100])
        run_until((start + 2) * STEP - 0.01)
        core.handle(clock.now(), [0x80, pitch, 0])
    run_until(40 * STEP)
    assert core.state == ANSWERING and len(draws) >= 8
    for _, drawn, logits in draws:  # blend 0: the style's own logits, untouched
        assert np.array_equal(drawn, logits["deutsch"])
    run_until(clock.now() + 0.3 * STEP)  # between two steps
    changed_at, before = clock.now(), len(draws)
    core.set(blend=0.5)
    run_until(changed_at + 4 * STEP)
    after = draws[before:]
    assert len(after) >= 3
    assert after[0][0] - changed_at <= STEP + 0.005  # the next step generated after the change (one tick)...
    for _, drawn, logits in after:  # ...and every one after it, is drawn from the blend
        np.testing.assert_allclose(drawn, blend_logits([logits["deutsch"], logits["han"]], [0.5, 0.5], RULE))
    assert not np.array_equal(after[0][1], after[0][2]["deutsch"])


def test_the_engine_refuses_a_partner_style_that_is_not_loaded_and_ignores_a_missing_saved_one(deutsch):
    clock = ManualClock()
    sched = Scheduler(FakeOutput(clock.now).send, clock.now)
    core = EngineCore(EngineConfig(style="deutsch", blend_with="irish", blend=0.5), {"deutsch": deutsch}, sched, 0.0)
    with pytest.raises(ValueError, match="blend_with 'klingon' is not loaded"):
        core.set(blend_with="klingon")
    core.set(blend=0.7)  # an unloaded partner plays the style alone rather than stopping the engine
    assert core.config.blend == 0.7


def test_knob_and_dashboard_keys_move_the_blend(deutsch, han):
    from livemelody.ui.logic import step_setting

    clock = ManualClock()
    sched = Scheduler(FakeOutput(clock.now).send, clock.now)
    core = EngineCore(EngineConfig(style="deutsch"), {"deutsch": deutsch, "han": han}, sched, 0.0)
    core.handle(0.0, [0xB0, core.config.controls.blend, 64])
    assert core.config.blend == pytest.approx(0.504, abs=0.001)
    core.handle(0.0, [0xB0, core.config.controls.blend_with, 0])
    assert core.config.blend_with == "deutsch"
    core.handle(0.0, [0xB0, core.config.controls.blend_with, 127])
    assert core.config.blend_with == "han"
    assert step_setting(core.config, "blend", 1) == {"blend": pytest.approx(0.604)}
    assert core.config.style == "deutsch"  # the key never makes the partner the style itself
    assert step_setting(core.config, "blend_with", 1, core.styles) == {}
    loaded = ("deutsch", "han")
    assert blend_name(EngineConfig(style="deutsch", blend=0.5), loaded) == "deutsch + 0.50 han"
    assert blend_name(EngineConfig(style="deutsch", blend=0.0), loaded) == "deutsch"
    assert blend_name(EngineConfig(style="deutsch", blend=0.5), ("deutsch",)) == "deutsch"


# ---- the command line ------------------------------------------------------------------------
def test_continue_with_a_blend(twinkle_mid, tmp_path, capsys):
    paths = {}
    for name, extra in {
        "alone": [],
        "zero": ["--blend", "0", "--blend-with", "han"],
        "half": ["--blend-with", "han", "--blend", "0.5"],
    }.items():
        paths[name] = tmp_path / f"{name}.mid"
        argv = ["continue", str(twinkle_mid), "-o", str(paths[name]), "--style", "deutsch", "--seed", "4", *extra]
        assert main(argv) == 0
        text = capsys.readouterr().out
        assert ("blended 0.5 with han" in text) == (name == "half")
    assert paths["alone"].read_bytes() == paths["zero"].read_bytes()
    notes = {n: [m.note for m in mido.MidiFile(p).tracks[2] if m.type == "note_on"] for n, p in paths.items()}
    assert notes["half"] and notes["half"] != notes["alone"]
    for bad, expected in (
        (["--blend", "1.5"], "must be <= 1"),
        (["--blend-with", "klingon", "--blend", "0.5"], "klingon"),
    ):
        code = main(["continue", str(twinkle_mid), "-o", str(tmp_path / "x.mid"), *bad])
        err = capsys.readouterr().err
        assert code == 2 and expected in err and err.count("\n") == 1


def test_live_commands_never_blend_a_style_with_itself(capsys):
    from livemelody.cli import UserError, _installed_blend_partner

    saved = EngineConfig(style="han", blend_with="han", blend=0.3)  # a saved file, or --style han over the default
    assert _installed_blend_partner(saved, given=False).blend_with == "deutsch"
    assert "'han' is the style itself; blending with deutsch" in capsys.readouterr().err
    quiet = _installed_blend_partner(EngineConfig(style="deutsch", blend_with="deutsch"), given=False)
    assert quiet.blend_with == "han" and capsys.readouterr().err == ""  # blend 0: moved without a word
    with pytest.raises(UserError, match="is the style itself"):
        _installed_blend_partner(EngineConfig(style="irish", blend_with="irish"), given=True)
    assert _installed_blend_partner(EngineConfig(style="irish", blend_with="han"), given=True).blend_with == "han"
