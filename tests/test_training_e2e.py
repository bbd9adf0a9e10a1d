"""The training pipeline end to end on a few tunes: parse, train one epoch, export, parity, use.

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
    code = train_lstm.main(["--style", "han", "--tunes", "20", "--max-epochs", "1", "--hidden-size", "32",
                            "--out", str(tmp_path), "--curves", str(tmp_path)])
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
