"""What the style blend costs, measured side by side with the style alone in one run.

    python -m benchmarks.blend               # print the rows (benchmarks.run includes them)

- the 64-step continuation of ``benchmarks.run`` (the seed's primer, sampling included) with
  no blend and with a blend of 0.5, interleaved call by call so both see the same machine;
- the live engine's work per step (``EngineCore.advance`` at each half-step, a null sink and a
  manual clock, every shipped style loaded as ``run`` loads them): while listening (every
  style's LSTM fed in 12 transpositions) and while answering, turns with blend 0 and 0.5
  alternating, against the generation budget (half a step) at the fastest tempo, 400 BPM. The
  budget is checked on thread CPU time: this process is not realtime, so on a shared machine
  its wall-clock maximum is the scheduler's preemption (benchmarks/live.py measures the real
  engine's generation time under SCHED_FIFO).
"""

from __future__ import annotations

import gc
import sys
import time

import numpy as np

FASTEST_BPM = 400.0
"""The settings table's highest tempo: the smallest generation budget."""
CALL = [(62, 2), (64, 2), (66, 2), (67, 2), (69, 2), (71, 2), (73, 2), (74, 4)]
"""A two-bar call in D major: (pitch, length in steps)."""


class _NullSink:
    def schedule(self, due, data, tag) -> None:
        pass

    def cancel(self, tag, now) -> None:
        pass

    def panic(self, now) -> None:
        pass


def continuation_samples(style: str, partner: str, calls: int) -> dict[float, tuple[list[float], list[float]]]:
    """(wall seconds, thread CPU seconds) per 64-step continuation of the seed's primer, by blend
    weight (0 and 0.5)."""
    from livemelody.blend import Blend
    from livemelody.generate import continue_tokens, primer_tokens
    from livemelody.models.registry import load_lstm
    from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN
    from livemelody.sampling import SamplingParams

    session, other = load_lstm(style), load_lstm(partner)
    primer, _, _ = primer_tokens(AH_VOUS_DIRAI_JE_MAMAN, session)
    params = SamplingParams(1.0, top_p=0.95)
    rng = np.random.default_rng(0)
    blends = {0.0: None, 0.5: Blend(other, 0.5)}
    samples: dict[float, tuple[list[float], list[float]]] = {w: ([], []) for w in blends}
    for i in range(calls + 5):
        for weight, blend in blends.items():
            started, cpu = time.perf_counter(), time.thread_time()
            continue_tokens(session, primer, 64, params, rng, blend=blend)
            if i >= 5:  # the first calls warm up
                samples[weight][0].append(time.perf_counter() - started)
                samples[weight][1].append(time.thread_time() - cpu)
    return samples


def engine_step_samples(style: str, partner: str, turns: int) -> dict[tuple[str, float], list[tuple[float, float]]]:
    """(wall seconds, thread CPU seconds) per ``EngineCore.advance`` step, by (state, blend
    weight): "listening" and "answering", blend 0 and 0.5 on alternate turns (a 2-bar call, a
    2-bar answer each). Garbage collection is kept out of the steps as the real-time loop keeps
    it (livemelody/live/loop.py: frozen, disabled, collected between steps when there is room)."""
    from livemelody.clock import ManualClock
    from livemelody.config import EngineConfig
    from livemelody.live.engine import EngineCore
    from livemelody.models.registry import installed_models, load_lstm

    styles = sorted({m.style for _, m in installed_models("lstm")})
    sessions = {s: load_lstm(s) for s in styles}
    config = EngineConfig(style=style, blend_with=partner, bpm=120.0, answer_bars=2, answer_start="step")
    core = EngineCore(config, sessions, _NullSink(), 0.0, seed=0)
    samples: dict[tuple[str, float], list[tuple[float, float]]] = {}
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        for turn in range(turns + 1):
            _turn(core, ManualClock(core.next_wakeup()), turn, samples)
            gc.collect(1)
    finally:
        gc.enable()
        gc.unfreeze()
    return samples


