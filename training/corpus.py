"""Tune collections from music21's corpus -> filtered note lists, cached on disk.

Each style's tunes come from a :class:`Source`: ABC files (every tune in them) or score files
(MusicXML, Humdrum: one part of each) in folders of music21's ``corpus``, or a music21 corpus
query (the Bach chorales of :class:`music21.corpus.chorales.Iterator`). Parsing with music21 is
the slow part (minutes for ~3,000 tunes), so this module does it once per style, on every core,
and caches the result as JSON under ``.cache/corpus/``. Everything after parsing (key
detection, transposition, tokens, split) lives in :mod:`training.dataset`, which is fast and
uses only the runtime's numpy encoder.

Filter (the seed's preprocessing), counted per step in the cache's ``counts``:
1. ``parsed``: the tune parses and holds at least one note;
2. ``durations_ok``: every note and rest lasts one of ``ACCEPTABLE_DURATIONS`` quarter lengths
   (tuplets, grace notes and odd values drop the tune);
3. ``kept``: after merging tied notes, every onset lies on the 16th grid and the tune is
   monophonic.
Chord symbols (ABC ``"G"`` annotations, music21 ``harmony.Harmony`` objects) are not notes and
are ignored; the EsAC files of deutsch and han have none, so their parse is unchanged.
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
from dataclasses import dataclass
from pathlib import Path

ACCEPTABLE_DURATIONS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
"""Note and rest lengths a tune may use, in quarter notes (the seed's list)."""

SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn")
"""Score files read whole (one part each); ``.abc`` files are split into tunes."""

CHORALES = "chorales"
"""The one music21 corpus query a source may name: the Bach chorales, Riemenschneider numbering."""


@dataclass(frozen=True)
class Source:
    """Where a style's tunes come from in music21's ``corpus`` folder.

    ``folders``: corpus folders; ``files``: file names or glob patterns in each (matches sorted;
    the listed order kept); ``query``: :data:`CHORALES` instead of folders and files; ``part``:
    the part of a score file taken as the melody (0 = the top staff, the soprano of a chorale);
    ``dedupe``: split near-duplicate tunes together (see :mod:`training.dataset`); ``label``:
    the collection's name for the metadata.
    """

    label: str
    folders: tuple[str, ...] = ()
    files: tuple[str, ...] = ("*.abc",)
    query: str | None = None
    part: int = 0
    dedupe: bool = False


STYLE_SOURCES = {
    "deutsch": Source("essenFolksong", ("essenFolksong",), ("erk5.abc", "erk10.abc", "erk20.abc", "erk30.abc")),
    "han": Source("essenFolksong", ("essenFolksong",), ("han1.abc", "han2.abc")),
    "irish": Source("O'Neill's Music of Ireland (1850) + Ryan's Mammoth Collection (1883)",
                    ("oneills1850", "ryansMammoth"), dedupe=True),
    "scottish": Source("Aird's Selection of Scotch, English, Irish and Foreign Airs (1778-1803)",
                       ("airdsAirs",), dedupe=True),
    "chorale": Source("Bach chorales (music21.corpus.chorales.Iterator, Riemenschneider): soprano part",
                      query=CHORALES, dedupe=True),
}  # fmt: skip
"""Each style's source in music21's corpus."""

EXTRA_SOURCES = {
    "deutsch_more": Source(
        "essenFolksong: more German EsAC collections (training only)",
        ("essenFolksong",),
        ("fink0.abc", "altdeu10.abc", "altdeu20.abc", "boehme10.abc", "boehme20.abc", "zuccal0.abc", "dva0.abc"),
    ),
}
"""Training-only collections (no split of their own, no model of their own): the shared model
(:mod:`training.shared`) adds ``deutsch_more`` to the deutsch style's training songs, after
removing near-copies of the held-out songs."""

CACHE_DIR = Path(__file__).resolve().parent.parent / ".cache" / "corpus"
_EXTRACTOR_VERSION = 1  # bump when extraction changes, to invalidate caches

REST = -1  # pitch value of a rest in the cached note lists


def corpus_root() -> Path:
    """music21's ``corpus`` folder."""
    import music21

    return Path(music21.__file__).resolve().parent / "corpus"


def corpus_folder() -> Path:
    """music21's essenFolksong folder."""
    return corpus_root() / "essenFolksong"


def source_files(source: Source) -> list[Path]:
    """The files of ``source``, in a fixed order (see :class:`Source`)."""
    if source.query == CHORALES:
        from music21 import corpus

        files = []
        for name in dict.fromkeys(corpus.chorales.Iterator(returnType="filename")):  # unique, in order
            folder, stem = name.split("/")
            matches = [p for p in (corpus_root() / folder).glob(stem + ".*") if p.suffix in SCORE_SUFFIXES]
            if matches:  # one file per chorale: MusicXML before Humdrum (SCORE_SUFFIXES order)
                files.append(min(matches, key=lambda p: SCORE_SUFFIXES.index(p.suffix)))
        return files
    if source.query is not None:
        raise ValueError(f"unknown corpus query {source.query!r}")
    files: list[Path] = []
    for folder in source.folders:
        for pattern in source.files:
            files += sorted((corpus_root() / folder).glob(pattern))
    return files


def describe(style: str) -> str:
    """One line for the metadata: music21's version, the collection and its files."""
    import music21

    source = _source(style)
    if source.query is not None:
        return f"music21 {music21.__version__} {source.label}"
    names = (
        source.files if "*" not in "".join(source.files) else [f"{f}/{p}" for f in source.folders for p in source.files]
    )
    return f"music21 {music21.__version__} {source.label}: {', '.join(names)}"


def split_tunes(abc_text: str) -> list[tuple[str, str]]:
    """(X number, ABC text) of every tune in an ABC file; text before the first tune is dropped."""
    tunes = []
    for part in re.split(r"(?m)^(?=X:)", abc_text):
        match = re.match(r"X:\s*(\S+)", part)
        if match is not None:
            tunes.append((match.group(1), part))
    return tunes


def extract_tune(abc: str) -> tuple[str, list[list[int]] | None]:
    """(status, notes) of one ABC tune; see :func:`extract_melody`."""
    import music21

    try:
        score = music21.converter.parse(abc, format="abc")
    except Exception:  # music21 raises many types on odd ABC
        return "unparsable", None
    return extract_melody(score)


def extract_score(path: str, part: int = 0) -> tuple[str, list[list[int]] | None]:
    """(status, notes) of part ``part`` of a score file (MusicXML, Humdrum); see :func:`extract_melody`."""
    import music21

    try:
        score = music21.converter.parse(path)
        parts = list(score.parts)
        stream = parts[part] if parts else score
    except Exception:  # music21 raises many types on odd files
        return "unparsable", None
    return extract_melody(stream)


def extract_melody(stream) -> tuple[str, list[list[int]] | None]:
    """(status, notes) of a music21 stream; notes are ``[pitch or REST, start, duration]`` in 16th steps.

    status is ``"empty"``, ``"bad_duration"``, ``"off_grid"`` or ``"ok"`` (the filter of the
    module doc); a chord counts as its highest pitch, chord symbols are ignored.
    """
    from music21 import harmony

    def melody(s):
        return [e for e in s.flatten().notesAndRests if not isinstance(e, harmony.Harmony)]

    elements = melody(stream)
    if not any(e.isNote or e.isChord for e in elements):
        return "empty", None
    if any(float(e.quarterLength) not in ACCEPTABLE_DURATIONS for e in elements):
        return "bad_duration", None
    notes: list[list[int]] = []
    for element in melody(stream.stripTies()):
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


def _extract_job(job: tuple[str, str, str, int]) -> tuple[str, str, list[list[int]] | None]:
    song_id, kind, payload, part = job
    status, notes = extract_tune(payload) if kind == "abc" else extract_score(payload, part)
    return song_id, status, notes


def _source_digest(files: list[Path]) -> str:
    digest = hashlib.sha256(str(_EXTRACTOR_VERSION).encode())
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _source(style: str) -> Source:
    sources = {**STYLE_SOURCES, **EXTRA_SOURCES}
    if style not in sources:
        raise ValueError(f"unknown style {style!r}; known: {', '.join(sources)}")
    return sources[style]


def tune_jobs(source: Source, files: list[Path], limit: int | None = None) -> list[tuple[str, str, str, int]]:
    """(song id, ``"abc"`` or ``"score"``, ABC text or file path, part) of every tune in ``files``.

    Song ids: ``<file stem>:<X>`` for an ABC tune (``<folder>/<file stem>:<X>`` when the source
    spans several folders), ``<file stem>`` for a score file. ``limit`` keeps the first tunes
    of each ABC file and the first score files.
    """
    jobs = []
    scores = [path for path in files if path.suffix.lower() in SCORE_SUFFIXES]
    for path in files:
        if path.suffix.lower() != ".abc":
            continue
        prefix = f"{path.parent.name}/{path.stem}" if len(source.folders) > 1 else path.stem
        tunes = split_tunes(path.read_text(encoding="latin-1"))
        jobs += [(f"{prefix}:{x}", "abc", text, 0) for x, text in tunes[:limit]]
    jobs += [(path.stem, "score", str(path), source.part) for path in scores[:limit]]
    return jobs


def build_style(style: str, workers: int | None = None, limit: int | None = None) -> dict:
    """Parse one style's tunes with music21 (``workers`` processes); return the cache dict.

    ``limit`` keeps only the first tunes of each file (for quick end-to-end tests).
    """
    source = _source(style)
    files = source_files(source)
    jobs = tune_jobs(source, files, limit)
    counts = {"tunes": len(jobs), "parsed": 0, "durations_ok": 0, "kept": 0}
    songs = []
    workers = workers or os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for song_id, status, notes in pool.map(_extract_job, jobs, chunksize=4 if source.query else 16):
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
    files = source_files(_source(style))
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("source_sha256") == _source_digest(files):
            return cached
    started = time.perf_counter()
    data = build_style(style, workers, limit)
    data["parse_seconds"] = round(time.perf_counter() - started, 1)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    print(f"parsed {style}: {data['counts']} in {data['parse_seconds']:.0f} s", file=sys.stderr)
    return data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Parse and cache the styles' corpora with music21.")
    parser.add_argument("styles", nargs="*", default=list(STYLE_SOURCES))
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    args = parser.parse_args(argv)
    for style in args.styles:
        data = load_style(style, args.workers)
        print(style, data["counts"], f"parsed in {data.get('parse_seconds', '?')} s")


if __name__ == "__main__":
    main()
