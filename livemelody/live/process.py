"""The real-time engine in its own process, and the supervisor that guards it.

Why a process: CPU-bound Python in the same process (a dashboard redrawing) delays every
other Python thread by milliseconds through the GIL. The engine process holds the ports, the
models and the real-time loop; the parent (command line or dashboard) sends commands and
reads snapshots over pipes and never blocks it.

The supervisor (in the parent) watches the child. If the child dies without a clean stop,
even by SIGKILL, it opens the output port itself, by name, and sends a panic: note-off for
every note on the channels used, then CC64 = 0, CC123 and CC120. (A virtual output port dies
with the child, so then there is nothing left to send to; connect to a named port on stage.)
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from livemelody import __version__
from livemelody.config import EngineConfig
from livemelody.live.engine import Snapshot
from livemelody.live.protocol import (
    EndCall,
    EngineWarning,
    Failed,
    Panic,
    Ready,
    RecordingFailed,
    ResetStats,
    SetSettings,
    SnapshotEvent,
    Stop,
    Stopped,
)
from livemelody.midi.spec import panic_messages

log = logging.getLogger("livemelody.process")

READY_TIMEOUT = 20.0
STOP_TIMEOUT = 3.0
WATCH_SECONDS = 1.0


class EngineError(Exception):
    """The engine could not start or stopped with an error; one line for the user."""


@dataclass(frozen=True)
class EngineOptions:
    """What the engine process needs; picklable."""

    config: EngineConfig
    api: str
    input: str | None
    """Input port name/index, or None for the virtual port "livemelody in"."""
    output: str | None
    record: Path | None = None
    seed: int | None = None
    styles: tuple[str, ...] = ()
    """Styles to load (empty: every installed LSTM)."""
    env: dict = field(default_factory=dict)
    demo: bool = False
    """Loopback instead of ports: the built-in call is played into the engine (``livemelody demo``)."""
    demo_turns: int | None = None
    """With ``demo``: stop calling after this many calls (None: keep going)."""
    verbose: bool = False
    """Echo the engine's log to stderr (the log file is written either way)."""
    realtime: bool = True
    """Run the real-time loop under SCHED_FIFO where permitted (see :mod:`livemelody.live.priority`)."""


def _load_sessions(styles, required: str) -> tuple[dict, list[str]]:
    """(style -> LstmSession, one warning per style skipped). Styles named in ``styles`` and
    the ``required`` one must load (ModelError otherwise); another installed style that does
    not load is skipped with a warning rather than stopping the engine."""
    from livemelody.models.metadata import ModelError
    from livemelody.models.registry import hidden_models, installed_models, load_lstm

    names = styles or tuple(sorted(m.style for _, m in installed_models("lstm")))
    hidden = hidden_models()
    sessions, warnings = {}, [hidden[style] for style in names if style in hidden]
    for style in names:
        try:
            sessions[style] = load_lstm(style)
        except ModelError as exc:
            if styles or style == required:
                raise
            warnings.append(f"style {style!r} skipped: {exc}")
    return sessions, warnings


class EventPublisher:
    """Sends events to the parent from its own thread, the only one that writes the pipe.

    The loop only hands over a reference (never blocks): a busy dashboard reads its pipe late,
    and a full pipe would otherwise stall the real-time thread inside ``send``. Snapshots the
    parent has not taken yet are replaced by newer ones, never queued; other events (a
    recording problem) are queued and all sent.
    """

    def __init__(self, connection, on_broken):
        self._connection, self._on_broken = connection, on_broken
        self._latest = None
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._ready = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)
        self._thread.start()

    def publish(self, snapshot: Snapshot) -> None:
        """The latest snapshot (from the loop: never waits)."""
        self._latest = snapshot
        self._ready.set()

    def post(self, event) -> None:
        """An event of :mod:`livemelody.live.protocol` to send in order (from any thread)."""
        self._events.put(event)
        self._ready.set()

    def _run(self) -> None:
        while True:
            self._ready.wait()
            self._ready.clear()
            pending = []
            while not self._events.empty():
                pending.append(self._events.get())
            snapshot, self._latest = self._latest, None
            if snapshot is not None:
                pending.insert(0, SnapshotEvent(snapshot))
            try:
                for event in pending:
                    self._connection.send(event)
            except (BrokenPipeError, OSError):
                self._on_broken()
                return
            if self._closed and self._events.empty():
                return

    def close(self) -> None:
        """Send what is pending, then stop (the loop's final snapshot included)."""
        self._closed = True
        self._ready.set()
        self._thread.join(timeout=2)


def _load_variator(styles, warnings: list[str]):
    """Vary mode's function over the installed VAEs (None if there are none); a VAE that is
    installed but does not load adds a line to ``warnings``."""
    from livemelody.models.metadata import ModelError
    from livemelody.models.registry import installed_models, load_vae
    from livemelody.variation import vary

    installed = {m.style for _, m in installed_models("vae_encoder")} & {
        m.style for _, m in installed_models("vae_decoder")
    }
    vaes = {}
    for style in styles:
        if style not in installed:
            continue
        try:
            vaes[style] = load_vae(style)
        except ModelError as exc:
            warnings.append(f"vary mode for {style!r} skipped: {exc}")
    if not vaes:
        return None

    def variator(style, notes, amount, rng):
        session = vaes.get(style) or next(iter(vaes.values()))  # a style without a VAE borrows one
        return vary(session, notes, amount, 1, rng)[1][0]

    return variator


