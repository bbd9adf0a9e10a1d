"""The training pipelines (LSTM, VAE) end to end on a few tunes: parse, train one epoch, export, parity, use.

Keeps the offline pipeline from rotting silently; needs the ``train`` extra.
"""

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("music21")

from livemelody.generate import continue_tokens  # noqa: E402
from livemelody.models.lstm import LstmSession  # noqa: E402
from livemelody.sampling import SamplingParams  # noqa: E402
from training import train_lstm  # noqa: E402
from training.export import parity_max_abs_diff  # noqa: E402
from training.lstm import lstm_from_onnx  # noqa: E402


@pytest.mark.slow
def test_tiny_training_run_exports_a_usable_model(tmp_path, capsys):
    code = train_lstm.main(
        [
            "--style",
            "han",
            "--tunes",
            "20",
            "--max-epochs",
            "1",
            "--hidden-size",
            "32",
            "--out",
            str(tmp_path),
            "--curves",
            str(tmp_path),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "parameters:" in printed and "held-out test songs" in printed
    meta = json.loads((tmp_path / "lstm_han.json").read_text())
    assert meta["training"]["max_epochs"] == 1 and meta["dimensions"]["hidden_size"] == 32
    assert set(meta["data"]["split_sizes"]) == {"train", "valid", "test"}
    assert meta["data"]["counts"]["tunes"] == 40
    results = meta["metrics"]["test"]
    for model in ("lstm", "uniform", "unigram", "ngram_best"):
        assert 0 < results[model]["nll_nats"] < 10
    assert meta["metrics"]["onnx_parity_max_abs"] <= 1e-4
    assert (tmp_path / "lstm_han_loss.png").stat().st_size > 1000

    session = LstmSession(tmp_path / "lstm_han.json")
    tokens = continue_tokens(session, [10, 2, 2, 2], 16, SamplingParams(), np.random.default_rng(0))
    assert len(tokens) == 16
    assert parity_max_abs_diff(lstm_from_onnx(tmp_path / "lstm_han.onnx"), tmp_path / "lstm_han.onnx") <= 1e-4


@pytest.mark.slow
def test_tiny_vae_training_run_exports_a_usable_pair(tmp_path, capsys):
    from livemelody.models.vae import VaeSession
    from livemelody.primers import AH_VOUS_DIRAI_JE_MAMAN
    from livemelody.variation import vary
    from training import train_vae
    from training.export import vae_parity_max_abs_diff
    from training.vae import vae_from_onnx

    code = train_vae.main(
        ["--style", "han", "--tunes", "20", "--epochs", "1", "--hidden", "32", "--latent", "8", "--out", str(tmp_path)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "phrase VAE" in printed and "exact pitch" in printed and "noise scale 6.0" in printed
    meta = json.loads((tmp_path / "vae_han_encoder.json").read_text())
    assert meta["kind"] == "vae_encoder" and meta["training"]["epochs"] == 1 and meta["dimensions"]["latent_size"] == 8
    assert meta["data"]["counts"]["tunes"] == 40 and meta["data"]["phrases"]["test"] > 0
    assert meta["metrics"]["onnx_parity_max_abs"] <= 1e-4
    test = meta["metrics"]["test"]
    assert 0 <= test["reconstruction"]["note"] <= 1 and len(test["variation"]) == len(train_vae.AMOUNTS)

    session = VaeSession(tmp_path / "vae_han_encoder.json", tmp_path / "vae_han_decoder.json")
    _, variations = vary(session, AH_VOUS_DIRAI_JE_MAMAN, 1.0, 2, np.random.default_rng(0))
    assert len(variations) == 2
    paths = (tmp_path / "vae_han_encoder.onnx", tmp_path / "vae_han_decoder.onnx")
    assert vae_parity_max_abs_diff(vae_from_onnx(*paths), *paths) <= 1e-4

    code = train_vae.main(
        ["--style", "han", "--tunes", "20", "--epochs", "1", "--seed-config", "--results", str(tmp_path)]
    )
    assert code == 0
    seed = json.loads((tmp_path / "vae_seed_han.json").read_text())
    assert seed["models"]["seed_pitch"]["config"]["learning_rate"] == 1e-5
    assert seed["models"]["seed_rhythm"]["config"]["latent"] == 300
    assert set(seed["metrics"]["test"]["reconstruction"]) >= {"pitch", "duration", "note", "phrase"}


@pytest.mark.slow
def test_tiny_shared_run_exports_a_model_with_style_and_bar_inputs(tmp_path, capsys):
    from training.lstm import CONDITIONED_INPUT_NAMES

    args = ["--style", "shared", "--styles", "han,deutsch", "--bars", "--extra", "--tunes", "12"]
    args += ["--max-epochs", "1", "--hidden-size", "24", "--out", str(tmp_path), "--curves", str(tmp_path)]
    assert train_lstm.main(args) == 0
    printed = capsys.readouterr().out
    assert "test han" in printed and "test deutsch" in printed
    meta = json.loads((tmp_path / "lstm_shared.json").read_text())
    assert meta["inputs"] == CONDITIONED_INPUT_NAMES and meta["dimensions"]["styles"] == 2
    assert meta["data"]["styles"] == ["han", "deutsch"] and set(meta["data"]["test_ids"]) == {"han", "deutsch"}
    extra = meta["data"]["per_style"]["deutsch"]["extra"]
    assert extra["kept"] + extra["near_copies_removed"] == extra["counts"]["kept"] > 0
    assert meta["metrics"]["onnx_parity_max_abs"] <= 1e-4
    assert 0 < meta["metrics"]["test"]["han"]["nll_nats"] < 10
