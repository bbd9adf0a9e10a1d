"""Sections of a generated Markdown document that other commands write.

``docs/EVALUATION.md`` is regenerated whole by :mod:`training.report`; other evaluation
commands (form, short-term model, style blend, ...) each own one section of it, marked by
HTML comments that name the command, and rewrite only that section. The whole regeneration
keeps every marked section, in order, after its own text.

    <!-- section NAME: python -m training.some_command -->
    ...
    <!-- /section NAME -->
"""

from __future__ import annotations

import re
from pathlib import Path

_SECTION = re.compile(r"<!-- section (?P<name>[\w.-]+): [^\n]*-->\n.*?<!-- /section (?P=name) -->\n?", re.S)


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table as lines: the header, the rule, one line per row of cells (strings)."""
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"] + [
        "| " + " | ".join(row) + " |" for row in rows
    ]


def sections(text: str) -> dict[str, str]:
    """Every marked section of ``text``, by name, markers included, in document order."""
    return {m.group("name"): m.group(0).rstrip("\n") + "\n" for m in _SECTION.finditer(text)}


def render_section(name: str, command: str, body: str) -> str:
    """A section named ``name`` (letters, digits, ``_.-``) written by ``command``.

    Raises :class:`ValueError` for a name the markers cannot carry."""
    if not re.fullmatch(r"[\w.-]+", name):
        raise ValueError(f"section name {name!r}: use letters, digits, '_', '.', '-'")
    return f"<!-- section {name}: {command} -->\n{body.rstrip()}\n<!-- /section {name} -->\n"


def write_section(path: Path, name: str, command: str, body: str) -> None:
    """Replace section ``name`` of the Markdown file ``path`` (appended when absent; the file is
    created when missing) with ``body``, marked as written by ``command``."""
    text = path.read_text() if path.exists() else ""
    new = render_section(name, command, body)
    old = sections(text).get(name)
    if old is not None:
        text = text.replace(old, new)
    else:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + new
    path.write_text(text)


def keep_sections(new_text: str, old_text: str) -> str:
    """``new_text`` (a whole regeneration) followed by the marked sections of ``old_text`` that
    it does not hold itself."""
    own = sections(new_text)
    kept = [s for name, s in sections(old_text).items() if name not in own]
    return new_text.rstrip("\n") + "\n" + "".join("\n" + s for s in kept)