def engine_main(options: EngineOptions, commands, events) -> None:  # runs in the child
    import os

    os.environ.update(options.env)
    stop = threading.Event()
    loop = None

    def on_signal(signum, frame):  # every Ctrl-C / SIGTERM just asks the loop to stop
        stop.set()
        if loop is not None:
            loop.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    sys.setswitchinterval(0.0005)  # shorter GIL turns for the input and pipe threads
    from livemelody.live.log import EngineLog
    from livemelody.live.priority import raise_thread_priority

    engine_log = EngineLog(verbose=options.verbose)
    raise_thread_priority(realtime=False)  # nice -10 where allowed: every thread started below inherits it
    publisher = EventPublisher(events, on_broken=stop.set)
    try:
        from livemelody.clock import MonotonicClock
        from livemelody.live.loop import RealtimeLoop
        from livemelody.live.recorder import SessionRecorder
        from livemelody.live.watch import PortWatcher
        from livemelody.midi.ports import StampQueue, open_ports

        log.info("livemelody %s: api %s, in %r, out %r", __version__, options.api, options.input, options.output)
        log.info("settings: %s", options.config)
        if engine_log.problem:
            publisher.post(RecordingFailed(engine_log.problem))
        sessions, warnings = _load_sessions(options.styles, options.config.style)
        stamp_queue = StampQueue()
        if options.demo:  # no MIDI system: an in-process loopback
            from livemelody.midi.fake import FakeInput, NullOutput

            midi_in, midi_out = FakeInput(stamp_queue, "demo call (loopback)"), NullOutput()
        else:
            midi_in, midi_out = open_ports(options.api, options.input, options.output, stamp_queue)
        clock = MonotonicClock()
        recorder = None
        if options.record is not None:

            def recording_failed(message: str) -> None:
                log.warning("%s", message)
                publisher.post(RecordingFailed(message))

            recorder = SessionRecorder(
                options.record,
                meter=options.config.meter_fraction,
                song_position=options.config.clock_source == "external",
                on_error=recording_failed,
            )
            recorder.start()

        loop = RealtimeLoop(
            options.config,
            sessions,
            stamp_queue,
            midi_out.send,
            clock,
            recorder=recorder,
            publish=publisher.publish,
            seed=options.seed,
            variator=_load_variator(tuple(sessions), warnings),
        )
        if options.demo:
            from livemelody.live.demo import DemoCaller

            watcher = DemoCaller(loop, turns=options.demo_turns).start()
        else:
            watcher = PortWatcher(options.api, midi_in, midi_out, loop).start()

        def read_commands() -> None:
            while not stop.is_set():
                try:
                    command = commands.recv()
                except (EOFError, OSError):
                    break
                if isinstance(command, Stop):
                    break
                try:
                    loop.submit(command)
                except TypeError as exc:  # not a command: say so in the log, play on
                    log.error("%s", exc)
            stop.set()
            loop.stop()

        threading.Thread(target=read_commands, name="commands", daemon=True).start()
        # This thread runs the loop: raised last, so no helper thread inherits SCHED_FIFO.
        priority = raise_thread_priority(options.realtime)
        ready = Ready(midi_in.name, midi_out.name, tuple(sorted(sessions)), loop.core.transport.grid.origin, priority)
        log.info("ready: %s", ready)
        publisher.post(ready)  # through the publisher: one thread writes the pipe
        for warning in warnings:
            log.warning("%s", warning)
            publisher.post(EngineWarning(warning))
        if stop.is_set():
            loop.stop()
        loop.run()  # returns after stop(); has sent the panic
        watcher.stop()
        if recorder is not None:
            recorder.close()
        # the ports open now: the watcher replaces (and closes) a port that was lost and came back
        for port in (getattr(watcher, "midi_in", midi_in), getattr(watcher, "midi_out", midi_out), midi_in, midi_out):
            port.close()
        log.info("stopped: %s", loop.stats)
        publisher.post(Stopped(dict(loop.stats)))
        publisher.close()
    except Exception as exc:  # report, never a traceback in the user's terminal
        from livemelody.midi.ports import PortError
        from livemelody.models.metadata import ModelError

        log.exception("the engine stopped on an error")
        text = str(exc) if isinstance(exc, (PortError, ModelError)) else f"{type(exc).__name__}: {exc}"
        publisher.post(Failed(text))
        publisher.close()
        if loop is not None:
            loop.scheduler.panic()
        engine_log.close()
        sys.exit(2)
    engine_log.close()


