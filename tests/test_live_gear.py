"""Input as real gear and DAWs send it (issue 10), on EngineCore with explicit times."""

import pytest

from livemelody.live.call import CallTracker
from livemelody.live.engine import IDLE, LISTENING
from livemelody.live.held import HeldNotes
from livemelody.live.sensing import SENSING_TIMEOUT, SensingWatchdog
from livemelody.live.transport import Transport
from livemelody.models.lstm import LstmSession
from tests.conftest import TINY_JSON
from tests.test_live_engine import STEP, make, perform, run_until


@pytest.fixture(scope="module")
def sessions():
    return {"tiny": LstmSession(TINY_JSON), "tiny2": LstmSession(TINY_JSON)}


CDEFG = [(60, 8, 2), (62, 10, 2), (64, 12, 2), (65, 14, 2)]


def legato(notes):
    events = []
    for pitch, start, length in notes:
        events += [(start * STEP, [0x90, pitch, 100]), ((start + length) * STEP - 0.01, [0x80, pitch, 0])]
    return sorted(events, key=lambda e: e[0])


@pytest.mark.parametrize(
    "ending",
    [[0x80, 67, 0], [0xB0, 123, 0], [0xB0, 120, 0], [0xB0, 124, 0], [0xB0, 127, 0]],
    ids=["note-off", "all-notes-off", "all-sound-off", "omni-off", "poly-on"],
)
def test_channel_mode_messages_end_the_held_note_like_a_note_off(sessions, ending):
    core, sched, out, clock = make(sessions, answer_start="beat", end_silence_beats=1.0)
    events = legato(CDEFG) + [(16 * STEP, [0x90, 67, 100]), (20 * STEP, ending)]
    perform(core, sched, clock, events, until=40 * STEP)
    turn = core.turns[-1]
    assert (turn.call_steps, turn.call_notes, turn.answer_start_step) == (12, 5, 24)


def test_all_notes_off_on_another_channel_leaves_the_held_note(sessions):
    core, sched, out, clock = make(sessions, end_silence_beats=1.0)
    events = legato(CDEFG) + [(16 * STEP, [0x90, 67, 100]), (20 * STEP, [0xB1, 123, 0])]
    perform(core, sched, clock, events, until=30 * STEP)
    assert core.state == LISTENING and core.call.sounding()


def test_held_notes_per_channel():
    held = HeldNotes()
    for channel, pitch in ((0, 64), (0, 60), (1, 60)):
        held.press(channel, pitch)
    held.release(0, 64)
    assert held.release_channel(0) == [60] and len(held) == 1
    assert held.release_all() == [(1, 60)] and len(held) == 0


def drum_machine(first_step, steps):
    """Closed hi-hat (42) every 8th and kick (36) every beat on channel 10, 30 ms notes."""
    events = []
    for step in range(first_step, first_step + steps, 2):
        for pitch in (42, 36) if step % 4 == 0 else (42,):
            events += [(step * STEP, [0x99, pitch, 110]), (step * STEP + 0.03, [0x89, pitch, 0])]
    return events


def test_drums_under_a_call_are_not_the_melody(sessions):
    core, sched, out, clock = make(sessions, answer_start="beat", end_silence_beats=1.0)
    call = legato([(60, 16, 4), (64, 20, 4), (67, 24, 4), (72, 28, 4)])
    perform(core, sched, clock, sorted(call + drum_machine(8, 48), key=lambda e: e[0]), until=60 * STEP)
    turn = core.turns[-1]
    assert (turn.call_steps, turn.call_notes, turn.key) == (16, 4, "C")


def test_drums_alone_get_no_answer_unless_included(sessions):
    core, sched, out, clock = make(sessions)
    perform(core, sched, clock, sorted(drum_machine(8, 32), key=lambda e: e[0]), until=80 * STEP)
    assert core.state == IDLE and not core.turns and not out.sent
    core, sched, out, clock = make(sessions, include_drums=True, answer_start="beat")
    perform(core, sched, clock, sorted(drum_machine(8, 16), key=lambda e: e[0]), until=80 * STEP)
    assert core.turns  # the option takes channel 10 as part of the call


