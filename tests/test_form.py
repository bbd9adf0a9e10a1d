"""Form: the answer quotes the call's bars at bar lines (livemelody/form.py), in `continue`
and live, and the figures that measure it (training/form_eval.py) on hand-made melodies."""

import mido
import numpy as np
import pytest

from livemelody.cli import main
from livemelody.encoding import Vocabulary, notes_to_tokens
from livemelody.encoding.vocab import HOLD_ID, REST_ID
from livemelody.events import Note
from livemelody.form import Quoter, call_bars, full_bars
from livemelody.generate import continue_melody, continue_tokens
from livemelody.midi.files import read_melody
from livemelody.models.lstm import LstmSession
from livemelody.sampling import SamplingParams
from tests.conftest import TINY_JSON
from tests.test_live_engine import STEP, make, perform, play, run_until
from training.form_eval import bars_heard_before, copy_runs, events, figures_heard_before, memorised
from training.meters import BarGrid, bar_grid

VOCAB = Vocabulary()


def pid(pitch: int) -> int:
    return VOCAB.pitch_id(pitch)


@pytest.fixture(scope="module")
def session():
    return LstmSession(TINY_JSON)


# ---- bars and the quoter -------------------------------------------------------------------
def test_full_bars_are_the_whole_bars_between_bar_lines():
    tokens = list(range(10))
    assert full_bars(tokens, 0, 4) == [(0, 1, 2, 3), (4, 5, 6, 7)]
    assert full_bars(tokens, 1, 4) == [(1, 2, 3, 4), (5, 6, 7, 8)]  # a pickup of 1 step is no bar
    assert full_bars(tokens, -3, 4) == [(1, 2, 3, 4), (5, 6, 7, 8)]  # any bar line of the grid
    assert full_bars(tokens[:3], 0, 4) == []
    with pytest.raises(ValueError):
        full_bars(tokens, 0, 0)


def test_quote_0_never_quotes_and_leaves_the_random_numbers_alone():
    rng = np.random.default_rng(5)
    quoter = Quoter([(1, 2, 2, 2)], 4, 0.0, rng)
    assert [quoter.forced(k) for k in range(16)] == [None] * 16
    assert rng.random() == np.random.default_rng(5).random()


def test_quote_1_replays_the_calls_bars_in_order_at_bar_lines():
    bars = [(pid(60), HOLD_ID, pid(62), HOLD_ID), (pid(64), HOLD_ID, HOLD_ID, REST_ID)]
    quoter = Quoter(bars, 4, 1.0, np.random.default_rng(0), bar_line=2)
    got = [quoter.forced(k) for k in range(14)]
    assert got[:2] == [None, None]  # before the first bar line: the model's
    assert got[2:6] == list(bars[0]) and got[6:10] == list(bars[1]) and got[10:14] == list(bars[0])  # cycling
    assert quoter.quoted == [0, 1, 2]


def test_a_middle_quote_quotes_some_bars_and_follows_the_seed():
    bars = [tuple(pid(60 + i) for i in range(4)), tuple(pid(70 + i) for i in range(4))]
    runs = []
    for _ in range(2):
        quoter = Quoter(bars, 4, 0.5, np.random.default_rng(11))
        for k in range(4 * 200):
            quoter.forced(k)
        runs.append(quoter.quoted)
    assert runs[0] == runs[1]
    assert 60 < len(runs[0]) < 140  # about half of 200 bars
    quoted = set(runs[0])
    assert all((j ^ 1) in quoted for j in quoted)  # in pairs: bars 0-1, 2-3, ...
    single = Quoter(bars, 4, 0.5, np.random.default_rng(11), span=1)
    for k in range(4 * 200):
        single.forced(k)
    assert any((j ^ 1) not in set(single.quoted) for j in single.quoted)


def test_bad_quotes_and_bars_are_refused():
    with pytest.raises(ValueError, match="quote"):
        Quoter([], 4, 1.5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="span"):
        Quoter([], 4, 0.5, np.random.default_rng(0), span=0)
    with pytest.raises(ValueError, match="4 steps"):
        Quoter([(1, 2)], 4, 0.5, np.random.default_rng(0))


