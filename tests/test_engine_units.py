"""The engine core's small units (metronome, knobs, roll history), the typed commands, the
recorder's reported failures and the engine log."""

import logging

import pytest

from livemelody.clock import Grid, ManualClock
from livemelody.config import SETTINGS, ControlMap, EngineConfig
from livemelody.events import Note, RollNote, Tag
from livemelody.live import metronome
from livemelody.live.knobs import SUSTAIN_RELEASE, Knobs
from livemelody.live.log import EngineLog, log_file
from livemelody.live.loop import RealtimeLoop
from livemelody.live.protocol import EndCall, Notice, SetSettings
from livemelody.live.roll import RollHistory
from livemelody.midi.fake import FakeOutput, sounding_notes
from livemelody.midi.ports import StampQueue
from livemelody.midi.spec import panic_messages
from livemelody.models.lstm import LstmSession
from tests.conftest import TINY_JSON

# ---- metronome ------------------------------------------------------------------------------


def test_the_metronome_clicks_on_beats_and_accents_the_downbeat():
    grid = Grid(120.0)  # a step is 0.125 s
    assert metronome.clicks(1, 4, 4, 9, grid) == []
    downbeat = metronome.clicks(16, 4, 4, 9, grid)
    assert downbeat[0] == (2.0, [0x99, metronome.NOTES[0], metronome.VELOCITY])
    assert downbeat[1] == (2.0 + metronome.CLICK_SECONDS, [0x89, metronome.NOTES[0], 0])
    assert metronome.clicks(4, 4, 4, 9, grid)[0][1][1] == metronome.NOTES[1]
    assert metronome.clicks(12, 4, 3, 9, grid)[0][1][1] == metronome.NOTES[0]  # 3/4: beat 3 is a downbeat


# ---- knobs ----------------------------------------------------------------------------------


def test_knobs_map_controllers_to_settings_actions_and_the_pedal():
    knobs, config = Knobs(), EngineConfig()
    assert knobs.handle(20, 127, config, ()).changes == {"temperature": SETTINGS["temperature"].high}
    assert knobs.handle(22, 64, config, ()).changes == {"mode": "vary"}
    assert knobs.handle(25, 10, config, ()) is None  # an action acts from 64
    assert knobs.handle(26, 127, config, ()).action == "panic"
    assert knobs.handle(7, 100, config, ()) is None  # unmapped
    assert knobs.handle(64, 127, config, ()) is None  # pedal down
    assert knobs.handle(64, 0, config, ()).action == SUSTAIN_RELEASE
    assert knobs.handle(64, 0, config, ()) is None  # released once only
    assert knobs.last_cc == (64, 0) and knobs.cc_count == 8
    moved = config.changed(controls=ControlMap(temperature=74, style=None))
    assert knobs.handle(74, 0, moved, ()).changes == {"temperature": 0.0}
    assert knobs.handle(21, 127, moved, ("a", "b")) is None  # style unmapped now


# ---- roll history ---------------------------------------------------------------------------


def test_roll_history_keeps_calls_ai_notes_and_cuts_a_stopped_answer():
    roll = RollHistory(limit=8)
    roll.add_player([Note(60, 0, 4)], (62, 4, None), step=10)  # the open line note ends at 10
    roll.ai_note_on(64, 12)
    roll.ai_note_off(12)  # at least one step long
    roll.add_ai(65, 14, 18)
    roll.add_ai(67, 20, 24)  # a variation's future note
    roll.cut_ai(16)
    assert roll.notes(0) == (
        RollNote(Tag.PLAYER, 60, 0, 4),
        RollNote(Tag.PLAYER, 62, 4, 10),
        RollNote(Tag.AI, 64, 12, 13),
        RollNote(Tag.AI, 65, 14, 16),
    )
    roll.ai_note_on(70, 30)
    assert roll.notes(20)[-1] == RollNote(Tag.AI, 70, 30, None)
    assert roll.notes(20, call=[Note(72, 25, 2)])[0] == RollNote(Tag.PLAYER, 72, 25, 27)
    for i in range(20):
        roll.add_ai(60, 100 + i, 101 + i)
    assert len(roll.finished) == 8


def test_one_panic_builder_silences_what_sounds_and_the_pedal():
    messages = panic_messages([0, 9], [(0, 60)])
    assert messages[0] == [0x80, 60, 0]
    assert [m[:2] for m in messages[1:]] == [[0xB0, 64], [0xB0, 123], [0xB0, 120], [0xB9, 64], [0xB9, 123], [0xB9, 120]]
    everything = panic_messages([3])
    assert len(everything) == 128 + 3
    assert sounding_notes([[0x93, n, 100] for n in range(128)] + everything) == set()


# ---- typed commands -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def session():
    return LstmSession(TINY_JSON)


def make_loop(session):
    clock = ManualClock()
    out = FakeOutput(clock.now)
    return RealtimeLoop(EngineConfig(style="tiny"), {"tiny": session}, StampQueue(), out.send, clock), clock


def test_the_loop_takes_typed_commands_only_and_reports_bad_settings(session):
    loop, clock = make_loop(session)
    with pytest.raises(TypeError):
        loop.submit(("set", (), {"temperature": 0.5}))  # the old stringly form is refused
    loop.submit(SetSettings({"temperature": 0.5}))
    loop.submit(SetSettings({"temperature": 9.0}))  # out of range: reported, nothing changes
    loop.submit(Notice("hello"))
    loop.submit(EndCall())
    loop._run_commands(clock.now())
    assert loop.core.config.temperature == 0.5
    assert loop.core.message == "hello"
    loop.submit(SetSettings({"temperature": 9.0}))
    loop._run_commands(clock.now())
    assert "temperature must be 0-2" in loop.core.message


def test_state_changes_are_logged_with_their_reason(session, caplog):
    from livemelody.live.engine import EngineState

    loop, clock = make_loop(session)
    caplog.set_level(logging.DEBUG, logger="livemelody.engine")
    loop.core.handle(0.0, [0x90, 60, 100])
    assert loop.core.state == EngineState.LISTENING
    assert any("idle -> listening" in r.getMessage() for r in caplog.records)


# ---- recorder failures and the engine log ----------------------------------------------------


def test_the_engine_log_is_a_file_in_the_state_folder():
    engine_log = EngineLog(verbose=False)
    logging.getLogger("livemelody.engine").info("turn 1: a test line")
    engine_log.close()
    assert "turn 1: a test line" in log_file().read_text()
    assert log_file().parent.parent.name == "livemelody"
