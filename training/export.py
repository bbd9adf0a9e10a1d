"""ONNX export of a trained LSTM, its metadata sidecar, and the torch/onnxruntime parity check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from livemelody.encoding import STEPS_PER_QUARTER, Vocabulary
from livemelody.models.metadata import EncodingInfo, ModelMetadata, file_sha256
from training.lstm import INPUT_NAMES, OUTPUT_NAMES, MelodyLSTM, export_onnx

OPSET = 17


def parity_max_abs_diff(model: MelodyLSTM, onnx_path: Path, steps: int = 256, seed: int = 0) -> float:
    """Largest |logit| difference between torch and onnxruntime over ``steps`` single-token
    calls with the state fed back, after a 32-token primer in one call."""
    import onnxruntime as ort

    model.eval()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, model.vocab_size, size=(1, 32 + steps), dtype=np.int64)
    h, c = model.zero_state(1)
    oh, oc = h.numpy(), c.numpy()
    worst = 0.0
    chunks = [tokens[:, :32]] + [tokens[:, i : i + 1] for i in range(32, 32 + steps)]
    with torch.no_grad():
        for chunk in chunks:
            logits, h, c = model(torch.from_numpy(chunk), h, c)
            o_logits, oh, oc = session.run(None, {"tokens": chunk, "h": oh, "c": oc})
            worst = max(worst, float(np.abs(o_logits - logits.numpy()).max()))
    return worst


def export_lstm(
    model: MelodyLSTM,
    vocab: Vocabulary,
    style: str,
    out_dir: Path,
    training: dict[str, Any],
    data: dict[str, Any],
    metrics: dict[str, Any],
    name: str | None = None,
) -> tuple[Path, ModelMetadata]:
    """Write ``<name>.onnx`` and ``<name>.json`` into ``out_dir``; return the JSON path and metadata.

    The parity figure is measured here and stored in ``metrics["onnx_parity_max_abs"]``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = name or f"lstm_{style}"
    onnx_path = out_dir / f"{name}.onnx"
    export_onnx(model, onnx_path, OPSET)
    metrics = {**metrics, "onnx_parity_max_abs": parity_max_abs_diff(model, onnx_path)}
    metadata = ModelMetadata(
        kind="lstm",
        name=name,
        style=style,
        onnx_file=onnx_path.name,
        onnx_sha256=file_sha256(onnx_path),
        opset=OPSET,
        inputs=list(INPUT_NAMES),
        outputs=list(OUTPUT_NAMES),
        encoding=EncodingInfo(STEPS_PER_QUARTER, vocab.low, vocab.high, vocab.symbols),
        dimensions={"vocab_size": vocab.size, "hidden_size": model.hidden_size, "num_layers": 1},
        training=training,
        data=data,
        metrics=metrics,
    )
    json_path = out_dir / f"{name}.json"
    metadata.save(json_path)
    return json_path, metadata
