"""RealtimeLoop pieces that run without a thread: commands and the timing figures."""

import pytest

from livemelody.clock import ManualClock
from livemelody.config import EngineConfig
from livemelody.live.loop import RealtimeLoop
from livemelody.live.protocol import ResetStats
from livemelody.midi.fake import FakeOutput
from livemelody.midi.ports import StampQueue
from livemelody.models.lstm import LstmSession
from tests.conftest import TINY_JSON


def make_loop():
    clock = ManualClock(0.0)
    out = FakeOutput(clock.now)
    loop = RealtimeLoop(
        EngineConfig(style="tiny", bpm=120), {"tiny": LstmSession(TINY_JSON)}, StampQueue(), out.send, clock
    )
    return loop, clock, out


def test_reset_stats_forgets_the_timing_figures_so_far():
    loop, clock, out = make_loop()
    loop.scheduler.schedule(0.0, [0x90, 60, 90], "ai")
    clock.set(0.002)
    loop.scheduler.send_due(clock.now())
    loop.generation.append(0.001)
    loop._update_stats()
    assert loop.stats["late_max_ms"] == pytest.approx(2.0) and loop.stats["sent"] == 1
    loop.submit(ResetStats())
    loop._run_commands(clock.now())
    assert not loop.scheduler.lateness and not loop.generation and loop.stats == {}
    loop.scheduler.schedule(0.003, [0x80, 60, 0], "ai")
    clock.set(0.0035)
    loop.scheduler.send_due(clock.now())
    loop._update_stats()
    assert loop.stats["sent"] == 1 and loop.stats["late_max_ms"] == pytest.approx(0.5)  # only what came after the reset
    assert [d for _, d in out.sent] == [[0x90, 60, 90], [0x80, 60, 0]]
