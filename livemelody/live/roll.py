"""The piano roll's memory: recent player and AI notes, in grid steps, for a UI to draw.

Runs on the real-time thread, so it keeps small tuples in a bounded deque and does no work
at send time; :meth:`RollHistory.notes` builds the tuple a snapshot carries.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

from livemelody.events import Note, RollNote, Tag

ROLL_BARS = 8
"""Snapshots carry the notes of about the last ROLL_BARS bars."""
ROLL_LIMIT = 256
"""Most finished notes kept (player and AI together)."""


class RollHistory:
    """Finished notes, the AI note sounding now, and what a stopped answer leaves behind."""

    def __init__(self, limit: int = ROLL_LIMIT) -> None:
        self.finished: collections.deque[RollNote] = collections.deque(maxlen=limit)
        self._ai_note: tuple[int, int] | None = None
        """(pitch, start step) of the AI note sounding now."""

    def add_player(self, notes: Iterable[Note], line: tuple[int, int, int | None] | None, step: int) -> None:
        """Keep a finished call: its ``notes`` and its still open ``line`` note (pitch, onset,
        end or None: it ends at ``step``)."""
        self.finished.extend(RollNote(Tag.PLAYER, n.pitch, n.start, n.end) for n in notes)
        if line is not None:
            pitch, onset, end = line
            self.finished.append(RollNote(Tag.PLAYER, pitch, onset, max(onset + 1, end if end is not None else step)))

    def add_ai(self, pitch: int, start: int, end: int) -> None:
        """A scheduled AI note (a variation puts all its notes in at once)."""
        self.finished.append(RollNote(Tag.AI, pitch, start, end))

    def ai_note_on(self, pitch: int, step: int) -> None:
        self._ai_note = (pitch, step)

    def ai_note_off(self, step: int) -> None:
        """The sounding AI note ends at ``step`` (at least one step long)."""
        if self._ai_note is not None:
            pitch, start = self._ai_note
            self.finished.append(RollNote(Tag.AI, pitch, start, max(start + 1, step)))
            self._ai_note = None

    def cut_ai(self, step: int) -> None:
        """A stopped answer: its notes end at ``step``, its future notes go."""
        if not any(n.source == Tag.AI and n.end is not None and n.end > step for n in self.finished):
            return
        kept = [
            n._replace(end=step) if n.source == Tag.AI and n.end is not None and n.end > step else n
            for n in self.finished
            if not (n.source == Tag.AI and n.start >= step)
        ]
        self.finished.clear()
        self.finished.extend(kept)

    def notes(
        self, since: int, call: Iterable[Note] = (), line: tuple[int, int, int | None] | None = None
    ) -> tuple[RollNote, ...]:
        """Notes sounding at or ended after step ``since``, with the call being played (its
        finished ``call`` notes and its open ``line`` note), by start step."""
        notes = [n for n in self.finished if n.end is None or n.end >= since]
        notes.extend(RollNote(Tag.PLAYER, n.pitch, n.start, n.end) for n in call if n.end >= since)
        if line is not None:
            notes.append(RollNote(Tag.PLAYER, line[0], line[1], line[2]))
        if self._ai_note is not None:
            notes.append(RollNote(Tag.AI, self._ai_note[0], self._ai_note[1], None))
        notes.sort(key=lambda n: n.start)
        return tuple(notes)
