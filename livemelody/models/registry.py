"""Where installed models live, and lookup by kind and style.

Search order: the folders in ``$LIVEMELODY_MODELS`` (separated by ``os.pathsep``), then the
user's models folder (:func:`livemelody.paths.user_models_dir`, where ``livemelody train``
installs a style), then the models shipped inside the installed package (``livemelody/exported_models``), then the
checkout's top-level ``exported_models/`` (editable installs and running from source).
The first model found for a (kind, style) wins.

The shared LSTM (one file, ``style`` "shared", the styles it plays in ``data.styles``) is
listed once per style it plays, its metadata's ``style`` set to that style: a style's own
model found earlier in the search order (a user's style of the same name) wins over it.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from livemelody import paths
from livemelody.models.metadata import SHARED_STYLE, ModelError, ModelMetadata, load_metadata

ENV_VAR = "LIVEMELODY_MODELS"
_PACKAGE = Path(__file__).resolve().parent.parent


def model_dirs() -> list[Path]:
    """Existing model folders, in search order."""
    candidates = [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    candidates.append(paths.user_models_dir())
    candidates += [_PACKAGE / "exported_models", _PACKAGE.parent / "exported_models"]
    return [d for d in candidates if d.is_dir()]


def _entries(kind: str | None, folders: list[Path] | None):
    """(json path, metadata) of every readable sidecar of ``kind`` (any where None) and every
    (kind, style) it offers (:func:`_offered`), in search order, duplicates included."""
    for folder in model_dirs() if folders is None else folders:
        for json_path in sorted(folder.glob("*.json")):
            try:
                metadata = load_metadata(json_path)
            except ModelError:
                continue
            if kind is None or metadata.kind == kind:
                for offered in _offered(metadata):
                    yield json_path, offered


def installed_models(kind: str | None = None, folders: list[Path] | None = None) -> list[tuple[Path, ModelMetadata]]:
    """(json path, metadata) of every readable model, first occurrence per (kind, style), in
    :func:`model_dirs` (or only in ``folders``, for the evaluation of a given set of models)."""
    found: dict[tuple[str, str], tuple[Path, ModelMetadata]] = {}
    for json_path, metadata in _entries(kind, folders):
        found.setdefault((metadata.kind, metadata.style), (json_path, metadata))
    return list(found.values())


def _offered(metadata: ModelMetadata) -> list[ModelMetadata]:
    """The (kind, style) entries one sidecar offers: the shared LSTM one per style it plays."""
    styles = metadata.data.get("styles") if metadata.kind == "lstm" and metadata.style == SHARED_STYLE else None
    if not isinstance(styles, list) or not styles:
        return [metadata]
    return [replace(metadata, style=str(style)) for style in styles]


def hidden_models(kind: str = "lstm") -> dict[str, str]:
    """Style -> one line, for each style whose model found first hides another of the same
    style later in the search order with other inputs: e.g. an old per-style LSTM in
    ``$LIVEMELODY_MODELS`` that plays that style instead of the shipped shared LSTM (which hears
    the meter). Said by ``livemelody styles``, ``continue`` and the live engine."""
    first = {m.style: (p, m) for p, m in installed_models(kind)}
    lines: dict[str, str] = {}
    for json_path, metadata in _entries(kind, None):
        winner, meta = first[metadata.style]
        if winner != json_path and meta.inputs != metadata.inputs and metadata.style not in lines:
            lines[metadata.style] = (
                f"style {metadata.style!r} plays {winner} (inputs {', '.join(meta.inputs)}), "
                f"which hides {json_path} (inputs {', '.join(metadata.inputs)}) found later"
            )
    return lines


def unreadable_models() -> list[str]:
    """One line per ``.json`` in the model folders that is not a readable model sidecar
    (:func:`installed_models` skips those; the user should hear which file and why)."""
    problems = []
    for folder in model_dirs():
        for json_path in sorted(folder.glob("*.json")):
            try:
                load_metadata(json_path)
            except ModelError as exc:
                problems.append(f"model ignored: {exc}")
    return problems


def find_model(kind: str, style: str, folders: list[Path] | None = None) -> tuple[Path, ModelMetadata]:
    """The installed model of ``kind`` for ``style`` (only in ``folders`` where given); a clear
    :class:`ModelError` if none."""
    models = installed_models(kind, folders)
    for json_path, metadata in models:
        if metadata.style == style:
            return json_path, metadata
    styles = ", ".join(sorted(m.style for _, m in models)) or "none"
    ignored = "".join(f"; {problem}" for problem in unreadable_models())
    raise ModelError(f"no {kind} model for style {style!r}; installed styles: {styles}{ignored}")


def load_lstm(style: str, folders: list[Path] | None = None):
    """An :class:`~livemelody.models.lstm.LstmSession` for ``style`` (sha256 checked), from
    the installed models or only from ``folders``."""
    from livemelody.models.lstm import LstmSession

    json_path, metadata = find_model("lstm", style, folders)
    return LstmSession(json_path, metadata)


def load_vae(style: str):
    """A :class:`~livemelody.models.vae.VaeSession` for ``style``: its encoder and decoder (sha256 checked)."""
    from livemelody.models.vae import VaeSession

    encoder_json, encoder_meta = find_model("vae_encoder", style)
    decoder_json, decoder_meta = find_model("vae_decoder", style)
    return VaeSession(encoder_json, decoder_json, encoder_meta, decoder_meta)
