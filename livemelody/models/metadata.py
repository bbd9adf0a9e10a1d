"""The typed sidecar (``<name>.json``) that travels with every ``<name>.onnx``.

Written by ``training`` through :meth:`ModelMetadata.save`, read by the runtime through
:func:`load_metadata`; the ``.onnx`` file's sha256 is checked before a session opens it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
"""Version of this JSON layout; bumped on incompatible change."""

TRANSPOSITION_CONVENTION = (
    "Krumhansl-Schmuckler key (livemelody.encoding.key); major -> C, minor -> A, "
    "by the smallest shift in -6..+5 semitones; pitches folded by octaves into range"
)


SHARED_STYLE = "shared"
"""The ``style`` in the shared LSTM's own sidecar: it plays the styles in its ``data.styles``
(:mod:`livemelody.models.registry` lists it once per style)."""


class ModelError(Exception):
    """A model file or its metadata is missing, malformed, or does not match."""


@dataclass(frozen=True)
class EncodingInfo:
    """How melodies become the model's tokens.

    ``symbols`` names every input id: the LSTM's vocabulary, or a VAE's pitch ids;
    ``duration_steps`` (VAEs only, empty otherwise) gives each duration id's length in steps.
    """

    steps_per_quarter: int
    pitch_low: int
    pitch_high: int
    symbols: list[str]
    transposition: str = TRANSPOSITION_CONVENTION
    duration_steps: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ModelMetadata:
    """Everything needed to use, trust and reproduce one exported model.

    ``dimensions`` (e.g. ``vocab_size``, ``hidden_size``), ``training`` (the config the
    training command ran with), ``data`` (corpus counts and the song-level split by id) and
    ``metrics`` (held-out evaluation) are free-form dicts because they differ by ``kind``.
    """

    kind: str
    name: str
    style: str
    onnx_file: str
    onnx_sha256: str
    opset: int
    inputs: list[str]
    outputs: list[str]
    encoding: EncodingInfo
    dimensions: dict[str, int]
    training: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelMetadata:
        """Parse and validate a metadata dict; raises :class:`ModelError` with the reason."""
        if not isinstance(raw, dict):
            raise ModelError("metadata is not a JSON object")
        version = raw.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ModelError(f"metadata schema version {version!r}, this livemelody reads {SCHEMA_VERSION}")
        names = {f.name for f in fields(cls)}
        missing = sorted(names - set(raw) - {"training", "data", "metrics"})
        if missing:
            raise ModelError(f"metadata lacks {', '.join(missing)}")
        try:
            encoding = EncodingInfo(**raw["encoding"])
        except TypeError as exc:
            raise ModelError(f"bad encoding section: {exc}") from None
        values = {k: v for k, v in raw.items() if k in names}
        values["encoding"] = encoding
        return cls(**values)

    def save(self, path: Path) -> None:
        """Write as indented JSON (stable key order, for readable diffs)."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_metadata(json_path: Path) -> ModelMetadata:
    """Read a sidecar; raises :class:`ModelError` naming the file on any problem."""
    json_path = Path(json_path)
    try:
        raw = json.loads(json_path.read_text())
    except OSError as exc:
        raise ModelError(f"cannot read model metadata {json_path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"model metadata {json_path} is not valid JSON: {exc}") from None
    try:
        return ModelMetadata.from_dict(raw)
    except ModelError as exc:
        raise ModelError(f"{json_path}: {exc}") from None


def verified_onnx_path(json_path: Path, metadata: ModelMetadata) -> Path:
    """Path of the ``.onnx`` beside ``json_path``, after checking its sha256 against the metadata."""
    onnx_path = Path(json_path).with_name(metadata.onnx_file)
    if not onnx_path.is_file():
        raise ModelError(f"model file {onnx_path} is missing")
    actual = file_sha256(onnx_path)
    if actual != metadata.onnx_sha256:
        raise ModelError(
            f"model file {onnx_path} does not match its metadata (sha256 {actual[:12]}..., "
            f"expected {metadata.onnx_sha256[:12]}...): reinstall or re-export it"
        )
    return onnx_path
