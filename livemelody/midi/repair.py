"""A thin repair layer for damaged Standard MIDI Files, run before mido parses them.

It walks the file's chunks and frames every event (SMF 1.0: delta time, status, data), and
writes the same events back as a file any strict reader accepts. It never decodes notes
itself: mido does that from the repaired bytes. Each kind of repair gives one warning line:

- bytes before the ``MThd`` header (a RIFF/RMID wrapper), a header longer than 6 bytes;
- a header whose track count differs from the tracks found;
- unknown chunks (skipped by their length, as SMF 1.0 tells readers to);
- a track chunk whose length is wrong: each track ends at its End of Track;
- a track without End of Track, a file cut short (every complete event is kept);
- a delta time or length longer than 4 bytes, a status byte that cannot start an event (the
  rest of that track is dropped: nothing after it can be framed);
- channel events and system exclusive messages with a data byte above 127 (skipped, their
  delta time kept), system messages that have no place in a file;
- meta events mido cannot decode (a key signature with 18 flats, no data bytes ...), a tempo
  of 0, a time signature of 0 beats or a denominator above 2^6;
- SMPTE time division: read in seconds, as 120 BPM (one set-tempo of 500,000 us);
- format 2: its patterns are joined one after another into one sequence, never stacked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mido.midifiles.meta import build_meta_message

MAX_VLQ_BYTES = 4
"""SMF 1.0: variable-length quantities take at most 4 bytes (0x0FFFFFFF)."""
SMPTE_TEMPO = 500_000
"""Microseconds per beat given to a file with SMPTE time division (120 BPM)."""
DEFAULT_DIVISION = 96
"""Ticks per beat assumed when the header says 0."""
END_OF_TRACK = b"\xff\x2f\x00"
_SYSTEM_LENGTHS = {0xF1: 1, 0xF2: 2, 0xF3: 1}  # other 0xF1..0xFE: no data bytes
_META_NAMES = {0x51: "tempo", 0x58: "time signature", 0x59: "key signature", 0x54: "SMPTE offset"}


class SmfError(Exception):
    """The bytes are not a MIDI file at all; the message is one line for the user."""


@dataclass
class Repaired:
    """The repaired file's bytes (a valid SMF, format 0 or 1) and one warning per repair kind."""

    data: bytes
    warnings: list[str] = field(default_factory=list)
    smpte: tuple[int, int] | None = None
    """(frames per second, ticks per frame) where the file used SMPTE time division."""
    cut_tracks: set[int] = field(default_factory=set)
    """Numbers (1-based, in the repaired file) of the tracks cut short: a note-on left
    without its note-off there lost its end, and is not a complete note."""


class _Notes:
    """Warnings gathered once per kind, with counts: 'kind' -> (count, first detail)."""

    def __init__(self) -> None:
        self.seen: dict[str, list] = {}

    def add(self, kind: str, detail: str = "") -> None:
        entry = self.seen.setdefault(kind, [0, detail])
        entry[0] += 1

    def lines(self, describe: dict[str, Callable[[int, str], str]]) -> list[str]:
        return [describe[kind](count, detail) for kind, (count, detail) in self.seen.items()]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


_DESCRIBE: dict[str, Callable[[int, str], str]] = {
    "prefix": lambda n, d: f"{d} bytes before the MIDI header skipped",
    "header_length": lambda n, d: f"header chunk of {d} bytes read as 6",
    "format": lambda n, d: f"unknown file format {d} read as format 1",
    "division0": lambda n, d: f"time division 0 read as {DEFAULT_DIVISION} ticks per beat",
    "smpte": lambda n, d: f"SMPTE time division ({d}) read in seconds, as 120 BPM",
    "smpte_bad": lambda n, d: f"unknown SMPTE frame rate {d} read as 25 frames per second",
    "unknown_chunk": lambda n, d: f"{_plural(n, 'unknown chunk')} skipped by length (first: {d})",
    "garbage": lambda n, d: f"{d} bytes between chunks skipped",
    "track_length": lambda n, d: f"{_plural(n, 'track chunk')} with a wrong length read to End of Track ({d})",
    "no_end": lambda n, d: f"{_plural(n, 'track')} without End of Track ended at the chunk's end",
    "truncated": lambda n, d: f"file cut short in {d}: every complete event kept",
    "corrupt_rest": lambda n, d: f"corrupt event in {_plural(n, 'track')} ({d}): the rest of the track dropped",
    "data_byte": lambda n, d: f"{_plural(n, 'event')} with a data byte above 127 skipped (first: {d})",
    "system": lambda n, d: f"{_plural(n, 'system message')} that a file cannot hold skipped",
    "sysex": lambda n, d: f"{_plural(n, 'system exclusive message')} with a data byte above 127 skipped ({d})",
    "meta": lambda n, d: f"{_plural(n, 'meta event')} with impossible data ignored (first: {d})",
    "track_count": lambda n, d: f"header counts {d}",
    "format2": lambda n, d: f"format 2 file: its {d} patterns read one after another",
    "smpte_tempo": lambda n, d: f"{_plural(n, 'tempo event')} ignored (SMPTE time division)",
}


