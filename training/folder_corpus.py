"""A user's folders of melodies -> a memory-mapped token cache, prepared by a process pool.

Every file under the folders whose suffix is in :data:`MIDI_SUFFIXES` is read with the
runtime's :func:`livemelody.midi.files.read_melody` (its melody-track choice and damaged-file
recovery apply); :data:`SCORE_SUFFIXES` are read by music21 (an ABC file may hold many tunes:
each is a song). Each song is reduced to one line on the 16th grid, moved to C major / A minor
by the runtime's key detection and encoded with the runtime's tokens, exactly as the instrument
will feed the model.

The cache (one folder per set of sources, keyed by their paths, sizes and modification times)
is columnar and memory-mapped, so a 100,000-file collection never sits in memory as objects:

- ``tokens.u8``: every kept song's tokens, concatenated (uint8: the vocabulary has < 256 ids);
- ``songs.npy``: one row per song, structured ``(offset int64, length int32, shift int8)``;
- ``ids.txt``: the song ids (``<path relative to its folder>`` or ``...:<ABC X number>``), one a line;
- ``report.tsv``: every source file's outcome (``file``, ``status``, ``songs``, ``reason``);
- ``summary.json``: the counts by status and the cache's key.

Files stream through the pool (``imap``) and results are appended as they come, so memory is
bounded by the pool's chunks, not the collection.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livemelody.encoding import Vocabulary, notes_to_tokens, to_reference
from livemelody.encoding.melody import tokens_to_notes
from livemelody.encoding.vocab import DELIMITER_ID
from livemelody.events import Note

MIDI_SUFFIXES = (".mid", ".midi", ".smf", ".kar")
SCORE_SUFFIXES = (".abc", ".xml", ".musicxml", ".mxl", ".krn")
MIN_NOTES = 8
"""A song needs at least this many notes to be kept (shorter ones teach nothing about a style)."""
MAX_NOTE_STEPS = 16
"""Longest note kept, in 16th steps (a whole note: the longest in the shipped corpora); a longer
one is cut there and followed by silence. Stuck notes (a lost note-off) otherwise teach a style to
answer with one endless note: one 1,090-step note in 30 O'Neill tunes made half the 30-tune
style's continuations of a cadence silent."""
MAX_REST_STEPS = 32
"""Longer silences inside a song (a part resting while others play) shrink by whole 4/4 bars
(16 steps) to at most this many steps, keeping the position in the bar."""
PREPARE_VERSION = 2
"""Bump when extraction or encoding changes, to invalidate caches."""
VOCAB = Vocabulary()
"""The shipped vocabulary: user styles share it with the base models."""
SONG_DTYPE = np.dtype([("offset", np.int64), ("length", np.int32), ("shift", np.int8)])


class NoMelodyError(Exception):
    """The folders hold no usable melody (or too few); the message is one line for the user."""


@dataclass(frozen=True)
class SourceFile:
    """One file to read: its path and its id (the path relative to the folder given)."""

    path: Path
    file_id: str


def find_sources(folders: list[Path]) -> tuple[list[SourceFile], int]:
    """(readable sources sorted by id, count of other files) under ``folders``, recursively.

    Raises :class:`NoMelodyError` for a folder that does not exist.
    """
    sources, ignored = [], 0
    for folder in folders:
        folder = Path(folder)
        if folder.is_file():
            candidates = [(folder, folder.name)]
        elif folder.is_dir():
            candidates = [(p, str(p.relative_to(folder))) for p in sorted(folder.rglob("*")) if p.is_file()]
            if len(folders) > 1:
                candidates = [(p, f"{folder.name}/{rel}") for p, rel in candidates]
        else:
            raise NoMelodyError(f"no such folder: {folder}")
        for path, file_id in candidates:
            if path.suffix.lower() in MIDI_SUFFIXES + SCORE_SUFFIXES:
                sources.append(SourceFile(path, file_id))
            else:
                ignored += 1
    return sorted(sources, key=lambda s: s.file_id), ignored


def _song_tokens(notes: list[Note], vocab: Vocabulary) -> tuple[int, list[int]] | None:
    """(shift to C major / A minor, tokens) of a top line, or None when it is too short."""
    notes = [n for n in notes if n.duration > 0]
    if len(notes) < MIN_NOTES:
        return None
    moved, _, shift = to_reference(tidy_durations(notes))
    return shift, notes_to_tokens(moved, vocab)


