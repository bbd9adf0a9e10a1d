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
from training.corpus import CACHE_DIR, REST, load_style

SPLIT_RULE = (
    "song-level: u = int(sha256('<style>:<song id>')[:8], 16) / 2**32; "
    "test if u < 0.1, validation if u < 0.2, else train"
)
TEST_FRACTION = 0.1
VALID_FRACTION = 0.1


@dataclass(frozen=True)
class Song:
    """One prepared song: id (``<file>:<X>``), detected key shift and tokens (no delimiters)."""

    song_id: str
    shift: int
    notes: tuple[Note, ...]
    tokens: tuple[int, ...]

    @property
    def sequence(self) -> list[int]:
        """Delimiter + tokens + delimiter: the unit the LSTM trains and is evaluated on."""
        return [DELIMITER_ID, *self.tokens, DELIMITER_ID]


def split_of(style: str, song_id: str) -> str:
    """``"train"``, ``"valid"`` or ``"test"`` for a song, by a hash of its id (see SPLIT_RULE)."""
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
    for raw in cache["songs"]:
        splits[split_of(style, raw["id"])].append(prepare_song(raw["id"], raw["notes"], vocab))
    return splits, dict(cache["counts"])