@pytest.mark.parametrize("seconds", [0.05, 0.02, 0.001])
def test_a_staccato_call_is_answered_one_beat_after_its_last_note_like_a_legato_one(sessions, seconds):
    answers = []
    for length in (None, seconds):
        core, sched, out, clock = make(sessions, answer_start="beat", end_silence_beats=1.0)
        events = []
        for pitch, start, steps in CDEFG:
            end = (start + steps) * STEP - 0.01 if length is None else start * STEP + length
            events += [(start * STEP, [0x90, pitch, 100]), (end, [0x80, pitch, 0])]
        perform(core, sched, clock, sorted(events, key=lambda e: e[0]), until=40 * STEP)
        assert core.turns, "the call ended"
        answers.append((core.turns[-1].answer_start_step, core.turns[-1].call_notes))
    assert answers[0] == answers[1] == (20, 4)


def test_a_note_released_before_its_step_is_final_still_ends():
    call = CallTracker()
    call.note_on(8, 60, 90)
    call.note_off(8, 60)  # 50 ms later: the step (8) is not final until 8.5
    assert call.finalize(8).kind == "note"
    assert call.line_note() == (60, 8, 9) and not call.sounding()
    call.finalize(9)
    assert [(n.pitch, n.start, n.duration) for n in call.notes] == [(60, 8, 1)]


def sensing(start, stop, period=0.3):
    events, t = [], start
    while t <= stop:
        events.append((t, [0xFE]))
        t = round(t + period, 6)
    return events


def test_active_sensing_silence_releases_held_notes_and_the_call_is_answered(sessions):
    core, sched, out, clock = make(sessions, answer_start="beat")
    events = sensing(0.1, 2.5) + legato(CDEFG[:3]) + [(14 * STEP, [0x90, 65, 100])]  # F held at 1.75 s
    perform(core, sched, clock, sorted(events, key=lambda e: e[0]), until=2.5 + 0.2)
    assert core.state == LISTENING and core.call.sounding()  # sensing still arriving: the key is down
    run_until(core, sched, clock, 2.5 + SENSING_TIMEOUT + 0.01)
    assert not core.call.sounding() and "Active Sensing" in core.message
    run_until(core, sched, clock, 6.0)
    assert core.turns and core.turns[-1].call_notes == 4


def test_without_active_sensing_a_silent_input_is_not_gone(sessions):
    core, sched, out, clock = make(sessions)
    perform(core, sched, clock, [(8 * STEP, [0x90, 60, 100])], until=4.0)
    assert core.state == LISTENING and core.call.sounding()


def test_sensing_watchdog_fires_once_per_silence():
    dog = SensingWatchdog()
    dog.seen(0.0, 0x90)
    assert not dog.expired(5.0)  # never armed
    dog.seen(1.0, 0xFE)
    dog.seen(1.25, 0x90)  # any message counts
    assert dog.deadline() == pytest.approx(1.25 + SENSING_TIMEOUT)
    assert not dog.expired(1.25 + SENSING_TIMEOUT)
    assert dog.expired(1.25 + SENSING_TIMEOUT + 0.001) and not dog.expired(9.0)


# ---- external clock -----------------------------------------------------------------------
TICK = 60 / 120 / 24


def ticks(first_time, count, tick=TICK):
    return [(first_time + i * tick, [0xF8]) for i in range(count)]


def test_stop_mid_answer_releases_the_ai_note_at_once(sessions):
    core, sched, out, clock = make(sessions, clock_source="external", answer_start="step", answer_bars=4)
    clock_events = [(0.0, [0xFA])] + ticks(0.0, 24 * 20)  # 20 beats
    call = [(t + 0.001, d) for t, d in legato([(62, 8, 2), (64, 10, 2), (66, 12, 2), (67, 14, 2)])]
    perform(core, sched, clock, sorted(clock_events[:300] + call, key=lambda e: e[0]), until=300 * TICK)
    assert out.sounding(), "an answer note sounds"
    core.handle(clock.now(), [0xFC])
    assert out.sounding() == set() and core.state == IDLE and sched.next_due() is None