def tidy_durations(notes: list[Note]) -> list[Note]:
    """A top line (sorted, monophonic) from step 0, notes cut to :data:`MAX_NOTE_STEPS` and
    silences shrunk by whole bars of 16 steps to at most :data:`MAX_REST_STEPS`."""
    result: list[Note] = []
    removed, end = notes[0].start, notes[0].start
    for note in notes:
        gap = note.start - end
        if gap > MAX_REST_STEPS:
            removed += -(-(gap - MAX_REST_STEPS) // 16) * 16
        duration = min(note.duration, MAX_NOTE_STEPS)
        result.append(Note(note.pitch, note.start - removed, duration, note.velocity))
        end = max(end, note.start + duration)
    return result


def _score_notes(score) -> list[Note]:
    """A music21 stream's top line on the 16th grid (offsets and lengths rounded to steps)."""
    from livemelody.midi.files import top_line

    notes = []
    for element in score.flatten().notes:
        pitches = [p.midi for p in element.pitches] if element.isChord else [element.pitch.midi]
        start = round(float(element.offset) * 4)
        duration = max(1, round(float(element.quarterLength) * 4))
        if pitches and float(element.quarterLength) > 0:
            notes.append(Note(max(pitches), start, duration))
    return top_line(notes)


def _read_scores(path: Path) -> list[tuple[str, list[Note]]]:
    """(tune suffix, top line) of each tune in a file music21 reads; raises on failure."""
    import music21

    if path.suffix.lower() == ".abc":
        from training.corpus import split_tunes

        tunes = split_tunes(path.read_text(encoding="latin-1")) or [("1", path.read_text(encoding="latin-1"))]
        result = []
        for number, text in tunes:
            try:
                result.append((f":{number}", _score_notes(music21.converter.parse(text, format="abc"))))
            except Exception:  # music21 raises many types on odd ABC: that tune is dropped
                continue
        if not result:
            raise ValueError("music21 could not parse any tune")
        return result
    return [("", _score_notes(music21.converter.parse(str(path))))]


def prepare_file(source: SourceFile, vocab: Vocabulary = VOCAB) -> dict:
    """Read and encode one file: ``{"file", "status", "reason", "songs": [(id, shift, bytes)]}``.

    ``status``: ``kept``, ``unreadable`` (the reader's one-line reason), ``too_short`` (fewer
    than :data:`MIN_NOTES` notes in every song). Never raises for a bad file.
    """
    from livemelody.midi.files import MidiFileError, read_melody

    try:
        if source.path.suffix.lower() in MIDI_SUFFIXES:
            tunes = [("", read_melody(source.path).notes)]
        else:
            tunes = _read_scores(source.path)
    except MidiFileError as exc:
        return {"file": source.file_id, "status": "unreadable", "reason": str(exc), "songs": []}
    except Exception as exc:  # a reader's crash on one file must not stop the collection
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        return {"file": source.file_id, "status": "unreadable", "reason": reason, "songs": []}
    songs = []
    for suffix, notes in tunes:
        encoded = _song_tokens(notes, vocab)
        if encoded is not None:
            shift, tokens = encoded
            songs.append((source.file_id + suffix, shift, bytes(tokens)))
    if not songs:
        return {"file": source.file_id, "status": "too_short", "reason": f"fewer than {MIN_NOTES} notes", "songs": []}
    return {"file": source.file_id, "status": "kept", "reason": "", "songs": songs}


def cache_key(sources: list[SourceFile]) -> str:
    """sha256 over the extractor version and every source's id, size and modification time."""
    digest = hashlib.sha256(f"prepare {PREPARE_VERSION}\n".encode())
    for source in sources:
        stat = source.path.stat()
        digest.update(f"{source.file_id}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@dataclass
class TokenCache:
    """A prepared corpus on disk (see the module doc): memory-mapped tokens and the song table."""

    folder: Path
    tokens: np.ndarray
    """uint8 [total tokens], memory-mapped."""
    songs: np.ndarray
    """SONG_DTYPE [songs]."""
    ids: list[str]
    summary: dict

    @classmethod
    def open(cls, folder: Path) -> TokenCache:
        folder = Path(folder)
        summary = json.loads((folder / "summary.json").read_text())
        songs = np.load(folder / "songs.npy")
        size = (folder / "tokens.u8").stat().st_size
        tokens = np.memmap(folder / "tokens.u8", dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)
        ids = (folder / "ids.txt").read_text(encoding="utf-8").splitlines()
        return cls(folder, tokens, songs, ids, summary)

    def __len__(self) -> int:
        return len(self.songs)

    def song_tokens(self, index: int) -> np.ndarray:
        """Tokens of song ``index`` (no delimiters), int64."""
        row = self.songs[index]
        return np.asarray(self.tokens[row["offset"] : row["offset"] + row["length"]], dtype=np.int64)

    def sequence(self, index: int) -> list[int]:
        """Delimiter + tokens + delimiter: the unit the LSTM trains and is evaluated on."""
        return [DELIMITER_ID, *self.song_tokens(index).tolist(), DELIMITER_ID]

    def notes(self, index: int, vocab: Vocabulary = VOCAB) -> list[Note]:
        """Song ``index`` as notes in C major / A minor (decoded from its tokens)."""
        return tokens_to_notes(self.song_tokens(index).tolist(), vocab)


def _pool_context():
    # "spawn": the parent may already hold torch's thread pools, which a fork would copy broken.
    return multiprocessing.get_context("spawn")


def _prepared(sources: list[SourceFile], workers: int) -> Iterator[dict]:
    if workers <= 1:
        yield from map(prepare_file, sources)
        return
    with _pool_context().Pool(workers) as pool:
        yield from pool.imap(prepare_file, sources, chunksize=max(1, min(32, len(sources) // (workers * 8))))


def build_cache(
    sources: list[SourceFile],
    folder: Path,
    workers: int,
    progress: Callable[[int], None] | None = None,
) -> TokenCache:
    """Prepare ``sources`` with ``workers`` processes into ``folder`` (written whole, then renamed
    into place, so a crash or a second writer never leaves a half cache); return it opened."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    counts: Counter = Counter()
    rows, offset = [], 0
    with (
        open(staging / "tokens.u8", "wb") as tokens_file,
        open(staging / "ids.txt", "w", encoding="utf-8") as ids_file,
        open(staging / "report.tsv", "w", encoding="utf-8") as report,
    ):
        report.write("file\tstatus\tsongs\treason\n")
        for result in _prepared(sources, workers):
            counts[result["status"]] += 1
            report.write(f"{result['file']}\t{result['status']}\t{len(result['songs'])}\t{result['reason']}\n")
            for song_id, shift, data in result["songs"]:
                tokens_file.write(data)
                ids_file.write(song_id.replace("\n", " ") + "\n")
                rows.append((offset, len(data), shift))
                offset += len(data)
            if progress is not None:
                progress(1)
    np.save(staging / "songs.npy", np.array(rows, dtype=SONG_DTYPE))
    summary = {
        "key": folder.name,
        "files": len(sources),
        "by_status": dict(counts),
        "songs": len(rows),
        "tokens": offset,
        "min_notes": MIN_NOTES,
        "prepare_version": PREPARE_VERSION,
    }
    (staging / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    try:
        os.replace(staging, folder)
    except OSError:  # another process (another node's local rank 0) got there first: same content
        shutil.rmtree(staging, ignore_errors=True)
    return TokenCache.open(folder)


def load_cache(
    sources: list[SourceFile],
    cache_root: Path,
    workers: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[TokenCache, bool]:
    """(the cache for ``sources`` under ``cache_root``, whether it was reused), building it if missing."""
    folder = Path(cache_root) / cache_key(sources)[:20]
    if (folder / "summary.json").is_file():
        return TokenCache.open(folder), True
    return build_cache(sources, folder, workers, progress), False


def dropped_lines(cache: TokenCache, examples: int = 3) -> list[str]:
    """One line per reason files were dropped, with a few examples, from ``report.tsv``."""
    by_reason: dict[str, list[str]] = {}
    with open(cache.folder / "report.tsv", encoding="utf-8") as report:
        next(report)
        for line in report:
            file_id, status, _, reason = line.rstrip("\n").split("\t", 3)
            if status != "kept":
                by_reason.setdefault(status, []).append(f"{file_id} ({reason})" if status == "unreadable" else file_id)
    lines = []
    for status, files in sorted(by_reason.items()):
        shown = "; ".join(files[:examples]) + ("; ..." if len(files) > examples else "")
        lines.append(f"dropped {len(files)} {status.replace('_', ' ')}: {shown}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """``python -m training.folder_corpus FOLDER... [--workers N]``: prepare; print the counts, the
    seconds and this (the main) process's peak resident memory."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "livemelody-token-cache")
    args = parser.parse_args(argv)
    import resource
    import time

    started = time.perf_counter()
    sources, ignored = find_sources(args.folders)
    cache, reused = load_cache(sources, args.cache, args.workers)
    figures = {
        "ignored_files": ignored,
        "reused": reused,
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),  # Linux: KiB
    }
    print(json.dumps({**cache.summary, **figures}), file=sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
