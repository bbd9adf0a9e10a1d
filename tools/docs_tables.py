"""Replace a generated block of docs/DATA.md (between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``)."""

from __future__ import annotations

from pathlib import Path

DATA_MD = Path(__file__).resolve().parent.parent / "docs" / "DATA.md"


def replace_block(name: str, text: str, path: Path = DATA_MD) -> None:
    """Put ``text`` between the markers of block ``name`` in ``path``; ValueError if they are missing."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    content = path.read_text()
    if begin not in content or end not in content:
        raise ValueError(f"{path} has no {begin} ... {end} block")
    head, rest = content.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{text.rstrip()}\n{end}{tail}")
