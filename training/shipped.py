"""Where the evaluation finds models: the shipped ones, and the baseline they are measured against."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "exported_models"
"""The models the runtime plays (the registry's last folder in a checkout)."""
BASELINE = SHIPPED / "baseline"
"""The per-style LSTMs shipped before the shared model (one 256-unit LSTM per style, the seed's
size; issue 12), kept, int8 as they played, as the baseline of docs/EVALUATION.md's figures.
The runtime never loads them: the registry reads only the top of each models folder."""


def styles_in(models_dir: Path) -> tuple[str, ...]:
    """Styles with an LSTM in ``models_dir`` (their own, or the shared model's) whose corpus
    :mod:`training.corpus` knows, in :data:`training.corpus.STYLE_SOURCES` order."""
    from livemelody.models.registry import installed_models
    from training.corpus import STYLE_SOURCES

    found = {meta.style for _, meta in installed_models("lstm", [models_dir])}
    return tuple(s for s in STYLE_SOURCES if s in found)
