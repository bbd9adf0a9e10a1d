"""The real-time loop: one thread that drains input, advances the engine and sends on time.

One thread does it all, so the engine and the scheduler never wait for each other's GIL.
Between events it blocks on the input queue (so a played note wakes it at once); from half a
millisecond before an event it hands over to ``clock.sleep_until``, which sleeps and then spins
the last 0.3 ms, so events go out within microseconds of their due time.
Whatever way the loop ends (stop, exception, Ctrl-C), it sends the panic before returning.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from collections.abc import Callable

from livemelody.clock import Clock
from livemelody.config import EngineConfig
from livemelody.events import Tag
from livemelody.live.engine import EngineCore, EngineState, Snapshot, Variator
from livemelody.live.protocol import (
    Command,
    EndCall,
    InputLost,
    Notice,
    Panic,
    ResetStats,
    SetSettings,
    Stop,
    SwapOutput,
)
from livemelody.live.recorder import SessionRecorder
from livemelody.live.scheduler import Scheduler
from livemelody.live.timings import Timings
from livemelody.midi.ports import StampQueue
from livemelody.models.lstm import LstmSession

log = logging.getLogger("livemelody.loop")

SPIN_SECONDS = 0.0005
"""Hand over to ``clock.sleep_until`` (instead of waiting on the input queue) when the next
deadline is nearer than this."""
IDLE_WAKE_SECONDS = 0.05
PUBLISH_SECONDS = 0.05
GC_SECONDS = 1.0
"""Collect the young generations about this often, when there is room (below)."""
FULL_GC_SECONDS = 60.0
GC_ROOM_SECONDS = 0.02
"""Collect only when nothing is due for at least this long."""
STATS_SECONDS = 1.0


class RealtimeLoop:
    """Runs an :class:`EngineCore` and a :class:`Scheduler` against real or fake ports.

    ``queue`` is filled by the input port's polling thread; ``send`` writes to the output port;
    ``publish`` receives a :class:`Snapshot` about every 50 ms (never blocking the loop).
    Commands from other threads (:mod:`livemelody.live.protocol`) go through :meth:`submit`.
    """

    def __init__(
        self,
        config: EngineConfig,
        sessions: dict[str, LstmSession],
        stamp_queue: StampQueue,
        send: Callable[[list[int]], None],
        clock: Clock,
        *,
        recorder: SessionRecorder | None = None,
        publish: Callable[[Snapshot], None] | None = None,
        seed: int | None = None,
        variator: Variator | None = None,
    ):
        self.clock = clock
        self.queue = stamp_queue
        self.send = send
        self.recorder = recorder
        self.publish = publish
        self.commands: queue.SimpleQueue = queue.SimpleQueue()
        self.scheduler = Scheduler(self._send, clock.now, on_sent=self._sent)
        self.core = EngineCore(config, sessions, self.scheduler, clock.now(), seed=seed, variator=variator)
        self.stats: dict = {}
        self.generation = Timings()
        """Seconds each engine advance took while a turn was being answered."""
        self._recorded_grid = self._recorded_config = self._recorded_meter = None
        self._deadline = clock.now()
        """The deadline the loop last waited for (seconds): a stall's wake-up is measured against it."""
        self._gc_seconds = self._publish_seconds = 0.0
        self._stop = threading.Event()
        self._last_publish = self._last_stats = 0.0
        self._last_gc = self._last_full_gc = clock.now()
        self._handlers: dict[type, Callable] = {  # each command type, explicitly
            SetSettings: lambda c, now: self.core.set(**c.changes),
            Panic: lambda c, now: self.core.panic(now),
            EndCall: lambda c, now: self.core.end_call(),
            ResetStats: lambda c, now: self.reset_stats(),
            SwapOutput: lambda c, now: self.swap_output(c.send, c.message),
            InputLost: lambda c, now: self.input_lost(c.message),
            Notice: lambda c, now: self.notice(c.message),
            Stop: lambda c, now: self.stop(),
        }

    # ---- other threads -----------------------------------------------------------------
    def submit(self, command: Command) -> None:
        """Run ``command`` on the loop's thread, soon (wakes the loop); raises TypeError for
        anything that is not a command of :mod:`livemelody.live.protocol`."""
        if type(command) not in self._handlers:
            raise TypeError(f"not an engine command: {command!r}")
        self.commands.put(command)
        self.queue.wake()

    def stop(self) -> None:
        self._stop.set()
        self.queue.wake()

    # ---- the loop's thread -------------------------------------------------------------
    def run(self) -> None:
        clock, core, scheduler = self.clock, self.core, self.scheduler
        # Garbage collection on our terms: a full collection of a grown heap can stall the
        # thread for milliseconds at a random moment. Objects from start-up (models, modules)
        # are frozen out of collection; the loop collects the young generations itself when
        # nothing is due for a while (see _wait), and everything at most once a minute.
        gc.freeze()
        gc.disable()
        try:
            while not self._stop.is_set():
                now = clock.now()
                drained = 0
                for stamp, data in self.queue.drain():
                    drained += 1
                    core.handle(stamp, data)
                    if self.recorder is not None:
                        self._record(Tag.PLAYER, stamp, data)
                self._run_commands(now)
                turns = core.turn_count
                if core.state in (EngineState.WAITING, EngineState.ANSWERING) and core.next_wakeup() <= now:
                    started = clock.now()
                    core.advance(now)
                    self.generation.append(clock.now() - started)
                else:
                    core.advance(now)
                if core.turn_count != turns:  # an answer's first note is ready now: its real margin
                    core.turn_ready(clock.now())
                if self.recorder is not None:
                    self._record_grid(now)
                stalls, before_send = scheduler.stalls, clock.now()
                scheduler.send_due(before_send)
                if scheduler.stalls != stalls:
                    self._log_stall(now, drained, before_send)
                self._maybe_publish(clock.now())
                self._wait(clock)
        finally:
            scheduler.panic(clock.now())
            gc.enable()
            self._update_stats()
            if self.publish is not None:
                self.publish(core.snapshot(clock.now(), self._stats_now()))

    def _log_stall(self, woke: float, drained: int, before_send: float) -> None:
        """What ran around a stall (the scheduler has logged the late send itself): how late
        the loop woke for the deadline it waited for (the OS or another thread's GIL turn),
        then its own work in this turn, and its garbage collection and publishing before."""
        log.warning(
            "stall context: woke %.2f ms after its deadline; this turn: %d input messages, engine and commands "
            "%.2f ms; last collection %.2f ms, last publish %.2f ms",
            (woke - self._deadline) * 1000,
            drained,
            (before_send - woke) * 1000,
            self._gc_seconds * 1000,
            self._publish_seconds * 1000,
        )

    def _wait(self, clock: Clock) -> None:
        now = clock.now()
        deadline = min(
            x for x in (self.scheduler.next_due(), self.core.next_wakeup(), now + IDLE_WAKE_SECONDS) if x is not None
        )
        if deadline - now > GC_ROOM_SECONDS and now - self._last_gc > GC_SECONDS:
            gc.collect(2 if now - self._last_full_gc > FULL_GC_SECONDS else 1)
            self._last_gc = now
            if now - self._last_full_gc > FULL_GC_SECONDS:
                self._last_full_gc = now
            self._gc_seconds = clock.now() - now
            now = clock.now()
        self._deadline = deadline
        if deadline - now > SPIN_SECONDS:
            self.queue.wait(deadline - now - SPIN_SECONDS)  # returns early on input or a command
        elif deadline > now:
            clock.sleep_until(deadline)

    def _run_commands(self, now: float) -> None:
        while True:
            try:
                command = self.commands.get_nowait()
            except queue.Empty:
                return
            try:
                self._handlers[type(command)](command, now)
            except ValueError as exc:  # an invalid setting: report, never stop the loop
                self.core.message = str(exc)

    def swap_output(self, send: Callable[[list[int]], None], message: str) -> None:
        """Swap the output (port lost or back): everything sounding is released first."""
        self.scheduler.panic(self.clock.now())
        self.send = send
        self.notice(message)
        self.scheduler.panic(self.clock.now())  # also clears a returning synth's held notes

    def reset_stats(self) -> None:
        """Forget the timing figures so far (a benchmark measures from a moment it chooses)."""
        self.scheduler.lateness.clear()
        self.generation.clear()
        self.stats.clear()

    def notice(self, message: str) -> None:
        log.info("%s", message)
        self.core.message = message

    def input_lost(self, message: str) -> None:
        self.core.end_call()
        self.notice(message)

    def _send(self, data: list[int]) -> None:
        self.send(data)

    def _sent(self, stamp: float, data: list[int], tag: str) -> None:
        if self.recorder is not None and tag in (Tag.AI, Tag.PANIC):  # the player's track is the input's
            self._record(Tag.AI, stamp, data)

    def _record(self, track: Tag, stamp: float, data: list[int]) -> None:
        self._record_grid(stamp)
        self.recorder.add(track, stamp, data)

    def _record_grid(self, stamp: float) -> None:
        """Tell the recorder the grid (tempo) and meter in force, when they change (an identity
        test each: the transport and the config are replaced, never changed in place)."""
        grid, config = self.core.transport.grid, self.core.config
        if grid is not self._recorded_grid:
            self._recorded_grid = grid
            self.recorder.grid_changed(stamp, grid)
        if config is not self._recorded_config:
            self._recorded_config = config
            if config.meter_fraction != self._recorded_meter:
                self._recorded_meter = config.meter_fraction
                self.recorder.meter_changed(stamp, self._recorded_meter)

    def _update_stats(self) -> None:
        self.stats.update(self.scheduler.lateness_stats())
        if self.generation:
            self.stats.update(
                gen_p50_ms=self.generation.percentile_ms(50),
                gen_p99_ms=self.generation.percentile_ms(99),
                gen_max_ms=self.generation.max * 1000,
                gen_budget_ms=self.core.transport.grid.step_seconds * 500,
            )  # half a step

    def _stats_now(self) -> dict:
        return {
            **self.stats,
            "input_dropped": self.queue.dropped,
            "send_errors": self.scheduler.send_errors,
            "sounding": len(self.scheduler.sounding),
        }

    def _maybe_publish(self, now: float) -> None:
        if self.publish is None or now - self._last_publish < PUBLISH_SECONDS:
            return
        due = self.scheduler.next_due()
        if due is not None and due - now < 0.005:  # an event is close: publish after it
            return
        if now - self._last_stats >= STATS_SECONDS:
            self._update_stats()
            self._last_stats = now
        self._last_publish = now
        self.publish(self.core.snapshot(now, self._stats_now()))
        self._publish_seconds = self.clock.now() - now


def run_in_thread(loop: RealtimeLoop) -> threading.Thread:
    thread = threading.Thread(target=loop.run, name="livemelody-realtime", daemon=True)
    thread.start()
    return thread


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.005) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass (for tests and the CLI)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
