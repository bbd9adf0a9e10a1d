"""The soak: a whole set, not 12 calls. The real dashboard (headless Textual, redrawing) owns
the engine; the session is recorded; the metronome clicks; a call is played whenever the
engine is idle, so an answer (one bar) comes every few seconds; for ``--minutes``.

Runs inside one source tree (this one, or another checkout given as the baseline by
``python -m benchmarks.run --soak MINUTES --soak-baseline TREE``): it imports ``livemelody``,
``benchmarks.rig`` (and through it that tree's JACK clients) from the tree it is run in, and needs a JACK
server (``JACK_DEFAULT_SERVER``). Prints one JSON object: received lateness (ms) of every
scheduled note-on (answers and clicks, stamped by a JACK client in a process of its own),
the engine's own figures (send lateness, stalls > 2 ms where the tree counts them,
generation time), turns and the session file's size.

    python benchmarks/soak.py --minutes 10       # from the tree to measure, JACK running
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the tree it is run in comes first
    sys.path.insert(0, os.getcwd())

import numpy as np  # noqa: E402

BPM = 120.0
STEP = 60 / BPM / 4
CALL = [(62, 0, 2), (64, 2, 2), (66, 4, 2), (67, 6, 2), (69, 8, 2), (71, 10, 2), (73, 12, 2), (74, 14, 2)]
EARLY_TOLERANCE = 0.002
STALL_MS = 2.0


def _call_events(first_step: int):
    events = []
    for pitch, start, length in CALL:
        events.append(((first_step + start) * STEP, [0x90, pitch, 96]))
        events.append(((first_step + start + length) * STEP - 0.02, [0x80, pitch, 0]))
    return sorted(events, key=lambda e: e[0])


def _wait_for(predicate, timeout: float) -> bool:
    """testkit.waiting.wait_for's loop, kept here (as is the dashboard driver that
    benchmarks.live also has): the soak runs inside older trees as its baseline, and they have
    neither testkit nor that driver."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def soak(minutes: float) -> dict:
    from multiprocessing import resource_tracker

    from benchmarks.rig import RemoteRig
    from livemelody.config import EngineConfig
    from livemelody.live.process import EngineHandle, EngineOptions
    from livemelody.ui.app import LiveMelodyApp

    folder = Path(tempfile.mkdtemp(prefix="livemelody-soak-"))
    record = folder / "soak.mid"
    rig = RemoteRig("soak")
    config = EngineConfig(
        style="deutsch", bpm=BPM, metronome=True, answer_start="beat", answer_bars=1, end_silence_beats=1.0
    )
    options = EngineOptions(
        config=config,
        api="jack",
        input=rig.player_port,
        output=rig.listener_port,
        record=record,
        seed=1,
        styles=("deutsch", "han"),
    )
    handles: list = []

    def start_engine(opts):
        handle = EngineHandle(opts).start()
        handles.append(handle)
        return handle

    app = LiveMelodyApp(options, start_engine=start_engine, save=None, lower_priority=True)
    result: dict = {}

    def drive() -> None:
        try:
            _wait_for(lambda: handles and handles[-1].snapshot is not None, 20)
            handle = handles[-1]
            handle.reset_stats()
            since = time.monotonic()
            end = since + minutes * 60
            turns = 0
            while time.monotonic() < end and handle.alive():
                _wait_for(lambda: handle.snapshot.state == "idle", 10)
                snap = handle.snapshot
                first = (snap.step // 16 + 1) * 16
                rig.play(_call_events(first), snap.grid_origin)
                _wait_for(lambda seen=snap.turns: handle.snapshot.turns > seen, 5)
                turns += 1
            _wait_for(lambda: handle.snapshot.state == "idle", 10)
            origin = handle.snapshot.grid_origin
            late = []
            for stamp, data in rig.received:
                if stamp < since or data[0] & 0xF0 != 0x90 or data[2] == 0:
                    continue
                step = math.floor((stamp - origin + EARLY_TOLERANCE) / STEP)
                late.append((stamp - (origin + step * STEP)) * 1000)
            result.update(turns=turns, late=late, seconds=time.monotonic() - since)
        finally:
            app.call_from_thread(app.exit)

    resource_tracker.ensure_running()
    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    app.run(headless=True, size=(120, 40))
    driver.join(10)
    stats = dict(app.shutdown() or {})
    rig.close()
    late = np.array(result.get("late", [0.0]))
    return {
        "minutes": result.get("seconds", 0) / 60,
        "turns": result.get("turns", 0),
        "received_notes": len(late),
        "received_p50_ms": float(np.percentile(late, 50)),
        "received_p99_ms": float(np.percentile(late, 99)),
        "received_p999_ms": float(np.percentile(late, 99.9)),
        "received_max_ms": float(late.max()),
        "received_over_2ms": int((late > STALL_MS).sum()),
        "send_max_ms": stats.get("late_max_ms"),
        "send_p99_ms": stats.get("late_p99_ms"),
        "send_stalls": stats.get("stalls"),
        "sent": stats.get("sent"),
        "gen_p99_ms": stats.get("gen_p99_ms"),
        "session_bytes": record.stat().st_size if record.exists() else 0,
        "priority": _priority(handles[-1].info) if handles else "?",
        "tree": str(Path(sys.modules["livemelody"].__file__).parent.parent),
    }


def run_tree(tree: Path, minutes: float, env: dict) -> dict:
    """The soak in ``tree`` (a checkout), in a process of its own; its JSON result."""
    import subprocess

    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--minutes", str(minutes)],
        cwd=tree,
        env={**env, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=minutes * 60 + 300,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"the soak in {tree} failed: {completed.stderr.strip()[-800:]}")
    return json.loads(lines[-1])


def _priority(info) -> str:
    """The engine's scheduling, from its ready event: a ``Ready`` now, a dict in older trees."""
    return info.get("priority", "?") if isinstance(info, dict) else info.priority


def _describe(tree: str) -> str:
    """A tree as the docs name it: its commit when it is a git checkout or worktree (make the
    baseline with ``git worktree add --detach /tmp/base COMMIT``), else its path."""
    import subprocess

    found = subprocess.run(
        ["git", "-C", tree, "log", "-1", "--format=%h (%cs)"], capture_output=True, text=True, check=False
    )
    return f"commit {found.stdout.strip()}" if found.returncode == 0 and found.stdout.strip() else tree


def soak_rows(minutes: float, baseline: Path | None, period: int = 32) -> tuple[list, list[str]]:
    """Rows for benchmarks.run: the soak here, and in ``baseline`` (another checkout) beside it."""
    from benchmarks.run import Row
    from livemelody.live.priority import realtime_permitted
    from testkit.jack import RATE, JackServer

    realtime = realtime_permitted()
    log = tempfile.NamedTemporaryFile(prefix="jackd-soak-", suffix=".log", delete=False)
    server = JackServer(f"livemelody-soak-{os.getpid()}", log.name, period=period, realtime=realtime).start()
    here = Path(__file__).resolve().parent.parent
    try:
        results = [("soak", run_tree(here, minutes, server.env()))]
        print(json.dumps(results[0][1]), file=sys.stderr, flush=True)  # kept if the baseline fails
        if baseline is not None:
            results.append(("baseline soak", run_tree(Path(baseline).resolve(), minutes, server.env())))
    finally:
        server.stop()
    notes = [
        f"Soak: {minutes:g} min per tree on a JACK dummy server ({period} frames at {RATE} Hz, "
        f"{'realtime' if realtime else 'no realtime: not permitted here'}); the real dashboard redrawing, "
        "recording on, metronome on, a one-bar answer every few seconds. Trees: "
        + "; ".join(f"{name} = {_describe(r['tree'])}" for name, r in results)
        + "."
    ]
    if any(r["send_stalls"] is None for _, r in results):
        notes.append(
            "A stall count of nan: that tree's engine does not count stalls (its send maximum still bounds them)."
        )
    rows = []
    for name, r in results:
        target = name == "soak"
        stalls = r["send_stalls"]
        rows += [
            Row(f"{name}: turns in {r['minutes']:.1f} min", r["turns"], "turns"),
            Row(
                f"{name}: engine send lateness max ({r['sent']} sends)",
                r["send_max_ms"],
                "ms",
                "<= 2 ms" if target else "",
                r["send_max_ms"] <= 2 if target else None,
            ),
            Row(
                f"{name}: engine sends > 2 ms late (stalls)",
                float("nan") if stalls is None else stalls,
                "sends",
                "0" if target else "",
                stalls == 0 if target else None,
            ),
            Row(
                f"{name}: received lateness p99.9 ({r['received_notes']} note-ons)",
                r["received_p999_ms"],
                "ms",
                "<= 1.5 ms" if target else "",
                r["received_p999_ms"] <= 1.5 if target else None,
            ),
            Row(f"{name}: received lateness max", r["received_max_ms"], "ms"),
            Row(f"{name}: received note-ons > 2 ms late", r["received_over_2ms"], "notes"),
            Row(f"{name}: generation per step p99", r["gen_p99_ms"] or float("nan"), "ms"),
            Row(f"{name}: session file", r["session_bytes"] / 1000, "kB"),
        ]
    return rows, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args(argv)
    print(json.dumps(soak(args.minutes)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
