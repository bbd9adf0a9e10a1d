"""EngineCore with explicit times and a recording sink: fast and deterministic."""

import pytest

from livemelody.clock import ManualClock
from livemelody.config import EngineConfig
from livemelody.live.engine import ANSWERING, IDLE, LISTENING, WAITING, EngineCore
from livemelody.live.scheduler import Scheduler
from livemelody.midi.fake import FakeOutput
from livemelody.models.lstm import LstmSession
from tests.conftest import TINY_JSON

BPM = 120.0
STEP = 60 / BPM / 4  # 0.125 s


@pytest.fixture(scope="module")
def sessions():
    return {"tiny": LstmSession(TINY_JSON), "tiny2": LstmSession(TINY_JSON)}


def make(sessions, variator=None, **changes):
    clock = ManualClock()
    out = FakeOutput(clock.now)
    sched = Scheduler(out.send, clock.now)
    config = EngineConfig(**{"style": "tiny", "bpm": BPM, **changes})
    return EngineCore(config, sessions, sched, 0.0, seed=1, variator=variator), sched, out, clock


def octave_up(style, notes, amount, rng):
    """A stand-in variator: the call an octave higher."""
    return [n.__class__(n.pitch + 12, n.start, n.duration, n.velocity) for n in notes]


def run_until(core, sched, clock, t, dt=0.005):
    while clock.now() < t:
        clock.set(round(clock.now() + dt, 6))
        core.advance(clock.now())
        sched.send_due(clock.now())


def play(core, notes, jitter=0.0):
    """notes: (pitch, start step, length steps); events stamped at their grid times."""
    events = []
    for i, (pitch, start, length) in enumerate(notes):
        off = jitter if i % 2 else -jitter
        events.append((start * STEP + off, [0x90, pitch, 100]))
        events.append(((start + length) * STEP - 0.01, [0x80, pitch, 0]))
    return sorted(events, key=lambda e: e[0])


def perform(core, sched, clock, events, until):
    for stamp, data in events:
        run_until(core, sched, clock, stamp)
        core.handle(stamp, data)
    run_until(core, sched, clock, until)


D_MAJOR_CALL = [
    (62, 8, 2),
    (64, 10, 2),
    (66, 12, 2),
    (67, 14, 2),
    (69, 16, 2),
    (71, 18, 2),
    (73, 20, 2),
    (74, 22, 2),
]  # steps 8..24


def test_call_then_answer_on_the_next_beat_in_the_calls_key(sessions):
    core, sched, out, clock = make(sessions, end_silence_beats=1.0, answer_start="beat")
    perform(core, sched, clock, play(core, D_MAJOR_CALL, jitter=0.02), until=24 * STEP)
    assert core.state == LISTENING
    run_until(core, sched, clock, 29 * STEP)  # 4 silent steps end the call at step 27's half
    assert core.state in (WAITING, ANSWERING) and str(core.key) == "D"
    run_until(core, sched, clock, 60 * STEP)
    turn = core.turns[-1]
    assert turn.answer_start_step == 28 and turn.call_steps == 16 and turn.answer_steps == 16
    first_on = next((t, d) for t, d in out.sent if d[0] == 0x90 and d[2] > 0)
    assert first_on[0] == pytest.approx(28 * STEP, abs=0.006)
    assert first_on[1][2] == 100  # velocity follows the call
    assert core.state == IDLE and out.sounding() == set()


def test_notes_are_quantised_and_polyphony_reduced(sessions):
    core, sched, out, clock = make(sessions)
    events = [
        (8 * STEP + 0.03, [0x90, 60, 90]),
        (8 * STEP + 0.035, [0x90, 64, 90]),
        (8 * STEP + 0.04, [0x90, 67, 90]),
        (10 * STEP - 0.02, [0x90, 55, 90]),  # lower note under the sounding line: ignored
        (12 * STEP - 0.03, [0x80, 67, 0]),
        (12 * STEP - 0.03, [0x80, 64, 0]),
        (12 * STEP, [0x80, 60, 0]),
        (12 * STEP + 0.02, [0x80, 55, 0]),
    ]
    perform(core, sched, clock, events, until=12.6 * STEP)
    assert [(n.pitch, n.start, n.duration) for n in core.call.notes] == [(67, 8, 4)]


def test_short_calls_are_ignored(sessions):
    core, sched, out, clock = make(sessions, min_call_steps=4)
    perform(core, sched, clock, play(core, [(60, 8, 2)]), until=20 * STEP)
    assert core.state == IDLE and not core.turns and "ignored" in core.message


