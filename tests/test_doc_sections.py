"""Marked sections of generated docs: written by their own command, kept by the whole one."""

import pytest

from training.doc_sections import keep_sections, render_section, sections, write_section


def test_write_section_appends_then_replaces_only_its_own(tmp_path):
    doc = tmp_path / "EVAL.md"
    doc.write_text("# Evaluation\n\nmain text\n")
    write_section(doc, "form", "python -m training.form", "| a |\n")
    write_section(doc, "ppm", "python -m training.ppm", "ppm v1")
    write_section(doc, "form", "python -m training.form", "| b |")
    text = doc.read_text()
    assert text.startswith("# Evaluation\n\nmain text\n")
    assert "| a |" not in text and "| b |" in text and "ppm v1" in text
    assert list(sections(text)) == ["form", "ppm"]


def test_whole_regeneration_keeps_the_sections_it_does_not_write():
    old = "# old\n\n" + render_section("form", "cmd", "F") + "\n" + render_section("ppm", "cmd", "P")
    new = "# new\n\n" + render_section("ppm", "cmd", "P2")
    merged = keep_sections(new, old)
    assert merged.startswith("# new")
    assert "P2" in merged and "\nP\n" not in merged and "\nF\n" in merged


def test_bad_names_are_refused():
    with pytest.raises(ValueError):
        render_section("two words", "cmd", "x")