def _turn(core, clock, turn: int, samples: dict) -> None:
    """One call and its answer, blend 0 on even turns and 0.5 on odd ones, each
    ``EngineCore.advance`` timed into ``samples`` (turn 0 only warms up)."""
    from livemelody.live.engine import ANSWERING, IDLE, LISTENING

    weight = 0.5 if turn % 2 else 0.0
    core.set(blend=weight)
    step = core.transport.grid.step_seconds
    t = clock.now()
    at = core.transport.grid.nearest_step(t) + 2
    events = []
    for pitch, length in CALL:
        events += [(at * step, [0x90, pitch, 90]), ((at + length) * step - 0.01, [0x80, pitch, 0])]
        at += length
    done_at = (at + 4 + 2 * 16 + 4) * step  # the call's end silence, the answer, a margin
    while t < done_at:
        t = core.next_wakeup()
        while events and events[0][0] <= t:
            core.handle(*events.pop(0))
        clock.set(t)
        state = core.state
        started, cpu = time.perf_counter(), time.thread_time()
        core.advance(t)
        spent = (time.perf_counter() - started, time.thread_time() - cpu)
        if turn and state in (LISTENING, ANSWERING):
            samples.setdefault((state.value, weight), []).append(spent)
    if core.state is not IDLE:
        raise RuntimeError(f"turn {turn} did not end (state {core.state})")


def blend_rows(style: str = "deutsch", partner: str = "han", calls: int = 300, turns: int = 40) -> list:
    """Rows for :mod:`benchmarks.run`: continuation and live step cost, alone and blended."""
    from benchmarks.run import Row, percentile_us

    rows = []
    cont = continuation_samples(style, partner, calls)
    p99 = {w: percentile_us(wall, 99) / 1000 for w, (wall, _) in cont.items()}
    cpu = {w: percentile_us(cpu, 50) / 1000 for w, (_, cpu) in cont.items()}
    for weight, (wall, _) in cont.items():
        what = "no blend" if weight == 0 else f"blend {weight:g} with {partner}, two LSTMs a step"
        rows.append(Row(f"64-step continuation p50 ({style}, {what})", percentile_us(wall, 50) / 1000, "ms"))
        if weight == 0:  # the baseline of the ratios below; its target is checked once, by lstm_rows' row
            rows.append(Row(f"64-step continuation p99 ({style}, {what})", p99[weight], "ms"))
        else:
            rows.append(
                Row(f"64-step continuation p99 ({style}, {what})", p99[weight], "ms", "<= 5 ms", p99[weight] <= 5)
            )
        rows.append(Row(f"64-step continuation thread CPU time p50 ({style}, {what})", cpu[weight], "ms"))
    rows.append(Row("64-step continuation p99, blended / no blend", p99[0.5] / p99[0.0], "x"))
    rows.append(Row("64-step continuation thread CPU time p50, blended / no blend", cpu[0.5] / cpu[0.0], "x"))
    budget_ms = 60 / FASTEST_BPM / 4 / 2 * 1000
    steps = engine_step_samples(style, partner, turns)
    for (state, weight), samples in sorted(steps.items()):
        wall, cpu = [w for w, _ in samples], [c for _, c in samples]
        worst = max(cpu) * 1000
        name = f"engine {state} step (all shipped styles fed), blend {weight:g}"
        rows.append(Row(f"{name} thread CPU time p50", percentile_us(cpu, 50), "us"))
        rows.append(Row(f"{name} p99 (wall; this process is not realtime)", percentile_us(wall, 99) / 1000, "ms"))
        rows.append(
            Row(
                f"{name} thread CPU time max / budget at {FASTEST_BPM:g} BPM ({budget_ms:.2f} ms)",
                worst / budget_ms,
                "x",
                "< 1",
                worst / budget_ms < 1,
            )
        )
    return rows


def main() -> int:
    from benchmarks.run import environment, table

    rows = blend_rows()
    print(environment())
    print(table(rows))
    return 0 if all(r.met is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
