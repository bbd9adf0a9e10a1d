"""The call-and-response state machine, driven by stamped MIDI and the passing of steps.

No threads and no clock of its own: :meth:`EngineCore.handle` takes one stamped message,
:meth:`EngineCore.advance` takes the current time and does everything due by then. Output
goes to a :class:`Sink` (the scheduler, or a recorder in tests) as events with due times.

States: ``idle`` (waiting for a call) -> ``listening`` (a call is being played; the models
are primed step by step in all 12 transpositions) -> ``waiting`` (the call ended; the answer
starts on the next step, beat or bar) -> ``answering`` (tokens are sampled one step ahead of
when they sound) -> ``idle`` (when the answer's last note-off sounds).
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from livemelody.config import EngineConfig
from livemelody.constants import SUSTAIN
from livemelody.encoding import Key, detect_key, transposition_to_reference
from livemelody.encoding.vocab import DELIMITER_ID, HOLD_ID, REST_ID
from livemelody.events import AI_SOURCE, PLAYER, Note, RollNote
from livemelody.live.call import CallTracker
from livemelody.live.held import RELEASING_CONTROLLERS, HeldNotes, listens
from livemelody.live.sensing import SensingWatchdog
from livemelody.live.streaming import StreamingLstm
from livemelody.live.transport import RELOCATED, STOPPED, Transport
from livemelody.models.lstm import LstmSession
from livemelody.sampling import SamplingParams, sample

IDLE, LISTENING, WAITING, ANSWERING = "idle", "listening", "waiting", "answering"
METRONOME_NOTES = (76, 77)  # GM hi / low wood block: downbeat, other beats
METRONOME_SECONDS = 0.03
AI, CLICK = "ai", "metronome"
ROLL_BARS = 8
"""Snapshots carry the notes of about the last ROLL_BARS bars, for a piano roll."""
ROLL_LIMIT = 256
"""Most finished notes kept for the roll (player and AI together)."""

Variator = Callable[[str, Sequence[Note], float, np.random.Generator], list[Note]]
"""Vary mode: (style, the call's notes, amount, rng) -> the answer's notes (same step frame)."""


class Sink(Protocol):
    """Where the engine's output goes (the scheduler owns what actually sounds)."""

    def schedule(self, due: float, data: list[int], tag: str) -> None: ...

    def cancel(self, tag: str, now: float) -> None: ...

    def panic(self, now: float) -> None: ...


@dataclass
class _Answer:
    """The answer being prepared or played (steps on the grid; pitches MIDI)."""

    start: int
    end: int
    shift: int
    """Semitones that moved the call to C major / A minor (subtracted from answer pitches)."""
    velocity: int
    gap_rest: bool
    """The first gap step (between call and answer) is a rest onset rather than a hold."""
    call_steps: int
    call_notes: int
    sounding: int | None = None
    first: bool = True
    vary: bool = False


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
    """How long before its due time the answer's first note was ready (seconds)."""
    style: str
    mode: str


@dataclass(frozen=True)
class Snapshot:
    """The engine's observable state, immutable, for a UI to poll without blocking."""

    state: str
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
        self.variator = variator
        self.rng = np.random.default_rng(seed)
        self.transport = Transport(config.bpm, now, external=config.clock_source == "external")
        self.call = CallTracker()
        self.state = IDLE
        self.turns: collections.deque[Turn] = collections.deque(maxlen=64)
        self.turn_count = 0
        self.key: Key | None = None
        self.message = ""
        self._next_step = math.floor(self.transport.grid.step_at(now) - 0.5) + 1
        self._end_requested = False
        self._sustain = False
        self._answer: _Answer | None = None
        self._answer_done_at: float | None = None
        """Grid time (seconds) of a finished answer's last note-off: answering until then."""
        self.roll: collections.deque[RollNote] = collections.deque(maxlen=ROLL_LIMIT)
        self._ai_note: tuple[int, int] | None = None  # (pitch, start step) of the sounding AI note
        self.last_cc: tuple[int, int] | None = None
        self.cc_count = 0
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
        if kind == 0x90 and len(data) >= 3 and data[2] > 0:
            self.held.press(channel, data[1])
            self._note_on(stamp, data[1], data[2])
        elif (kind == 0x80 or kind == 0x90) and len(data) >= 2:
            self.held.release(channel, data[1])
            self._note_off(stamp, data[1])
        elif kind == 0xB0 and len(data) >= 3:
            self.last_cc = (data[1], data[2])
            self.cc_count += 1
            if data[1] in RELEASING_CONTROLLERS:
                for pitch in self.held.release_channel(channel):
                    self._note_off(stamp, pitch)
            self._control(stamp, data[1], data[2])

    def _note_off(self, stamp: float, pitch: int) -> None:
        if self.state == LISTENING:
            self.call.note_off(self.transport.grid.nearest_step(stamp), pitch)

    def _transport_moved(self, stamp: float) -> None:
        """External clock Stop, Start, Continue or Song Position: the song position jumped or
        froze, so the answer stops at once (its sounding note released) and the call is dropped."""
        self.sink.cancel(CLICK, stamp)
        if self.state != IDLE:
            step = self.transport.grid.nearest_step(stamp)
            self._stop_answer(step, stamp)
            self._reset_call(step)
            self.state, self._end_requested = IDLE, False
        self._next_step = math.floor(self.transport.grid.step_at(stamp) - 0.5) + 1

    def _input_gone(self, now: float) -> None:
        """Active Sensing stopped: every held key is taken as released (MIDI 1.0)."""
        for _channel, pitch in self.held.release_all():
            self._note_off(now, pitch)
        self.message = "input silent for 300 ms after Active Sensing: cable or device gone, held notes released"

    def _note_on(self, stamp: float, pitch: int, velocity: int) -> None:
        step = self.transport.grid.nearest_step(stamp)
        if self._answer_done_at is not None:  # only the answer's last note-off is pending: it is over
            self.state, self._answer_done_at = IDLE, None
        if self.state in (WAITING, ANSWERING):
            if not self.config.stop_on_player:
                return
            self._stop_answer(step, stamp)
            self.message = "player took over: answer stopped"
        if self.state != LISTENING:
            self._reset_call(step)
            for model in self.models.values():
                model.reset()
            self.state = LISTENING
            self.key = None
        self.call.note_on(step, pitch, velocity)

    def _control(self, stamp: float, number: int, value: int) -> None:
        if number == SUSTAIN:
            released = self._sustain and value < 64
            self._sustain = value >= 64
            if released and self.config.end_on_sustain_release and self.state == LISTENING:
                self._end_requested = True
            return
        control = self.config.controls.lookup(number)
        if control is not None:
            try:
                self._apply_control(stamp, control, value)
            except ValueError as exc:  # a knob must never break the engine: report instead
                self.message = str(exc)

    def _apply_control(self, stamp: float, control: str, value: int) -> None:
        """A mapped controller moved to ``value`` (0-127)."""
        styles = sorted(self.models)
        if control == "temperature":
            self.set(temperature=round(2.0 * value / 127, 3))
        elif control == "top_p":
            self.set(top_p=round(0.5 + 0.5 * value / 127, 3))
        elif control == "style":
            self.set(style=styles[min(len(styles) - 1, value * len(styles) // 128)])
        elif control == "mode":
            self.set(mode="vary" if value >= 64 else "continue")
        elif control == "amount":
            self.set(amount=round(6.0 * value / 127, 3))
        elif control == "answer_bars":
            self.set(answer_bars=None if value == 0 else 1 + value * 8 // 128)
        elif control == "end_call" and value >= 64 and self.state == LISTENING:
            self._end_requested = True
        elif control == "panic" and value >= 64:
            self.panic(stamp)

    # ---- commands (the dashboard's API) -------------------------------------------------
    def set(self, **changes) -> None:
        """Change settings while playing; raises ValueError (and changes nothing) if invalid."""
        if "style" in changes and changes["style"] not in self.models:
            raise ValueError(f"style {changes['style']!r} is not loaded; loaded: {', '.join(sorted(self.models))}")
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
        self.state, self._answer, self._answer_done_at, self._end_requested = IDLE, None, None, False
        step = self.transport.grid.nearest_step(now)
        self._close_ai_note(step)
        self._cut_ai_roll(step)
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
                self.state, self._end_requested = IDLE, False
            self._next_step = expected
            return
        while grid.time_of(self._next_step + 0.5) <= now:
            step = self._next_step
            self._next_step += 1
            self._on_step(step, now)
        if self._answer_done_at is not None and now >= self._answer_done_at:
            self.state, self._answer_done_at = IDLE, None

    def _on_step(self, step: int, now: float) -> None:
        grid = self.transport.grid
        if self.config.metronome and (step + 1) % self.config.steps_per_beat == 0:
            beat = (step + 1) // self.config.steps_per_beat
            note = METRONOME_NOTES[0 if beat % self.config.beats_per_bar == 0 else 1]
            ch = self.config.metronome_channel
            due = grid.time_of(step + 1)
            self.sink.schedule(due, [0x90 | ch, note, 90], CLICK)
            self.sink.schedule(due + METRONOME_SECONDS, [0x80 | ch, note, 0], CLICK)
        if self.state == LISTENING:
            if self.call.first_step is None or step < self.call.first_step:
                return
            token = self.call.finalize(step)
            for model in self.models.values():
                model.feed_call(token.token_id, token.pitch)
            if self._call_over(step):
                self._end_call(step, now)
        if self.state in (WAITING, ANSWERING):
            self._answer_step(step + 1, now)

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
            self.state, self.message = IDLE, f"call of {length} steps ignored (minimum {config.min_call_steps})"
            self._reset_call(step + 1)
            return
        self.key = detect_key([n.pitch for n in notes], [n.duration for n in notes])
        shift = transposition_to_reference(self.key)
        unit = {"step": 1, "beat": config.steps_per_beat, "bar": config.steps_per_bar}[config.answer_start]
        start = -(-(step + 1) // unit) * unit
        answer_steps = config.answer_bars * config.steps_per_bar if config.answer_bars else length
        velocity = int(round(np.mean([n.velocity for n in notes])))
        self._answer = _Answer(
            start,
            start + answer_steps,
            shift,
            velocity,
            gap_rest=bool(notes and notes[-1].end > step),
            call_steps=length,
            call_notes=len(notes),
        )
        self.state = WAITING
        if config.mode == "vary" and self.variator is not None:
            self._schedule_variation(notes, now)
            return
        for model in self.models.values():
            model.choose(shift)

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
            for model in self.models.values():
                model.feed(token)
            return
        due = grid.time_of(k)
        channel = self.config.output_channel
        if k >= answer.end:
            if answer.sounding is not None:
                self.sink.schedule(due, [0x80 | channel, answer.sounding, 0], AI)
                self._close_ai_note(k)
            self._finish_answer(due)
            return
        self.state = ANSWERING
        banned = (DELIMITER_ID, HOLD_ID, REST_ID) if answer.first else (DELIMITER_ID,)
        params = SamplingParams(self.config.temperature, 0, self.config.top_p)
        token = sample(self.models[self.config.style].logits, params, self.rng, banned)
        for model in self.models.values():
            model.feed(token)
        vocab = self.models[self.config.style].vocab
        if token == HOLD_ID:
            return
        if answer.sounding is not None:
            self.sink.schedule(due, [0x80 | channel, answer.sounding, 0], AI)
            answer.sounding = None
            self._close_ai_note(k)
        if vocab.is_pitch(token):
            pitch = min(127, max(0, vocab.pitch_of(token) - answer.shift))
            self.sink.schedule(due, [0x90 | channel, pitch, answer.velocity], AI)
            answer.sounding = pitch
            self._ai_note = (pitch, k)
            if answer.first:
                answer.first = False
                self._log_turn(answer, due, now)

    def _stop_answer(self, step: int, now: float) -> None:
        """Stop the answer at once (the player took over, or the grid jumped): its pending
        events go, its sounding note is released, the roll keeps only what sounded."""
        self.sink.cancel(AI, now)
        self._answer, self._answer_done_at = None, None
        self._close_ai_note(step)
        self._cut_ai_roll(step)

    def _finish_answer(self, last_off: float) -> None:
        """Every event of the answer is scheduled; it stays ``answering`` until ``last_off``
        (seconds), when its last note-off sounds."""
        self._answer = None
        if self.state == ANSWERING:
            self._answer_done_at = last_off
        else:
            self.state = IDLE

    def _schedule_variation(self, notes: list[Note], now: float) -> None:
        answer = self._answer
        varied = self.variator(self.config.style, notes, self.config.amount, self.rng)
        grid = self.transport.grid
        channel = self.config.output_channel
        origin = notes[0].start
        for note in varied:
            step = answer.start + note.start - origin
            self.sink.schedule(grid.time_of(step), [0x90 | channel, note.pitch, answer.velocity], AI)
            self.sink.schedule(grid.time_of(step + note.duration), [0x80 | channel, note.pitch, 0], AI)
            self.roll.append(RollNote(AI_SOURCE, note.pitch, step, step + note.duration))
        span = max((n.end for n in varied), default=origin) - origin
        answer.vary, answer.end = True, answer.start + span
        self.state = ANSWERING
        self._log_turn(answer, grid.time_of(answer.start), now)

    def _log_turn(self, answer: _Answer, due: float, now: float) -> None:
        self.turn_count += 1
        self.turns.append(
            Turn(
                answer.call_steps,
                answer.call_notes,
                str(self.key),
                answer.start,
                due,
                answer.end - answer.start,
                due - now,
                self.config.style,
                self.config.mode,
            )
        )

    # ---- the piano roll (loop thread; small tuples, no work at send time) ---------------
    def _close_ai_note(self, end: int) -> None:
        if self._ai_note is not None:
            pitch, start = self._ai_note
            self.roll.append(RollNote(AI_SOURCE, pitch, start, max(start + 1, end)))
            self._ai_note = None

    def _cut_ai_roll(self, step: int) -> None:
        """A stopped answer's notes end at ``step`` in the roll; its future notes go (a variation
        puts all its notes in the roll when it is scheduled)."""
        if not any(n.source == AI_SOURCE and n.end is not None and n.end > step for n in self.roll):
            return
        kept = [
            n._replace(end=step) if n.source == AI_SOURCE and n.end is not None and n.end > step else n
            for n in self.roll
            if not (n.source == AI_SOURCE and n.start >= step)
        ]
        self.roll.clear()
        self.roll.extend(kept)

    def _reset_call(self, step: int) -> None:
        """Forget the call, keeping its notes for the roll."""
        self.roll.extend(RollNote(PLAYER, n.pitch, n.start, n.end) for n in self.call.notes)
        line = self.call.line_note()
        if line is not None:
            pitch, onset, end = line
            self.roll.append(RollNote(PLAYER, pitch, onset, max(onset + 1, end if end is not None else step)))
        self.call.reset()

    def roll_notes(self, step: int) -> tuple[RollNote, ...]:
        """Notes sounding or ended in the last ROLL_BARS bars before ``step``, by start step."""
        since = step - ROLL_BARS * self.config.steps_per_bar
        notes = [n for n in self.roll if n.end is None or n.end >= since]
        notes.extend(RollNote(PLAYER, n.pitch, n.start, n.end) for n in self.call.notes if n.end >= since)
        line = self.call.line_note()
        if line is not None:
            notes.append(RollNote(PLAYER, line[0], line[1], line[2]))
        if self._ai_note is not None:
            notes.append(RollNote(AI_SOURCE, self._ai_note[0], self._ai_note[1], None))
        notes.sort(key=lambda n: n.start)
        return tuple(notes)

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
            call_steps=call_steps,
            answer_step=answer_step,
            turns=self.turn_count,
            last_turn=self.turns[-1] if self.turns else None,
            styles=tuple(sorted(self.models)),
            message=self.message,
            stats=dict(stats or {}),
            notes=self.roll_notes(math.floor(grid.step_at(now))),
            last_cc=self.last_cc,
            cc_count=self.cc_count,
        )