def test_ticks_while_stopped_set_the_tempo_but_not_the_position():
    transport = Transport(100, 0.0, external=True)
    events = [(0xFA, 0.0)] + [(0xF8, i * TICK) for i in range(96)]
    stop = 96 * TICK
    events += [(0xFC, stop)] + [(0xF8, stop + (i + 1) * 0.02) for i in range(48)]  # 125 BPM while stopped
    events += [(0xFB, stop + 48 * 0.02 + 0.01)]
    for status, stamp in events:
        transport.handle(status, [status], stamp)
    assert transport.bpm == pytest.approx(125, abs=0.01)
    resume = stop + 49 * 0.02
    transport.handle(0xF8, [0xF8], resume)
    assert transport.grid.step_at(resume) == pytest.approx(16, abs=1e-6)


@pytest.mark.parametrize("pause", [1.0, 2.5, 4.0])
def test_continue_after_a_pause_fits_the_tempo_afresh_and_keeps_the_call(sessions, pause):
    core, sched, out, clock = make(sessions, clock_source="external", answer_start="beat")
    slow = 60 / 90 / 24  # before the stop: 90 BPM
    events = [(0.0, [0xFA])] + ticks(0.0, 96, slow) + [(96 * slow, [0xFC])]
    resume = 96 * slow + pause
    events += [(resume, [0xFB])] + ticks(resume, 24 * 12)  # then 120 BPM from the downbeat at step 16
    call = [(resume + (t - 16 * STEP), d) for t, d in legato([(60, 16, 4), (64, 20, 4), (67, 24, 4), (72, 28, 4)])]
    events = sorted(events + call, key=lambda e: (e[0], e[1][0] != 0xF8 and e[1][0] != 0xFB))
    third_tick = resume + 2 * TICK + 1e-6
    perform(core, sched, clock, [e for e in events if e[0] <= third_tick], until=third_tick)
    assert core.transport.bpm == pytest.approx(120, abs=0.5)  # three ticks after Continue
    perform(core, sched, clock, [e for e in events if e[0] > third_tick], until=resume + 24 * 12 * TICK)
    turn = core.turns[-1]
    assert (turn.call_notes, turn.call_steps, turn.key) == (4, 16, "C")


@pytest.mark.parametrize("bpm", [20, 45, 180, 300])
def test_clock_from_20_to_300_bpm_is_followed(bpm):
    transport = Transport(100, 0.0, external=True)
    tick = 60 / bpm / 24
    transport.handle(0xFA, [0xFA], 1.0)
    for i in range(60):
        transport.handle(0xF8, [0xF8], 1.0 + i * tick)
    assert transport.bpm == pytest.approx(bpm, rel=1e-6)
    assert transport.grid.time_of(8) == pytest.approx(1.0 + 48 * tick, abs=1e-6)


def test_with_midi_thru_keys_released_by_all_notes_off_or_silence_are_released_at_the_output(sessions):
    core, sched, out, clock = make(sessions, thru=True, thru_channel=1)
    perform(core, sched, clock, [(0.1, [0xFE]), (0.2, [0x90, 60, 100]), (0.2, [0x90, 64, 100])], until=0.25)
    core.handle(0.25, [0xB0, 123, 0])  # the keyboard's All Notes Off: the thru copies end too
    sched.send_due(0.25)
    assert out.sounding() == set()
    perform(core, sched, clock, [(0.3, [0x90, 67, 100])], until=0.3 + SENSING_TIMEOUT + 0.05)
    assert out.sounding() == set()  # Active Sensing stopped: the held key's copy ends