def test_call_bars_are_in_the_models_key_and_skip_a_pickup():
    # D major call with a one-beat pickup on the grid of 4/4 (bar lines at 0, 16, 32)
    notes = [Note(69, 12, 4), Note(74, 16, 8), Note(76, 24, 8), Note(78, 32, 16)]
    bars = call_bars(notes, -2, VOCAB, 16, end=48)
    assert bars == [
        tuple([pid(72)] + [HOLD_ID] * 7 + [pid(74)] + [HOLD_ID] * 7),
        tuple([pid(76)] + [HOLD_ID] * 15),
    ]
    assert call_bars([], 0, VOCAB, 16, end=16) == []


# ---- continue ------------------------------------------------------------------------------
PRIMER = notes_to_tokens([Note(60 + 2 * (i % 5), 4 * i, 4) for i in range(8)], VOCAB)  # two 4/4 bars


def test_continue_with_quote_0_is_todays_continuation_exactly(session):
    params = SamplingParams(1.0)
    before = continue_tokens(session, PRIMER, 64, params, np.random.default_rng(3))
    quoter = Quoter(full_bars(PRIMER, 0, 16), 16, 0.0, np.random.default_rng(99))
    assert continue_tokens(session, PRIMER, 64, params, np.random.default_rng(3), quoter) == before


def test_continue_with_quote_1_replays_the_primers_bars_and_keeps_its_length(session):
    quoter = Quoter(full_bars(PRIMER, 0, 16), 16, 1.0, np.random.default_rng(0))
    out = continue_tokens(session, PRIMER, 70, SamplingParams(1.0), np.random.default_rng(3), quoter)
    assert len(out) == 70
    assert out[:32] == PRIMER and out[32:64] == PRIMER and out[64:] == PRIMER[:6]


def test_continue_melody_quotes_the_primers_last_bars_on_the_files_bar_grid(session):
    # a pickup of 2 steps, then 3 bars of 3/4 (12 steps); bar lines at 2, 14, 26, 38
    notes = [Note(62, 0, 2)] + [Note(60 + (i % 7), 2 + 3 * i, 3) for i in range(12)]
    end = 38
    result = continue_melody(
        session, notes, 24, SamplingParams(1.0), np.random.default_rng(1), quote=1.0, meter=(12, 2)
    )
    primer = notes_to_tokens([Note(n.pitch + result.shift, n.start, n.duration) for n in notes], session.vocab)
    assert result.tokens == list(primer[end - 24 : end])  # the last 2 full bars, in order
    assert [n.pitch for n in result.notes] == [n.pitch for n in notes if 14 <= n.start < 38]
    plain = continue_melody(session, notes, 24, SamplingParams(1.0), np.random.default_rng(1))
    same = continue_melody(session, notes, 24, SamplingParams(1.0), np.random.default_rng(1), quote=0.0, meter=(12, 2))
    assert same.tokens == plain.tokens


# ---- live ----------------------------------------------------------------------------------
CALL = [(62, 16, 4), (66, 20, 4), (69, 24, 4), (74, 28, 4), (73, 32, 2), (71, 34, 2), (69, 36, 8)]
"""A D major call over two 4/4 bars, from the bar line at step 16 to step 44."""


def answer_notes(out):
    """(step, pitch) of the AI's note-ons (the answer) from a FakeOutput."""
    return [(round(t / STEP), d[1]) for t, d in out.sent if d[0] & 0xF0 == 0x90 and d[2] > 0]


