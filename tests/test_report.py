"""docs/EVALUATION.md's generator: every shipped style, with its baselines, VAE figures and style evidence."""

from tests.conftest import REPO
from training import report
from training.doc_sections import write_section

MODELS = REPO / "exported_models"


def test_every_shipped_style_is_reported_with_its_own_figures():
    styles = report.shipped_styles(MODELS)
    assert len(styles) >= 5 and styles[:2] == ("deutsch", "han")
    text = report.render(MODELS)
    for style in styles:
        assert f"\n| {style} |" in text  # corpus, baselines, VAE, evidence, training tables
        assert f"### {style} (" in text  # its held-out table against its own baselines
    assert text.count("(Pearce 2005, Table 6.6):") == 2  # published figures exist for deutsch and han only
    assert "No published IDyOM figure" in text
    evidence = text[text.index("## Style evidence") :]
    assert "real held-out windows" in evidence and "continuations of the same openings" in evidence
    assert evidence.count("### ") >= 3  # several window lengths


def test_regenerating_keeps_other_commands_sections(tmp_path):
    out = tmp_path / "EVALUATION.md"
    write_section(out, "variation-amount", "python -m training.amount_curve", "## kept\n\nfigures")
    assert report.main(["--models", str(MODELS), "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Evaluation") and "## kept\n\nfigures" in text
