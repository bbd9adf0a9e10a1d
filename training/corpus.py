"""EsAC folk songs from music21's corpus -> filtered note lists, cached on disk.

Parsing ABC with music21 is the slow part (minutes for ~3,000 tunes), so this module does
it once per style, on every core, and caches the result as JSON under ``.cache/corpus/``.
Everything after parsing (key detection, transposition, tokens, split) lives in
:mod:`training.dataset`, which is fast and uses only the runtime's numpy encoder.

Filter (the seed's preprocessing), counted per step in the cache's ``counts``:
1. ``parsed``: the tune parses and holds at least one note;
2. ``durations_ok``: every note and rest lasts one of ``ACCEPTABLE_DURATIONS`` quarter lengths
   (tuplets, grace notes and odd values drop the tune);
3. ``kept``: after merging tied notes, every onset lies on the 16th grid and the tune is
   monophonic.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ACCEPTABLE_DURATIONS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
"""Note and rest lengths a tune may use, in quarter notes (the seed's list)."""

STYLE_FILES = {
    "deutsch": ("erk5.abc", "erk10.abc", "erk20.abc", "erk30.abc"),
    "han": ("han1.abc", "han2.abc"),
}
"""Each style's ABC files in music21's ``corpus/essenFolksong`` folder."""

CACHE_DIR = Path(__file__).resolve().parent.parent / ".cache" / "corpus"
_EXTRACTOR_VERSION = 1  # bump when extraction changes, to invalidate caches

REST = -1  # pitch value of a rest in the cached note lists


def corpus_folder() -> Path:
    """music21's essenFolksong folder."""
    import music21

    return Path(music21.__file__).resolve().parent / "corpus" / "essenFolksong"


def split_tunes(abc_text: str) -> list[tuple[str, str]]:
    """(X number, ABC text) of every tune in an ABC file; text before the first tune is dropped."""
    tunes = []
    for part in re.split(r"(?m)^(?=X:)", abc_text):
        match = re.match(r"X:\s*(\S+)", part)
        if match is not None:
            tunes.append((match.group(1), part))
    return tunes


def extract_tune(abc: str) -> tuple[str, list[list[int]] | None]:
    """(status, notes) of one tune; notes are ``[pitch or REST, start, duration]`` in 16th steps.

    status is ``"unparsable"``, ``"empty"``, ``"bad_duration"``, ``"off_grid"`` or ``"ok"``.
    """
    import music21

    try:
        score = music21.converter.parse(abc, format="abc")
    except Exception:  # music21 raises many types on odd ABC
        return "unparsable", None
    elements = list(score.flatten().notesAndRests)
    if not any(e.isNote or e.isChord for e in elements):
        return "empty", None
    if any(float(e.quarterLength) not in ACCEPTABLE_DURATIONS for e in elements):
        return "bad_duration", None
    merged = score.stripTies().flatten().notesAndRests
    notes: list[list[int]] = []
    for element in merged:
        start, length = float(element.offset) * 4, float(element.quarterLength) * 4
        if start != int(start) or length != int(length) or length <= 0:
            return "off_grid", None
        if element.isRest:
            pitch = REST
        elif element.isChord:
            pitch = max(p.midi for p in element.pitches)
        else:
            pitch = element.pitch.midi
        notes.append([pitch, int(start), int(length)])
    notes.sort(key=lambda n: n[1])
    for a, b in zip(notes, notes[1:]):
        if a[1] + a[2] > b[1]:
            return "off_grid", None
    while notes and notes[-1][0] == REST:
        notes.pop()
    while notes and notes[0][0] == REST:
        notes.pop(0)
    origin = notes[0][1]
    return "ok", [[p, s - origin, d] for p, s, d in notes]


def _extract_job(job: tuple[str, str]) -> tuple[str, str, list[list[int]] | None]:
    song_id, abc = job
    status, notes = extract_tune(abc)
    return song_id, status, notes


def _source_digest(files: list[Path]) -> str:
    digest = hashlib.sha256(str(_EXTRACTOR_VERSION).encode())
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build_style(style: str, workers: int | None = None, limit: int | None = None) -> dict:
    """Parse one style's tunes with music21 (``workers`` processes); return the cache dict.

    ``limit`` keeps only the first tunes of each file (for quick end-to-end tests).
    """
    if style not in STYLE_FILES:
        raise ValueError(f"unknown style {style!r}; known: {', '.join(STYLE_FILES)}")
    files = [corpus_folder() / name for name in STYLE_FILES[style]]
    jobs = []
    for path in files:
        tunes = split_tunes(path.read_text(encoding="latin-1"))
        jobs += [(f"{path.stem}:{x}", text) for x, text in tunes[:limit]]
    counts = {"tunes": len(jobs), "parsed": 0, "durations_ok": 0, "kept": 0}
    songs = []
    workers = workers or os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for song_id, status, notes in pool.map(_extract_job, jobs, chunksize=16):
            if status in ("unparsable", "empty"):
                continue
            counts["parsed"] += 1
            if status == "bad_duration":
                continue
            counts["durations_ok"] += 1
            if status != "ok":
                continue
            counts["kept"] += 1
            songs.append({"id": song_id, "notes": notes})
    return {"style": style, "source_sha256": _source_digest(files), "counts": counts, "songs": songs}


def load_style(style: str, workers: int | None = None, cache_dir: Path = CACHE_DIR, limit: int | None = None) -> dict:
    """The cached parse of ``style``, building it first if missing or stale.

    ``limit`` parses only the first tunes of each file (cached separately; for smoke tests).
    """
    path = cache_dir / (f"{style}.json" if limit is None else f"{style}-first{limit}.json")
    files = [corpus_folder() / name for name in STYLE_FILES[style]]
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("source_sha256") == _source_digest(files):
            return cached
    started = time.perf_counter()
    data = build_style(style, workers, limit)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    print(f"parsed {style}: {data['counts']} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Parse and cache the EsAC corpora with music21.")
    parser.add_argument("styles", nargs="*", default=list(STYLE_FILES))
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    args = parser.parse_args(argv)
    for style in args.styles:
        data = load_style(style, args.workers)
        print(style, data["counts"])


if __name__ == "__main__":
    main()
