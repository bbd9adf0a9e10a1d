"""The shipped models: integrity, ONNX/torch parity, honest metrics, and a torch-free runtime."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from livemelody.models.registry import find_model, load_lstm
from tests.conftest import REPO

STYLES = ("deutsch", "han")


@pytest.mark.parametrize("style", STYLES)
def test_shipped_model_loads_and_records_how_it_was_made(style):
    session = load_lstm(style)  # checks the sha256
    meta = session.metadata
    assert meta.style == style and meta.dimensions["hidden_size"] == 256
    assert meta.training["seed"] == 0 and meta.training["tunes"] is None
    assert len(meta.data["test_ids"]) == meta.data["split_sizes"]["test"] > 50
    test = meta.metrics["test"]
    assert test["lstm_nll_reduction_vs_best_ngram"] == pytest.approx(1 - test["lstm"]["nll_nats"] / test["ngram_best"]["nll_nats"])


@pytest.mark.parametrize("style", STYLES)
def test_onnx_matches_torch_over_256_streamed_steps(style):
    pytest.importorskip("torch")
    from training.export import parity_max_abs_diff
    from training.lstm import lstm_from_onnx

    json_path, meta = find_model("lstm", style)
    onnx_path = json_path.with_name(meta.onnx_file)
    assert parity_max_abs_diff(lstm_from_onnx(onnx_path), onnx_path, steps=256) <= 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("style", STYLES)
def test_recorded_test_nll_is_what_the_onnx_model_scores(style):
    """Recompute the held-out NLL through the runtime session: metrics are measured, not typed."""
    pytest.importorskip("music21")
    from livemelody.encoding import Vocabulary
    from training.dataset import load_songs
    from training.metrics import MetricAccumulator

    session = load_lstm(style)
    splits, _ = load_songs(style, Vocabulary.from_symbols(session.metadata.encoding.symbols))
    assert [s.song_id for s in splits["test"]] == session.metadata.data["test_ids"]
    acc = MetricAccumulator()
    for song in splits["test"]:
        seq = song.sequence
        logits, _ = session.run(np.array([seq[:-1]], dtype=np.int64), session.zero_state())
        z = logits[0].astype(np.float64)
        probs = np.exp(z - z.max(axis=1, keepdims=True))
        acc.add(probs / probs.sum(axis=1, keepdims=True), seq[1:])
    recorded = session.metadata.metrics["test"]["lstm"]
    assert acc.result()["nll_nats"] == pytest.approx(recorded["nll_nats"], abs=1e-4)
    assert acc.result()["pitch_bits"] == pytest.approx(recorded["pitch_bits"], abs=1e-3)


def test_runtime_continues_with_each_shipped_model_without_torch_or_music21(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from livemelody.cli import main
        for style in ("deutsch", "han"):
            assert main(["continue", {str(REPO / "examples" / "ah_vous_dirai_je_maman.mid")!r},
                         "-o", {str(tmp_path)!r} + f"/{{style}}.mid", "--style", style, "--seed", "1"]) == 0
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "music21"))
        print("HEAVY", heavy)
        sys.exit(1 if heavy else 0)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "deutsch.mid").exists() and (tmp_path / "han.mid").exists()