TRUNCATED = -1


def _vlq(data: bytes, pos: int, end: int) -> tuple[int, int] | None:
    """(value, next position) of a variable-length quantity at ``pos``; value TRUNCATED if it
    runs past ``end``; None if it is longer than 4 bytes."""
    value = 0
    for i in range(MAX_VLQ_BYTES):
        if pos + i >= end:
            return TRUNCATED, end
        byte = data[pos + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos + i + 1
    return None


MAX_VLQ = 0x0FFFFFFF


def encode_vlq(value: int) -> bytes:
    """SMF variable-length bytes of ``value``, capped at 0x0FFFFFFF (the 4-byte maximum)."""
    if value < 0x80:
        return bytes((value,))
    value = min(value, MAX_VLQ)
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _looks_like_chunk(data: bytes, pos: int) -> bool:
    return pos + 8 <= len(data) and all(0x20 < b < 0x7F for b in data[pos : pos + 4])


def _meta_problem(meta_type: int, payload: bytes) -> str | None:
    """Why mido (or a player) cannot use this meta event, or None."""
    try:
        message = build_meta_message(meta_type, payload)
    except Exception:  # mido raises KeySignatureError, IndexError, KeyError ...: the data says why
        data = f"data {payload.hex(' ').upper()}" if payload else "no data"
        return f"{_META_NAMES.get(meta_type, f'meta 0x{meta_type:02X}')} ({data})"
    if message.type == "set_tempo" and (len(payload) != 3 or message.tempo == 0):
        return "tempo 0" if message.tempo == 0 else f"tempo of {len(payload)} bytes"
    if message.type == "time_signature" and (len(payload) != 4 or message.numerator == 0 or payload[1] > 6):
        return f"time signature {message.numerator}/2^{payload[1]}"
    if message.type == "key_signature" and len(payload) != 2:
        return f"key signature of {len(payload)} bytes"
    return None


@dataclass
class _Track:
    events: list[tuple[int, bytes]]
    """(delta ticks, event bytes with an explicit status) without End of Track."""
    end_delta: int
    """Delta of End of Track after the last event (the track's length beyond it)."""
    next_pos: int
    """Where the next chunk is looked for."""
    cut: bool = False
    """The file ended inside this track."""


def _lex_track(data: bytes, start: int, declared_end: int, label: str, notes: _Notes) -> _Track:
    """Frame the events of the track chunk whose data starts at ``start``."""
    size = len(data)
    pos, running, pending = start, None, 0
    events: list[tuple[int, bytes]] = []
    append = events.append
    while True:
        if pos == declared_end and (pos == size or _looks_like_chunk(data, pos)):
            notes.add("no_end")
            return _Track(events, pending, pos)
        if pos >= size:
            return _cut(events, pending, size, label, notes)
        vlq = _vlq(data, pos, size)
        if vlq is None:
            return _stop(data, events, pending, pos, declared_end, label, notes, "delta time over 4 bytes")
        delta, pos = vlq
        if pos >= size or delta == TRUNCATED:
            return _cut(events, pending, size, label, notes)
        status = data[pos]
        if status < 0x80:  # running status: the data starts here
            if running is None:
                return _stop(data, events, pending, pos, declared_end, label, notes, "data byte without status")
            status, first = running, pos
        else:
            first = pos + 1
        if status < 0xF0:
            running = status
            length = 1 if 0xC0 <= status < 0xE0 else 2
            end = first + length
            if end > size:
                return _cut(events, pending, size, label, notes)
            body = data[first:end]
            if max(body) >= 0x80:
                notes.add("data_byte", f"{label}, status 0x{status:02X}, data {' '.join(f'{b}' for b in body)}")
                pending += delta
            else:
                append((pending + delta, bytes((status,)) + body))
                pending = 0
            pos = end
        elif status == 0xFF:
            if first >= size:
                return _cut(events, pending, size, label, notes)
            meta_type = data[first]
            vlq = _vlq(data, first + 1, size)
            if vlq is None:
                return _stop(data, events, pending, pos, declared_end, label, notes, "meta length over 4 bytes")
            length, body_start = vlq
            end = body_start + length
            if length == TRUNCATED:
                return _cut(events, pending, size, label, notes)
            if meta_type == 0x2F:  # End of Track
                next_pos = min(end, size)
                if next_pos != declared_end:
                    notes.add("track_length", f"{label} says {declared_end - start} bytes, holds {next_pos - start}")
                    next_pos = _next_chunk(data, next_pos, declared_end)
                return _Track(events, pending + delta, next_pos)
            if end > size:
                return _cut(events, pending, size, label, notes)
            payload = data[body_start:end]
            problem = _meta_problem(meta_type, payload)
            if problem is None:
                append((pending + delta, b"\xff" + bytes((meta_type,)) + encode_vlq(length) + payload))
                pending = 0
            else:
                notes.add("meta", f"{problem} in {label}")
                pending += delta
            pos = end
        elif status in (0xF0, 0xF7):
            vlq = _vlq(data, first, size)
            if vlq is None:
                return _stop(data, events, pending, pos, declared_end, label, notes, "sysex length over 4 bytes")
            length, body_start = vlq
            end = body_start + length
            if length == TRUNCATED or end > size:
                return _cut(events, pending, size, label, notes)
            body = data[body_start:end]
            if body.endswith(b"\xf7"):
                body = body[:-1]
            if body and max(body) >= 0x80:  # a system exclusive message holds data bytes only
                notes.add("sysex", label)
                pending += delta
            else:
                append((pending + delta, data[pos:end]))
                pending = 0
            pos = end
        else:  # system common / real-time: no place in a file
            running = None
            notes.add("system")
            pending += delta
            pos = first + _SYSTEM_LENGTHS.get(status, 0)


def _cut(events, pending, size, label, notes: _Notes) -> _Track:
    notes.add("truncated", label)
    return _Track(events, pending, size, cut=True)


def _stop(data, events, pending, pos, declared_end, label, notes: _Notes, why: str) -> _Track:
    """End a track at an event that cannot be framed; look for the next chunk."""
    notes.add("corrupt_rest", f"{label}: {why} at byte {pos}")
    return _Track(events, pending, _next_chunk(data, pos, declared_end))


def _next_chunk(data: bytes, pos: int, declared_end: int) -> int:
    """Where the next chunk starts: right here, at the declared end, or the next 'MTrk'."""
    for candidate in (pos, declared_end):
        if candidate <= len(data) and (candidate == len(data) or _looks_like_chunk(data, candidate)):
            return candidate
    found = data.find(b"MTrk", pos)
    return len(data) if found < 0 else found


def repair_smf(data: bytes) -> Repaired:
    """Repair the bytes of a Standard MIDI File; :class:`SmfError` if they are not one.

    Returns a valid format-0 or format-1 file holding every complete, well-formed event of
    ``data`` (nothing invented, nothing clipped), and one warning line per kind of repair.
    """
    notes = _Notes()
    if not data:
        raise SmfError("empty file")
    header = data.find(b"MThd", 0, 4096)
    if header < 0:
        raise SmfError("not a MIDI file (no MThd header)")
    if header > 0:
        notes.add("prefix", str(header))
    if header + 14 > len(data):
        raise SmfError("empty or truncated file (the header is cut short)")
    header_length = int.from_bytes(data[header + 4 : header + 8], "big")
    fmt, declared_tracks, division = (int.from_bytes(data[i : i + 2], "big") for i in range(header + 8, header + 14, 2))
    pos = header + 8 + header_length
    if header_length < 6 or not (pos == len(data) or _looks_like_chunk(data, pos)):
        if header_length != 6:
            notes.add("header_length", str(header_length))
        pos = header + 14
    if fmt > 2:
        notes.add("format", str(fmt))
        fmt = 1
    smpte = None
    scale = 1
    if division & 0x8000:
        fps, per_frame = 256 - (division >> 8), division & 0xFF
        if fps not in (24, 25, 29, 30):
            notes.add("smpte_bad", str(fps))
            fps = 25
        per_frame = per_frame or 1
        smpte = (fps, per_frame)
        per_second = (30 if fps == 29 else fps) * per_frame
        notes.add("smpte", f"{'29.97' if fps == 29 else fps} fps x {per_frame} ticks = {per_second} ticks/s")
        scale = 1 if per_second % 2 == 0 else 2
        division = per_second * scale // 2
    elif division == 0:
        notes.add("division0")
        division = DEFAULT_DIVISION
    tracks: list[_Track] = []
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        length = int.from_bytes(data[pos + 4 : pos + 8], "big")
        if chunk_id == b"MTrk":
            tracks.append(_lex_track(data, pos + 8, pos + 8 + length, f"track {len(tracks) + 1}", notes))
            pos = max(tracks[-1].next_pos, pos + 8)
        elif _looks_like_chunk(data, pos):
            notes.add("unknown_chunk", f"'{chunk_id.decode('ascii')}', {length} bytes")
            pos += 8 + length
        else:
            found = data.find(b"MTrk", pos + 1)
            if found < 0:
                break
            notes.add("garbage", str(found - pos))
            pos = found
    if len(tracks) != declared_tracks and len(tracks) + notes.seen.get("unknown_chunk", [0])[0] != declared_tracks:
        notes.add("track_count", f"{_plural(declared_tracks, 'track')}, {len(tracks)} found")
    if smpte is not None:
        tracks = _smpte_tempo(tracks, scale, notes)
    if fmt == 2 and len(tracks) > 1:
        notes.add("format2", str(len(tracks)))
        tracks = [_join(tracks)]
    if fmt == 2 or (fmt == 0 and len(tracks) > 1):
        fmt = 0 if len(tracks) == 1 else 1
    out = [b"MThd", (6).to_bytes(4, "big"), fmt.to_bytes(2, "big"), len(tracks).to_bytes(2, "big")]
    out.append(division.to_bytes(2, "big"))
    for track in tracks:
        body = b"".join(encode_vlq(d) + e for d, e in track.events) + encode_vlq(track.end_delta) + END_OF_TRACK
        out += [b"MTrk", len(body).to_bytes(4, "big"), body]
    cut = {number for number, track in enumerate(tracks, 1) if track.cut}
    return Repaired(b"".join(out), notes.lines(_DESCRIBE), smpte, cut)


def _smpte_tempo(tracks: list[_Track], scale: int, notes: _Notes) -> list[_Track]:
    """Tracks with their tempo events dropped, deltas scaled, one 120 BPM tempo at tick 0."""
    result = []
    for track in tracks:
        events, pending = [], 0
        for delta, event in track.events:
            if event[:2] == b"\xff\x51":
                notes.add("smpte_tempo")
                pending += delta * scale
            else:
                events.append((pending + delta * scale, event))
                pending = 0
        result.append(_Track(events, pending + track.end_delta * scale, track.next_pos, track.cut))
    tempo = (0, b"\xff\x51\x03" + SMPTE_TEMPO.to_bytes(3, "big"))
    if result:
        result[0].events.insert(0, tempo)
    else:
        result.append(_Track([tempo], 0, 0))
    return result


def _join(tracks: list[_Track]) -> _Track:
    """Format-2 patterns as one sequence: each starts where the previous one's End of Track is."""
    events: list[tuple[int, bytes]] = []
    carry = 0
    for track in tracks:
        for delta, event in track.events:
            events.append((carry + delta, event))
            carry = 0
        carry += track.end_delta
    return _Track(events, carry, 0, any(t.cut for t in tracks))
