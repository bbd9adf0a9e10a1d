"""ONNX export of trained models, their metadata sidecars, and the torch/onnxruntime parity checks."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from livemelody.encoding import STEPS_PER_QUARTER, Vocabulary
from livemelody.encoding.phrase import DURATION_STEPS, PITCH_HIGH, PITCH_LOW, PITCH_SYMBOLS
from livemelody.models.metadata import EncodingInfo, ModelMetadata, file_sha256
from livemelody.models.onnx import open_session
from training import vae as vae_graphs
from training.lstm import CONDITIONED_INPUT_NAMES, INPUT_NAMES, OUTPUT_NAMES, MelodyLSTM, export_onnx

OPSET = 17


def parity_max_abs_diff(model: MelodyLSTM, onnx_path: Path, steps: int = 256, seed: int = 0) -> float:
    """Largest |logit| difference between torch and onnxruntime over ``steps`` single-token
    calls with the state fed back, after a 32-token primer in one call (a conditioned model:
    a blend of two styles and 3/4 bar inputs)."""
    model.eval()
    session = open_session(onnx_path)
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, model.vocab_size, size=(1, 32 + steps), dtype=np.int64)
    h, c = model.zero_state(1)
    oh, oc = h.numpy(), c.numpy()
    worst = 0.0
    spans = [(0, 32)] + [(i, i + 1) for i in range(32, 32 + steps)]
    style = np.zeros((1, max(model.styles, 1)), np.float32)
    style[0, 0] = style[0, -1] = 0.5 if model.styles > 1 else 1.0
    with torch.no_grad():
        for a, b in spans:
            chunk = tokens[:, a:b]
            feeds, extra = {"tokens": chunk, "h": oh, "c": oc}, ()
            if model.conditioned:
                bar_pos = (np.arange(a, b, dtype=np.int64) % 12)[None, :]
                bar_len = np.full_like(bar_pos, 12)
                feeds.update(style=style, bar_pos=bar_pos, bar_len=bar_len)
                extra = tuple(torch.from_numpy(x) for x in (style, bar_pos, bar_len))
            logits, h, c = model(torch.from_numpy(chunk), h, c, *extra)
            o_logits, oh, oc = session.run(None, feeds)
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
    return _write_sidecar(
        onnx_path,
        kind="lstm",
        style=style,
        io=(CONDITIONED_INPUT_NAMES if model.conditioned else INPUT_NAMES, OUTPUT_NAMES),
        encoding=EncodingInfo(STEPS_PER_QUARTER, vocab.low, vocab.high, vocab.symbols),
        dimensions={"vocab_size": vocab.size, "hidden_size": model.hidden_size, "num_layers": 1}
        | ({"styles": model.styles} if model.styles else {}),
        training=training,
        data=data,
        metrics=metrics,
    )


def _write_sidecar(
    onnx_path: Path,
    *,
    kind: str,
    style: str,
    io: tuple,
    encoding: EncodingInfo,
    dimensions: dict,
    training: dict,
    data: dict,
    metrics: dict,
) -> tuple[Path, ModelMetadata]:
    """Write ``onnx_path``'s JSON sidecar beside it (name, file hash, opset filled in); return
    its path and the metadata. ``io``: (input names, output names)."""
    metadata = ModelMetadata(
        kind=kind,
        name=onnx_path.stem,
        style=style,
        onnx_file=onnx_path.name,
        onnx_sha256=file_sha256(onnx_path),
        opset=OPSET,
        inputs=list(io[0]),
        outputs=list(io[1]),
        encoding=encoding,
        dimensions=dimensions,
        training=training,
        data=data,
        metrics=metrics,
    )
    json_path = onnx_path.with_suffix(".json")
    metadata.save(json_path)
    return json_path, metadata


def vae_parity_max_abs_diff(
    model: vae_graphs.PhraseVAE, encoder_path: Path, decoder_path: Path, batch: int = 64, seed: int = 0
) -> float:
    """Largest |difference| between torch and onnxruntime over every output of both graphs,
    for ``batch`` random phrases (ids) and ``batch`` latents: their posterior means and N(0, I) draws."""
    model.eval()
    shape = model.shape
    rng = np.random.default_rng(seed)
    pitches = rng.integers(0, shape.pitch_classes, size=(batch, shape.length), dtype=np.int64)
    durations = rng.integers(0, shape.duration_classes, size=(batch, shape.length), dtype=np.int64)
    encoder, decoder = open_session(encoder_path), open_session(decoder_path)
    with torch.no_grad():
        torch_mean, torch_sigma = vae_graphs.EncoderGraph(model)(torch.from_numpy(pitches), torch.from_numpy(durations))
        mean, sigma = encoder.run(None, {"pitches": pitches, "durations": durations})
        z = np.concatenate([mean, rng.standard_normal(mean.shape).astype(np.float32)])
        torch_out = vae_graphs.DecoderGraph(model)(torch.from_numpy(z))
        ort_out = decoder.run(None, {"z": z})
    pairs = [(mean, torch_mean), (sigma, torch_sigma)] + list(zip(ort_out, torch_out))
    return max(float(np.abs(o - t.numpy()).max()) for o, t in pairs)


def run_id(model: torch.nn.Module) -> str:
    """First 16 hex digits of the sha256 of the weights: links an encoder to its decoder."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def export_vae(
    model: vae_graphs.PhraseVAE,
    style: str,
    out_dir: Path,
    training: dict[str, Any],
    data: dict[str, Any],
    metrics: dict[str, Any],
    name: str | None = None,
) -> tuple[Path, Path]:
    """Write ``<name>_encoder`` and ``<name>_decoder`` (.onnx + .json) into ``out_dir``; return the JSON paths.

    Both sidecars carry ``training`` (plus ``run_id``) and ``data``; the encoder's holds
    ``metrics``, with the parity figure measured here (``onnx_parity_max_abs``), which the
    decoder's holds too.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = name or f"vae_{style}"
    paths = {part: out_dir / f"{name}_{part}.onnx" for part in ("encoder", "decoder")}
    vae_graphs.export_onnx(model, paths["encoder"], paths["decoder"], OPSET)
    parity = vae_parity_max_abs_diff(model, paths["encoder"], paths["decoder"])
    shape = model.shape
    dimensions = {
        "phrase_length": shape.length,
        "latent_size": shape.latent,
        "hidden_size": shape.hidden,
        "pitch_classes": shape.pitch_classes,
        "duration_classes": shape.duration_classes,
    }
    training = {**training, "run_id": run_id(model)}
    io = {
        "encoder": (vae_graphs.ENCODER_INPUTS, vae_graphs.ENCODER_OUTPUTS),
        "decoder": (vae_graphs.DECODER_INPUTS, vae_graphs.DECODER_OUTPUTS),
    }
    part_metrics = {
        "encoder": {**metrics, "onnx_parity_max_abs": parity},
        "decoder": {"onnx_parity_max_abs": parity, "see": f"{name}_encoder.json"},
    }
    encoding = EncodingInfo(
        STEPS_PER_QUARTER, PITCH_LOW, PITCH_HIGH, list(PITCH_SYMBOLS), duration_steps=list(DURATION_STEPS)
    )
    json_paths = [
        _write_sidecar(
            onnx_path,
            kind=f"vae_{part}",
            style=style,
            io=io[part],
            encoding=encoding,
            dimensions=dimensions,
            training=training,
            data=data,
            metrics=part_metrics[part],
        )[0]
        for part, onnx_path in paths.items()
    ]
    return json_paths[0], json_paths[1]
