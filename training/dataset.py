"""Cached corpus notes -> transposed token sequences with a deterministic song-level split.

Uses only the runtime's encoder (:mod:`livemelody.encoding`), so the models see melodies
exactly as the instrument will feed them: same key detection, same transposition, same
folding, same tokens.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from livemelody.encoding import Vocabulary, notes_to_tokens, to_reference
from livemelody.encoding.vocab import DELIMITER_ID
from livemelody.events import Note
from training.corpus import CACHE_DIR, REST, STYLE_SOURCES, load_style

SPLIT_RULE = (
    "song-level: u = int(sha256('<style>:<song id>')[:8], 16) / 2**32; "
    "test if u < 0.1, validation if u < 0.2, else train"
)
FINGERPRINT_INTERVALS = 12
"""Near-duplicate key: the melodic intervals (semitones) between a song's first, resp. last,
13 notes; rests and rhythm ignored, so transposed or re-barred copies share it."""
GROUPED_SPLIT_RULE = (
    SPLIT_RULE.replace("song-level", "near-duplicate-group-level")
    + f"; <song id> is the smallest id of the song's group: songs whose first or last "
    f"{FINGERPRINT_INTERVALS} melodic intervals (semitones, rests and rhythm ignored) are equal "
    "are one group (transitively), so a tune's copies and harmonisations share a split"
)
LEAK_INTERVALS = 16
"""Overlap measure: a held-out song "shares a passage" with the training songs when some run
of this many consecutive melodic intervals occurs in both."""
TEST_FRACTION = 0.1
VALID_FRACTION = 0.1


@dataclass(frozen=True)
class Song:
    """One prepared song: id (``<file>:<X>``), detected key shift and tokens (no delimiters).

    For the shared model (:func:`load_shared`) also its style's index and the bar inputs of
    every input step of :attr:`sequence` (``len(tokens) + 1`` values each: input i predicts
    step i, so it carries step i's position in the bar; :mod:`training.bars`)."""

    song_id: str
    shift: int
    notes: tuple[Note, ...]
    tokens: tuple[int, ...]
    style_index: int = 0
    bar_pos: tuple[int, ...] = ()
    bar_len: tuple[int, ...] = ()

    @property
    def sequence(self) -> list[int]:
        """Delimiter + tokens + delimiter: the unit the LSTM trains and is evaluated on."""
        return [DELIMITER_ID, *self.tokens, DELIMITER_ID]


def held_out_ids(metadata, style: str, part: str) -> list[str]:
    """The ids of ``style``'s ``part`` ("valid" or "test") songs in a model's metadata: a
    style's own model lists them, the shared model lists them by style."""
    ids = metadata.data[f"{part}_ids"]
    return list(ids[style] if isinstance(ids, dict) else ids)


def split_rule(style: str) -> str:
    """The split rule of ``style`` in words (:data:`GROUPED_SPLIT_RULE` for the sources that dedupe)."""
    source = STYLE_SOURCES.get(style)
    return GROUPED_SPLIT_RULE if source is not None and source.dedupe else SPLIT_RULE


def _intervals(raw_notes: list[list[int]]) -> tuple[int, ...]:
    pitches = [p for p, _, _ in raw_notes if p != REST]
    return tuple(b - a for a, b in zip(pitches, pitches[1:]))


def near_duplicate_groups(songs: list[dict]) -> dict[str, str]:
    """Song id -> its group's key (the group's smallest id) for cached songs ``{"id", "notes"}``:
    songs sharing the first or the last :data:`FINGERPRINT_INTERVALS` intervals are one group
    (union-find over both keys); a song alone keeps its own id."""
    parent = {song["id"]: song["id"] for song in songs}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_with: dict[tuple, str] = {}
    for song in songs:
        intervals = _intervals(song["notes"])
        for key in (("head", intervals[:FINGERPRINT_INTERVALS]), ("tail", intervals[-FINGERPRINT_INTERVALS:])):
            if key in first_with:
                a, b = root(first_with[key]), root(song["id"])
                parent[max(a, b)] = min(a, b)
            else:
                first_with[key] = song["id"]
    return {song_id: root(song_id) for song_id in parent}


def shared_passages(songs: list[dict], split: dict[str, str], length: int = LEAK_INTERVALS) -> dict[str, float]:
    """Share of held-out (valid and test) songs with a run of ``length`` intervals that also occurs
    in a training song, and the same for whole copies (equal interval sequences); ``split``: id -> split."""
    runs = lambda iv: {iv[i : i + length] for i in range(max(len(iv) - length + 1, 1))}  # noqa: E731
    train_runs, train_whole = set(), set()
    for song in songs:
        if split[song["id"]] == "train":
            intervals = _intervals(song["notes"])
            train_runs |= runs(intervals)
            train_whole.add(intervals)
    held = [_intervals(s["notes"]) for s in songs if split[s["id"]] != "train"]
    return {
        "held_out_songs": len(held),
        f"sharing_{length}_intervals": sum(bool(runs(iv) & train_runs) for iv in held) / max(len(held), 1),
        "whole_copies": sum(iv in train_whole for iv in held) / max(len(held), 1),
    }


def split_of(style: str, song_id: str) -> str:
    """``"train"``, ``"valid"`` or ``"test"`` for a song, by a hash of its id (see SPLIT_RULE);
    for a deduplicated style pass the group's key (:func:`near_duplicate_groups`)."""
    u = int(hashlib.sha256(f"{style}:{song_id}".encode()).hexdigest()[:8], 16) / 2**32
    if u < TEST_FRACTION:
        return "test"
    if u < TEST_FRACTION + VALID_FRACTION:
        return "valid"
    return "train"


def prepare_song(song_id: str, raw_notes: list[list[int]], vocab: Vocabulary) -> Song:
    """Detect the key, move to C major / A minor, fold into the vocabulary, encode."""
    moved, _, shift = to_reference([Note(p, s, d) for p, s, d in raw_notes if p != REST])
    return Song(song_id, shift, tuple(moved), tuple(notes_to_tokens(moved, vocab)))


def load_songs(
    style: str, vocab: Vocabulary, tunes: int | None = None, cache_dir: Path = CACHE_DIR
) -> tuple[dict[str, list[Song]], dict[str, int]]:
    """(prepared songs of ``style`` by split name, tunes kept by each preprocessing step).

    ``tunes`` parses only the first tunes of each ABC file (smoke tests, style evidence);
    ``cache_dir`` is where the parse is cached (:func:`training.corpus.load_style`).
    """
    cache = load_style(style, cache_dir=cache_dir, limit=tunes)
    splits: dict[str, list[Song]] = {"train": [], "valid": [], "test": []}
    split = split_by_id(style, cache)
    for raw in cache["songs"]:
        splits[split[raw["id"]]].append(prepare_song(raw["id"], raw["notes"], vocab))
    return splits, dict(cache["counts"])


def split_by_id(style: str, cache: dict) -> dict[str, str]:
    """Song id -> split for a style's cached parse (:func:`training.corpus.load_style`), by
    :func:`split_rule`."""
    source = STYLE_SOURCES.get(style)
    keys = near_duplicate_groups(cache["songs"]) if source is not None and source.dedupe else {}
    return {s["id"]: split_of(style, keys.get(s["id"], s["id"])) for s in cache["songs"]}


def duplicate_report(style: str, cache_dir: Path = CACHE_DIR) -> dict:
    """Near-duplicates of ``style`` (for the metadata and docs/EVALUATION.md): groups found, and
    the held-out songs sharing a :data:`LEAK_INTERVALS`-interval passage or a whole copy with the
    training songs, under the plain song-level split and under the style's own rule."""
    cache = load_style(style, cache_dir=cache_dir)
    groups = near_duplicate_groups(cache["songs"])
    sizes: dict[str, int] = {}
    for key in groups.values():
        sizes[key] = sizes.get(key, 0) + 1
    plain = {s["id"]: split_of(style, s["id"]) for s in cache["songs"]}
    return {
        "groups_of_2_or_more": sum(n > 1 for n in sizes.values()),
        "songs_in_them": sum(n for n in sizes.values() if n > 1),
        "song_level_split": shared_passages(cache["songs"], plain),
        "own_split": shared_passages(cache["songs"], split_by_id(style, cache)),
        "own_rule": split_rule(style),
    }


EXTRA_FOR = {"deutsch": "deutsch_more"}
"""Training-only collections added to a style's training songs by :func:`load_shared`."""


def _held_out_keys(songs: list[dict]) -> tuple[set, set]:
    """(head/tail fingerprints, runs of :data:`LEAK_INTERVALS` intervals) of cached songs."""
    prints, runs = set(), set()
    for song in songs:
        iv = _intervals(song["notes"])
        prints |= {("head", iv[:FINGERPRINT_INTERVALS]), ("tail", iv[-FINGERPRINT_INTERVALS:])}
        runs |= {iv[i : i + LEAK_INTERVALS] for i in range(max(len(iv) - LEAK_INTERVALS + 1, 1))}
    return prints, runs


def near_copies(extra: list[dict], held_out: list[dict]) -> set[str]:
    """Ids of the ``extra`` cached songs that are near-copies of a ``held_out`` song: they share
    the first or last :data:`FINGERPRINT_INTERVALS` melodic intervals (the grouping of
    :func:`near_duplicate_groups`) or any run of :data:`LEAK_INTERVALS` consecutive intervals
    (the overlap of :func:`shared_passages`); transposition, rests and rhythm ignored."""
    prints, runs = _held_out_keys(held_out)
    found = set()
    for song in extra:
        iv = _intervals(song["notes"])
        keys = {("head", iv[:FINGERPRINT_INTERVALS]), ("tail", iv[-FINGERPRINT_INTERVALS:])}
        own_runs = {iv[i : i + LEAK_INTERVALS] for i in range(max(len(iv) - LEAK_INTERVALS + 1, 1))}
        if keys & prints or own_runs & runs:
            found.add(song["id"])
    return found


def with_bars(song: Song, bars, style_index: int) -> Song:
    """``song`` with its style index and the bar inputs of its sequence (:mod:`training.bars`)."""
    from dataclasses import replace

    from training.bars import step_features

    pos, length = step_features(bars, len(song.tokens) + 1)
    return replace(song, style_index=style_index, bar_pos=tuple(pos.tolist()), bar_len=tuple(length.tolist()))


def load_shared(
    styles: tuple[str, ...],
    vocab: Vocabulary,
    extra: bool = True,
    cache_dir: Path = CACHE_DIR,
    tunes: int | None = None,
) -> tuple[dict[str, list[Song]], dict]:
    """Every style's songs, each split by its own rule (:func:`load_songs`: the shipped models'
    splits), with style index (order of ``styles``) and bar inputs; plus, with ``extra``, the
    training-only collections of :data:`EXTRA_FOR` in the training split, less their near-copies
    (:func:`near_copies`) of any style's validation or test song. Returns (splits, report):
    report per style: counts, split sizes, songs with bars, extra songs kept and removed.
    ``tunes``: only the first tunes of each file (smoke tests, :func:`load_songs`)."""
    from training.bars import load_bars

    splits: dict[str, list[Song]] = {"train": [], "valid": [], "test": []}
    report: dict = {}
    held_out: list[dict] = []
    caches = {}
    for index, style in enumerate(styles):
        cache = caches[style] = load_style(style, cache_dir=cache_dir, limit=tunes)
        split = split_by_id(style, cache)
        bars = load_bars(style, cache_dir=cache_dir, limit=tunes)
        sizes = {"train": 0, "valid": 0, "test": 0}
        for raw in cache["songs"]:
            part = split[raw["id"]]
            splits[part].append(with_bars(prepare_song(raw["id"], raw["notes"], vocab), bars.get(raw["id"]), index))
            sizes[part] += 1
            if part != "train":
                held_out.append(raw)
        report[style] = {
            "counts": dict(cache["counts"]),
            "split_sizes": sizes,
            "with_bars": sum(bars.get(raw["id"]) is not None for raw in cache["songs"]),
        }
    if extra:
        for style, name in EXTRA_FOR.items():
            if style not in styles:
                continue
            cache = load_style(name, cache_dir=cache_dir, limit=tunes)
            bars = load_bars(name, cache_dir=cache_dir, limit=tunes)
            removed = near_copies(cache["songs"], held_out)
            kept = [raw for raw in cache["songs"] if raw["id"] not in removed]
            splits["train"] += [
                with_bars(
                    prepare_song(f"{name}/{raw['id']}", raw["notes"], vocab), bars.get(raw["id"]), styles.index(style)
                )
                for raw in kept
            ]
            report[style]["extra"] = {
                "collection": name,
                "counts": dict(cache["counts"]),
                "near_copies_removed": len(removed),
                "kept": len(kept),
                "with_bars": sum(bars.get(raw["id"]) is not None for raw in kept),
                "rule": "removed when its first or last "
                f"{FINGERPRINT_INTERVALS} melodic intervals, or any run of {LEAK_INTERVALS}, equal those of a "
                "validation or test song of any style",
            }
    return splits, report
