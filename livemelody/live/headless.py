"""``livemelody run``: the engine without the dashboard, one printed line per turn."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable

from livemelody import paths
from livemelody.live.engine import Snapshot, Turn
from livemelody.live.log import log_file
from livemelody.live.process import EngineHandle, EngineOptions
from livemelody.midi.names import find_port
from livemelody.midi.ports import list_ports

LAST_API = "last_api"
"""Key of the ports file that holds the MIDI API last used (the others are API names)."""


def remembered_ports(api: str) -> dict:
    try:
        return json.loads(paths.ports_file().read_text()).get(api, {})
    except (OSError, ValueError, AttributeError):
        return {}


def remembered_api() -> str | None:
    """The MIDI API the last session used (None if none is remembered)."""
    try:
        api = json.loads(paths.ports_file().read_text()).get(LAST_API)
    except (OSError, ValueError, AttributeError):
        return None
    return api if isinstance(api, str) else None


def remember_ports(api: str, input_name: str, output_name: str) -> None:
    """Keep the chosen ports by name (ALSA numbers change between sessions), and the API."""
    path = paths.ports_file()
    try:
        known = json.loads(path.read_text()) if path.exists() else {}
        known[LAST_API] = api
        known[api] = {k: v for k, v in (("input", input_name), ("output", output_name)) if not v.endswith("(virtual)")}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known, indent=1))
    except (OSError, ValueError):
        pass


def choose_ports(
    api: str,
    given_in: str | None,
    given_out: str | None,
    virtual: bool,
    saved: tuple[str | None, str | None] = (None, None),
) -> tuple[str | None, str | None]:
    """Ports to open: as given; else the first candidate that exists now, the ``saved`` ones
    (the settings file's, picked in the dashboard) before the ones ``run`` last used; else
    virtual. A remembered port is found again under new ALSA numbers or a JACK -NN suffix
    (:func:`livemelody.midi.names.find_port`). A port that is gone is never chosen unasked:
    the musician gets virtual ports, and a line saying so, rather than an error."""
    if virtual:
        return None, None
    remembered = remembered_ports(api)
    candidates_in = [name for name in (saved[0], remembered.get("input")) if name]
    candidates_out = [name for name in (saved[1], remembered.get("output")) if name]
    if (given_in is None and candidates_in) or (given_out is None and candidates_out):
        inputs, outputs = list_ports(api)
        if given_in is None:
            given_in = _first_present(candidates_in, inputs, "input")
        if given_out is None:
            given_out = _first_present(candidates_out, outputs, "output")
    return given_in, given_out


def _first_present(candidates: list[str], names: list[str], direction: str) -> str | None:
    """The current name of the first candidate present (numbers may differ); else None, said."""
    for name in candidates:
        found = find_port(name, names)
        if found is not None:
            return found
    if candidates:
        print(
            f"livemelody: remembered {direction} port {candidates[0]!r} is not present; using a virtual port",
            file=sys.stderr,
        )
    return None


def describe(turn: Turn, number: int) -> str:
    return (
        f"turn {number}: call {turn.call_steps} steps ({turn.call_notes} notes) in {turn.key} -> "
        f"{turn.mode} {turn.style}, answer {turn.answer_steps} steps from step {turn.answer_start_step}, "
        f"ready {turn.ready_early * 1000:.1f} ms early"
    )


def run_headless(
    options: EngineOptions, out=None, duration: float | None = None, until: Callable[[Snapshot], bool] | None = None
) -> int:
    """Run until Ctrl-C, ``duration`` seconds, or ``until(snapshot)`` is true; prints to
    ``out`` (None: the current ``sys.stdout``, looked up when printing)."""
    handle = EngineHandle(options).start()
    info = handle.info
    if not options.demo:
        remember_ports(options.api, info.input, info.output)
    print(
        f"livemelody: listening on {info.input!r}, answering on {info.output!r} "
        f"({options.config.style}, {options.config.mode}, {options.config.bpm:g} BPM); Ctrl-C stops",
        file=out,
        flush=True,
    )
    print(f"livemelody: timing thread {info.priority}", file=out, flush=True)
    if options.record:
        print(f"livemelody: recording to {options.record}", file=out, flush=True)
    print(f"livemelody: engine log {log_file()}", file=out, flush=True)
    interrupted = []
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(1))
    seen_turns, seen_warnings, message, shown_bpm = 0, 0, "", None
    started = time.monotonic()
    try:
        while not interrupted and handle.alive():
            if duration is not None and time.monotonic() - started >= duration:
                break
            for warning in handle.warnings[seen_warnings:]:  # e.g. the session file cannot be written
                print(f"livemelody: warning: {warning}", file=sys.stderr, flush=True)
            seen_warnings = len(handle.warnings)
            snap = handle.snapshot
            if snap is not None:
                if snap.turns > seen_turns and snap.last_turn is not None:
                    seen_turns = snap.turns
                    print(describe(snap.last_turn, seen_turns), file=out, flush=True)
                if (
                    snap.external_clock
                    and snap.transport_running
                    and (shown_bpm is None or abs(snap.bpm - shown_bpm) >= 0.5)
                ):
                    shown_bpm = snap.bpm
                    print(f"livemelody: following MIDI clock at {snap.bpm:.1f} BPM", file=out, flush=True)
                if snap.message and snap.message != message:
                    message = snap.message
                    print(f"livemelody: {message}", file=out, flush=True)
                if until is not None and until(snap):  # after its turn is printed
                    break
            time.sleep(0.02)
    finally:
        signal.signal(signal.SIGINT, lambda *_: None)  # a second Ctrl-C must not cut the panic short
        stats = handle.stop()
        signal.signal(signal.SIGINT, previous)
    if handle.died:
        print(f"livemelody: error: {handle.died}", file=sys.stderr)
        return 1
    if stats:
        print(
            "livemelody: stopped; output lateness p50 {:.3f} ms, p99 {:.3f} ms, max {:.3f} ms over {} events".format(
                stats.get("late_p50_ms", 0),
                stats.get("late_p99_ms", 0),
                stats.get("late_max_ms", 0),
                stats.get("sent", 0),
            ),
            file=out,
            flush=True,
        )
    return 0


def print_ports(api: str, out=None) -> int:
    inputs, outputs = list_ports(api)
    print(f"MIDI API: {api}", file=out)
    for title, names in (("inputs", inputs), ("outputs", outputs)):
        print(f"{title}:", file=out)
        for i, name in enumerate(names):
            print(f"  {i}: {name}", file=out)
        if not names:
            print("  (none)", file=out)
    return 0
