"""The call-and-response state machine, driven by stamped MIDI and the passing of steps.

No threads and no clock of its own: :meth:`EngineCore.handle` takes one stamped message,
:meth:`EngineCore.advance` takes the current time and does everything due by then. Output
goes to a :class:`Sink` (the scheduler, or a recorder in tests) as events with due times.

States (:class:`EngineState`, changed only by ``EngineCore._to``, which logs each change):
``idle`` (waiting for a call) -> ``listening`` (a call is being played; the models
are primed step by step in all 12 transpositions) -> ``waiting`` (the call ended; the answer
starts on the next step, beat or bar) -> ``answering`` (tokens are sampled one step ahead of
when they sound) -> ``idle`` (when the answer's last note-off sounds).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

import numpy as np

from livemelody.blend import blend_name, live_logits
from livemelody.config import SETTINGS, EngineConfig
from livemelody.encoding import Key, key_confidence, transposition_to_reference
from livemelody.encoding.bars import bar_of, meter_grid
from livemelody.encoding.vocab import DELIMITER_ID, HOLD_ID, REST_ID
from livemelody.events import Note, RollNote, Tag
from livemelody.form import Quoter, call_bars
from livemelody.live import metronome
from livemelody.live.call import CallTracker
from livemelody.live.dynamics import Contour, contour, velocity_at
from livemelody.live.held import RELEASING_CONTROLLERS, HeldNotes, listens
from livemelody.live.knobs import SUSTAIN_RELEASE, Knobs
from livemelody.live.roll import ROLL_BARS, RollHistory
from livemelody.live.sensing import SENSING_TIMEOUT, SensingWatchdog
from livemelody.live.streaming import StreamingLstm
from livemelody.live.transport import RELOCATED, STOPPED, Transport
from livemelody.midi.spec import CONTROL_CHANGE, NOTE_OFF, NOTE_ON, note_off, note_on
from livemelody.models.lstm import LstmSession
from livemelody.sampling import SamplingParams, sample_mixed

log = logging.getLogger("livemelody.engine")


class EngineState(str, Enum):
    """Where the engine is in a turn (a ``str`` enum: its value is what a UI shows)."""

    IDLE = "idle"
    LISTENING = "listening"
    WAITING = "waiting"
    ANSWERING = "answering"

    def __str__(self) -> str:
        return self.value


IDLE, LISTENING, WAITING, ANSWERING = EngineState

Variator = Callable[[str, Sequence[Note], float, np.random.Generator], list[Note]]
"""Vary mode: (style, the call's notes, amount, rng) -> the answer's notes (same step frame)."""


class Sink(Protocol):
    """Where the engine's output goes (the scheduler owns what actually sounds)."""

    def schedule(self, due: float, data: list[int], tag: Tag) -> None: ...

    def cancel(self, tag: Tag, now: float) -> None: ...

    def panic(self, now: float) -> None: ...


@dataclass
class _Answer:
    """The answer being prepared or played (steps on the grid; pitches MIDI)."""

    start: int
    end: int
    shift: int
    """Semitones that moved the call to C major / A minor (subtracted from answer pitches)."""
    dynamics: Contour
    """The call's velocity contour, stretched over the answer (:mod:`livemelody.live.dynamics`)."""
    gap_rest: bool
    """The first gap step (between call and answer) is a rest onset rather than a hold."""
    call_steps: int
    call_notes: int
    sounding: int | None = None
    first: bool = True
    vary: bool = False
    quoter: Quoter | None = None
    """Continue mode: which answer steps re-play a bar of the call (:mod:`livemelody.form`)."""

    def velocity(self, step: int) -> int:
        """The velocity of an answer note starting at grid ``step``."""
        return velocity_at(self.dynamics, (step - self.start) / max(1, self.end - self.start))


@dataclass(frozen=True)
class Turn:
    """One call and its answer, for the log: lengths in 16th steps, times in seconds."""

    call_steps: int
    call_notes: int
    key: str
    answer_start_step: int
    answer_start_time: float
    answer_steps: int
    ready_early: float
    """How long before its due time the answer's first note was ready (seconds): the compute
    margin, measured by the loop's clock once the step that made it was computed
    (:meth:`EngineCore.turn_ready`)."""
    style: str
    """The style, with the blend as it was at the answer's first note ("deutsch + 0.50 han")."""
    mode: str
    key_kept: bool = False
    """The call was too short to tell its key: the session's key was kept."""


@dataclass(frozen=True)
class Snapshot:
    """The engine's observable state, immutable, for a UI to poll without blocking."""

    state: EngineState
    config: EngineConfig
    bpm: float
    external_clock: bool
    transport_running: bool
    step: int
    """Current 16th step of the grid (step 0 = the grid's origin; bars every steps_per_bar)."""
    grid_origin: float
    key: str | None
    call_steps: int
    answer_step: int | None
    turns: int
    last_turn: Turn | None
    styles: tuple[str, ...]
    message: str = ""
    stats: dict = field(default_factory=dict)
    notes: tuple[RollNote, ...] = ()
    """Recent player line notes and AI notes (about the last ROLL_BARS bars), oldest first."""
    last_cc: tuple[int, int] | None = None
    """(controller number, value) of the last control change seen on the input."""
    cc_count: int = 0
    """How many control changes the input has carried (tells a repeated CC from none)."""
    key_confidence: float | None = None
    """How sure the last call's key was (:func:`~livemelody.encoding.key_confidence`)."""
    key_kept: bool = False
    """The last call's key was too uncertain (below the ``key_confidence`` setting): the session's was kept."""


def fit_to_length(notes: Sequence[Note], origin: int, period: int, length: int) -> list[tuple[int, int, int]]:
    """(offset, pitch, duration) of ``notes`` (steps from ``origin``) repeated every ``period``
    steps and cut at ``length`` steps: a phrase fitted to the answer's set length."""
    placed = []
    for copy in range(0, length, period):
        for note in notes:
            start = copy + note.start - origin
            if 0 <= start < length:
                placed.append((start, note.pitch, min(note.duration, length - start)))
    return placed


class EngineCore:
    """Listens, decides turns, samples answers step by step; see the module docstring."""

    def __init__(
        self,
        config: EngineConfig,
        sessions: dict[str, LstmSession],
        sink: Sink,
        now: float,
        seed: int | None = None,
        variator: Variator | None = None,
    ):
        if config.style not in sessions:
            raise ValueError(f"style {config.style!r} is not loaded; loaded: {', '.join(sessions)}")
        self.config = config
        self.sink = sink
        self.models = {style: StreamingLstm(session) for style, session in sessions.items()}
        self.styles = tuple(sorted(self.models))
        """The loaded styles, in the order the style knob spans them."""
        self.variator = variator
        self.rng = np.random.default_rng(seed)
        self.transport = Transport(config.bpm, now, external=config.clock_source == "external")
        self.call = CallTracker()
        self.state = IDLE
        self.knobs = Knobs()
        self.roll = RollHistory()
        self.turns: collections.deque[Turn] = collections.deque(maxlen=64)
        self.turn_count = 0
        self.key: Key | None = None
        self.session_key: Key | None = None
        """The last key told with confidence: kept for calls too short to tell theirs."""
        self.key_confidence: float | None = None
        self.key_kept = False
        self.message = ""
        self._next_step = math.floor(self.transport.grid.step_at(now) - 0.5) + 1
        self._end_requested = False
        self._answer: _Answer | None = None
        self._answer_done_at: float | None = None
        """Grid time (seconds) of a finished answer's last note-off: answering until then."""
        self.held = HeldNotes()
        self.sensing = SensingWatchdog()

    # ---- input -------------------------------------------------------------------------
    def handle(self, stamp: float, data: list[int]) -> None:
        """One MIDI message (raw bytes) stamped when it arrived (monotonic seconds)."""
        if not data:
            return
        status = data[0]
        self.sensing.seen(stamp, status)
        if status >= 0xF0:
            if self.transport.handle(status, data, stamp) in (STOPPED, RELOCATED) and self.transport.external:
                self._transport_moved(stamp)
            return
        channel = status & 0x0F
        if not listens(self.config, channel):
            return
        kind = status & 0xF0
        if self.config.thru and kind in (NOTE_ON, NOTE_OFF) and len(data) >= 3:  # sent at once, panic-safe
            self.sink.schedule(stamp, [kind | self.config.thru_channel, data[1], data[2]], Tag.PLAYER)
        if kind == NOTE_ON and len(data) >= 3 and data[2] > 0:
            self.held.press(channel, data[1])
            self._note_on(stamp, data[1], data[2])
        elif kind in (NOTE_OFF, NOTE_ON) and len(data) >= 2:
            self.held.release(channel, data[1])
            self._note_off(stamp, data[1])
        elif kind == CONTROL_CHANGE and len(data) >= 3:
            if data[1] in RELEASING_CONTROLLERS:
                self._release(stamp, self.held.release_channel(channel))
            self._control(stamp, data[1], data[2])

    def _note_off(self, stamp: float, pitch: int) -> None:
        if self.state == LISTENING:
            self.call.note_off(self.transport.grid.step_at(stamp), pitch)  # fractional: the detached-playing rule

    def _transport_moved(self, stamp: float) -> None:
        """External clock Stop, Start, Continue or Song Position: the song position jumped or
        froze, so the answer stops at once (its sounding note released) and the call is dropped."""
        self.sink.cancel(Tag.METRONOME, stamp)
        if self.state != IDLE:
            step = self.transport.grid.nearest_step(stamp)
            self._stop_answer(step, stamp)
            self._reset_call(step)
            self._end_requested = False
            self._to(IDLE, "the clock stopped or its song position moved")
        self._next_step = math.floor(self.transport.grid.step_at(stamp) - 0.5) + 1

    def _release(self, stamp: float, pitches: list[int]) -> None:
        """Keys released without their note-offs (a channel-mode message, a silent input): the
        call hears them end, and their MIDI thru copies end at the output."""
        for pitch in pitches:
            if self.config.thru:
                self.sink.schedule(stamp, note_off(self.config.thru_channel, pitch), Tag.PLAYER)
            self._note_off(stamp, pitch)

    def _input_gone(self, now: float) -> None:
        """Active Sensing stopped: every held key is taken as released (MIDI 1.0)."""
        self._release(now, [pitch for _channel, pitch in self.held.release_all()])
        self.message = (
            f"input silent for {SENSING_TIMEOUT * 1000:.0f} ms after Active Sensing: "
            "cable or device gone, held notes released"
        )

    def _note_on(self, stamp: float, pitch: int, velocity: int) -> None:
        step = self.transport.grid.nearest_step(stamp)
        if self._answer_done_at is not None:  # only the answer's last note-off is pending: it is over
            self._answer_done_at = None
            self._to(IDLE, "the answer's last note-off is pending")
        if self.state in (WAITING, ANSWERING):
            if not self.config.stop_on_player:
                return
            self._stop_answer(step, stamp)
            self.message = "player took over: answer stopped"
        if self.state != LISTENING:
            self._reset_call(step)
            for model in self.models.values():
                model.reset(self._bar(step))
            self._to(LISTENING, "a note-on")
            self.key = None
        self.call.note_on(step, pitch, velocity)

    def _control(self, stamp: float, number: int, value: int) -> None:
        effect = self.knobs.handle(number, value, self.config, self.styles)
        if effect is None:
            return
        if effect.action == SUSTAIN_RELEASE:
            if self.config.end_on_sustain_release:
                self.end_call()
        elif effect.action == "end_call":
            self.end_call()
        elif effect.action == "panic":
            self.panic(stamp)
        elif effect.changes:
            try:
                self.set(**effect.changes)
            except ValueError as exc:  # a knob must never break the engine: report instead
                self.message = str(exc)

    # ---- commands (the dashboard's API) -------------------------------------------------
    def set(self, **changes) -> None:
        """Change settings while playing; raises ValueError (and changes nothing) if invalid or
        not ``live`` (see :data:`~livemelody.config.SETTINGS`)."""
        fixed = [
            n for n, v in changes.items() if n in SETTINGS and not SETTINGS[n].live and v != getattr(self.config, n)
        ]
        if fixed:
            raise ValueError(f"{', '.join(fixed)} is chosen when the engine starts; it cannot change while playing")
        for name in ("style", "blend_with"):
            if name in changes and changes[name] not in self.models:
                raise ValueError(f"{name} {changes[name]!r} is not loaded; loaded: {', '.join(sorted(self.models))}")
        if changes.get("mode") == "vary" and self.variator is None:
            raise ValueError("vary mode needs a VAE model, and none is installed")
        new = self.config.changed(**changes)
        if new.bpm != self.config.bpm:
            self.transport.set_bpm(new.bpm, self.transport.grid.time_of(self._next_step))
        self.config = new

    def end_call(self) -> None:
        if self.state == LISTENING:
            self._end_requested = True

    def panic(self, now: float) -> None:
        """Silence everything at once and forget the current call and answer."""
        self.sink.panic(now)
        self._answer, self._answer_done_at, self._end_requested = None, None, False
        self._to(IDLE, "panic")
        step = self.transport.grid.nearest_step(now)
        self.roll.ai_note_off(step)
        self.roll.cut_ai(step)
        self._reset_call(step)
        self.message = "panic"

    # ---- time --------------------------------------------------------------------------
    def next_wakeup(self) -> float:
        """When :meth:`advance` next has work: the half-step at which the next step is final,
        or the end of a finished answer's last note, if sooner."""
        wake = self.transport.grid.time_of(self._next_step + 0.5)
        return wake if self._answer_done_at is None else min(wake, self._answer_done_at)

    def advance(self, now: float) -> None:
        """Finalize every step whose half-step point has passed, generating one step ahead."""
        if self.sensing.expired(now):
            self._input_gone(now)
        grid = self.transport.grid
        if self.transport.external and not self.transport.running:
            self._next_step = math.floor(grid.step_at(now) - 0.5) + 1
            return
        expected = math.floor(grid.step_at(now) - 0.5) + 1
        if abs(expected - self._next_step) > 8:  # the grid jumped (clock Start, SPP): resync
            if self.state != IDLE:
                step = grid.nearest_step(now)
                self._stop_answer(step, now)
                self._reset_call(step)
                self._end_requested = False
                self._to(IDLE, "the clock's song position jumped")
            self._next_step = expected
            return
        while grid.time_of(self._next_step + 0.5) <= now:
            step = self._next_step
            self._next_step += 1
            self._on_step(step, now)
        if self._answer_done_at is not None and now >= self._answer_done_at:
            self._answer_done_at = None
            self._to(IDLE, "the answer's last note ended")

    def _on_step(self, step: int, now: float) -> None:
        config = self.config
        if config.metronome:
            clicks = metronome.clicks(
                step + 1, config.steps_per_pulse, config.beats_per_bar, config.metronome_channel, self.transport.grid
            )
            for due, data in clicks:
                self.sink.schedule(due, data, Tag.METRONOME)
        if self.state == LISTENING:
            if self.call.first_step is None or step < self.call.first_step:
                return
            token = self.call.finalize(step)
            bar = self._bar(step + 1)
            for model in self.models.values():
                model.feed_call(token.token_id, token.pitch, bar)
            if self._call_over(step):
                self._end_call(step, now)
        if self.state in (WAITING, ANSWERING):
            self._answer_step(step + 1, now)

    def _bar(self, step: int) -> tuple[int, int]:
        """(bar_pos, bar_len) of grid ``step`` in the meter set now (bar lines every
        ``steps_per_bar`` steps from step 0, as the metronome counts): the shared model's bar
        inputs (:mod:`livemelody.encoding.bars`)."""
        return bar_of(meter_grid(self.config.steps_per_bar), step)

    def _call_over(self, step: int) -> bool:
        config = self.config
        if self._end_requested:
            self._end_requested = False
            self.call.end_now(step + 1)
            return True
        if step + 1 - self.call.first_step >= config.max_call_bars * config.steps_per_bar:
            self.call.end_now(step + 1)
            return True
        end = self.call.last_note_end()
        silence_steps = round(config.end_silence_beats * config.steps_per_beat)
        return not self.call.sounding() and end is not None and step + 1 - end >= silence_steps

    def _end_call(self, step: int, now: float) -> None:
        notes = self.call.notes
        config = self.config
        length = (notes[-1].end - notes[0].start) if notes else 0
        if length < config.min_call_steps:
            self.message = f"call of {length} steps ignored (minimum {config.min_call_steps})"
            self._to(IDLE, self.message)
            self._reset_call(step + 1)
            return
        self._choose_key(notes)
        shift = transposition_to_reference(self.key)
        unit = {"step": 1, "beat": config.steps_per_pulse, "bar": config.steps_per_bar}[config.answer_start]
        start = -(-(step + 1) // unit) * unit
        answer_steps = config.answer_bars * config.steps_per_bar if config.answer_bars else length
        self._answer = _Answer(
            start,
            start + answer_steps,
            shift,
            contour(notes),
            gap_rest=bool(notes and notes[-1].end > step),
            call_steps=length,
            call_notes=len(notes),
        )
        self._to(WAITING, f"a call of {length} steps in {self.key}, answer from step {start}")
        if config.mode == "vary" and self.variator is not None:
            self._schedule_variation(notes, now)
            return
        for model in self.models.values():
            model.choose(shift)
        vocab = self.models[config.style].vocab
        bars = call_bars(notes, shift, vocab, config.steps_per_bar, end=step + 1)
        self._answer.quoter = Quoter(bars, config.steps_per_bar, config.quote, self.rng)

    def _choose_key(self, notes: list[Note]) -> None:
        """The call's key, or the session's where the call is too short to tell its own."""
        key, self.key_confidence = key_confidence([n.pitch for n in notes], [n.duration for n in notes])
        self.key_kept = self.key_confidence < self.config.key_confidence and self.session_key is not None
        if self.key_kept:
            key = self.session_key
        self.key = self.session_key = key

    def _answer_step(self, k: int, now: float) -> None:
        """Feed or generate model step ``k`` (its events sound at grid time of k)."""
        answer = self._answer
        if answer is None or answer.vary:
            if answer is not None and k >= answer.end:
                self._finish_answer(self.transport.grid.time_of(answer.end))
            return
        grid = self.transport.grid
        if k < answer.start:
            token = REST_ID if answer.gap_rest else HOLD_ID
            answer.gap_rest = False
            bar = self._bar(k + 1)
            for model in self.models.values():
                model.feed(token, bar)
            return
        due = grid.time_of(k)
        channel = self.config.output_channel
        if k >= answer.end:
            if answer.sounding is not None:
                self.sink.schedule(due, note_off(channel, answer.sounding), Tag.AI)
                self.roll.ai_note_off(k)
            self._finish_answer(due)
            return
        self._to(ANSWERING, "the answer's first step")
        token = None
        if answer.quoter is not None:
            answer.quoter.quote = self.config.quote  # the knob acts from the next bar line
            token = answer.quoter.forced(k)
        if token is None:
            banned = (DELIMITER_ID, HOLD_ID, REST_ID) if answer.first else (DELIMITER_ID,)
            params = SamplingParams(self.config.temperature, 0, self.config.top_p)
            config = self.config  # the blend as set now: a change is heard from the next step generated
            logits = live_logits(self.models, config.style, config.blend_with, config.blend)
            stm = self.models[config.style].short_term(config.stm_weight)
            token = sample_mixed(logits, params, self.rng, banned, stm)
        bar = self._bar(k + 1)
        for model in self.models.values():
            model.feed(token, bar)
        vocab = self.models[self.config.style].vocab
        if token == HOLD_ID:
            return
        if answer.sounding is not None:
            self.sink.schedule(due, note_off(channel, answer.sounding), Tag.AI)
            answer.sounding = None
            self.roll.ai_note_off(k)
        if vocab.is_pitch(token):
            pitch = min(127, max(0, vocab.pitch_of(token) - answer.shift))
            self.sink.schedule(due, note_on(channel, pitch, answer.velocity(k)), Tag.AI)
            answer.sounding = pitch
            self.roll.ai_note_on(pitch, k)
            if answer.first:
                answer.first = False
                self._log_turn(answer, due, now)

    def _stop_answer(self, step: int, now: float) -> None:
        """Stop the answer at once (the player took over, or the grid jumped): its pending
        events go, its sounding note is released, the roll keeps only what sounded."""
        self.sink.cancel(Tag.AI, now)
        self._answer, self._answer_done_at = None, None
        self.roll.ai_note_off(step)
        self.roll.cut_ai(step)

    def _finish_answer(self, last_off: float) -> None:
        """Every event of the answer is scheduled; it stays ``answering`` until ``last_off``
        (seconds), when its last note-off sounds."""
        self._answer = None
        if self.state == ANSWERING:
            self._answer_done_at = last_off
        else:
            self._to(IDLE, "an empty answer")

    def _schedule_variation(self, notes: list[Note], now: float) -> None:
        answer = self._answer
        varied = self.variator(self.config.style, notes, self.config.amount, self.rng)
        grid = self.transport.grid
        channel = self.config.output_channel
        origin = notes[0].start
        span = max((n.end for n in varied), default=origin) - origin
        if self.config.answer_bars is not None:  # the set length: the variation repeated or cut to it
            placed = fit_to_length(varied, origin, max(1, answer.call_steps, span), answer.end - answer.start)
        else:  # as long as the call: the variation as it came
            placed = [(n.start - origin, n.pitch, n.duration) for n in varied]
            answer.end = answer.start + span
        for offset, pitch, duration in placed:
            step = answer.start + offset
            self.sink.schedule(grid.time_of(step), note_on(channel, pitch, answer.velocity(step)), Tag.AI)
            self.sink.schedule(grid.time_of(step + duration), note_off(channel, pitch), Tag.AI)
            self.roll.add_ai(pitch, step, step + duration)
        answer.vary = True
        self._to(ANSWERING, f"a variation of {len(varied)} notes over {answer.end - answer.start} steps")
        self._log_turn(answer, grid.time_of(answer.start), now)

    def _log_turn(self, answer: _Answer, due: float, now: float) -> None:
        self.turn_count += 1
        turn = Turn(
            answer.call_steps,
            answer.call_notes,
            str(self.key),
            answer.start,
            due,
            answer.end - answer.start,
            due - now,
            self.config.style if answer.vary else blend_name(self.config, self.models),
            self.config.mode,
            self.key_kept,
        )
        self.turns.append(turn)
        log.info("turn %d: %s", self.turn_count, turn)

    def turn_ready(self, now: float) -> None:
        """The last turn's answer was ready at ``now`` (seconds): record its measured margin."""
        if self.turns:
            turn = self.turns[-1]
            self.turns[-1] = dataclasses.replace(turn, ready_early=turn.answer_start_time - now)

    def _to(self, state: EngineState, why: str) -> None:
        """The one place the state changes; each change is logged with its reason."""
        if state is not self.state:
            log.debug("%s -> %s: %s", self.state.value, state.value, why)
            self.state = state

    def _reset_call(self, step: int) -> None:
        """Forget the call, keeping its notes for the roll."""
        self.roll.add_player(self.call.notes, self.call.line_note(), step)
        # Steps before the next one to decide are over: a note-on handed over after its step's
        # half point (a late thread on a loaded machine; once the demo's first note) starts the
        # call on the next open step instead of waiting on a step never decided again (lost).
        self.call.reset(last_final=self._next_step - 1)

    def roll_notes(self, step: int) -> tuple[RollNote, ...]:
        """Notes sounding or ended in the last ROLL_BARS bars before ``step``, by start step."""
        since = step - ROLL_BARS * self.config.steps_per_bar
        return self.roll.notes(since, self.call.notes, self.call.line_note())

    # ---- observation -------------------------------------------------------------------
    def snapshot(self, now: float, stats: dict | None = None) -> Snapshot:
        grid = self.transport.grid
        call_steps = 0
        if self.state == LISTENING and self.call.first_step is not None:
            call_steps = max(0, self._next_step - self.call.first_step)
        answer_step = None
        if self._answer is not None:
            answer_step = self._next_step - self._answer.start
        return Snapshot(
            state=self.state,
            config=self.config,
            bpm=grid.bpm,
            external_clock=self.transport.external,
            transport_running=self.transport.running,
            step=math.floor(grid.step_at(now)),
            grid_origin=grid.origin,
            key=None if self.key is None else str(self.key),
            key_confidence=self.key_confidence,
            key_kept=self.key_kept,
            call_steps=call_steps,
            answer_step=answer_step,
            turns=self.turn_count,
            last_turn=self.turns[-1] if self.turns else None,
            styles=self.styles,
            message=self.message,
            stats=dict(stats or {}),
            notes=self.roll_notes(math.floor(grid.step_at(now))),
            last_cc=self.knobs.last_cc,
            cc_count=self.knobs.cc_count,
        )