def test_player_barging_in_stops_the_answer_at_once(sessions):
    core, sched, out, clock = make(sessions, answer_start="step")
    perform(core, sched, clock, play(core, D_MAJOR_CALL), until=34 * STEP)
    assert core.state == ANSWERING and sched.sounding
    core.handle(clock.now(), [0x90, 70, 80])
    assert core.state == LISTENING and not sched.sounding and sched.next_due() is None


def test_cc_changes_temperature_style_and_mode_and_ends_the_call(sessions):
    core, sched, out, clock = make(sessions)
    core.handle(0.0, [0xB0, 20, 127])
    assert core.config.temperature == 2.0
    core.handle(0.0, [0xB0, 21, 127])
    assert core.config.style == "tiny2"
    core.handle(0.0, [0xB0, 22, 127])  # vary without a VAE: refused, stays continue
    assert core.config.mode == "continue"
    perform(core, sched, clock, [(8 * STEP, [0x90, 60, 90]), (12 * STEP, [0x90, 62, 90])], until=13 * STEP)
    core.handle(clock.now(), [0xB0, 25, 127])  # end the call now, while a note is held
    run_until(core, sched, clock, 14 * STEP)
    assert core.state in (WAITING, ANSWERING)


def test_panic_cc_silences_everything(sessions):
    core, sched, out, clock = make(sessions, answer_start="step", metronome=True)
    perform(core, sched, clock, play(core, D_MAJOR_CALL), until=34 * STEP)
    assert out.sounding()
    core.handle(clock.now(), [0xB0, 26, 127])
    assert out.sounding() == set() and core.state == IDLE
    ccs = [d for _, d in out.sent[-6:]]
    assert [0xB0, 64, 0] in ccs and [0xB0, 123, 0] in ccs and [0xB0, 120, 0] in ccs
    assert [0xB9, 120, 0] in [d for _, d in out.sent]  # metronome channel too


def test_temperature_zero_answers_are_repeatable_and_change_with_temperature(sessions):
    answers = []
    for temperature in (0.0, 0.0, 2.0):
        core, sched, out, clock = make(sessions, temperature=temperature, answer_start="step")
        perform(core, sched, clock, play(core, D_MAJOR_CALL), until=60 * STEP)
        answers.append([d[1] for _, d in out.sent if d[0] == 0x90])
    assert answers[0] == answers[1] and answers[0] != answers[2]


def test_answer_length_in_bars(sessions):
    core, sched, out, clock = make(sessions, answer_bars=2, answer_start="bar")
    perform(core, sched, clock, play(core, D_MAJOR_CALL), until=90 * STEP)
    turn = core.turns[-1]
    assert turn.answer_start_step == 32 and turn.answer_steps == 32
    last_off = max(t for t, d in out.sent if d[0] == 0x80)
    assert last_off <= 64 * STEP + 1e-6


def test_external_clock_sets_tempo_and_grid(sessions):
    core, sched, out, clock = make(sessions, clock_source="external")
    tick = 60 / 90 / 24  # 90 BPM
    core.handle(0.0, [0xFA])
    for i in range(96):
        core.handle(1.0 + i * tick, [0xF8])
    assert core.transport.bpm == pytest.approx(90, abs=0.01)
    assert core.transport.grid.time_of(0) == pytest.approx(1.0, abs=1e-6)
    core.handle(1.0 + 96 * tick, [0xFC])
    assert not core.transport.running


def test_bad_settings_are_refused_without_change(sessions):
    core, *_ = make(sessions)
    with pytest.raises(ValueError):
        core.set(temperature=-1)
    with pytest.raises(ValueError):
        core.set(style="klingon")
    assert core.config.temperature == 1.0 and core.config.style == "tiny"


def test_vary_mode_plays_the_variators_notes_on_the_grid(sessions):
    calls = []

    def variator(style, notes, amount, rng):
        calls.append((style, len(notes), amount))
        return octave_up(style, notes, amount, rng)

    core, sched, out, clock = make(sessions, variator, answer_start="bar")
    core.handle(0.0, [0xB0, 27, 127])  # amount knob
    core.handle(0.0, [0xB0, 22, 127])  # mode knob: vary
    assert core.config.mode == "vary" and core.config.amount == 1.0
    perform(core, sched, clock, play(core, D_MAJOR_CALL), until=60 * STEP)
    assert calls == [("tiny", 8, 1.0)]
    ons = [(t, d[1]) for t, d in out.sent if d[0] == 0x90]
    assert [p for _, p in ons] == [p + 12 for p, _, _ in D_MAJOR_CALL]
    assert ons[0][0] == pytest.approx(32 * STEP) and core.turns[-1].mode == "vary"
    assert out.sounding() == set() and core.state == IDLE


