"""Scheduler, recorder, transport, port resolution and config: the live engine's parts."""

import pytest

from livemelody.clock import ManualClock
from livemelody.config import ControlMap, EngineConfig
from livemelody.live.scheduler import Scheduler
from livemelody.live.transport import Transport
from livemelody.midi.fake import FakeOutput
from livemelody.midi.ports import PortError, StampQueue, resolve


def test_scheduler_sends_in_time_order_and_tracks_sounding_notes():
    clock = ManualClock()
    out = FakeOutput(clock.now)
    sched = Scheduler(out.send, clock.now)
    sched.schedule(0.2, [0x80, 60, 0], "ai")
    sched.schedule(0.1, [0x90, 60, 80], "ai")
    sched.schedule(0.1, [0x99, 76, 90], "metronome")
    clock.set(0.1)
    assert sched.send_due(0.1) == 2
    assert [d for _, d in out.sent] == [[0x90, 60, 80], [0x99, 76, 90]]
    assert set(sched.sounding) == {(0, 60), (9, 76)}
    clock.set(0.25)
    sched.send_due(0.25)
    assert set(sched.sounding) == {(9, 76)}
    assert sched.lateness_stats()["late_max_ms"] == pytest.approx(50, abs=1e-6)


def test_cancel_releases_only_its_tag_and_panic_everything():
    clock = ManualClock()
    out = FakeOutput(clock.now)
    sched = Scheduler(out.send, clock.now)
    for data, tag in (([0x90, 60, 80], "ai"), ([0x99, 76, 90], "metronome")):
        sched.schedule(0.0, data, tag)
    sched.schedule(1.0, [0x80, 60, 0], "ai")
    sched.send_due(0.0)
    sched.cancel("ai", 0.0)
    assert out.sounding() == {(9, 76)} and sched.next_due() is None
    sched.schedule(2.0, [0x90, 61, 80], "ai")
    sched.panic()
    assert out.sounding() == set() and sched.next_due() is None
    sent = [d for _, d in out.sent]
    for channel in (0, 9):
        for control in (64, 123, 120):
            assert [0xB0 | channel, control, 0] in sent


def test_a_failing_port_does_not_break_the_books():
    def broken(data):
        raise OSError("gone")

    sched = Scheduler(broken, ManualClock().now)
    sched.schedule(0.0, [0x90, 60, 80], "ai")
    sched.send_due(0.0)
    sched.panic()
    assert sched.send_errors >= 2 and not sched.sounding


def test_transport_song_position_and_internal_tempo_change():
    transport = Transport(100, 0.0, external=True)
    transport.handle(0xF2, [0xF2, 16, 0], 5.0)  # position: step 16
    transport.handle(0xFB, [0xFB], 5.0)  # continue from there
    for i in range(30):
        transport.handle(0xF8, [0xF8], 5.0 + i * 0.025)  # 100 BPM: 25 ms a tick
    assert transport.bpm == pytest.approx(100, abs=0.01)
    assert transport.grid.time_of(16) == pytest.approx(5.0, abs=1e-6)
    internal = Transport(100, 0.0)
    internal.set_bpm(120, now=1.5)  # step 10 at 1.5 s stays where it is
    assert internal.grid.step_at(1.5) == pytest.approx(10)


def test_port_resolution_by_index_name_and_substring():
    names = ["Midi Through:0", "USB Keyboard:0", "FLUID Synth (123):0"]
    assert resolve("1", names, "input") == 1
    assert resolve("fluid", names, "output") == 2
    assert resolve("USB Keyboard:0", names, "input") == 1
    with pytest.raises(PortError, match="no input port matches 'piano'; input ports: 0: Midi Through:0"):
        resolve("piano", names, "input")
    with pytest.raises(PortError, match="several"):
        resolve(":0", names, "input")
    with pytest.raises(PortError, match="number 7"):
        resolve("7", names, "input")


def test_stamp_queue_is_bounded():
    queue = StampQueue(limit=100)
    for i in range(250):
        queue.put(float(i), [0xB0, 1, i % 128])
    items = queue.drain()
    assert len(items) == 100 and queue.dropped == 150 and items[0][0] == 150.0


@pytest.mark.parametrize(
    "changes",
    [
        dict(mode="jam"),
        dict(temperature=-1),
        dict(bpm=1000),
        dict(answer_start="now"),
        dict(output_channel=16),
        dict(end_silence_beats=0),
        dict(answer_bars=0),
    ],
)
def test_bad_engine_settings_are_refused(changes):
    with pytest.raises(ValueError):
        EngineConfig(**changes)


def test_control_map_refuses_clashes():
    with pytest.raises(ValueError, match="share"):
        ControlMap(temperature=20, style=20)
    assert ControlMap().lookup(26) == "panic" and ControlMap().lookup(7) is None


def test_fake_output_closes_once_and_refuses_to_send_after():
    port = FakeOutput(lambda: 0.0)
    port.send([0x90, 60, 1])
    port.close()
    port.close()  # harmless
    with pytest.raises(PortError, match="closed"):
        port.send([0x80, 60, 0])
    assert port.sent == [(0.0, [0x90, 60, 1])]


def test_timings_give_the_percentiles_of_the_values_within_one_bin():
    import numpy as np

    from livemelody.live.timings import BIN_SECONDS, Timings

    values = np.random.default_rng(3).exponential(0.0003, 20_000)
    values[7] = 0.25  # beyond the last bin: counted there, the exact maximum kept
    timings = Timings()
    for value in values:
        timings.append(float(value))
    for q in (50, 99, 99.9):
        assert timings.percentile_ms(q) == pytest.approx(np.percentile(values, q) * 1000, abs=BIN_SECONDS * 1000)
    assert timings.max == 0.25 and len(timings) == 20_000
    assert timings.count_over(0.002) == pytest.approx(int((values > 0.002).sum()), abs=2)
    timings.clear()
    assert not timings and timings.percentile_ms(99) == 0.0
