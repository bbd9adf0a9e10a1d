"""The shipped models (LSTMs, VAEs): integrity, ONNX/torch parity, honest metrics, and a torch-free runtime."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from livemelody.models.metadata import load_metadata
from livemelody.models.registry import find_model, installed_models, load_lstm, load_vae
from tests.conftest import REPO

SHIPPED = REPO / "exported_models"
BASELINE = SHIPPED / "baseline"
STYLES = tuple(meta.style for _, meta in installed_models("lstm", [SHIPPED]))
"""Every style shipped in exported_models/ (one shared LSTM plays them all)."""


def test_at_least_five_styles_ship_each_with_both_models_and_one_shared_lstm():
    assert len(STYLES) >= 5
    for style in STYLES:
        assert all((SHIPPED / f"vae_{style}_{part}.onnx").exists() for part in ("encoder", "decoder"))
    assert {path.name for path, _ in installed_models("lstm", [SHIPPED])} == {"lstm_shared.json"}
    # the per-style LSTMs it replaced are the evaluation's baseline, in a folder the runtime never searches
    assert {m.style for _, m in installed_models("lstm", [BASELINE])} == set(STYLES)
    assert all(path.parent != BASELINE for path, _ in installed_models("lstm"))


@pytest.mark.parametrize("style", STYLES)
def test_shipped_model_loads_and_records_how_it_was_made(style):
    session = load_lstm(style)  # checks the sha256
    meta = session.metadata
    assert meta.style == style and session.conditioned and meta.dimensions["hidden_size"] == 384
    assert meta.training["seed"] == 0 and meta.training["tunes"] is None and meta.training["bar_inputs"]
    own = meta.data["per_style"][style]
    assert len(meta.data["test_ids"][style]) == own["split_sizes"]["test"] > 20
    assert own["counts"]["kept"] >= 300
    baseline = load_metadata(BASELINE / f"lstm_{style}.json")  # the same held-out songs as the baseline
    assert meta.data["test_ids"][style] == baseline.data["test_ids"]
    assert meta.data["valid_ids"][style] == baseline.data["valid_ids"]
    assert meta.metrics["test"][style]["nll_nats"] < baseline.metrics["test"]["lstm"]["nll_nats"]


@pytest.mark.parametrize("style", STYLES)
def test_onnx_matches_torch_over_256_streamed_steps(style):
    pytest.importorskip("torch")
    from training.export import parity_max_abs_diff
    from training.lstm import lstm_from_onnx
    from training.quantize import source_onnx

    json_path, meta = find_model("lstm", style)
    onnx_path = source_onnx(json_path, meta)
    assert parity_max_abs_diff(lstm_from_onnx(onnx_path), onnx_path, steps=256) <= 1e-4


def test_the_int8_graph_is_the_quantized_float_source(tmp_path):
    """The shipped graph is what training.quantize makes of the float source (same bytes)."""
    pytest.importorskip("onnxruntime.quantization")
    import shutil

    from livemelody.models.metadata import file_sha256
    from training.quantize import quantize_lstm

    json_path, meta = find_model("lstm", STYLES[0], [SHIPPED])
    quantization = meta.metrics["quantization"]
    for name in (json_path.name, meta.onnx_file, quantization["source_onnx_file"]):
        shutil.copyfile(json_path.with_name(name), tmp_path / name)
    again = quantize_lstm(tmp_path / json_path.name, evaluate=False)
    assert again.onnx_sha256 == meta.onnx_sha256 == file_sha256(json_path.with_name(meta.onnx_file))
    assert quantization["source_onnx_sha256"] == file_sha256(json_path.with_name(quantization["source_onnx_file"]))


@pytest.mark.slow
def test_recorded_test_nll_is_what_the_onnx_model_scores_int8_within_half_a_percent():
    """Recompute deutsch's held-out NLL through the runtime session, with each song's style row
    and bar inputs (training.bars): the recorded figures (the float model in torch at export)
    are measured, not typed, and the int8 graph the runtime plays is within 0.5% of them."""
    pytest.importorskip("music21")
    from dataclasses import replace

    from livemelody.encoding import Vocabulary
    from training.dataset import load_shared
    from training.metrics import MetricAccumulator

    style = "deutsch"
    session = load_lstm(style)
    index = session.styles.index(style)
    splits, _ = load_shared((style,), Vocabulary.from_symbols(session.metadata.encoding.symbols), extra=False)
    test = [replace(s, style_index=index) for s in splits["test"]]
    assert [s.song_id for s in test] == session.metadata.data["test_ids"][style]
    acc = MetricAccumulator()
    for song in test:
        seq = song.sequence
        bars = (np.array(song.bar_pos), np.array(song.bar_len))
        logits, _ = session.run(np.array([seq[:-1]], dtype=np.int64), session.zero_state(), bars)
        z = logits[0].astype(np.float64)
        probs = np.exp(z - z.max(axis=1, keepdims=True))
        acc.add(probs / probs.sum(axis=1, keepdims=True), seq[1:])
    recorded = session.metadata.metrics["test"][style]
    assert acc.result()["nll_nats"] == pytest.approx(recorded["nll_nats"], rel=0.005)
    assert acc.result()["pitch_bits"] == pytest.approx(recorded["pitch_bits"], abs=0.02)


def test_runtime_continues_varies_and_morphs_with_each_shipped_model_without_torch_or_music21(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from livemelody.cli import main
        example = {str(REPO / "examples" / "ah_vous_dirai_je_maman.mid")!r}
        for style in {STYLES!r}:
            assert main(["continue", example, "-o", {str(tmp_path)!r} + f"/{{style}}.mid", "--style", style, "--seed", "1"]) == 0
            assert main(["vary", example, "-o", {str(tmp_path)!r} + f"/{{style}}_vary.mid", "--style", style, "--seed", "1"]) == 0
            assert main(["morph", example, example, "-o", {str(tmp_path)!r} + f"/{{style}}_morph.mid", "--style", style]) == 0
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "music21"))
        print("HEAVY", heavy)
        sys.exit(1 if heavy else 0)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert all((tmp_path / f"{s}{k}.mid").exists() for s in STYLES for k in ("", "_vary", "_morph"))


@pytest.mark.parametrize("style", STYLES)
def test_shipped_vae_loads_uses_the_lstm_split_and_meets_its_target(style):
    session = load_vae(style)  # checks both sha256s and that encoder and decoder belong together
    meta = session.metadata
    assert meta.training["model"] == "phrase" and meta.training["seed"] == 0 and meta.training["tunes"] is None
    assert meta.data["test_ids"] == load_lstm(style).metadata.data["test_ids"][style]  # same held-out songs: no leak
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


def test_styles_command_lists_every_shipped_style(capsys):
    from livemelody.cli import main

    assert main(["styles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for style in STYLES:
        for kind in ("lstm", "vae_encoder", "vae_decoder"):
            assert any(line.split()[:2] == [kind, style] for line in lines), (kind, style)


def test_the_live_engine_offers_every_shipped_style_in_both_modes():
    from livemelody.live.process import _load_sessions, _load_variator
    from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN

    sessions, warnings = _load_sessions((), "deutsch")
    assert set(STYLES) <= set(sessions) and not warnings
    variator = _load_variator(tuple(sessions), warnings)
    assert variator is not None and not warnings
    for style in STYLES:
        varied = variator(style, AH_VOUS_DIRAI_JE_MAMAN, 0.5, np.random.default_rng(0))
        assert varied and all(n.start >= 0 for n in varied)