@pytest.mark.parametrize("quote", [1.0, 0.0])
def test_live_answer_replays_the_calls_bars_at_bar_lines(quote):
    sessions = {"tiny": LstmSession(TINY_JSON)}
    core, sched, out, clock = make(sessions, answer_start="bar", answer_bars=2, quote=quote)
    perform(core, sched, clock, play(core, CALL), until=46 * STEP)
    run_until(core, sched, clock, 90 * STEP)
    turn = core.turns[-1]
    assert turn.answer_start_step == 48 and turn.answer_steps == 32
    played = answer_notes(out)
    call = [(start + 32, pitch) for pitch, start, _ in CALL]  # the call two bars later
    if quote == 1.0:
        assert played == call
    else:
        assert played and played != call


def test_live_quote_0_plays_what_the_engine_played_without_quoting(monkeypatch):
    def answer(**changes):
        sessions = {"tiny": LstmSession(TINY_JSON)}
        core, sched, out, clock = make(sessions, answer_start="bar", answer_bars=4, **changes)
        perform(core, sched, clock, play(core, CALL), until=46 * STEP)
        run_until(core, sched, clock, 120 * STEP)
        return out.sent

    with_quoter, quoting = answer(quote=0.0), answer(quote=1.0)
    monkeypatch.setattr("livemelody.live.engine.Quoter", lambda *args, **kwargs: None)  # no form at all
    assert with_quoter == answer(quote=0.0) and with_quoter != quoting


def test_live_quote_is_a_knob_and_the_answer_keeps_its_length():
    sessions = {"tiny": LstmSession(TINY_JSON)}
    core, sched, out, clock = make(sessions, answer_start="bar", answer_bars=3)
    core.handle(0.0, [0xB0, 29, 127])  # the quote knob (CC 29) full up
    assert core.config.quote == 1.0
    perform(core, sched, clock, play(core, CALL), until=46 * STEP)
    run_until(core, sched, clock, 110 * STEP)
    assert core.turns[-1].answer_steps == 48
    played = answer_notes(out)
    assert all(48 <= step < 96 for step, _ in played)
    assert played[: len(CALL)] == [(start + 32, pitch) for pitch, start, _ in CALL]
    assert [p for s, p in played if s >= 80] == [62, 66, 69, 74]  # bar 3 quotes the call's bar 1 again


# ---- the figures ---------------------------------------------------------------------------
def melody(*notes):
    """Tokens of (pitch or None for a rest, steps) pairs."""
    tokens = []
    for pitch, steps in notes:
        tokens += [REST_ID if pitch is None else pid(pitch)] + [HOLD_ID] * (steps - 1)
    return tokens


def test_figures_heard_before_count_4_note_figures_with_pitch_and_duration():
    opening = melody((60, 4), (62, 4), (64, 4), (65, 4))
    same = melody((60, 4), (62, 4), (64, 4), (65, 4))
    tokens = opening + same
    # figures starting in the continuation: 4 notes from each of its 4 notes, only the first complete
    assert figures_heard_before(tokens, VOCAB, 16, 32) == (1, 1)
    other_rhythm = melody((60, 4), (62, 4), (64, 2), (65, 6))
    assert figures_heard_before(opening + other_rhythm, VOCAB, 16, 32) == (0, 1)
    transposed = melody((62, 4), (64, 4), (66, 4), (67, 4))
    assert figures_heard_before(opening + transposed, VOCAB, 16, 32) == (0, 1)
    repeated_in_continuation = melody(*[(67, 2)] * 8)  # G G G G G G G G: 5 figures, 4 repeat the first
    assert figures_heard_before(opening + repeated_in_continuation, VOCAB, 16, 32) == (4, 5)
    with_rest = melody((60, 4), (None, 2), (62, 2), (64, 4), (65, 4))  # rests are skipped
    assert figures_heard_before(opening + with_rest, VOCAB, 16, 32) == (0, 1)


def test_bars_heard_before_compare_whole_bars_token_for_token():
    pickup = melody((59, 4))
    bar_a, bar_b, bar_c = melody((60, 8), (62, 8)), melody((64, 16)), melody((65, 4), (None, 12))
    tokens = pickup + bar_a + bar_b + bar_b + bar_c + bar_a + bar_c
    assert bars_heard_before(tokens, 4 + 64, 4 + 96, 16) == (2, 2)
    tokens = pickup + bar_a + bar_b + melody((64, 8), (64, 8)) + bar_a
    assert bars_heard_before(tokens, 4 + 32, 4 + 64, 16) == (1, 2)