class EngineHandle:
    """The parent's side: start, command, observe, stop; supervises the child."""

    def __init__(self, options: EngineOptions):
        self.options = options
        self.config = options.config
        self.snapshot: Snapshot | None = None
        self.info: Ready | None = None
        self.final_stats: dict | None = None
        self.died: str | None = None
        self.warnings: list[str] = []
        """Problems the engine reported while playing (a session file it cannot write), in order."""
        self._stopping = False
        self._lock = threading.Lock()
        self._ended = threading.Lock()
        self._end_handled = False
        context = multiprocessing.get_context("spawn")
        self._commands, child_commands = context.Pipe()
        self._events, child_events = context.Pipe(duplex=False)
        self._process = context.Process(
            target=engine_main, args=(options, child_commands, child_events), name="livemelody-engine", daemon=True
        )
        self._child_ends = (child_commands, child_events)

    def start(self) -> EngineHandle:
        self._process.start()
        for end in self._child_ends:
            end.close()
        if not self._events.poll(READY_TIMEOUT):
            self._process.kill()
            raise EngineError("the engine did not start in time")
        while True:  # warnings may come before Ready
            try:
                event = self._events.recv()
            except (EOFError, OSError):
                self._process.join(STOP_TIMEOUT)
                code = self._process.exitcode
                raise EngineError(f"the engine process ended while starting (exit code {code})") from None
            if isinstance(event, Failed):
                self._process.join(STOP_TIMEOUT)
                raise EngineError(event.message)
            if isinstance(event, Ready):
                break
            self._take(event)
        self.info = event
        threading.Thread(target=self._receive, name="engine-events", daemon=True).start()
        threading.Thread(target=self._supervise, name="engine-supervisor", daemon=True).start()
        return self

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def alive(self) -> bool:
        return self._process.is_alive()

    @property
    def exitcode(self) -> int | None:
        """The engine process's exit code once it has ended (0: a clean stop; -N: signal N)."""
        return self._process.exitcode

    # ---- commands ----------------------------------------------------------------------
    def _send(self, command) -> None:
        with self._lock:
            try:
                self._commands.send(command)
            except (BrokenPipeError, OSError):
                pass

    def set(self, **changes) -> None:
        """Change settings; invalid values raise ValueError here, before reaching the engine."""
        self.config = self.config.changed(**changes)
        self._send(SetSettings(changes))

    def panic(self) -> None:
        self._send(Panic())

    def end_call(self) -> None:
        self._send(EndCall())

    def reset_stats(self) -> None:
        """Start the engine's timing figures (send lateness, generation time) afresh."""
        self._send(ResetStats())

    def stop(self) -> dict | None:
        """Stop cleanly (the engine sends its panic); escalate to terminate and kill if needed."""
        self._stopping = True
        self._send(Stop())
        self._process.join(STOP_TIMEOUT)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(STOP_TIMEOUT)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(STOP_TIMEOUT)
        self._engine_ended()  # here, not only on the supervisor's thread: a daemon thread dies with us
        return self.final_stats

    # ---- observation and supervision ----------------------------------------------------
    def _receive(self) -> None:
        while True:
            try:
                event = self._events.recv()
            except (EOFError, OSError):
                return
            self._take(event)

    def _take(self, event) -> None:
        if isinstance(event, SnapshotEvent):
            self.snapshot = event.snapshot
        elif isinstance(event, (RecordingFailed, EngineWarning)):
            self.warnings.append(event.message)
        elif isinstance(event, Stopped):
            self.final_stats = event.stats
        elif isinstance(event, Failed):
            self.died = event.message

    def _supervise(self) -> None:
        # Wait on the sentinel, not join(): two threads joining one child race on waitpid, and
        # the loser sees exit code None even after a clean stop. stop() reaps the child itself.
        from multiprocessing.connection import wait

        wait([self._process.sentinel])
        if self._stopping:
            return  # stop() escalates (terminate, kill) if the child hangs, then handles the end
        self._engine_ended()

    def _engine_ended(self) -> None:
        """Once, whoever notices first (supervisor or stop): unless the engine exited cleanly
        (exit code 0: a stop command, Ctrl-C or SIGTERM, after its own panic), say so and send
        the fallback panic, delivered before this returns."""
        with self._ended:
            if self._end_handled:
                return
            self._end_handled = True
            self._process.join(STOP_TIMEOUT)
            code = self._process.exitcode
            if code == 0:
                return
            if code is not None and code < 0:
                reason = f"killed by {_signal_name(-code)}"
            else:
                reason = f"exit code {code}"
            self.died = self.died or f"engine process ended unexpectedly ({reason})"
            self._fallback_panic()

    def _fallback_panic(self) -> None:
        """Silence the output from this process: the engine cannot any more."""
        if self.options.output is None:
            return
        from livemelody.midi.ports import PortError, RtOutput

        channels = (self.config.output_channel, self.config.metronome_channel)
        for _attempt in range(3):
            try:
                port = RtOutput(self.options.api, self.options.output)
                break
            except PortError:
                time.sleep(0.2)
        else:
            return
        try:
            for data in panic_messages(channels):  # what sounds is unknown here: every note
                port.send(data)
        finally:  # close() waits for the API to deliver
            port.close()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
