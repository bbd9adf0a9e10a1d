"""The shipped models (LSTMs, VAEs): integrity, ONNX/torch parity, honest metrics, and a torch-free runtime."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from livemelody.models.registry import find_model, load_lstm, load_vae
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
    assert test["lstm_nll_reduction_vs_best_ngram"] == pytest.approx(
        1 - test["lstm"]["nll_nats"] / test["ngram_best"]["nll_nats"]
    )


@pytest.mark.parametrize("style", STYLES)
def test_onnx_matches_torch_over_256_streamed_steps(style):
    pytest.importorskip("torch")
    from training.export import parity_max_abs_diff
    from training.lstm import lstm_from_onnx
    from training.quantize import source_onnx

    json_path, meta = find_model("lstm", style)
    onnx_path = source_onnx(json_path, meta)
    assert parity_max_abs_diff(lstm_from_onnx(onnx_path), onnx_path, steps=256) <= 1e-4


@pytest.mark.parametrize("style", STYLES)
def test_the_int8_graph_is_the_quantized_float_source_and_scores_as_well(style, tmp_path):
    """The shipped graph is what training.quantize makes of the float source (same bytes), and
    its held-out NLL is within 0.5% of the float graph's."""
    pytest.importorskip("onnxruntime.quantization")
    import shutil

    from livemelody.models.metadata import file_sha256
    from training.quantize import quantize_lstm

    json_path, meta = find_model("lstm", style)
    quantization = meta.metrics["quantization"]
    for name in (json_path.name, meta.onnx_file, quantization["source_onnx_file"]):
        shutil.copyfile(json_path.with_name(name), tmp_path / name)
    again = quantize_lstm(tmp_path / json_path.name, evaluate=False)
    assert again.onnx_sha256 == meta.onnx_sha256 == file_sha256(json_path.with_name(meta.onnx_file))
    assert quantization["source_onnx_sha256"] == file_sha256(json_path.with_name(quantization["source_onnx_file"]))
    float_nll, int8_nll = quantization["test_source"]["nll_nats"], meta.metrics["test"]["lstm"]["nll_nats"]
    assert int8_nll <= float_nll * 1.005


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


def test_runtime_continues_varies_and_morphs_with_each_shipped_model_without_torch_or_music21(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from livemelody.cli import main
        example = {str(REPO / "examples" / "ah_vous_dirai_je_maman.mid")!r}
        for style in ("deutsch", "han"):
            assert main(["continue", example, "-o", {str(tmp_path)!r} + f"/{{style}}.mid", "--style", style, "--seed", "1"]) == 0
            assert main(["vary", example, "-o", {str(tmp_path)!r} + f"/{{style}}_vary.mid", "--style", style, "--seed", "1"]) == 0
            assert main(["morph", example, example, "-o", {str(tmp_path)!r} + f"/{{style}}_morph.mid", "--style", style]) == 0
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "music21"))
        print("HEAVY", heavy)
        sys.exit(1 if heavy else 0)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert all((tmp_path / f"{s}{k}.mid").exists() for s in ("deutsch", "han") for k in ("", "_vary", "_morph"))


@pytest.mark.parametrize("style", STYLES)
def test_shipped_vae_loads_uses_the_lstm_split_and_meets_its_target(style):
    session = load_vae(style)  # checks both sha256s and that encoder and decoder belong together
    meta = session.metadata
    assert meta.training["model"] == "phrase" and meta.training["seed"] == 0 and meta.training["tunes"] is None
    assert meta.data["test_ids"] == load_lstm(style).metadata.data["test_ids"]  # same held-out songs: no leak
    test = meta.metrics["test"]
    assert test["reconstruction"]["note"] >= 0.95
    distances = [row["mean_edit_distance"] for row in test["variation"]]
    assert distances == sorted(distances) and distances[-1] > 4 * distances[0]


@pytest.mark.parametrize("style", STYLES)
def test_shipped_vae_onnx_matches_torch(style):
    pytest.importorskip("torch")
    from training.export import vae_parity_max_abs_diff
    from training.vae import vae_from_onnx

    encoder, decoder = (find_model(kind, style) for kind in ("vae_encoder", "vae_decoder"))
    paths = [json_path.with_name(meta.onnx_file) for json_path, meta in (encoder, decoder)]
    assert vae_parity_max_abs_diff(vae_from_onnx(*paths), *paths, batch=256) <= 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("style", STYLES)
def test_recorded_vae_reconstruction_is_what_the_onnx_model_scores(style):
    """Recompute the held-out reconstruction through the runtime session: measured, not typed."""
    pytest.importorskip("music21")
    from training.phrases import load_phrases
    from training.vae_metrics import reconstruction

    session = load_vae(style)
    test = load_phrases(style)[0]["test"]
    mean, _ = session.encode(test.pitches, test.durations)
    measured = reconstruction(*session.decode(mean), test.pitches, test.durations, test.lengths)
    recorded = session.metadata.metrics["test"]["reconstruction"]
    assert measured["events"] == recorded["events"]
    for figure in ("pitch", "duration", "note", "phrase"):
        assert measured[figure] == pytest.approx(recorded[figure], abs=2e-3)


@pytest.mark.parametrize("style", STYLES)
def test_shipped_vae_gives_twinkle_back_in_any_key_and_octave(style):
    from livemelody.encoding import transpose
    from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN
    from livemelody.variation import vary

    session = load_vae(style)
    for shift in range(-18, 18):  # every key, in three octaves
        notes = transpose(AH_VOUS_DIRAI_JE_MAMAN, shift)
        assert vary(session, notes, 0.0, 1, np.random.default_rng(0))[1][0] == notes, shift