def test_snapshot_carries_recent_player_and_ai_notes_and_the_last_cc(sessions):
    core, sched, out, clock = make(sessions, answer_start="step", answer_bars=1)
    perform(core, sched, clock, play(core, D_MAJOR_CALL), until=60 * STEP)
    snap = core.snapshot(clock.now())
    player = [n for n in snap.notes if n.source == "player"]
    ai = [n for n in snap.notes if n.source == "ai"]
    assert [(n.pitch, n.start, n.end) for n in player] == [(p, s, s + 2) for p, s, _ in D_MAJOR_CALL]
    sent_ons = [round(t / STEP) for t, d in out.sent if d[0] == 0x90 and d[2] > 0]
    assert [n.start for n in ai] == sent_ons and all(n.end is not None and n.end > n.start for n in ai)
    assert all(n.end <= 28 + 16 for n in ai)  # one bar from the answer's start (step 28)
    assert snap.last_cc is None and snap.cc_count == 0
    core.handle(clock.now(), [0xB3, 74, 5])
    core.handle(clock.now(), [0xB3, 74, 6])
    snap = core.snapshot(clock.now())
    assert snap.last_cc == (74, 6) and snap.cc_count == 2
    clock.advance(9 * 16 * STEP)  # nine bars later the roll has forgotten them
    assert core.snapshot(clock.now()).notes == ()


def test_the_roll_shows_the_held_call_note_open(sessions):
    core, sched, out, clock = make(sessions)
    perform(core, sched, clock, [(8 * STEP, [0x90, 60, 90])], until=10 * STEP)
    assert core.snapshot(clock.now()).notes == (("player", 60, 8, None),)


def run_recording_states(core, sched, clock, t, dt=0.005):
    """run_until, returning (time, state) at every change of state."""
    changes = []
    while clock.now() < t:
        clock.set(round(clock.now() + dt, 6))
        core.advance(clock.now())
        sched.send_due(clock.now())
        if not changes or changes[-1][1] != core.state:
            changes.append((clock.now(), core.state))
    return changes


@pytest.mark.parametrize("mode", ["continue", "vary"])
def test_the_engine_answers_until_the_last_note_off_sounds(sessions, mode):
    core, sched, out, clock = make(sessions, octave_up, answer_start="step", answer_bars=1, mode=mode)
    perform(core, sched, clock, play(core, D_MAJOR_CALL), until=24 * STEP)
    changes = run_recording_states(core, sched, clock, 70 * STEP)
    idle_at = next(t for t, state in changes if state == IDLE)
    last_off = max(t for t, d in out.sent if d[0] & 0xF0 == 0x80 or (d[0] & 0xF0 == 0x90 and d[2] == 0))
    assert last_off <= idle_at < last_off + 0.006  # idle with the last note-off, not half a step before
    assert out.sounding() == set()


def test_a_note_in_the_answers_last_half_step_starts_a_call_even_without_stop_on_play(sessions):
    settings = dict(answer_start="step", answer_bars=1, stop_on_player=False)
    first, sched, out, clock = make(sessions, **settings)  # a dry run tells where the answer ends
    perform(first, sched, clock, play(first, D_MAJOR_CALL), until=70 * STEP)
    answer_end = first.turns[-1].answer_start_step + 16
    core, sched, out, clock = make(sessions, **settings)
    perform(core, sched, clock, play(core, D_MAJOR_CALL), until=(answer_end - 0.3) * STEP)
    assert core.state == ANSWERING and core._answer is None  # all scheduled, the last note-off pending
    core.handle(clock.now(), [0x90, 60, 90])
    assert core.state == LISTENING
    run_until(core, sched, clock, (answer_end + 1) * STEP)
    assert not sched.sounding  # the answer's last note still ended


def test_a_stopped_variation_leaves_no_future_notes_in_the_roll(sessions):
    core, sched, out, clock = make(sessions, octave_up, answer_start="step", mode="vary")
    perform(core, sched, clock, play(core, D_MAJOR_CALL), until=33 * STEP)  # the variation starts at step 28
    barge_in = core.transport.grid.nearest_step(clock.now())
    core.handle(clock.now(), [0x90, 60, 90])
    ai = [n for n in core.snapshot(clock.now()).notes if n.source == "ai"]
    assert ai and all(n.start < barge_in and n.end <= barge_in for n in ai)
    assert not sched.sounding and sched.next_due() is None


def test_midi_thru_sends_the_players_notes_at_once_on_their_channel_and_panic_releases_them(sessions):
    core, sched, out, clock = make(sessions, thru=True, thru_channel=3)
    clock.set(8 * STEP)
    core.handle(clock.now(), [0x90, 60, 90])
    core.handle(clock.now(), [0x91, 62, 70])  # another input channel: thru moves it too
    sched.send_due(clock.now())
    assert [d for _, d in out.sent] == [[0x93, 60, 90], [0x93, 62, 70]]
    assert out.sounding() == {(3, 60), (3, 62)}
    core.handle(clock.now(), [0x80, 60, 0])
    sched.send_due(clock.now())
    assert out.sounding() == {(3, 62)}
    core.panic(clock.now())  # a held key is released at the output too
    assert out.sounding() == set()
    off, _, _, _ = make(sessions)  # thru is off by default: nothing reaches the output
    off.handle(0.0, [0x90, 60, 90])
    assert off.sink.next_due() is None


