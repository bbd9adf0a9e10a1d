"""The player's call, encoded on the fly: one token per 16th step, one line of notes.

Notes are quantised to the nearest step; polyphony is reduced to one line (a new onset at
least as high as the sounding line note takes over; a lower onset under it is ignored, as in
:func:`livemelody.midi.files.top_line`). Step ``s`` is final once the grid passes s + 1/2,
because any note quantised to s has arrived by then.
"""

from __future__ import annotations

from dataclasses import dataclass

from livemelody.encoding.detached import release_step
from livemelody.encoding.vocab import HOLD_ID, REST_ID
from livemelody.events import Note


@dataclass
class _LineNote:
    pitch: int
    onset: int
    velocity: int
    end: int | None = None  # first silent step, once the key is released


@dataclass(frozen=True)
class StepToken:
    """What the call did on one step: ``kind`` is "note" (with ``pitch``), "hold" or "rest"."""

    step: int
    kind: str
    pitch: int | None = None

    @property
    def token_id(self) -> int | None:
        """HOLD_ID / REST_ID for those kinds; None for a note (its id depends on transposition)."""
        return {"hold": HOLD_ID, "rest": REST_ID}.get(self.kind)


class CallTracker:
    """Turns stamped note events, already in steps, into :class:`StepToken` and :class:`Note`."""

    def __init__(self) -> None:
        self.reset()

    def reset(self, last_final: int | None = None) -> None:
        """Forget the call. ``last_final``: the last step already decided (the engine's grid
        has passed it), so a first note-on handed over late for it starts on the next step."""
        self.notes: list[Note] = []
        self.first_step: int | None = None
        self.last_final: int | None = last_final
        self._pending: dict[int, tuple[int, int]] = {}  # step -> (pitch, velocity), highest wins
        self._early_off: dict[int, int] = {}  # pitch -> step of a release heard before its onset was final
        self._line: _LineNote | None = None
        self._last_kind = "rest"

    def note_on(self, step: int, pitch: int, velocity: int) -> None:
        """A key went down at (quantised) ``step``; a step already final moves to the next."""
        if self.last_final is not None and step <= self.last_final:
            step = self.last_final + 1
        if self.first_step is None:
            self.first_step = step
        best = self._pending.get(step)
        if best is None or pitch > best[0]:
            self._pending[step] = (pitch, velocity)

    def note_off(self, step: float, pitch: int) -> None:
        """A key came up at ``step`` (fractional steps, or a quantised int); only the line
        note's release matters. It ends the note by the detached-playing rule
        (:func:`livemelody.encoding.detached.release_step`), as files do. A note shorter than
        about half a step is released before its onset step is final: the release is kept
        until then."""
        end = release_step(step)
        line = self._line
        if line is not None and line.pitch == pitch and line.end is None:
            line.end = max(line.onset + 1, end)
        elif any(pending == pitch for pending, _ in self._pending.values()):
            self._early_off[pitch] = end

    def sounding(self) -> bool:
        return self._line is not None and self._line.end is None

    def line_note(self) -> tuple[int, int, int | None] | None:
        """The line note not yet closed: (pitch, onset step, end step or None while held)."""
        line = self._line
        return None if line is None else (line.pitch, line.onset, line.end)

    def last_note_end(self) -> int | None:
        """First silent step after the last line note (None while one sounds or before any)."""
        if self._line is None:
            return self.notes[-1].end if self.notes else None
        return self._line.end

    def finalize(self, step: int) -> StepToken:
        """Decide step ``step`` (call in order, once the grid passed step + 1/2)."""
        self.last_final = step
        onset = self._pending.pop(step, None)
        early_off = None if onset is None else self._early_off.pop(onset[0], None)
        line = self._line
        if line is not None and line.end is not None and line.end <= step:
            self._close(line.end)
        line = self._line
        if onset is not None and (line is None or onset[0] >= line.pitch):
            if line is not None:
                self._close(step)
            self._line = _LineNote(onset[0], step, onset[1])
            if early_off is not None:
                self._line.end = max(step + 1, early_off)
            self._last_kind = "note"
            return StepToken(step, "note", onset[0])
        if self._line is not None or self._last_kind == "rest":
            kind = "hold"
        else:
            kind = "rest"
            self._last_kind = "rest"
        return StepToken(step, kind)

    def end_now(self, step: int) -> None:
        """Close the line note at ``step`` (the call was ended by a control)."""
        if self._line is not None:
            self._close(step if self._line.end is None else min(self._line.end, step))

    def _close(self, end: int) -> None:
        line = self._line
        self.notes.append(Note(line.pitch, line.onset, max(1, end - line.onset), line.velocity))
        self._line = None
