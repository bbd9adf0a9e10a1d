"""Which part of a MIDI file is the melody.

A *part* is the notes of one channel in one track chunk. Without ``--track``/``--channel``
the melody is chosen by this rule (documented in docs/DATA.md):

1. drums are never the melody: channel 10, or a track named like drums/percussion/kit;
2. a part whose track is named like a melody (melody, lead, voice, vocal, solo, tune,
   soprano, melodie, melodia, canto) wins over the others;
3. among the rest the highest score wins, score = single x singing x presence, where
   *single* is the share of the part's onsets where one note starts (a line, not chords),
   *singing* the share of its notes in MIDI 55..84 (G3..C6, where melodies are sung and
   played), and *presence* its note count over a quarter of the busiest part's, at most 1
   (a short fill does not beat the tune); ties go to the higher mean pitch, then the
   earlier track.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from livemelody.midi.spec import DRUM_CHANNEL

SINGING_RANGE = (55, 84)
"""MIDI pitches (G3..C6, inclusive) where a melody is expected."""
MELODY_NAMES = re.compile(r"melod|lead|voice|vocal|voix|solo|tune|soprano|canto|sing", re.IGNORECASE)
DRUM_NAMES = re.compile(r"drum|perc|kit\b|batter", re.IGNORECASE)


@dataclass(frozen=True)
class Part:
    """The notes of one channel (0-15) in one track chunk (``track``: 1-based)."""

    track: int
    channel: int
    name: str
    notes: list[tuple[int, int, int, int]]
    """(pitch, start tick, end tick, velocity), sorted by start."""

    @property
    def is_drums(self) -> bool:
        return self.channel == DRUM_CHANNEL or bool(DRUM_NAMES.search(self.name))


def scores(part: Part, busiest: int) -> tuple[float, float, float]:
    """(single, singing, presence) of ``part`` as in the module doc; ``busiest`` is the
    largest note count of any candidate part."""
    notes = part.notes
    if not notes:
        return 0.0, 0.0, 0.0
    per_onset: dict[int, int] = {}
    for _, start, _, _ in notes:
        per_onset[start] = per_onset.get(start, 0) + 1
    single = sum(1 for c in per_onset.values() if c == 1) / len(per_onset)
    low, high = SINGING_RANGE
    singing = sum(1 for p, *_ in notes if low <= p <= high) / len(notes)
    presence = min(1.0, len(notes) / max(1.0, 0.25 * busiest))
    return single, singing, presence


def _rank(part: Part, busiest: int) -> tuple:
    single, singing, presence = scores(part, busiest)
    mean = sum(p for p, *_ in part.notes) / max(1, len(part.notes))
    return (bool(MELODY_NAMES.search(part.name)), single * singing * presence, mean, -part.track)


def choose_part(parts: Sequence[Part], track: str | None = None, channel: int | None = None) -> Part:
    """The melody part: chosen by ``track`` (1-based number, or part of a name, case-blind)
    and/or ``channel`` (0-15) where given, then by the rule in the module doc.
    ValueError (one line, listing the parts) if no part with notes matches."""
    candidates = [p for p in parts if p.notes]
    if track is not None:
        text = track.strip()
        if text.isdigit():
            candidates = [p for p in candidates if p.track == int(text)]
        else:
            candidates = [p for p in candidates if text.lower() in p.name.lower()]
    if channel is not None:
        candidates = [p for p in candidates if p.channel == channel]
    elif track is None:
        candidates = [p for p in candidates if not p.is_drums] or [p for p in candidates if p.channel != DRUM_CHANNEL]
    if not candidates:
        wanted = " ".join(
            x
            for x in (f"track {track!r}" if track else "", f"channel {channel + 1}" if channel is not None else "")
            if x
        )
        listing = ", ".join(_label(p) for p in parts if p.notes) or "none"
        raise ValueError(f"no notes in {wanted or 'any part outside the drums'}; parts with notes: {listing}")
    busiest = max(len(p.notes) for p in candidates)
    return max(candidates, key=lambda p: _rank(p, busiest))


def _label(part: Part) -> str:
    name = f' "{part.name}"' if part.name else ""
    return f"track {part.track}{name} channel {part.channel + 1}"


def describe_part(chosen: Part, parts: Sequence[Part]) -> str:
    """One line saying which part was read and how many others there were."""
    count = len([p for p in parts if p.notes])
    return f"melody read from {_label(chosen)} ({count} parts with notes; --track and --channel choose another)"