# ---- meter, answer length in vary mode, key confidence, dynamics ------------------------------


@pytest.mark.parametrize(("meter", "bar", "beat"), [("3/4", 12, 4), ("6/8", 12, 6), ("4/4", 16, 4)])
def test_the_meter_sets_bars_metronome_beats_and_answer_length(sessions, meter, bar, beat):
    core, sched, out, clock = make(sessions, meter=meter, metronome=True, answer_bars=1, answer_start="beat")
    perform(core, sched, clock, play(core, D_MAJOR_CALL), until=80 * STEP)
    clicks = [(round(t / STEP), d[1]) for t, d in out.sent if d[0] == 0x99 and d[2] > 0]
    assert {s % beat for s, _ in clicks} == {0}  # a click on every beat of the meter, nothing between
    assert {s for s, n in clicks if n == 76} == {s for s, _ in clicks if s % bar == 0}  # the accent on each bar line
    turn = core.turns[-1]
    assert turn.answer_steps == bar and turn.answer_start_step % beat == 0


def test_vary_mode_answers_for_the_set_length(sessions):
    core, sched, out, clock = make(sessions, lambda s, n, a, r: list(n), mode="vary", answer_bars=2, answer_start="bar")
    perform(core, sched, clock, play(core, D_MAJOR_CALL), until=80 * STEP)
    ons = [round(t / STEP) for t, d in out.sent if d[0] == 0x90 and d[2] > 0]
    assert core.turns[-1].answer_steps == 32
    assert ons == [32 + 2 * i for i in range(16)]  # the 16-step call twice: two bars, on the grid
    assert max(t for t, d in out.sent if d[0] == 0x80) <= 64 * STEP + 1e-6
    assert out.sounding() == set() and core.state == IDLE


def test_a_call_too_short_to_tell_its_key_keeps_the_sessions_key(sessions):
    core, sched, out, clock = make(sessions, answer_start="step")
    perform(core, sched, clock, play(core, D_MAJOR_CALL), until=60 * STEP)
    assert str(core.key) == "D" and not core.key_kept and core.key_confidence > 0.2
    c_e_g = [(60, 80, 2), (64, 82, 2), (67, 84, 2)]  # a C major triad: which key? too little to tell
    perform(core, sched, clock, play(core, c_e_g), until=110 * STEP)
    snap = core.snapshot(clock.now())
    assert snap.key == "D" and snap.key_kept and snap.key_confidence < 0.2 and core.turns[-1].key_kept
    core.set(key_confidence=0.0)  # the threshold off: every call its own key
    perform(core, sched, clock, play(core, [(p, s + 40, d) for p, s, d in c_e_g]), until=160 * STEP)
    assert str(core.key) == "C" and not core.key_kept


def test_the_answers_dynamics_follow_the_calls_velocity_contour(sessions):
    core, sched, out, clock = make(sessions, lambda s, n, a, r: list(n), mode="vary", answer_start="bar")
    events = []
    for i, (pitch, start, length) in enumerate(D_MAJOR_CALL):  # a crescendo, 40 to 110
        events.append((start * STEP, [0x90, pitch, 40 + 10 * i]))
        events.append(((start + length) * STEP - 0.01, [0x80, pitch, 0]))
    perform(core, sched, clock, events, until=60 * STEP)
    velocities = [d[2] for _, d in out.sent if d[0] == 0x90 and d[2] > 0]
    assert velocities == [40 + 10 * i for i in range(8)]


def test_a_first_note_delivered_after_its_step_was_decided_still_starts_the_call(sessions):
    # A loaded machine (a late input thread, the demo's caller) can hand the engine a note-on
    # after its step's half point has passed: it belongs to the call, on the next open step.
    core, sched, out, clock = make(sessions, end_silence_beats=1.0, answer_start="beat")
    events = play(core, D_MAJOR_CALL)
    first_stamp, first = events[0]
    run_until(core, sched, clock, first_stamp + 0.7 * STEP)  # delivered 0.7 of a step late, its stamp kept
    core.handle(first_stamp, first)
    perform(core, sched, clock, events[1:], until=40 * STEP)
    turn = core.turns[-1]
    assert (turn.call_notes, str(turn.key)) == (8, "D"), turn
    assert turn.call_steps == 15  # the late first note starts on step 9, the next open step