def test_memorised_finds_a_run_of_12_events_from_a_training_song():
    song = melody(*[(60 + i % 5, 2 + i % 3) for i in range(20)])
    runs = copy_runs([song])
    assert events(melody((60, 2), (None, 3), (62, 1)))[1] == (REST_ID, 3)
    copied = melody((72, 4)) + song[9:] + melody((71, 4))
    assert memorised(copied, runs)
    changed = list(copied)
    changed[len(copied) // 2 :] = melody((79, len(copied) - len(copied) // 2))
    assert not memorised(changed, runs)


def test_bar_grids_from_abc_keep_pickups_and_leading_rests_out_of_the_bars():
    pickup = "X:3\nT: t\nM: 4/4\nL: 1/8\nK: D\nD2 | =F2G2A2d2 | =c2B2A2\nA2 | =c2_B2A2G2 | G2=F2z2\n"
    grid = bar_grid(pickup)
    assert grid.steps_per_bar == 16 and grid.pickup == 4 and grid.bar_lines == (4, 20, 36, 52)
    full = "X:1\nM: 2/4\nL: 1/16\nK: G\nc6cc | c6c2 | c2B2A4 | G8\n"
    assert bar_grid(full).bar_lines == (8, 16, 24) and bar_grid(full).pickup == 0
    rest_first = "X:2\nM: 3/4\nL: 1/4\nK: C\nz c d | e3 | f2 g |\n"
    assert bar_grid(rest_first).bar_lines == (8, 20, 32)  # steps from the first note
    assert bar_grid("X:4\nM: none\nL: 1/8\nK: C\nc2 d2 |\n") is None


def test_bar_grids_from_a_scores_measures_match_the_abc_ones():
    from training.meters import grid_of_bars

    measures = [(0, 16, 4), (4, 16, 16), (20, 16, 16), (36, 16, 16), (52, 16, 8)]  # start, nominal, written
    pickup = "X:3\nT: t\nM: 4/4\nL: 1/8\nK: D\nD2 | =F2G2A2d2 | =c2B2A2\nA2 | =c2_B2A2G2 | G2=F2z2\n"
    assert grid_of_bars(measures) == BarGrid(16, (4, 20, 36, 52, 60), 4)
    assert grid_of_bars(measures).bar_lines[:4] == bar_grid(pickup).bar_lines
    assert grid_of_bars([(0, 12, 12), (12, 12, 12)]) == BarGrid(12, (12, 24), 0)
    assert grid_of_bars([(0, 16, 16), (16, 12, 12)]) is None and grid_of_bars(None) is None  # a meter change


def test_continue_command_quotes_the_primers_bars(tiny_models, twinkle_mid, tmp_path):
    """`livemelody continue --quote 1`: the 4 bars after the 4-bar primer re-play its 4 bars
    (`--quote 0`, the LSTM alone, does not)."""
    files = {}
    for quote in ("1", "0"):
        files[quote] = tmp_path / f"q{quote}.mid"
        args = ["continue", str(twinkle_mid), "-o", str(files[quote]), "--style", "tiny", "--seed", "7"]
        assert main([*args, "--quote", quote]) == 0
    primer = read_melody(twinkle_mid).notes
    assert max(n.end for n in primer) == 64  # 4 bars of 4/4

    def onsets(path, track):
        midi, now, out = mido.MidiFile(path), 0, []
        for message in midi.tracks[track]:
            now += message.time
            if message.type == "note_on" and message.velocity > 0:
                out.append((now * 4 // midi.ticks_per_beat, message.note))
        return out

    assert onsets(files["1"], 2) == [(n.start + 64, n.pitch) for n in primer]
    assert onsets(files["0"], 2) != onsets(files["1"], 2)
