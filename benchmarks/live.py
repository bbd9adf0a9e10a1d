"""Live timing over a real JACK round trip (a private dummy server, 32-frame period).

A test client plays calls into the engine and another records what comes out, stamping with
the same monotonic clock as the engine. Scheduled notes (answer notes and metronome clicks)
are due on the 16th grid, so each received note-on's lateness is its time minus the nearest
grid time. Scenarios, side by side in one run, on a JACK server with realtime scheduling (as
JACK runs by default; without it where the machine does not permit it):

- ``engine alone``: the engine in its own process (the shipped design);
- ``engine + CPU-bound process``: the same, with a CPU-bound Python process beside it;
- ``engine + real dashboard``: the Textual dashboard itself, headless, owning the engine and
  redrawing at its usual rate while the engine plays (the shipped layout);
- baseline ``engine --no-realtime + real dashboard``: the same, with the engine's timing
  thread at nice -10 instead of SCHED_FIFO;
- baseline ``engine loop in a thread + busy thread``: what a dashboard in the engine's own
  process would do (the GIL);
- ``JACK without realtime: engine + real dashboard``: the dashboard scenario again on a
  server started with ``--no-realtime``, so JACK's own threads compete with everything else.

Also: CPU use of the engine process while idle and while answering (from /proc), the
dashboard's CPU, the generation time per step against its budget (half a step), and a flood
of 2,000 messages per second for 10 s (lateness during the flood, memory before and after).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass

import numpy as np

from livemelody.config import EngineConfig
from livemelody.live.engine import EngineState
from livemelody.live.loop import RealtimeLoop
from livemelody.live.process import EngineHandle, EngineOptions
from livemelody.live.protocol import ResetStats
from testkit.jack import RATE, JackServer, Listener, Player
from testkit.waiting import run_in_thread, wait_for

PERIOD_FRAMES = 32
PERIOD_SECONDS = PERIOD_FRAMES / RATE

BPM = 120.0
STEP = 60 / BPM / 4
CALL = [(62, 0, 2), (64, 2, 2), (66, 4, 2), (67, 6, 2), (69, 8, 2), (71, 10, 2), (73, 12, 2), (74, 14, 2)]
ANSWER_CHANNEL, CLICK_CHANNEL = 0, 9


@dataclass
class LiveResult:
    scenario: str
    lateness_ms: np.ndarray
    first_note_ms: list[float]
    ready_early_ms: list[float]
    stats: dict
    baseline: bool = False
    """A comparison (what the shipped design avoids): shown without targets."""


def _busy_python(stop) -> None:
    """Stand-in for a dashboard redrawing: CPU-bound pure Python, allocating as it goes."""
    while not stop.is_set():
        rows = [f"{i:5d} {'#' * (i % 40)}" for i in range(2000)]
        sum(len(r) for r in rows)


def _busy_process(stop) -> None:
    _busy_python(stop)


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _call_events(first_step: int):
    events = []
    for pitch, start, length in CALL:
        events.append(((first_step + start) * STEP, [0x90, pitch, 96]))
        events.append(((first_step + start + length) * STEP - 0.02, [0x80, pitch, 0]))
    return sorted(events, key=lambda e: e[0])


EARLY_TOLERANCE = 0.002
"""Seconds a received note may come before its grid time (the listener's clock reconstruction)."""


def _lateness(listener: Listener, origin: float, since: float) -> np.ndarray:
    """Received note-on time minus the grid step time it belongs to, for notes received after
    ``since``. Scheduled notes are never due off the grid, so a note belongs to the last step at
    or before it (up to EARLY_TOLERANCE early): a note a whole step late counts as a step late,
    never as early for the next one."""
    late = []
    for stamp, data in listener.received:
        if stamp < since or data[0] & 0xF0 != 0x90 or data[2] == 0:
            continue
        step = math.floor((stamp - origin + EARLY_TOLERANCE) / STEP)
        late.append(stamp - (origin + step * STEP))
    return np.array(late) * 1000


def _play_turns(snapshot, player: Player, listener: Listener, turns: int) -> tuple[list[float], list[float]]:
    """Play ``turns`` calls; return (first answer note minus its grid time, ready-early) in ms."""
    first_notes, ready = [], []
    for _n in range(turns):
        snap = snapshot()
        seen = snap.turns
        first = (snap.step // 16 + 1) * 16
        player.play(_call_events(first), snap.grid_origin)
        wait_for(lambda seen=seen: snapshot().turns > seen and snapshot().last_turn is not None, 5)
        turn = snapshot().last_turn
        wait_for(lambda: snapshot().state == EngineState.IDLE, 8)
        ons = [
            t
            for t, d in listener.received
            if d[0] == 0x90 | ANSWER_CHANNEL and d[2] > 0 and t >= turn.answer_start_time - 0.05
        ]
        if ons:
            first_notes.append((ons[0] - turn.answer_start_time) * 1000)
        ready.append(turn.ready_early * 1000)
    return first_notes, ready


def run_process(name: str, busy: bool, turns: int, measure_cpu: bool = False, env: dict | None = None) -> LiveResult:
    """``env``: the engine process's environment changes (e.g. its JACK ports, see jack_ports_rows)."""
    player, listener = Player("bench-player"), Listener("bench-listener")
    config = EngineConfig(style="deutsch", bpm=BPM, metronome=True, answer_start="beat", answer_bars=2)
    handle = EngineHandle(
        EngineOptions(
            config=config,
            api="jack",
            input=player.port,
            output=listener.port,
            seed=1,
            styles=("deutsch", "han"),
            env=env or {},
        )
    ).start()
    stats: dict = {"priority": handle.info.priority, "jack_clients": _jack_clients()}
    stop = multiprocessing.Event()
    helper = multiprocessing.Process(target=_busy_process, args=(stop,), daemon=True) if busy else None
    try:
        wait_for(lambda: handle.snapshot is not None, 5)
        if helper:
            helper.start()
        if measure_cpu:
            handle.set(metronome=False)
            time.sleep(1.0)
            before = _cpu_seconds(handle.pid)
            time.sleep(5.0)
            stats["cpu_idle_pct"] = 100 * (_cpu_seconds(handle.pid) - before) / 5.0
            handle.set(metronome=True)
        handle.reset_stats()  # the engine's own figures cover the same window as the received ones
        since = time.monotonic()
        cpu_before = _cpu_seconds(handle.pid)
        answering_started = time.monotonic()
        first_notes, ready = _play_turns(lambda: handle.snapshot, player, listener, turns)
        if measure_cpu:
            stats["cpu_answering_pct"] = (
                100 * (_cpu_seconds(handle.pid) - cpu_before) / (time.monotonic() - answering_started)
            )
        lateness = _lateness(listener, handle.snapshot.grid_origin, since)
    finally:
        stop.set()
        final = handle.stop() or {}
        if helper:
            helper.join(2)
        player.close()
        listener.close()
    stats.update(final)
    return LiveResult(name, lateness, first_notes, ready, stats)


def run_with_dashboard(
    name: str, turns: int, realtime: bool = True, baseline: bool = False, env: dict | None = None
) -> LiveResult:
    """The real dashboard (headless Textual app) owns the engine handle and redraws throughout;
    the player and listener run in a process of their own (benchmarks/rig.py), like a synth.
    ``realtime=False`` runs the engine as ``--no-realtime`` does (nice -10 only)."""
    from multiprocessing import resource_tracker

    from benchmarks.rig import RemoteRig
    from livemelody.ui.app import LiveMelodyApp

    rig = RemoteRig()
    config = EngineConfig(style="deutsch", bpm=BPM, metronome=True, answer_start="beat", answer_bars=2)
    options = EngineOptions(
        config=config,
        api="jack",
        input=rig.player_port,
        output=rig.listener_port,
        seed=1,
        styles=("deutsch", "han"),
        realtime=realtime,
        env=env or {},
    )
    handles: list[EngineHandle] = []

    def start_engine(opts):
        handle = EngineHandle(opts).start()
        handles.append(handle)
        return handle

    app = LiveMelodyApp(options, start_engine=start_engine, save=None, lower_priority=True)
    result: dict = {}

    def drive() -> None:
        try:
            wait_for(lambda: handles and handles[-1].snapshot is not None, 10)
            handle = handles[-1]
            handle.reset_stats()
            since, cpu_before = time.monotonic(), _cpu_seconds(os.getpid())
            result["turns"] = _play_turns(lambda: handle.snapshot, rig, rig, turns)
            result["dashboard_cpu_pct"] = 100 * (_cpu_seconds(os.getpid()) - cpu_before) / (time.monotonic() - since)
            result["lateness"] = _lateness(rig, handle.snapshot.grid_origin, since)
        finally:
            app.call_from_thread(app.exit)

    resource_tracker.ensure_running()
    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    app.run(headless=True, size=(120, 40))
    driver.join(5)
    stats = dict(app.shutdown() or {})  # stops the engine (with its panic), as run_dashboard does
    stats.update(
        priority=handles[-1].info.priority if handles else "?",
        dashboard_cpu_pct=result["dashboard_cpu_pct"],
    )
    rig.close()
    first_notes, ready = result["turns"]
    return LiveResult(name, result["lateness"], first_notes, ready, stats, baseline)


def _jack_clients() -> int:
    """JACK clients named livemelody (or livemelody-NN) that own ports now (``jack_lsp``)."""
    import re
    import subprocess

    ports = subprocess.run(["jack_lsp"], capture_output=True, text=True).stdout.split("\n")
    return len({port.split(":", 1)[0] for port in ports if re.match(r"livemelody(-\d+)?:", port)})


JACK_PORT_KINDS = {
    "rtmidi": "JACK ports via RtMidi (a client each)",
    "client": "JACK ports in one client (C process callback)",
}


def _xruns(log_path: str, since: int) -> tuple[dict[str, int], int]:
    """What the JACK server logged after byte ``since`` of its log: (counts, the log's size now).
    JACK2 logs ``JackEngine::XRun: client = NAME was not finished, state = STATE`` for each
    client that had not finished a cycle in time; counts: ``running`` (a livemelody client was
    still in its process callback: its own lateness), ``triggered`` (a livemelody client had
    not started: its thread got no CPU, or a client before it in the graph was late) and
    ``any`` (every client, the test player and listener included)."""
    import re

    with open(log_path, "rb") as handle:
        handle.seek(since)
        text = handle.read().decode(errors="replace")
        end = handle.tell()
    late = re.findall(r"XRun: client = (\S+) was not finished, state = (\w+)", text)
    own = [state for name, state in late if re.fullmatch(r"livemelody(-\d+)?", name)]
    counts = {"running": own.count("Running"), "triggered": own.count("Triggered"), "any": len(late)}
    return counts, end


def jack_ports_rows(turns: int = 12, rounds: int = 1) -> tuple[list, list[str]]:
    """The engine's two ways of holding its JACK ports (``$LIVEMELODY_JACK_PORTS``: one client
    with a C process callback, or RtMidi's client per port), side by side on one realtime JACK
    server: each scenario is run with one, then the other, so both see the same load. Rows:
    every scenario's rows, prefixed by the way; the xruns JACK logged during each scenario; the
    engine's idle CPU; how many JACK clients own livemelody's ports."""
    from benchmarks.run import Row
    from livemelody.live.priority import realtime_permitted

    if shutil.which("jackd") is None:
        return [], ["JACK port rows skipped: jackd not installed"]
    server = _server(realtime_permitted())
    results: dict[str, list[LiveResult]] = {kind: [] for kind in JACK_PORT_KINDS}
    xruns: dict[str, list[dict[str, int]]] = {kind: [] for kind in JACK_PORT_KINDS}
    load = [os.getloadavg()[0]]
    try:
        with server.as_default():
            for _round in range(rounds):
                for scenario in ("engine alone", "engine + CPU-bound process", "engine + real dashboard"):
                    for kind, label in JACK_PORT_KINDS.items():
                        env = {"LIVEMELODY_JACK_PORTS": kind}
                        name = f"{label}: {scenario}"
                        since = _xruns(server.log_path, 0)[1]
                        if scenario == "engine + real dashboard":
                            result = run_with_dashboard(name, turns, env=env)
                        else:
                            busy = scenario != "engine alone"
                            result = run_process(name, busy=busy, turns=turns, measure_cpu=not busy, env=env)
                        results[kind].append(result)
                        xruns[kind].append(_xruns(server.log_path, since)[0])
                        load.append(os.getloadavg()[0])
    finally:
        server.stop()
    notes = [
        f"JACK port paths side by side on one JACK dummy server ({PERIOD_FRAMES}-frame period, "
        f"{'realtime' if server.realtime else 'no realtime'}); each scenario ran with one path, then the other; "
        f"1-minute load average {min(load):.2f}-{max(load):.2f} during the run.",
        "xruns: clients JACK logged as not finished in time during the scenario: a livemelody client still "
        "in its process callback (its own lateness; target 0 beside the CPU-bound process), in brackets a "
        "livemelody client not yet started (no CPU for its thread, or a late client before it) and any client "
        "(the test player and listener included).",
    ]
    rows = [Row("calls played per scenario (each answered for 2 bars, metronome on)", turns, "calls")]
    for kind, label in JACK_PORT_KINDS.items():
        clients = max(r.stats.get("jack_clients", 0) for r in results[kind])
        rows.append(Row(f"{label}: JACK clients owning livemelody's ports", clients, "clients"))
        for result, counts in zip(results[kind], xruns[kind], strict=True):
            rows += _scenario_rows(Row, result)
            busy = "CPU-bound" in result.scenario
            rows.append(
                Row(
                    f"{result.scenario}: xruns, livemelody still running (not started: {counts['triggered']}; "
                    f"any client: {counts['any']})",
                    counts["running"],
                    "xruns",
                    "0" if busy else "",
                    counts["running"] == 0 if busy else None,
                )
            )
            if "cpu_idle_pct" in result.stats:
                rows.append(
                    Row(
                        f"{label}: engine CPU while listening, no input",
                        result.stats["cpu_idle_pct"],
                        "% of a core",
                        "<= 5%",
                        result.stats["cpu_idle_pct"] <= 5,
                    )
                )
    return rows, notes


def run_thread_baseline(turns: int) -> LiveResult:
    """The engine loop in a thread beside a CPU-bound thread of the same process."""
    from livemelody.clock import MonotonicClock
    from livemelody.midi.ports import RtInput, RtOutput, StampQueue
    from livemelody.models.registry import load_lstm

    player, listener = Player("bench-player"), Listener("bench-listener")
    stamp_queue = StampQueue()
    midi_in, midi_out = RtInput("jack", player.port, stamp_queue), RtOutput("jack", listener.port)
    snaps = []
    config = EngineConfig(style="deutsch", bpm=BPM, metronome=True, answer_start="beat", answer_bars=2)
    loop = RealtimeLoop(
        config,
        {s: load_lstm(s) for s in ("deutsch", "han")},
        stamp_queue,
        midi_out.send,
        MonotonicClock(),
        publish=snaps.append,
        seed=1,
    )
    thread = run_in_thread(loop)
    stop = threading.Event()
    busy = threading.Thread(target=_busy_python, args=(stop,), daemon=True)
    try:
        wait_for(lambda: bool(snaps), 5)
        busy.start()
        loop.submit(ResetStats())
        since = time.monotonic()
        first_notes, ready = _play_turns(lambda: snaps[-1], player, listener, turns)
        lateness = _lateness(listener, snaps[-1].grid_origin, since)
    finally:
        stop.set()
        loop.stop()
        thread.join(3)
        midi_in.close()
        midi_out.close()
        player.close()
        listener.close()
    return LiveResult(
        "baseline: engine loop in a thread + busy thread (GIL)",
        lateness,
        first_notes,
        ready,
        dict(loop.stats),
        baseline=True,
    )


def run_flood(seconds: float = 10.0, rate: int = 2000) -> dict:
    player, listener = Player("bench-player"), Listener("bench-listener")
    config = EngineConfig(style="deutsch", bpm=BPM, metronome=True)
    handle = EngineHandle(
        EngineOptions(config=config, api="jack", input=player.port, output=listener.port, styles=("deutsch",))
    ).start()
    try:
        wait_for(lambda: handle.snapshot is not None, 5)
        time.sleep(0.5)
        rss_before = _rss_mb(handle.pid)
        since = time.monotonic()
        interval = 1.0 / rate
        sent, next_due = 0, time.monotonic()
        while time.monotonic() - since < seconds:  # polyphonic aftertouch and unmapped CCs
            player.rt.send_message([0xA0, 60 + sent % 24, sent % 128] if sent % 2 else [0xB0, 80, sent % 128])
            sent += 1
            next_due += interval
            delay = next_due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        time.sleep(0.5)
        rss_after = _rss_mb(handle.pid)
        lateness = _lateness(listener, handle.snapshot.grid_origin, since)
        dropped = handle.snapshot.stats.get("input_dropped", 0)
    finally:
        handle.stop()
        player.close()
        listener.close()
    return {
        "sent": sent,
        "rate": sent / seconds,
        "late_p99_ms": float(np.percentile(lateness, 99)) if len(lateness) else float("nan"),
        "late_max_ms": float(lateness.max()) if len(lateness) else float("nan"),
        "clicks": len(lateness),
        "rss_before_mb": rss_before,
        "rss_after_mb": rss_after,
        "dropped": dropped,
    }


def _server(realtime: bool) -> JackServer:
    log = tempfile.NamedTemporaryFile(prefix="jackd-", suffix=".log", delete=False)
    return JackServer(
        f"livemelody-bench-{os.getpid()}-{int(realtime)}", log.name, period=PERIOD_FRAMES, realtime=realtime
    ).start()


def live_rows(turns: int = 12) -> tuple[list, list[str]]:
    """Rows for benchmarks.run, and notes on how they were measured; ([], note) without jackd.

    The main scenarios run on a JACK server with realtime scheduling, as JACK runs by default
    on a stage machine (where this machine permits it); the last one repeats the dashboard
    scenario on a server without realtime, to show what JACK's own scheduling costs.
    """
    from benchmarks.run import Row
    from livemelody.live.priority import realtime_permitted

    if shutil.which("jackd") is None:
        return [], ["live rows skipped: jackd not installed"]
    realtime = realtime_permitted()
    server = _server(realtime)
    try:
        with server.as_default():
            results = [
                run_process("engine alone", busy=False, turns=turns, measure_cpu=True),
                run_process("engine + CPU-bound process", busy=True, turns=turns),
                run_with_dashboard("engine + real dashboard", turns),
                run_with_dashboard(
                    "baseline: engine --no-realtime (nice -10) + real dashboard", turns, realtime=False, baseline=True
                ),
                run_thread_baseline(turns),
            ]
            flood = run_flood()
    finally:
        server.stop()
    if realtime:
        server = _server(False)
        try:
            with server.as_default():
                results.append(
                    run_with_dashboard("JACK without realtime: engine + real dashboard", turns, baseline=True)
                )
        finally:
            server.stop()
    priorities = sorted({r.stats["priority"] for r in results if "priority" in r.stats})
    notes = [
        f"Live scenarios ran on a JACK dummy server ({PERIOD_FRAMES}-frame period) with "
        f"{'realtime scheduling (SCHED_FIFO 70), as JACK runs by default' if realtime else 'no realtime scheduling (not permitted on this machine)'}"
        f"{', except the last scenario, which runs without it' if realtime else ''}.",
        "Engine timing thread, as each engine reported it: " + "; ".join(priorities) + ".",
    ]
    rows = [
        Row(
            f"JACK period ({PERIOD_FRAMES} frames at {RATE} Hz): delivery adds 0..1 period", PERIOD_SECONDS * 1000, "ms"
        ),
        Row("calls played per scenario (each answered for 2 bars, metronome on)", turns, "calls"),
    ]
    for result in results:
        rows += _scenario_rows(Row, result)
    cpu = results[0].stats
    rows += [
        Row(
            "engine CPU while listening, no input",
            cpu["cpu_idle_pct"],
            "% of a core",
            "<= 5%",
            cpu["cpu_idle_pct"] <= 5,
        ),
        Row("engine CPU while answering (metronome on)", cpu["cpu_answering_pct"], "% of a core"),
    ]
    rows += [
        Row(
            f"flood {flood['rate']:.0f} msg/s for 10 s: click lateness max",
            flood["late_max_ms"],
            "ms",
            "<= 5 ms",
            flood["late_max_ms"] <= 5,
        ),
        Row(
            "flood: engine memory growth",
            flood["rss_after_mb"] - flood["rss_before_mb"],
            "MB",
            "bounded (< 20 MB)",
            flood["rss_after_mb"] - flood["rss_before_mb"] < 20,
        ),
        Row("flood: input messages dropped by the bounded queue", flood["dropped"], "msgs"),
    ]
    return rows, notes


def _at_most(row, name: str, value_ms: float, limit_ms: float, target: bool):
    """A ``row`` (benchmarks.run.Row) in ms with the verdict ``value <= limit`` where the
    scenario has a target (none for baselines)."""
    return row(name, value_ms, "ms", f"<= {limit_ms:g} ms" if target else "", value_ms <= limit_ms if target else None)


def _scenario_rows(Row, result: LiveResult) -> list:
    """Lateness rows of one scenario; targets apply to every scenario but the baselines."""
    late = result.lateness_ms
    target = not result.baseline
    p99, worst = float(np.percentile(late, 99)), float(late.max())
    rows = [
        Row(
            f"{result.scenario}: scheduled notes, lateness p50 ({len(late)} notes)",
            float(np.percentile(late, 50)),
            "ms",
        ),
        _at_most(Row, f"{result.scenario}: scheduled notes, lateness p99", p99, 1, target),
        _at_most(Row, f"{result.scenario}: scheduled notes, lateness max", worst, 5, target),
        Row(
            f"{result.scenario}: first answer note minus its grid time, max of {len(result.first_note_ms)}",
            max(result.first_note_ms),
            "ms",
            f"<= {PERIOD_SECONDS * 1000 + 2:.2f} ms" if target else "",
            max(result.first_note_ms) <= PERIOD_SECONDS * 1000 + 2 if target else None,
        ),
    ]
    if target:
        ready = min(result.ready_early_ms)
        rows.append(Row(f"{result.scenario}: answer ready before its grid time, min", ready, "ms", "> 0", ready > 0))
    stats = result.stats
    if "late_p99_ms" in stats:
        p99, worst = stats["late_p99_ms"], stats["late_max_ms"]
        rows += [
            _at_most(Row, f"{result.scenario}: engine send lateness p99 (before JACK)", p99, 1, target),
            _at_most(Row, f"{result.scenario}: engine send lateness max (before JACK)", worst, 5, target),
        ]
    if "gen_p99_ms" in stats:
        ratio = stats["gen_max_ms"] / stats["gen_budget_ms"]
        rows += [
            Row(f"{result.scenario}: generation per step p99", stats["gen_p99_ms"], "ms"),
            Row(
                f"{result.scenario}: generation per step max / budget (half a step)",
                ratio,
                "x",
                "< 1" if target else "",
                ratio < 1 if target else None,
            ),
        ]
    if "dashboard_cpu_pct" in stats:
        rows.append(Row(f"{result.scenario}: dashboard process CPU", stats["dashboard_cpu_pct"], "% of a core"))
    return rows
