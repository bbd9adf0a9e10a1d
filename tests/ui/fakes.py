"""A fake engine handle: the EngineHandle methods the dashboard uses, recording every call
and serving scripted snapshots, so dashboard tests are fast and deterministic."""

from __future__ import annotations

from dataclasses import replace

from livemelody.config import EngineConfig
from livemelody.events import RollNote
from livemelody.live.engine import Snapshot, Turn
from livemelody.live.process import EngineOptions
from livemelody.live.protocol import Ready

TWINKLE_ROLL = tuple(
    RollNote("player", p, s, s + 4) for p, s in [(60, 0), (60, 4), (67, 8), (67, 12), (69, 16), (69, 20), (67, 24)]
) + tuple(RollNote("ai", p, s, s + d) for p, s, d in [(64, 36, 4), (65, 40, 2), (67, 42, 2), (72, 44, 8), (71, 52, 4)])
TURN = Turn(
    call_steps=32,
    call_notes=7,
    key="C",
    answer_start_step=36,
    answer_start_time=12.0,
    answer_steps=32,
    ready_early=0.0612,
    style="deutsch",
    mode="continue",
)


def make_snapshot(config: EngineConfig, **changes) -> Snapshot:
    values = dict(
        state="answering",
        config=config,
        bpm=config.bpm,
        external_clock=False,
        transport_running=True,
        step=58,
        grid_origin=0.0,
        key="C",
        call_steps=0,
        answer_step=22,
        turns=1,
        last_turn=TURN,
        styles=("deutsch", "han"),
        message="",
        stats={},
        notes=TWINKLE_ROLL,
        last_cc=None,
        cc_count=0,
    )
    values.update(changes)
    return Snapshot(**values)


class FakeHandle:
    """Started at once; ``calls`` lists (name, arguments) in order."""

    def __init__(self, options: EngineOptions):
        self.options = options
        self.config = options.config
        self.calls: list[tuple] = []
        self.info = Ready(
            options.input or "livemelody in (virtual)",
            options.output or "livemelody out (virtual)",
            ("deutsch", "han"),
            0.0,
            "realtime (SCHED_FIFO 5)",
        )
        self.died = None
        self.warnings: list[str] = []
        self.final_stats = {"sent": 0}
        self.snapshot = make_snapshot(self.config)

    @classmethod
    def start_engine(cls, options: EngineOptions) -> FakeHandle:
        return cls(options)

    def set(self, **changes) -> None:
        self.config = self.config.changed(**changes)  # raises ValueError like the real handle
        self.calls.append(("set", changes))
        self.snapshot = replace(self.snapshot, config=self.config)

    def panic(self) -> None:
        self.calls.append(("panic",))

    def end_call(self) -> None:
        self.calls.append(("end_call",))

    def alive(self) -> bool:
        return not any(call[0] == "stop" for call in self.calls)

    def stop(self):
        self.calls.append(("stop",))
        return self.final_stats

    def feed_cc(self, number: int, value: int) -> None:
        """As if a controller moved on the engine's input."""
        snap = self.snapshot
        self.snapshot = replace(snap, last_cc=(number, value), cc_count=snap.cc_count + 1)
